//! The OneAgent settings the configuration manages: what `config.rs` resolves, `host.rs`
//! observes and `plan.rs` compares, in one place all three import.

use std::collections::{BTreeMap, BTreeSet};

/// OneAgent settings; `None` (or an empty collection) means "not managed".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub host_group: Option<String>,
    pub network_zone: Option<String>,
    pub monitoring_mode: Option<String>,
    pub proxy: Option<String>,
    /// Communication endpoints (`--connection-point`), `;`-separated.
    pub server: Option<String>,
    pub host_tags: BTreeSet<String>,
    pub host_properties: BTreeMap<String, String>,
}

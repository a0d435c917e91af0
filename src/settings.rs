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
    /// `--set-deployment-metadata` KEY=VALUE pairs: how this host was deployed. Only these
    /// keys are managed; others on the host are left alone.
    pub deployment_metadata: BTreeMap<String, String>,
}

/// What every install says about itself unless told otherwise. `script_version` changes when
/// this binary is upgraded, and that counts as drift: fixing it is one oneagentctl call, no
/// request, and the cluster then knows which bootstrapper version manages the host.
pub fn default_deployment_metadata() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("orchestration_tech".into(), "oneagent-bootstrap".into()),
        ("script_version".into(), env!("CARGO_PKG_VERSION").into()),
    ])
}

//! The simulated cluster's data: environments, tokens, settings objects and user groups, and
//! its JSON state file (loaded at start, written atomically after changes and at shutdown).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::token_store::TokenStore;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    pub id: String,
    pub name: String,
    /// `ENABLED` or `DISABLED`.
    pub state: String,
    pub tags: Vec<String>,
    pub trial: bool,
    pub created_ms: u64,
    /// Creation order, to break ties between equal creation dates when sorting.
    pub seq: u64,
    /// The per-environment secret embedded in installers (connectioninfo `tenantToken`).
    pub tenant_token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SettingsObject {
    pub object_id: String,
    pub schema_id: String,
    pub value: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: String,
    pub name: String,
    pub is_cluster_admin_group: bool,
    pub is_access_account: bool,
    pub is_manage_account: bool,
    pub ldap_group_names: Vec<String>,
    pub sso_group_names: Vec<String>,
    pub access_right: BTreeMap<String, Vec<String>>,
}

/// The CA, kept so a restarted simulator signs with the root clients already trust.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredCa {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Everything that survives a restart with `--state-file`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Data {
    pub environments: BTreeMap<String, Environment>,
    pub tokens: TokenStore,
    /// environment id -> schema id -> the (single) object of that schema in that environment.
    pub settings: BTreeMap<String, BTreeMap<String, SettingsObject>>,
    pub groups: BTreeMap<String, Group>,
    pub next_seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<StoredCa>,
}

impl Data {
    pub fn load(path: &Path) -> anyhow::Result<Option<Data>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("could not read state file {}", path.display()))
            }
        };
        let data = serde_json::from_str(&text).with_context(|| {
            format!(
                "state file {} is not valid dtsim state JSON; fix or delete it",
                path.display()
            )
        })?;
        Ok(Some(data))
    }

    /// Writes next to the target then renames, so a crash never leaves half a file. Mode 0600:
    /// the file holds per-environment tenant tokens.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_vec_pretty(self).context("could not serialise dtsim state")?;
        let tmp = path.with_extension("tmp");
        write_private(&tmp, &json)
            .with_context(|| format!("could not write state file {}", tmp.display()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("could not move {} to {}", tmp.display(), path.display()))
    }

    /// Removes an environment with everything that belongs to it (its tokens die at once).
    pub fn remove_environment(&mut self, id: &str) -> Option<Environment> {
        let env = self.environments.remove(id)?;
        self.tokens.revoke_home(id);
        self.settings.remove(id);
        Some(env)
    }
}

/// Creates or truncates a file readable only by its owner and writes `bytes` to it.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(bytes)?;
    f.sync_all()
}

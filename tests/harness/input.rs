//! Helpers for tests/hardening_input.rs: the token census of an environment, a fault for the
//! next N requests, and token files written the way the tool requires them.

use std::path::Path;

use dtsim::{Fault, FaultRule};
use serde_json::Value;

use super::World;

impl World {
    /// The tokens of environment `env` still alive, as `(name, seconds until expiry)`
    /// (`None`: never expires), read with a token-management token of the test's own (which
    /// is left out, and the request log cleared).
    pub fn alive_tokens(&self, env: &str) -> Vec<(String, Option<i64>)> {
        let base = self.sim.url();
        let tm = super::http::send_json(
            reqwest::Method::POST,
            &format!("{base}/api/cluster/v2/environments/{env}/tokenManagementToken"),
            Some(&self.sim.cluster_token()),
            &serde_json::json!({"name": "census", "expiresIn": {"value": 60, "unit": "SECONDS"}}),
        );
        let tm = tm["token"].as_str().expect("token").to_string();
        // expirationDate is not among the list's default fields: ask for it (`+` URL-encoded).
        let list: Value = super::http::get_json(
            &format!("{base}/e/{env}/api/v2/apiTokens?fields=%2BexpirationDate&pageSize=10000"),
            Some(&tm),
        );
        self.sim.clear_requests();
        let now = std::time::SystemTime::now();
        list["apiTokens"]
            .as_array()
            .expect("apiTokens")
            .iter()
            .filter(|t| t["name"] != "census")
            .map(|t| {
                let left = t["expirationDate"].as_str().map(|d| {
                    let at = humantime::parse_rfc3339(d).expect("expirationDate is a date");
                    match at.duration_since(now) {
                        Ok(d) => d.as_secs() as i64,
                        Err(e) => -(e.duration().as_secs() as i64),
                    }
                });
                (t["name"].as_str().unwrap_or_default().to_string(), left)
            })
            .collect()
    }

    /// Like [`World::fault`], for the next `times` matching requests only.
    pub fn fault_times(&self, method: &str, path: &str, times: u32, fault: Fault) {
        self.sim.add_fault(FaultRule {
            method: Some(method.into()),
            path: path.into(),
            times: Some(times),
            fraction: None,
            fault,
        });
    }
}

/// Writes a token file the way the tool requires it: readable by its owner only.
pub fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write token file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
}

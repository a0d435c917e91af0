//! Test helpers shared by the network modules' tests: dtsim started in-process on port 0, a
//! client with short backoff, and the check that no token leaks into a message.

use std::time::Duration;

use dtsim::{Dtsim, Fault, FaultRule};

use super::{Backoff, Client, HttpOptions, NetEnv};
use crate::secret::Secret;

/// Short delays so retry tests take milliseconds; the server cap still allows a 1 s hint.
pub fn fast() -> Backoff {
    Backoff {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(100),
        server_cap: Duration::from_secs(5),
        total: Duration::from_secs(20),
    }
}

/// A client with `opts`, no proxy from the environment, fast backoff, no notes on stderr.
pub fn client_with(opts: &HttpOptions) -> Client {
    Client::with_env(opts, &NetEnv::default())
        .unwrap()
        .with_backoff(fast())
        .quiet(true)
}

pub fn client() -> Client {
    client_with(&HttpOptions {
        retries: 3,
        read_timeout: Duration::from_secs(5),
        ..HttpOptions::default()
    })
}

pub fn sim() -> Dtsim {
    Dtsim::start().unwrap()
}

/// A fault rule for the next `times` requests matching `method` and `path`.
pub fn fault(method: &str, path: &str, times: Option<u32>, fault: Fault) -> FaultRule {
    FaultRule {
        method: Some(method.to_string()),
        path: path.to_string(),
        times,
        fraction: None,
        fault,
    }
}

/// Creates tenant `id` and returns its API base URL and a token-management token.
pub fn tenant(sim: &Dtsim, c: &Client, id: &str) -> (String, Secret) {
    let cluster = Secret::new(sim.cluster_token());
    let ensured =
        crate::cluster::ensure_tenant(c, &sim.url(), &cluster, id, id, &["test".into()]).unwrap();
    assert!(ensured.created || crate::cluster::tenant_exists(c, &sim.url(), &cluster, id).unwrap());
    let mgmt = crate::cluster::token_management_token(c, &sim.url(), &cluster, id).unwrap();
    (format!("{}/e/{id}/api", sim.url()), mgmt)
}

/// dtsim's token overview (`/__dtsim/tokens`: id, name, environment, scopes, alive).
pub fn sim_tokens(sim: &Dtsim) -> Vec<serde_json::Value> {
    let url = format!("{}/__dtsim/tokens", sim.url());
    let reply = client()
        .call(
            &super::Call::new(super::Method::Get, &url, "listing"),
            &[200],
        )
        .unwrap();
    serde_json::from_str(&reply.body).unwrap()
}

/// `(method, path)` of every request dtsim saw, oldest first.
pub fn seen(sim: &Dtsim) -> Vec<(String, String)> {
    sim.requests()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect()
}

/// Asserts that no secret's value, nor its secret half, appears in `text`.
pub fn assert_no_secret(text: &str, secrets: &[&Secret]) {
    for s in secrets {
        let value = s.expose();
        assert!(!value.is_empty());
        assert!(!text.contains(value), "a token leaked into: {text}");
        if let Some(id) = s.token_id() {
            let secret_half = &value[id.len() + 1..];
            assert!(
                !text.contains(secret_half),
                "a token's secret part leaked into: {text}"
            );
        }
    }
}

/// The error's whole chain on one line, after checking it holds no secret.
pub fn message(err: &anyhow::Error, secrets: &[&Secret]) -> String {
    let text = format!("{} | {err:?} | {err:#}", crate::error::one_line(err));
    assert_no_secret(&text, secrets);
    crate::error::one_line(err)
}

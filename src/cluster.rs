//! Cluster API v2 (Managed): make sure the tenant (environment) exists, and get a short-lived
//! token-management token for it. Needs a cluster token with `ServiceProviderAPI` (tenants)
//! and `EnvironmentTokenManagement` (token-management tokens).

use serde::Deserialize;
use serde_json::json;

use crate::error::{failure, Kind};
use crate::http::{Call, Client, Method};
use crate::secret::Secret;

/// Names the token in hints, with where the operator sets it.
const CLUSTER_TOKEN: &str = "the cluster token (--cluster-token-file/DT_CLUSTER_TOKEN)";
const TENANTS_SCOPE: &str = "ServiceProviderAPI";
const TOKENS_SCOPE: &str = "EnvironmentTokenManagement";
/// The token-management token only has to outlive minting one installer token.
const MANAGEMENT_TOKEN_SECONDS: u32 = 300;

#[derive(Debug)]
pub struct Ensured {
    /// This run created the tenant (201). False when it existed, or a racing host created it
    /// first (our PUT then updated it with the same body: 204).
    pub created: bool,
}

/// Whether tenant `id` exists on the cluster.
pub fn tenant_exists(
    c: &Client,
    cluster_url: &str,
    cluster_token: &Secret,
    id: &str,
) -> anyhow::Result<bool> {
    let url = environment_url(cluster_url, id)?;
    let doing = format!("looking up tenant '{id}'");
    let call = Call::new(Method::Get, &url, &doing)
        .token(cluster_token, CLUSTER_TOKEN)
        .scope(TENANTS_SCOPE);
    Ok(c.call(&call, &[200, 404])?.status == 200)
}

/// Makes sure tenant `id` exists: GET first, PUT only on 404, so an existing tenant's name and
/// tags are never touched. The PUT body is the same for every host deriving this id, so a
/// racing host's PUT (an update, 204) changes nothing. No `createToken=true`: the token it
/// returns never expires and cannot revoke itself, so a new tenant gets its short-lived
/// token-management token from [`token_management_token`] like an existing one.
pub fn ensure_tenant(
    c: &Client,
    cluster_url: &str,
    cluster_token: &Secret,
    id: &str,
    name: &str,
    tags: &[String],
) -> anyhow::Result<Ensured> {
    if tenant_exists(c, cluster_url, cluster_token, id)? {
        return Ok(Ensured { created: false });
    }
    let url = environment_url(cluster_url, id)?;
    let doing = format!("creating tenant '{id}'");
    let body = json!({ "name": name, "tags": tags, "state": "ENABLED" });
    let call = Call::new(Method::Put, &url, &doing)
        .token(cluster_token, CLUSTER_TOKEN)
        .scope(TENANTS_SCOPE)
        .json(&body);
    let reply = c.call(&call, &[201, 204])?;
    Ok(Ensured {
        created: reply.status == 201,
    })
}

/// A token-management token for tenant `id` (scopes `apiTokens.read`, `apiTokens.write`,
/// `TenantTokenManagement`), valid for 5 minutes.
pub fn token_management_token(
    c: &Client,
    cluster_url: &str,
    cluster_token: &Secret,
    id: &str,
) -> anyhow::Result<Secret> {
    let url = format!("{}/tokenManagementToken", environment_url(cluster_url, id)?);
    let doing = format!("getting a token-management token for tenant '{id}'");
    let not_found = format!("tenant '{id}' does not exist on this cluster");
    let host = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown-host".into());
    let body = json!({
        "name": format!("oneagent-bootstrap {host}"),
        "expiresIn": { "value": MANAGEMENT_TOKEN_SECONDS, "unit": "SECONDS" },
    });
    let call = Call::new(Method::Post, &url, &doing)
        .token(cluster_token, CLUSTER_TOKEN)
        .scope(TOKENS_SCOPE)
        .not_found(&not_found)
        .json(&body);
    let reply = c.call(&call, &[200, 201])?;
    #[derive(Deserialize)]
    struct Issued {
        token: String,
    }
    let issued: Issued = reply.json(&call)?;
    let token = Secret::new(issued.token);
    if token.is_empty() {
        return Err(call.api_error("answered with an empty token"));
    }
    Ok(token)
}

/// `{cluster}/api/cluster/v2/environments/{id}`, refusing ids outside the documented rule so
/// nothing can be smuggled into the path.
fn environment_url(cluster_url: &str, id: &str) -> anyhow::Result<String> {
    let valid = !id.is_empty()
        && id.len() <= 70
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(failure(
            Kind::Config,
            format!(
                "tenant id '{}' does not match ^[a-zA-Z0-9_-]{{1,70}}$: fix --tenant or the template",
                id.escape_debug()
            ),
        ));
    }
    Ok(format!(
        "{}/api/cluster/v2/environments/{id}",
        cluster_url.trim_end_matches('/')
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::kind_of;
    use crate::http::testing::{client, message, seen, sim};

    #[test]
    fn environment_urls_and_the_id_rule() {
        assert_eq!(
            environment_url("https://c.example/", "abc-p1").unwrap(),
            "https://c.example/api/cluster/v2/environments/abc-p1"
        );
        for bad in ["", "a/b", "../x", "a?b", "ä", &"x".repeat(71)] {
            let err = environment_url("https://c", bad).unwrap_err();
            assert_eq!(kind_of(&err), Kind::Config, "{bad}");
        }
    }

    #[test]
    fn ensure_creates_once_then_only_looks() {
        let sim = sim();
        let c = client();
        let cluster = Secret::new(sim.cluster_token());
        let tags = vec!["customer:abc".to_string()];
        let first = ensure_tenant(&c, &sim.url(), &cluster, "abc-p1", "ABC prod", &tags).unwrap();
        assert!(first.created);
        assert_eq!(
            seen(&sim),
            vec![
                ("GET".into(), "/api/cluster/v2/environments/abc-p1".into()),
                ("PUT".into(), "/api/cluster/v2/environments/abc-p1".into()),
            ]
        );
        sim.clear_requests();
        let again = ensure_tenant(&c, &sim.url(), &cluster, "abc-p1", "ABC prod", &tags).unwrap();
        assert!(!again.created);
        assert_eq!(
            seen(&sim),
            vec![("GET".into(), "/api/cluster/v2/environments/abc-p1".into())]
        );
        assert!(tenant_exists(&c, &sim.url(), &cluster, "abc-p1").unwrap());
        assert!(!tenant_exists(&c, &sim.url(), &cluster, "abc-p2").unwrap());
        // No token was created with the tenant: none is left in it.
        let left: Vec<_> = crate::http::testing::sim_tokens(&sim)
            .into_iter()
            .filter(|t| t["environment"] == "abc-p1")
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn concurrent_ensures_of_one_tenant_both_succeed() {
        let sim = sim();
        let cluster = Secret::new(sim.cluster_token());
        let url = sim.url();
        let results: Vec<Ensured> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        let c = client();
                        ensure_tenant(&c, &url, &cluster, "race-1", "Race", &[]).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(results.iter().filter(|e| e.created).count(), 1);
        assert!(tenant_exists(&client(), &url, &cluster, "race-1").unwrap());
    }

    #[test]
    fn token_management_token_for_existing_and_missing_tenants() {
        let sim = sim();
        let c = client();
        let cluster = Secret::new(sim.cluster_token());
        ensure_tenant(&c, &sim.url(), &cluster, "tm-1", "TM", &[]).unwrap();
        let token = token_management_token(&c, &sim.url(), &cluster, "tm-1").unwrap();
        let api = format!("{}/e/tm-1/api", sim.url());
        let scopes = crate::token::scopes_of(&c, &api, &token).unwrap();
        assert!(scopes.iter().any(|s| s == "apiTokens.write"), "{scopes:?}");

        let err = token_management_token(&c, &sim.url(), &cluster, "tm-missing").unwrap_err();
        let text = message(&err, &[&cluster, &token]);
        assert_eq!(kind_of(&err), Kind::Api);
        assert!(text.contains("404"), "{text}");
    }

    #[test]
    fn a_cluster_token_without_access_is_explained() {
        let sim = sim();
        let c = client();
        let bogus = Secret::new(
            "dt0c01.CCCCCCCCCCCCCCCCCCCCCCCC.DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD",
        );
        let err = ensure_tenant(&c, &sim.url(), &bogus, "x-1", "X", &[]).unwrap_err();
        let text = message(&err, &[&bogus]);
        assert_eq!(kind_of(&err), Kind::Api);
        assert!(text.starts_with("looking up tenant 'x-1': GET "), "{text}");
        assert!(
            text.contains(&format!("{CLUSTER_TOKEN} is unknown, expired or revoked")),
            "{text}"
        );
    }
}

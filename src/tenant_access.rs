//! What a tenant needs on the cluster before a host installs for it, ensured the same way by
//! `apply` (cluster token on the node) and `provision` (cluster token on the controller).

use anyhow::Result;

use crate::cluster;
use crate::http::Client;
use crate::report::Reporter;
use crate::secret::Secret;
use crate::tenant::Tenant;

/// Ensures the tenant; returns whether this run created it (apply's user groups depend on that).
pub fn ensure(
    c: &Client,
    cluster_url: &str,
    cluster_token: &Secret,
    tenant: &Tenant,
    out: Reporter,
) -> Result<bool> {
    let ensured = cluster::ensure_tenant(
        c,
        cluster_url,
        cluster_token,
        &tenant.id,
        &tenant.name,
        &tenant.tags,
    )?;
    out.step(format!(
        "tenant {}: {}",
        tenant.id,
        if ensured.created { "created" } else { "exists" }
    ));
    Ok(ensured.created)
}

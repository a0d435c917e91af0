//! What a tenant needs on the cluster before a host installs for it — the tenant and its user
//! groups — ensured the same way by `apply` (cluster token on the node) and `provision` (cluster
//! token on the controller).

use anyhow::{Context, Result};

use crate::cluster;
use crate::groups::{sync, Described, GroupsSpec, Step, Wanted};
use crate::http::Client;
use crate::report::{ActionReport, Reporter};
use crate::secret::Secret;
use crate::tenant::Tenant;

/// The cluster, reached with the cluster token.
#[derive(Clone, Copy)]
pub struct Access<'a> {
    pub client: &'a Client,
    pub url: &'a str,
    pub token: &'a Secret,
}

/// The rendered --tenant-group groups of one tenant and the options that say when and how
/// they are made right.
#[derive(Clone, Copy)]
pub struct Groups<'a> {
    pub wanted: &'a [Wanted],
    pub spec: &'a GroupsSpec,
}

pub struct Ensured {
    /// This run created the tenant.
    pub created: bool,
    /// What was done to the user groups; `None` when they were not due (none configured, or
    /// the tenant existed and no --reconcile-groups).
    pub groups: Option<Vec<ActionReport>>,
}

/// Ensures the tenant, then its user groups when this run created it (a converged fleet stays
/// at zero group requests) or on --reconcile-groups.
pub fn ensure(at: Access, tenant: &Tenant, groups: Groups, out: Reporter) -> Result<Ensured> {
    let ensured = cluster::ensure_tenant(
        at.client,
        at.url,
        at.token,
        &tenant.id,
        &tenant.name,
        &tenant.tags,
    )?;
    let created = ensured.created;
    out.step(format!(
        "tenant {}: {}",
        tenant.id,
        if created { "created" } else { "exists" }
    ));
    if groups.wanted.is_empty() || !(created || groups.spec.reconcile) {
        return Ok(Ensured {
            created,
            groups: None,
        });
    }
    let steps = converge_groups(at, tenant, groups, out).with_context(|| {
        if created {
            format!(
                "tenant {} was created but its user groups may be incomplete (rerun with \
                 --reconcile-groups)",
                tenant.id
            )
        } else {
            format!("reconciling the user groups of tenant {}", tenant.id)
        }
    })?;
    Ok(Ensured {
        created,
        groups: Some(steps),
    })
}

/// Makes every wanted group give the tenant its permissions; the actions taken.
pub fn converge_groups(
    at: Access,
    tenant: &Tenant,
    groups: Groups,
    out: Reporter,
) -> Result<Vec<ActionReport>> {
    let api = sync::Http::new(at.client, at.url, at.token);
    let steps = sync::converge(&api, groups.wanted, &tenant.id, groups.spec.settle)?;
    if steps.is_empty() {
        let names: Vec<String> = groups
            .wanted
            .iter()
            .map(|g| format!("'{}'", g.name))
            .collect();
        out.step(format!(
            "user groups: {} already give tenant {} the requested permissions",
            names.join(", "),
            tenant.id
        ));
    }
    Ok(record(&steps, &tenant.id, "", out))
}

/// What [`ensure`] would do to the groups, from reads only. Without --reconcile-groups that is
/// nothing unless the tenant is missing; `exists` is whether it is, when the caller read it.
pub fn preview_groups(
    at: Access,
    tenant: &Tenant,
    groups: Groups,
    exists: Option<bool>,
    out: Reporter,
) -> Result<Vec<ActionReport>> {
    if groups.wanted.is_empty() {
        return Ok(Vec::new());
    }
    if !groups.spec.reconcile {
        let exists = match exists {
            Some(e) => e,
            None => cluster::tenant_exists(at.client, at.url, at.token, &tenant.id)?,
        };
        if exists {
            out.step(format!(
                "tenant {} exists: user groups are left alone (--reconcile-groups checks them)",
                tenant.id
            ));
            return Ok(Vec::new());
        }
    }
    let api = sync::Http::new(at.client, at.url, at.token);
    let steps = sync::preview(&api, groups.wanted, &tenant.id)?;
    Ok(record(&steps, &tenant.id, "would ", out))
}

/// Says what each step did (or would do) and lists it for the result object.
fn record(steps: &[Step], tenant: &str, prefix: &str, out: Reporter) -> Vec<ActionReport> {
    steps
        .iter()
        .map(|s| {
            let description = Described(s, tenant).to_string();
            out.step(format!("{prefix}{description}"));
            ActionReport {
                kind: s.kind().into(),
                description,
            }
        })
        .collect()
}

//! User groups and their permissions on a new tenant (cluster API `/api/v1.0/onpremise/groups`,
//! scope `ServiceProviderAPI`).
//!
//! This module is the pure part: what the operator asked for (`--tenant-group`,
//! `--tenant-group-ldap`, `--tenant-group-sso`), rendered with the host's facts, and the plan
//! that turns the groups the cluster has into the groups we want. The plan only ever adds:
//! the tenant id to the permissions a group lacks, and LDAP/SSO names it does not map yet;
//! every other field and every other environment's rights stay as read. `sync.rs` executes a
//! plan and guards it against racing hosts.

pub mod sync;

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use anyhow::Result;
use serde_json::{json, Map, Value};

use crate::error::{failure, Kind};
use crate::facts::{Facts, Source};
use crate::tenant;

/// The documented permissions of `accessRight` (../shared/dynatrace-api.md, section 6).
pub const PERMISSIONS: [&str; 11] = [
    "VIEWER",
    "MANAGE_SETTINGS",
    "AGENT_INSTALL",
    "LOG_VIEWER",
    "VIEW_SENSITIVE_REQUEST_DATA",
    "CONFIGURE_REQUEST_CAPTURE_DATA",
    "REPLAY_SESSION_DATA",
    "REPLAY_SESSION_DATA_WITHOUT_MASKING",
    "MANAGE_SECURITY_PROBLEMS",
    "VIEW_SECURITY_PROBLEMS",
    "DEMO_USER",
];

/// One `--tenant-group TEMPLATE:PERM[,PERM...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    pub template: String,
    pub permissions: Vec<String>,
}

/// One `--tenant-group-ldap`/`-sso NAME=EXTERNAL`; both sides are templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub group: String,
    pub external: String,
}

/// Everything the operator configured about user groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupsSpec {
    pub groups: Vec<GroupSpec>,
    pub ldap: Vec<Mapping>,
    pub sso: Vec<Mapping>,
    /// Also when this run did not create the tenant (`--reconcile-groups`).
    pub reconcile: bool,
    /// How long after a write the group is read back (jittered, see sync.rs).
    pub settle: Duration,
}

impl Default for GroupsSpec {
    fn default() -> Self {
        GroupsSpec {
            groups: Vec::new(),
            ldap: Vec::new(),
            sso: Vec::new(),
            reconcile: false,
            settle: Duration::from_secs(2),
        }
    }
}

/// Parses `TEMPLATE:PERM[,PERM...]`. The last `:` splits (permissions never hold one), so a
/// group name may contain colons.
pub fn parse_group(text: &str) -> Result<GroupSpec> {
    let bad = |why: String| {
        failure(
            Kind::Config,
            format!("--tenant-group {text:?}: {why}; write it as 'NAME-TEMPLATE:PERM[,PERM...]'"),
        )
    };
    let Some((template, perms)) = text.rsplit_once(':') else {
        return Err(bad("no ':' before the permissions".into()));
    };
    let template = template.trim();
    if template.is_empty() {
        return Err(bad("the group name is empty".into()));
    }
    let mut permissions = Vec::new();
    for p in perms.split(',').map(str::trim) {
        if !PERMISSIONS.contains(&p) {
            return Err(bad(format!(
                "unknown permission {p:?} (known: {})",
                PERMISSIONS.join(", ")
            )));
        }
        if !permissions.iter().any(|q| q == p) {
            permissions.push(p.to_string());
        }
    }
    Ok(GroupSpec {
        template: template.to_string(),
        permissions,
    })
}

/// Parses `NAME=EXTERNAL` for `flag`; the first `=` splits (LDAP DNs hold more of them).
pub fn parse_mapping(text: &str, flag: &str) -> Result<Mapping> {
    match text.split_once('=') {
        Some((g, e)) if !g.trim().is_empty() && !e.trim().is_empty() => Ok(Mapping {
            group: g.trim().to_string(),
            external: e.trim().to_string(),
        }),
        _ => Err(failure(
            Kind::Config,
            format!("{flag} {text:?}: write it as 'GROUP-NAME=EXTERNAL-GROUP'"),
        )),
    }
}

/// A group as this host wants it, after rendering.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Wanted {
    pub name: String,
    pub permissions: BTreeSet<String>,
    pub ldap: BTreeSet<String>,
    pub sso: BTreeSet<String>,
}

/// Renders the group names and mappings with the facts (plus `tenant`). Two templates that
/// give one name make one group with the union of their permissions; a mapping whose name
/// matches no group is a configuration error.
pub fn render(spec: &GroupsSpec, facts: &Facts, tenant_id: &str) -> Result<Vec<Wanted>> {
    let mut facts = facts.clone();
    facts.set("tenant", tenant_id, Source::Flag);
    let mut out: Vec<Wanted> = Vec::new();
    for g in &spec.groups {
        let name = render_name("--tenant-group", &g.template, &facts)?;
        let i = match out.iter().position(|w| w.name == name) {
            Some(i) => i,
            None => {
                out.push(Wanted {
                    name,
                    ..Wanted::default()
                });
                out.len() - 1
            }
        };
        out[i].permissions.extend(g.permissions.iter().cloned());
    }
    for (flag, maps, ldap) in [
        ("--tenant-group-ldap", &spec.ldap, true),
        ("--tenant-group-sso", &spec.sso, false),
    ] {
        for m in maps {
            let name = render_name(flag, &m.group, &facts)?;
            let external = render_name(flag, &m.external, &facts)?;
            let Some(w) = out.iter_mut().find(|w| w.name == name) else {
                return Err(failure(
                    Kind::Config,
                    format!(
                        "{flag} '{}={}': no --tenant-group is named {name:?} (groups: {})",
                        m.group,
                        m.external,
                        out.iter()
                            .map(|w| w.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            };
            if ldap { &mut w.ldap } else { &mut w.sso }.insert(external);
        }
    }
    Ok(out)
}

fn render_name(flag: &str, template: &str, facts: &Facts) -> Result<String> {
    let text = tenant::render_for(flag, template, facts)?
        .text
        .trim()
        .to_string();
    // The cluster derives the id from the letters and digits of the name.
    if !text.chars().any(|c| c.is_ascii_alphanumeric()) || text.chars().any(char::is_control) {
        return Err(failure(
            Kind::Config,
            format!(
                "{flag} '{template}' gives {text:?}: a name needs a letter or digit and no \
                 control characters"
            ),
        ));
    }
    Ok(text)
}

/// One change to one group.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// POST: the group does not exist yet.
    Create { wanted: Wanted, body: Value },
    /// PUT of the whole object read, with only our additions.
    Update {
        wanted: Wanted,
        id: String,
        added: Additions,
        body: Value,
    },
}

/// What an update adds: permissions on the tenant, LDAP and SSO names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Additions {
    pub permissions: Vec<String>,
    pub ldap: Vec<String>,
    pub sso: Vec<String>,
}

impl Additions {
    pub fn is_empty(&self) -> bool {
        self.permissions.is_empty() && self.ldap.is_empty() && self.sso.is_empty()
    }
}

impl Step {
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Create { .. } => "create-group",
            Step::Update { .. } => "update-group",
        }
    }

    pub fn wanted(&self) -> &Wanted {
        match self {
            Step::Create { wanted, .. } | Step::Update { wanted, .. } => wanted,
        }
    }
}

/// "create user group 'abc-viewers' with VIEWER on abc-p1" (the tenant is the only `accessRight`
/// entry we ever touch, so it is named once).
pub struct Described<'a>(pub &'a Step, pub &'a str);

impl fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Described(step, tenant) = self;
        let list = |v: &mut dyn Iterator<Item = &String>| {
            v.map(String::as_str).collect::<Vec<_>>().join(", ")
        };
        let (verb, a) = match step {
            Step::Create { wanted, .. } => (
                "create",
                Additions {
                    permissions: wanted.permissions.iter().cloned().collect(),
                    ldap: wanted.ldap.iter().cloned().collect(),
                    sso: wanted.sso.iter().cloned().collect(),
                },
            ),
            Step::Update { added, .. } => ("update", added.clone()),
        };
        write!(f, "{verb} user group '{}'", step.wanted().name)?;
        let mut parts = Vec::new();
        if !a.permissions.is_empty() {
            parts.push(format!("{} on {tenant}", list(&mut a.permissions.iter())));
        }
        if !a.ldap.is_empty() {
            parts.push(format!("LDAP {}", list(&mut a.ldap.iter())));
        }
        if !a.sso.is_empty() {
            parts.push(format!("SSO {}", list(&mut a.sso.iter())));
        }
        if !parts.is_empty() {
            write!(f, ": add {}", parts.join("; "))?;
        }
        Ok(())
    }
}

/// The group among `existing` that `name` denotes: the same name, else the same name ignoring
/// case (the cluster derives ids from lowercased names, so those collide on POST too).
pub fn find<'a>(existing: &'a [Value], name: &str) -> Option<&'a Value> {
    let name_of = |g: &Value| g.get("name").and_then(Value::as_str).map(str::to_string);
    existing
        .iter()
        .find(|g| name_of(g).as_deref() == Some(name))
        .or_else(|| {
            existing
                .iter()
                .find(|g| name_of(g).is_some_and(|n| n.to_lowercase() == name.to_lowercase()))
        })
}

/// The steps that give every wanted group its rights on `tenant`, against the groups the
/// cluster has. Pure: `check` shows these and `apply` executes them.
pub fn plan(wanted: &[Wanted], tenant: &str, existing: &[Value]) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for w in wanted {
        match find(existing, &w.name) {
            None => steps.push(Step::Create {
                wanted: w.clone(),
                body: new_group(w, tenant),
            }),
            Some(g) => {
                if let Some(step) = update(g, w, tenant)? {
                    steps.push(step);
                }
            }
        }
    }
    Ok(steps)
}

/// The update that adds what `existing` lacks of `w`, or `None` when it lacks nothing.
pub fn update(existing: &Value, w: &Wanted, tenant: &str) -> Result<Option<Step>, String> {
    let (body, added) = merge(existing, w, tenant)?;
    if added.is_empty() {
        return Ok(None);
    }
    let id = existing
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| format!("user group '{}' came without an id", w.name))?;
    Ok(Some(Step::Update {
        wanted: w.clone(),
        id: id.to_string(),
        added,
        body,
    }))
}

/// A new group with exactly the wanted rights on `tenant`.
pub fn new_group(w: &Wanted, tenant: &str) -> Value {
    let rights: Map<String, Value> = w
        .permissions
        .iter()
        .map(|p| (p.clone(), json!([tenant])))
        .collect();
    json!({
        "name": w.name,
        "isClusterAdminGroup": false,
        "isAccessAccount": false,
        "isManageAccount": false,
        "ldapGroupNames": w.ldap,
        "ssoGroupNames": w.sso,
        "accessRight": rights,
    })
}

/// `existing` with what it lacks of `w` added, and what was added. Everything else (other
/// fields, other environments, permissions we did not ask for) is kept as read, because PUT
/// replaces the whole object.
pub fn merge(existing: &Value, w: &Wanted, tenant: &str) -> Result<(Value, Additions), String> {
    let shape = |what: &str| format!("user group '{}' has {what}; not changing it", w.name);
    let mut g = existing
        .as_object()
        .cloned()
        .ok_or_else(|| shape("a body that is not an object"))?;
    let mut added = Additions::default();

    let rights = g
        .entry("accessRight")
        .or_insert_with(|| Value::Object(Map::new()));
    if rights.is_null() {
        *rights = Value::Object(Map::new());
    }
    let rights = rights
        .as_object_mut()
        .ok_or_else(|| shape("an accessRight that is not an object"))?;
    for p in &w.permissions {
        let envs = rights.entry(p.clone()).or_insert_with(|| json!([]));
        if envs.is_null() {
            *envs = json!([]);
        }
        let envs = envs
            .as_array_mut()
            .ok_or_else(|| shape(&format!("an accessRight.{p} that is not a list")))?;
        if !envs.iter().any(|e| e.as_str() == Some(tenant)) {
            envs.push(json!(tenant));
            added.permissions.push(p.clone());
        }
    }
    for (field, names, out) in [
        ("ldapGroupNames", &w.ldap, &mut added.ldap),
        ("ssoGroupNames", &w.sso, &mut added.sso),
    ] {
        if names.is_empty() {
            continue;
        }
        let list = g.entry(field).or_insert_with(|| json!([]));
        if list.is_null() {
            *list = json!([]);
        }
        let list = list
            .as_array_mut()
            .ok_or_else(|| shape(&format!("a {field} that is not a list")))?;
        for n in names {
            if !list.iter().any(|e| e.as_str() == Some(n)) {
                list.push(json!(n));
                out.push(n.clone());
            }
        }
    }
    Ok((Value::Object(g), added))
}

#[cfg(test)]
mod tests;

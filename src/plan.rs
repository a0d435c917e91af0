//! The decision: a pure function from (desired state, observed host, remote facts) to a plan.
//! `check` prints it, `apply` executes it, and after executing, an empty plan for the newly
//! observed host is the proof that the host matches.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;

use crate::host::Observed;
use crate::settings::Settings;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSpec {
    Latest,
    Exact(String),
}

impl fmt::Display for VersionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionSpec::Latest => f.write_str("latest"),
            VersionSpec::Exact(v) => f.write_str(v),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensure {
    Present,
    Absent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub ensure: Ensure,
    /// The tenant id; `None` when uninstalling, or installing from an installer file without a
    /// configured tenant (then the tenant is not managed).
    pub tenant: Option<String>,
    pub version: VersionSpec,
    pub upgrade: bool,
    pub allow_downgrade: bool,
    pub settings: Settings,
}

/// Facts only the environment API knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// What `latest` resolves to for this environment (metainfo).
    pub target_version: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Fresh install with these `--set-*` installer arguments.
    Install {
        version: VersionSpec,
        args: Vec<String>,
    },
    /// In-place install of another version (settings are kept by the installer).
    Upgrade {
        from: String,
        to: VersionSpec,
    },
    /// Attach the agent to the desired tenant with oneagentctl, plus these settings.
    Repoint {
        tenant: String,
        args: Vec<String>,
    },
    /// Change settings with oneagentctl.
    Reconfigure {
        args: Vec<String>,
    },
    Uninstall,
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Install { .. } => "install",
            Action::Upgrade { .. } => "upgrade",
            Action::Repoint { .. } => "repoint",
            Action::Reconfigure { .. } => "reconfigure",
            Action::Uninstall => "uninstall",
        }
    }
}

/// Descriptions reach the result line, `--json`, stderr and status.json: a proxy password in
/// the arguments is masked.
impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::secret::redact_userinfo(&self.describe()))
    }
}

impl Action {
    fn describe(&self) -> String {
        let mut f = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_description(&mut f);
        f
    }

    fn write_description(&self, f: &mut impl fmt::Write) -> fmt::Result {
        match self {
            Action::Install { version, args } if args.is_empty() => {
                write!(f, "install OneAgent {version}")
            }
            Action::Install { version, args } => {
                write!(f, "install OneAgent {version} with {}", args.join(" "))
            }
            Action::Upgrade { from, to } => {
                let verb = match to {
                    VersionSpec::Exact(t) if compare_versions(from, t) == Ordering::Greater => {
                        "downgrade"
                    }
                    _ => "upgrade",
                };
                write!(f, "{verb} OneAgent {from} -> {to}")
            }
            Action::Repoint { tenant, args } if args.is_empty() => {
                write!(f, "re-point OneAgent to tenant {tenant}")
            }
            Action::Repoint { tenant, args } => write!(
                f,
                "re-point OneAgent to tenant {tenant} and set {}",
                args.join(" ")
            ),
            Action::Reconfigure { args } => write!(f, "reconfigure OneAgent: {}", args.join(" ")),
            Action::Uninstall => f.write_str("uninstall OneAgent"),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Things worth saying that need no action (e.g. a downgrade that is not allowed).
    pub notes: Vec<String>,
    /// The decision depends on [`Remote`] facts that were not given: fetch them and plan again.
    pub needs_remote: bool,
}

impl Plan {
    pub fn is_converged(&self) -> bool {
        self.actions.is_empty() && !self.needs_remote
    }
}

/// Compares version strings such as `1.301.55.20260114-153010` field by field, numerically
/// where both fields are numbers (so 1.99 < 1.100); a missing field counts as 0.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let split = |s: &str| -> Vec<String> {
        s.trim()
            .split(['.', '-'])
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let (fa, fb) = (split(a), split(b));
    for i in 0..fa.len().max(fb.len()) {
        let x = fa.get(i).map_or("0", String::as_str);
        let y = fb.get(i).map_or("0", String::as_str);
        let ord = match (x.parse::<u128>(), y.parse::<u128>()) {
            (Ok(p), Ok(q)) => p.cmp(&q),
            _ => x.cmp(y),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// The `--set-*` arguments a fresh install passes for the managed settings.
pub fn install_args(s: &Settings) -> Vec<String> {
    let mut args = Vec::new();
    let mut one = |name: &str, v: &Option<String>| {
        if let Some(v) = v {
            args.push(format!("--set-{name}={v}"));
        }
    };
    one("host-group", &s.host_group);
    one("network-zone", &s.network_zone);
    one("monitoring-mode", &s.monitoring_mode);
    one("proxy", &s.proxy);
    one("server", &s.server);
    for t in &s.host_tags {
        args.push(format!("--set-host-tag={t}"));
    }
    for (k, v) in &s.host_properties {
        args.push(format!("--set-host-property={k}={v}"));
    }
    args.extend(metadata_args(s));
    args
}

/// The deployment metadata, as the installer and oneagentctl take it (an upgrade passes these
/// too, so the host always says which version of us installed it).
pub fn metadata_args(s: &Settings) -> Vec<String> {
    s.deployment_metadata
        .iter()
        .map(|(k, v)| format!("--set-deployment-metadata={k}={v}"))
        .collect()
}

/// Whether oneagentctl must restart the agent for these changes. Deployment metadata only
/// labels the host: relabelling (e.g. a new `script_version` after this tool is upgraded on a
/// whole fleet) must not restart every monitored host's agent; it is picked up at the agent's
/// next restart.
pub fn needs_restart(args: &[String]) -> bool {
    args.iter()
        .any(|a| !a.starts_with("--set-deployment-metadata="))
}

/// Endpoint lists compare as sets of trimmed entries (oneagentctl may add braces or spaces).
pub fn normalize_server(s: &str) -> BTreeSet<String> {
    s.trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .split(';')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect()
}

/// The oneagentctl arguments that turn the observed settings into the desired ones.
pub fn settings_diff(s: &Settings, o: &Observed) -> Vec<String> {
    let mut args = Vec::new();
    let mut one = |name: &str, want: &Option<String>, have: &Option<String>| {
        if let Some(w) = want {
            if have.as_deref().map(str::trim) != Some(w.as_str()) {
                args.push(format!("--set-{name}={w}"));
            }
        }
    };
    one("host-group", &s.host_group, &o.host_group);
    one("network-zone", &s.network_zone, &o.network_zone);
    one("monitoring-mode", &s.monitoring_mode, &o.monitoring_mode);
    one("proxy", &s.proxy, &o.proxy);
    if let Some(want) = &s.server {
        let have = o
            .server
            .as_deref()
            .map(normalize_server)
            .unwrap_or_default();
        if normalize_server(want) != have {
            args.push(format!("--set-server={want}"));
        }
    }
    if !s.host_tags.is_empty() {
        let have = o.host_tags.clone().unwrap_or_default();
        // `--remove-host-tag=X` also removes every tag whose key is X (`env` takes `env=prod`
        // along): removals go first, then the wanted tags they take along are set again, in
        // the same call (oneagentctl applies its options in order).
        let removed: Vec<&String> = have.difference(&s.host_tags).collect();
        let taken_along = |t: &str| {
            let key = t.split('=').next().unwrap_or(t);
            removed.iter().any(|r| r.as_str() == key)
        };
        for t in &removed {
            args.push(format!("--remove-host-tag={t}"));
        }
        for t in &s.host_tags {
            if !have.contains(t) || taken_along(t) {
                args.push(format!("--set-host-tag={t}"));
            }
        }
    }
    if !s.host_properties.is_empty() {
        let have = o.host_properties.clone().unwrap_or_default();
        for (k, v) in &s.host_properties {
            if have.get(k) != Some(v) {
                args.push(format!("--set-host-property={k}={v}"));
            }
        }
        for (k, v) in &have {
            if !s.host_properties.contains_key(k) {
                args.push(format!("--remove-host-property={k}={v}"));
            }
        }
    }
    // Only our keys: metadata others set (there is no remove option) is not ours to judge.
    let have = o.deployment_metadata.clone().unwrap_or_default();
    for (k, v) in &s.deployment_metadata {
        if have.get(k) != Some(v) {
            args.push(format!("--set-deployment-metadata={k}={v}"));
        }
    }
    args
}

/// What should change on this host, and nothing else.
pub fn plan(d: &Desired, o: &Observed, remote: Option<&Remote>) -> Plan {
    let mut p = Plan::default();
    match d.ensure {
        Ensure::Absent => {
            if o.installed {
                p.actions.push(Action::Uninstall);
            }
            return p;
        }
        Ensure::Present => {}
    }
    if !o.installed {
        p.actions.push(Action::Install {
            version: d.version.clone(),
            args: install_args(&d.settings),
        });
        return p;
    }

    // The version target, if the policy has one.
    let target = match (&d.version, d.upgrade) {
        (VersionSpec::Exact(v), _) => Some(v.clone()),
        (VersionSpec::Latest, false) => None,
        (VersionSpec::Latest, true) => match remote {
            Some(r) => Some(r.target_version.clone()),
            None => {
                p.needs_remote = true;
                None
            }
        },
    };
    if let Some(target) = target {
        match o.version.as_deref() {
            None => {
                p.notes
                    .push("the installed OneAgent does not report its version".into());
                p.actions.push(Action::Upgrade {
                    from: "unknown".into(),
                    to: VersionSpec::Exact(target),
                });
            }
            Some(have) => match compare_versions(have, &target) {
                Ordering::Less => p.actions.push(Action::Upgrade {
                    from: have.to_string(),
                    to: VersionSpec::Exact(target),
                }),
                Ordering::Greater if d.allow_downgrade => p.actions.push(Action::Upgrade {
                    from: have.to_string(),
                    to: VersionSpec::Exact(target),
                }),
                Ordering::Greater => p.notes.push(format!(
                    "installed OneAgent {have} is newer than the target {target}; not \
                     downgrading without --allow-downgrade"
                )),
                Ordering::Equal => {}
            },
        }
    }

    let diff = settings_diff(&d.settings, o);
    // No tenant configured (an --installer-file install): the one the host has stays.
    let repoint = d
        .tenant
        .as_ref()
        .filter(|t| o.tenant.as_deref().map(str::trim) != Some(t.as_str()));
    if let Some(tenant) = repoint {
        p.actions.push(Action::Repoint {
            tenant: tenant.clone(),
            args: diff,
        });
    } else if !diff.is_empty() {
        p.actions.push(Action::Reconfigure { args: diff });
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "1.299.40.20250908-101500";
    const V2: &str = "1.301.55.20260114-153010";
    const V3: &str = "1.303.12.20260310-090000";

    fn desired() -> Desired {
        Desired {
            ensure: Ensure::Present,
            tenant: Some("abc-p1".into()),
            version: VersionSpec::Latest,
            upgrade: false,
            allow_downgrade: false,
            settings: Settings::default(),
        }
    }

    fn installed(version: &str) -> Observed {
        Observed {
            installed: true,
            version: Some(version.into()),
            tenant: Some("abc-p1".into()),
            ..Default::default()
        }
    }

    #[test]
    fn version_compare() {
        use Ordering::*;
        for (a, b, want) in [
            (V1, V2, Less),
            (V3, V2, Greater),
            (V2, V2, Equal),
            ("1.99.0", "1.100.0", Less),
            ("1.301", V2, Less),
            ("1.301.55.20260114-153010", "1.301.55.20260114-153011", Less),
            ("1.301.55", "1.301.55.0", Equal),
            (" 1.2.3\n", "1.2.3", Equal),
            ("1.2.x", "1.2.y", Less),
        ] {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
        }
    }

    /// One row: a description, a change to the desired state, the observed host, the remote
    /// facts, and the expected action kinds (+ needs_remote).
    #[test]
    fn planner_table() {
        type Row = (
            &'static str,
            fn(&mut Desired),
            Observed,
            Option<&'static str>,
            &'static [&'static str],
            bool,
        );
        let nothing: fn(&mut Desired) = |_| {};
        let rows: Vec<Row> = vec![
            (
                "fresh host installs",
                nothing,
                Observed::default(),
                None,
                &["install"],
                false,
            ),
            ("converged latest", nothing, installed(V2), None, &[], false),
            (
                "latest without --upgrade ignores remote",
                nothing,
                installed(V1),
                Some(V3),
                &[],
                false,
            ),
            (
                "--upgrade needs the target",
                |d| d.upgrade = true,
                installed(V2),
                None,
                &[],
                true,
            ),
            (
                "--upgrade newer target",
                |d| d.upgrade = true,
                installed(V2),
                Some(V3),
                &["upgrade"],
                false,
            ),
            (
                "--upgrade same target",
                |d| d.upgrade = true,
                installed(V3),
                Some(V3),
                &[],
                false,
            ),
            (
                "--upgrade older target: no downgrade",
                |d| d.upgrade = true,
                installed(V3),
                Some(V1),
                &[],
                false,
            ),
            (
                "--upgrade older target, allowed",
                |d| {
                    d.upgrade = true;
                    d.allow_downgrade = true
                },
                installed(V3),
                Some(V1),
                &["upgrade"],
                false,
            ),
            (
                "explicit newer",
                |d| d.version = VersionSpec::Exact(V3.into()),
                installed(V2),
                None,
                &["upgrade"],
                false,
            ),
            (
                "explicit equal",
                |d| d.version = VersionSpec::Exact(V2.into()),
                installed(V2),
                None,
                &[],
                false,
            ),
            (
                "explicit older: no downgrade",
                |d| d.version = VersionSpec::Exact(V1.into()),
                installed(V2),
                None,
                &[],
                false,
            ),
            (
                "explicit older, allowed",
                |d| {
                    d.version = VersionSpec::Exact(V1.into());
                    d.allow_downgrade = true
                },
                installed(V2),
                None,
                &["upgrade"],
                false,
            ),
            (
                "wrong tenant re-points",
                |d| d.tenant = Some("xyz-p1".into()),
                installed(V2),
                None,
                &["repoint"],
                false,
            ),
            (
                "host group drift",
                |d| d.settings.host_group = Some("web".into()),
                installed(V2),
                None,
                &["reconfigure"],
                false,
            ),
            (
                "upgrade and drift",
                |d| {
                    d.version = VersionSpec::Exact(V3.into());
                    d.settings.host_group = Some("web".into())
                },
                installed(V2),
                None,
                &["upgrade", "reconfigure"],
                false,
            ),
            (
                "absent uninstalls",
                |d| d.ensure = Ensure::Absent,
                installed(V2),
                None,
                &["uninstall"],
                false,
            ),
            (
                "absent and not installed",
                |d| d.ensure = Ensure::Absent,
                Observed::default(),
                None,
                &[],
                false,
            ),
            (
                "unknown installed version with explicit target",
                |d| d.version = VersionSpec::Exact(V2.into()),
                Observed {
                    version: None,
                    ..installed(V2)
                },
                None,
                &["upgrade"],
                false,
            ),
        ];
        for (name, change, observed, remote, want, needs_remote) in rows {
            let mut d = desired();
            change(&mut d);
            let remote = remote.map(|v| Remote {
                target_version: v.into(),
            });
            let p = plan(&d, &observed, remote.as_ref());
            let kinds: Vec<&str> = p.actions.iter().map(Action::kind).collect();
            assert_eq!(kinds, want, "{name}: {p:?}");
            assert_eq!(p.needs_remote, needs_remote, "{name}");
        }
    }

    #[test]
    fn downgrade_refusal_is_noted() {
        let mut d = desired();
        d.version = VersionSpec::Exact(V1.into());
        let p = plan(&d, &installed(V2), None);
        assert!(p.is_converged());
        assert!(p.notes[0].contains("--allow-downgrade"), "{:?}", p.notes);
    }

    #[test]
    fn settings_diff_sets_and_removes() {
        let mut s = Settings {
            host_group: Some("web".into()),
            network_zone: Some("".into()),
            monitoring_mode: Some("infra-only".into()),
            server: Some("https://a/communication;https://b".into()),
            ..Default::default()
        };
        s.host_tags = ["env=prod", "team=a"]
            .iter()
            .map(|t| t.to_string())
            .collect();
        s.host_properties.insert("app".into(), "shop".into());
        let mut o = installed(V2);
        o.host_group = Some("db".into());
        o.network_zone = Some("".into());
        o.monitoring_mode = Some("fullstack".into());
        o.server = Some("{https://b; https://a/communication}".into());
        o.host_tags = Some(["team=a", "old"].iter().map(|t| t.to_string()).collect());
        o.host_properties = Some(
            [
                ("app".to_string(), "old".to_string()),
                ("x".into(), "1".into()),
            ]
            .into(),
        );
        assert_eq!(
            settings_diff(&s, &o),
            vec![
                "--set-host-group=web",
                "--set-monitoring-mode=infra-only",
                "--remove-host-tag=old",
                "--set-host-tag=env=prod",
                "--set-host-property=app=shop",
                "--remove-host-property=x=1",
            ]
        );
        // Unmanaged settings never produce arguments.
        assert!(settings_diff(&Settings::default(), &o).is_empty());
        // A fresh install passes the managed settings as --set-*.
        assert_eq!(
            install_args(&s),
            vec![
                "--set-host-group=web",
                "--set-network-zone=",
                "--set-monitoring-mode=infra-only",
                "--set-server=https://a/communication;https://b",
                "--set-host-tag=env=prod",
                "--set-host-tag=team=a",
                "--set-host-property=app=shop",
            ]
        );
    }

    /// oneagentctl's semantics, in argument order: `--set-host-tag=T` adds T once,
    /// `--remove-host-tag=X` removes the tags equal to X or whose key is X.
    fn apply_tag_args(have: &BTreeSet<String>, args: &[String]) -> BTreeSet<String> {
        let mut tags = have.clone();
        for a in args {
            if let Some(t) = a.strip_prefix("--set-host-tag=") {
                tags.insert(t.to_string());
            } else if let Some(x) = a.strip_prefix("--remove-host-tag=") {
                tags.retain(|t| t != x && t.split('=').next() != Some(x));
            }
        }
        tags
    }

    #[test]
    fn removing_stray_tags_never_removes_a_wanted_one() {
        let set = |v: &[&str]| v.iter().map(|t| t.to_string()).collect::<BTreeSet<_>>();
        for (want, have) in [
            (&["env=prod"][..], &["env"][..]),
            (
                &["env=prod", "team=a,b"],
                &["env", "team", "team=c", "env=dev"],
            ),
            (&["env"], &["env=dev", "env"]),
            (&["a=1", "a=2"], &["a", "a=3"]),
            (&["x"], &["x", "y"]),
        ] {
            let s = Settings {
                host_tags: set(want),
                ..Default::default()
            };
            let mut o = installed(V2);
            o.host_tags = Some(set(have));
            let args = settings_diff(&s, &o);
            assert_eq!(
                apply_tag_args(&set(have), &args),
                set(want),
                "{have:?} -> {want:?} with {args:?}"
            );
            let mut after = o.clone();
            after.host_tags = Some(set(want));
            assert!(settings_diff(&s, &after).is_empty(), "{want:?}");
        }
    }

    #[test]
    fn repoint_carries_the_settings_diff() {
        let mut d = desired();
        d.settings.host_group = Some("web".into());
        let mut o = installed(V2);
        o.tenant = Some("other".into());
        o.host_group = Some("".into());
        let p = plan(&d, &o, None);
        assert_eq!(
            p.actions,
            vec![Action::Repoint {
                tenant: "abc-p1".into(),
                args: vec!["--set-host-group=web".into()]
            }]
        );
    }

    #[test]
    fn deployment_metadata_is_installed_and_only_our_keys_drift() {
        let mut d = desired();
        d.settings.deployment_metadata = crate::settings::default_deployment_metadata();
        d.settings
            .deployment_metadata
            .insert("orchestration_tech".into(), "Puppet".into());
        let ours = format!(
            "--set-deployment-metadata=script_version={}",
            env!("CARGO_PKG_VERSION")
        );
        let p = plan(&d, &Observed::default(), None);
        let Action::Install { args, .. } = &p.actions[0] else {
            panic!("{p:?}")
        };
        assert_eq!(
            args,
            &vec![
                "--set-deployment-metadata=orchestration_tech=Puppet".to_string(),
                ours.clone()
            ]
        );
        assert_eq!(metadata_args(&d.settings), *args);

        // An older bootstrapper's script_version is drift; someone else's key is not.
        let mut o = installed(V2);
        o.deployment_metadata = Some(
            [
                ("orchestration_tech".to_string(), "Puppet".to_string()),
                ("script_version".into(), "0.0.1".into()),
                ("team".into(), "ops".into()),
            ]
            .into(),
        );
        let p = plan(&d, &o, None);
        assert_eq!(p.actions, vec![Action::Reconfigure { args: vec![ours] }]);
        o.deployment_metadata
            .as_mut()
            .unwrap()
            .insert("script_version".into(), env!("CARGO_PKG_VERSION").into());
        assert!(plan(&d, &o, None).is_converged());
    }

    #[test]
    fn only_metadata_changes_need_no_restart() {
        let meta = "--set-deployment-metadata=script_version=2".to_string();
        assert!(!needs_restart(std::slice::from_ref(&meta)));
        assert!(needs_restart(&[meta, "--set-host-group=web".into()]));
    }

    #[test]
    fn without_a_configured_tenant_the_hosts_tenant_stays() {
        let mut d = desired();
        d.tenant = None;
        let mut o = installed(V2);
        o.tenant = Some("whatever-the-installer-said".into());
        assert!(plan(&d, &o, None).is_converged());
        d.settings.host_group = Some("web".into());
        assert_eq!(
            plan(&d, &o, None).actions,
            vec![Action::Reconfigure {
                args: vec!["--set-host-group=web".into()]
            }]
        );
    }

    /// What the result line, `--json` and status.json say for each action: the words a user
    /// (or a log search) relies on, with a proxy password masked.
    #[test]
    fn actions_describe_themselves() {
        let args = vec![
            "--set-host-group=web".to_string(),
            "--set-host-tag=a".into(),
        ];
        for (action, want) in [
            (
                Action::Install {
                    version: VersionSpec::Latest,
                    args: vec![],
                },
                "install OneAgent latest",
            ),
            (
                Action::Install {
                    version: VersionSpec::Exact(V2.into()),
                    args: args.clone(),
                },
                "install OneAgent 1.301.55.20260114-153010 with --set-host-group=web \
                 --set-host-tag=a",
            ),
            (
                Action::Upgrade {
                    from: V1.into(),
                    to: VersionSpec::Exact(V2.into()),
                },
                "upgrade OneAgent 1.299.40.20250908-101500 -> 1.301.55.20260114-153010",
            ),
            (
                Action::Upgrade {
                    from: V3.into(),
                    to: VersionSpec::Exact(V2.into()),
                },
                "downgrade OneAgent 1.303.12.20260310-090000 -> 1.301.55.20260114-153010",
            ),
            (
                Action::Upgrade {
                    from: V2.into(),
                    to: VersionSpec::Exact(V2.into()),
                },
                "upgrade OneAgent 1.301.55.20260114-153010 -> 1.301.55.20260114-153010",
            ),
            (
                Action::Repoint {
                    tenant: "abc-p1".into(),
                    args: vec![],
                },
                "re-point OneAgent to tenant abc-p1",
            ),
            (
                Action::Repoint {
                    tenant: "abc-p1".into(),
                    args: args.clone(),
                },
                "re-point OneAgent to tenant abc-p1 and set --set-host-group=web --set-host-tag=a",
            ),
            (
                Action::Reconfigure { args },
                "reconfigure OneAgent: --set-host-group=web --set-host-tag=a",
            ),
            (Action::Uninstall, "uninstall OneAgent"),
            (
                Action::Reconfigure {
                    args: vec!["--set-proxy=http://u:hunter2@proxy:3128".into()],
                },
                "reconfigure OneAgent: --set-proxy=http://u:***@proxy:3128",
            ),
        ] {
            assert_eq!(action.to_string(), want);
        }
    }

    #[test]
    fn a_plan_waiting_for_remote_facts_is_not_converged() {
        let mut p = Plan::default();
        assert!(p.is_converged());
        p.needs_remote = true;
        assert!(!p.is_converged());
        p.needs_remote = false;
        p.actions.push(Action::Uninstall);
        assert!(!p.is_converged());
    }

    /// oneagentctl reports the endpoint list in braces, spaced and in its own order: only a
    /// different set of endpoints is drift.
    #[test]
    fn server_lists_compare_as_sets() {
        let want = "https://a/communication;https://b";
        let s = Settings {
            server: Some(want.into()),
            ..Default::default()
        };
        let mut o = installed(V2);
        for (have, drift) in [
            (None, true),
            (Some("{https://a/communication}"), true),
            (Some("{https://b;https://c;https://a/communication}"), true),
            (Some("{ https://b ; https://a/communication ;}"), false),
            (Some(want), false),
        ] {
            o.server = have.map(String::from);
            let args = settings_diff(&s, &o);
            let expected = if drift {
                vec![format!("--set-server={want}")]
            } else {
                vec![]
            };
            assert_eq!(args, expected, "{have:?}");
        }
    }
}

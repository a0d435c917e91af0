//! Observing the local OneAgent through oneagentctl (no network).
//!
//! oneagentctl answers one `--get-*` per call, so each setting costs a process spawn: only the
//! settings the configuration manages are read, and the spawns are counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Result;

use crate::install::{oneagentctl, oneagentctl_path};
use crate::settings::Settings;

/// What the host looks like. `None` means "not read" (or, for version, not reported).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub installed: bool,
    pub version: Option<String>,
    pub tenant: Option<String>,
    pub server: Option<String>,
    pub host_group: Option<String>,
    pub network_zone: Option<String>,
    pub monitoring_mode: Option<String>,
    pub proxy: Option<String>,
    pub host_tags: Option<BTreeSet<String>>,
    pub host_properties: Option<BTreeMap<String, String>>,
    pub deployment_metadata: Option<BTreeMap<String, String>>,
    /// oneagentctl processes started to observe this.
    pub spawns: u32,
}

/// Which settings to read (besides version and tenant, which are always read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wanted {
    pub server: bool,
    pub host_group: bool,
    pub network_zone: bool,
    pub monitoring_mode: bool,
    pub proxy: bool,
    pub host_tags: bool,
    pub host_properties: bool,
    pub deployment_metadata: bool,
}

impl Wanted {
    /// The settings the configuration manages.
    pub fn managed(s: &Settings) -> Wanted {
        Wanted {
            server: s.server.is_some(),
            host_group: s.host_group.is_some(),
            network_zone: s.network_zone.is_some(),
            monitoring_mode: s.monitoring_mode.is_some(),
            proxy: s.proxy.is_some(),
            host_tags: !s.host_tags.is_empty(),
            host_properties: !s.host_properties.is_empty(),
            deployment_metadata: !s.deployment_metadata.is_empty(),
        }
    }

    #[cfg(test)]
    pub fn all() -> Wanted {
        Wanted {
            server: true,
            host_group: true,
            network_zone: true,
            monitoring_mode: true,
            proxy: true,
            host_tags: true,
            host_properties: true,
            deployment_metadata: true,
        }
    }
}

/// Whether OneAgent's oneagentctl is there (without running it).
pub fn oneagentctl_present(install_path: &Path) -> bool {
    oneagentctl_path(install_path).exists()
}

/// The installed OneAgent under `install_path`, if any. `secrets` are redacted from errors.
pub fn observe(install_path: &Path, wanted: Wanted, secrets: &[&str]) -> Result<Observed> {
    let mut o = Observed::default();
    if !oneagentctl_present(install_path) {
        return Ok(o);
    }
    o.installed = true;
    let mut get = |flag: &str| -> Result<String> {
        o.spawns += 1;
        oneagentctl(install_path, &[flag.to_string()], secrets)
    };
    let version = parse_version(&get("--version")?);
    let tenant = Some(first_line(&get("--get-tenant")?));
    let read = |on: bool, flag: &str, get: &mut dyn FnMut(&str) -> Result<String>| {
        if on {
            get(flag).map(|s| Some(first_line(&s)))
        } else {
            Ok(None)
        }
    };
    let server = read(wanted.server, "--get-server", &mut get)?;
    let host_group = read(wanted.host_group, "--get-host-group", &mut get)?;
    let network_zone = read(wanted.network_zone, "--get-network-zone", &mut get)?;
    let monitoring_mode = read(wanted.monitoring_mode, "--get-monitoring-mode", &mut get)?;
    let proxy = read(wanted.proxy, "--get-proxy", &mut get)?;
    let host_tags = if wanted.host_tags {
        Some(parse_lines(&get("--get-host-tags")?))
    } else {
        None
    };
    let host_properties = if wanted.host_properties {
        Some(parse_properties(&get("--get-host-properties")?))
    } else {
        None
    };
    let deployment_metadata = if wanted.deployment_metadata {
        Some(parse_properties(&get("--get-deployment-metadata")?))
    } else {
        None
    };
    o.version = version;
    o.tenant = tenant;
    o.server = server;
    o.host_group = host_group;
    o.network_zone = network_zone;
    o.monitoring_mode = monitoring_mode;
    o.proxy = proxy;
    o.host_tags = host_tags;
    o.host_properties = host_properties;
    o.deployment_metadata = deployment_metadata;
    Ok(o)
}

fn first_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
        .to_string()
}

/// `1.301.55.20260114-153010`, or the first version-looking word of a chattier line.
pub fn parse_version(s: &str) -> Option<String> {
    let line = first_line(s);
    line.split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()) && w.contains('.'))
        .map(str::to_string)
}

/// One item per line (also accepts the braces some versions print around lists).
pub fn parse_lines(s: &str) -> BTreeSet<String> {
    s.lines()
        .map(|l| {
            l.trim()
                .trim_start_matches('{')
                .trim_end_matches('}')
                .trim()
        })
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// `key=value` per line; a line without `=` is a key with an empty value.
pub fn parse_properties(s: &str) -> BTreeMap<String, String> {
    parse_lines(s)
        .into_iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
            None => (l, String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn lenient_parsers() {
        assert_eq!(
            parse_version("1.301.55.20260114-153010\n").as_deref(),
            Some("1.301.55.20260114-153010")
        );
        assert_eq!(
            parse_version("OneAgent version 1.2.3 (build x)").as_deref(),
            Some("1.2.3")
        );
        assert_eq!(parse_version("\n"), None);
        let tags = parse_lines("a\n\n  b=c \n{d}\n");
        assert_eq!(tags.into_iter().collect::<Vec<_>>(), vec!["a", "b=c", "d"]);
        let props = parse_properties("k=v\nx\n y = z=1 \n");
        assert_eq!(props.get("k").map(String::as_str), Some("v"));
        assert_eq!(props.get("x").map(String::as_str), Some(""));
        assert_eq!(props.get("y").map(String::as_str), Some("z=1"));
    }

    /// A fake oneagentctl that answers from a case statement and logs each call.
    fn fake_agent(dir: &Path) -> std::path::PathBuf {
        let tools = dir.join("agent/tools");
        std::fs::create_dir_all(&tools).unwrap();
        let ctl = tools.join("oneagentctl");
        std::fs::write(
            &ctl,
            format!(
                "#!/bin/sh\necho \"$1\" >> {}/calls\ncase \"$1\" in\n\
                 --version) echo 1.301.55.20260114-153010;;\n\
                 --get-tenant) echo abc-p1;;\n\
                 --get-host-group) echo;;\n\
                 --get-host-tags) printf 'a\\nb\\n';;\n\
                 *) echo unknown >&2; exit 1;;\nesac\n",
                dir.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&ctl, std::fs::Permissions::from_mode(0o755)).unwrap();
        ctl
    }

    #[test]
    fn observes_only_what_is_managed() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            observe(dir.path(), Wanted::all(), &[]).unwrap(),
            Observed::default()
        );
        fake_agent(dir.path());
        let wanted = Wanted {
            host_group: true,
            host_tags: true,
            ..Default::default()
        };
        let o = observe(dir.path(), wanted, &[]).unwrap();
        assert!(o.installed);
        assert_eq!(o.version.as_deref(), Some("1.301.55.20260114-153010"));
        assert_eq!(o.tenant.as_deref(), Some("abc-p1"));
        assert_eq!(o.host_group.as_deref(), Some(""));
        assert_eq!(o.host_tags.as_ref().map(|t| t.len()), Some(2));
        assert_eq!(o.network_zone, None);
        assert_eq!(o.spawns, 4);
        let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
        assert_eq!(calls.lines().count(), 4);

        // A get the agent refuses is an installer-class error, not a guess.
        let err = observe(
            dir.path(),
            Wanted {
                proxy: true,
                ..Default::default()
            },
            &[],
        )
        .unwrap_err();
        assert_eq!(crate::error::kind_of(&err), crate::error::Kind::Installer);
    }
}

//! What the run tells the world: `<state-dir>/status.json` (shaped after the Azure site
//! extension's status API), the `--json` result object, and the human lines.
//!
//! Human output: progress lines on stderr (`-q` hides them, `-v` adds detail), one final result
//! line on stdout. With `--json`, stdout holds exactly one JSON object.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::SystemTime;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{Kind, ResultExt};
use crate::facts;
use crate::host::{self, Wanted};
use crate::tenant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    NotInstalled,
    Downloading,
    Installing,
    Installed,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub state: State,
    pub message: String,
    pub version: Option<String>,
    pub tenant: Option<String>,
    pub is_agent_installed: bool,
    /// `None` when unknown (no target version was fetched).
    pub is_upgrade_available: Option<bool>,
    pub installer_sha256: Option<String>,
    /// Which root verified the last installed installer, or why none did (`skipped ...`).
    #[serde(default)]
    pub installer_root: Option<String>,
    pub updated_at: String,
}

impl Status {
    pub fn new(state: State, message: impl Into<String>) -> Status {
        Status {
            state,
            message: message.into(),
            version: None,
            tenant: None,
            is_agent_installed: false,
            is_upgrade_available: None,
            installer_sha256: None,
            installer_root: None,
            updated_at: now_rfc3339(),
        }
    }
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

pub fn status_path(state_dir: &Path) -> std::path::PathBuf {
    state_dir.join("status.json")
}

/// The last written status, if any (a corrupt file counts as none: it is ours to rewrite).
pub fn read_status(state_dir: &Path) -> Option<Status> {
    let text = std::fs::read_to_string(status_path(state_dir)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Writes status.json atomically (temp file + rename) so readers never see half a file.
pub fn write_status(state_dir: &Path, status: &Status) -> Result<()> {
    let path = status_path(state_dir);
    let tmp = state_dir.join(".status.json.tmp");
    let what = || format!("could not write {}", path.display());
    let body = serde_json::to_vec_pretty(status).kind(Kind::Internal, what)?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)
        .kind(Kind::Config, what)?;
    f.write_all(&body).kind(Kind::Config, what)?;
    f.write_all(b"\n").kind(Kind::Config, what)?;
    drop(f);
    std::fs::rename(&tmp, &path).kind(Kind::Config, what)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionReport {
    pub kind: String,
    pub description: String,
}

/// The `--json` result object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub changed: bool,
    pub exit_code: u8,
    pub tenant: Option<String>,
    pub actions: Vec<ActionReport>,
    pub version: Option<String>,
    pub sha256: Option<String>,
    /// Which root verified the installer this run downloaded (null when none was downloaded).
    pub installer_root: Option<String>,
    pub requests: u32,
    pub duration_ms: u64,
    pub error: Option<String>,
}

impl RunReport {
    /// The one human result line.
    pub fn line(&self, check: bool) -> String {
        let tenant = self.tenant.as_deref().unwrap_or("-");
        let version = self.version.as_deref().unwrap_or("-");
        let stats = format!("{} requests, {} ms", self.requests, self.duration_ms);
        if self.error.is_some() {
            // The error itself is on stderr already (once).
            return format!("failed: exit {} ({stats})", self.exit_code);
        }
        let actions: Vec<&str> = self
            .actions
            .iter()
            .map(|a| a.description.as_str())
            .collect();
        match (self.changed, check) {
            (false, _) => {
                format!("converged: OneAgent {version}, tenant {tenant}, nothing to do ({stats})")
            }
            (true, true) => format!("would change: {} ({stats})", actions.join("; ")),
            (true, false) => format!(
                "changed: {}; now OneAgent {version}, tenant {tenant} ({stats})",
                actions.join("; ")
            ),
        }
    }
}

/// Human progress output; silent for `-q`.
#[derive(Debug, Clone, Copy)]
pub struct Reporter {
    pub quiet: bool,
    pub verbose: u8,
}

impl Reporter {
    pub fn step(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", msg.as_ref());
        }
    }

    pub fn detail(&self, msg: impl AsRef<str>) {
        if self.verbose > 0 && !self.quiet {
            eprintln!("  {}", msg.as_ref());
        }
    }

    pub fn warn(&self, msg: impl AsRef<str>) {
        eprintln!("warning: {}", msg.as_ref());
    }
}

/// `status [--json]`: the last run's status.json, corrected by a look at the host now.
pub fn status_command(cfg: &Config) -> Result<()> {
    let secrets: Vec<&str> = [&cfg.cluster_token, &cfg.api_token]
        .into_iter()
        .flatten()
        .map(|s| s.expose())
        .collect();
    let live = host::observe(&cfg.install_path, Wanted::default(), &secrets)?;
    let mut s = read_status(&cfg.state_dir).unwrap_or_else(|| {
        let mut s = Status::new(
            if live.installed {
                State::Installed
            } else {
                State::NotInstalled
            },
            format!("no run recorded in {}", cfg.state_dir.display()),
        );
        s.tenant = live.tenant.clone();
        s
    });
    if s.state == State::Installed && !live.installed {
        s.state = State::NotInstalled;
        s.message = "OneAgent was removed since the last run".into();
    }
    s.is_agent_installed = live.installed;
    s.version = live
        .version
        .clone()
        .or(if live.installed { s.version } else { None });
    if cfg.json {
        println!(
            "{}",
            serde_json::to_string(&s).kind(Kind::Internal, || "encoding status".into())?
        );
        return Ok(());
    }
    let upgrade = match s.is_upgrade_available {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    };
    println!("state:             {:?}", s.state);
    println!("message:           {}", s.message);
    println!("version:           {}", s.version.as_deref().unwrap_or("-"));
    println!("tenant:            {}", s.tenant.as_deref().unwrap_or("-"));
    println!("agent installed:   {}", s.is_agent_installed);
    println!("upgrade available: {upgrade}");
    println!(
        "installer sha256:  {}",
        s.installer_sha256.as_deref().unwrap_or("-")
    );
    println!(
        "installer root:    {}",
        s.installer_root.as_deref().unwrap_or("-")
    );
    println!("updated at:        {}", s.updated_at);
    Ok(())
}

/// `facts [--json]`: every fact with its source, and the tenant they derive (or why not).
pub fn facts_command(cfg: &Config) -> Result<()> {
    let facts = facts::configured(
        cfg.facts_file.as_deref(),
        &cfg.facts,
        cfg.hostname_pattern.as_ref(),
    )?;
    let tenant = tenant::resolve(&cfg.tenant, &facts);
    if cfg.json {
        let map: serde_json::Map<String, serde_json::Value> = facts
            .iter()
            .map(|(k, f)| {
                (
                    k.clone(),
                    serde_json::json!({"value": f.value, "source": f.source.to_string()}),
                )
            })
            .collect();
        let (t, err) = match &tenant {
            Ok(Some(t)) => (
                serde_json::json!({"id": t.id, "name": t.name, "tags": t.tags, "derivation": t.derivation}),
                None,
            ),
            Ok(None) => (serde_json::Value::Null, None),
            Err(e) => (serde_json::Value::Null, Some(crate::error::one_line(e))),
        };
        let v = serde_json::json!({"facts": map, "tenant": t, "error": err});
        println!("{v}");
    } else {
        let width = facts.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, f) in facts.iter() {
            println!("{k:width$} = {:?}  ({})", f.value, f.source);
        }
        match &tenant {
            Ok(Some(t)) => {
                println!("tenant: {} (from {})", t.id, t.derivation);
                println!("tenant name: {}", t.name);
                if !t.tags.is_empty() {
                    println!("tenant tags: {}", t.tags.join(", "));
                }
            }
            Ok(None) => println!("tenant: none (set --tenant or --tenant-template)"),
            Err(_) => {}
        }
    }
    tenant.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_with_the_documented_names() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Status::new(State::Installed, "OneAgent installed");
        s.version = Some("1.301.55.20260114-153010".into());
        s.is_agent_installed = true;
        write_status(dir.path(), &s).unwrap();
        let text = std::fs::read_to_string(status_path(dir.path())).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        for key in [
            "state",
            "message",
            "version",
            "tenant",
            "isAgentInstalled",
            "isUpgradeAvailable",
            "installerSha256",
            "installerRoot",
            "updatedAt",
        ] {
            assert!(v.get(key).is_some(), "{key} in {text}");
        }
        assert_eq!(v["state"], "Installed");
        assert!(v["isUpgradeAvailable"].is_null());
        assert_eq!(read_status(dir.path()), Some(s));
    }

    #[test]
    fn result_json_and_line() {
        let r = RunReport {
            changed: true,
            exit_code: 2,
            tenant: Some("abc-p1".into()),
            actions: vec![ActionReport {
                kind: "install".into(),
                description: "install OneAgent latest".into(),
            }],
            version: Some("1.3".into()),
            sha256: None,
            installer_root: None,
            requests: 5,
            duration_ms: 12,
            error: None,
        };
        let v = serde_json::to_value(&r).unwrap();
        for key in [
            "changed",
            "exitCode",
            "tenant",
            "actions",
            "version",
            "sha256",
            "installerRoot",
            "requests",
            "durationMs",
            "error",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert_eq!(
            r.line(false),
            "changed: install OneAgent latest; now OneAgent 1.3, tenant abc-p1 (5 requests, 12 ms)"
        );
        assert!(r.line(true).starts_with("would change: install"));
    }
}

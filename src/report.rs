//! What the run tells the world: `<state-dir>/status.json` (shaped after the Azure site
//! extension's status API), the `--json` result object, and the human lines.
//!
//! Human output: progress lines on stderr (`-q` hides them, `-v` adds detail), one final result
//! line on stdout. With `--json`, stdout holds exactly one JSON object.

mod timing;

use std::path::Path;
use std::time::SystemTime;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::error::{Kind, ResultExt};
use crate::fsafe;
use crate::secret::redact_userinfo;
pub use timing::{rate, took};

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

/// What `<state-dir>/status.json` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// No file: no run recorded.
    None,
    /// A file that is not a status we wrote (cut, edited, a link): the next apply replaces it.
    Corrupt(String),
    Status(Status),
}

/// The last written status. Never follows a link; a bad file is `Corrupt`, not an error.
pub fn read_status(state_dir: &Path) -> Recorded {
    let path = status_path(state_dir);
    let mut text = String::new();
    let read = fsafe::open_read(&path).and_then(|f| match f {
        Some(mut f) => std::io::Read::read_to_string(&mut f, &mut text).map(|_| true),
        None => Ok(false),
    });
    match read {
        Ok(false) => Recorded::None,
        Err(e) => Recorded::Corrupt(format!("{} cannot be read ({e})", path.display())),
        Ok(true) => match serde_json::from_str(&text) {
            Ok(s) => Recorded::Status(s),
            Err(e) => Recorded::Corrupt(format!("{} is corrupt ({e})", path.display())),
        },
    }
}

/// Writes status.json atomically (new temp file, never a link, + rename) so readers never see
/// half a file.
pub fn write_status(state_dir: &Path, status: &Status) -> Result<()> {
    let path = status_path(state_dir);
    let what = || format!("could not write {}", path.display());
    let mut body = serde_json::to_vec_pretty(status).kind(Kind::Internal, what)?;
    body.push(b'\n');
    fsafe::write_atomic(state_dir, "status.json", &body, 0o644).kind(Kind::Config, what)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionReport {
    pub kind: String,
    pub description: String,
}

/// The `--json` result object. It repeats most of apply::Outcome on purpose: Outcome is filled
/// while the run goes and holds the live error (whose chain decides the exit code); this is the
/// documented, serialised contract, with the exit code, duration and error line added once the
/// run is over (commands.rs builds it, also for a configuration error, when no Outcome exists).
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

/// Every line passes the URL-password mask (a `--proxy` password in an oneagentctl command).
impl Reporter {
    pub fn step(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", redact_userinfo(msg.as_ref()));
        }
    }

    pub fn detail(&self, msg: impl AsRef<str>) {
        if self.verbose > 0 && !self.quiet {
            eprintln!("  {}", redact_userinfo(msg.as_ref()));
        }
    }

    pub fn warn(&self, msg: impl AsRef<str>) {
        eprintln!("warning: {}", redact_userinfo(msg.as_ref()));
    }
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
        assert_eq!(read_status(dir.path()), Recorded::Status(s));
        std::fs::write(status_path(dir.path()), "{\"state\": ").unwrap();
        assert!(matches!(read_status(dir.path()), Recorded::Corrupt(m) if m.contains("corrupt")));
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

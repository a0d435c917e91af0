//! `--log-file`: one JSON line appended per run (the `--json` result plus host, time, command)
//! for fleet audits. Written as root into a path an operator chose, so it is opened like every
//! other file we create: never through a link, never in a directory others can write to, 0600.
//! Bounded: past [`MAX_BYTES`] the file moves to `FILE.1` (one generation) first.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::{Map, Value};

use crate::error::{failure, Kind, ResultExt};
use crate::fsafe;
use crate::report::{Reporter, RunReport};
use crate::secret::redact;

/// A line is ~1 KiB: 10 MiB keep about ten thousand runs, two generations twice that.
pub const MAX_BYTES: u64 = 10 << 20;

/// What one run adds to the result object.
pub struct Run<'a> {
    pub command: &'a str,
    pub exit_code: u8,
    pub duration_ms: u64,
    pub error: Option<String>,
}

impl<'a> Run<'a> {
    /// The run fields of an apply-shaped result (`apply`, `check`, a failed configuration).
    pub fn of(command: &'a str, r: &RunReport) -> Self {
        Run {
            command,
            exit_code: r.exit_code,
            duration_ms: r.duration_ms,
            error: r.error.clone(),
        }
    }
}

/// [`append`] for `--log-file`; a failure is a warning: the run's exit code stands.
pub fn record(path: &Path, result: Value, run: &Run, secrets: &[&str], out: Reporter) {
    if let Err(e) = append(path, result, run, secrets) {
        out.warn(crate::error::one_line(&e));
    }
}

/// Appends `result` (the `--json` object, or an empty one for commands without) with the run's
/// fields. Every string passes the redaction with `secrets`, the run's tokens.
pub fn append(path: &Path, result: Value, run: &Run, secrets: &[&str]) -> Result<()> {
    let mut line = match result {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    line.insert("host".into(), host().into());
    line.insert("time".into(), crate::report::now_rfc3339().into());
    line.insert("command".into(), run.command.into());
    line.insert("exitCode".into(), run.exit_code.into());
    line.insert("durationMs".into(), run.duration_ms.into());
    if let Some(e) = &run.error {
        line.insert("error".into(), e.as_str().into());
    }
    let mut text = redacted(Value::Object(line), secrets).to_string();
    text.push('\n');
    write_line(path, text.as_bytes())
}

fn host() -> String {
    hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Each string (and key) of `v` through the one redaction.
fn redacted(v: Value, secrets: &[&str]) -> Value {
    match v {
        Value::String(s) => Value::String(redact(&s, secrets)),
        Value::Array(a) => a.into_iter().map(|v| redacted(v, secrets)).collect(),
        Value::Object(m) => m
            .into_iter()
            .map(|(k, v)| (redact(&k, secrets), redacted(v, secrets)))
            .collect(),
        other => other,
    }
}

fn write_line(path: &Path, line: &[u8]) -> Result<()> {
    let shown = path.display();
    let doing = || format!("writing the log file {shown}");
    let name = path.file_name().ok_or_else(|| {
        failure(
            Kind::Config,
            format!("{}: not a file name; give --log-file FILE", doing()),
        )
    })?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = fsafe::trusted_dir(parent, "the log file's directory")?.ok_or_else(|| {
        failure(
            Kind::Config,
            format!(
                "{}: the directory {} does not exist; create it (owned by root, not writable \
                 by others)",
                doing(),
                parent.display()
            ),
        )
    })?;
    // From here on the checked, canonical directory: a link on the way was resolved once.
    let path = dir.join(name);
    rotate(&path).kind(Kind::Config, || {
        format!("{}: could not rotate it to .1", doing())
    })?;
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(&path)
        .map_err(|e| {
            let why = if e.raw_os_error() == Some(libc::ELOOP) {
                "it is a symbolic link, which is never followed; point --log-file at the real \
                 file"
                    .to_string()
            } else {
                e.to_string()
            };
            failure(Kind::Config, format!("{}: {why}", doing()))
        })?;
    // A FIFO or device there would block or go elsewhere (O_NONBLOCK keeps the open from hanging).
    let meta = file.metadata().kind(Kind::Config, doing)?;
    if !meta.is_file() {
        return Err(failure(
            Kind::Config,
            format!("{}: not a regular file", doing()),
        ));
    }
    // One write of the whole line: O_APPEND keeps concurrent runs' lines apart.
    file.write_all(line).kind(Kind::Config, doing)
}

/// Moves a full file to `FILE.1` (replacing the older one) before the next line is added.
fn rotate(path: &Path) -> std::io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() && m.len() >= MAX_BYTES => {
            fs::rename(path, generation(path))
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn generation(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_os_string();
    p.push(".1");
    PathBuf::from(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> Run<'static> {
        Run {
            command: "apply",
            exit_code: 4,
            duration_ms: 7,
            error: Some("GET http://u:pw@h/x: 401 with dt0c01.ABC.SECRETPART".into()),
        }
    }

    #[test]
    fn appends_one_redacted_line_per_run_and_rotates_when_full() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let path = dir.path().join("audit.log");
        let result = serde_json::json!({"changed": false, "tenant": "t SECRETPART"});
        append(&path, result.clone(), &run(), &["SECRETPART"]).unwrap();
        append(&path, Value::Null, &run(), &["SECRETPART"]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(
            !text.contains("SECRETPART") && !text.contains("pw@"),
            "{text}"
        );
        let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["command"], "apply");
        assert_eq!(first["exitCode"], 4);
        assert_eq!(first["changed"], false);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        std::fs::write(&path, vec![b'x'; MAX_BYTES as usize]).unwrap();
        append(&path, result, &run(), &[]).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
        assert_eq!(
            std::fs::metadata(generation(&path)).unwrap().len(),
            MAX_BYTES
        );
    }

    #[test]
    fn refuses_a_link_and_a_missing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "").unwrap();
        let link = dir.path().join("audit.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = append(&link, Value::Null, &run(), &[]).unwrap_err();
        assert!(format!("{e:#}").contains("symbolic link"), "{e:#}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "");
        let missing = dir.path().join("no/such/audit.log");
        let e = append(&missing, Value::Null, &run(), &[]).unwrap_err();
        assert!(format!("{e:#}").contains("does not exist"), "{e:#}");
    }
}

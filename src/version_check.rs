//! `--upgrade`'s memory: the target version Dynatrace last gave for this tenant and arch, kept
//! in `<state-dir>/version-check.json`, so a converged host asks at most once per
//! `--version-check-interval` (plus a stable per-host jitter, so a fleet installed in the same
//! minute does not keep asking in the same minute) and sends no request in between.
//!
//! The file is a cache, never trusted for more than a version string: anything unreadable,
//! for another tenant or arch, or from the future (clock set back) means "ask again".

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::error::{one_line, Kind, ResultExt};
use crate::report::Reporter;

const FILE: &str = "version-check.json";
/// A real file is ~150 bytes; anything much larger is not ours.
const MAX_LEN: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checked {
    pub tenant: String,
    pub arch: String,
    pub target_version: String,
    /// Seconds since the Unix epoch.
    pub checked_at: u64,
}

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE)
}

/// What the target version is remembered for, and for how long.
pub struct Query<'a> {
    /// `None`: no state dir (a `check` on a fresh host), so nothing is remembered.
    pub state_dir: Option<&'a Path>,
    pub tenant: &'a str,
    pub arch: &'a str,
    pub interval: Duration,
    /// Stable per host (the fqdn fact): spreads a fleet's checks.
    pub seed: &'a str,
}

/// `--upgrade`'s target version: the remembered one while fresh, else `ask()`'s answer, which
/// is then remembered when `remember` (not for `check`, which writes nothing); a failure to
/// write it is a warning: the run itself is fine.
pub fn target(
    q: &Query,
    now: SystemTime,
    out: Reporter,
    remember: bool,
    ask: impl FnOnce() -> Result<String>,
) -> Result<String> {
    let valid = q.interval + jitter(q.interval, q.seed);
    let remembered = q.state_dir.and_then(|dir| {
        let c = read(dir)?;
        Some((dir, fresh(&c, q.tenant, q.arch, valid, now)?))
    });
    if let Some((dir, v)) = remembered {
        out.step(format!(
            "target version: {v} (remembered in {}; asked again after {})",
            path(dir).display(),
            humantime::format_duration(valid)
        ));
        return Ok(v);
    }
    out.step("asking Dynatrace for the target version (--upgrade)");
    let target = ask()?;
    out.step(format!("target version: {target}"));
    let Some(dir) = q.state_dir.filter(|_| remember) else {
        return Ok(target);
    };
    let checked = Checked {
        tenant: q.tenant.to_string(),
        arch: q.arch.to_string(),
        target_version: target.clone(),
        checked_at: unix_secs(now),
    };
    if let Err(e) = write(dir, &checked) {
        out.warn(one_line(&e));
    }
    Ok(target)
}

/// A stable offset in `[0, interval / 10)` from `seed` (the host name): FNV-1a, because
/// std's hasher may change between Rust releases and the offset must not.
pub fn jitter(interval: Duration, seed: &str) -> Duration {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let span = interval.as_secs() / 10;
    if span == 0 {
        return Duration::ZERO;
    }
    Duration::from_secs(h % span)
}

/// The remembered target version, if it is for `tenant`/`arch` and still fresh at `now`.
pub fn fresh(
    checked: &Checked,
    tenant: &str,
    arch: &str,
    valid_for: Duration,
    now: SystemTime,
) -> Option<String> {
    if checked.tenant != tenant || checked.arch != arch || checked.target_version.is_empty() {
        return None;
    }
    let at = UNIX_EPOCH + Duration::from_secs(checked.checked_at);
    let age = now.duration_since(at).ok()?;
    (age < valid_for).then(|| checked.target_version.clone())
}

/// The remembered check, or `None` when there is none or it cannot be read safely.
pub fn read(state_dir: &Path) -> Option<Checked> {
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path(state_dir))
        .ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    (&mut f).take(MAX_LEN).read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// Writes the check atomically: a new 0600 temp file (O_EXCL, O_NOFOLLOW: nothing planted in
/// the state dir is followed or reused), synced, then renamed over the old one.
pub fn write(state_dir: &Path, checked: &Checked) -> Result<()> {
    let target = path(state_dir);
    let tmp = state_dir.join(format!(".{FILE}.tmp"));
    let what = || format!("could not write {}", target.display());
    let body = serde_json::to_vec(checked).kind(Kind::Internal, what)?;
    // We hold the run lock: a temp file here is a killed run's leftover.
    let _ = fs::remove_file(&tmp);
    let mut f: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .kind(Kind::Config, what)?;
    let written = f
        .write_all(&body)
        .and_then(|()| f.write_all(b"\n"))
        .and_then(|()| f.sync_all());
    drop(f);
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, &target)) {
        let _ = fs::remove_file(&tmp);
        return Err(e).kind(Kind::Config, what);
    }
    Ok(())
}

pub fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn checked(at: SystemTime) -> Checked {
        Checked {
            tenant: "abc-p1".into(),
            arch: "x86".into(),
            target_version: "1.303.12.20260310-090000".into(),
            checked_at: unix_secs(at),
        }
    }

    #[test]
    fn fresh_only_for_the_same_tenant_and_arch_within_the_interval() {
        let now = SystemTime::now();
        let c = checked(now - HOUR);
        let v = Some("1.303.12.20260310-090000".to_string());
        assert_eq!(fresh(&c, "abc-p1", "x86", 6 * HOUR, now), v);
        assert_eq!(fresh(&c, "abc-p1", "x86", HOUR / 2, now), None);
        assert_eq!(fresh(&c, "abc-p2", "x86", 6 * HOUR, now), None);
        assert_eq!(fresh(&c, "abc-p1", "arm", 6 * HOUR, now), None);
        assert_eq!(fresh(&c, "abc-p1", "x86", Duration::ZERO, now), None);
        // A clock set back makes the answer look younger than zero: ask again.
        assert_eq!(fresh(&c, "abc-p1", "x86", 6 * HOUR, now - 2 * HOUR), None);
    }

    #[test]
    fn asks_once_then_remembers_until_the_interval_is_over() {
        let dir = tempfile::tempdir().unwrap();
        let q = Query {
            state_dir: Some(dir.path()),
            tenant: "abc-p1",
            arch: "x86",
            interval: 6 * HOUR,
            seed: "web01.example",
        };
        let out = Reporter {
            quiet: true,
            verbose: 0,
        };
        let asked = std::cell::Cell::new(0);
        let ask = || {
            asked.set(asked.get() + 1);
            Ok("1.303.12.20260310-090000".to_string())
        };
        let t0 = SystemTime::now();
        assert_eq!(
            target(&q, t0, out, true, ask).unwrap(),
            "1.303.12.20260310-090000"
        );
        assert_eq!(
            target(&q, t0 + HOUR, out, true, ask).unwrap(),
            "1.303.12.20260310-090000"
        );
        assert_eq!(
            target(&q, t0 + 6 * HOUR - Duration::from_secs(1), out, true, ask).unwrap(),
            "1.303.12.20260310-090000"
        );
        assert_eq!(asked.get(), 1);
        let after = t0 + 6 * HOUR + jitter(6 * HOUR, q.seed);
        target(&q, after, out, true, ask).unwrap();
        assert_eq!(asked.get(), 2);
        // A failed check remembers nothing and is the run's error.
        let later = after + 7 * HOUR;
        let e = target(&q, later, out, true, || {
            Err(crate::error::failure(Kind::Api, "down"))
        });
        assert_eq!(crate::error::kind_of(&e.unwrap_err()), Kind::Api);
        assert_eq!(read(dir.path()).unwrap().checked_at, unix_secs(after));
        // `check` asks but does not remember.
        target(&q, later, out, false, ask).unwrap();
        assert_eq!(asked.get(), 3);
        assert_eq!(read(dir.path()).unwrap().checked_at, unix_secs(after));
    }

    #[test]
    fn jitter_is_stable_bounded_and_differs_between_hosts() {
        let i = 6 * HOUR;
        assert_eq!(jitter(i, "web01"), jitter(i, "web01"));
        assert!(jitter(i, "web01") < i / 10);
        let spread: std::collections::BTreeSet<_> = (0..50)
            .map(|n| jitter(i, &format!("host{n}")).as_secs() / 60)
            .collect();
        assert!(spread.len() > 20, "{spread:?}");
        assert_eq!(jitter(Duration::from_secs(5), "x"), Duration::ZERO);
    }

    #[test]
    fn written_atomically_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let c = checked(SystemTime::now());
        write(dir.path(), &c).unwrap();
        assert_eq!(read(dir.path()), Some(c.clone()));
        let mode = fs::metadata(path(dir.path())).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A stale temp file (a killed run) does not block the next write.
        fs::write(dir.path().join(".version-check.json.tmp"), "junk").unwrap();
        write(dir.path(), &c).unwrap();
        assert!(!dir.path().join(".version-check.json.tmp").exists());
        fs::write(path(dir.path()), "{not json").unwrap();
        assert_eq!(read(dir.path()), None);
    }

    #[test]
    fn symlinks_are_neither_read_nor_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        fs::write(
            &elsewhere,
            serde_json::to_vec(&checked(SystemTime::now())).unwrap(),
        )
        .unwrap();
        std::os::unix::fs::symlink(&elsewhere, path(dir.path())).unwrap();
        assert_eq!(read(dir.path()), None);

        let victim = dir.path().join("victim");
        fs::write(&victim, "keep").unwrap();
        fs::remove_file(path(dir.path())).unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join(".version-check.json.tmp")).unwrap();
        write(dir.path(), &checked(SystemTime::now())).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
        assert!(!fs::symlink_metadata(path(dir.path()))
            .unwrap()
            .file_type()
            .is_symlink());
    }
}

//! One run at a time per state directory: an exclusive flock on `<state-dir>/lock`.
//!
//! flock (not a pid file) because the kernel releases it when the holder dies, however it dies,
//! so a crashed run never leaves a stale lock behind. The installer and uninstall.sh inherit
//! the locked descriptor (install.rs), so even after a `kill -9` of this process the lock stays
//! held until they end too: a second run never starts a second installer beside the first.

use std::fs::File;
use std::os::unix::io::{AsRawFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::error::{failure, Kind, ResultExt};
use crate::fsafe;

/// Held while alive; dropping it (closing the file) releases the lock.
#[derive(Debug)]
pub struct Lock {
    _file: File,
    /// How long we waited for it.
    pub waited: Duration,
}

impl Lock {
    /// The locked descriptor, for children that must keep the lock while they live.
    pub fn raw_fd(&self) -> RawFd {
        self._file.as_raw_fd()
    }
}

fn try_lock(file: &File) -> std::io::Result<bool> {
    // SAFETY: flock on a descriptor we own; no memory is passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    // No EINTR arm: with LOCK_NB flock never waits, so no signal can interrupt it (flock(2)).
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EWOULDBLOCK) => Ok(false),
        _ => Err(err),
    }
}

/// Takes the lock, waiting up to `timeout`; `on_wait` is called once if we have to wait.
/// Kind::Locked when it stays held. The file is created (0600) if missing, never through a link.
pub fn acquire(path: &Path, timeout: Duration, on_wait: impl FnOnce()) -> Result<Lock> {
    let file = fsafe::open_lock(path, true)?
        .ok_or_else(|| failure(Kind::Internal, "the lock file was not created"))?;
    wait_for(file, path, timeout, on_wait)
}

/// Like [`acquire`], for runs that change nothing (`check`): without a lock file there is no
/// run to wait for, and none is created.
pub fn acquire_existing(
    path: &Path,
    timeout: Duration,
    on_wait: impl FnOnce(),
) -> Result<Option<Lock>> {
    match fsafe::open_lock(path, false)? {
        Some(file) => wait_for(file, path, timeout, on_wait).map(Some),
        None => Ok(None),
    }
}

fn wait_for(file: File, path: &Path, timeout: Duration, on_wait: impl FnOnce()) -> Result<Lock> {
    let started = Instant::now();
    let mut on_wait = Some(on_wait);
    let mut pause = Duration::from_millis(10);
    loop {
        if try_lock(&file).kind(Kind::Internal, || format!("flock on {}", path.display()))? {
            // Zero when it was free at once (on_wait never ran).
            let waited = if on_wait.is_some() {
                Duration::ZERO
            } else {
                started.elapsed()
            };
            return Ok(Lock {
                _file: file,
                waited,
            });
        }
        if let Some(f) = on_wait.take() {
            f();
        }
        // A SIGINT/SIGTERM ends the wait (exit 7: the other run still holds the lock).
        crate::signals::check(Kind::Locked, || {
            format!("while waiting for the lock {}", path.display())
        })?;
        let waited = started.elapsed();
        if waited >= timeout {
            return Err(failure(
                Kind::Locked,
                format!(
                    "another oneagent-bootstrap run, or an installer it started (it keeps the \
                     lock while it runs), holds {} (waited {}); try again later or raise \
                     --lock-timeout",
                    path.display(),
                    humantime::format_duration(Duration::from_millis(waited.as_millis() as u64))
                ),
            ));
        }
        std::thread::sleep(pause.min(timeout - waited));
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::kind_of;

    #[test]
    fn second_holder_times_out_then_gets_it_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let first = acquire(&path, Duration::ZERO, || {}).unwrap();
        assert_eq!(first.waited, Duration::ZERO);

        let mut waited = false;
        let started = Instant::now();
        let err = acquire(&path, Duration::from_millis(200), || waited = true).unwrap_err();
        assert_eq!(kind_of(&err), Kind::Locked);
        assert!(waited);
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(started.elapsed() < Duration::from_secs(2));

        // Released by a holder that goes away while we wait.
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(first);
        });
        let second = acquire(&path, Duration::from_secs(5), || {}).unwrap();
        assert!(second.waited >= Duration::from_millis(50));
        releaser.join().unwrap();
    }

    #[test]
    fn check_never_creates_the_lock_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        assert!(acquire_existing(&path, Duration::ZERO, || {})
            .unwrap()
            .is_none());
        assert!(!path.exists());
        let held = acquire(&path, Duration::ZERO, || {}).unwrap();
        let err = acquire_existing(&path, Duration::ZERO, || {}).unwrap_err();
        assert_eq!(kind_of(&err), Kind::Locked);
        drop(held);
        assert!(acquire_existing(&path, Duration::ZERO, || {})
            .unwrap()
            .is_some());
    }

    #[test]
    fn unopenable_lock_file_is_a_configuration_error() {
        let err = acquire(Path::new("/nonexistent/dir/lock"), Duration::ZERO, || {}).unwrap_err();
        assert_eq!(kind_of(&err), Kind::Config);
    }
}

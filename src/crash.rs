//! A panic (a bug of ours) must end like any other failure: exit 1 with one line, cleanup done
//! (the unwinding drops revoke the token, install.rs stops a running child's process group,
//! apply writes `Failed`), and the `--json` object printed. The hook records where it
//! happened instead of printing Rust's multi-line report; [`catch`] turns the panic into an
//! ordinary `Kind::Internal` error.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use anyhow::Result;

use crate::error::{failure, Kind};

/// The last panic's message and location, recorded by the hook.
static LAST: Mutex<Option<String>> = Mutex::new(None);

/// Replaces the default panic report (several lines, a backtrace hint) by a record that
/// [`catch`] turns into the run's one error line.
pub fn install_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let line = format!("{}{at}", message.replace('\n', " "));
        // A helper thread's panic surfaces as an error of the thread that joins it; say where
        // it came from (one line) since that error cannot.
        if std::thread::current().name() != Some("main") {
            eprintln!("warning: internal error in a helper thread: {line}");
        }
        if let Ok(mut last) = LAST.lock() {
            *last = Some(line);
        }
    }));
}

/// Runs `f`; a panic becomes a Kind::Internal error (exit 1) naming it, on one line.
pub fn catch<T>(doing: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let recorded = LAST.lock().ok().and_then(|mut l| l.take());
            let what = recorded.unwrap_or_else(|| {
                payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into())
            });
            Err(failure(
                Kind::Internal,
                format!(
                    "internal error while {doing}: {} (a bug in oneagent-bootstrap; please \
                     report it)",
                    what.replace('\n', " ")
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{kind_of, one_line};

    #[test]
    fn a_panic_becomes_one_internal_error_line() {
        // Without the hook (global: it would hide other tests' failures), the payload is used.
        let err = catch("testing", || -> Result<()> { panic!("boom\nsecond line") }).unwrap_err();
        assert_eq!(kind_of(&err), Kind::Internal);
        assert_eq!(kind_of(&err).exit_code(), 1);
        let line = one_line(&err);
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.contains("while testing: boom second line (a bug"),
            "{line}"
        );
        assert_eq!(catch("testing", || Ok(5)).unwrap(), 5);
    }
}

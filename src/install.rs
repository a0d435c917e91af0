//! Running OneAgent's programs: the installer, oneagentctl and uninstall.sh.
//!
//! Each runs in its own process group under a timeout; on timeout the whole group is killed
//! (an installer forks helpers that would otherwise outlive us); on SIGINT/SIGTERM to us it is
//! sent SIGTERM, then SIGKILL after a short grace (signals.rs). Our own token variables are
//! removed from their environment: they need none of our secrets. The installer's and
//! uninstaller's output goes to `<state-dir>/last-install.log` (0600), kept for the operator.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::error::{failure, Kind, ResultExt};
use crate::signals::{self, Signal};

/// oneagentctl only reads or writes a config file; anything slower is stuck.
const ONEAGENTCTL_TIMEOUT: Duration = Duration::from_secs(120);
/// Environment variables that hold our secrets; never handed to a child.
const SECRET_VARS: &[&str] = &["DT_CLUSTER_TOKEN", "DT_API_TOKEN"];

pub fn oneagentctl_path(install_path: &Path) -> PathBuf {
    install_path.join("agent/tools/oneagentctl")
}

pub fn uninstall_path(install_path: &Path) -> PathBuf {
    install_path.join("agent/uninstall.sh")
}

/// What a finished child printed.
#[derive(Debug)]
pub struct Captured {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

fn prepare(cmd: &mut Command) {
    cmd.process_group(0).stdin(Stdio::null());
    for v in SECRET_VARS {
        cmd.env_remove(v);
    }
}

/// How a wait for a child ended.
#[derive(Debug)]
pub enum Waited<T> {
    Finished(T),
    /// The timeout passed; the process group was killed.
    TimedOut,
    /// SIGINT/SIGTERM reached us while it ran; its process group was stopped.
    Interrupted(Signal),
}

/// After SIGTERM, how long the group's leader gets to exit before the group is killed.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Waits for `child`; on timeout kills its process group. When we are asked to stop
/// (signals.rs), sends the group SIGTERM, then SIGKILL after a short grace. A child started
/// after the signal (cleanup, such as reading the host state for status.json) is not
/// interrupted: it runs under its timeout like any other.
fn wait_or_kill(child: &mut Child, timeout: Duration) -> std::io::Result<Waited<ExitStatus>> {
    let interruptible = signals::received().is_none();
    let deadline = Instant::now() + timeout;
    // Short first pauses: oneagentctl answers in milliseconds and a converged run must be fast.
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Waited::Finished(status));
        }
        if let Some(sig) = signals::received().filter(|_| interruptible) {
            stop_group(child)?;
            return Ok(Waited::Interrupted(sig));
        }
        let now = Instant::now();
        if now >= deadline {
            kill_group(child, libc::SIGKILL);
            child.wait()?;
            return Ok(Waited::TimedOut);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// SIGTERM to the group, up to [`STOP_GRACE`] for the leader to exit, then SIGKILL to whatever
/// is left of the group (helpers that ignored SIGTERM), then reap the leader. The leader is
/// not reaped before the SIGKILL, so the group id cannot have been reused by then.
fn stop_group(child: &mut Child) -> std::io::Result<()> {
    kill_group(child, libc::SIGTERM);
    let until = Instant::now() + STOP_GRACE;
    while !exited_unreaped(child) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    kill_group(child, libc::SIGKILL);
    child.wait().map(|_| ())
}

/// Whether `child` has exited, leaving it to be reaped (waitid with WNOWAIT).
fn exited_unreaped(child: &Child) -> bool {
    let pid: libc::id_t = child.id();
    // SAFETY: waitid writes only into the zeroed siginfo we own; WNOWAIT leaves the child
    // waitable, WNOHANG makes it a poll.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let rc = libc::waitid(
            libc::P_PID,
            pid,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        // si_pid stays 0 while the child still runs; an error means there is nothing to wait for.
        rc != 0 || info.si_pid() != 0
    }
}

fn kill_group(child: &Child, sig: libc::c_int) {
    if let Ok(pgid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: killpg only sends a signal; the group id is our child's own (process_group(0)).
        unsafe {
            libc::killpg(pgid, sig);
        }
    }
}

/// Runs a command with captured output under a timeout (see [`Waited`]).
pub fn run_captured(mut cmd: Command, timeout: Duration) -> std::io::Result<Waited<Captured>> {
    prepare(&mut cmd);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let out = child.stdout.take().map(reader_thread);
    let err = child.stderr.take().map(reader_thread);
    let waited = wait_or_kill(&mut child, timeout)?;
    let join = |h: Option<std::thread::JoinHandle<Vec<u8>>>| {
        h.and_then(|h| h.join().ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    let (stdout, stderr) = (join(out), join(err));
    Ok(match waited {
        Waited::Finished(status) => Waited::Finished(Captured {
            status,
            stdout,
            stderr,
        }),
        Waited::TimedOut => Waited::TimedOut,
        Waited::Interrupted(sig) => Waited::Interrupted(sig),
    })
}

fn reader_thread(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// Replaces each secret in `text` by `<redacted>`, and masks URL passwords.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s, "<redacted>");
    }
    crate::secret::redact_userinfo(&out)
}

/// Arguments shown in logs and errors: values of token options are hidden, URL passwords
/// (`--set-proxy=http://user:pass@host`) masked.
fn shown_args(args: &[String]) -> String {
    let shown = args
        .iter()
        .map(|a| match a.split_once('=') {
            Some((k, _)) if k.to_ascii_lowercase().contains("token") => format!("{k}=<redacted>"),
            _ => a.clone(),
        })
        .collect::<Vec<_>>()
        .join(" ");
    crate::secret::redact_userinfo(&shown)
}

/// Runs `oneagentctl ARGS`; its stdout on success. Failure is Kind::Installer.
pub fn oneagentctl(install_path: &Path, args: &[String], secrets: &[&str]) -> Result<String> {
    let ctl = oneagentctl_path(install_path);
    let mut cmd = Command::new(&ctl);
    cmd.args(args);
    let shown = || format!("{} {}", ctl.display(), shown_args(args));
    let captured = run_captured(cmd, ONEAGENTCTL_TIMEOUT)
        .kind(Kind::Installer, || format!("could not run {}", shown()))?;
    let c = match captured {
        Waited::Finished(c) => c,
        Waited::TimedOut => {
            return Err(failure(
                Kind::Installer,
                format!("{} did not finish within {ONEAGENTCTL_TIMEOUT:?}", shown()),
            ))
        }
        Waited::Interrupted(sig) => {
            return Err(signals::interrupted(
                sig,
                Kind::Installer,
                &format!("while {} ran; it was stopped", shown()),
            ))
        }
    };
    if !c.status.success() {
        return Err(failure(
            Kind::Installer,
            format!(
                "{} failed ({}): {}",
                shown(),
                c.status,
                redact(c.stderr.trim(), secrets)
            ),
        ));
    }
    Ok(c.stdout)
}

/// Opens (truncates) the install log with mode 0600.
fn open_log(log: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(log)
        .kind(Kind::Installer, || {
            format!("could not open the install log {}", log.display())
        })
}

/// Runs `/bin/sh SCRIPT ARGS` with its output in `log`; Kind::Installer unless it exits 0.
pub fn run_script(
    what: &str,
    script: &Path,
    args: &[String],
    timeout: Duration,
    log: &Path,
) -> Result<()> {
    let mut file = open_log(log)?;
    let shown = format!("sh {} {}", script.display(), shown_args(args));
    writeln!(file, "# oneagent-bootstrap: {shown}").kind(Kind::Installer, || {
        format!("could not write {}", log.display())
    })?;
    let err_file = file.try_clone().kind(Kind::Installer, || {
        format!("could not write {}", log.display())
    })?;
    let mut cmd = Command::new("/bin/sh");
    cmd.arg(script).args(args);
    prepare(&mut cmd);
    cmd.stdout(Stdio::from(file)).stderr(Stdio::from(err_file));
    let mut child = cmd.spawn().kind(Kind::Installer, || {
        format!("could not start the {what}: {shown}")
    })?;
    let status = wait_or_kill(&mut child, timeout)
        .kind(Kind::Installer, || format!("waiting for the {what}"))?;
    match status {
        Waited::Interrupted(sig) => Err(signals::interrupted(
            sig,
            Kind::Installer,
            &format!(
                "while the {what} ran; its process group was killed; see {}",
                log.display()
            ),
        )),
        Waited::TimedOut => Err(failure(
            Kind::Installer,
            format!(
                "the {what} did not finish within {}; its process group was killed; output in {}",
                humantime::format_duration(timeout),
                log.display()
            ),
        )),
        Waited::Finished(s) if !s.success() => Err(failure(
            Kind::Installer,
            format!(
                "the {what} failed ({s}){}; full output in {}",
                tail(log),
                log.display()
            ),
        )),
        Waited::Finished(_) => Ok(()),
    }
}

/// The last lines of the log, for the one-line error.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("# oneagent-bootstrap:"))
        .collect();
    let last: Vec<&str> = lines.iter().rev().take(2).rev().copied().collect();
    if last.is_empty() {
        String::new()
    } else {
        format!(": {}", last.join(" | "))
    }
}

/// Runs the installer: `INSTALL_PATH=...`, the extra installer arguments, then the settings.
pub fn run_installer(
    installer: &Path,
    install_path: &Path,
    extra: &[String],
    settings: &[String],
    timeout: Duration,
    log: &Path,
) -> Result<()> {
    let mut args = vec![format!("INSTALL_PATH={}", install_path.display())];
    args.extend(extra.iter().cloned());
    args.extend(settings.iter().cloned());
    run_script("installer", installer, &args, timeout, log)
}

pub fn run_uninstall(install_path: &Path, timeout: Duration, log: &Path) -> Result<()> {
    run_script(
        "uninstaller",
        &uninstall_path(install_path),
        &[],
        timeout,
        log,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(dir: &Path, body: &str) -> PathBuf {
        let p = dir.join("s.sh");
        std::fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn success_failure_and_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("last-install.log");
        let ok = script(dir.path(), "echo \"args: $*\"; echo warn >&2; exit 0\n");
        run_script(
            "installer",
            &ok,
            &["A=1".into(), "--set-tenant-token=SECRET".into()],
            Duration::from_secs(10),
            &log,
        )
        .unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("args: A=1"), "{text}");
        assert!(text.contains("warn"));
        assert!(text.contains("--set-tenant-token=<redacted>"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&log).unwrap().permissions().mode() & 0o777,
            0o600
        );

        let bad = script(dir.path(), "echo 'disk full' >&2; exit 3\n");
        let err = run_script("installer", &bad, &[], Duration::from_secs(10), &log).unwrap_err();
        assert_eq!(crate::error::kind_of(&err), Kind::Installer);
        assert!(crate::error::one_line(&err).contains("disk full"));
    }

    #[test]
    fn timeout_kills_the_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let marker = dir.path().join("child-survived");
        // A background grandchild that would write the marker if it survived the kill.
        let hang = script(
            dir.path(),
            &format!("(sleep 1; touch {}) &\nsleep 30\n", marker.display()),
        );
        let started = Instant::now();
        let err =
            run_script("installer", &hang, &[], Duration::from_millis(300), &log).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(crate::error::one_line(&err).contains("did not finish"));
        std::thread::sleep(Duration::from_millis(1500));
        assert!(!marker.exists(), "the grandchild outlived the timeout");
    }

    #[test]
    fn captured_output_and_redaction() {
        let c = run_captured(
            {
                let mut c = Command::new("/bin/sh");
                c.args(["-c", "echo out; echo err >&2; exit 4"]);
                c
            },
            Duration::from_secs(10),
        )
        .unwrap();
        let Waited::Finished(c) = c else {
            panic!("did not finish: {c:?}");
        };
        assert_eq!(c.stdout, "out\n");
        assert_eq!(c.stderr, "err\n");
        assert_eq!(c.status.code(), Some(4));
        assert_eq!(redact("a SECRET b", &["SECRET", ""]), "a <redacted> b");
    }
}

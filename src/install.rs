//! Running OneAgent's programs: the installer, oneagentctl and uninstall.sh.
//!
//! Each runs in its own process group under a timeout; on timeout the whole group is killed
//! (an installer forks helpers that would otherwise outlive us); on SIGINT/SIGTERM to us it is
//! sent SIGTERM, then SIGKILL after a short grace (signals.rs). Our own token variables are
//! removed from their environment: they need none of our secrets. Every step's output (the
//! installer's, oneagentctl's, uninstall.sh's) goes to `<state-dir>/last-install.log` (0600),
//! created fresh by each run, so an error's "see last-install.log" shows what failed.
//!
//! Before anything is executed: oneagentctl and uninstall.sh must pass fsafe's rule (no other
//! user controls them or their directories); the installer runs from the descriptor that was
//! re-hashed against the verified digest (fsafe::HeldFile). The installer and uninstall.sh
//! inherit the run's locked descriptor: the lock is held as long as they live (lock.rs).

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::error::{failure, failure_because, Cause, Kind, ResultExt};
use crate::fsafe::{self, HeldFile};
use crate::secret::{redact, redact_args};
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
    let exit = ExitWatch::new(child);
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
        exit.wait(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Sleeps until a child exits or a pause ends, whichever is first. With a pidfd (Linux 5.3+)
/// the wait ends when the child exits rather than at the end of a pause that overshoots it by
/// up to half its length (section 10 of BENCHMARKS.md: a few ms per oneagentctl); on older
/// kernels it is the plain pause. The pauses still bound how late a signal to us is noticed.
struct ExitWatch(Option<OwnedFd>);

impl ExitWatch {
    fn new(child: &Child) -> ExitWatch {
        let Ok(pid) = libc::pid_t::try_from(child.id()) else {
            return ExitWatch(None);
        };
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1. The pid
        // cannot be reused yet: the child is ours and not reaped.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        ExitWatch(
            RawFd::try_from(fd)
                .ok()
                .filter(|fd| *fd >= 0)
                // SAFETY: the descriptor was just created and nothing else owns it.
                .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
        )
    }

    fn wait(&self, pause: Duration) {
        let Some(fd) = &self.0 else {
            std::thread::sleep(pause);
            return;
        };
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(pause.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
        // SAFETY: one pollfd we own. An EINTR or error returns early; the caller looks again.
        unsafe {
            libc::poll(&mut pfd, 1, ms);
        }
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

/// Runs `f` with a started child; should `f` panic (a bug of ours), the child's process group
/// is stopped before the panic goes on, so no installer is left running unsupervised.
fn supervised<T>(child: &mut Child, f: impl FnOnce(&mut Child) -> T) -> T {
    match catch_unwind(AssertUnwindSafe(|| f(child))) {
        Ok(v) => v,
        Err(panic) => {
            let _ = stop_group(child);
            resume_unwind(panic)
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
    let waited = supervised(&mut child, |c| wait_or_kill(c, timeout))?;
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

/// Runs `oneagentctl ARGS`; its stdout on success. Failure is Kind::Installer.
pub fn oneagentctl(install_path: &Path, args: &[String], secrets: &[&str]) -> Result<String> {
    run_oneagentctl(install_path, args, secrets, None)
}

/// Like [`oneagentctl`] for a step that changes the host: its command and output also go to
/// the install log, which its error names.
pub fn oneagentctl_step(
    install_path: &Path,
    args: &[String],
    secrets: &[&str],
    log: &mut InstallLog,
) -> Result<String> {
    run_oneagentctl(install_path, args, secrets, Some(log))
}

fn run_oneagentctl(
    install_path: &Path,
    args: &[String],
    secrets: &[&str],
    log: Option<&mut InstallLog>,
) -> Result<String> {
    let ctl = oneagentctl_path(install_path);
    fsafe::check_program(&ctl, "oneagentctl")?;
    let mut cmd = Command::new(&ctl);
    cmd.args(args);
    let shown = || format!("{} {}", ctl.display(), redact_args(args));
    let see = log
        .as_ref()
        .map(|l| format!("; see {}", l.path.display()))
        .unwrap_or_default();
    let captured = run_captured(cmd, ONEAGENTCTL_TIMEOUT)
        .kind(Kind::Installer, || format!("could not run {}", shown()))?;
    let c = match captured {
        Waited::Finished(c) => c,
        Waited::TimedOut => {
            return Err(failure_because(
                Cause::Timeout,
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
    if let Some(log) = log {
        let text = format!(
            "# oneagent-bootstrap: {} ({})\n{}{}",
            shown(),
            c.status,
            redact(&c.stdout, secrets),
            redact(&c.stderr, secrets)
        );
        log.file()?
            .write_all(text.as_bytes())
            .kind(Kind::Installer, || {
                format!("could not write {}", log.path.display())
            })?;
    }
    if !c.status.success() {
        return Err(failure_because(
            Cause::Exit,
            format!(
                "{} failed ({}): {}{see}",
                shown(),
                c.status,
                redact(c.stderr.trim(), secrets)
            ),
        ));
    }
    Ok(c.stdout)
}

/// `<state-dir>/last-install.log` for this run: created fresh (0600, never through a link) at
/// the first step that writes to it; each step appends.
#[derive(Debug)]
pub struct InstallLog {
    path: PathBuf,
    file: Option<File>,
}

impl InstallLog {
    pub fn new(path: PathBuf) -> InstallLog {
        InstallLog { path, file: None }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn file(&mut self) -> Result<&mut File> {
        if self.file.is_none() {
            let f = fsafe::create_new(&self.path, 0o600).kind(Kind::Installer, || {
                format!("could not create the install log {}", self.path.display())
            })?;
            self.file = Some(f);
        }
        self.file
            .as_mut()
            .ok_or_else(|| failure(Kind::Internal, "the install log was not kept"))
    }
}

/// What `sh` runs: the held, verified installer (read through its descriptor) or a script
/// whose path passed [`fsafe::check_program`].
pub enum Script<'a> {
    Held(&'a HeldFile),
    Checked(&'a Path),
}

/// Runs `/bin/sh SCRIPT ARGS` with its output appended to `log`; Kind::Installer unless it
/// exits 0. The descriptors in `inherit` (the lock) stay open in the child and its children.
pub fn run_script(
    what: &str,
    script: Script<'_>,
    args: &[String],
    timeout: Duration,
    log: &mut InstallLog,
    inherit: &[RawFd],
) -> Result<()> {
    let (arg, name, mut keep) = match script {
        Script::Held(h) => (
            h.fd_path(),
            format!(
                "{} (verified {})",
                h.fd_path().display(),
                h.path().display()
            ),
            vec![h.raw_fd()],
        ),
        Script::Checked(p) => (p.to_path_buf(), p.display().to_string(), Vec::new()),
    };
    keep.extend_from_slice(inherit);
    let log_path = log.path.clone();
    let shown = format!("sh {name} {}", redact_args(args));
    let file = log.file()?;
    writeln!(file, "# oneagent-bootstrap: {shown}").kind(Kind::Installer, || {
        format!("could not write {}", log_path.display())
    })?;
    let clone = || {
        file.try_clone().kind(Kind::Installer, || {
            format!("could not write {}", log_path.display())
        })
    };
    let (out_file, err_file) = (clone()?, clone()?);
    let mut cmd = Command::new("/bin/sh");
    cmd.arg(&arg).args(args);
    prepare(&mut cmd);
    // SAFETY: between fork and exec only fcntl runs, which is async-signal-safe; it clears
    // close-on-exec on descriptors this process owns and keeps open until the child is reaped.
    unsafe {
        cmd.pre_exec(move || {
            for &fd in &keep {
                if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    cmd.stdout(Stdio::from(out_file))
        .stderr(Stdio::from(err_file));
    let mut child = cmd.spawn().kind(Kind::Installer, || {
        format!("could not start the {what}: {shown}")
    })?;
    let status = supervised(&mut child, |c| wait_or_kill(c, timeout))
        .kind(Kind::Installer, || format!("waiting for the {what}"))?;
    let log = &log_path;
    match status {
        Waited::Interrupted(sig) => Err(signals::interrupted(
            sig,
            Kind::Installer,
            &format!(
                "while the {what} ran; its process group was killed; see {}",
                log.display()
            ),
        )),
        Waited::TimedOut => Err(failure_because(
            Cause::Timeout,
            format!(
                "the {what} did not finish within {}; its process group was killed; output in {}",
                humantime::format_duration(timeout),
                log.display()
            ),
        )),
        Waited::Finished(s) if !s.success() => Err(failure_because(
            Cause::Exit,
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
    let mut text = String::new();
    if let Ok(Some(mut f)) = fsafe::open_read(log) {
        let _ = f.read_to_string(&mut text);
    }
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

/// The run's settings for a script: where OneAgent goes, the timeout, the log, the lock.
pub struct StepEnv<'a> {
    pub install_path: &'a Path,
    pub timeout: Duration,
    pub log: &'a mut InstallLog,
    /// The locked descriptor, kept open in the installer or uninstaller while it lives.
    pub lock_fd: Option<RawFd>,
}

/// Runs the held installer: `INSTALL_PATH=...`, the extra installer arguments, then the
/// settings.
pub fn run_installer(
    installer: &HeldFile,
    extra: &[String],
    settings: &[String],
    env: StepEnv<'_>,
) -> Result<()> {
    let mut args = vec![format!("INSTALL_PATH={}", env.install_path.display())];
    args.extend(extra.iter().cloned());
    args.extend(settings.iter().cloned());
    let inherit: Vec<RawFd> = env.lock_fd.into_iter().collect();
    run_script(
        "installer",
        Script::Held(installer),
        &args,
        env.timeout,
        env.log,
        &inherit,
    )
}

pub fn run_uninstall(env: StepEnv<'_>) -> Result<()> {
    let script = uninstall_path(env.install_path);
    fsafe::check_program(&script, "uninstall.sh")?;
    let inherit: Vec<RawFd> = env.lock_fd.into_iter().collect();
    run_script(
        "uninstaller",
        Script::Checked(&script),
        &[],
        env.timeout,
        env.log,
        &inherit,
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
            Script::Checked(&ok),
            &["A=1".into(), "--set-tenant-token=SECRET".into()],
            Duration::from_secs(10),
            &mut InstallLog::new(log.clone()),
            &[],
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
        let err = run_script(
            "installer",
            Script::Checked(&bad),
            &[],
            Duration::from_secs(10),
            &mut InstallLog::new(log.clone()),
            &[],
        )
        .unwrap_err();
        assert_eq!(crate::error::kind_of(&err), Kind::Installer);
        assert_eq!(crate::error::cause_of(&err), Some(Cause::Exit));
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
        let err = run_script(
            "installer",
            Script::Checked(&hang),
            &[],
            Duration::from_millis(300),
            &mut InstallLog::new(log),
            &[],
        )
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(crate::error::one_line(&err).contains("did not finish"));
        assert_eq!(crate::error::cause_of(&err), Some(Cause::Timeout));
        std::thread::sleep(Duration::from_millis(1500));
        assert!(!marker.exists(), "the grandchild outlived the timeout");
    }

    #[test]
    fn the_wait_for_a_child_ends_when_it_exits_not_when_the_pause_does() {
        let mut running = Command::new("sleep").arg("30").spawn().unwrap();
        let watch = ExitWatch::new(&running);
        assert!(watch.0.is_some(), "no pidfd: Linux older than 5.3?");
        let started = Instant::now();
        watch.wait(Duration::from_millis(100));
        assert!(started.elapsed() >= Duration::from_millis(90));
        running.kill().unwrap();
        // A plain sleep (what the wait did before) would take the whole 60 s pause here.
        watch.wait(Duration::from_secs(60));
        assert!(started.elapsed() < Duration::from_secs(20));
        assert!(running.try_wait().unwrap().is_some());
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

    fn sha(bytes: &[u8]) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(bytes))
    }

    /// Item 1: a swap of the installer's path between verification and execution (rename
    /// over it, then delete it) cannot change what sh runs.
    #[test]
    fn the_verified_bytes_run_even_when_the_path_is_swapped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("installer.sh");
        let marker = dir.path().join("ran");
        let good = format!("echo verified > {}\nexit 0\n", marker.display());
        std::fs::write(&path, &good).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let held = fsafe::hold_verified(&path, &sha(good.as_bytes()), good.len() as u64).unwrap();
        let evil = dir.path().join("evil.sh");
        std::fs::write(&evil, format!("echo evil > {}\n", marker.display())).unwrap();
        std::fs::rename(&evil, &path).unwrap();
        let mut log = InstallLog::new(dir.path().join("log"));
        let env = StepEnv {
            install_path: dir.path(),
            timeout: Duration::from_secs(10),
            log: &mut log,
            lock_fd: None,
        };
        run_installer(&held, &[], &[], env).unwrap();
        assert_eq!(std::fs::read_to_string(&marker).unwrap(), "verified\n");
    }

    /// Item 7: the installer keeps the locked descriptor, so the lock outlives this process.
    #[test]
    fn the_installer_inherits_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let lock_path = dir.path().join("lock");
        let held = crate::lock::acquire(&lock_path, Duration::ZERO, || {}).unwrap();
        let fd = held.raw_fd();
        // The script checks that its descriptor is the same open lock file.
        let check = script(
            dir.path(),
            &format!(
                "[ \"$(readlink /proc/$$/fd/{fd})\" = \"{}\" ] || exit 9\n",
                lock_path.display()
            ),
        );
        let mut log = InstallLog::new(dir.path().join("log"));
        run_script(
            "installer",
            Script::Checked(&check),
            &[],
            Duration::from_secs(10),
            &mut log,
            &[fd],
        )
        .unwrap();
        let mut log = InstallLog::new(dir.path().join("log2"));
        let err = run_script(
            "installer",
            Script::Checked(&check),
            &[],
            Duration::from_secs(10),
            &mut log,
            &[],
        )
        .unwrap_err();
        assert!(crate::error::one_line(&err).contains("exit status: 9"));
    }

    /// Item 8: a panic while a child runs stops the child's process group first.
    #[test]
    fn a_panic_while_a_child_runs_stops_its_group() {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "sleep 30 & sleep 30"]);
        prepare(&mut cmd);
        let mut child = cmd.spawn().unwrap();
        let pgid = child.id() as libc::pid_t;
        let caught = catch_unwind(AssertUnwindSafe(|| {
            supervised(&mut child, |_| -> () { panic!("a bug") })
        }));
        assert!(caught.is_err());
        // Killed members may linger as zombies until init reaps them: look for live ones.
        let live = || {
            std::fs::read_dir("/proc")
                .unwrap()
                .flatten()
                .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
                .filter(|stat| {
                    let rest: Vec<&str> = stat
                        .rsplit_once(')')
                        .map_or("", |(_, r)| r)
                        .split_whitespace()
                        .collect();
                    rest.get(2) == Some(&pgid.to_string().as_str())
                        && !matches!(rest.first(), Some(&"Z") | Some(&"X"))
                })
                .count()
        };
        let deadline = Instant::now() + Duration::from_secs(1);
        while live() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(live(), 0, "the process group outlived the panic");
    }

    #[test]
    fn each_step_of_a_run_is_in_the_log_and_a_failed_oneagentctl_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let tools = dir.path().join("agent/tools");
        std::fs::create_dir_all(&tools).unwrap();
        let ctl = tools.join("oneagentctl");
        std::fs::write(&ctl, "#!/bin/sh\necho \"ctl says no to $1\" >&2\nexit 1\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ctl, std::fs::Permissions::from_mode(0o755)).unwrap();
        let log_path = dir.path().join("last-install.log");
        std::fs::write(&log_path, "an older installer's log\n").unwrap();
        let mut log = InstallLog::new(log_path.clone());
        let err = oneagentctl_step(dir.path(), &["--set-host-group=x".into()], &[], &mut log)
            .unwrap_err();
        let msg = crate::error::one_line(&err);
        assert!(
            msg.contains(&format!("see {}", log_path.display())),
            "{msg}"
        );
        let text = std::fs::read_to_string(&log_path).unwrap();
        assert!(!text.contains("older"), "{text}");
        assert!(
            text.contains("--set-host-group=x") && text.contains("ctl says no"),
            "{text}"
        );
    }

    /// An executable under `dir` (0755), as OneAgent's tools are installed.
    fn tool(dir: &Path, rel: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// The one-line error quotes the failed program's last two lines of output, never our own
    /// header lines or blank ones.
    #[test]
    fn a_failed_script_quotes_its_last_output_lines() {
        let dir = tempfile::tempdir().unwrap();
        let bad = script(
            dir.path(),
            "echo first; echo second; echo; echo third >&2; echo '   '; exit 1\n",
        );
        let err = run_script(
            "installer",
            Script::Checked(&bad),
            &[],
            Duration::from_secs(10),
            &mut InstallLog::new(dir.path().join("log")),
            &[],
        )
        .unwrap_err();
        let msg = crate::error::one_line(&err);
        assert!(msg.contains("(exit status: 1): second | third;"), "{msg}");
        assert!(
            !msg.contains("first") && !msg.contains("# oneagent-bootstrap"),
            "{msg}"
        );
    }

    /// A descriptor that cannot be handed to the child fails the step before it starts.
    #[test]
    fn a_descriptor_that_cannot_be_inherited_fails_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let s = script(dir.path(), &format!("touch {}\n", marker.display()));
        let err = run_script(
            "installer",
            Script::Checked(&s),
            &[],
            Duration::from_secs(10),
            &mut InstallLog::new(dir.path().join("log")),
            &[987_654],
        )
        .unwrap_err();
        assert!(crate::error::one_line(&err).contains("could not start the installer"));
        assert!(!marker.exists());
    }

    #[test]
    fn oneagentctl_returns_its_output_or_fails_as_the_installer() {
        let dir = tempfile::tempdir().unwrap();
        let ctl = tool(
            dir.path(),
            "agent/tools/oneagentctl",
            "#!/bin/sh\n[ \"$1\" = --get-host-group ] || { echo 'token SECRET refused' >&2; exit 2; }\n\
             echo web\n",
        );
        assert_eq!(oneagentctl_path(dir.path()), ctl);
        let get = |a: &str| oneagentctl(dir.path(), &[a.to_string()], &["SECRET"]);
        assert_eq!(get("--get-host-group").unwrap(), "web\n");
        let err = get("--set-host-group=x").unwrap_err();
        assert_eq!(crate::error::kind_of(&err), Kind::Installer);
        let msg = crate::error::one_line(&err);
        assert!(msg.contains("token <redacted> refused"), "{msg}");
        assert!(!msg.contains("SECRET"), "{msg}");
        let log = InstallLog::new(dir.path().join("last-install.log"));
        assert_eq!(log.path(), dir.path().join("last-install.log"));
    }

    #[test]
    fn uninstall_runs_uninstall_sh_into_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("uninstalled");
        let sh = tool(
            dir.path(),
            "agent/uninstall.sh",
            &format!("#!/bin/sh\necho removing\ntouch {}\n", marker.display()),
        );
        assert_eq!(uninstall_path(dir.path()), sh);
        let log_path = dir.path().join("last-install.log");
        let mut log = InstallLog::new(log_path.clone());
        let env = StepEnv {
            install_path: dir.path(),
            timeout: Duration::from_secs(10),
            log: &mut log,
            lock_fd: None,
        };
        run_uninstall(env).unwrap();
        assert!(marker.exists());
        assert!(std::fs::read_to_string(&log_path)
            .unwrap()
            .contains("removing"));
    }

    /// A child asked to stop gets SIGTERM and its grace period (its TERM handler runs), and
    /// one that ignores SIGTERM is killed once the grace is over; one that exits at once is
    /// not waited for. Run in a thread so a stop that never ends fails instead of hanging.
    #[test]
    fn stopping_a_child_gives_it_grace_then_kills_it() {
        let dir = tempfile::tempdir().unwrap();
        let ready = dir.path().join("ready");
        let stop = |body: String| {
            let _ = std::fs::remove_file(&ready);
            let mut cmd = Command::new("/bin/sh");
            cmd.args([
                "-c",
                &format!("{body}; touch {}; sleep 30 & wait", ready.display()),
            ]);
            prepare(&mut cmd);
            let mut child = cmd.spawn().unwrap();
            // The signal must find sh's traps in place.
            let deadline = Instant::now() + Duration::from_secs(20);
            while !ready.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let started = Instant::now();
                stop_group(&mut child).unwrap();
                let _ = tx.send(started.elapsed());
            });
            rx.recv_timeout(STOP_GRACE * 5)
                .expect("stop_group did not return")
        };
        let marker = dir.path().join("termed");
        stop(format!("trap 'touch {}; exit 0' TERM", marker.display()));
        assert!(marker.exists(), "the TERM handler did not get to run");
        let ignoring = stop("trap '' TERM".into());
        assert!(ignoring >= STOP_GRACE, "{ignoring:?}");
        let prompt = stop("true".into());
        assert!(prompt < STOP_GRACE / 2, "{prompt:?}");
    }
}

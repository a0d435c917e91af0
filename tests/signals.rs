//! SIGTERM to a running `apply` (Puppet's exec timeout, Ansible's async timeout, systemd,
//! Ctrl-C): the real binary against dtsim, stopped mid-download and mid-install.

mod harness;

use std::time::{Duration, Instant};

use dtsim::{Fault, Options};
use harness::{alive_in_group, processes, World};

const INSTALLER: &str = "/e/*/api/v1/deployment/installer/agent/*";

/// Polls `what` every 20 ms until it holds, for up to `within`.
#[track_caller]
fn wait_for(within: Duration, label: &str, mut what: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !what() {
        assert!(Instant::now() < deadline, "timed out waiting for {label}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn download_dirs(w: &World) -> Vec<String> {
    std::fs::read_dir(&w.state)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".download-"))
                .collect()
        })
        .unwrap_or_default()
}

/// A world whose installer is big enough for a stall after the first 64 KiB.
fn world_with_stalled_download() -> World {
    let w = World::with(Options {
        installer_size: Some(1 << 20),
        ..Options::default()
    });
    w.fault(
        "GET",
        INSTALLER,
        Fault::Stall {
            after_bytes: 64 << 10,
            ms: 20_000,
        },
    );
    w
}

/// Starts `apply`, waits until the stalled installer GET has been answered and the partial
/// download is on disk (bytes written, not a guess at how long that takes).
fn start_and_wait_for_stall(w: &World) -> harness::Running<'_> {
    let run = w.cmd("apply").start();
    wait_for(Duration::from_secs(10), "the installer GET", || {
        w.sim
            .requests()
            .iter()
            .any(|r| r.method == "GET" && r.path.contains("/deployment/installer/agent/unix/"))
    });
    wait_for(
        Duration::from_secs(10),
        "bytes of the download on disk",
        || {
            download_dirs(w).iter().any(|d| {
                harness::files_strictly_under(&w.state.join(d))
                    .iter()
                    .any(|f| std::fs::metadata(f).is_ok_and(|m| m.len() > 0))
            })
        },
    );
    assert_eq!(
        download_dirs(w).len(),
        1,
        "no download dir during the download"
    );
    run
}

#[test]
fn sigterm_during_a_stalled_download_revokes_cleans_up_and_exits_4() {
    let w = world_with_stalled_download();
    let run = start_and_wait_for_stall(&w);
    let signalled = Instant::now();
    run.signal(libc::SIGTERM);
    let r = run.finish(Duration::from_secs(8));
    let took = signalled.elapsed();
    eprintln!("download: exited {took:?} after SIGTERM");
    r.code(4)
        .stderr_has(
            "interrupted by SIGTERM while downloading OneAgent latest; nothing was installed",
        )
        .stderr_has("revoked installer download token");
    r.check(
        took < Duration::from_secs(2),
        &format!("exit took {took:?}"),
    );
    w.assert_minted_token_revoked("abc-p1");
    assert!(!w.installed());
    assert_eq!(download_dirs(&w), Vec::<String>::new(), "download dir left");
    let status = w.status_json();
    assert_eq!(status["state"], "Failed", "{status}");
    let message = status["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("exit 4: interrupted by SIGTERM while downloading OneAgent"),
        "{status}"
    );
    w.assert_no_secrets(&[&r], &[]);
}

#[test]
fn sigterm_while_the_installer_hangs_kills_its_group_and_exits_6() {
    stop_a_hanging_installer(libc::SIGTERM, "SIGTERM");
}

#[test]
fn sigint_while_the_installer_hangs_does_the_same() {
    stop_a_hanging_installer(libc::SIGINT, "SIGINT");
}

fn stop_a_hanging_installer(sig: i32, name: &str) {
    let w = World::new();
    w.fault("GET", INSTALLER, Fault::InstallerHangs);
    let run = w.cmd("apply").args(&["--installer-timeout", "60s"]).start();
    // The installer is `sh /dev/fd/N INSTALL_PATH=<install> ...`; the install path is this
    // test's own.
    let state = format!("INSTALL_PATH={}", w.install.display());
    let mut installer = None;
    wait_for(Duration::from_secs(10), "the installer process", || {
        installer = processes()
            .into_iter()
            .find(|p| p.cmdline.contains(&state) && p.cmdline.contains("INSTALL_PATH="));
        installer.is_some()
    });
    let installer = installer.unwrap_or_else(|| unreachable!());
    // It is in its own group (not ours), and has reached its endless `sleep 1` loop.
    assert_eq!(installer.pid, installer.pgid, "{installer:?}");
    let log = w.state.join("last-install.log");
    wait_for(Duration::from_secs(5), "the installer's hang", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("Installing OneAgent"))
            && alive_in_group(installer.pgid).len() >= 2
    });

    let signalled = Instant::now();
    run.signal(sig);
    let r = run.finish(Duration::from_secs(8));
    let took = signalled.elapsed();
    eprintln!("installer: exited {took:?} after {name}");
    r.code(6).stderr_has(&format!(
        "interrupted by {name} while the installer ran; its process group was killed; see {}",
        log.display()
    ));
    r.check(
        took < Duration::from_secs(4),
        &format!("exit took {took:?}"),
    );
    // SIGKILLed members need a moment to turn into zombies; far less than the `sleep 1` a
    // member that escaped the kill would still be in.
    let mut left = Vec::new();
    let gone = Instant::now() + Duration::from_millis(300);
    while Instant::now() < gone {
        left = alive_in_group(installer.pgid);
        left.extend(
            processes()
                .into_iter()
                .filter(|p| p.cmdline.contains(&state) && !matches!(p.state, 'Z' | 'X')),
        );
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(left.is_empty(), "installer processes survived: {left:?}");
    assert!(!w.installed());
    assert_eq!(download_dirs(&w), Vec::<String>::new(), "download dir left");
    let status = w.status_json();
    assert_eq!(status["state"], "Failed", "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&format!(
                "exit 6: interrupted by {name} while the installer ran"
            )),
        "{status}"
    );
    w.assert_minted_token_revoked("abc-p1");
    w.assert_no_secrets(&[&r], &[]);
}

#[test]
fn a_second_signal_ends_a_cleanup_that_hangs() {
    let w = world_with_stalled_download();
    // The revoke (the cleanup's one request) hangs far longer than anyone would wait. The first
    // signal (SIGINT) puts both signals back to their default action.
    w.fault(
        "DELETE",
        "/e/*/api/v2/apiTokens/*",
        Fault::Delay { ms: 30_000 },
    );
    let mut run = start_and_wait_for_stall(&w);
    run.signal(libc::SIGINT);
    // Stuck in the revoke: still running a second later.
    std::thread::sleep(Duration::from_secs(1));
    assert!(run.is_running(), "the run ended before the second signal");
    let signalled = Instant::now();
    run.signal(libc::SIGTERM);
    let r = run.finish(Duration::from_secs(5));
    r.check(
        r.signal == Some(libc::SIGTERM),
        "a SIGTERM after the SIGINT did not end the process by its default action",
    );
    r.check(
        signalled.elapsed() < Duration::from_secs(1),
        "the second SIGTERM took too long",
    );
    assert!(!w.installed());
}

#[test]
fn sigterm_while_waiting_for_the_lock_exits_7_at_once() {
    use std::os::unix::io::AsRawFd;
    let w = World::new();
    std::fs::create_dir_all(&w.state).unwrap();
    let held = std::fs::File::create(w.state.join("lock")).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX) }, 0);
    let run = w.cmd("apply").args(&["--lock-timeout", "60s"]).start();
    // Waiting for the lock: it has the lock file open (its fd in /proc), not a guessed delay.
    let lock = w.state.join("lock");
    wait_for(
        Duration::from_secs(10),
        "the run to open the lock file",
        || {
            std::fs::read_dir(format!("/proc/{}/fd", run.pid()))
                .map(|fds| {
                    fds.flatten()
                        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == lock))
                })
                .unwrap_or(false)
        },
    );
    let signalled = Instant::now();
    run.signal(libc::SIGTERM);
    let r = run.finish(Duration::from_secs(5));
    let took = signalled.elapsed();
    r.code(7)
        .stderr_has("interrupted by SIGTERM while waiting for the lock")
        .requests(&[]);
    r.check(
        took < Duration::from_secs(3),
        &format!("exit took {took:?}"),
    );
}

#[test]
fn sigterm_during_a_retry_pause_exits_4_without_waiting_it_out() {
    let w = World::new();
    // The cluster asks to come back in 30 s, every time.
    w.fault(
        "GET",
        "/api/cluster/v2/environments/*",
        Fault::RateLimit {
            retry_after_secs: 30,
        },
    );
    let run = w.cmd("apply").start();
    wait_for(Duration::from_secs(10), "the first 429", || {
        w.sim.requests().iter().any(|r| r.status == 429)
    });
    std::thread::sleep(Duration::from_millis(300));
    let signalled = Instant::now();
    run.signal(libc::SIGTERM);
    let r = run.finish(Duration::from_secs(8));
    let took = signalled.elapsed();
    r.code(4)
        .stderr_has("interrupted by SIGTERM while waiting to retry");
    r.check(
        took < Duration::from_secs(3),
        &format!("exit took {took:?}"),
    );
    assert_eq!(w.sim.requests().len(), 1, "retried after the signal");
    assert!(!w.installed());
}

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
    let during = w.status_json();
    assert_eq!(during["state"], "Downloading", "{during}");
    assert_eq!(during["message"], "downloading OneAgent latest", "{during}");
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
    // While it runs, status.json says so (what Puppet's fact shows a run that hangs).
    let during = w.status_json();
    assert_eq!(during["state"], "Installing", "{during}");
    assert_eq!(during["tenant"], "abc-p1", "{during}");
    assert!(
        during["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("running the installer: install OneAgent")),
        "{during}"
    );

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

// ---- signals during oneagentctl, uninstall.sh and `check` ----

/// Files a run may leave in the state dir; anything else (a `.download-*` dir, a status.json
/// temp file) is a leftover of an interrupted run.
const STATE_FILES: [&str; 4] = [
    "status.json",
    "lock",
    "last-install.log",
    "version-check.json",
];

/// What every interrupted run must leave behind: the lock free, no temp file, a whole
/// status.json (saying Failed with `message_start`, for `apply`), no secret anywhere.
#[track_caller]
fn assert_cleaned_up(w: &World, r: &harness::Done, message_start: Option<&str>) {
    assert!(
        !harness::flock_held(&w.state.join("lock")),
        "lock still held{}",
        r.dump()
    );
    for f in std::fs::read_dir(&w.state).expect("state dir").flatten() {
        let name = f.file_name().to_string_lossy().into_owned();
        assert!(
            STATE_FILES.contains(&name.as_str()) && f.path().is_file(),
            "left in the state dir: {name}{}",
            r.dump()
        );
    }
    let status = w.status_json();
    if let Some(start) = message_start {
        assert_eq!(status["state"], "Failed", "{status}");
        let message = status["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(start), "{status}");
    }
    w.assert_no_secrets(&[r], &[]);
}

fn read_status(w: &World) -> Vec<u8> {
    std::fs::read(w.state.join("status.json")).expect("status.json")
}

/// Makes the installed program `rel` touch `<install>/blocked` and sleep for ever when its
/// first argument matches the shell pattern `when`. Returns the marker's path.
fn block_program(w: &World, rel: &str, when: &str) -> std::path::PathBuf {
    let marker = w.install.join("blocked");
    let block = format!(": > '{}'; while :; do sleep 1; done", marker.display());
    w.wrap_program(rel, when, &block);
    marker
}

/// Installs, blocks `rel` when called as `when`, starts `apply` with `args`, waits for the
/// block and signals; the finished run.
fn signal_a_blocked_step<'w>(
    w: &'w World,
    rel: &str,
    when: &str,
    args: &[&str],
    sig: i32,
) -> harness::Done<'w> {
    w.cmd("apply").run().code(2);
    signal_a_blocked(w, "apply", rel, when, args, sig)
}

/// [`signal_a_blocked_step`] on an installed host, for any subcommand `sub`.
fn signal_a_blocked<'w>(
    w: &'w World,
    sub: &str,
    rel: &str,
    when: &str,
    args: &[&str],
    sig: i32,
) -> harness::Done<'w> {
    let marker = block_program(w, rel, when);
    w.sim.clear_requests();
    let run = w.cmd(sub).args(args).start();
    wait_for(Duration::from_secs(10), "the blocked step", || {
        marker.exists()
    });
    let signalled = Instant::now();
    run.signal(sig);
    let r = run.finish(Duration::from_secs(8));
    let took = signalled.elapsed();
    r.check(
        took < Duration::from_secs(4),
        &format!("exit took {took:?}"),
    );
    let left = harness::running_with(&w.install.display().to_string());
    assert!(left.is_empty(), "the blocked step survived: {left:?}");
    r
}

#[test]
fn sigterm_during_an_oneagentctl_change_stops_it_and_exits_6() {
    let w = World::new();
    let r = signal_a_blocked_step(
        &w,
        "agent/tools/oneagentctl",
        "--set-*|--remove-*",
        &["--host-group", "moved"],
        libc::SIGTERM,
    );
    let ctl = w.install.join("agent/tools/oneagentctl");
    let what = format!(
        "interrupted by SIGTERM while {} --set-host-group=moved --restart-service ran; it was stopped",
        ctl.display()
    );
    r.code(6).stderr_has(&what);
    assert_cleaned_up(&w, &r, Some(&format!("exit 6: {what}")));
    // Nothing to download on this path: only the install's two tokens exist (none minted).
    assert_eq!(
        w.assert_run_tokens_short_lived().len(),
        2,
        "{:?}",
        w.tokens()
    );
    assert_eq!(w.oneagentctl(&["--get-host-group"]), "");
}

#[test]
fn sigint_during_uninstall_stops_it_and_exits_6() {
    let w = World::new();
    let r = signal_a_blocked_step(
        &w,
        "agent/uninstall.sh",
        "*",
        &["--ensure", "absent"],
        libc::SIGINT,
    );
    r.code(6).stderr_has("interrupted by SIGINT while");
    assert_cleaned_up(&w, &r, Some("exit 6: interrupted by SIGINT while"));
    assert!(w.installed(), "the blocked uninstall removed the agent");
}

#[test]
fn sigterm_during_check_revokes_its_token_and_exits_4() {
    let w = World::new();
    w.cmd("apply").run().code(2);
    let before = read_status(&w);
    w.sim.clear_requests();
    // `check --upgrade` reads the target version with a short-lived download token; the answer
    // is "come back in 30 s".
    w.fault(
        "GET",
        "/e/*/api/v1/deployment/installer/agent/unix/default/latest/metainfo",
        Fault::RateLimit {
            retry_after_secs: 30,
        },
    );
    let run = w.cmd("check").arg("--upgrade").start();
    wait_for(Duration::from_secs(10), "the metainfo 429", || {
        w.sim.requests().iter().any(|r| r.status == 429)
    });
    let signalled = Instant::now();
    run.signal(libc::SIGTERM);
    let r = run.finish(Duration::from_secs(8));
    let took = signalled.elapsed();
    r.code(4).stderr_has("interrupted by SIGTERM");
    r.check(
        took < Duration::from_secs(3),
        &format!("exit took {took:?}"),
    );
    // The check's token (minted after the install's, which is dead too) was deleted.
    let download: Vec<serde_json::Value> = w
        .assert_run_tokens_short_lived()
        .into_iter()
        .filter(|t| t["scopes"] == serde_json::json!(["InstallerDownload"]))
        .collect();
    assert_eq!(download.len(), 2, "{download:?}");
    assert!(download.iter().all(|t| t["alive"] == false), "{download:?}");
    let log = w.sim.requests();
    assert!(
        log.iter().any(|q| q.method == "DELETE" && q.status == 204),
        "the check's token was not revoked: {log:?}"
    );
    // check never writes status.json: the install's stays, whole and unchanged.
    assert_cleaned_up(&w, &r, None);
    assert_eq!(read_status(&w), before);
}

/// `check` changes nothing, but it does run oneagentctl to read the host's settings; a signal
/// there stops that child too. The exit is 6, the README's code for a stopped oneagentctl, and
/// nothing was sent or written: status.json is the install's, byte for byte.
#[test]
fn sigterm_during_checks_own_oneagentctl_read_stops_it_and_exits_6() {
    let w = World::new();
    w.cmd("apply").run().code(2);
    let before = read_status(&w);
    let r = signal_a_blocked(
        &w,
        "check",
        "agent/tools/oneagentctl",
        "--get-*",
        &["--host-group", "moved"],
        libc::SIGTERM,
    );
    r.code(6)
        .stderr_has("interrupted by SIGTERM while")
        .stderr_has("--get-");
    assert_cleaned_up(&w, &r, None);
    assert_eq!(read_status(&w), before);
    assert!(w.requests().is_empty(), "{}", r.dump());
}

/// A signal while the minted token is being revoked (the download step's last request): the
/// revoke is not cut short, it completes (204, the token dead), and the run ends there with
/// exit 4, nothing installed, no download left.
#[test]
fn sigterm_during_the_revoke_lets_it_finish_and_exits_4() {
    let w = World::new();
    // Only the revoke's DELETE is slow; the rule is gone once that request has arrived.
    w.fault_times(
        "DELETE",
        "/e/abc-p1/api/v2/apiTokens/*",
        1,
        Fault::Delay { ms: 1500 },
    );
    let run = w.cmd("apply").start();
    wait_for(Duration::from_secs(10), "the revoke's DELETE", || {
        w.admin("/__dtsim/faults")
            .as_array()
            .is_some_and(|rules| rules.is_empty())
    });
    run.signal(libc::SIGTERM);
    let r = run.finish(Duration::from_secs(8));
    let what = "interrupted by SIGTERM while downloading OneAgent latest; nothing was installed";
    r.code(4).stderr_has(what);
    assert!(!w.installed(), "{}", r.dump());
    w.assert_minted_token_revoked("abc-p1");
    assert_eq!(download_dirs(&w), Vec::<String>::new(), "download dir left");
    assert_cleaned_up(&w, &r, Some(&format!("exit 4: {what}")));
}

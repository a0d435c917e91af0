//! Issue 7, items 1, 2, 7, 8 (panics) and 10 (status, logs, `changed`): paths no other user
//! controls, `check` changing nothing, one installer at a time after `kill -9`, panics.

mod harness;

use std::path::Path;
use std::time::{Duration, Instant};

use dtsim::Fault;
use harness::{as_nobody, chmod, running_with, World, NOBODY};

const INSTALLER: &str = "/e/*/api/v1/deployment/installer/agent/unix/*";

fn wait_for(within: Duration, label: &str, mut what: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !what() {
        assert!(Instant::now() < deadline, "timed out waiting for {label}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill_group(pgid: u32) {
    // SAFETY: killpg only sends a signal, to a group this test's runs started.
    unsafe {
        libc::killpg(pgid as libc::pid_t, libc::SIGKILL);
    }
}

/// A file root would overwrite if it followed a planted link.
fn precious(w: &World) -> std::path::PathBuf {
    let p = w.dir.path().join("precious");
    std::fs::write(&p, "precious\n").unwrap();
    p
}

#[test]
fn a_state_dir_others_can_write_is_refused_before_anything() {
    let w = World::new();
    let target = precious(&w);
    // The test's top dir must be traversable for the second user.
    chmod(w.dir.path(), 0o755);
    std::fs::create_dir(&w.state).unwrap();
    chmod(&w.state, 0o777);
    // A real second user plants links where root writes (as ourselves when not root).
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    for name in ["lock", ".status.json.tmp", "last-install.log"] {
        let (target, link) = (target.display().to_string(), w.state.join(name));
        let link = link.display().to_string();
        let planted = if root {
            as_nobody(&["ln", "-s", &target, &link])
        } else {
            std::os::unix::fs::symlink(&target, &link).is_ok()
        };
        assert!(planted, "could not plant {name}");
    }
    for cmd in ["apply", "check"] {
        let r = w.cmd(cmd).run();
        r.code(3)
            .requests(&[])
            .stderr_has(&format!(
                "{} is writable by group or others",
                w.state.display()
            ))
            .stderr_has("mode 0777")
            .stderr_has(if root { "uid 0 (root)" } else { "uid " })
            .stderr_has(&format!("fix: chmod go-w {}", w.state.display()));
    }
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    assert!(!w.installed());
    if !root {
        eprintln!("not root: skipping the state dir owned by another user");
        return;
    }

    // Owned by another user, even with a tight mode.
    chmod(&w.state, 0o700);
    std::os::unix::fs::chown(&w.state, Some(NOBODY), Some(NOBODY)).unwrap();
    w.cmd("apply")
        .run()
        .code(3)
        .requests(&[])
        .stderr_has(&format!("uid {NOBODY}"))
        .stderr_has("owned by another user")
        .stderr_has(&format!("fix: chown root {}", w.state.display()));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");

    // A parent others can write (no sticky bit) is refused too.
    std::os::unix::fs::chown(&w.state, Some(0), Some(0)).unwrap();
    chmod(w.dir.path(), 0o777);
    w.cmd("apply")
        .run()
        .code(3)
        .stderr_has(&format!("{} is writable", w.dir.path().display()));
    chmod(w.dir.path(), 0o700);
}

#[test]
fn links_planted_in_the_state_dir_are_never_followed() {
    let w = World::new();
    let target = precious(&w);
    std::fs::create_dir(&w.state).unwrap();
    chmod(&w.state, 0o700);
    for name in [".status.json.tmp", "last-install.log", "status.json"] {
        std::os::unix::fs::symlink(&target, w.state.join(name)).unwrap();
    }
    w.cmd("apply").run().code(2);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    for name in ["last-install.log", "status.json"] {
        let meta = std::fs::symlink_metadata(w.state.join(name)).unwrap();
        assert!(meta.is_file(), "{name} is not a regular file now");
    }
    assert_eq!(w.status_json()["state"], "Installed");

    // A planted lock link: refused, named, the target untouched.
    std::fs::remove_file(w.state.join("lock")).unwrap();
    std::os::unix::fs::symlink(&target, w.state.join("lock")).unwrap();
    w.cmd("apply")
        .run()
        .code(3)
        .stderr_has(&format!("{}", w.state.join("lock").display()))
        .stderr_has("symbolic link");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
}

#[test]
fn programs_under_an_install_path_others_control_are_never_run() {
    let w = World::new();
    let tools = w.install.join("agent/tools");
    std::fs::create_dir_all(&tools).unwrap();
    let marker = w.dir.path().join("planted-ran");
    let ctl = tools.join("oneagentctl");
    std::fs::write(
        &ctl,
        format!("#!/bin/sh\ntouch {}\necho 1.0\n", marker.display()),
    )
    .unwrap();
    chmod(&ctl, 0o755);
    chmod(&w.install, 0o777);
    let r = w.cmd("status").arg("--json").run();
    r.code(3).stderr_has("writable by group or others");
    let j = r.json();
    assert!(j["error"]
        .as_str()
        .unwrap_or_default()
        .contains(&w.install.display().to_string()));
    w.cmd("apply").run().code(3);
    w.cmd("check").run().code(3);
    assert!(!marker.exists(), "the planted oneagentctl ran");
}

/// The installer's path is swapped for another script, over and over, while the run goes: what
/// runs is still the verified installer (or nothing, exit 5), never the swapped one.
#[test]
fn a_swap_between_verification_and_execution_cannot_change_what_runs() {
    let w = World::with(dtsim::Options {
        installer_size: Some(4 << 20),
        ..dtsim::Options::default()
    });
    let marker = w.dir.path().join("swapped-ran");
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let evil = format!("#!/bin/sh\ntouch {}\nexit 0\n", marker.display());
    let state = w.state.clone();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = done.clone();
    let swapper = std::thread::spawn(move || {
        let mut swaps = 0u32;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let Ok(entries) = std::fs::read_dir(&state) else {
                continue;
            };
            for e in entries.flatten() {
                if !e.file_name().to_string_lossy().starts_with(".download-") {
                    continue;
                }
                let Ok(files) = std::fs::read_dir(e.path()) else {
                    continue;
                };
                for f in files.flatten() {
                    let tmp = e.path().join(format!("swap-{swaps}"));
                    // Same owner and mode as the real download: only its bytes differ.
                    let written = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(&tmp)
                        .and_then(|mut t| t.write_all(evil.as_bytes()));
                    if written.is_ok() && std::fs::rename(&tmp, f.path()).is_ok() {
                        swaps += 1;
                    }
                }
            }
        }
        swaps
    });
    let r = w.cmd("apply").run();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    eprintln!("swaps: {swaps}, exit {}", r.code);
    assert!(!marker.exists(), "the swapped script ran{}", r.dump());
    r.check(swaps > 0, "no swap happened");
    match r.code {
        // Swapped before the re-hash: caught, nothing ran.
        // (Or swapped while the descriptor was being opened: its file has 0 links then, and
        // the owner/mode/links check refuses it.)
        5 => {
            r.check(
                r.stderr.contains("changed after verification")
                    || r.stderr.contains("changed owner, mode or links"),
                "exit 5 does not say the installer changed after verification",
            )
            .stderr_has("nothing was run");
            assert!(!w.installed());
        }
        // Swapped only after: the verified installer ran from its descriptor.
        2 => assert!(w.installed()),
        _ => panic!("unexpected exit{}", r.dump()),
    }
}

fn listing(dir: &Path) -> Vec<(String, u64, std::time::SystemTime)> {
    let mut v: Vec<_> = World::files_under(dir)
        .into_iter()
        .map(|p| {
            let m = std::fs::metadata(&p).unwrap();
            (p.display().to_string(), m.len(), m.modified().unwrap())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn check_changes_nothing_anywhere() {
    // A fresh host: no state dir, no lock file is created.
    let w = World::new();
    w.cmd("check").run().code(2).requests(&[]);
    assert!(!w.state.exists(), "check created the state dir");

    // Installed for abc-p1; the facts now give tenant xyz-p2, which does not exist.
    w.cmd("apply").run().code(2);
    let before = listing(&w.state);
    w.sim.clear_requests();
    let r = w
        .cmd("check")
        .arg("--upgrade")
        .set("--fact", "hostname=xyz-p2-web01")
        .run();
    r.code(2)
        .stderr_has("tenant xyz-p2 does not exist: apply would create it");
    let requests = w.requests();
    r.check(
        requests.iter().all(|l| l.starts_with("GET ")),
        "check sent more than GETs",
    );
    assert_eq!(listing(&w.state), before, "check changed the state dir");

    // Same tenant, --upgrade: a short-lived token to read the version, revoked, said so.
    w.sim.clear_requests();
    let r = w.cmd("check").arg("--upgrade").run();
    r.code(0).stderr_has("short-lived download token");
    let requests = w.requests();
    let writes: Vec<&String> = requests.iter().filter(|l| !l.starts_with("GET ")).collect();
    let allowed = |l: &str| {
        l.ends_with("/tokenManagementToken")
            || l.ends_with("/api/v2/apiTokens")
            || l.starts_with("DELETE /e/abc-p1/api/v2/apiTokens/")
    };
    r.check(
        writes.iter().all(|l| allowed(l)) && writes.iter().any(|l| l.starts_with("DELETE")),
        &format!("unexpected writes {writes:?}"),
    );
    let tokens = w.admin("/__dtsim/tokens");
    let alive: Vec<_> = tokens
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["environment"] == "abc-p1" && t["alive"] == true)
        .filter(|t| t["scopes"].to_string().contains("InstallerDownload"))
        .collect();
    assert!(alive.is_empty(), "download token left alive: {alive:?}");
    assert_eq!(listing(&w.state), before, "check changed the state dir");
}

#[test]
fn after_kill_9_the_running_installer_keeps_the_lock() {
    let w = World::new();
    w.fault("GET", INSTALLER, Fault::InstallerHangs);
    let first = w.cmd("apply").args(&["--installer-timeout", "60s"]).start();
    let needle = format!("INSTALL_PATH={}", w.install.display());
    wait_for(Duration::from_secs(20), "the installer", || {
        !running_with(&needle).is_empty()
    });
    let installer = running_with(&needle)[0].clone();
    first.signal(libc::SIGKILL);
    let killed = first.finish(Duration::from_secs(5));
    assert_eq!(killed.signal, Some(libc::SIGKILL));
    w.sim.clear_requests();
    let second = w
        .cmd("apply")
        .args(&["--lock-timeout", "300ms", "--installer-timeout", "5s"])
        .run();
    let installers = running_with(&needle);
    kill_group(installer.pgid);
    second.code(7).stderr_has("lock").requests(&[]);
    assert_eq!(
        installers.len(),
        1,
        "a second installer started: {installers:?}"
    );
    // Once the orphaned installer is gone, the lock is free again.
    wait_for(Duration::from_secs(5), "the installer's end", || {
        running_with(&needle).is_empty()
    });
    w.sim.clear_faults();
    w.cmd("apply").args(&["--lock-timeout", "5s"]).run().code(2);
}

/// A panic after the installer started (an out-of-range timeout overflows the deadline, until
/// parse-time range checks refuse it): exit 1, one line, the installer's group stopped,
/// status.json Failed, the JSON object printed, no token left alive.
#[test]
fn a_panic_ends_as_exit_1_with_cleanup() {
    let w = World::new();
    let needle = format!("INSTALL_PATH={}", w.install.display());
    let r = w
        .cmd("apply")
        .args(&["--json", "--installer-timeout", "200000000000000d"])
        .run();
    if r.code == 3 {
        // Range-checked at parse time: nothing was sent.
        r.requests(&[]);
        return;
    }
    r.code(1).stderr_has("internal error");
    let errors: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    r.check(errors.len() == 1, "not one error line");
    r.check(
        !r.stderr.contains("panicked at"),
        "Rust's panic report printed",
    );
    let j = r.json();
    assert_eq!(j["exitCode"], 1);
    assert!(j["error"]
        .as_str()
        .unwrap_or_default()
        .contains("internal error"));
    assert_eq!(w.status_json()["state"], "Failed");
    // SIGKILLed members take a moment to die; far less than this.
    wait_for(Duration::from_millis(500), "the installer's end", || {
        running_with(&needle).is_empty()
    });
    let tokens = w.admin("/__dtsim/tokens");
    let alive = tokens
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["alive"] == true && t["scopes"].to_string().contains("InstallerDownload"))
        .count();
    assert_eq!(alive, 0, "{tokens}");
}

#[test]
fn status_json_is_always_an_object_and_stable_without_a_recorded_run() {
    let w = World::new();
    let a = w.cmd("status").arg("--json").run();
    a.code(0);
    std::thread::sleep(Duration::from_millis(1100));
    let b = w.cmd("status").arg("--json").run();
    let (a, b) = (a.json(), b.json());
    assert!(a["updatedAt"].is_null(), "{a}");
    assert_eq!(a, b);
    assert!(a["error"].is_null(), "{a}");
    assert!(!w.state.exists(), "status created the state dir");

    // oneagentctl fails: the object is still printed, with the error.
    w.cmd("apply").run().code(2);
    let ctl = w.install.join("agent/tools/oneagentctl");
    std::fs::write(&ctl, "#!/bin/sh\necho 'ctl is broken' >&2\nexit 1\n").unwrap();
    let r = w.cmd("status").arg("--json").run();
    r.code(6);
    let j = r.json();
    assert!(
        j["error"]
            .as_str()
            .unwrap_or_default()
            .contains("ctl is broken"),
        "{j}"
    );
    assert_eq!(j["isAgentInstalled"], true, "{j}");
    assert!(j["updatedAt"].is_string(), "{j}");
}

#[test]
fn a_corrupt_status_json_is_reported_as_corrupt_and_replaced() {
    let w = World::new();
    std::fs::create_dir(&w.state).unwrap();
    std::fs::write(w.state.join("status.json"), "{\"state\": \"Inst").unwrap();
    let r = w.cmd("status").arg("--json").run();
    r.code(0);
    let j = r.json();
    let message = j["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("is corrupt") && message.contains("the next apply replaces it"),
        "{j}"
    );
    w.cmd("status").run().code(0).stdout_has("is corrupt");
    w.cmd("apply")
        .run()
        .code(2)
        .stderr_has("is corrupt")
        .stderr_has("this run replaces it");
    assert_eq!(w.status_json()["state"], "Installed");
}

#[test]
fn json_changed_tells_whether_a_failed_run_changed_the_host() {
    // The installer fails before writing anything: nothing changed.
    let w = World::new();
    w.fault("GET", INSTALLER, Fault::InstallerFails { exit_code: 9 });
    let r = w.cmd("apply").arg("--json").run();
    r.code(6);
    assert_eq!(r.json()["changed"], false);

    // The installer installs, but for another tenant (exit 6): the host did change.
    let w = World::new();
    let r = w.misrouted_apply(&["--json"]);
    r.code(6);
    assert_eq!(r.json()["changed"], true, "{}", r.stdout);
}

#[test]
fn a_failed_oneagentctl_step_points_at_a_log_that_holds_it() {
    let w = World::new();
    w.cmd("apply").run().code(2);
    let tools = w.install.join("agent/tools");
    std::fs::rename(tools.join("oneagentctl"), tools.join("oneagentctl.real")).unwrap();
    std::fs::write(
        tools.join("oneagentctl"),
        "#!/bin/sh\ncase \"$1\" in --set-host-group=*) echo 'host group refused by the test' >&2; \
         exit 1;; esac\nexec \"$(dirname \"$0\")/oneagentctl.real\" \"$@\"\n",
    )
    .unwrap();
    chmod(&tools.join("oneagentctl"), 0o755);
    let log = w.state.join("last-install.log");
    let r = w.cmd("apply").args(&["--host-group", "web"]).run();
    r.code(6)
        .stderr_has("host group refused by the test")
        .stderr_has(&format!("see {}", log.display()));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("--set-host-group=web"), "{text}");
    assert!(text.contains("host group refused by the test"), "{text}");
    assert!(
        !text.contains("Installing OneAgent"),
        "the older installer log: {text}"
    );
}

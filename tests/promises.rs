//! README promises that had no test of their own (issue 14): a failed revoke, a download that
//! keeps failing, the minted token's 15 minutes, and token variables kept from the installer.

mod harness;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dtsim::Fault;
use harness::{processes, World};

const INSTALLER: &str = "/e/*/api/v1/deployment/installer/agent/*";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

#[test]
fn the_minted_token_expires_within_15_minutes() {
    let w = World::new();
    let before = now_ms();
    w.cmd("apply").run().code(2);
    let id = w.assert_minted_token_revoked("abc-p1");
    let minted = w
        .tokens()
        .into_iter()
        .find(|t| t["id"] == id.as_str())
        .expect("dtsim knows the minted token");
    // Even had the revoke failed, it would die by itself: expiry 15 minutes after minting.
    let expires = minted["expiresMs"]
        .as_u64()
        .expect("the minted token expires");
    let fifteen = 15 * 60 * 1000;
    assert!(
        expires >= before + fifteen - 5_000 && expires <= now_ms() + fifteen + 5_000,
        "minted token expires at {expires}, run started at {before}: {minted}"
    );
}

#[test]
fn a_failed_revoke_is_a_warning_and_the_outcome_stands() {
    let w = World::new();
    w.fault(
        "DELETE",
        "/e/*/api/v2/apiTokens/*",
        Fault::Status { status: 500 },
    );
    // No retries: each would wait out a backoff, and the warning is the same.
    let r = w.cmd("apply").args(&["--json", "--retries", "0"]).run();
    r.code(2)
        .stderr_has("could not revoke installer download token");
    assert!(w.installed());
    let j = r.json();
    assert_eq!(j["exitCode"], 2);
    assert!(j["error"].is_null(), "{j}");
    // Not revoked, but it dies by itself within 15 minutes.
    let created = w.assert_run_tokens_short_lived();
    assert!(
        created.iter().any(|t| t["alive"] == true),
        "the revoke was meant to fail: {created:?}"
    );
    w.assert_no_secrets(&[&r], &[]);
}

#[test]
fn a_download_that_keeps_failing_exits_4_revoked_without_a_partial_file() {
    let w = World::new();
    w.fault("GET", INSTALLER, Fault::Cut { after_bytes: 4096 });
    let started = Instant::now();
    let r = w.cmd("apply").run();
    r.code(4).stderr_has("downloading OneAgent");
    assert!(started.elapsed() < Duration::from_secs(120));
    assert!(!w.installed());
    w.assert_minted_token_revoked("abc-p1");
    let left: Vec<_> = harness::files_strictly_under(&w.state)
        .into_iter()
        .filter(|f| f.display().to_string().contains(".download"))
        .collect();
    assert!(left.is_empty(), "partial download left: {left:?}");
    assert_eq!(w.status_json()["state"], "Failed");
    w.assert_no_secrets(&[&r], &[]);
}

#[test]
fn token_variables_never_reach_the_installer_environment() {
    let w = World::new();
    w.fault("GET", INSTALLER, Fault::InstallerHangs);
    let token = w.sim.cluster_token();
    let run = w
        .cmd("apply")
        .without_cluster_token()
        .env("DT_CLUSTER_TOKEN", &token)
        .args(&["--installer-timeout", "60s"])
        .start();
    let marker = format!("INSTALL_PATH={}", w.install.display());
    let deadline = Instant::now() + Duration::from_secs(20);
    let installer = loop {
        if let Some(p) = processes()
            .into_iter()
            .find(|p| p.cmdline.contains(&marker))
        {
            break p;
        }
        assert!(Instant::now() < deadline, "the installer never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    let environ = std::fs::read(format!("/proc/{}/environ", installer.pid))
        .expect("the installer's environment is readable");
    let environ = String::from_utf8_lossy(&environ).replace('\0', "\n");
    run.signal(libc::SIGTERM);
    let r = run.finish(Duration::from_secs(20));
    r.code(6);
    assert!(!environ.is_empty(), "empty environment read");
    assert!(
        !environ.contains(&token),
        "token in the installer's environment"
    );
    for line in environ.lines() {
        assert!(
            !line.starts_with("DT_CLUSTER_TOKEN") && !line.starts_with("DT_API_TOKEN"),
            "token variable {line:?} reached the installer"
        );
    }
    w.assert_no_secrets(&[&r], &[]);
}

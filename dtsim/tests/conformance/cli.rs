//! The `dtsim` binary: flags, published files, SIGTERM, state file across runs.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::agent;

const BIN: &str = env!("CARGO_BIN_EXE_dtsim");

fn wait_for(path: &Path, child: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(t) = std::fs::read_to_string(path) {
            if !t.is_empty() {
                return t.trim().to_string();
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("dtsim exited early: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn terminate(child: &mut Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "could not send SIGTERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            assert!(status.success(), "dtsim exits 0 on SIGTERM, got {status}");
            return;
        }
        assert!(Instant::now() < deadline, "dtsim did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn help_documents_every_flag() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--tls",
        "--url-file",
        "--cluster-token-file",
        "--write-ca",
        "--installer-size",
        "--faults",
        "--state-file",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

#[test]
fn binary_publishes_files_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("faults.json"),
        json!([{"path": "/api/cluster/v2/environments/first", "times": 1, "fault": {"kind": "status", "status": 503}}]).to_string(),
    )
    .unwrap();
    let start = || {
        Command::new(BIN)
            .arg("--listen=127.0.0.1:0")
            .arg("--url-file")
            .arg(d.join("url"))
            .arg("--cluster-token-file")
            .arg(d.join("ct"))
            .arg("--write-ca")
            .arg(d.join("ca.pem"))
            .arg("--installer-size=1M")
            .arg("--faults")
            .arg(d.join("faults.json"))
            .arg("--state-file")
            .arg(d.join("state.json"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = start();
    let url = wait_for(&d.join("url"), &mut child);
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let ct = std::fs::read_to_string(d.join("ct"))
        .unwrap()
        .trim()
        .to_string();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("ct"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(std::fs::read_to_string(d.join("ca.pem"))
        .unwrap()
        .contains("BEGIN CERTIFICATE"));
    let a = agent();
    let put = |id: &str| {
        a.put(format!("{url}/api/cluster/v2/environments/{id}"))
            .header("Authorization", format!("Api-Token {ct}"))
            .header("Content-Type", "application/json")
            .body(json!({"name": id}).to_string())
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(put("first"), 503, "--faults rules are active");
    assert_eq!(put("first"), 201);
    terminate(&mut child);
    let state = std::fs::read_to_string(d.join("state.json")).unwrap();
    assert!(state.contains("\"first\""));

    // Second run: the environment is still there; a new cluster token works too.
    std::fs::remove_file(d.join("url")).unwrap();
    let mut child = start();
    let url2 = wait_for(&d.join("url"), &mut child);
    let ct2 = std::fs::read_to_string(d.join("ct"))
        .unwrap()
        .trim()
        .to_string();
    let get = || {
        a.get(format!("{url2}/api/cluster/v2/environments/first"))
            .header("Authorization", format!("Api-Token {ct2}"))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(get(), 503, "the fault file is read again at start");
    assert_eq!(get(), 200);
    terminate(&mut child);
}

#[test]
fn bad_flags_and_files_fail_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("faults.json"), "[{\"path\": 1}]").unwrap();
    let out = Command::new(BIN)
        .arg("--faults")
        .arg(dir.path().join("faults.json"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("faults.json"), "{err}");
    let out = Command::new(BIN)
        .arg("--installer-size=lots")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("lots"));
}

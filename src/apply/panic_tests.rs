//! Item 8: a real panic while the installer runs, reached through the Config type (built in
//! code, it skips the command line's range checks), not through a test-only switch.

use std::time::{Duration, Instant};

use super::*;
use crate::secret::Secret;
use crate::tenant::TenantSpec;

/// Processes whose command line contains `needle`, zombies excluded.
fn running_with(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().unwrap_or_default().trim_start();
        if String::from_utf8_lossy(&cmdline).contains(needle) && !state.starts_with(['Z', 'X']) {
            out.push(pid);
        }
    }
    out
}

#[test]
fn a_panic_while_the_installer_runs_fails_the_run_with_cleanup() {
    let sim = dtsim::Dtsim::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, sim.ca_pem()).unwrap();
    let install = dir.path().join("oneagent");
    let mut cfg = Config::defaults(dir.path().join("state"), install.clone());
    cfg.cluster_url = Some(sim.url());
    cfg.cluster_token = Some(Secret::new(sim.cluster_token()));
    cfg.installer_ca_file = Some(ca);
    cfg.tenant = TenantSpec {
        explicit: Some("abc-p1".into()),
        ..Default::default()
    };
    // The installer's deadline (now + timeout) overflows: a panic after the installer started.
    cfg.installer_timeout = Duration::MAX;
    let out = Reporter {
        quiet: true,
        verbose: 0,
    };
    let started = Instant::now();
    let o = run(&cfg, Mode::Apply, out);
    let err = o.error.expect("the run fails");
    assert_eq!(kind_of(&err), Kind::Internal, "{}", one_line(&err));
    let line = one_line(&err);
    assert!(
        line.contains("internal error while running the pipeline"),
        "{line}"
    );
    assert!(!line.contains('\n'));
    assert!(started.elapsed() < Duration::from_secs(20));

    let status: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("state/status.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(status["state"], "Failed", "{status}");
    let needle = format!("INSTALL_PATH={}", install.display());
    // SIGKILLed members take a moment to die; far less than this.
    let deadline = Instant::now() + Duration::from_millis(500);
    while !running_with(&needle).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        running_with(&needle).is_empty(),
        "the installer outlived the panic"
    );
    let log = sim.requests();
    assert!(
        log.iter()
            .any(|r| r.method == "DELETE" && r.path.contains("/apiTokens/") && r.status == 204),
        "the minted token was not revoked: {log:?}"
    );
}

//! What a person or a log sees of the main scenarios: exit code, stdout (human and `--json`)
//! and stderr, normalised and compared with tests/snapshots/. A new line fails a test, so a
//! secret that starts being printed cannot go unnoticed; every run is also secret-scanned.

mod harness;

use dtsim::Fault;
use harness::World;

const INSTALLER: &str = "/e/*/api/v1/deployment/installer/agent/*";

#[test]
fn fresh_install_then_converged() {
    let w = World::new();
    let human = w.cmd("apply").run();
    human.snapshot(&w, "fresh-install.txt");
    let again = w.cmd("apply").arg("--json").run();
    again.snapshot(&w, "converged-json.txt");
    let check = w.cmd("check").run();
    check.snapshot(&w, "converged-check.txt");
    w.assert_no_secrets(&[&human, &again, &check], &[]);
}

#[test]
fn fresh_install_json_and_verbose() {
    let w = World::new();
    let r = w.cmd("apply").args(&["--json", "-v"]).run();
    r.snapshot(&w, "fresh-install-json-verbose.txt");
    w.assert_no_secrets(&[&r], &[]);
}

#[test]
fn check_on_a_fresh_host() {
    let w = World::new();
    let r = w.cmd("check").arg("--json").run();
    r.snapshot(&w, "check-fresh-json.txt");
}

#[test]
fn failures_exit_4_5_6() {
    let w = World::new();
    w.fault(
        "PUT",
        "/api/cluster/v2/environments/*",
        Fault::Status { status: 403 },
    );
    let api = w.cmd("apply").run();
    api.snapshot(&w, "exit-4-forbidden.txt");
    w.assert_no_secrets(&[&api], &[]);

    let w = World::new();
    w.fault("GET", INSTALLER, Fault::BadSignature);
    let sig = w.cmd("apply").arg("--json").run();
    sig.snapshot(&w, "exit-5-digest-json.txt");
    w.assert_no_secrets(&[&sig], &[]);

    let w = World::new();
    w.fault("GET", INSTALLER, Fault::OtherCa);
    let ca = w.cmd("apply").run();
    ca.snapshot(&w, "exit-5-other-ca.txt");
    w.assert_no_secrets(&[&ca], &[]);

    let w = World::new();
    w.fault("GET", INSTALLER, Fault::InstallerFails { exit_code: 9 });
    let inst = w.cmd("apply").run();
    inst.snapshot(&w, "exit-6-installer.txt");
    w.assert_no_secrets(&[&inst], &[]);
}

#[test]
fn repoint_to_another_tenant_verbose() {
    let w = World::new();
    w.cmd("apply").run().code(2);
    let r = w
        .cmd("apply")
        .args(&["--fact", "hostname=xyz-q7-db01", "--json", "-v"])
        .run();
    r.snapshot(&w, "repoint-json-verbose.txt");
    w.assert_no_secrets(&[&r], &[]);
}

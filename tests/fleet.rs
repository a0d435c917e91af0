//! Issue 13, the small fleet: 600 hosts over 250 new tenants against one dtsim with TLS, then
//! the next run on every host; the same checks `scripts/fleet.sh` makes at 12,000 hosts.

mod fleet_driver;

use std::os::unix::fs::PermissionsExt;

use dtsim::{Dtsim, Options};
use fleet_driver::{check, report, Fleet, TokenAudit};

const BIN: &str = env!("CARGO_BIN_EXE_oneagent-bootstrap");

#[test]
fn six_hundred_hosts_over_two_hundred_fifty_new_tenants() {
    let sim = Dtsim::start_with(Options {
        tls: true,
        ..Options::default()
    })
    .expect("dtsim starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, sim.ca_pem()).expect("write CA");
    let token_file = dir.path().join("cluster-token");
    std::fs::write(&token_file, sim.cluster_token()).expect("write token");
    // The bootstrapper refuses a token file others may read.
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600))
        .expect("chmod token");
    let fleet = Fleet {
        bin: BIN.into(),
        url: sim.url(),
        ca,
        cluster_token_file: token_file,
        work: dir.path().join("hosts"),
        hosts: 600,
        tenants: 250,
        parallel: 16,
        extra: Vec::new(),
    };
    let first = fleet.wave();
    let second = fleet.wave();
    let audit = TokenAudit::of(&fleet.admin("GET", "/__dtsim/tokens"));
    println!(
        "{}{}{audit:?}",
        report(&fleet, "first", &first),
        report(&fleet, "second", &second)
    );
    let missed = check(&fleet, &first, &second, &audit, &[]);
    let first_ten: Vec<&String> = missed.iter().take(10).collect();
    assert!(
        missed.is_empty(),
        "{} missed, the first: {first_ten:#?}",
        missed.len()
    );
    assert_eq!(audit.installer_minted, 600, "one installer token per host");
    assert!(
        first.runs.iter().all(|r| r.requests <= 6),
        "at most 6 requests per host: {:?}",
        first.runs.iter().map(|r| r.requests).max()
    );
}

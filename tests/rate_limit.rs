//! Issue 13, the bootstrapper under a rate-limited cluster: `Retry-After` as an HTTP date is
//! honoured, a limit that does not clear ends in exit 4 with nothing half-done, and `--splay`
//! delays a run's first request but never a converged run.

mod harness;

use std::time::{Duration, Instant};

use dtsim::{Fault, FaultRule};
use harness::World;

const LOOKUP: &str = "/api/cluster/v2/environments/*";
const INSTALLER: &str = "/e/*/api/v1/deployment/installer/agent/unix/default/latest";

fn rule(method: &str, path: &str, times: Option<u32>, fault: Fault) -> FaultRule {
    FaultRule {
        method: Some(method.into()),
        path: path.into(),
        times,
        fraction: None,
        fault,
    }
}

/// 429 on GETs of `path` with `Retry-After` as the HTTP date `secs` from now.
fn until_date(path: &str, times: Option<u32>, secs: u64) -> FaultRule {
    let fault = Fault::RateLimitDate {
        retry_after_secs: secs,
    };
    rule("GET", path, times, fault)
}

/// Seconds of every "trying again in X s" note.
fn waits(stderr: &str) -> Vec<f64> {
    stderr
        .split("trying again in ")
        .skip(1)
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .collect()
}

/// Neither the cluster token nor any whole token in `text`.
#[track_caller]
fn no_secret(w: &World, text: &str) {
    let token = regex::Regex::new(r"dt0c01\.[A-Z2-7]{24}\.[A-Z2-7]{64}").expect("regex");
    assert!(
        !text.contains(&w.sim.cluster_token()),
        "cluster token in {text}"
    );
    assert!(!token.is_match(text), "a token in {text}");
}

#[test]
fn retry_after_as_an_http_date_is_waited_for() {
    let w = World::new();
    w.sim.add_fault(until_date(LOOKUP, Some(1), 2));
    let t = Instant::now();
    let r = w.cmd("apply").run();
    r.code(2);
    // The date has whole seconds: the wait is 1-2 s, far above the backoff's own 0.25-0.5 s.
    let waited = waits(&r.stderr);
    assert_eq!(waited.len(), 1, "{}", r.stderr);
    assert!((1.0..=2.1).contains(&waited[0]), "{waited:?}");
    assert!(t.elapsed() >= Duration::from_secs(1));
    assert!(w.installed());
}

#[test]
fn a_limit_that_does_not_clear_ends_in_exit_4_with_nothing_half_done() {
    let w = World::new();
    w.sim.add_fault(until_date(INSTALLER, None, 1));
    let r = w.cmd("apply").args(&["--retries", "2"]).run();
    r.code(4)
        .stderr_has("429")
        .stderr_has("gave up after 3 tries");
    assert_eq!(waits(&r.stderr).len(), 2, "{}", r.stderr);
    assert!(!w.installed(), "nothing installed");
    // The installer token minted for the download is revoked; nothing else lives long.
    let tokens = w.admin("/__dtsim/tokens");
    for t in tokens.as_array().expect("tokens") {
        if t["environment"].is_null() {
            continue;
        }
        let short = t["expiresMs"]
            .as_u64()
            .zip(t["createdMs"].as_u64())
            .is_some_and(|(e, c)| e - c <= 15 * 60 * 1000);
        assert!(t["alive"] == false || short, "token left alive: {t}");
        if t["scopes"] == serde_json::json!(["InstallerDownload"]) {
            assert_eq!(t["deleted"], true, "installer token revoked: {t}");
        }
    }
    // Only the lock and status files are left in the state dir (no download), and no secret.
    for f in World::files_under(&w.state) {
        let name = f.strip_prefix(&w.state).unwrap_or(&f).display().to_string();
        assert!(
            ["lock", "status.json"].contains(&name.as_str()),
            "left: {name}"
        );
        no_secret(
            &w,
            &String::from_utf8_lossy(&std::fs::read(&f).unwrap_or_default()),
        );
    }
    no_secret(&w, &r.stdout);
    no_secret(&w, &r.stderr);
    // Once the cluster answers again, the next run converges.
    w.sim.clear_faults();
    w.cmd("apply").run().code(2);
    w.cmd("apply").run().code(0);
}

/// The wait the `--splay` note announces, if any.
fn splay_note(stderr: &str) -> Option<f64> {
    stderr
        .split("note: waiting ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next()?.parse::<f64>().ok())
}

#[test]
fn splay_delays_the_first_request_and_never_a_converged_run() {
    let w = World::new();
    // A run that needs the network waits its share, then fails on the first request.
    w.sim
        .add_fault(rule("GET", LOOKUP, Some(1), Fault::Status { status: 400 }));
    let r = w
        .cmd("apply")
        .args(&["--splay", "3s", "--retries", "0"])
        .run();
    r.code(4);
    let first = splay_note(&r.stderr).expect("the splay note gives the wait");
    assert!((0.0..=3.0).contains(&first), "{first}");
    // The same host waits the same share on every run, and sends nothing before it.
    let t = Instant::now();
    let r = w.cmd("apply").args(&["--splay", "3s", "--json"]).run();
    r.code(2);
    assert_eq!(splay_note(&r.stderr), Some(first), "{}", r.stderr);
    assert!(t.elapsed().as_secs_f64() >= first);
    // Converged: no request, no wait.
    let t = Instant::now();
    let r = w.cmd("apply").args(&["--splay", "1h", "--json"]).run();
    r.code(0);
    assert_eq!(splay_note(&r.stderr), None, "{}", r.stderr);
    assert_eq!(r.json()["requests"], 0);
    assert!(t.elapsed() < Duration::from_secs(60));
    // More than an hour is a configuration error.
    w.cmd("apply").args(&["--splay", "2h"]).run().code(3);
}

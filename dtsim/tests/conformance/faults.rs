//! Fault injection: every kind, times/fraction/method matching, the admin route and start-up
//! rules. Body-level kinds are checked on the bytes that actually arrive.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dtsim::{Fault, FaultRule};
use serde_json::json;

use crate::common::Sim;

const LATEST: &str = "/e/abc-p1/api/v1/deployment/installer/agent/unix/default/latest";
const INSTALLERS: &str = "/e/*/api/v1/deployment/installer/agent/*";

fn rule(path: &str, fault: Fault) -> FaultRule {
    FaultRule {
        method: None,
        path: path.into(),
        times: None,
        fraction: None,
        fault,
    }
}

fn setup() -> (Sim, String) {
    let s = Sim::new();
    let tok = s.env_with_token("abc-p1");
    (s, tok)
}

#[test]
fn status_fault_for_n_requests() {
    let (s, tok) = setup();
    s.sim.add_fault(FaultRule {
        times: Some(2),
        ..rule(INSTALLERS, Fault::Status { status: 503 })
    });
    s.get(LATEST, Some(&tok)).assert_error(503, "injected");
    s.get(&format!("{LATEST}/metainfo"), Some(&tok))
        .assert_error(503, "injected");
    assert_eq!(s.get(LATEST, Some(&tok)).status, 200);
    let statuses: Vec<u16> = s
        .sim
        .requests()
        .iter()
        .rev()
        .take(3)
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [200, 503, 503]);
}

#[test]
fn rate_limit_fault_headers() {
    let (s, tok) = setup();
    s.sim.add_fault(FaultRule {
        times: Some(1),
        ..rule(
            "*/connectioninfo",
            Fault::RateLimit {
                retry_after_secs: 7,
            },
        )
    });
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros();
    let r = s.get(
        "/e/abc-p1/api/v1/deployment/installer/agent/connectioninfo",
        Some(&tok),
    );
    r.assert_error(429, "Too Many Requests");
    assert_eq!(r.header("retry-after"), Some("7"));
    assert!(
        r.header("x-ratelimit-limit")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    let reset: u128 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
    assert!(
        reset >= before + 7_000_000 && reset < before + 9_000_000,
        "reset {reset} is microseconds"
    );
    assert_eq!(
        s.get(
            "/e/abc-p1/api/v1/deployment/installer/agent/connectioninfo",
            Some(&tok)
        )
        .status,
        200
    );
}

#[test]
fn delay_fault() {
    let (s, tok) = setup();
    s.sim
        .add_fault(rule("*/metainfo", Fault::Delay { ms: 300 }));
    let t = Instant::now();
    assert_eq!(s.get(&format!("{LATEST}/metainfo"), Some(&tok)).status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
}

/// A raw HTTP/1.1 GET: (Content-Length, body bytes received before the connection closed).
fn raw_get(s: &Sim, path: &str, tok: &str) -> (usize, Vec<u8>) {
    let addr = s.sim.url().trim_start_matches("http://").to_string();
    let mut c = TcpStream::connect(&addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Api-Token {tok}\r\n\r\n"
    )
    .unwrap();
    let mut all = Vec::new();
    let _ = c.read_to_end(&mut all); // a reset after the cut is fine too
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers")
        + 4;
    let head = String::from_utf8_lossy(&all[..split]).to_ascii_lowercase();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("content-length");
    (len, all[split..].to_vec())
}

#[test]
fn cut_fault_closes_before_content_length() {
    let (s, tok) = setup();
    let (len, full) = raw_get(&s, LATEST, &tok);
    assert_eq!(full.len(), len);
    s.sim.add_fault(FaultRule {
        times: Some(1),
        ..rule(INSTALLERS, Fault::Cut { after_bytes: 1000 })
    });
    let (len2, cut) = raw_get(&s, LATEST, &tok);
    assert_eq!(len2, len, "headers still announce the whole body");
    assert_eq!(cut.len(), 1000);
    assert_eq!(cut, full[..1000].to_vec());
    // An HTTP client sees a failed body read.
    s.sim.add_fault(FaultRule {
        times: Some(1),
        ..rule(INSTALLERS, Fault::Cut { after_bytes: 10 })
    });
    let resp = s
        .agent
        .get(s.url(LATEST))
        .header("Authorization", format!("Api-Token {tok}"))
        .send()
        .unwrap();
    assert!(resp.bytes().is_err());
    // Works on JSON answers too.
    s.sim.add_fault(FaultRule {
        times: Some(1),
        ..rule("*/metainfo", Fault::Cut { after_bytes: 5 })
    });
    let (len, body) = raw_get(&s, &format!("{LATEST}/metainfo"), &tok);
    assert!(len > 5);
    assert_eq!(body, b"{\"lat");
}

#[test]
fn stall_and_trickle_keep_the_bytes() {
    let (s, tok) = setup();
    let normal = s.get(LATEST, Some(&tok)).bytes;
    s.sim.add_fault(FaultRule {
        times: Some(1),
        ..rule(
            INSTALLERS,
            Fault::Stall {
                after_bytes: 1000,
                ms: 400,
            },
        )
    });
    let t = Instant::now();
    let stalled = s.get(LATEST, Some(&tok));
    assert!(t.elapsed() >= Duration::from_millis(400));
    assert_eq!(stalled.bytes, normal);

    s.sim.add_fault(FaultRule {
        times: Some(1),
        ..rule(
            INSTALLERS,
            Fault::Trickle {
                chunk_bytes: 4096,
                interval_ms: 30,
            },
        )
    });
    let chunks = normal.len().div_ceil(4096) as u32;
    let t = Instant::now();
    let trickled = s.get(LATEST, Some(&tok));
    assert!(
        t.elapsed() >= Duration::from_millis(30) * (chunks - 1),
        "{chunks} chunks"
    );
    assert_eq!(trickled.bytes, normal);
}

#[test]
fn flip_byte_changes_one_byte() {
    let (s, tok) = setup();
    let normal = s.get(LATEST, Some(&tok)).bytes;
    s.sim.add_fault(FaultRule {
        times: Some(1),
        ..rule(INSTALLERS, Fault::FlipByte { offset: 100 })
    });
    let flipped = s.get(LATEST, Some(&tok)).bytes;
    assert_eq!(flipped.len(), normal.len());
    let diff: Vec<usize> = (0..normal.len())
        .filter(|&i| normal[i] != flipped[i])
        .collect();
    assert_eq!(diff, [100]);
}

#[test]
fn installer_kinds_change_the_installer() {
    let (s, tok) = setup();
    let normal = s.get(LATEST, Some(&tok));
    for (fault, marker) in [
        (Fault::BadSignature, None),
        (Fault::OtherCa, None),
        (Fault::InstallerFails { exit_code: 7 }, Some("7")),
        (Fault::InstallerHangs, None),
    ] {
        s.sim.add_fault(FaultRule {
            times: Some(1),
            ..rule(INSTALLERS, fault.clone())
        });
        let spoiled = s.get(LATEST, Some(&tok));
        assert_eq!(spoiled.status, 200, "{fault:?}");
        assert_ne!(
            spoiled.bytes, normal.bytes,
            "{fault:?} must change the bytes"
        );
        assert_ne!(spoiled.header("etag"), normal.header("etag"), "{fault:?}");
        if let Some(m) = marker {
            assert!(String::from_utf8_lossy(&spoiled.bytes).contains(m));
        }
        // Used up: the next download is the normal one again.
        assert_eq!(s.get(LATEST, Some(&tok)).bytes, normal.bytes);
    }
    // OtherCa: signed by a CA whose certificate is not dtsim's.
    s.sim.add_fault(rule(INSTALLERS, Fault::OtherCa));
    let other = String::from_utf8_lossy(&s.get(LATEST, Some(&tok)).bytes).into_owned();
    let ours = String::from_utf8_lossy(&normal.bytes).into_owned();
    let sig = |t: &str| {
        t.split("----SIGNED-INSTALLER")
            .nth(1)
            .unwrap_or_default()
            .to_string()
    };
    assert_ne!(sig(&other), sig(&ours));
}

#[test]
fn matching_by_method_fraction_and_glob() {
    let (s, tok) = setup();
    s.sim.add_fault(FaultRule {
        method: Some("POST".into()),
        ..rule("*", Fault::Status { status: 500 })
    });
    assert_eq!(s.get(LATEST, Some(&tok)).status, 200);
    s.post(
        "/e/abc-p1/api/v2/apiTokens/lookup",
        Some(&tok),
        &json!({"token": tok}),
    )
    .assert_error(500, "injected");
    s.sim.clear_faults();
    s.sim.add_fault(FaultRule {
        fraction: Some(0.0),
        ..rule("*", Fault::Status { status: 500 })
    });
    for _ in 0..5 {
        assert_eq!(s.get(LATEST, Some(&tok)).status, 200);
    }
    s.sim.clear_faults();
    s.sim.add_fault(FaultRule {
        fraction: Some(1.0),
        ..rule("/e/abc-p1/*/metainfo", Fault::Status { status: 502 })
    });
    for _ in 0..3 {
        assert_eq!(s.get(&format!("{LATEST}/metainfo"), Some(&tok)).status, 502);
    }
    assert_eq!(s.get(LATEST, Some(&tok)).status, 200);
}

#[test]
fn faults_admin_route_and_startup_rules() {
    let s = Sim::with(dtsim::Options {
        faults: vec![FaultRule {
            times: Some(1),
            ..rule("/api/cluster/*", Fault::Status { status: 500 })
        }],
        ..Default::default()
    });
    let ct = s.cluster();
    s.get("/api/cluster/v2/environments", Some(&ct))
        .assert_error(500, "injected");
    assert_eq!(s.get("/api/cluster/v2/environments", Some(&ct)).status, 200);

    let one = json!({"method": "GET", "path": "/api/cluster/*", "times": 1, "fault": {"kind": "status", "status": 418}});
    let r = s.post("/__dtsim/faults", None, &one);
    assert_eq!(r.assert_json(200)["added"], 1);
    let many = json!([
        {"path": "/nothing", "fault": {"kind": "delay", "ms": 1}},
        {"path": "/nothing", "fraction": 0.5, "fault": {"kind": "trickle", "chunk_bytes": 1, "interval_ms": 1}},
        {"path": "/nothing", "fault": {"kind": "installer_fails", "exit_code": 3}},
        {"path": "/nothing", "fault": {"kind": "bad_signature"}},
    ]);
    assert_eq!(
        s.post("/__dtsim/faults", None, &many).assert_json(200)["added"],
        4
    );
    let listed = s.get("/__dtsim/faults", None).assert_json(200);
    assert_eq!(listed.as_array().unwrap().len(), 5);
    assert_eq!(listed[0]["fault"]["kind"], "status");
    assert_eq!(listed[4]["fault"], json!({"kind": "bad_signature"}));
    s.get("/api/cluster/v2/environments", Some(&ct))
        .assert_error(418, "injected");
    assert_eq!(
        s.get("/__dtsim/faults", None)
            .json()
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(s.delete("/__dtsim/faults", None).status, 204);
    assert_eq!(s.get("/__dtsim/faults", None).json(), json!([]));

    for bad in [
        json!({"path": "*", "fault": {"kind": "explode"}}),
        json!({"path": "*", "fault": {"kind": "status", "status": 99}}),
        json!({"path": "*", "fraction": 2.0, "fault": {"kind": "delay", "ms": 1}}),
        json!({"path": "", "fault": {"kind": "delay", "ms": 1}}),
        json!({"path": "*", "tims": 1, "fault": {"kind": "delay", "ms": 1}}),
        json!({"path": "*", "fault": {"kind": "trickle", "chunk_bytes": 0, "interval_ms": 1}}),
    ] {
        s.post("/__dtsim/faults", None, &bad).assert_error(400, "");
    }
    assert_eq!(s.get("/__dtsim/faults", None).json(), json!([]));
}

#[test]
fn body_faults_on_a_padded_installer() {
    let s = Sim::with(dtsim::Options {
        installer_size: Some(4 << 20),
        ..Default::default()
    });
    let tok = s.env_with_token("abc-p1");
    let normal = s.get(LATEST, Some(&tok)).bytes;
    assert!(normal.len() > 4_000_000);
    let offset = normal.len() as u64 - 100;
    s.sim.add_fault(FaultRule {
        times: Some(1),
        ..rule(INSTALLERS, Fault::FlipByte { offset })
    });
    let flipped = s.get(LATEST, Some(&tok)).bytes;
    let diff: Vec<usize> = (0..normal.len())
        .filter(|&i| normal[i] != flipped[i])
        .collect();
    assert_eq!(diff, [offset as usize]);
    s.sim.add_fault(FaultRule {
        times: Some(1),
        ..rule(
            INSTALLERS,
            Fault::Cut {
                after_bytes: 3 << 20,
            },
        )
    });
    let (len, cut) = raw_get(&s, LATEST, &tok);
    assert_eq!(len, normal.len());
    assert_eq!(cut.len(), 3 << 20);
    assert_eq!(cut[..], normal[..3 << 20]);
}

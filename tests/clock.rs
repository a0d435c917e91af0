//! Token expiry in simulated time (dtsim's clock, `POST /__dtsim/clock`): a token left alive
//! really stops working after its 15 minutes, and the next run still converges with a new one.

mod harness;

use dtsim::Fault;
use harness::{http, World};
use serde_json::{json, Value};

const FIFTEEN_MIN_MS: u64 = 15 * 60 * 1000;

fn advance_clock(w: &World, ms: u64) {
    http::send_json(
        reqwest::Method::POST,
        &format!("{}/__dtsim/clock", w.sim.url()),
        None,
        &json!({ "advanceMs": ms }),
    );
}

/// A 15-minute `InstallerDownload` token in `env`, minted the way the bootstrapper mints its
/// own (the binary never shows its token, so the test needs one it can present itself).
fn fifteen_minute_token(w: &World, env: &str) -> String {
    let manage = w.env_token(env, &["apiTokens.write"]);
    let t = http::send_json(
        reqwest::Method::POST,
        &format!("{}/e/{env}/api/v2/apiTokens", w.sim.url()),
        Some(&manage),
        &json!({"name": "test 15m", "scopes": ["InstallerDownload"],
            "expirationDate": "now+15m"}),
    );
    t["token"].as_str().expect("token").to_string()
}

fn minted_alive(w: &World) -> Vec<(String, bool)> {
    w.assert_run_tokens_short_lived()
        .iter()
        .filter(|t| t["scopes"] == json!(["InstallerDownload"]))
        .map(|t| {
            (
                t["id"].as_str().expect("id").to_string(),
                t["alive"] == true,
            )
        })
        .collect()
}

#[test]
fn a_token_left_alive_dies_after_15_minutes_and_the_next_run_mints_anew() {
    let w = World::new();
    // The revoke fails: the minted token outlives the run and only its expiry ends it.
    w.fault(
        "DELETE",
        "/e/*/api/v2/apiTokens/*",
        Fault::Status { status: 500 },
    );
    let first = w.cmd("apply").args(&["--retries", "0"]).run();
    first
        .code(2)
        .stderr_has("could not revoke installer download token");
    let minted = minted_alive(&w);
    assert_eq!(minted.len(), 1, "{minted:?}");
    assert!(minted[0].1, "the revoke was meant to fail: {minted:?}");
    let operator = fifteen_minute_token(&w, "abc-p1");
    let run_as_operator = |host: &str| {
        w.cmd("apply")
            .host(host)
            .without_cluster_token()
            .env("DT_API_TOKEN", &operator)
            .args(&["--api-url", &format!("{}/e/abc-p1/api", w.sim.url())])
            .args(&["--retries", "0"])
            .run()
    };
    // Within its 15 minutes (14 of them simulated) the operator's token still downloads.
    advance_clock(&w, FIFTEEN_MIN_MS - 60_000);
    run_as_operator("abc-p1-web02").code(2);
    assert!(minted_alive(&w)[0].1, "died before its 15 minutes");

    advance_clock(&w, 61_000);
    assert_eq!(minted_alive(&w), vec![(minted[0].0.clone(), false)]);
    // Dynatrace answers an expired token with 401: a network/API failure (exit 4).
    let expired = run_as_operator("abc-p1-web03");
    expired.code(4);
    assert!(
        w.sim
            .requests()
            .iter()
            .any(|r| r.status == 401 && r.path.starts_with("/e/abc-p1/api/")),
        "no 401 for the expired token{}",
        expired.dump()
    );
    assert!(!w.dir.path().join("abc-p1-web03/oneagent").exists());

    // The cluster token does not expire: the next run mints a new token and converges.
    w.sim.clear_faults();
    w.sim.clear_requests();
    let next = w.cmd("apply").host("abc-p1-web03").run();
    next.code(2);
    let fresh: Vec<Value> = w
        .assert_run_tokens_short_lived()
        .into_iter()
        .filter(|t| t["scopes"] == json!(["InstallerDownload"]) && t["id"] != minted[0].0)
        .collect();
    assert_eq!(fresh.len(), 1, "not one new download token: {fresh:?}");
    assert_eq!(
        (&fresh[0]["alive"], &fresh[0]["deleted"]),
        (&json!(false), &json!(true))
    );
    w.sim.clear_requests();
    w.cmd("apply")
        .host("abc-p1-web03")
        .run()
        .code(0)
        .requests(&[]);
    w.assert_no_secrets(&[&first, &expired, &next], &[&operator]);
}

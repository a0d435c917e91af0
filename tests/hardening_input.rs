//! Issue 7, input side: no token outlives the run, secrets beyond tokens, token files, flag
//! values, limits and validation before the first request. The real binary against dtsim.

mod harness;

use dtsim::Fault;
use harness::World;

const TOKENS: &str = "/e/abc-p1/api/v2/apiTokens";

/// Every token left alive in abc-p1 expires within 15 minutes (a token-management token
/// from `createToken=true` never does).
fn assert_no_token_outlives(w: &World) {
    for (name, left) in w.alive_tokens("abc-p1") {
        assert!(
            left.is_some_and(|s| s <= 15 * 60),
            "token '{name}' outlives the run (expires in {left:?} s)"
        );
    }
}

#[test]
fn no_token_outlives_a_tenant_creation() {
    let w = World::new();
    let first = w.cmd("apply").arg("--json").run();
    first.code(2);
    let sent = w.requests().len();
    assert!(
        sent <= 6,
        "the first host of a new tenant sent {sent} requests{}",
        first.dump()
    );
    assert_eq!(first.json()["requests"], sent);
    assert_no_token_outlives(&w);
}

#[test]
fn no_token_outlives_a_cut_mint_answer() {
    let w = World::new();
    // The server mints, then the answer is cut: the retry mints a second token.
    w.fault_times("POST", TOKENS, 1, Fault::Cut { after_bytes: 5 });
    let run = w.cmd("apply").run();
    run.code(2);
    let minted = w
        .requests()
        .iter()
        .filter(|r| *r == &format!("POST {TOKENS}"))
        .count();
    assert_eq!(minted, 2, "{}", run.dump());
    assert_no_token_outlives(&w);
    let named: Vec<_> = w
        .admin("/__dtsim/tokens")
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            t["scopes"] == serde_json::json!(["InstallerDownload"]) && t["environment"] == "abc-p1"
        })
        .cloned()
        .collect();
    assert_eq!(named.len(), 2, "{named:?}");
    assert!(named.iter().all(|t| t["alive"] == false), "{named:?}");
}

#[test]
fn no_token_outlives_a_mint_that_never_answers() {
    let w = World::new();
    w.fault("POST", TOKENS, Fault::Cut { after_bytes: 5 });
    let run = w.cmd("apply").args(&["--retries", "1"]).run();
    run.code(4);
    let tokens = w.admin("/__dtsim/tokens");
    let installer: Vec<_> = tokens
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["scopes"] == serde_json::json!(["InstallerDownload"]))
        .collect();
    assert_eq!(installer.len(), 2, "{tokens}{}", run.dump());
    assert!(installer.iter().all(|t| t["alive"] == false), "{tokens}");
    assert_no_token_outlives(&w);
}

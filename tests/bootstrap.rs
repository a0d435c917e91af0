//! The acceptance list: the real binary against dtsim on port 0.

mod harness;

use std::time::Duration;

use dtsim::Fault;
use harness::{World, V_MID, V_NEW, V_OLD};

const ENV: &str = "/api/cluster/v2/environments/abc-p1";
const TOKENS: &str = "/e/abc-p1/api/v2/apiTokens";
const LATEST: &str = "/e/abc-p1/api/v1/deployment/installer/agent/unix/default/latest";

fn fresh_install_requests() -> Vec<String> {
    vec![
        format!("GET {ENV}"),
        format!("PUT {ENV}"),
        format!("POST {ENV}/tokenManagementToken"),
        format!("POST {TOKENS}"),
        format!("GET {LATEST}"),
        "DELETE".into(), // completed below with the token id
    ]
}

#[test]
fn fresh_host_new_tenant_then_converged() {
    let w = World::new();
    let first = w.cmd("apply").arg("--json").run();
    first.code(2);
    let mut want = fresh_install_requests();
    let id = w.assert_minted_token_revoked("abc-p1");
    want[5] = format!("DELETE {TOKENS}/{id}");
    let want: Vec<&str> = want.iter().map(String::as_str).collect();
    first.requests(&want);
    let j = first.json();
    assert_eq!(j["changed"], true);
    assert_eq!(j["exitCode"], 2);
    assert_eq!(j["tenant"], "abc-p1");
    assert_eq!(j["actions"][0]["kind"], "install");
    assert_eq!(j["version"], V_NEW);
    assert_eq!(j["requests"], 6);
    assert!(j["sha256"].as_str().is_some_and(|s| s.len() == 64), "{j}");
    assert!(j["error"].is_null());
    assert_eq!(w.oneagentctl(&["--get-tenant"]), "abc-p1");
    let status = w.status_json();
    assert_eq!(status["state"], "Installed");
    assert_eq!(status["isAgentInstalled"], true);
    assert_eq!(status["version"], V_NEW);
    assert_eq!(status["installerSha256"], j["sha256"]);
    // The run says which root verified the installer, and that it replaced the pin.
    let root = j["installerRoot"].as_str().unwrap_or_default();
    assert!(
        root.contains("SHA-256") && root.contains("replaces the pinned Dynatrace root"),
        "{j}"
    );
    assert_eq!(status["installerRoot"], j["installerRoot"]);

    // Same host again: nothing to do, not a single request.
    w.sim.clear_requests();
    let again = w.cmd("apply").run();
    again.code(0).requests(&[]).stdout_has("converged");
    w.cmd("check").run().code(0).requests(&[]);
    let st = w.cmd("status").arg("--json").run();
    st.code(0);
    assert_eq!(st.json()["state"], "Installed");

    // Nothing secret anywhere we write.
    w.assert_no_secrets(&[&first, &again], &[]);
    // The temp download dir is gone: only our three files remain.
    let mut names: Vec<String> = std::fs::read_dir(&w.state)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["last-install.log", "lock", "status.json"]);
}

#[test]
fn check_on_a_fresh_host_says_install_without_requests() {
    let w = World::new();
    // A download directory a killed run left behind is removed by apply (under the lock);
    // check changes nothing, not even that.
    std::fs::create_dir_all(w.state.join(".download-stale")).unwrap();
    std::fs::write(w.state.join(".download-stale/installer.sh"), "x").unwrap();
    w.cmd("check")
        .run()
        .code(2)
        .requests(&[])
        .stdout_has("would change: install");
    assert!(!w.installed());
    assert!(w.state.join(".download-stale").exists());
    w.cmd("apply").run().code(2);
    assert!(!w.state.join(".download-stale").exists());
}

#[test]
fn settings_drift_is_reconfigured_without_download() {
    let w = World::new();
    w.cmd("apply").args(&["--host-group", "web"]).run().code(2);
    assert_eq!(w.oneagentctl(&["--get-host-group"]), "web");
    w.oneagentctl(&["--set-host-group=somebody-else"]);
    w.sim.clear_requests();
    let drift = w
        .cmd("apply")
        .args(&["--host-group", "web", "--json"])
        .run();
    drift.code(2).requests(&[]);
    assert_eq!(drift.json()["actions"][0]["kind"], "reconfigure");
    assert_eq!(w.oneagentctl(&["--get-host-group"]), "web");
    w.cmd("apply")
        .args(&["--host-group", "web"])
        .run()
        .code(0)
        .requests(&[]);
    // Tags: declared set is exact.
    w.cmd("apply")
        .args(&[
            "--host-group",
            "web",
            "--host-tag",
            "a",
            "--host-tag",
            "b=c",
        ])
        .run()
        .code(2)
        .requests(&[]);
    let sorted_tags = || {
        let mut t: Vec<String> = w
            .oneagentctl(&["--get-host-tags"])
            .lines()
            .map(str::to_string)
            .collect();
        t.sort();
        t
    };
    assert_eq!(sorted_tags(), ["a", "b=c"]);
    w.oneagentctl(&["--set-host-tag=stray"]);
    w.cmd("apply")
        .args(&[
            "--host-group",
            "web",
            "--host-tag",
            "a",
            "--host-tag",
            "b=c",
        ])
        .run()
        .code(2);
    assert_eq!(sorted_tags(), ["a", "b=c"], "the declared set, exactly");
}

#[test]
fn wrong_tenant_is_repointed_without_download() {
    let w = World::new();
    w.cmd("apply").run().code(2);
    w.sim.clear_requests();
    let r = w
        .cmd("apply")
        .args(&["--fact", "hostname=xyz-q7-db01", "--json"])
        .run();
    r.code(2);
    assert_eq!(r.json()["actions"][0]["kind"], "repoint");
    let got = w.requests();
    assert!(
        got.iter().any(|l| l.ends_with("/connectioninfo")),
        "{got:?}"
    );
    assert!(
        !got.iter().any(|l| l.contains("/installer/agent/unix")),
        "downloaded: {got:?}"
    );
    assert!(
        got.last().is_some_and(|l| l.starts_with("DELETE")),
        "{got:?}"
    );
    assert_eq!(w.oneagentctl(&["--get-tenant"]), "xyz-q7");
    // The one run that handles the new tenant's token: nothing secret anywhere, and the token
    // minted to read it is dead.
    w.assert_minted_token_revoked("xyz-q7");
    w.assert_no_secrets(&[&r], &[]);
    w.sim.clear_requests();
    w.cmd("apply")
        .args(&["--fact", "hostname=xyz-q7-db01"])
        .run()
        .code(0)
        .requests(&[]);
}

#[test]
fn upgrade_policy_installs_newer_and_never_downgrades() {
    let w = World::new();
    w.cmd("apply").args(&["--version", V_MID]).run().code(2);
    assert_eq!(w.oneagentctl(&["--version"]), V_MID);
    // A pinned version never asks for the target: whether an upgrade exists is unknown.
    let pinned = w.status_json();
    assert!(pinned["isUpgradeAvailable"].is_null(), "{pinned}");
    // latest without --upgrade: an installed agent on the right tenant is converged.
    w.sim.clear_requests();
    w.cmd("apply").run().code(0).requests(&[]);
    // --upgrade with a newer target installs it.
    let up = w.cmd("apply").args(&["--upgrade", "--json"]).run();
    up.code(2);
    assert_eq!(up.json()["actions"][0]["kind"], "upgrade");
    assert_eq!(w.oneagentctl(&["--version"]), V_NEW);
    assert_eq!(w.status_json()["isUpgradeAvailable"], false);
    // An older target: no downgrade. (Interval 0: ask now, not the answer remembered above.)
    w.set_target_version("abc-p1", V_OLD);
    let down = w
        .cmd("apply")
        .args(&["--upgrade", "--json", "--version-check-interval", "0s"])
        .run();
    down.code(0).stderr_has("not downgrading");
    assert_eq!(down.json()["actions"], serde_json::json!([]));
    // The converged --upgrade path asked the API with a token of its own: revoked as well.
    w.assert_run_tokens_short_lived();
    w.assert_no_secrets(&[&up, &down], &[]);
    assert_eq!(w.oneagentctl(&["--version"]), V_NEW);
    // Explicit older version: no downgrade unless allowed.
    w.cmd("apply").args(&["--version", V_MID]).run().code(0);
    w.cmd("apply")
        .args(&["--version", V_MID, "--allow-downgrade"])
        .run()
        .code(2);
    assert_eq!(w.oneagentctl(&["--version"]), V_MID);
}

#[test]
fn ensure_absent_uninstalls() {
    let w = World::new();
    w.cmd("apply").run().code(2);
    w.sim.clear_requests();
    w.cmd("apply")
        .args(&["--ensure", "absent"])
        .run()
        .code(2)
        .requests(&[]);
    assert!(!w.installed());
    assert_eq!(w.status_json()["state"], "NotInstalled");
    w.cmd("apply").args(&["--ensure", "absent"]).run().code(0);
}

#[test]
fn exit_3_for_bad_templates_flags_and_values() {
    let w = World::new();
    w.cmd("apply")
        .set("--tenant-template", "{customer}-{nope}")
        .run()
        .code(3)
        .stderr_has("{customer}-{nope}")
        .stderr_has("no fact named 'nope'")
        .requests(&[]);
    w.cmd("apply")
        .set("--tenant-template", "{customer}-{team}")
        .args(&["--fact", "team=x;rm -rf /"])
        .run()
        .code(3);
    w.cmd("apply")
        .set("--tenant-template", "{customer|first}{{x}}")
        .run()
        .code(3)
        .stderr_has("^[a-zA-Z0-9_-]{1,70}$");
    w.bare(&["apply", "--no-such-flag"]).run().code(3);
    w.bare(&[
        "apply",
        "--cluster-token",
        "dt0c01.AAAAAAAAAAAAAAAAAAAAAAAA.BBBB",
    ])
    .run()
    .code(3);
    w.bare(&["frobnicate"]).run().code(3);
    w.bare(&[]).run().code(3);
    w.bare(&["--help"]).run().code(0).stdout_has("apply");
    w.bare(&["--version"])
        .run()
        .code(0)
        .stdout_has("oneagent-bootstrap ");
    w.bare(&["-V"]).run().code(0);
    w.cmd("apply")
        .set("--cluster-url", "http://cluster.example.com")
        .run()
        .code(3)
        .stderr_has("loopback");
    // No Dynatrace address or no token: a configuration error before any request, even
    // before the default installer root would be fetched (no --installer-ca-file here).
    let state = w.state.display().to_string();
    let install = w.install.display().to_string();
    let base = ["apply", "--tenant", "abc-p1", "--state-dir", &state];
    let no_url = [&base[..], &["--install-path", &install]].concat();
    w.bare(&no_url)
        .env("DT_CLUSTER_TOKEN", &w.sim.cluster_token())
        .run()
        .code(3)
        .stderr_has("--cluster-url");
    let url = w.sim.url();
    let no_token = [&no_url[..], &["--cluster-url", &url]].concat();
    w.bare(&no_token)
        .run()
        .code(3)
        .stderr_has("a token is needed")
        .requests(&[]);
    let j = w.cmd("apply").args(&["--sha256", "xyz", "--json"]).run();
    j.code(3);
    assert_eq!(j.json()["exitCode"], 3);
    // The template failure above happened inside the pipeline: status.json says so.
    let status = w.status_json();
    assert_eq!(status["state"], "Failed");
    assert!(
        status["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("exit 3:")),
        "{status}"
    );
}

#[test]
fn exit_4_for_api_failures_and_unknown_tenant_without_cluster_token() {
    let w = World::new();
    w.fault(
        "PUT",
        "/api/cluster/v2/environments/*",
        Fault::Status { status: 403 },
    );
    w.cmd("apply").run().code(4).stderr_has("403");
    assert!(!w.installed());
    assert_eq!(w.status_json()["state"], "Failed");

    // No cluster token, an API token of another tenant: the tenant cannot be checked or created.
    let w = World::new();
    let token_file = w.dir.path().join("api-token");
    harness::write_private(&token_file, "dt0c01.AAAAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB");
    let r = w
        .cmd("apply")
        .without_cluster_token()
        .args(&["--api-token-file", token_file.to_str().unwrap()])
        .run();
    r.code(4).stderr_has("no cluster token");
    // The error line itself (not a progress line a successful run prints too) names the
    // tenant that could not be checked.
    let error = r
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line{}", r.dump()));
    assert!(error.contains("abc-p1"), "{error}");
    w.assert_no_secrets(&[&r], &["BBBBBBBBBBBBBBBB"]);
    // Neither token: a configuration error, before any request.
    w.sim.clear_requests();
    w.cmd("apply")
        .without_cluster_token()
        .run()
        .code(3)
        .requests(&[]);
}

#[test]
fn exit_5_bad_signature_installs_nothing_and_revokes() {
    let w = World::new();
    w.fault(
        "GET",
        "/e/*/api/v1/deployment/installer/agent/*",
        Fault::BadSignature,
    );
    let r = w.cmd("apply").run();
    r.code(5);
    w.assert_no_secrets(&[&r], &[]);
    assert!(!w.installed());
    w.assert_minted_token_revoked("abc-p1");
    assert_eq!(w.status_json()["state"], "Failed");
    let leftovers: Vec<_> = std::fs::read_dir(&w.state)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".download"))
        .collect();
    assert!(leftovers.is_empty(), "temp dir left behind");

    // A pinned digest that does not match is refused too.
    let w = World::new();
    w.cmd("apply")
        .args(&["--sha256", &"0".repeat(64)])
        .run()
        .code(5);
    assert!(!w.installed());
    w.assert_minted_token_revoked("abc-p1");
}

#[test]
fn exit_5_names_the_failed_check_and_skipping_is_explicit_and_recorded() {
    // Signed by a CA that is not the trusted one: refused as an untrusted chain.
    let w = World::new();
    w.fault(
        "GET",
        "/e/*/api/v1/deployment/installer/agent/*",
        Fault::OtherCa,
    );
    let r = w.cmd("apply").run();
    r.code(5)
        .stderr_has("failed signature verification")
        .stderr_has("untrusted chain");
    assert!(!w.installed());
    w.assert_minted_token_revoked("abc-p1");

    // Content changed after signing: refused, and the message says it is the digest.
    let w = World::new();
    w.fault(
        "GET",
        "/e/*/api/v1/deployment/installer/agent/*",
        Fault::BadSignature,
    );
    let r = w.cmd("apply").run();
    r.code(5).stderr_has("digest");
    assert!(!w.installed());

    // The explicit opt-out installs it anyway, warns loudly, and status.json records it.
    let skipped = w
        .cmd("apply")
        .args(&["--insecure-skip-signature", "--json"])
        .run();
    skipped.code(2).stderr_has("WARNING");
    assert!(w.installed());
    assert_eq!(
        skipped.json()["installerRoot"],
        "skipped (--insecure-skip-signature)"
    );
    assert_eq!(
        w.status_json()["installerRoot"],
        "skipped (--insecure-skip-signature)"
    );
    w.assert_no_secrets(&[&r, &skipped], &[]);
}

#[test]
fn exit_6_installer_fails_or_hangs() {
    let w = World::new();
    w.fault(
        "GET",
        "/e/*/api/v1/deployment/installer/agent/*",
        Fault::InstallerFails { exit_code: 9 },
    );
    let r = w.cmd("apply").run();
    r.code(6).stderr_has("last-install.log");
    w.assert_minted_token_revoked("abc-p1");
    w.assert_no_secrets(&[&r], &[]);
    let log = std::fs::read_to_string(w.state.join("last-install.log")).unwrap();
    assert!(log.contains("failure simulated"), "{log}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(w.state.join("last-install.log"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let w = World::new();
    w.fault(
        "GET",
        "/e/*/api/v1/deployment/installer/agent/*",
        Fault::InstallerHangs,
    );
    let started = std::time::Instant::now();
    w.cmd("apply")
        .args(&["--installer-timeout", "1s"])
        .run()
        .code(6)
        .stderr_has("did not finish");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn exit_7_when_the_lock_stays_held() {
    use std::os::unix::io::AsRawFd;
    let w = World::new();
    std::fs::create_dir_all(&w.state).unwrap();
    let f = std::fs::File::create(w.state.join("lock")).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) }, 0);
    w.cmd("apply")
        .args(&["--lock-timeout", "300ms"])
        .run()
        .code(7)
        .stderr_has("lock")
        .requests(&[]);
    drop(f);
    w.cmd("apply")
        .args(&["--lock-timeout", "300ms"])
        .run()
        .code(2);
}

#[test]
fn two_concurrent_applies_one_installs_the_other_waits() {
    let w = World::new();
    // The first run holds the lock through a slow download, so the second surely starts while
    // it is held (without the delay they might never overlap and the test would prove nothing).
    w.fault(
        "GET",
        "/e/*/api/v1/deployment/installer/agent/*",
        Fault::Delay { ms: 1500 },
    );
    let a = w.cmd("apply").spawn();
    let lock = w.state.join("lock");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !harness::flock_held(&lock) {
        assert!(
            std::time::Instant::now() < deadline,
            "first run never took the lock"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let b = w.cmd("apply").spawn();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let show = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(a.status.code(), Some(2), "a: {}\nb: {}", show(&a), show(&b));
    assert_eq!(b.status.code(), Some(0), "a: {}\nb: {}", show(&a), show(&b));
    let installs = w
        .requests()
        .iter()
        .filter(|l| l.starts_with("GET") && l.contains("/installer/"))
        .count();
    assert_eq!(installs, 1, "{:?}", w.requests());
}

#[test]
fn tokens_from_stdin_and_env_never_from_argv() {
    let w = World::new();
    let token = w.sim.cluster_token();
    let stdin = w
        .cmd("apply")
        .without_cluster_token()
        .args(&["--cluster-token-file", "-"])
        .stdin(&format!("{token}\n"))
        .run();
    // The token read from stdin was used: the tenant was created with it.
    stdin.code(2).check(
        w.requests().contains(&format!("PUT {ENV}")),
        "tenant not created with the stdin token",
    );
    let w2 = World::new();
    let token2 = w2.sim.cluster_token();
    let env = w2
        .cmd("check")
        .without_cluster_token()
        .env("DT_CLUSTER_TOKEN", &token2)
        .run();
    env.code(2);
    // A token on the command line is refused before any request, and not echoed.
    for flag in ["--cluster-token", "--api-token"] {
        let argv = w2
            .cmd("apply")
            .without_cluster_token()
            .args(&[flag, &token2])
            .run();
        argv.code(3);
        // Refused before the state dir exists: only the output to scan.
        w2.assert_no_secrets_in(&[&argv], &[], &[]);
    }
    w2.sim.clear_requests();
    let inline = w2
        .cmd("apply")
        .without_cluster_token()
        .arg(&format!("--cluster-token={token2}"))
        .run();
    inline.code(3).requests(&[]);
    w.assert_no_secrets(&[&stdin], &[]);
    w2.assert_no_secrets_in(&[&env, &inline], &[], &[]);
}

#[test]
fn facts_command_explains_the_tenant() {
    let w = World::new();
    let r = w.cmd("facts").run();
    r.code(0)
        .stdout_has("tenant: abc-p1")
        .stdout_has("hostname pattern");
    let j = w.cmd("facts").arg("--json").run();
    j.code(0);
    let v = j.json();
    assert_eq!(v["tenant"]["id"], "abc-p1");
    assert_eq!(v["facts"]["customer"]["value"], "abc");
    w.cmd("facts")
        .set("--tenant-template", "{missing}")
        .run()
        .code(3);
}

#[test]
fn env_vars_are_options_and_flags_win() {
    let w = World::new();
    let check = w
        .cmd("check")
        .env("DT_HOST_GROUP", "from-env")
        .env("DT_VERSION_IGNORED", "x")
        .arg("--json")
        .run();
    check.code(2);
    // The variable is the option: the planned install carries it.
    let planned = check.json()["actions"][0]["description"].clone();
    assert!(
        planned
            .as_str()
            .is_some_and(|d| d.contains("--set-host-group=from-env")),
        "{planned}"
    );
    w.cmd("apply")
        .env("DT_HOST_GROUP", "from-env")
        .run()
        .code(2);
    assert_eq!(w.oneagentctl(&["--get-host-group"]), "from-env");
    w.cmd("apply")
        .env("DT_HOST_GROUP", "from-env")
        .args(&["--host-group", "from-flag"])
        .run()
        .code(2);
    assert_eq!(w.oneagentctl(&["--get-host-group"]), "from-flag");
}

#[test]
fn api_token_is_used_directly_or_mints_and_revokes() {
    // An InstallerDownload token is used as is: looked up, never minted or revoked.
    let w = World::new();
    let token = w.env_token("abc-p1", &["InstallerDownload"]);
    let file = w.dir.path().join("api-token");
    harness::write_private(&file, &token);
    let r = w
        .cmd("apply")
        .without_cluster_token()
        .args(&["--api-token-file", file.to_str().unwrap()])
        .run();
    r.code(2)
        .requests(&[
            "POST /e/abc-p1/api/v2/apiTokens/lookup",
            &format!("GET {LATEST}"),
        ])
        .stderr_has("no cluster token");
    assert!(!r.stdout.contains(&token) && !r.stderr.contains(&token));

    // A token-management token mints the download token with it, and revokes it.
    let w = World::new();
    let token = w.env_token("abc-p1", &["apiTokens.read", "apiTokens.write"]);
    let r = w
        .cmd("apply")
        .without_cluster_token()
        .env("DT_API_TOKEN", &token)
        .run();
    r.code(2);
    let id = w.assert_minted_token_revoked("abc-p1");
    r.requests(&[
        "POST /e/abc-p1/api/v2/apiTokens/lookup",
        &format!("POST {TOKENS}"),
        &format!("GET {LATEST}"),
        &format!("DELETE {TOKENS}/{id}"),
    ]);
}

#[test]
fn json_result_on_failure_names_the_error() {
    let w = World::new();
    w.fault(
        "GET",
        "/api/cluster/v2/environments/*",
        Fault::Status { status: 401 },
    );
    let r = w.cmd("apply").arg("--json").run();
    r.code(4);
    let j = r.json();
    assert_eq!(j["exitCode"], 4);
    assert_eq!(j["changed"], false);
    assert!(
        j["error"].as_str().is_some_and(|e| e.contains("401")),
        "{j}"
    );
    assert_eq!(j["requests"], 1);
}

#[test]
fn verify_command_checks_signature_and_digest() {
    let w = World::new();
    let file = w.installer_file("abc-p1");
    let body = std::fs::read(&file).unwrap();
    let ca = w.ca.to_str().unwrap().to_string();
    let path = file.to_str().unwrap().to_string();
    w.bare(&["verify", &path, "--installer-ca-file", &ca])
        .run()
        .code(0)
        .stdout_has("verified");
    w.bare(&[
        "verify",
        &path,
        "--installer-ca-file",
        &ca,
        "--sha256",
        &"0".repeat(64),
    ])
    .run()
    .code(5);
    // One byte of the script changed after signing.
    let mut tampered = body.clone();
    let at = tampered.iter().position(|b| *b == b'\n').unwrap_or(0) + 1;
    tampered[at] ^= 0x20;
    std::fs::write(&file, &tampered).unwrap();
    w.bare(&["verify", &path, "--installer-ca-file", &ca])
        .run()
        .code(5);
}

#[test]
fn demo_runs_end_to_end_with_nothing_set_up() {
    let w = World::new();
    w.bare(&["demo"])
        .run()
        .code(0)
        .stdout_has("tenant abc-p1 created")
        .stdout_has("check converged (exit 0, 0 requests)")
        .stdout_has("DELETE /e/abc-p1/api/v2/apiTokens/");
}

#[test]
fn status_of_a_host_never_touched() {
    let w = World::new();
    let r = w.cmd("status").arg("--json").run();
    r.code(0);
    let j = r.json();
    assert_eq!(j["state"], "NotInstalled");
    assert_eq!(j["isAgentInstalled"], false);
    assert!(j["isUpgradeAvailable"].is_null());
    w.cmd("status").run().code(0).stdout_has("state:");
}

/// `status --json` is one object also when the options cannot be used (exit 3): the same
/// fields, unknown, and the error.
#[test]
fn status_json_with_bad_options_is_still_one_object() {
    let w = World::new();
    let good = w.cmd("status").arg("--json").run();
    good.code(0);
    let bad = w
        .cmd("status")
        .without("--cluster-url")
        .args(&["--json", "--cluster-url", "ftp://x"])
        .run();
    bad.code(3).stderr_has("--cluster-url");
    let (good, bad) = (good.json(), bad.json());
    let keys = |v: &serde_json::Value| -> Vec<String> {
        v.as_object().expect("an object").keys().cloned().collect()
    };
    assert_eq!(keys(&bad), keys(&good));
    assert!(
        bad["state"].is_null() && bad["isAgentInstalled"].is_null(),
        "{bad}"
    );
    assert_eq!(
        bad["error"], "--cluster-url \"ftp://x\" must start with https://",
        "{bad}"
    );
}

#[test]
fn exit_6_when_the_host_does_not_match_the_plan_afterwards() {
    // --api-url points at another tenant (a misrouted ActiveGate): its installer installs fine
    // but attaches the host to that tenant, which the confirmation must catch.
    let w = World::new();
    let r = w.misrouted_apply(&[]);
    r.code(6)
        .stderr_has("does not match the plan")
        .stderr_has("re-point");
    assert_eq!(w.oneagentctl(&["--get-tenant"]), "other-t1");
    assert_eq!(w.status_json()["state"], "Failed");
}

/// A failure after the token was minted (here: connectioninfo for a re-point) still revokes it
/// before the run ends, and says so.
#[test]
fn a_failed_repoint_revokes_the_token_it_minted() {
    let w = World::new();
    w.cmd("apply").run().code(2);
    w.fault(
        "GET",
        "/e/*/api/v1/deployment/installer/agent/connectioninfo",
        Fault::Status { status: 403 },
    );
    let r = w
        .cmd("apply")
        .args(&["--fact", "hostname=xyz-q7-db01"])
        .run();
    r.code(4).stderr_has("revoked installer download token");
    let id = w.assert_minted_token_revoked("xyz-q7");
    r.stderr_has(&format!("revoked installer download token {id}"));
    assert_eq!(w.oneagentctl(&["--get-tenant"]), "abc-p1");
    w.assert_no_secrets(&[&r], &[]);
}

/// A revoke that fails is a warning naming the token, never reported as revoked.
#[test]
fn a_failed_revoke_is_a_warning_not_a_revoked_line() {
    let w = World::new();
    w.fault(
        "DELETE",
        "/e/*/api/v2/apiTokens/*",
        Fault::Status { status: 403 },
    );
    let r = w.cmd("apply").run();
    r.code(2)
        .stderr_has("could not revoke installer download token");
    assert!(
        !r.stderr.contains("revoked installer download token"),
        "{}",
        r.dump()
    );
    w.assert_no_secrets(&[&r], &[]);
}

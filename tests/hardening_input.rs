//! Issue 7, input side: no token outlives the run, secrets beyond tokens, token files, flag
//! values, limits and validation before the first request. The real binary against dtsim.

mod harness;

use dtsim::Fault;
use harness::World;

const TOKENS: &str = "/e/abc-p1/api/v2/apiTokens";

/// dtsim's records of the InstallerDownload tokens (what the runs minted).
fn installer_tokens(w: &World) -> Vec<serde_json::Value> {
    w.admin("/__dtsim/tokens")
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["scopes"] == serde_json::json!(["InstallerDownload"]))
        .cloned()
        .collect()
}

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
    let installer = installer_tokens(&w);
    let tokens = &installer;
    assert_eq!(installer.len(), 2, "{tokens:?}{}", run.dump());
    assert!(installer.iter().all(|t| t["alive"] == false), "{tokens:?}");
    assert_no_token_outlives(&w);
}

/// Every output of `runs` and every file under the state dir, none holding `needle`.
fn assert_nowhere(w: &World, runs: &[&harness::Done], needle: &str) {
    let mut texts: Vec<(String, String)> = Vec::new();
    for r in runs {
        texts.push((format!("stdout of {:?}", r.args), r.stdout.clone()));
        texts.push((format!("stderr of {:?}", r.args), r.stderr.clone()));
    }
    for f in World::files_under(&w.state) {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap_or_default()).into_owned();
        texts.push((f.display().to_string(), text));
    }
    for (what, t) in &texts {
        assert!(!t.contains(needle), "{needle:?} leaked into {what}:\n{t}");
    }
}

#[test]
fn proxy_passwords_are_masked_everywhere_but_reach_the_installer() {
    const PROXY: &str = "http://ops:hunter2pw@proxy.example:3128";
    let w = World::new();
    let install = w.cmd("apply").args(&["--json", "--proxy", PROXY]).run();
    install.code(2);
    let description = install.json()["actions"][0]["description"].clone();
    assert!(
        description
            .as_str()
            .is_some_and(|d| d.contains("--set-proxy=http://ops:***@proxy.example:3128")),
        "{description}"
    );
    // OneAgent's interface takes the password on the installer's command line.
    assert_eq!(w.oneagentctl(&["--get-proxy"]), PROXY);

    let human = w
        .cmd("apply")
        .args(&["--proxy", "ops:hunter3pw,(x)@proxy.example:3128"])
        .run();
    human.code(2).stdout_has("ops:***@proxy.example:3128");
    let check = w.cmd("check").args(&["--proxy", PROXY]).run();
    check.code(2);
    let status = w.cmd("status").arg("--json").run();
    // A failing installer: its command line reaches the log and the error.
    let failing = World::new();
    failing.fault(
        "GET",
        "/e/*/api/v1/deployment/installer/agent/*",
        Fault::InstallerFails { exit_code: 9 },
    );
    let failed = failing
        .cmd("apply")
        .args(&["--json", "--proxy", PROXY])
        .run();
    failed.code(6);
    let log = std::fs::read_to_string(failing.state.join("last-install.log")).unwrap();
    assert!(
        log.contains("--set-proxy=http://ops:***@proxy.example:3128"),
        "{log}"
    );

    for pw in ["hunter2pw", "hunter3pw"] {
        assert_nowhere(&w, &[&install, &human, &check, &status], pw);
        assert_nowhere(&failing, &[&failed], pw);
    }
}

#[test]
fn urls_with_credentials_are_refused() {
    let w = World::new();
    let with_user = w.sim.url().replace("://", "://u:pw@");
    for flag in ["--cluster-url", "--api-url"] {
        let r = w.cmd("apply").set(flag, &with_user).run();
        r.code(3).requests(&[]);
        assert!(!r.stderr.contains(":pw@"), "{}", r.dump());
        r.stderr_has(flag);
    }
}

#[test]
fn token_files_must_be_private_small_and_clean_before_any_request() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    let token = w.sim.cluster_token();
    let file = w.dir.path().join("token");
    let run = |w| {
        World::cmd(w, "apply")
            .without_cluster_token()
            .args(&["--cluster-token-file", file.to_str().unwrap()])
            .run()
    };
    let secret_half = token.rsplit('.').next().unwrap().to_string();

    harness::write_private(&file, &token);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    run(&w).code(3).requests(&[]).stderr_has("chmod 600");

    harness::write_private(&file, &"x".repeat(100 << 10));
    run(&w).code(3).requests(&[]).stderr_has("larger than");

    for garbage in [
        format!("{token}\u{7f}"),
        format!("{token}\0\n"),
        format!("\u{200b}{token}"),
    ] {
        harness::write_private(&file, &garbage);
        let r = run(&w);
        r.code(3)
            .requests(&[])
            .stderr_has("cannot be part of a token");
        assert!(!r.stderr.contains(&secret_half), "{}", r.dump());
    }

    // A byte-order mark and the newline an editor adds are not part of the token.
    harness::write_private(&file, &format!("\u{feff}{token}\r\n"));
    run(&w).code(2);
}

#[test]
fn flag_values_keep_their_commas_and_env_lists_split() {
    let w = World::new();
    w.cmd("apply")
        .args(&[
            "--host-tag",
            "team=a,b",
            "--host-tag",
            "env=prod",
            "--host-property",
            "owners=alice,bob",
            "--fact",
            "desc=hello, world",
            "--tenant-tag",
            "cost=1,2",
        ])
        .run()
        .code(2);
    assert_eq!(w.oneagentctl(&["--get-host-tags"]), "env=prod\nteam=a,b");
    assert_eq!(
        w.oneagentctl(&["--get-host-properties"]),
        "owners=alice,bob"
    );
    let env = harness::http::get_json(
        &format!("{}/api/cluster/v2/environments/abc-p1", w.sim.url()),
        Some(&w.sim.cluster_token()),
    );
    assert_eq!(env["tags"], serde_json::json!(["cost=1,2"]));

    // The environment forms split on commas; `\,` is a literal comma.
    w.cmd("apply")
        .env("DT_HOST_TAGS", r"x=1,y=2\,3,")
        .env("DT_HOST_PROPERTIES", "k=v")
        .run()
        .code(2);
    assert_eq!(w.oneagentctl(&["--get-host-tags"]), "x=1\ny=2,3");
    w.sim.clear_requests();
    w.cmd("apply")
        .env("DT_HOST_TAGS", r"x=1,y=2\,3")
        .env("DT_HOST_PROPERTIES", "k=v")
        .run()
        .code(0)
        .requests(&[]);
}

#[test]
fn a_stray_key_tag_is_removed_without_taking_the_wanted_one() {
    let w = World::new();
    w.cmd("apply").args(&["--host-tag", "env"]).run().code(2);
    assert_eq!(w.oneagentctl(&["--get-host-tags"]), "env");
    w.cmd("apply")
        .args(&["--host-tag", "env=prod", "--host-tag", "team"])
        .run()
        .code(2);
    assert_eq!(w.oneagentctl(&["--get-host-tags"]), "env=prod\nteam");
    w.sim.clear_requests();
    w.cmd("apply")
        .args(&["--host-tag", "env=prod", "--host-tag", "team"])
        .run()
        .code(0)
        .requests(&[]);
}

#[test]
fn durations_and_counts_are_range_checked_before_anything() {
    let w = World::new();
    for (flag, value) in [
        ("--installer-timeout", "200000000000000d"),
        ("--installer-timeout", "0s"),
        ("--download-timeout", "200000000000000d"),
        ("--lock-timeout", "400d"),
        ("--retries", "4000000000"),
    ] {
        let r = w.cmd("apply").args(&[flag, value]).run();
        r.code(3).requests(&[]).stderr_has(flag);
        assert!(!w.state.join("status.json").exists(), "{}", r.dump());
    }
    let r = w.cmd("apply").env("DT_DOWNLOAD_TIMEOUT", "2y").run();
    r.code(3).requests(&[]).stderr_has("between");
}

#[test]
fn a_trickling_download_ends_at_the_download_timeout() {
    let w = World::new();
    w.fault(
        "GET",
        "/e/*/api/v1/deployment/installer/agent/*",
        Fault::Trickle {
            chunk_bytes: 200,
            interval_ms: 20_000,
        },
    );
    let started = std::time::Instant::now();
    let r = w
        .cmd("apply")
        .args(&["--json", "--download-timeout", "2s"])
        .run();
    let took = started.elapsed();
    r.code(4).stderr_has("--download-timeout 2s");
    assert!(
        took < std::time::Duration::from_secs(10),
        "took {took:?}{}",
        r.dump()
    );
    assert!(!w.installed());
    let installer = installer_tokens(&w);
    let tokens = &installer;
    assert!(
        !installer.is_empty() && installer.iter().all(|t| t["alive"] == false),
        "{tokens:?}"
    );
    let mut left: Vec<String> = std::fs::read_dir(&w.state)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, vec!["lock", "status.json"], "{}", r.dump());
    assert_eq!(w.status_json()["state"], "Failed");
}

#[test]
fn settings_are_validated_before_the_first_request() {
    let w = World::new();
    for (args, env, needle) in [
        (&["--network-zone", "bad/zone"][..], None, "--network-zone"),
        (&["--connection-point", ""], None, "--connection-point"),
        (
            &["--connection-point", "https://a;;https://b"],
            None,
            "--connection-point",
        ),
        (&["--host-group", "dt.x"], None, "--host-group"),
        (&["--monitoring-mode", "full"], None, "--monitoring-mode"),
        (
            &[],
            Some(("DT_MONITORING_MODE", "bad")),
            "--monitoring-mode",
        ),
        (&["--host-tag", "two words"], None, "--host-tag"),
        (&["--host-tag", "#x"], None, "--host-tag"),
        (&[], Some(("DT_HOST_TAGS", "ok,#bad")), "--host-tag"),
        (&["--host-property", "=v"], None, "--host-property"),
        (
            &["--installer-arg", "--set-host-group=dt.x"],
            None,
            "--installer-arg",
        ),
        (
            &["--installer-arg", "--set-monitoring-mode=x"],
            None,
            "--installer-arg",
        ),
    ] {
        let mut run = w.cmd("apply").args(args);
        if let Some((k, v)) = env {
            run = run.env(k, v);
        }
        let r = run.run();
        r.code(3).requests(&[]);
        // The first line says what is wrong (clap adds a tip below its own errors).
        let first = r.stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error: ") && first.contains(needle),
            "{}",
            r.dump()
        );
        assert!(!w.installed());
    }
}

#[test]
fn a_bad_hostname_pattern_is_one_line_with_the_reason() {
    let w = World::new();
    let r = w
        .cmd("apply")
        .set("--hostname-pattern", "^(?P<customer>[a-z]+-(?P<x")
        .run();
    r.code(3).requests(&[]);
    assert_eq!(
        r.stderr.trim_end(),
        "error: --hostname-pattern '^(?P<customer>[a-z]+-(?P<x' is not a valid regular \
         expression: unclosed capture group name (at character 27)",
        "{}",
        r.dump()
    );
}

/// Against a cluster whose CA is in no trust store: refused (exit 4, no request reached it,
/// the fix named) until `--ssl-mode all` waives the check and says so, or the CA is given with
/// `--ca-file`. Neither the refusal nor the waiver prints a secret.
#[test]
fn an_unknown_cluster_ca_is_refused_unless_trusted_or_waived() {
    let w = World::with(dtsim::Options {
        tls: true,
        ..dtsim::Options::default()
    });
    assert!(w.sim.url().starts_with("https://"), "{}", w.sim.url());

    let refused = w.cmd("apply").run();
    refused.code(4).stderr_has("--ca-file");
    assert!(w.requests().is_empty(), "{}", refused.dump());
    assert!(!w.installed(), "{}", refused.dump());

    let waived = w.cmd("apply").args(&["--ssl-mode", "all"]).run();
    waived
        .code(2)
        .stderr_has("warning: --ssl-mode all: TLS certificates are not verified");
    assert!(w.installed(), "{}", waived.dump());
    w.assert_minted_token_revoked("abc-p1");

    // Installed: only --upgrade still asks the cluster (for the target version).
    let before = w.requests().len();
    let ca = w.ca.display().to_string();
    let trusted = w.cmd("check").args(&["--upgrade", "--ca-file", &ca]).run();
    trusted.code(0);
    assert!(!trusted.stderr.contains("--ssl-mode"), "{}", trusted.dump());
    assert!(w.requests().len() > before, "{}", trusted.dump());
    w.assert_no_secrets(&[&refused, &waived, &trusted], &[]);
}

/// A token in an older format (no `dt0c01.` shape for the pattern redaction to find) that a
/// child process prints is still hidden, in the error and in last-install.log: the run redacts
/// the tokens it was given by value, not only by shape.
#[test]
fn a_token_a_child_prints_is_redacted_whatever_its_shape() {
    const LEGACY: &str = "Zq7LegacyApiTok3nXy9w";
    let w = World::new();
    w.cmd("apply").run().code(2);
    // oneagentctl, when asked to change something, prints the token and fails.
    let leak = format!("echo \"using {LEGACY}\"; echo \"refused {LEGACY}\" >&2; exit 1");
    w.wrap_program("agent/tools/oneagentctl", "--set-*", &leak);

    let r = w
        .cmd("apply")
        .args(&["--host-group", "moved", "--json"])
        .env("DT_API_TOKEN", LEGACY)
        .run();
    r.code(6).stderr_has("refused <redacted>");
    // The change failed and the host is as it was: not "changed".
    assert_eq!(r.json()["changed"], false, "{}", r.dump());
    let log = std::fs::read_to_string(w.state.join("last-install.log")).expect("install log");
    assert!(
        log.contains("using <redacted>") && log.contains("refused <redacted>"),
        "{log}"
    );
    w.assert_no_secrets(&[&r], &[LEGACY]);
}

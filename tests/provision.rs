//! Issue 16: `provision` on the controller hands out a 15-minute InstallerDownload token; the
//! node installs with it and never holds the cluster token. The real binary against dtsim.

mod harness;

use std::path::{Path, PathBuf};

use harness::{find_token, write_private, World};
use serde_json::{json, Value};

const CREATE: [&str; 4] = [
    "GET /api/cluster/v2/environments/abc-p1",
    "PUT /api/cluster/v2/environments/abc-p1",
    "POST /api/cluster/v2/environments/abc-p1/tokenManagementToken",
    "POST /e/abc-p1/api/v2/apiTokens",
];

/// dtsim's record of token `id` (scopes, alive).
fn token_record(w: &World, id: &str) -> Value {
    w.admin("/__dtsim/tokens")
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("dtsim has no token {id}"))
}

fn controller_dir(w: &World) -> PathBuf {
    let d = w.dir.path().join("controller");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// What the configuration-management tool does with the token: a private file on the node.
fn hand_to_node(w: &World, token: &str) -> PathBuf {
    let path = w.dir.path().join("node-api-token");
    write_private(&path, token);
    path
}

fn no_token_in(text: &str, what: &str) {
    assert_eq!(find_token(text), None, "{what} holds a token: {text}");
}

#[test]
fn provision_hands_out_an_installer_only_token_and_the_node_installs_with_it() {
    let w = World::new();
    let out = controller_dir(&w).join("abc-p1-web01.token");
    let run = w
        .cmd("provision")
        .args(&["--json", "--output", out.to_str().unwrap()])
        .run();
    run.code(2).requests(&CREATE);
    no_token_in(&run.stdout, "stdout");
    no_token_in(&run.stderr, "stderr");
    let result = run.json();
    assert_eq!(result["tenant"], "abc-p1");
    assert_eq!(result["created"], true);
    assert_eq!(result["tokenFile"], out.display().to_string());
    assert!(result.get("token").is_none(), "{result}");
    let api_url = result["apiUrl"].as_str().unwrap().to_string();
    assert_eq!(api_url, format!("{}/e/abc-p1/api", w.sim.url()));
    let id = result["tokenId"].as_str().unwrap().to_string();
    let name = result["tokenName"].as_str().unwrap().to_string();
    assert!(name.contains("abc-p1-web01"), "{name}");
    assert!(result["expiresAt"].is_string(), "{result}");

    // The file: 0600, the token alone, and the token is that id's.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let token = std::fs::read_to_string(&out).unwrap().trim().to_string();
    assert_eq!(find_token(&token).as_deref(), Some(token.as_str()));
    assert!(token.starts_with(&format!("{id}.")));

    // InstallerDownload only, alive, expiring within 15 minutes.
    let record = token_record(&w, &id);
    assert_eq!(record["scopes"], serde_json::json!(["InstallerDownload"]));
    assert_eq!(record["environment"], "abc-p1");
    assert_eq!(record["alive"], true);
    let left = w
        .alive_tokens("abc-p1")
        .into_iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, left)| left)
        .expect("the handed-out token has an expiry");
    assert!((1..=15 * 60).contains(&left), "expires in {left} s");
    // The expiry we print is the one Dynatrace keeps for that token.
    let printed = result["expiresAt"].as_str().unwrap();
    let printed_ms = humantime::parse_rfc3339_weak(printed)
        .unwrap_or_else(|e| panic!("expiresAt {printed:?}: {e}"))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let kept_ms = record["expiresMs"].as_i64().expect("dtsim keeps an expiry");
    assert!(
        (printed_ms - kept_ms).abs() < 1000,
        "{printed} vs {kept_ms} ms"
    );

    // The node: no cluster URL, no cluster token; the token file and the API URL only.
    let token_file = hand_to_node(&w, &token);
    let node = || {
        w.cmd("apply")
            .offline()
            .args(&["--api-url", &api_url])
            .args(&["--api-token-file", token_file.to_str().unwrap()])
    };
    let cluster = w.sim.cluster_token();
    let cmd = node().command();
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        assert!(
            !a.contains(&cluster) && !a.contains("cluster"),
            "argument {a}"
        );
    }
    for (k, v) in cmd.get_envs() {
        let (k, v) = (k.to_string_lossy(), v.unwrap_or_default().to_string_lossy());
        assert!(
            !k.contains("CLUSTER") && !v.contains(&cluster),
            "environment {k}={v}"
        );
    }
    let installed = node().run();
    installed.code(2);
    assert!(w.installed());
    // Every request the node sent carried the handed-out token, none a cluster credential.
    for r in w.sim.requests() {
        assert!(r.path.starts_with("/e/abc-p1/api/"), "{}", installed.dump());
        assert_eq!(
            r.token_id.as_deref(),
            Some(id.as_str()),
            "{}",
            installed.dump()
        );
    }
    let mut readable = World::files_under(&w.state);
    readable.extend(World::files_under(&w.install));
    readable.push(token_file.clone());
    for f in readable {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        assert!(
            !text.contains(&cluster),
            "{} holds the cluster token",
            f.display()
        );
    }
    for text in [&installed.stdout, &installed.stderr] {
        assert!(!text.contains(&cluster) && !text.contains(&token));
    }
    // The node cannot revoke it (no apiTokens.write): it is alive until the controller acts.
    assert_eq!(token_record(&w, &id)["alive"], true);

    w.sim.clear_requests();
    let revoked = w.cmd("provision").args(&["--revoke", &id]).run();
    revoked.code(0).requests(&[
        "POST /api/cluster/v2/environments/abc-p1/tokenManagementToken",
        &format!("DELETE /e/abc-p1/api/v2/apiTokens/{id}"),
    ]);
    assert_eq!(token_record(&w, &id)["alive"], false);
    // Revoking again is fine (already gone).
    w.cmd("provision").args(&["--revoke", &id]).run().code(0);
}

/// The controller provisions only when the node's own `check` (no address, no token) says it
/// needs the network: on a converged node that check sends nothing, so nothing is minted.
#[test]
fn a_converged_node_causes_no_request_and_no_token() {
    let w = World::new();
    let fresh = w.cmd("check").offline().arg("--json").run();
    fresh.code(2).requests(&[]);
    let kinds: Vec<Value> = fresh.json()["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].clone())
        .collect();
    assert_eq!(kinds, vec![Value::from("install")], "{}", fresh.dump());

    let out = controller_dir(&w).join("t");
    w.cmd("provision")
        .args(&["--output", out.to_str().unwrap()])
        .run()
        .code(2);
    let token = std::fs::read_to_string(&out).unwrap();
    let api_url = format!("{}/e/abc-p1/api", w.sim.url());
    let file = hand_to_node(&w, token.trim());
    w.cmd("apply")
        .offline()
        .args(&[
            "--api-url",
            &api_url,
            "--api-token-file",
            file.to_str().unwrap(),
        ])
        .run()
        .code(2);
    let minted = w.admin("/__dtsim/tokens").as_array().unwrap().len();

    w.sim.clear_requests();
    let converged = w.cmd("check").offline().arg("--json").run();
    converged.code(0).requests(&[]);
    assert_eq!(converged.json()["requests"], 0);
    // The node's apply without any credential stays converged and silent too.
    w.cmd("apply").offline().run().code(0).requests(&[]);
    assert_eq!(w.admin("/__dtsim/tokens").as_array().unwrap().len(), minted);
}

#[test]
fn stdout_only_when_asked_and_revoke_by_name() {
    let w = World::new();
    // Text mode with '-': stdout is the token alone, the rest on stderr.
    let plain = w.cmd("provision").args(&["--output", "-"]).run();
    plain.code(2).stderr_has("tenant abc-p1 (created)");
    let token = plain.stdout.trim().to_string();
    assert_eq!(plain.stdout, format!("{token}\n"));
    assert_eq!(find_token(&token).as_deref(), Some(token.as_str()));
    no_token_in(&plain.stderr, "stderr");

    // The tenant exists now: exit 0; --json with '-' carries the token in the object.
    w.sim.clear_requests();
    let json = w.cmd("provision").args(&["--json", "--output", "-"]).run();
    json.code(0).requests(&[
        "GET /api/cluster/v2/environments/abc-p1",
        "POST /api/cluster/v2/environments/abc-p1/tokenManagementToken",
        "POST /e/abc-p1/api/v2/apiTokens",
    ]);
    no_token_in(&json.stderr, "stderr");
    let result = json.json();
    assert_eq!(result["created"], false);
    let second = result["token"].as_str().unwrap();
    assert_ne!(second, token);
    let (id, name) = (
        result["tokenId"].as_str().unwrap(),
        result["tokenName"].as_str().unwrap(),
    );
    assert!(second.starts_with(id));

    let revoked = w.cmd("provision").args(&["--json", "--revoke", name]).run();
    revoked.code(0);
    assert_eq!(
        revoked.json(),
        serde_json::json!({"tenant": "abc-p1", "revokedTokenName": name})
    );
    assert_eq!(token_record(&w, id)["alive"], false);
    let first_id: String = token.split('.').take(2).collect::<Vec<_>>().join(".");
    assert_eq!(token_record(&w, &first_id)["alive"], true, "only that name");

    // Never a secret on the command line, nor anyone else's token by name.
    for bad in [token.as_str(), "census"] {
        w.cmd("provision").args(&["--revoke", bad]).run().code(3);
    }
}

#[test]
fn a_bad_output_or_missing_target_facts_mint_nothing() {
    let w = World::new();
    let dir = controller_dir(&w);
    let taken = dir.join("taken");
    std::fs::write(&taken, "keep me").unwrap();
    let link = dir.join("link");
    std::os::unix::fs::symlink(&taken, &link).unwrap();
    for out in [&taken, &link, &dir.join("missing/t")] {
        w.cmd("provision")
            .args(&["--output", out.to_str().unwrap()])
            .run()
            .code(3)
            .requests(&[]);
    }
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "keep me");
    // No --output at all.
    w.cmd("provision").run().code(3).requests(&[]);
    // The target's hostname must be given: the controller's own is never used.
    let out = dir.join("t");
    let no_host = w
        .cmd("provision")
        .without("--fact")
        .without("--tenant-template")
        .without("--hostname-pattern")
        .args(&["--tenant", "abc-p1", "--output", out.to_str().unwrap()])
        .run();
    no_host.code(3).stderr_has("hostname").requests(&[]);
    assert!(!Path::new(&out).exists());
    // No cluster token: nothing to provision with.
    w.cmd("provision")
        .without_cluster_token()
        .args(&["--output", out.to_str().unwrap()])
        .run()
        .code(3)
        .requests(&[]);
}

#[test]
fn dry_run_changes_nothing() {
    let w = World::new();
    let dry = w.cmd("provision").arg("--dry-run").run();
    dry.code(2)
        .stdout_has("tenant abc-p1 would be created")
        .requests(&["GET /api/cluster/v2/environments/abc-p1"]);
    let out = controller_dir(&w).join("t");
    w.cmd("provision")
        .args(&["--output", out.to_str().unwrap()])
        .run()
        .code(2);
    let tokens = w.admin("/__dtsim/tokens").as_array().unwrap().len();
    w.sim.clear_requests();
    w.cmd("provision")
        .arg("--dry-run")
        .run()
        .code(0)
        .stdout_has("tenant abc-p1 exists")
        .requests(&["GET /api/cluster/v2/environments/abc-p1"]);
    assert_eq!(w.admin("/__dtsim/tokens").as_array().unwrap().len(), tokens);
}

#[test]
fn target_facts_come_from_the_facts_file() {
    let w = World::new();
    let facts = w.dir.path().join("facts.json");
    std::fs::write(
        &facts,
        r#"{"hostname": "xyz-q7-db02", "os": {"family": "RedHat"}}"#,
    )
    .unwrap();
    let run = w
        .cmd("provision")
        .without("--fact")
        .args(&[
            "--facts-file",
            facts.to_str().unwrap(),
            "--json",
            "--output",
            "-",
        ])
        .run();
    run.code(2);
    let result = run.json();
    assert_eq!(result["tenant"], "xyz-q7");
    assert!(result["tokenName"]
        .as_str()
        .unwrap()
        .contains(" xyz-q7-db02 run "));
    no_token_in(&run.stderr, "stderr");
}

/// A token that cannot be delivered is revoked before the run ends: nobody could use it.
#[test]
fn an_undeliverable_token_is_revoked() {
    let w = World::new();
    // /proc exists, but nobody (root included) can create a file there.
    let run = w
        .cmd("provision")
        .args(&["--output", "/proc/oneagent-bootstrap-provision-test"])
        .run();
    run.code(3).stderr_has("writing the token to --output");
    let minted: Vec<Value> = w
        .admin("/__dtsim/tokens")
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["scopes"] == serde_json::json!(["InstallerDownload"]))
        .cloned()
        .collect();
    assert_eq!(minted.len(), 1, "{}", run.dump());
    assert_eq!(minted[0]["alive"], false, "{}", run.dump());
    no_token_in(&run.stdout, "stdout");
    no_token_in(&run.stderr, "stderr");
}

// ---- user groups: provision ensures the tenant and its groups (issues 16 and 10) ----

const OPERATORS: &str = "{customer}-{stage}-operators:VIEWER,MANAGE_SETTINGS,AGENT_INSTALL";
const VIEWERS: &str = "{customer}-viewers:VIEWER";

fn with_groups(r: harness::Run<'_>) -> harness::Run<'_> {
    r.args(&["--tenant-group", OPERATORS, "--tenant-group", VIEWERS])
        .args(&["--groups-settle", "100ms"])
}

fn group_kinds(result: &Value) -> Vec<String> {
    result["groupActions"]
        .as_array()
        .unwrap_or_else(|| panic!("no groupActions in {result}"))
        .iter()
        .map(|a| a["kind"].as_str().unwrap().to_string())
        .collect()
}

/// Provisions `host` into a new token file; the JSON result.
fn provision_groups(w: &World, host: &str, extra: &[&str]) -> (Value, i32) {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out = controller_dir(w).join(format!("{host}-{n}.token"));
    let run = with_groups(w.cmd("provision").host(host))
        .args(&["--json", "--output", out.to_str().unwrap()])
        .args(extra)
        .run();
    let cluster = w.sim.cluster_token();
    for text in [&run.stdout, &run.stderr] {
        no_token_in(text, "provision output");
        assert!(!text.contains(&cluster), "{}", run.dump());
    }
    (run.json(), run.code)
}

#[test]
fn provision_creates_the_groups_and_a_second_tenant_shares_the_customer_group() {
    let w = World::new();
    w.environment("xyz-p1");
    let other =
        w.write_group(json!({"name": "xyz-ops", "accessRight": {"MANAGE_SETTINGS": ["xyz-p1"]}}));

    let (first, code) = provision_groups(
        &w,
        "abc-p1-web01",
        &[
            "--tenant-group-ldap",
            "{customer}-viewers=CN={customer}-viewers",
        ],
    );
    assert_eq!(code, 2, "{first}");
    assert_eq!(first["created"], true);
    assert_eq!(group_kinds(&first), ["create-group", "create-group"]);
    assert_eq!(
        w.group("abc-p-operators")["accessRight"],
        json!({"VIEWER": ["abc-p1"], "MANAGE_SETTINGS": ["abc-p1"], "AGENT_INSTALL": ["abc-p1"]})
    );
    let viewers = w.group("abc-viewers");
    assert_eq!(viewers["accessRight"], json!({"VIEWER": ["abc-p1"]}));
    assert_eq!(viewers["ldapGroupNames"], json!(["CN=abc-viewers"]));

    let (second, code) = provision_groups(&w, "abc-p2-web01", &[]);
    assert_eq!(code, 2, "{second}");
    assert_eq!(second["tenant"], "abc-p2");
    assert_eq!(group_kinds(&second), ["update-group", "update-group"]);
    assert_eq!(
        w.group("abc-viewers")["accessRight"],
        json!({"VIEWER": ["abc-p1", "abc-p2"]})
    );
    assert_eq!(
        w.group("abc-p-operators")["accessRight"]["AGENT_INSTALL"],
        json!(["abc-p1", "abc-p2"])
    );
    assert_eq!(w.group("xyz-ops"), other);

    // The tenant exists: its groups are left alone (no group request) unless asked.
    w.sim.clear_requests();
    let (again, code) = provision_groups(&w, "abc-p1-web02", &[]);
    assert_eq!((code, group_kinds(&again).len()), (0, 0), "{again}");
    assert!(
        w.requests().iter().all(|r| !r.contains("/groups")),
        "{:?}",
        w.requests()
    );
    // An operator took a right away; --reconcile-groups gives it back.
    let mut ops = w.group("abc-p-operators");
    ops["accessRight"]["AGENT_INSTALL"] = json!(["abc-p2"]);
    w.write_group(ops);
    let (fixed, code) = provision_groups(&w, "abc-p1-web02", &["--reconcile-groups"]);
    assert_eq!(code, 2, "{fixed}");
    assert_eq!(group_kinds(&fixed), ["update-group"]);
    assert_eq!(
        w.group("abc-p-operators")["accessRight"]["AGENT_INSTALL"],
        json!(["abc-p2", "abc-p1"])
    );
}

#[test]
fn provision_dry_run_previews_the_group_actions_with_reads_only() {
    let w = World::new();
    let tokens = w.admin("/__dtsim/tokens");
    let dry = with_groups(w.cmd("provision"))
        .args(&["--dry-run", "--json"])
        .run();
    dry.code(2)
        .stderr_has("would create user group 'abc-viewers'");
    let result = dry.json();
    assert_eq!(result["exists"], false);
    assert_eq!(group_kinds(&result), ["create-group", "create-group"]);
    let reads = w.requests();
    assert!(
        !reads.is_empty() && reads.iter().all(|r| r.starts_with("GET ")),
        "{reads:?}"
    );
    assert!(w.groups().is_empty());
    assert_eq!(w.admin("/__dtsim/tokens"), tokens);

    let (_, code) = provision_groups(&w, "abc-p1-web01", &[]);
    assert_eq!(code, 2);
    w.sim.clear_requests();
    let text = with_groups(w.cmd("provision")).arg("--dry-run").run();
    text.code(0)
        .stdout_has("tenant abc-p1 exists; 0 user group change(s)")
        .requests(&["GET /api/cluster/v2/environments/abc-p1"]);
    let mut viewers = w.group("abc-viewers");
    viewers["accessRight"] = json!({});
    w.write_group(viewers);
    w.sim.clear_requests();
    let reconcile = with_groups(w.cmd("provision"))
        .args(&["--dry-run", "--json", "--reconcile-groups"])
        .run();
    reconcile.code(2);
    assert_eq!(group_kinds(&reconcile.json()), ["update-group"]);
    assert!(w.requests().iter().all(|r| r.starts_with("GET ")));
    assert_eq!(w.group("abc-viewers")["accessRight"], json!({}));
}

#[test]
fn bad_group_input_is_exit_3_before_any_request() {
    let w = World::new();
    let out = controller_dir(&w).join("t");
    for bad in [
        &["--tenant-group", "{customer}-viewers:VIEWER,VIEWR"][..],
        &["--tenant-group", "{region}-viewers:VIEWER"],
        &[
            "--tenant-group",
            VIEWERS,
            "--tenant-group-sso",
            "nobody=sso-x",
        ],
        &["--reconcile-groups"],
    ] {
        for mode in [&["--output", out.to_str().unwrap()][..], &["--dry-run"]] {
            w.cmd("provision")
                .args(bad)
                .args(mode)
                .run()
                .code(3)
                .requests(&[]);
        }
    }
    assert!(!out.exists());
}

/// A tenant created without its groups gets no token: the controller reruns with
/// --reconcile-groups (the tenant exists then), and only that run hands one out.
#[test]
fn a_group_failure_mints_no_token_and_reconcile_finishes() {
    let w = World::new();
    let tokens = w.admin("/__dtsim/tokens");
    w.fault(
        "POST",
        "/api/v1.0/onpremise/groups",
        dtsim::Fault::Status { status: 403 },
    );
    let out = controller_dir(&w).join("t");
    with_groups(w.cmd("provision"))
        .args(&["--output", out.to_str().unwrap()])
        .run()
        .code(4)
        .stderr_has("tenant abc-p1 was created but its user groups may be incomplete");
    assert!(!out.exists());
    assert_eq!(w.admin("/__dtsim/tokens"), tokens);
    w.sim.clear_faults();
    let (fixed, code) = provision_groups(&w, "abc-p1-web01", &["--reconcile-groups"]);
    assert_eq!(
        (code, fixed["created"].clone()),
        (2, json!(false)),
        "{fixed}"
    );
    assert_eq!(group_kinds(&fixed), ["create-group", "create-group"]);
}

/// `provision --json` keeps apply's promise of one object on stdout also when it fails: the
/// exit code and the error line (the one on stderr), whatever stage failed, and no secret.
#[test]
fn a_failed_provision_prints_its_json_failure_object() {
    let w = World::new();
    let missing_dir = controller_dir(&w).join("missing/t");
    let out = controller_dir(&w).join("t");
    let bad_output = w
        .cmd("provision")
        .args(&["--json", "--output", missing_dir.to_str().unwrap()])
        .run();
    let no_token_file = w
        .cmd("provision")
        .env("DT_CLUSTER_TOKEN_FILE", "/nonexistent/cluster-token")
        .args(&["--json", "--output", out.to_str().unwrap()])
        .run();
    w.fault(
        "POST",
        "/api/cluster/v2/environments/abc-p1/tokenManagementToken",
        dtsim::Fault::Status { status: 500 },
    );
    let api = w
        .cmd("provision")
        .args(&[
            "--json",
            "--retries",
            "0",
            "--output",
            out.to_str().unwrap(),
        ])
        .run();
    for (run, code) in [(&bad_output, 3), (&no_token_file, 3), (&api, 4)] {
        run.code(code);
        let result = run.json();
        let line = run.stderr.lines().find_map(|l| l.strip_prefix("error: "));
        assert_eq!(result["exitCode"], code, "{result}");
        assert_eq!(result["changed"], false, "{result}");
        assert_eq!(result["error"].as_str(), line, "{result}{}", run.dump());
    }
    assert!(!out.exists());
    let controller = controller_dir(&w);
    w.assert_no_secrets_in(&[&bad_output, &no_token_file, &api], &[&controller], &[]);
}

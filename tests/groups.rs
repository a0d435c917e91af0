//! User groups for new tenants (`--tenant-group`, issue 10), against dtsim's group routes.

mod harness;

use std::collections::BTreeSet;

use harness::World;
use serde_json::{json, Value};

const OPERATORS: &str = "{customer}-{stage}-operators:VIEWER,MANAGE_SETTINGS,AGENT_INSTALL";
const VIEWERS: &str = "{customer}-viewers:VIEWER";
/// Short, so the read-back rounds take milliseconds against a loopback dtsim.
const SETTLE: &str = "100ms";

fn with_groups(r: harness::Run<'_>) -> harness::Run<'_> {
    r.args(&[
        "--tenant-group",
        OPERATORS,
        "--tenant-group",
        VIEWERS,
        "--groups-settle",
        SETTLE,
    ])
}

/// The environments a group's permission lists, as a set.
fn envs(group: &Value, perm: &str) -> BTreeSet<String> {
    group["accessRight"][perm]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_new_tenant_gets_both_groups_with_exactly_the_requested_rights() {
    let w = World::new();
    let done = with_groups(w.cmd("apply"))
        .args(&[
            "--tenant-group-ldap",
            "{customer}-viewers=CN={customer}-viewers,OU=groups",
            "--json",
        ])
        .run();
    done.code(2);
    let kinds: Vec<String> = done.json()["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        ["install", "create-group", "create-group"],
        "{}",
        done.stdout
    );

    let ops = w.group("abc-p-operators");
    assert_eq!(
        ops["accessRight"],
        json!({"VIEWER": ["abc-p1"], "MANAGE_SETTINGS": ["abc-p1"], "AGENT_INSTALL": ["abc-p1"]})
    );
    let viewers = w.group("abc-viewers");
    assert_eq!(viewers["accessRight"], json!({"VIEWER": ["abc-p1"]}));
    assert_eq!(
        viewers["ldapGroupNames"],
        json!(["CN=abc-viewers,OU=groups"])
    );
    assert_eq!(viewers["isClusterAdminGroup"], json!(false));

    let token = w.sim.cluster_token();
    for text in [&done.stdout, &done.stderr] {
        assert!(
            harness::find_token(text).is_none() && !text.contains(&token),
            "{text}"
        );
    }

    // Converged: no request at all, groups or not.
    w.sim.clear_requests();
    with_groups(w.cmd("apply")).run().code(0).requests(&[]);
    with_groups(w.cmd("check")).run().code(0).requests(&[]);
}

#[test]
fn a_second_tenant_shares_the_customer_group_and_other_rights_stay() {
    let w = World::new();
    w.environment("xyz-p1");
    w.write_group(json!({"name": "abc-viewers", "ssoGroupNames": ["sso-abc"],
        "accessRight": {"VIEWER": ["xyz-p1"], "LOG_VIEWER": ["xyz-p1"]}}));
    let other =
        w.write_group(json!({"name": "xyz-ops", "accessRight": {"MANAGE_SETTINGS": ["xyz-p1"]}}));

    with_groups(w.cmd("apply")).run().code(2);
    // The second host gives its groups through the environment variable (';' between entries).
    w.cmd("apply")
        .host("abc-p2-web01")
        .env("DT_TENANT_GROUPS", &format!("{OPERATORS};{VIEWERS}"))
        .args(&["--groups-settle", SETTLE])
        .run()
        .code(2)
        .stderr_has("update user group 'abc-viewers': add VIEWER on abc-p2");

    let viewers = w.group("abc-viewers");
    assert_eq!(
        envs(&viewers, "VIEWER"),
        set(&["xyz-p1", "abc-p1", "abc-p2"])
    );
    assert_eq!(envs(&viewers, "LOG_VIEWER"), set(&["xyz-p1"]));
    assert_eq!(viewers["ssoGroupNames"], json!(["sso-abc"]));
    let ops = w.group("abc-p-operators");
    for perm in ["VIEWER", "MANAGE_SETTINGS", "AGENT_INSTALL"] {
        assert_eq!(envs(&ops, perm), set(&["abc-p1", "abc-p2"]), "{perm}");
    }
    assert_eq!(w.group("xyz-ops"), other);
}

/// PUT replaces the whole group: without the read-back repair, the creators of ten tenants
/// racing on the shared groups lose each other's rights.
#[test]
fn twenty_racing_hosts_of_ten_new_tenants_end_with_complete_rights() {
    let w = World::new();
    let mut hosts = Vec::new();
    for i in 1..=10 {
        for web in ["web01", "web02"] {
            hosts.push(format!("abc-p{i}-{web}"));
        }
    }
    let children: Vec<_> = hosts
        .iter()
        .map(|h| {
            with_groups(w.cmd("apply"))
                .host(h)
                .set("--groups-settle", "300ms")
                .spawn()
        })
        .collect();
    for (h, c) in hosts.iter().zip(children) {
        let out = c.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{h}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let tenants: BTreeSet<String> = (1..=10).map(|i| format!("abc-p{i}")).collect();
    assert_eq!(envs(&w.group("abc-viewers"), "VIEWER"), tenants);
    let ops = w.group("abc-p-operators");
    for perm in ["VIEWER", "MANAGE_SETTINGS", "AGENT_INSTALL"] {
        assert_eq!(envs(&ops, perm), tenants, "{perm}");
    }
    // Only the host that created a tenant touched the groups: ten creators, two groups each.
    let creates = w
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST /api/v1.0/onpremise/groups"))
        .count();
    assert!(creates <= 20, "{creates} group POSTs");
}

#[test]
fn bad_group_options_are_exit_3_before_any_request() {
    let w = World::new();
    w.cmd("apply")
        .args(&["--tenant-group", "{customer}-viewers:VIEWER,VIEWR"])
        .run()
        .code(3)
        .stderr_has("unknown permission \"VIEWR\"")
        .requests(&[]);
    w.cmd("check")
        .args(&["--tenant-group", "{customer}-viewers"])
        .run()
        .code(3)
        .requests(&[]);
    w.cmd("apply")
        .args(&["--tenant-group", "{region}-viewers:VIEWER"])
        .run()
        .code(3)
        .stderr_has("no fact named 'region'")
        .requests(&[]);
    w.cmd("apply")
        .args(&["--tenant-group", VIEWERS])
        .args(&["--tenant-group-sso", "nobody=sso-x"])
        .run()
        .code(3)
        .stderr_has("no --tenant-group is named \"nobody\"")
        .requests(&[]);
    w.cmd("apply")
        .arg("--reconcile-groups")
        .run()
        .code(3)
        .requests(&[]);

    // Only the cluster token can manage groups.
    let token = w.env_token("abc-p1", &["InstallerDownload"]);
    let done = w
        .cmd("apply")
        .without_cluster_token()
        .env("DT_API_TOKEN", &token)
        .args(&["--tenant-group", VIEWERS])
        .run();
    done.code(3)
        .stderr_has("--tenant-group needs the cluster token")
        .requests(&[]);
    assert!(!done.stderr.contains(&token) && !done.stdout.contains(&token));
}

#[test]
fn check_shows_the_group_actions_and_changes_nothing() {
    let w = World::new();
    let done = with_groups(w.cmd("check")).arg("--json").run();
    done.code(2)
        .stderr_has("would create user group 'abc-viewers': add VIEWER on abc-p1");
    let actions = done.json()["actions"].clone();
    assert_eq!(
        actions[1],
        json!({"kind": "create-group",
               "description": "create user group 'abc-p-operators': add AGENT_INSTALL, MANAGE_SETTINGS, VIEWER on abc-p1"}),
        "{actions}"
    );
    assert!(
        w.requests().iter().all(|r| r.starts_with("GET ")),
        "{:?}",
        w.requests()
    );
    assert!(w.groups().is_empty());
    assert!(!w.installed());
    // `check --upgrade` asks for the target version (which ensures the tenant): still no write.
    w.sim.clear_requests();
    with_groups(w.cmd("check"))
        .args(&["--upgrade", "--reconcile-groups"])
        .run()
        .code(2);
    let writes: Vec<String> = w
        .requests()
        .into_iter()
        .filter(|r| r.contains("/groups") && !r.starts_with("GET "))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    assert!(w.groups().is_empty());

    // After the install, --reconcile-groups finds a right someone removed; check only shows it.
    with_groups(w.cmd("apply")).run().code(2);
    let mut viewers = w.group("abc-viewers");
    viewers["accessRight"] = json!({"LOG_VIEWER": ["abc-p1"]});
    w.write_group(viewers.clone());
    with_groups(w.cmd("check"))
        .arg("--reconcile-groups")
        .run()
        .code(2)
        .stderr_has("would update user group 'abc-viewers': add VIEWER on abc-p1");
    assert_eq!(w.group("abc-viewers"), viewers);
    // Without the flag a converged host does not even look.
    w.sim.clear_requests();
    with_groups(w.cmd("check")).run().code(0).requests(&[]);

    with_groups(w.cmd("apply"))
        .arg("--reconcile-groups")
        .run()
        .code(2)
        .stderr_has("update user group 'abc-viewers': add VIEWER on abc-p1");
    let message = w.status_json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.ends_with("(user groups changed)"), "{message}");
    let repaired = w.group("abc-viewers");
    assert_eq!(
        repaired["accessRight"],
        json!({"LOG_VIEWER": ["abc-p1"], "VIEWER": ["abc-p1"]})
    );
    with_groups(w.cmd("apply"))
        .arg("--reconcile-groups")
        .run()
        .code(0)
        .stderr_has("already give tenant abc-p1 the requested permissions");
}

#[test]
fn a_group_failure_after_creating_the_tenant_says_how_to_finish() {
    let w = World::new();
    w.fault(
        "POST",
        "/api/v1.0/onpremise/groups",
        dtsim::Fault::Status { status: 403 },
    );
    with_groups(w.cmd("apply"))
        .run()
        .code(4)
        .stderr_has("tenant abc-p1 was created but its user groups may be incomplete (rerun with --reconcile-groups)")
        .stderr_has("ServiceProviderAPI");
    assert!(!w.installed());
    w.sim.clear_faults();
    // The tenant exists now, so a plain rerun installs but leaves the groups alone...
    with_groups(w.cmd("apply")).run().code(2);
    assert!(w.groups().is_empty());
    // ...and --reconcile-groups finishes them.
    with_groups(w.cmd("apply"))
        .arg("--reconcile-groups")
        .run()
        .code(2);
    assert_eq!(
        w.group("abc-viewers")["accessRight"],
        json!({"VIEWER": ["abc-p1"]})
    );
}

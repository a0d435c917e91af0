//! Issue 15: one test per deviation an audit of Dynatrace's public documentation found (the
//! token APIs are in `documented_tokens`). Each test names the documentation page (by title)
//! whose behaviour it pins down.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dtsim::installer::VERSIONS;
use serde_json::{json, Value};

use crate::common::{Resp, Sim};
use crate::settings::latest;

const GROUPS: &str = "/api/v1.0/onpremise/groups";
const OBJECTS: &str = "/e/abc-p1/api/v2/settings/objects";
const DV: &str = "builtin:deployment.oneagent.default-version";
const UP: &str = "builtin:deployment.oneagent.updates";

// [doc: "List all existing environments"; "List specific managed environment"]
#[test]
fn environment_list_documented_fields() {
    let s = Sim::new();
    let ct = s.cluster();
    let envs = "/api/cluster/v2/environments";
    s.put(
        &format!("{envs}/trial-1"),
        Some(&ct),
        &json!({"name": "T", "trial": true}),
    )
    .assert_json(201);
    s.put(&format!("{envs}/paid-1"), Some(&ct), &json!({"name": "P"}))
        .assert_json(201);
    let ids = |q: &str| -> Vec<String> {
        s.get(&format!("{envs}{q}"), Some(&ct)).assert_json(200)["environments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids("?filter=trial(true)"), ["trial-1"]);
    assert_eq!(ids("?filter=trial(false)"), ["paid-1"]);
    s.get(&format!("{envs}?filter=trial(maybe)"), Some(&ct))
        .assert_error(400, "trial");

    let v = s
        .get(
            &format!("{envs}?includeUncachedConsumptionInfo=true&includeStorageInfo=true"),
            Some(&ct),
        )
        .assert_json(200);
    let e = &v["environments"][0];
    let q = &e["quotas"];
    assert!(q["hostUnits"]["currentUsage"].is_number(), "{q}");
    let mut sp: Vec<&String> = q["sessionProperties"].as_object().unwrap().keys().collect();
    sp.sort_unstable();
    assert_eq!(sp, ["consumedThisMonth", "consumedThisYear"]);
    let st = &e["storage"];
    for r in [
        "serviceRequestLevelRetention",
        "serviceCodeLevelRetention",
        "realUserMonitoringRetention",
        "syntheticMonitoringRetention",
        "sessionReplayRetention",
        "logMonitoringRetention",
    ] {
        assert!(st[r]["maxLimitInDays"].is_number(), "{r}: {st}");
        assert!(st[r].get("maxLimit").is_none(), "{r}: {st}");
    }
    let one = s
        .get(
            &format!("{envs}/trial-1?includeUncachedConsumptionInfo=true"),
            Some(&ct),
        )
        .assert_json(200);
    assert!(one["quotas"].is_object(), "{one}");
}

// [doc: "Create user group"; "Update user group"; "Delete user group"]
#[test]
fn group_edge_cases() {
    let s = Sim::new();
    let ct = s.cluster();
    s.env("abc-p1");
    let v = s
        .post(GROUPS, Some(&ct), &json!({"id": "", "name": "Sales Group",
            "accessRight": {"VIEWER": ["abc-p1"], "VIEW_SECURITY_PROBLEMS": ["abc-p1"], "DEMO_USER": []}}))
        .assert_json(200);
    assert_eq!(v["id"], "salesgroup");
    s.post(GROUPS, Some(&ct), &json!({"name": "Ops"}))
        .assert_json(200);
    s.put(
        GROUPS,
        Some(&ct),
        &json!({"id": "ops", "name": "Sales Group"}),
    )
    .assert_error(400, "Sales Group");
    assert_eq!(
        s.get(&format!("{GROUPS}/ops"), Some(&ct)).assert_json(200)["name"],
        "Ops"
    );
    s.post(
        GROUPS,
        Some(&ct),
        &json!({"name": "Dev", "accessRight": {"VIEWER": ["nope"]}}),
    )
    .assert_error(400, "nope");
    s.put(
        GROUPS,
        Some(&ct),
        &json!({"id": "ops", "name": "Ops", "accessRight": {"AGENT_INSTALL": ["nope"]}}),
    )
    .assert_error(400, "nope");
    s.post(
        GROUPS,
        Some(&ct),
        &json!({"name": "Old", "accessRight": {"MANAGE_SUPPORT_TICKETS": ["abc-p1"]}}),
    )
    .assert_error(400, "MANAGE_SUPPORT_TICKETS");
    s.delete(&format!("{GROUPS}/nobody"), Some(&ct))
        .assert_error(400, "nobody");
}

// [doc: "Settings API - POST objects"; "Settings API - GET objects"; "Settings API - OneAgent
// updates schema table"]
#[test]
fn settings_validate_only_required_fields_and_list_parameters() {
    let s = Sim::new();
    let tok = s.env_with_token("abc-p1");
    let item = |value: Value| json!([{"schemaId": UP, "scope": "environment", "value": value}]);
    let full = json!({"updateMode": "AUTOMATIC", "targetVersion": "1.299", "revision": "latest", "maintenanceWindows": []});
    let r = s.post(
        &format!("{OBJECTS}?validateOnly=true"),
        Some(&tok),
        &item(full.clone()),
    );
    assert_eq!(r.assert_json(200)[0]["code"], 200);
    let list = s
        .get(&format!("{OBJECTS}?schemaIds={UP}"), Some(&tok))
        .assert_json(200);
    assert_eq!(list["totalCount"], 0, "validateOnly saved: {list}");
    for missing in ["revision", "maintenanceWindows", "targetVersion"] {
        let mut v = full.clone();
        v.as_object_mut().unwrap().remove(missing);
        let r = s.post(OBJECTS, Some(&tok), &item(v)).assert_json(400);
        let msg = r[0]["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(missing), "{missing}: {r}");
    }
    s.post(
        &format!("{OBJECTS}?validateOnly=maybe"),
        Some(&tok),
        &item(full),
    )
    .assert_error(400, "validateOnly");
    s.get(OBJECTS, Some(&tok)).assert_error(400, "schemaIds");
    s.get(&format!("{OBJECTS}?scopes=environment"), Some(&tok))
        .assert_json(200);
}

// [doc: "OneAgent update"; "Settings API - OneAgent updates schema table"] the environment's
// updates target version is what the Deployment API serves; the default-version setting is not.
#[test]
fn latest_is_the_updates_target_version() {
    let s = Sim::new();
    let tok = s.env_with_token("abc-p1");
    let post = |schema: &str, value: Value| {
        let r = s.post(
            OBJECTS,
            Some(&tok),
            &json!([{"schemaId": schema, "scope": "environment", "value": value}]),
        );
        assert_eq!(r.assert_json(200)[0]["code"], 200);
    };
    post(DV, json!({"defaultVersion": "1.299", "revision": "latest"}));
    assert_eq!(
        latest(&s, &tok),
        VERSIONS[2],
        "a default version alone changes nothing"
    );
    post(
        UP,
        json!({"updateMode": "MANUAL", "targetVersion": "1.301", "revision": "latest", "maintenanceWindows": []}),
    );
    assert_eq!(latest(&s, &tok), VERSIONS[1], "the updates target decides");
    post(
        UP,
        json!({"updateMode": "MANUAL", "targetVersion": "1.299", "revision": VERSIONS[0], "maintenanceWindows": []}),
    );
    assert_eq!(latest(&s, &tok), VERSIONS[0]);
}

// [doc: "Dynatrace API - Access limit"] X-RateLimit-Limit (per minute, per endpoint),
// -Remaining and -Reset (microseconds) on ordinary responses.
#[test]
fn rate_limit_headers_on_ordinary_responses() {
    let s = Sim::new();
    let ct = s.cluster();
    let header = |r: &Resp, name: &str| -> u128 {
        r.header(name)
            .unwrap_or_else(|| panic!("{name} missing: {:?}", r.headers))
            .parse()
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let a = s.get("/api/cluster/v2/environments", Some(&ct));
    let b = s.get("/api/cluster/v2/environments", Some(&ct));
    let other = s.get(GROUPS, Some(&ct));
    let limit = header(&a, "x-ratelimit-limit");
    assert!(limit > 1);
    assert_eq!(header(&a, "x-ratelimit-remaining"), limit - 1);
    assert_eq!(header(&b, "x-ratelimit-remaining"), limit - 2);
    assert_eq!(
        header(&other, "x-ratelimit-remaining"),
        limit - 1,
        "counted per endpoint"
    );
    let now_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros();
    let reset = header(&b, "x-ratelimit-reset");
    assert!(
        reset > now_us && reset <= now_us + Duration::from_secs(61).as_micros(),
        "reset {reset} is not microseconds within the next minute of {now_us}"
    );
    let denied = s.get("/api/cluster/v2/environments", None);
    assert_eq!(denied.status, 401);
    assert!(denied.header("x-ratelimit-limit").is_some());
}

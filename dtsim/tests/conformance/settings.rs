//! Section 5: settings objects that decide what `latest` serves.

use dtsim::installer::VERSIONS;
use serde_json::json;

use crate::common::Sim;

const OBJECTS: &str = "/e/abc-p1/api/v2/settings/objects";
const DV: &str = "builtin:deployment.oneagent.default-version";
const UP: &str = "builtin:deployment.oneagent.updates";

/// What `latest` resolves to in abc-p1 (metainfo).
pub fn latest(s: &Sim, tok: &str) -> String {
    s.get(
        "/e/abc-p1/api/v1/deployment/installer/agent/unix/default/latest/metainfo",
        Some(tok),
    )
    .assert_json(200)["latestAgentVersion"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn settings_decide_latest() {
    let s = Sim::new();
    let tok = s.env_with_token("abc-p1");
    let empty = s
        .get(
            &format!("{OBJECTS}?schemaIds={DV}&scopes=environment"),
            Some(&tok),
        )
        .assert_json(200);
    assert_eq!(empty["items"], json!([]));
    assert_eq!(empty["totalCount"], 0);
    assert!(empty["pageSize"].is_number());
    assert_eq!(latest(&s, &tok), VERSIONS[2]);

    // updates targetVersion alone decides.
    let r = s.post(OBJECTS, Some(&tok), &json!([{"schemaId": UP, "scope": "environment", "value": {"updateMode": "AUTOMATIC", "targetVersion": "1.299", "revision": "latest", "maintenanceWindows": []}}]));
    let v = r.assert_json(200);
    assert_eq!(v[0]["code"], 200);
    assert!(v[0]["objectId"].is_string());
    assert_eq!(latest(&s, &tok), VERSIONS[0]);
    let download = s.get(
        "/e/abc-p1/api/v1/deployment/installer/agent/unix/default/latest",
        Some(&tok),
    );
    assert!(String::from_utf8_lossy(&download.bytes).contains(VERSIONS[0]));

    // The default version does not change what `latest` serves [doc: "OneAgent update"].
    let r = s.post(OBJECTS, Some(&tok), &json!([{"schemaId": DV, "scope": "environment", "value": {"defaultVersion": "1.301", "revision": "latest"}}]));
    let dv_id = r.assert_json(200)[0]["objectId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(latest(&s, &tok), VERSIONS[0]);
    let items = s
        .get(
            &format!("{OBJECTS}?schemaIds={DV}&scopes=environment"),
            Some(&tok),
        )
        .assert_json(200);
    assert_eq!(items["totalCount"], 1);
    assert_eq!(items["items"][0]["schemaId"], DV);
    assert_eq!(items["items"][0]["scope"], "environment");
    assert_eq!(items["items"][0]["objectId"], dv_id.as_str());
    assert_eq!(items["items"][0]["value"]["defaultVersion"], "1.301");
    let both = s
        .get(&format!("{OBJECTS}?schemaIds={DV},{UP}"), Some(&tok))
        .assert_json(200);
    assert_eq!(both["totalCount"], 2);
    assert_eq!(
        s.get(&format!("{OBJECTS}/{dv_id}"), Some(&tok))
            .assert_json(200)["schemaId"],
        DV
    );

    // Posting again replaces the object.
    let r = s.post(OBJECTS, Some(&tok), &json!([{"schemaId": DV, "scope": "environment", "value": {"defaultVersion": "latest", "revision": "latest"}}]));
    assert_eq!(r.assert_json(200)[0]["objectId"], dv_id.as_str());
    assert_eq!(latest(&s, &tok), VERSIONS[0]);
    let r = s.post(OBJECTS, Some(&tok), &json!([{"schemaId": UP, "scope": "environment", "value": {"updateMode": "MANUAL", "targetVersion": "previous", "revision": "latest", "maintenanceWindows": []}}]));
    assert_eq!(r.status, 200);
    assert_eq!(latest(&s, &tok), VERSIONS[1]);
    let r = s.post(OBJECTS, Some(&tok), &json!([{"schemaId": UP, "scope": "environment", "value": {"updateMode": "MANUAL", "targetVersion": "latest", "revision": "latest", "maintenanceWindows": []}}]));
    assert_eq!(r.status, 200);
    assert_eq!(latest(&s, &tok), VERSIONS[2]);

    // A concrete revision; deleting the object brings back the newest.
    let r = s.post(OBJECTS, Some(&tok), &json!([{"schemaId": UP, "scope": "environment", "value": {"updateMode": "MANUAL", "targetVersion": "1.299", "revision": VERSIONS[0], "maintenanceWindows": []}}]));
    let up_id = r.assert_json(200)[0]["objectId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(latest(&s, &tok), VERSIONS[0]);
    assert_eq!(
        s.delete(&format!("{OBJECTS}/{up_id}"), Some(&tok)).status,
        204
    );
    assert_eq!(latest(&s, &tok), VERSIONS[2]);
    s.get(&format!("{OBJECTS}/{up_id}"), Some(&tok))
        .assert_error(404, "not found");
    assert_eq!(
        s.delete(&format!("{OBJECTS}/{dv_id}"), Some(&tok)).status,
        204
    );
}

#[test]
fn settings_validation_and_scopes() {
    let s = Sim::new();
    let tok = s.env_with_token("abc-p1");
    // Per-item results: all bad -> 400, mixed -> 207.
    let r = s.post(
        OBJECTS,
        Some(&tok),
        &json!([{"schemaId": DV, "scope": "environment", "value": {"defaultVersion": "1.100"}}]),
    );
    let v = r.assert_json(400);
    assert_eq!(v[0]["code"], 400);
    assert!(v[0]["error"]["message"].as_str().unwrap().contains("1.100"));
    let r = s.post(
        OBJECTS,
        Some(&tok),
        &json!([
            {"schemaId": UP, "scope": "environment", "value": {"updateMode": "AUTOMATIC", "targetVersion": "latest", "revision": "latest", "maintenanceWindows": []}},
            {"schemaId": "builtin:nope", "scope": "environment", "value": {}},
            {"schemaId": UP, "scope": "HOST-1", "value": {"updateMode": "AUTOMATIC"}},
            {"schemaId": UP, "scope": "environment", "value": {"updateMode": "SOMETIMES"}},
        ]),
    );
    let v = r.assert_json(207);
    let codes: Vec<u64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, [200, 400, 400, 400]);
    s.post(OBJECTS, Some(&tok), &json!({"schemaId": DV}))
        .assert_error(400, "array");
    s.post(OBJECTS, Some(&tok), &json!([]))
        .assert_error(400, "array");
    s.call("POST", OBJECTS, Some(&tok), Some(b"[{"))
        .assert_error(400, "JSON");

    let mgmt = s.env("abc-p2");
    let inst = s.token("abc-p2", &mgmt, &["InstallerDownload"]);
    s.get("/e/abc-p2/api/v2/settings/objects", Some(&inst))
        .assert_error(403, "settings.read");
    s.post("/e/abc-p2/api/v2/settings/objects", Some(&inst), &json!([]))
        .assert_error(403, "settings.write");
    s.get(OBJECTS, None)
        .assert_error(401, "Missing authorization parameter.");
}

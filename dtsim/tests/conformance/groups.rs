//! Section 6: user groups of the old cluster API.

use serde_json::json;

use crate::common::Sim;

const GROUPS: &str = "/api/v1.0/onpremise/groups";

#[test]
fn groups_lifecycle() {
    let s = Sim::new();
    let ct = s.cluster();
    s.env("abc-p1");
    s.env("abc-p2");
    let body = json!({"name": "Sales Group", "isClusterAdminGroup": false, "ldapGroupNames": ["sales"],
        "accessRight": {"VIEWER": ["abc-p1"], "AGENT_INSTALL": ["abc-p1"]}});
    let v = s.post(GROUPS, Some(&ct), &body).assert_json(200);
    assert_eq!(v["id"], "salesgroup");
    assert_eq!(v["name"], "Sales Group");
    assert_eq!(v["isAccessAccount"], false);
    assert_eq!(v["isManageAccount"], false);
    assert_eq!(v["ssoGroupNames"], json!([]));
    assert_eq!(v["ldapGroupNames"], json!(["sales"]));
    assert_eq!(v["accessRight"]["VIEWER"], json!(["abc-p1"]));
    s.post(GROUPS, Some(&ct), &body)
        .assert_error(406, "salesgroup");
    s.post(GROUPS, Some(&ct), &json!({"name": "sales group!"}))
        .assert_error(406, "exists");

    let mut upd = v.clone();
    upd["accessRight"] = json!({"VIEWER": ["abc-p1", "abc-p2"]});
    let v = s.put(GROUPS, Some(&ct), &upd).assert_json(200);
    assert_eq!(v["accessRight"], json!({"VIEWER": ["abc-p1", "abc-p2"]}));
    s.put(
        GROUPS,
        Some(&ct),
        &json!({"id": "nobody", "name": "Nobody"}),
    )
    .assert_error(406, "nobody");
    s.put(GROUPS, Some(&ct), &json!({"name": "No id"}))
        .assert_error(400, "id");

    let list = s.get(GROUPS, Some(&ct)).assert_json(200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(
        s.get(&format!("{GROUPS}/salesgroup"), Some(&ct))
            .assert_json(200)["name"],
        "Sales Group"
    );
    s.get(&format!("{GROUPS}/nobody"), Some(&ct))
        .assert_error(404, "nobody");
    assert_eq!(
        s.delete(&format!("{GROUPS}/salesgroup"), Some(&ct)).status,
        200
    );
    s.get(&format!("{GROUPS}/salesgroup"), Some(&ct))
        .assert_error(404, "salesgroup");
    s.delete(&format!("{GROUPS}/salesgroup"), Some(&ct))
        .assert_error(400, "salesgroup");
}

#[test]
fn groups_validation_and_auth() {
    let s = Sim::new();
    let ct = s.cluster();
    s.post(
        GROUPS,
        Some(&ct),
        &json!({"name": "G", "accessRight": {"GOD_MODE": ["x"]}}),
    )
    .assert_error(400, "GOD_MODE");
    s.post(
        GROUPS,
        Some(&ct),
        &json!({"name": "G", "accessRight": {"VIEWER": "x"}}),
    )
    .assert_error(400, "VIEWER");
    s.post(
        GROUPS,
        Some(&ct),
        &json!({"name": "G", "isClusterAdminGroup": "no"}),
    )
    .assert_error(400, "boolean");
    s.post(GROUPS, Some(&ct), &json!({"id": "g", "name": "G"}))
        .assert_error(400, "derived");
    s.post(GROUPS, Some(&ct), &json!({"name": "!!!"}))
        .assert_error(400, "letter");
    s.post(GROUPS, Some(&ct), &json!({}))
        .assert_error(400, "name");
    s.get(GROUPS, None)
        .assert_error(401, "Missing authorization parameter.");
    let mgmt = s.env("e");
    s.get(GROUPS, Some(&mgmt))
        .assert_error(401, "Token Authentication failed");
    let narrow = s
        .post(
            "/api/cluster/v2/tokens",
            Some(&ct),
            &json!({"name": "n", "scopes": ["ClusterTokenManagement"]}),
        )
        .assert_json(201)["token"]
        .as_str()
        .unwrap()
        .to_string();
    s.get(GROUPS, Some(&narrow))
        .assert_error(403, "ServiceProviderAPI");
    s.call("PATCH", GROUPS, Some(&ct), None)
        .assert_error(405, "PATCH");
}

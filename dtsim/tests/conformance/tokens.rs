//! Section 2: environment API tokens v2 and the v1 twin.

use serde_json::json;

use crate::common::{id_of, Sim};

const TOKENS: &str = "/e/abc-p1/api/v2/apiTokens";

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn create_with_every_expiration_form() {
    let s = Sim::new();
    let mgmt = s.env("abc-p1");
    let create = |exp: serde_json::Value| {
        let mut body = json!({"name": "inst", "scopes": ["InstallerDownload"]});
        if !exp.is_null() {
            body["expirationDate"] = exp;
        }
        s.post(TOKENS, Some(&mgmt), &body)
    };
    // Absent: never expires, no expirationDate.
    let v = create(json!(null)).assert_json(201);
    let tok = v["token"].as_str().unwrap();
    assert_eq!(v["id"], id_of(tok));
    assert!(v.get("expirationDate").is_none(), "{v}");
    let look = s
        .post(
            &format!("{TOKENS}/lookup"),
            Some(tok),
            &json!({"token": tok}),
        )
        .assert_json(200);
    for field in ["id", "name", "enabled", "owner", "creationDate", "scopes"] {
        assert!(!look[field].is_null(), "ApiToken lacks {field}: {look}");
    }
    assert_eq!(look["scopes"], json!(["InstallerDownload"]));
    assert_eq!(look["enabled"], true);
    assert!(
        look["lastUsedDate"].is_string(),
        "the lookup itself used it: {look}"
    );

    let in_an_hour = now_ms() + 3_600_000;
    let v = create(json!(in_an_hour)).assert_json(201);
    let exp = v["expirationDate"].as_str().unwrap().to_string();
    assert!(exp.ends_with('Z'), "{exp}");
    let v = create(json!(in_an_hour.to_string())).assert_json(201);
    assert_eq!(v["expirationDate"].as_str().unwrap(), exp);
    let v = create(json!("2100-01-01T00:00:00.000Z")).assert_json(201);
    assert_eq!(v["expirationDate"], "2100-01-01T00:00:00.000Z");
    for rel in ["now+15m", "now+1h", "now+14d", "now+2w", "now+1M", "now+1y"] {
        let v = create(json!(rel)).assert_json(201);
        assert!(v["expirationDate"].as_str().unwrap().ends_with('Z'));
    }
    for bad in [
        json!("now-1h"),
        json!(1_000),
        json!("2001-01-01T00:00:00Z"),
        json!("tomorrow"),
        json!("now+3x"),
        json!(true),
    ] {
        create(bad).assert_error(400, "expirationDate");
    }
}

#[test]
fn create_validation_and_scopes() {
    let s = Sim::new();
    let mgmt = s.env("abc-p1");
    s.post(
        TOKENS,
        Some(&mgmt),
        &json!({"scopes": ["InstallerDownload"]}),
    )
    .assert_error(400, "name");
    s.post(TOKENS, Some(&mgmt), &json!({"name": "x"}))
        .assert_error(400, "scopes");
    s.post(TOKENS, Some(&mgmt), &json!({"name": "x", "scopes": []}))
        .assert_error(400, "empty");
    s.post(
        TOKENS,
        Some(&mgmt),
        &json!({"name": "x", "scopes": ["Bogus"]}),
    )
    .assert_error(400, "unknown scope");
    s.post(
        TOKENS,
        Some(&mgmt),
        &json!({"name": "x", "scopes": "InstallerDownload"}),
    )
    .assert_error(400, "scopes");
    s.call("POST", TOKENS, Some(&mgmt), Some(b"["))
        .assert_error(400, "JSON");
    let inst = s.token("abc-p1", &mgmt, &["InstallerDownload"]);
    s.post(
        TOKENS,
        Some(&inst),
        &json!({"name": "x", "scopes": ["InstallerDownload"]}),
    )
    .assert_error(403, "apiTokens.write");
    s.post(
        TOKENS,
        None,
        &json!({"name": "x", "scopes": ["InstallerDownload"]}),
    )
    .assert_error(401, "Missing authorization parameter.");
    // Every known scope can be granted.
    s.token(
        "abc-p1",
        &mgmt,
        &[
            "InstallerDownload",
            "apiTokens.read",
            "apiTokens.write",
            "TenantTokenManagement",
            "settings.read",
            "settings.write",
            "DataExport",
            "ReadConfig",
            "WriteConfig",
        ],
    );
}

#[test]
fn lookup_get_and_delete() {
    let s = Sim::new();
    let mgmt = s.env("abc-p1");
    let inst = s.token("abc-p1", &mgmt, &["InstallerDownload"]);
    let other = s.token("abc-p1", &mgmt, &["InstallerDownload"]);
    // lookup: any valid token of the environment.
    let v = s
        .post(
            &format!("{TOKENS}/lookup"),
            Some(&inst),
            &json!({"token": other}),
        )
        .assert_json(200);
    assert_eq!(v["id"], id_of(&other));
    let unknown = format!("dt0c01.{}.{}", "A".repeat(24), "B".repeat(64));
    s.post(
        &format!("{TOKENS}/lookup"),
        Some(&inst),
        &json!({"token": unknown}),
    )
    .assert_error(404, "not found");
    s.post(
        &format!("{TOKENS}/lookup"),
        Some(&inst),
        &json!({"token": "nope"}),
    )
    .assert_error(400, "token");
    s.post(&format!("{TOKENS}/lookup"), Some(&inst), &json!({}))
        .assert_error(400, "token");

    // get: apiTokens.read.
    let v = s
        .get(&format!("{TOKENS}/{}", id_of(&inst)), Some(&mgmt))
        .assert_json(200);
    assert_eq!(v["scopes"], json!(["InstallerDownload"]));
    assert!(v.get("token").is_none(), "never the secret: {v}");
    s.get(&format!("{TOKENS}/{}", id_of(&unknown)), Some(&mgmt))
        .assert_error(404, "not found");
    s.get(&format!("{TOKENS}/{}", id_of(&mgmt)), Some(&inst))
        .assert_error(403, "apiTokens.read");
    let list = s.get(TOKENS, Some(&mgmt)).assert_json(200);
    assert_eq!(list["totalCount"], 3);

    // delete: by id, by secret; not itself; 404 when unknown; the deleted token dies at once.
    assert_eq!(
        s.get(
            "/e/abc-p1/api/v1/deployment/installer/agent/connectioninfo",
            Some(&inst)
        )
        .status,
        200
    );
    let r = s.delete(&format!("{TOKENS}/{}", id_of(&inst)), Some(&mgmt));
    assert_eq!(r.status, 204);
    assert!(r.bytes.is_empty());
    s.get(
        "/e/abc-p1/api/v1/deployment/installer/agent/connectioninfo",
        Some(&inst),
    )
    .assert_error(401, "Token Authentication failed");
    s.delete(&format!("{TOKENS}/{}", id_of(&inst)), Some(&mgmt))
        .assert_error(404, "not found");
    assert_eq!(
        s.delete(&format!("{TOKENS}/{other}"), Some(&mgmt)).status,
        204
    );
    s.delete(&format!("{TOKENS}/{}", id_of(&mgmt)), Some(&mgmt))
        .assert_error(400, "itself");
    s.delete(&format!("{TOKENS}/{mgmt}"), Some(&mgmt))
        .assert_error(400, "itself");
    let reader = s.token("abc-p1", &mgmt, &["apiTokens.read"]);
    s.delete(&format!("{TOKENS}/{}", id_of(&mgmt)), Some(&reader))
        .assert_error(403, "apiTokens.write");
    // The error never echoes a secret.
    let r = s.delete(&format!("{TOKENS}/{unknown}"), Some(&mgmt));
    assert!(!String::from_utf8_lossy(&r.bytes).contains(&unknown[31..]));
}

#[test]
fn tokens_are_valid_only_in_their_environment_and_until_expiry() {
    let s = Sim::new();
    let a = s.env_with_token("a");
    let mgmt_b = s.env("b");
    s.get(
        "/e/b/api/v1/deployment/installer/agent/connectioninfo",
        Some(&a),
    )
    .assert_error(401, "Token Authentication failed");
    s.get(
        "/e/nope/api/v1/deployment/installer/agent/connectioninfo",
        Some(&a),
    )
    .assert_error(401, "Token Authentication failed");
    // b's management token cannot see a's tokens.
    s.get(
        &format!("/e/b/api/v2/apiTokens/{}", id_of(&a)),
        Some(&mgmt_b),
    )
    .assert_error(404, "not found");

    let soon = now_ms() + 700;
    let v = s
        .post(
            "/e/b/api/v2/apiTokens",
            Some(&mgmt_b),
            &json!({"name": "short", "scopes": ["InstallerDownload"], "expirationDate": soon}),
        )
        .assert_json(201);
    let short = v["token"].as_str().unwrap().to_string();
    assert_eq!(
        s.get(
            "/e/b/api/v1/deployment/installer/agent/connectioninfo",
            Some(&short)
        )
        .status,
        200
    );
    std::thread::sleep(std::time::Duration::from_millis(
        soon.saturating_sub(now_ms()) + 100,
    ));
    s.get(
        "/e/b/api/v1/deployment/installer/agent/connectioninfo",
        Some(&short),
    )
    .assert_error(401, "Token Authentication failed");
}

#[test]
fn v1_tokens_twin() {
    let s = Sim::new();
    let mgmt = s.env("abc-p1");
    let v = s
        .post(
            "/e/abc-p1/api/v1/tokens",
            Some(&mgmt),
            &json!({"name": "v1", "scopes": ["InstallerDownload"], "expiresIn": {"value": 1, "unit": "DAYS"}}),
        )
        .assert_json(201);
    let tok = v["token"].as_str().unwrap().to_string();
    assert_eq!(
        s.get(
            "/e/abc-p1/api/v1/deployment/installer/agent/connectioninfo",
            Some(&tok)
        )
        .status,
        200
    );
    let look = s
        .post(
            "/e/abc-p1/api/v1/tokens/lookup",
            Some(&mgmt),
            &json!({"token": tok}),
        )
        .assert_json(200);
    assert_eq!(look["id"], id_of(&tok));
    assert_eq!(look["name"], "v1");
    assert_eq!(look["revoked"], false);
    assert!(look["expires"].as_u64().unwrap() > now_ms());
    let list = s
        .get("/e/abc-p1/api/v1/tokens", Some(&mgmt))
        .assert_json(200);
    assert!(list["values"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == id_of(&tok)));
    s.post(
        "/e/abc-p1/api/v1/tokens",
        Some(&mgmt),
        &json!({"name": "v1", "scopes": ["Nope"]}),
    )
    .assert_error(400, "unknown scope");
    s.post(
        "/e/abc-p1/api/v1/tokens",
        Some(&tok),
        &json!({"name": "v1", "scopes": ["InstallerDownload"]}),
    )
    .assert_error(403, "TenantTokenManagement");
    assert_eq!(
        s.delete(
            &format!("/e/abc-p1/api/v1/tokens/{}", id_of(&tok)),
            Some(&mgmt)
        )
        .status,
        204
    );
    s.get(
        "/e/abc-p1/api/v1/deployment/installer/agent/connectioninfo",
        Some(&tok),
    )
    .assert_error(401, "Token Authentication failed");
    s.post(
        "/e/abc-p1/api/v1/tokens/lookup",
        Some(&mgmt),
        &json!({"token": tok}),
    )
    .assert_error(404, "not found");
}

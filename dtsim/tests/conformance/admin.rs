//! Admin routes, request log, section-0 conventions (payload limit, malformed JSON, unknown
//! routes), TLS and the state file.

use serde_json::json;

use crate::common::{id_of, Sim};

#[test]
fn request_log_shape_and_secrets() {
    let s = Sim::new();
    let ct = s.cluster();
    s.get("/api/cluster/v2/environments?pageSize=5", Some(&ct));
    s.get(
        &format!("/api/cluster/v2/environments?Api-Token={ct}&sort=name"),
        None,
    );
    s.get("/nowhere", None);
    let log = s.get("/__dtsim/requests", None).assert_json(200);
    assert_eq!(
        log,
        json!([
            {"method": "GET", "path": "/api/cluster/v2/environments?pageSize=5", "status": 200, "tokenId": id_of(&ct)},
            {"method": "GET", "path": "/api/cluster/v2/environments?sort=name", "status": 200, "tokenId": id_of(&ct)},
            {"method": "GET", "path": "/nowhere", "status": 404, "tokenId": null},
        ])
    );
    assert!(!log.to_string().contains(&ct), "no secret in the log");
    let api = s.sim.requests();
    assert_eq!(api.len(), 3);
    assert_eq!(api[1].path, "/api/cluster/v2/environments?sort=name");
    assert_eq!(api[0].token_id.as_deref(), Some(id_of(&ct).as_str()));
    assert_eq!(s.delete("/__dtsim/requests", None).status, 204);
    assert_eq!(s.get("/__dtsim/requests", None).json(), json!([]));
    s.get("/api/cluster/v2/environments", Some(&ct));
    assert_eq!(s.sim.requests().len(), 1);
    s.sim.clear_requests();
    assert!(s.sim.requests().is_empty());
}

#[test]
fn tokens_and_ca_admin_routes() {
    let s = Sim::new();
    let tok = s.env_with_token("abc-p1");
    let mgmt_id = {
        let list = s.get("/__dtsim/tokens", None).assert_json(200);
        assert!(!list.to_string().contains(&tok[32..]), "never a secret");
        let mine = list
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id_of(&tok))
            .unwrap()
            .clone();
        assert_eq!(mine["environment"], "abc-p1");
        assert_eq!(mine["alive"], true);
        assert!(mine["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == "InstallerDownload"));
        let cluster = list
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id_of(&s.cluster()))
            .unwrap()
            .clone();
        assert!(cluster["environment"].is_null());
        list.as_array()
            .unwrap()
            .iter()
            .find(|t| t["environment"] == "abc-p1" && t["id"] != id_of(&tok))
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // A deleted token shows as not alive.
    let ct = s.cluster();
    let mgmt = s
        .post(
            "/api/cluster/v2/environments/abc-p1/tokenManagementToken",
            Some(&ct),
            &json!({"name": "m", "expiresIn": {"value": 5, "unit": "MINUTES"}}),
        )
        .json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        s.delete(
            &format!("/e/abc-p1/api/v2/apiTokens/{}", id_of(&tok)),
            Some(&mgmt)
        )
        .status,
        204
    );
    let list = s.get("/__dtsim/tokens", None).json();
    let dead = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id_of(&tok))
        .unwrap();
    assert_eq!(dead["alive"], false);
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == mgmt_id.as_str() && t["alive"] == true));

    let r = s.get("/__dtsim/ca.pem", None);
    assert_eq!(r.status, 200);
    assert_eq!(String::from_utf8(r.bytes).unwrap(), s.sim.ca_pem());
    assert!(s.sim.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    s.get("/__dtsim/nope", None).assert_error(404, "admin");
}

#[test]
fn conventions_payload_limit_malformed_json_unknown_routes() {
    let s = Sim::new();
    let ct = s.cluster();
    let big = vec![b' '; 1024 * 1024 + 1];
    let r = s.call(
        "PUT",
        "/api/cluster/v2/environments/big",
        Some(&ct),
        Some(&big),
    );
    r.assert_error(413, "payload limit");
    let ok_sized = format!("{{\"name\":\"x\",\"pad\":\"{}\"}}", "p".repeat(1000 * 1000));
    assert_eq!(
        s.call(
            "PUT",
            "/api/cluster/v2/environments/big",
            Some(&ct),
            Some(ok_sized.as_bytes())
        )
        .status,
        201
    );
    s.call(
        "PUT",
        "/api/cluster/v2/environments/x",
        Some(&ct),
        Some(b"{\"name\":"),
    )
    .assert_error(400, "JSON");
    s.call(
        "PUT",
        "/api/cluster/v2/environments/x",
        Some(&ct),
        Some(&[0xff, 0xfe]),
    )
    .assert_error(400, "JSON");
    s.get("/api/cluster/v3/whatever", Some(&ct))
        .assert_error(404, "No such API");
    s.get("/", None).assert_error(404, "No such API");
    let r = s.call("PATCH", "/api/cluster/v2/environments/x", Some(&ct), None);
    r.assert_error(405, "PATCH");
    assert!(r.header("allow").unwrap().contains("PUT"));
}

#[test]
fn tls_serves_with_a_certificate_from_the_ca() {
    let s = dtsim::Dtsim::start_with(dtsim::Options {
        tls: true,
        ..Default::default()
    })
    .unwrap();
    assert!(s.url().starts_with("https://127.0.0.1:"));
    let pem = s.ca_pem();
    let agent = crate::common::agent_trusting(pem.as_bytes());
    let ct = s.cluster_token();
    for base in [s.url(), s.url().replace("127.0.0.1", "localhost")] {
        let r = agent
            .get(format!("{base}/api/cluster/v2/environments"))
            .header("Authorization", format!("Api-Token {ct}"))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{base}");
    }
    // Without the CA the handshake fails.
    let plain = crate::common::agent();
    assert!(plain
        .get(format!("{}/api/cluster/v2/environments", s.url()))
        .send()
        .is_err());
}

#[test]
fn state_file_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let opts = || dtsim::Options {
        state_file: Some(path.clone()),
        ..Default::default()
    };
    let (tok, ca) = {
        let s = Sim::with(opts());
        let tok = s.env_with_token("abc-p1");
        s.post(
            "/api/v1.0/onpremise/groups",
            Some(&s.cluster()),
            &json!({"name": "Ops"}),
        )
        .assert_json(200);
        let r = s.post(
            "/e/abc-p1/api/v2/settings/objects",
            Some(&tok),
            &json!([{"schemaId": "builtin:deployment.oneagent.updates", "scope": "environment", "value": {"updateMode": "MANUAL", "targetVersion": "1.301", "revision": "latest", "maintenanceWindows": []}}]),
        );
        assert_eq!(r.status, 200);
        (tok, s.sim.ca_pem())
    };
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains(&tok[32..]),
        "the state file holds no token secret"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let s = Sim::with(opts());
    assert_eq!(s.sim.ca_pem(), ca, "the CA survives a restart");
    let ct = s.cluster();
    assert_eq!(
        s.get("/api/cluster/v2/environments/abc-p1", Some(&ct))
            .assert_json(200)["name"],
        "Env abc-p1"
    );
    assert_eq!(
        s.get("/api/v1.0/onpremise/groups/ops", Some(&ct)).status,
        200
    );
    let meta = s.get(
        "/e/abc-p1/api/v1/deployment/installer/agent/unix/default/latest/metainfo",
        Some(&tok),
    );
    assert_eq!(
        meta.assert_json(200)["latestAgentVersion"],
        dtsim::installer::VERSIONS[1]
    );
}

#[test]
fn state_file_is_saved_on_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let s = Sim::with(dtsim::Options {
        state_file: Some(path.clone()),
        ..Default::default()
    });
    s.env("saved-early");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !std::fs::read_to_string(&path)
        .unwrap_or_default()
        .contains("saved-early")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "state file not written after a change"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::fs::write(dir.path().join("bad.json"), "{").unwrap();
    let err = dtsim::Dtsim::start_with(dtsim::Options {
        state_file: Some(dir.path().join("bad.json")),
        ..Default::default()
    });
    let msg = format!("{:#}", err.err().unwrap());
    assert!(msg.contains("bad.json"), "{msg}");
}

/// Expiry is checked against the simulator's clock (`POST /__dtsim/clock`): a 15-minute token
/// answers until its 15 minutes of simulated time have passed, then 401 as an expired token
/// does; a token without expiry is unaffected.
#[test]
fn clock_advance_expires_tokens() {
    let s = Sim::new();
    let mgmt = s.env("abc-p1");
    let versions = "/e/abc-p1/api/v1/deployment/installer/agent/versions/unix/default";
    let short = s
        .post(
            "/e/abc-p1/api/v2/apiTokens",
            Some(&mgmt),
            &json!({"name": "inst", "scopes": ["InstallerDownload"], "expirationDate": "now+15m"}),
        )
        .assert_json(201)["token"]
        .as_str()
        .unwrap()
        .to_string();
    let forever = s.token("abc-p1", &mgmt, &["InstallerDownload"]);
    let alive = |tok: &str| {
        let list = s.get("/__dtsim/tokens", None).assert_json(200);
        list.as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id_of(tok))
            .unwrap()["alive"]
            .clone()
    };
    s.get(versions, Some(&short)).assert_json(200);
    let advance = |ms: u64| s.post("/__dtsim/clock", None, &json!({"advanceMs": ms}));
    assert_eq!(
        advance(14 * 60 * 1000).assert_json(200)["offsetMs"],
        14 * 60 * 1000
    );
    s.get(versions, Some(&short)).assert_json(200);
    assert_eq!(alive(&short), true);
    advance(60 * 1000 + 1000).assert_json(200);
    s.get(versions, Some(&short))
        .assert_error(401, "Token Authentication failed");
    assert_eq!(alive(&short), false);
    let clock = s.get("/__dtsim/clock", None).assert_json(200);
    assert_eq!(clock["offsetMs"], 15 * 60 * 1000 + 1000, "{clock}");
    s.get(versions, Some(&forever)).assert_json(200);
    assert_eq!(alive(&forever), true);
    for bad in [
        json!({}),
        json!({"advanceMs": -1}),
        json!({"advanceMs": "1"}),
    ] {
        assert_eq!(s.post("/__dtsim/clock", None, &bad).status, 400, "{bad}");
    }
}

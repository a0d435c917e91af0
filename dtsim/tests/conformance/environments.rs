//! Section 1: Cluster API v2 environments, tokenManagementToken, cluster tokens; section 0 auth.

use serde_json::json;

use crate::common::{id_of, Sim};

const ENVS: &str = "/api/cluster/v2/environments";

#[test]
fn auth_failures_are_401_and_403_with_envelopes() {
    let s = Sim::new();
    s.get(ENVS, None)
        .assert_error(401, "Missing authorization parameter.");
    s.get(ENVS, Some("dt0c01.bogus"))
        .assert_error(401, "Token Authentication failed");
    let unknown = format!("dt0c01.{}.{}", "A".repeat(24), "B".repeat(64));
    s.get(ENVS, Some(&unknown))
        .assert_error(401, "Token Authentication failed");
    // A right id with a wrong secret is no better.
    let wrong = format!("{}.{}", id_of(&s.cluster()), "C".repeat(64));
    s.get(ENVS, Some(&wrong))
        .assert_error(401, "Token Authentication failed");
    // Other realms are not an Api-Token.
    s.call_with(
        "GET",
        ENVS,
        None,
        None,
        &[("Authorization", &format!("Bearer {}", s.cluster()))],
    )
    .assert_error(401, "Missing authorization parameter.");
    // Realm is case-insensitive; the query parameter works too (both spellings).
    let r = s.call_with(
        "GET",
        ENVS,
        None,
        None,
        &[("Authorization", &format!("aPi-ToKeN {}", s.cluster()))],
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        s.get(&format!("{ENVS}?api-token={}", s.cluster()), None)
            .status,
        200
    );
    assert_eq!(
        s.get(&format!("{ENVS}?Api-Token={}", s.cluster()), None)
            .status,
        200
    );
    // An environment token is not valid on cluster routes.
    let mgmt = s.env("abc-p1");
    s.get(ENVS, Some(&mgmt))
        .assert_error(401, "Token Authentication failed");
    // A cluster token without ServiceProviderAPI gets 403.
    let r = s.post(
        "/api/cluster/v2/tokens",
        Some(&s.cluster()),
        &json!({"name": "narrow", "scopes": ["ClusterTokenManagement"]}),
    );
    let narrow = r.assert_json(201)["token"].as_str().unwrap().to_string();
    s.get(ENVS, Some(&narrow))
        .assert_error(403, "ServiceProviderAPI");
    s.put(&format!("{ENVS}/x"), Some(&narrow), &json!({"name": "x"}))
        .assert_error(403, "ServiceProviderAPI");
}

#[test]
fn put_creates_then_updates() {
    let s = Sim::new();
    let ct = s.cluster();
    let r = s.put(
        &format!("{ENVS}/abc-p1?createToken=true"),
        Some(&ct),
        &json!({"name": "ABC P1", "tags": ["a", "b"]}),
    );
    let v = r.assert_json(201);
    assert_eq!(v["id"], "abc-p1");
    assert_eq!(v["name"], "ABC P1");
    assert!(v["description"].is_null());
    let mgmt = v["tokenManagementToken"].as_str().unwrap().to_string();
    assert!(
        mgmt.starts_with("dt0c01.") && mgmt.len() == 6 + 1 + 24 + 1 + 64,
        "{mgmt}"
    );
    assert!(mgmt[7..]
        .chars()
        .all(|c| c == '.' || c.is_ascii_uppercase() || ('2'..='7').contains(&c)));
    assert_eq!(
        r.header("location"),
        Some(format!("{}{ENVS}/abc-p1", s.sim.url()).as_str())
    );

    // The management token has exactly the three scopes, in this environment only.
    let look = s.post(
        "/e/abc-p1/api/v2/apiTokens/lookup",
        Some(&mgmt),
        &json!({"token": mgmt}),
    );
    let mut scopes: Vec<String> =
        serde_json::from_value(look.assert_json(200)["scopes"].clone()).unwrap();
    scopes.sort();
    assert_eq!(
        scopes,
        ["TenantTokenManagement", "apiTokens.read", "apiTokens.write"]
    );
    s.env("other");
    s.post(
        "/e/other/api/v2/apiTokens/lookup",
        Some(&mgmt),
        &json!({"token": mgmt}),
    )
    .assert_error(401, "Token Authentication failed");

    let got = s.get(&format!("{ENVS}/abc-p1"), Some(&ct)).assert_json(200);
    assert_eq!(got["id"], "abc-p1");
    assert_eq!(got["state"], "ENABLED");
    assert_eq!(got["trial"], false);
    assert_eq!(got["tags"], json!(["a", "b"]));
    let created = got["creationDate"].as_str().unwrap();
    assert!(
        created.len() == 24 && created.ends_with('Z') && created.as_bytes()[19] == b'.',
        "{created}"
    );
    assert!(got.get("quotas").is_none() && got.get("storage").is_none());
    let full = s
        .get(
            &format!("{ENVS}/abc-p1?includeConsumptionInfo=true&includeStorageInfo=true"),
            Some(&ct),
        )
        .assert_json(200);
    assert!(full["quotas"].is_object() && full["storage"].is_object());

    // Same PUT again: an update, 204 and no body (and no new token), name/tags replaced.
    let r = s.put(
        &format!("{ENVS}/abc-p1?createToken=true"),
        Some(&ct),
        &json!({"name": "Renamed", "tags": ["c"]}),
    );
    assert_eq!(r.status, 204);
    assert!(r.bytes.is_empty());
    let got = s.get(&format!("{ENVS}/abc-p1"), Some(&ct)).assert_json(200);
    assert_eq!(got["name"], "Renamed");
    assert_eq!(got["tags"], json!(["c"]));
    assert_eq!(got["creationDate"].as_str().unwrap(), created);

    // Without createToken the short form has no token.
    let v = s
        .put(
            &format!("{ENVS}/plain"),
            Some(&ct),
            &json!({"name": "Plain"}),
        )
        .assert_json(201);
    assert!(v.get("tokenManagementToken").is_none(), "{v}");
}

#[test]
fn put_validation() {
    let s = Sim::new();
    let ct = s.cluster();
    let long = "a".repeat(71);
    for (path, body, needle) in [
        (
            format!("{ENVS}/{long}"),
            json!({"name": "x"}),
            "does not match",
        ),
        (
            format!("{ENVS}/a.b"),
            json!({"name": "x"}),
            "does not match",
        ),
        (format!("{ENVS}/ok"), json!({"tags": []}), "name"),
        (format!("{ENVS}/ok"), json!({"name": ""}), "name"),
        (format!("{ENVS}/ok"), json!({"name": 5}), "name"),
        (
            format!("{ENVS}/ok"),
            json!({"name": "x", "id": "other"}),
            "differs",
        ),
        (
            format!("{ENVS}/ok"),
            json!({"name": "x", "state": "ON"}),
            "ENABLED or DISABLED",
        ),
        (
            format!("{ENVS}/ok"),
            json!({"name": "x", "tags": ["t".repeat(101)]}),
            "100",
        ),
        (
            format!("{ENVS}/ok"),
            json!({"name": "x", "tags": "a"}),
            "array",
        ),
        (
            format!("{ENVS}/ok"),
            json!({"name": "x", "trial": "yes"}),
            "boolean",
        ),
        (
            format!("{ENVS}/ok?createToken=maybe"),
            json!({"name": "x"}),
            "boolean",
        ),
        (format!("{ENVS}/ok"), json!([1]), "object"),
    ] {
        let v = s.put(&path, Some(&ct), &body).assert_error(400, needle);
        if needle == "does not match" {
            assert_eq!(
                v["error"]["constraintViolations"][0]["parameterLocation"],
                "PATH"
            );
            assert_eq!(v["error"]["constraintViolations"][0]["path"], "id");
        }
    }
    assert!(
        s.put(
            &format!("{ENVS}/{}", "a".repeat(70)),
            Some(&ct),
            &json!({"name": "x"})
        )
        .status
            == 201
    );
    s.call("PUT", &format!("{ENVS}/ok"), Some(&ct), Some(b"{not json"))
        .assert_error(400, "JSON");
    s.call("PUT", &format!("{ENVS}/ok"), Some(&ct), Some(b""))
        .assert_error(400, "missing");
    s.get(&format!("{ENVS}/nope"), Some(&ct))
        .assert_error(404, "nope");
}

#[test]
fn post_chooses_the_id() {
    let s = Sim::new();
    let ct = s.cluster();
    let r = s.post(
        &format!("{ENVS}?createToken=true"),
        Some(&ct),
        &json!({"name": "Server chosen"}),
    );
    let v = r.assert_json(201);
    let id = v["id"].as_str().unwrap().to_string();
    assert!(!id.is_empty() && id.len() <= 70);
    assert!(v["tokenManagementToken"]
        .as_str()
        .unwrap()
        .starts_with("dt0c01."));
    let location = r.header("location").unwrap().to_string();
    assert!(location.ends_with(&format!("{ENVS}/{id}")));
    let path = location.strip_prefix(&s.sim.url()).unwrap();
    assert_eq!(
        s.get(path, Some(&ct)).assert_json(200)["name"],
        "Server chosen"
    );
    s.post(ENVS, Some(&ct), &json!({"id": "mine", "name": "x"}))
        .assert_error(400, "PUT");
    s.post(ENVS, Some(&ct), &json!({}))
        .assert_error(400, "name");
}

#[test]
fn delete_needs_disabled_and_kills_tokens() {
    let s = Sim::new();
    let ct = s.cluster();
    let tok = s.env_with_token("gone");
    s.delete(&format!("{ENVS}/gone"), Some(&ct))
        .assert_error(400, "DISABLED");
    let r = s.put(
        &format!("{ENVS}/gone"),
        Some(&ct),
        &json!({"name": "Env gone", "state": "DISABLED"}),
    );
    assert_eq!(r.status, 204);
    assert_eq!(
        s.get(&format!("{ENVS}/gone"), Some(&ct)).json()["state"],
        "DISABLED"
    );
    let r = s.delete(&format!("{ENVS}/gone"), Some(&ct));
    assert_eq!(r.status, 204);
    assert!(r.bytes.is_empty());
    s.get(&format!("{ENVS}/gone"), Some(&ct))
        .assert_error(404, "gone");
    s.delete(&format!("{ENVS}/gone"), Some(&ct))
        .assert_error(404, "gone");
    s.get(
        "/e/gone/api/v1/deployment/installer/agent/connectioninfo",
        Some(&tok),
    )
    .assert_error(401, "Token Authentication failed");
}

#[test]
fn list_pages_filters_and_sorts() {
    let s = Sim::new();
    let ct = s.cluster();
    for (id, name, tags, state) in [
        ("e1", "Alpha prod", vec!["prod", "eu"], "ENABLED"),
        ("e2", "beta prod", vec!["prod", "us"], "ENABLED"),
        ("e3", "Gamma test", vec!["test", "eu"], "DISABLED"),
        ("e4", "delta", vec![], "ENABLED"),
        ("e5", "Epsilon PROD", vec!["us"], "ENABLED"),
    ] {
        let r = s.put(
            &format!("{ENVS}/{id}"),
            Some(&ct),
            &json!({"name": name, "tags": tags, "state": state}),
        );
        assert_eq!(r.status, 201);
    }
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["environments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect()
    };
    let all = s.get(ENVS, Some(&ct)).assert_json(200);
    assert_eq!(all["totalCount"], 5);
    assert_eq!(all["pageSize"], 100);
    assert!(all["nextPageKey"].is_null());
    assert_eq!(ids(&all), ["e1", "e2", "e3", "e4", "e5"]);

    // Paging: the key stands alone and carries filter and sort.
    let p1 = s
        .get(&format!("{ENVS}?pageSize=2&sort=-creationDate"), Some(&ct))
        .assert_json(200);
    assert_eq!(ids(&p1), ["e5", "e4"]);
    assert_eq!(p1["pageSize"], 2);
    let key = p1["nextPageKey"].as_str().unwrap().to_string();
    let p2 = s
        .get(&format!("{ENVS}?nextPageKey={key}"), Some(&ct))
        .assert_json(200);
    assert_eq!(ids(&p2), ["e3", "e2"]);
    let key2 = p2["nextPageKey"].as_str().unwrap().to_string();
    let p3 = s
        .get(&format!("{ENVS}?nextPageKey={key2}"), Some(&ct))
        .assert_json(200);
    assert_eq!(ids(&p3), ["e1"]);
    assert!(p3["nextPageKey"].is_null());
    assert_eq!(p3["totalCount"], 5);
    s.get(&format!("{ENVS}?nextPageKey={key}&pageSize=2"), Some(&ct))
        .assert_error(400, "nextPageKey");
    s.get(&format!("{ENVS}?nextPageKey=garbage"), Some(&ct))
        .assert_error(400, "nextPageKey");
    for bad in ["0", "1001", "x", "-1"] {
        s.get(&format!("{ENVS}?pageSize={bad}"), Some(&ct))
            .assert_error(400, "pageSize");
    }
    assert_eq!(
        s.get(&format!("{ENVS}?pageSize=1000"), Some(&ct)).status,
        200
    );

    let f = |q: &str| ids(&s.get(&format!("{ENVS}?{q}"), Some(&ct)).assert_json(200));
    assert_eq!(f("filter=name(PROD)"), ["e1", "e2", "e5"]);
    assert_eq!(f("filter=name%28prod%29"), ["e1", "e2", "e5"]);
    assert_eq!(f("filter=state(DISABLED)"), ["e3"]);
    assert_eq!(f("filter=tag(eu,us)"), ["e1", "e2", "e3", "e5"]);
    assert_eq!(f("filter=tag(prod),tag(eu)"), ["e1"]);
    assert_eq!(f("filter=name(prod),state(ENABLED),tag(us)"), ["e2", "e5"]);
    assert_eq!(f("sort=name"), ["e1", "e2", "e4", "e5", "e3"]);
    assert_eq!(f("sort=-name"), ["e3", "e5", "e4", "e2", "e1"]);
    assert_eq!(f("sort=creationDate"), ["e1", "e2", "e3", "e4", "e5"]);
    let counted = s
        .get(&format!("{ENVS}?filter=tag(us)&pageSize=1"), Some(&ct))
        .assert_json(200);
    assert_eq!(counted["totalCount"], 2);
    for bad in [
        "filter=foo(x)",
        "filter=name(x",
        "filter=state(ON)",
        "sort=id",
    ] {
        s.get(&format!("{ENVS}?{bad}"), Some(&ct))
            .assert_error(400, "");
    }
}

#[test]
fn token_management_token_route() {
    let s = Sim::new();
    let ct = s.cluster();
    s.env("abc-p1");
    let path = format!("{ENVS}/abc-p1/tokenManagementToken");
    let body = json!({"name": "bootstrap", "expiresIn": {"value": 300, "unit": "SECONDS"}});
    let v = s.post(&path, Some(&ct), &body).assert_json(201);
    let tok = v["token"].as_str().unwrap().to_string();
    let look = s
        .post(
            "/e/abc-p1/api/v2/apiTokens/lookup",
            Some(&tok),
            &json!({"token": tok}),
        )
        .assert_json(200);
    assert_eq!(look["name"], "bootstrap");
    assert!(look["expirationDate"].is_string());
    assert_eq!(look["scopes"].as_array().unwrap().len(), 3);
    // It can mint an installer token in its environment.
    s.token("abc-p1", &tok, &["InstallerDownload"]);

    s.post(
        &format!("{ENVS}/nope/tokenManagementToken"),
        Some(&ct),
        &body,
    )
    .assert_error(404, "nope");
    // expiresIn and name are optional [doc: "Create a new tenant token"].
    s.post(&path, Some(&ct), &json!({"name": "x"}))
        .assert_json(201);
    s.post(
        &path,
        Some(&ct),
        &json!({"name": "x", "expiresIn": {"value": 1, "unit": "YEARS"}}),
    )
    .assert_error(400, "unit");
    s.post(
        &path,
        Some(&ct),
        &json!({"expiresIn": {"value": 1, "unit": "DAYS"}}),
    )
    .assert_json(201);
    s.post(&path, Some(&ct), &json!({"name": 5}))
        .assert_error(400, "name");
    let narrow = s
        .post(
            "/api/cluster/v2/tokens",
            Some(&ct),
            &json!({"name": "n", "scopes": ["ServiceProviderAPI"]}),
        )
        .assert_json(201)["token"]
        .as_str()
        .unwrap()
        .to_string();
    s.post(&path, Some(&narrow), &body)
        .assert_error(403, "EnvironmentTokenManagement");

    // Expiry is enforced on every call.
    let short = s
        .post(
            &path,
            Some(&ct),
            &json!({"name": "short", "expiresIn": {"value": 300, "unit": "MILLIS"}}),
        )
        .assert_json(201)["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        s.get("/e/abc-p1/api/v2/apiTokens", Some(&short)).status,
        200
    );
    std::thread::sleep(std::time::Duration::from_millis(400));
    s.get("/e/abc-p1/api/v2/apiTokens", Some(&short))
        .assert_error(401, "Token Authentication failed");
}

#[test]
fn cluster_tokens() {
    let s = Sim::new();
    let ct = s.cluster();
    let v = s
        .post(
            "/api/cluster/v2/tokens",
            Some(&ct),
            &json!({"name": "svc", "scopes": ["ServiceProviderAPI"], "expiresIn": {"value": 1, "unit": "HOURS"}}),
        )
        .assert_json(201);
    let tok = v["token"].as_str().unwrap().to_string();
    assert_eq!(s.get(ENVS, Some(&tok)).status, 200);
    let look = s
        .post(
            "/api/cluster/v2/tokens/lookup",
            Some(&ct),
            &json!({"token": tok}),
        )
        .assert_json(200);
    assert_eq!(look["name"], "svc");
    assert_eq!(look["scopes"], json!(["ServiceProviderAPI"]));
    assert_eq!(look["id"], id_of(&tok));
    s.post(
        "/api/cluster/v2/tokens",
        Some(&ct),
        &json!({"name": "x", "scopes": ["InstallerDownload"]}),
    )
    .assert_error(400, "unknown scope");
    s.post(
        "/api/cluster/v2/tokens",
        Some(&ct),
        &json!({"name": "x", "scopes": []}),
    )
    .assert_error(400, "empty");
    s.post(
        "/api/cluster/v2/tokens",
        Some(&tok),
        &json!({"name": "x", "scopes": ["ServiceProviderAPI"]}),
    )
    .assert_error(403, "ClusterTokenManagement");
    s.delete(&format!("/api/cluster/v2/tokens/{}", id_of(&ct)), Some(&ct))
        .assert_error(400, "itself");
    let r = s.delete(
        &format!("/api/cluster/v2/tokens/{}", id_of(&tok)),
        Some(&ct),
    );
    assert_eq!(r.status, 204);
    s.get(ENVS, Some(&tok))
        .assert_error(401, "Token Authentication failed");
    s.delete(
        &format!("/api/cluster/v2/tokens/{}", id_of(&tok)),
        Some(&ct),
    )
    .assert_error(404, "not found");
    s.post(
        "/api/cluster/v2/tokens/lookup",
        Some(&ct),
        &json!({"token": tok}),
    )
    .assert_error(404, "not found");
    // An environment token never manages cluster tokens.
    let mgmt = s.env("e");
    s.post(
        "/api/cluster/v2/tokens/lookup",
        Some(&mgmt),
        &json!({"token": mgmt}),
    )
    .assert_error(401, "Token Authentication failed");
}

#[test]
fn fifty_concurrent_puts_create_one_environment() {
    let s = Sim::new();
    let ct = s.cluster();
    let url = s.url(&format!("{ENVS}/raced?createToken=true"));
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..50)
            .map(|_| {
                let (url, ct) = (url.clone(), ct.clone());
                scope.spawn(move || {
                    let agent = crate::common::agent();
                    agent
                        .put(&url)
                        .header("Authorization", format!("Api-Token {ct}"))
                        .header("Content-Type", "application/json")
                        .body(json!({"name": "Raced"}).to_string())
                        .send()
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
    });
    assert_eq!(
        statuses.iter().filter(|&&s| s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 204).count(),
        49,
        "{statuses:?}"
    );
    let list = s
        .get(&format!("{ENVS}?filter=name(Raced)"), Some(&ct))
        .assert_json(200);
    assert_eq!(list["totalCount"], 1);
}

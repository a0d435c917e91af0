//! Issue 15, token APIs: one test per deviation an audit of Dynatrace's public documentation
//! found. Each test names the documentation page (by title) whose behaviour it pins down.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::common::{id_of, Resp, Sim};

const TOKENS: &str = "/e/abc-p1/api/v2/apiTokens";
const CLUSTER_TOKENS: &str = "/api/cluster/v2/tokens";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn ms_of(iso: &Value) -> u64 {
    let s = iso.as_str().unwrap_or_else(|| panic!("not a date: {iso}"));
    humantime::parse_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[track_caller]
fn assert_near(actual: u64, expected: u64, slack_ms: u64) {
    assert!(
        actual.abs_diff(expected) <= slack_ms,
        "{actual} is not within {slack_ms} ms of {expected}"
    );
}

fn create_expiring(s: &Sim, mgmt: &str, date: &str) -> Resp {
    s.post(
        TOKENS,
        Some(mgmt),
        &json!({"name": "exp", "scopes": ["InstallerDownload"], "expirationDate": date}),
    )
}

/// The secret of a token a 201 answer carries.
fn token_from(r: Resp) -> String {
    r.assert_json(201)["token"].as_str().unwrap().to_string()
}

#[track_caller]
fn in_ten_minutes(expires_ms: u64) {
    assert_near(expires_ms, now_ms() + 600_000, 30_000);
}

/// The `expirationDate` a v2 token created with `date` gets.
fn expiration(s: &Sim, mgmt: &str, date: &str) -> Value {
    create_expiring(s, mgmt, date).assert_json(201)["expirationDate"].clone()
}

// [doc: "Access tokens API - POST a token"] expirationDate: an ISO date with any offset, a space
// for `T`, optional seconds; relative `now+NU` with an optional alignment `/U`.
#[test]
fn api_token_expiration_date_forms() {
    let s = Sim::new();
    let mgmt = s.env("abc-p1");
    for (given, stored) in [
        ("2030-01-25T05:57:01.123+01:00", "2030-01-25T04:57:01.123Z"),
        ("2030-01-25T05:57:01.123-02:30", "2030-01-25T08:27:01.123Z"),
        ("2030-01-25 05:57:01", "2030-01-25T05:57:01.000Z"),
        ("2030-01-25T05:57", "2030-01-25T05:57:00.000Z"),
        ("2030-01-25T05:57+0100", "2030-01-25T04:57:00.000Z"),
    ] {
        assert_eq!(expiration(&s, &mgmt, given), json!(stored), "{given}");
    }
    let day = 86_400_000;
    let now = now_ms();
    let year = ms_of(&expiration(&s, &mgmt, "now+1y"));
    assert!(
        (now + 365 * day - 60_000..=now + 366 * day + 60_000).contains(&year),
        "now+1y gave {year}"
    );
    assert_near(
        ms_of(&expiration(&s, &mgmt, "now+1w")),
        now + 7 * day,
        60_000,
    );
    let aligned = ms_of(&expiration(&s, &mgmt, "now+2d/d"));
    assert_eq!(aligned % day, 0, "/d aligns to midnight UTC");
    assert!((now + day..=now + 2 * day).contains(&aligned));
    let hour = ms_of(&expiration(&s, &mgmt, "now+3h/h"));
    assert_eq!(hour % 3_600_000, 0);
    for bad in [
        "now-1d",
        "now+1x",
        "now+1d/q",
        "2030-01-25T05:57:01+25:00",
        "2000-01-01 00:00",
    ] {
        create_expiring(&s, &mgmt, bad).assert_error(400, "expirationDate");
    }
}

// [doc: "Access tokens API - GET all tokens"] apiTokenSelector, fields, sort, pageSize
// (100-10000, default 200); by default only id, name, enabled, owner, creationDate.
#[test]
fn api_token_list_parameters() {
    let s = Sim::new();
    let mgmt = s.env("abc-p1");
    let reader = s.token("abc-p1", &mgmt, &["apiTokens.read"]);
    s.post(
        TOKENS,
        Some(&mgmt),
        &json!({"name": "alpha", "scopes": ["InstallerDownload"]}),
    )
    .assert_json(201);
    s.post(
        TOKENS,
        Some(&mgmt),
        &json!({"name": "beta", "scopes": ["settings.read"], "personalAccessToken": true}),
    )
    .assert_json(201);
    let list = |q: &str| s.get(&format!("{TOKENS}{q}"), Some(&reader));

    let all = list("").assert_json(200);
    assert_eq!(all["pageSize"], 200);
    assert_eq!(all["totalCount"], 4);
    for t in all["apiTokens"].as_array().unwrap() {
        let mut keys: Vec<&str> = t.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["creationDate", "enabled", "id", "name", "owner"],
            "{t}"
        );
    }
    let names = |v: &Value| -> Vec<String> {
        v["apiTokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let v = list("?apiTokenSelector=name(%22alpha%22)").assert_json(200);
    assert_eq!(names(&v), ["alpha"]);
    let v = list("?apiTokenSelector=scope(%22settings.read%22)").assert_json(200);
    assert_eq!(names(&v), ["beta"]);
    let v = list("?apiTokenSelector=personalAccessToken(true)").assert_json(200);
    assert_eq!(names(&v), ["beta"]);
    let owner = format!("?apiTokenSelector=owner(%22{}%22)&sort=name", id_of(&mgmt));
    assert_eq!(
        names(&list(&owner).assert_json(200)),
        ["alpha", "beta", "test"]
    );
    assert_eq!(
        names(&list("?sort=-name").assert_json(200)),
        ["tokenManagementToken", "test", "beta", "alpha"]
    );
    let v = list("?fields=%2Bscopes,-owner&apiTokenSelector=name(%22beta%22)").assert_json(200);
    assert_eq!(
        v["apiTokens"][0],
        json!({"id": v["apiTokens"][0]["id"], "name": "beta", "enabled": true,
            "creationDate": v["apiTokens"][0]["creationDate"], "scopes": ["settings.read"]})
    );
    let v = list("?fields=name").assert_json(200);
    assert_eq!(v["apiTokens"][0].as_object().unwrap().len(), 2, "{v}");
    for bad in [
        "?pageSize=99",
        "?pageSize=10001",
        "?sort=size",
        "?fields=%2Bsecret",
        "?apiTokenSelector=color(red)",
    ] {
        list(bad).assert_error(400, "");
    }

    // Pages of at least 100: 104 tokens need two.
    for i in 0..100 {
        s.post(
            TOKENS,
            Some(&mgmt),
            &json!({"name": format!("bulk{i:03}"), "scopes": ["InstallerDownload"]}),
        )
        .assert_json(201);
    }
    let first = list("?pageSize=100").assert_json(200);
    assert_eq!(first["apiTokens"].as_array().unwrap().len(), 100);
    assert_eq!(first["totalCount"], 104);
    let key = first["nextPageKey"].as_str().expect("nextPageKey");
    let second = list(&format!("?nextPageKey={key}")).assert_json(200);
    assert_eq!(second["apiTokens"].as_array().unwrap().len(), 4);
    assert!(second["nextPageKey"].is_null());
}

// [doc: "Create a new tenant token"; "Create new Cluster token"] The body, `expiresIn` and its
// `unit` are optional; `unit` defaults to milliseconds (v1 tokens share the Duration object).
#[test]
fn durations_are_optional() {
    let s = Sim::new();
    let ct = s.cluster();
    s.env("abc-p1");
    let tmt = "/api/cluster/v2/environments/abc-p1/tokenManagementToken";
    let r = s.call("POST", tmt, Some(&ct), None);
    assert!(r.assert_json(201)["token"].is_string());
    s.post(tmt, Some(&ct), &json!({})).assert_json(201);
    let t = token_from(s.post(
        tmt,
        Some(&ct),
        &json!({"name": "ms", "expiresIn": {"value": 600000}}),
    ));
    let look = s
        .post(&format!("{TOKENS}/lookup"), Some(&t), &json!({"token": t}))
        .assert_json(200);
    in_ten_minutes(ms_of(&look["expirationDate"]));

    let c = token_from(s.post(
        CLUSTER_TOKENS,
        Some(&ct),
        &json!({"name": "c", "scopes": ["ServiceProviderAPI"], "expiresIn": {"value": 600000}}),
    ));
    let look = s
        .post(
            &format!("{CLUSTER_TOKENS}/lookup"),
            Some(&ct),
            &json!({"token": c}),
        )
        .assert_json(200);
    in_ten_minutes(look["expires"].as_u64().unwrap());

    let mgmt = s.env("abc-p2");
    let v1 = token_from(s.post(
        "/e/abc-p2/api/v1/tokens",
        Some(&mgmt),
        &json!({"name": "v1", "scopes": ["InstallerDownload"], "expiresIn": {"value": 600000}}),
    ));
    let look = s
        .post(
            "/e/abc-p2/api/v1/tokens/lookup",
            Some(&mgmt),
            &json!({"token": v1}),
        )
        .assert_json(200);
    in_ten_minutes(look["expires"].as_u64().unwrap());
    s.post(
        tmt,
        Some(&ct),
        &json!({"expiresIn": {"value": 5, "unit": "WEEKS"}}),
    )
    .assert_error(400, "expiresIn");
}

// [doc: "Tokens API v1 - POST token metadata"] any valid token may look up a token.
#[test]
fn v1_token_lookup_needs_no_scope() {
    let s = Sim::new();
    let mgmt = s.env("abc-p1");
    let inst = s.token("abc-p1", &mgmt, &["InstallerDownload"]);
    let v = s
        .post(
            "/e/abc-p1/api/v1/tokens/lookup",
            Some(&inst),
            &json!({"token": inst}),
        )
        .assert_json(200);
    assert_eq!(v["scopes"], json!(["InstallerDownload"]));
}

// [doc: "List cluster token metadata with request"; "List Cluster token metadata with id";
// "List available Cluster tokens"; "Update Cluster token"; "Create new Cluster token"]
#[test]
fn cluster_token_metadata_list_get_update() {
    let s = Sim::new();
    let ct = s.cluster();
    let scopes = [
        "settings.read",
        "apiTokens.write",
        "DiagnosticExport",
        "Nodekeeper",
        "activeGateTokenManagement.create",
    ];
    let created = s
        .post(
            CLUSTER_TOKENS,
            Some(&ct),
            &json!({"name": "docs", "scopes": scopes}),
        )
        .assert_json(201);
    let keys: Vec<&String> = created.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["token"], "only the token");
    let c = created["token"].as_str().unwrap().to_string();
    let id = id_of(&c);
    let meta = s
        .post(
            &format!("{CLUSTER_TOKENS}/lookup"),
            Some(&ct),
            &json!({"token": c}),
        )
        .assert_json(200);
    assert_eq!(meta["id"], id.as_str());
    assert_eq!(meta["name"], "docs");
    assert_eq!(meta["revoked"], false);
    assert!(
        meta["created"].is_u64() && meta["userId"].is_string(),
        "{meta}"
    );
    assert!(meta.get("expires").is_some() && meta.get("lastUse").is_some());
    assert!(
        meta.get("creationDate").is_none(),
        "not the ApiToken shape: {meta}"
    );
    assert_eq!(meta["scopes"], json!(scopes));

    let list = s.get(CLUSTER_TOKENS, Some(&ct)).assert_json(200);
    let ids: Vec<&str> = list["values"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert!(
        ids.contains(&id.as_str()) && ids.contains(&id_of(&ct).as_str()),
        "{list}"
    );
    let ids_of = |q: &str| -> Vec<String> {
        s.get(&format!("{CLUSTER_TOKENS}{q}"), Some(&ct))
            .assert_json(200)["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids_of("?permissions=Nodekeeper&permissions=ServiceProviderAPI"),
        [id_of(&ct)],
        "every permission is required"
    );
    assert_eq!(ids_of(&format!("?user={}", id_of(&ct))), [id.as_str()]);
    assert_eq!(ids_of("?limit=1").len(), 1);
    assert_eq!(
        ids_of(&format!("?from={}", now_ms() - 60_000)),
        [id_of(&ct)],
        "only ct was used"
    );
    s.get(&format!("{CLUSTER_TOKENS}?limit=0"), Some(&ct))
        .assert_error(400, "limit");
    let one = format!("{CLUSTER_TOKENS}/{id}");
    assert_eq!(s.get(&one, Some(&ct)).assert_json(200), meta);

    let r = s.put(
        &one,
        Some(&ct),
        &json!({"name": "renamed", "scopes": ["ServiceProviderAPI"]}),
    );
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.bytes));
    let got = s.get(&one, Some(&ct)).assert_json(200);
    assert_eq!(
        (got["name"].clone(), got["scopes"].clone()),
        (json!("renamed"), json!(["ServiceProviderAPI"]))
    );
    s.get("/api/cluster/v2/environments", Some(&c))
        .assert_json(200);
    assert_eq!(
        s.put(&one, Some(&ct), &json!({"revoked": true})).status,
        204
    );
    assert_eq!(s.get(&one, Some(&ct)).assert_json(200)["revoked"], true);
    s.get("/api/cluster/v2/environments", Some(&c))
        .assert_error(401, "Token Authentication failed");
    s.put(
        &format!("{CLUSTER_TOKENS}/{}", id_of(&ct)),
        Some(&ct),
        &json!({"name": "me"}),
    )
    .assert_error(400, "");
    s.put(&one, Some(&ct), &json!({"scopes": ["Bogus"]}))
        .assert_error(400, "Bogus");
    s.get(
        &format!("{CLUSTER_TOKENS}/dt0c01.AAAAAAAAAAAAAAAAAAAAAAAA"),
        Some(&ct),
    )
    .assert_error(404, "");
}

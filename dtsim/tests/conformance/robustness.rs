//! Malformed requests on every route: always an answer with an envelope, never a crash.

use serde_json::json;

use crate::common::Sim;

#[test]
fn garbage_on_every_route_gets_an_envelope() {
    let s = Sim::new();
    let ct = s.cluster();
    let tok = s.env_with_token("abc-p1");
    let routes = [
        ("/api/cluster/v2/environments", &ct),
        ("/api/cluster/v2/environments/abc-p1", &ct),
        (
            "/api/cluster/v2/environments/abc-p1/tokenManagementToken",
            &ct,
        ),
        ("/api/cluster/v2/tokens", &ct),
        ("/api/cluster/v2/tokens/lookup", &ct),
        ("/api/cluster/v2/tokens/x", &ct),
        ("/api/v1.0/onpremise/groups", &ct),
        ("/api/v1.0/onpremise/groups/x", &ct),
        ("/e/abc-p1/api/v2/apiTokens", &tok),
        ("/e/abc-p1/api/v2/apiTokens/lookup", &tok),
        ("/e/abc-p1/api/v2/apiTokens/%ZZ", &tok),
        ("/e/abc-p1/api/v1/tokens", &tok),
        ("/e/abc-p1/api/v1/tokens/lookup", &tok),
        ("/e/abc-p1/api/v2/settings/objects", &tok),
        ("/e/abc-p1/api/v2/settings/objects/%00", &tok),
        (
            "/e/abc-p1/api/v1/deployment/installer/agent/unix/default/latest?arch=%FF",
            &tok,
        ),
        (
            "/e/abc-p1/api/v1/deployment/installer/agent/unix/default/version/..%2F..%2Fetc",
            &tok,
        ),
        ("/__dtsim/faults", &ct),
    ];
    let bodies: [&[u8]; 9] = [
        b"",
        b"null",
        b"[]",
        b"{}",
        b"\"str\"",
        b"{\"name\": {\"deep\": [1, 2, {\"x\": null}]}, \"scopes\": [1], \"token\": 5, \"expiresIn\": {\"value\": -1, \"unit\": 3}}",
        b"{\"name\": \"x\", \"expirationDate\": 1e400, \"expiresIn\": {\"value\": 18446744073709551615, \"unit\": \"DAYS\"}}",
        b"[{\"schemaId\": null, \"scope\": [], \"value\": \"x\"}]",
        &[0xc3, 0x28, 0xff, b'{'],
    ];
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    for (path, token) in routes {
        for method in ["GET", "POST", "PUT", "DELETE"] {
            for body in bodies.iter().copied().chain([deep.as_bytes()]) {
                let r = s.call(method, path, Some(token), Some(body));
                assert!(
                    r.status < 500,
                    "{method} {path} {:?}: {}",
                    String::from_utf8_lossy(body),
                    r.status
                );
                if r.status >= 400 {
                    let v = r.json();
                    if let Some(items) = v.as_array() {
                        // Settings POST answers per item (section 0).
                        assert!(
                            path.ends_with("/settings/objects") && method == "POST",
                            "{path}"
                        );
                        assert!(items.iter().all(|i| i["code"].is_number()), "{v}");
                    } else {
                        assert_eq!(v["error"]["code"], json!(r.status), "{method} {path}");
                    }
                }
            }
        }
    }
    // Still serving.
    assert_eq!(
        s.get("/api/cluster/v2/environments/abc-p1", Some(&ct))
            .status,
        200
    );
}

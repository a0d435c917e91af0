//! Test harness: an in-process dtsim on port 0 and a plain reqwest blocking client (the
//! product's HTTP stack; every status is a response, never an error), plus helpers to set up
//! environments and tokens.

use std::collections::HashMap;

use dtsim::Dtsim;
use serde_json::{json, Value};

pub struct Resp {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub bytes: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.bytes)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// Asserts a Dynatrace error envelope with this status whose message contains `needle`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, needle: &str) -> Value {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.bytes)
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        let v = self.json();
        assert_eq!(v["error"]["code"], json!(status), "{v}");
        let msg = v["error"]["message"].as_str().unwrap_or_default();
        let violations = v["error"]["constraintViolations"].to_string();
        assert!(
            msg.contains(needle) || violations.contains(needle),
            "error {v} should mention {needle:?}"
        );
        v
    }

    #[track_caller]
    pub fn assert_json(&self, status: u16) -> Value {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.bytes)
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        self.json()
    }
}

pub struct Sim {
    pub sim: Dtsim,
    pub agent: reqwest::blocking::Client,
}

/// A client trusting no certificate (dtsim serves plain HTTP unless told otherwise).
pub fn agent() -> reqwest::blocking::Client {
    agent_trusting(&[])
}

/// A client trusting the PEM certificates given (reqwest is built without a crypto provider
/// of its own: it gets a ring configuration). No redirects, no proxies from the environment.
pub fn agent_trusting(pem: &[u8]) -> reqwest::blocking::Client {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        roots
            .add(cert.expect("PEM certificate"))
            .expect("usable root");
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::blocking::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .tls_backend_preconfigured(tls)
        .build()
        .expect("test HTTP client")
}

impl Sim {
    pub fn new() -> Sim {
        Sim::with(dtsim::Options::default())
    }

    pub fn with(o: dtsim::Options) -> Sim {
        Sim {
            sim: Dtsim::start_with(o).expect("dtsim starts"),
            agent: agent(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.url())
    }

    /// Any request; `token` goes into `Authorization: Api-Token`.
    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&[u8]>) -> Resp {
        self.call_with(method, path, token, body, &[])
    }

    pub fn call_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let method_ = reqwest::Method::from_bytes(method.as_bytes()).expect("HTTP method");
        let mut b = self.agent.request(method_, self.url(path));
        if let Some(t) = token {
            b = b.header("Authorization", format!("Api-Token {t}"));
        }
        if body.is_some() {
            b = b.header("Content-Type", "application/json");
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        if let Some(bytes) = body {
            b = b.body(bytes.to_vec());
        }
        let resp = b.send().unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .unwrap_or_else(|e| panic!("{method} {path}: reading body: {e}"))
            .to_vec();
        Resp {
            status,
            headers,
            bytes,
        }
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.call("GET", path, token, None)
    }

    pub fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        self.call("DELETE", path, token, None)
    }

    pub fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Resp {
        self.call("POST", path, token, Some(body.to_string().as_bytes()))
    }

    pub fn put(&self, path: &str, token: Option<&str>, body: &Value) -> Resp {
        self.call("PUT", path, token, Some(body.to_string().as_bytes()))
    }

    pub fn cluster(&self) -> String {
        self.sim.cluster_token()
    }

    /// Creates environment `id` and returns its token-management token.
    pub fn env(&self, id: &str) -> String {
        let r = self.put(
            &format!("/api/cluster/v2/environments/{id}?createToken=true"),
            Some(&self.cluster()),
            &json!({"name": format!("Env {id}"), "tags": ["t1"]}),
        );
        let v = r.assert_json(201);
        v["tokenManagementToken"]
            .as_str()
            .expect("tokenManagementToken")
            .to_string()
    }

    /// Mints an environment token with `scopes` using the management token `mgmt`.
    pub fn token(&self, env: &str, mgmt: &str, scopes: &[&str]) -> String {
        let r = self.post(
            &format!("/e/{env}/api/v2/apiTokens"),
            Some(mgmt),
            &json!({"name": "test", "scopes": scopes}),
        );
        r.assert_json(201)["token"]
            .as_str()
            .expect("token")
            .to_string()
    }

    /// Environment `env` and a token with every environment scope.
    pub fn env_with_token(&self, env: &str) -> String {
        let mgmt = self.env(env);
        self.token(
            env,
            &mgmt,
            &[
                "InstallerDownload",
                "apiTokens.read",
                "apiTokens.write",
                "TenantTokenManagement",
                "settings.read",
                "settings.write",
            ],
        )
    }
}

/// The `dt0c01.PUBLIC` id of a token.
pub fn id_of(token: &str) -> String {
    token
        .rsplit_once('.')
        .map(|x| x.0)
        .unwrap_or_default()
        .to_string()
}

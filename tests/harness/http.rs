//! The tests' own requests to dtsim (set-up and inspection as an operator would make them), on
//! the product's HTTP stack: reqwest's blocking client, no proxy from the environment. Every
//! request must succeed: anything else is a broken test set-up and panics with the status.

use reqwest::blocking::{Client, RequestBuilder};
use reqwest::Method;
use serde_json::Value;

/// The CAs of the TLS dtsims this test process started ([`trust`]): the tests' own requests
/// verify them as the product would, instead of accepting any certificate.
static TRUSTED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Trust `ca_pem` (a dtsim's CA) for the tests' own requests.
pub fn trust(ca_pem: &str) {
    TRUSTED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(ca_pem.to_string());
}

fn client() -> Client {
    use rustls_pki_types::{pem::PemObject, CertificateDer};
    // reqwest is built without a crypto provider of its own: it gets a ring configuration.
    let mut roots = rustls::RootCertStore::empty();
    for pem in TRUSTED.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(cert.expect("a dtsim CA")).expect("a dtsim CA");
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Client::builder()
        .no_proxy()
        .tls_backend_preconfigured(tls)
        .build()
        .expect("test HTTP client")
}

fn send(req: RequestBuilder, token: Option<&str>) -> reqwest::blocking::Response {
    let req = match token {
        Some(t) => req.header("Authorization", format!("Api-Token {t}")),
        None => req,
    };
    let resp = req.send().expect("request to dtsim");
    let status = resp.status();
    assert!(status.is_success(), "dtsim answered {status}");
    resp
}

/// `GET url` (with `Api-Token token`), the body as JSON.
pub fn get_json(url: &str, token: Option<&str>) -> Value {
    let text = send(client().get(url), token).text().expect("answer body");
    serde_json::from_str(&text).expect("JSON answer")
}

/// `GET url`, the body's bytes (installers: up to whatever dtsim serves).
pub fn get_bytes(url: &str, token: Option<&str>) -> Vec<u8> {
    send(client().get(url), token)
        .bytes()
        .expect("answer body")
        .to_vec()
}

/// `method url` with a JSON body; the answer as JSON (`Null` when it has no body).
pub fn send_json(method: Method, url: &str, token: Option<&str>, body: &Value) -> Value {
    let req = client()
        .request(method, url)
        .header("Content-Type", "application/json")
        .body(body.to_string());
    let text = send(req, token).text().expect("answer body");
    if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("JSON answer")
    }
}

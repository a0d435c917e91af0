//! The client against dtsim: retries by class, server wait hints, the request count, TLS
//! modes, and that no token reaches an error.

use std::time::{Duration, Instant, SystemTime};

use dtsim::{Dtsim, Fault, Options};

use super::testing::{self, client, client_with, fault, message, seen, sim, tenant};
use super::*;
use crate::error::{kind_of, Kind};
use crate::secret::Secret;

const METAINFO: &str = "/e/*/api/v1/deployment/installer/agent/unix/default/latest/metainfo";

fn metainfo_gets(sim: &Dtsim) -> usize {
    seen(sim)
        .iter()
        .filter(|(m, p)| m == "GET" && p.contains("/latest/metainfo"))
        .count()
}

#[test]
fn retries_503_twice_then_succeeds_and_counts_every_request() {
    let sim = sim();
    let c = client();
    let (api, mgmt) = tenant(&sim, &c, "retry-503");
    let minted = crate::token::mint_installer_token(&c, &api, &mgmt, "test").unwrap();
    sim.clear_requests();
    let before = c.requests();
    sim.add_fault(fault(
        "GET",
        METAINFO,
        Some(2),
        Fault::Status { status: 503 },
    ));
    let version = crate::download::target_version(&c, &api, &minted.token, "x86").unwrap();
    assert!(version.starts_with("1."), "{version}");
    assert_eq!(metainfo_gets(&sim), 3);
    assert_eq!(c.requests() - before, 3);
}

#[test]
fn a_persistent_503_gives_up_after_the_configured_tries() {
    let sim = sim();
    let c = client_with(&HttpOptions {
        retries: 2,
        ..HttpOptions::default()
    });
    let (api, mgmt) = tenant(&sim, &c, "retry-gives-up");
    let minted = crate::token::mint_installer_token(&c, &api, &mgmt, "test").unwrap();
    sim.clear_requests();
    sim.add_fault(fault("GET", METAINFO, None, Fault::Status { status: 503 }));
    let err = crate::download::target_version(&c, &api, &minted.token, "x86").unwrap_err();
    let text = message(&err, &[&minted.token, &mgmt]);
    assert_eq!(kind_of(&err), Kind::Api);
    assert!(text.contains("503"), "{text}");
    assert!(text.contains("gave up after 3 tries"), "{text}");
    assert_eq!(metainfo_gets(&sim), 3);
}

#[test]
fn rate_limit_waits_for_retry_after() {
    let sim = sim();
    let c = client();
    let (api, mgmt) = tenant(&sim, &c, "rate-limited");
    let minted = crate::token::mint_installer_token(&c, &api, &mgmt, "test").unwrap();
    sim.clear_requests();
    sim.add_fault(fault(
        "GET",
        METAINFO,
        Some(1),
        Fault::RateLimit {
            retry_after_secs: 1,
        },
    ));
    let start = Instant::now();
    crate::download::target_version(&c, &api, &minted.token, "x86").unwrap();
    // The fast test backoff would retry after <= 100 ms: only the header explains >= 1 s.
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(metainfo_gets(&sim), 2);
}

#[test]
fn other_client_errors_are_not_retried() {
    let sim = sim();
    let c = client();
    let (api, mgmt) = tenant(&sim, &c, "no-retry");
    let minted = crate::token::mint_installer_token(&c, &api, &mgmt, "test").unwrap();
    for status in [400, 401, 403, 404, 409] {
        sim.clear_requests();
        sim.clear_faults();
        sim.add_fault(fault("GET", METAINFO, None, Fault::Status { status }));
        let err = crate::download::target_version(&c, &api, &minted.token, "x86").unwrap_err();
        let text = message(&err, &[&minted.token, &mgmt]);
        assert_eq!(kind_of(&err), Kind::Api, "{text}");
        assert_eq!(metainfo_gets(&sim), 1, "{status} was retried: {text}");
        assert!(text.contains(&format!("answered {status}")), "{text}");
        assert!(!text.contains('?'), "query string in {text}");
    }
    sim.clear_faults();
    sim.add_fault(fault("GET", METAINFO, None, Fault::Status { status: 403 }));
    let err = crate::download::target_version(&c, &api, &minted.token, "x86").unwrap_err();
    assert!(
        message(&err, &[&minted.token]).contains("lacks scope InstallerDownload"),
        "{err:#}"
    );
}

#[test]
fn a_wrong_token_is_explained_and_never_shown() {
    let sim = sim();
    let c = client();
    let (api, _mgmt) = tenant(&sim, &c, "wrong-token");
    let bogus = Secret::new(
        "dt0c01.AAAAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
    );
    let err = crate::download::target_version(&c, &api, &bogus, "x86").unwrap_err();
    let text = message(&err, &[&bogus]);
    assert!(text.contains("401"), "{text}");
    assert!(text.contains("unknown, expired or revoked"), "{text}");
}

#[test]
fn plain_http_is_refused_for_hosts_that_are_not_loopback() {
    let c = client();
    let token = Secret::new("dt0c01.ABC.DEF");
    for url in [
        "http://10.0.0.1:8080/api",
        "http://dt.example.com/api",
        "ftp://h/x",
    ] {
        let err = crate::download::target_version(&c, url, &token, "x86").unwrap_err();
        assert_eq!(kind_of(&err), Kind::Config, "{url}");
        message(&err, &[&token]);
    }
    assert_eq!(c.requests(), 0);
}

#[test]
fn unreachable_servers_are_retried_then_reported() {
    // Bind and drop a listener: nothing listens on that port afterwards.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = client_with(&HttpOptions {
        retries: 1,
        ..HttpOptions::default()
    });
    let token = Secret::new("dt0c01.ABC.DEF");
    let api = format!("http://127.0.0.1:{port}/e/x/api");
    let err = crate::download::target_version(&c, &api, &token, "x86").unwrap_err();
    let text = message(&err, &[&token]);
    assert_eq!(kind_of(&err), Kind::Api);
    assert!(text.contains("gave up after 2 tries"), "{text}");
    assert_eq!(c.requests(), 2);
}

#[test]
fn tls_needs_the_ca_file_or_ssl_mode_all() {
    let sim = Dtsim::start_with(Options {
        tls: true,
        ..Options::default()
    })
    .unwrap();
    assert!(sim.url().starts_with("https://"));
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, sim.ca_pem()).unwrap();
    let cluster = Secret::new(sim.cluster_token());

    let trusted = client_with(&HttpOptions {
        ca_file: Some(ca),
        ..HttpOptions::default()
    });
    assert!(!crate::cluster::tenant_exists(&trusted, &sim.url(), &cluster, "tls-a").unwrap());

    let untrusted = client();
    let err = crate::cluster::tenant_exists(&untrusted, &sim.url(), &cluster, "tls-a").unwrap_err();
    let text = message(&err, &[&cluster]);
    assert_eq!(kind_of(&err), Kind::Api, "{text}");
    assert!(text.contains("--ca-file"), "{text}");
    assert_eq!(untrusted.requests(), 1, "a TLS failure is not retried");

    let any = client_with(&HttpOptions {
        ssl_mode: SslMode::All,
        ..HttpOptions::default()
    });
    assert!(!crate::cluster::tenant_exists(&any, &sim.url(), &cluster, "tls-a").unwrap());
}

#[test]
fn a_stalled_answer_hits_the_read_timeout_and_is_retried() {
    let sim = sim();
    let c = client_with(&HttpOptions {
        retries: 2,
        read_timeout: Duration::from_millis(300),
        ..HttpOptions::default()
    });
    let (api, mgmt) = tenant(&sim, &c, "stalled");
    let minted = crate::token::mint_installer_token(&c, &api, &mgmt, "test").unwrap();
    let before = c.requests();
    sim.add_fault(fault("GET", METAINFO, Some(1), Fault::Delay { ms: 2000 }));
    let start = Instant::now();
    crate::download::target_version(&c, &api, &minted.token, "x86").unwrap();
    assert!(
        start.elapsed() < Duration::from_millis(1900),
        "{:?}",
        start.elapsed()
    );
    // dtsim logs the abandoned request only when its delay ends: count on the client side.
    assert_eq!(c.requests() - before, 2);
}

#[test]
fn the_proxy_is_used_unless_no_proxy_matches() {
    // A "proxy" that refuses connections: requests through it fail, direct ones succeed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sim = Dtsim::start_with(Options {
        tls: true,
        ..Options::default()
    })
    .unwrap();
    let cluster = Secret::new(sim.cluster_token());
    let opts = HttpOptions {
        ssl_mode: SslMode::All,
        retries: 0,
        ..HttpOptions::default()
    };
    let env = |no_proxy: Option<&str>| NetEnv {
        https_proxy: Some(format!("http://127.0.0.1:{port}")),
        all_proxy: None,
        no_proxy: no_proxy.map(str::to_string),
    };
    let proxied = Client::with_env(&opts, &env(Some("example.com"))).unwrap();
    let err = crate::cluster::tenant_exists(&proxied, &sim.url(), &cluster, "px").unwrap_err();
    let text = message(&err, &[&cluster]);
    assert!(
        text.contains("through the proxy from HTTPS_PROXY (http://127.0.0.1:"),
        "{text}"
    );
    assert_eq!(proxied.requests(), 1);
    let bypass = Client::with_env(&opts, &env(Some("example.com,127.0.0.1"))).unwrap();
    assert!(!crate::cluster::tenant_exists(&bypass, &sim.url(), &cluster, "px").unwrap());
    let bad = NetEnv {
        https_proxy: Some("http://user:pw@[bad".into()),
        ..NetEnv::default()
    };
    let err = Client::with_env(&opts, &bad).err().unwrap();
    assert_eq!(kind_of(&err), Kind::Config);
    assert!(!crate::error::one_line(&err).contains("pw"), "{err:#}");
}

#[test]
fn testing_helper_catches_a_leak() {
    let s = Secret::new("dt0c01.PUB.SECRETSECRET");
    let leaked = std::panic::catch_unwind(|| testing::assert_no_secret("x SECRETSECRET", &[&s]));
    assert!(leaked.is_err());
}

/// A raw server answering one connection per response (each closed after its answer);
/// returns its address and, on join, the request heads it saw.
fn raw_server(
    responses: Vec<String>,
) -> (
    std::net::SocketAddr,
    std::thread::JoinHandle<Vec<Vec<String>>>,
) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let mut heads = Vec::new();
        for response in responses {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = Vec::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                head.push(line.trim_end().to_string());
            }
            stream.write_all(response.as_bytes()).unwrap();
            heads.push(head);
        }
        heads
    });
    (addr, server)
}

fn json_200(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
}

const META: &str = r#"{"latestAgentVersion":"1.2.3.20260101-000000"}"#;

/// connectioninfo: `formattedCommunicationEndpoints` is taken as the server gives it (what
/// `--set-server` gets), the list joined only when it is blank; an answer that lacks any one
/// of tenant UUID, tenant token and endpoints is refused, never half used.
#[test]
fn connection_info_takes_the_formatted_endpoints_and_refuses_any_gap() {
    let answer = |uuid: &str, token: &str, list: &str, formatted: &str| {
        json_200(&format!(
            r#"{{"tenantUUID":"{uuid}","tenantToken":"{token}","communicationEndpoints":[{list}],"formattedCommunicationEndpoints":"{formatted}"}}"#
        ))
    };
    let list = r#""https://a.example/communication","https://b.example/communication""#;
    let responses = vec![
        answer("abc", "TT", list, "{https://a.example/communication}"),
        answer("abc", "TT", list, "  "),
        answer("", "TT", list, "x"),
        answer("abc", " ", list, "x"),
        answer("abc", "TT", "", ""),
    ];
    let (addr, server) = raw_server(responses);
    let c = client_with(&HttpOptions {
        retries: 0,
        ..HttpOptions::default()
    });
    let token = Secret::new("dt0c01.CONN.INFOSECRET");
    let api = format!("http://{addr}/e/w/api");
    let info = crate::download::connection_info(&c, &api, &token).unwrap();
    assert_eq!(info.endpoints, "{https://a.example/communication}");
    assert_eq!(info.tenant_uuid, "abc");
    let info = crate::download::connection_info(&c, &api, &token).unwrap();
    assert_eq!(
        info.endpoints,
        "https://a.example/communication;https://b.example/communication"
    );
    for gap in ["tenant UUID", "tenant token", "endpoints"] {
        let err = crate::download::connection_info(&c, &api, &token).unwrap_err();
        let text = message(&err, &[&token]);
        assert_eq!(kind_of(&err), Kind::Api, "{gap}: {text}");
        assert!(text.contains("is this the right tenant?"), "{gap}: {text}");
    }
    server.join().unwrap();
}

/// What goes on the wire: User-Agent, the token in the header only, no compression.
#[test]
fn requests_carry_user_agent_and_header_token_only() {
    let (addr, server) = raw_server(vec![json_200(META)]);
    let token = Secret::new("dt0c01.WIREWIREWIRE.SECRETSECRETSECRET");
    let c = client();
    let api = format!("http://{addr}/e/w/api");
    let v = crate::download::target_version(&c, &api, &token, "x86").unwrap();
    assert_eq!(v, "1.2.3.20260101-000000");
    let head = server.join().unwrap().remove(0);
    let lower: Vec<String> = head.iter().map(|l| l.to_ascii_lowercase()).collect();
    assert!(
        head[0].starts_with(
            "GET /e/w/api/v1/deployment/installer/agent/unix/default/latest/metainfo?arch=x86 "
        ),
        "{head:?}"
    );
    assert!(
        !lower[0].contains("token"),
        "token in the request line: {}",
        head[0]
    );
    let ua = format!(
        "user-agent: oneagent-bootstrap/{}",
        env!("CARGO_PKG_VERSION")
    );
    assert!(lower.contains(&ua), "{head:?}");
    let auth = format!("authorization: Api-Token {}", token.expose());
    assert!(
        head.iter().any(|l| l.eq_ignore_ascii_case(&auth)),
        "{head:?}"
    );
    assert!(
        !lower.iter().any(|l| l.starts_with("accept-encoding")),
        "{head:?}"
    );
}

/// Without `Retry-After`, the wait comes from `X-RateLimit-Reset` (microseconds since epoch).
#[test]
fn rate_limit_reset_is_honoured_without_retry_after() {
    let reset = SystemTime::now() + Duration::from_millis(1200);
    let micros = reset
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros();
    let limited = format!(
        "HTTP/1.1 429 Too Many Requests\r\nX-RateLimit-Limit: 50\r\nX-RateLimit-Remaining: 0\r\n\
         X-RateLimit-Reset: {micros}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let (addr, server) = raw_server(vec![limited, json_200(META)]);
    let c = client();
    let token = Secret::new("dt0c01.ABC.DEF");
    let start = Instant::now();
    let api = format!("http://{addr}/e/w/api");
    crate::download::target_version(&c, &api, &token, "x86").unwrap();
    // Fast test backoff would retry within 100 ms; the reset time says ~1.2 s.
    assert!(
        start.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(server.join().unwrap().len(), 2);
    assert_eq!(c.requests(), 2);
}

/// A TLS server on 127.0.0.1 whose certificate (signed by the CA in the returned PEM) expired
/// in 2001; it answers one handshake attempt.
fn expired_tls_server() -> (String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2000, 1, 1);
    params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    let leaf = params
        .signed_by(&key, &Issuer::from_params(&ca_params, &ca_key))
        .unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let config = std::sync::Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        if let Ok((mut tcp, _)) = listener.accept() {
            let mut conn = rustls::ServerConnection::new(config).unwrap();
            // The client refuses the certificate; the handshake's error ends this.
            let _ = conn.complete_io(&mut tcp);
        }
    });
    (url, ca.pem())
}

#[test]
fn an_expired_certificate_suggests_the_clock_and_ca_first_and_ssl_mode_all_last() {
    let (url, ca_pem) = expired_tls_server();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let c = client_with(&HttpOptions {
        ca_file: Some(ca_file),
        retries: 0,
        ..HttpOptions::default()
    });
    let err = c
        .call(
            &Call::new(Method::Get, &url, "looking up tenant 'x'"),
            &[200],
        )
        .unwrap_err();
    let text = crate::error::one_line(&err);
    assert_eq!(kind_of(&err), Kind::Api);
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing: {text}"))
    };
    assert!(text.contains("expired"), "{text}");
    assert!(at("clock") < at("--ssl-mode all"), "{text}");
    assert!(at("--ca-file") < at("--ssl-mode all"), "{text}");
    assert!(at("--ssl-mode all") < at("read the tokens"), "{text}");
}

#[test]
fn lost_answers_count_only_tries_the_server_may_have_acted_on() {
    let sim = sim();
    let c = client();
    let (api, mgmt) = tenant(&sim, &c, "lost-1");
    let url = format!("{api}/v2/apiTokens");
    let body = serde_json::json!({"name": "x", "scopes": ["InstallerDownload"]});
    let call = Call::new(Method::Post, &url, "minting")
        .token(&mgmt, "t")
        .json(&body);
    // A refused status: answered, nothing lost.
    sim.add_fault(fault(
        "POST",
        "/e/lost-1/api/v2/apiTokens",
        Some(1),
        Fault::Status { status: 503 },
    ));
    c.call(&call, &[201]).unwrap();
    assert_eq!(c.lost_answers(), 0);
    // A cut answer: lost (the server minted).
    sim.add_fault(fault(
        "POST",
        "/e/lost-1/api/v2/apiTokens",
        Some(1),
        Fault::Cut { after_bytes: 0 },
    ));
    c.call(&call, &[201]).unwrap();
    assert_eq!(c.lost_answers(), 1);
    // Nobody listening: never sent, nothing lost.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let nowhere = format!("http://127.0.0.1:{port}/x");
    let fresh = client_with(&HttpOptions {
        retries: 0,
        ..HttpOptions::default()
    });
    assert!(fresh
        .call(&Call::new(Method::Get, &nowhere, "probing"), &[200])
        .is_err());
    assert_eq!((fresh.requests(), fresh.lost_answers()), (1, 0));
}

/// A redirect is reported, never followed: the token would go to wherever it points.
#[test]
fn redirects_are_reported_not_followed() {
    let elsewhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = format!("http://{}/e/x/api?leak=1", elsewhere.local_addr().unwrap());
    elsewhere.set_nonblocking(true).unwrap();
    let (addr, server) = raw_server(vec![format!(
        "HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )]);
    let token = Secret::new("dt0c01.REDIRECTREDIR.SECRETSECRETSECRET");
    let c = client();
    let url = format!("http://{addr}/e/x/api/v1/deployment/installer/agent/connectioninfo");
    let err = c
        .call(
            &Call::new(Method::Get, &url, "reading").token(&token, "t"),
            &[200],
        )
        .unwrap_err();
    let text = message(&err, &[&token]);
    assert_eq!(kind_of(&err), Kind::Api);
    assert!(text.contains("answered 302 Found"), "{text}");
    assert!(text.contains("redirects"), "{text}");
    assert!(!text.contains("leak=1"), "{text}");
    assert_eq!(server.join().unwrap().len(), 1);
    assert!(elsewhere.accept().is_err(), "the redirect was followed");
    assert_eq!(c.requests(), 1);
}

/// The proxy's credentials come from its URL (HTTPS_PROXY=http://user:password@host:port) and
/// go to the proxy only, as Proxy-Authorization; no message shows the password.
#[test]
fn proxy_credentials_are_sent_to_the_proxy_and_never_shown() {
    let refusal = "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\
                   Connection: close\r\n\r\n"
        .to_string();
    let (addr, proxy) = raw_server(vec![refusal]);
    let env = NetEnv {
        https_proxy: Some(format!("http://svc:pr0xyPassw0rd@{addr}")),
        ..NetEnv::default()
    };
    let c = Client::with_env(
        &HttpOptions {
            retries: 0,
            ..HttpOptions::default()
        },
        &env,
    )
    .unwrap()
    .quiet(true);
    let err = c
        .call(
            &Call::new(Method::Get, "https://dt.example.invalid/api", "probing"),
            &[200],
        )
        .unwrap_err();
    let text = crate::error::one_line(&err);
    assert!(
        !format!("{text} {err:?}").contains("pr0xyPassw0rd"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "through the proxy from HTTPS_PROXY (http://svc:***@{addr})"
        )),
        "{text}"
    );
    let head = proxy.join().unwrap().remove(0);
    assert!(
        head[0].starts_with("CONNECT dt.example.invalid:443 "),
        "{head:?}"
    );
    // base64("svc:pr0xyPassw0rd")
    assert!(
        head.iter()
            .any(|l| l.eq_ignore_ascii_case("proxy-authorization: Basic c3ZjOnByMHh5UGFzc3cwcmQ=")),
        "{head:?}"
    );
}

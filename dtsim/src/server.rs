//! The HTTP(S) server: accept loop, optional TLS, and the per-request pipeline around the
//! routes (admin gate, faults, body limit, request log, body-level fault transformers).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::CONTENT_LENGTH;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::app::{lock, App, RequestRecord};
use crate::body::{self, Body, ByteStream};
use crate::error::ApiError;
use crate::faults::{self, Fault};
use crate::ratelimit::{Quota, LIMIT_PER_MINUTE};
use crate::request::{strip_token_params, Req};
use crate::routes;
use crate::tokens::{self, Presented};

/// Request bodies above this are refused with 413 (Dynatrace's payload limit).
pub const MAX_BODY: usize = 1024 * 1024;

/// Builds the rustls server configuration from a chain and PKCS#8 key (DER).
pub fn tls_acceptor(chain: Vec<Vec<u8>>, key: Vec<u8>) -> anyhow::Result<TlsAcceptor> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let certs: Vec<CertificateDer<'static>> = chain.into_iter().map(CertificateDer::from).collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("could not set TLS protocol versions: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| anyhow::anyhow!("could not use the dtsim TLS certificate: {e}"))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

/// Accepts connections until `shutdown` fires.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    tls: Option<TlsAcceptor>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                eprintln!("dtsim: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = Arc::clone(&app);
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                Some(acceptor) => {
                    // A failed handshake is the client's business: nothing to answer.
                    if let Ok(s) = acceptor.accept(stream).await {
                        connection(TokioIo::new(s), app, peer).await
                    }
                }
                None => connection(TokioIo::new(stream), app, peer).await,
            }
        });
    }
}

async fn connection<I>(io: I, app: Arc<App>, peer: SocketAddr)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Infallible>(handle(app, peer, req).await) }
    });
    // Errors here are aborted connections (including the `cut` fault): nothing to answer.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .await;
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(v6.is_loopback(), |v4| v4.is_loopback()),
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("The request body exceeds the payload limit of {MAX_BODY} bytes"),
    )
}

/// Past the limit the rest of a body is still read (and dropped) up to this many bytes, so a
/// client that is still sending gets the 413 instead of a broken pipe.
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;

/// Reads the whole body, refusing more than `MAX_BODY` bytes.
async fn read_body(
    req: Request<Incoming>,
) -> Result<(hyper::http::request::Parts, Bytes), ApiError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT) {
        return Err(too_large());
    }
    let (parts, mut body) = req.into_parts();
    let mut buf = BytesMut::new();
    let mut total = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| ApiError::bad_request(format!("Could not read the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            total += data.len() as u64;
            if total > DRAIN_LIMIT {
                break;
            }
            if total <= MAX_BODY as u64 {
                buf.extend_from_slice(&data);
            }
        }
    }
    if total > MAX_BODY as u64 {
        return Err(too_large());
    }
    Ok((parts, buf.freeze()))
}

fn now_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

/// 429 for a spent quota: `Retry-After` (`retry_after`: whole seconds, or an HTTP date) and
/// the quota's `X-RateLimit-*`.
fn rate_limited(retry_after_secs: u64, retry_after: String, quota: Quota) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!("Too Many Requests: the request pool is full; retry after {retry_after_secs} s"),
    )
    .with_header("retry-after", retry_after)
    .with_header("x-ratelimit-limit", quota.limit.to_string())
    .with_header("x-ratelimit-remaining", quota.remaining.to_string())
    .with_header("x-ratelimit-reset", quota.reset_micros.to_string())
}

/// The injected `rate_limit` fault: the endpoint quota announced as spent until the wait ends.
fn fault_rate_limited(retry_after_secs: u64) -> ApiError {
    let quota = Quota {
        limit: LIMIT_PER_MINUTE,
        remaining: 0,
        reset_micros: now_micros() + u128::from(retry_after_secs) * 1_000_000,
    };
    rate_limited(retry_after_secs, retry_after_secs.to_string(), quota)
}

/// The `rate_limit_date` fault: a server that says only when to come back, as an HTTP date
/// (the answer then carries the endpoint's ordinary quota headers, whose reset says nothing
/// about this wait).
fn fault_rate_limited_until(retry_after_secs: u64) -> ApiError {
    let until = now_micros() / 1_000_000 + u128::from(retry_after_secs);
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!("Too Many Requests: retry after {retry_after_secs} s"),
    )
    .with_header("retry-after", crate::dates::http_date(until as u64))
}

/// The HTTP-level fault that answers instead of the route, if one fired.
fn fault_answer(fired: &[Fault]) -> Option<ApiError> {
    fired.iter().find_map(|f| match *f {
        Fault::Status { status } => Some(ApiError::new(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            format!("dtsim fault: injected status {status}"),
        )),
        Fault::RateLimit { retry_after_secs } => Some(fault_rate_limited(retry_after_secs)),
        Fault::RateLimitDate { retry_after_secs } => {
            Some(fault_rate_limited_until(retry_after_secs))
        }
        _ => None,
    })
}

fn is_body_fault(f: &Fault) -> bool {
    matches!(
        f,
        Fault::Cut { .. } | Fault::Stall { .. } | Fault::FlipByte { .. } | Fault::Trickle { .. }
    )
}

async fn handle(app: Arc<App>, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();

    if path == "/__dtsim" || path.starts_with("/__dtsim/") {
        if !is_loopback(peer.ip()) {
            return body::error(&ApiError::forbidden(
                "dtsim admin routes answer only to loopback clients",
            ));
        }
        return match read_body(req).await {
            Ok((parts, bytes)) => {
                let r = Req::new(method, &path, &query, parts.headers, bytes);
                routes::admin::handle(&app, &r).unwrap_or_else(|e| body::error(&e))
            }
            Err(e) => body::error(&e),
        };
    }

    let stripped = strip_token_params(&query);
    let logged_path = if stripped.is_empty() {
        path.clone()
    } else {
        format!("{path}?{stripped}")
    };
    let fired = lock(&app.faults).take(method.as_str(), &path);
    for f in &fired {
        if let Fault::Delay { ms } = f {
            tokio::time::sleep(Duration::from_millis(*ms)).await;
        }
    }

    let (token_id, result) = match read_body(req).await {
        Err(e) => (None, Err(e)),
        Ok((parts, bytes)) => {
            let r = Req::new(method.clone(), &path, &query, parts.headers, bytes);
            let token_id = r.token().and_then(|t| match tokens::parse(&t) {
                Some(Presented::Full { id, .. }) | Some(Presented::IdOnly(id)) => Some(id),
                None => None,
            });
            let admitted = {
                let now = now_micros();
                lock(&app.limiter)
                    .admit(token_id.as_deref(), now)
                    .map_err(|q| {
                        let secs = q.retry_after_secs(now);
                        rate_limited(secs, secs.to_string(), q)
                    })
            };
            let result = match (admitted, fault_answer(&fired)) {
                (Err(e), _) | (_, Some(e)) => Err(e),
                _ => routes::dispatch(&app, &r, &fired).await,
            };
            (token_id, result)
        }
    };
    let mut resp = result.unwrap_or_else(|e| body::error(&e));
    lock(&app.rate)
        .count(&format!("{method} {path}"), now_micros())
        .apply(resp.headers_mut());
    app.record(RequestRecord {
        method: method.to_string(),
        path: logged_path,
        status: resp.status().as_u16(),
        token_id,
    });

    if fired.iter().any(is_body_fault) {
        let (parts, b) = resp.into_parts();
        let stream: ByteStream = Box::pin(b.into_data_stream());
        return Response::from_parts(parts, body::from_stream(faults::transform(stream, &fired)));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// One request over an in-memory connection whose peer claims to be `peer`: the admin gate
    /// sees exactly what it would see from a real socket, and no packet leaves the process.
    async fn get_from(app: &Arc<App>, peer: &str, path: &str) -> String {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let peer: SocketAddr = peer.parse().expect("test peer address");
        tokio::spawn(connection(TokioIo::new(server), Arc::clone(app), peer));
        let (mut rd, mut wr) = tokio::io::split(client);
        let req = format!("GET {path} HTTP/1.1\r\nHost: dtsim\r\nConnection: close\r\n\r\n");
        wr.write_all(req.as_bytes()).await.expect("write request");
        let mut answer = String::new();
        rd.read_to_string(&mut answer).await.expect("read answer");
        answer
    }

    #[test]
    fn admin_routes_answer_loopback_peers_only() {
        let sim = crate::Dtsim::start().expect("dtsim starts");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let app = &sim.app;
            for remote in ["192.0.2.7:40000", "[2001:db8::7]:40000"] {
                let r = get_from(app, remote, "/__dtsim/requests").await;
                assert!(r.starts_with("HTTP/1.1 403"), "{remote}: {r}");
                assert!(r.contains("\"code\":403"), "{r}");
                // The API itself answers remote peers (and asks them for a token).
                let r = get_from(app, remote, "/api/cluster/v2/environments").await;
                assert!(r.starts_with("HTTP/1.1 401"), "{remote}: {r}");
            }
            for local in [
                "127.0.0.1:40000",
                "127.8.9.10:40000",
                "[::1]:40000",
                "[::ffff:127.0.0.1]:40000",
            ] {
                let r = get_from(app, local, "/__dtsim/requests").await;
                assert!(r.starts_with("HTTP/1.1 200"), "{local}: {r}");
            }
        });
    }
}

//! How a failed try is classified: which statuses and transport errors are worth another
//! try, and the message (action, URL, cause, hint) each failure carries.

use std::time::SystemTime;

use ureq::http::Response;
use ureq::Body;

use super::{report, retry, strip_url, Attempt, Call, Client, ERROR_BODY_LIMIT};
use crate::error::{failure, Kind};

impl Client {
    /// An unexpected status: retry 5xx/408/429 (with the server's wait hint), fail the rest.
    pub(super) fn status_failure(&self, call: &Call, mut resp: Response<Body>) -> Attempt {
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = header("retry-after");
        let reset = header("x-ratelimit-reset");
        let location = header("location");
        let body = resp
            .body_mut()
            .with_config()
            .limit(ERROR_BODY_LIMIT)
            .lossy_utf8(true)
            .read_to_string()
            .unwrap_or_default();
        let mut message = report::status_error(
            call.doing,
            call.method.as_str(),
            call.url,
            status,
            &body,
            &call.hints,
        );
        if let Some(loc) = location.filter(|_| (300..400).contains(&status)) {
            message.push_str(&format!(" (to {})", strip_url(&loc)));
        }
        let message = call.redact(&message);
        if retry::retryable_status(status) {
            let wait =
                retry::server_hint(retry_after.as_deref(), reset.as_deref(), SystemTime::now());
            Attempt::Retry { message, wait }
        } else {
            Attempt::Fail(failure(Kind::Api, message))
        }
    }

    /// A failure while reading an answer's body (after the status line): retried unless it
    /// is one that a new try cannot fix.
    pub fn body_failure(&self, call: &Call, err: impl Into<ureq::Error>) -> Attempt {
        let err = err.into();
        match &err {
            ureq::Error::Io(_) | ureq::Error::Protocol(_) => Attempt::Retry {
                message: call.redact(&report::transport_error(
                    call.doing,
                    call.method.as_str(),
                    call.url,
                    &err.to_string(),
                    "the connection broke before the whole answer arrived",
                )),
                wait: None,
            },
            _ => self.transport_failure(call, err),
        }
    }

    /// A failure before an answer arrived; through a proxy, the message names it (the proxy
    /// may be what failed).
    pub(super) fn connect_failure(
        &self,
        call: &Call,
        err: ureq::Error,
        proxy: Option<&str>,
    ) -> Attempt {
        let note = |m: String| match proxy {
            Some(p) => format!("{m} (connecting through the proxy from {p})"),
            None => m,
        };
        match self.transport_failure(call, err) {
            Attempt::Retry { message, wait } => Attempt::Retry {
                message: note(message),
                wait,
            },
            Attempt::Fail(e) => match e.downcast::<crate::error::Failure>() {
                Ok(f) => Attempt::Fail(failure(f.kind, note(f.message))),
                Err(e) => Attempt::Fail(e),
            },
        }
    }

    /// A failure below HTTP: connect errors, timeouts and cut connections are retried; TLS
    /// and setup errors are final.
    pub fn transport_failure(&self, call: &Call, err: impl Into<ureq::Error>) -> Attempt {
        use ureq::Error as E;
        let err = err.into();
        let rustls_error = match &err {
            E::Io(io) => io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()),
            E::Rustls(e) => Some(e),
            _ => None,
        };
        let tls_hint = tls_hint(rustls_error, self.accept_any);
        let (retry, hint) = match &err {
            E::Io(_) if rustls_error.is_some() => (false, tls_hint),
            E::Rustls(_) | E::Tls(_) | E::Pem(_) => (false, tls_hint),
            E::Timeout(_) => (
                true,
                "no answer within the timeout: check the network path to the server",
            ),
            E::HostNotFound => (
                true,
                "the host name does not resolve: check the URL and DNS",
            ),
            E::ConnectionFailed | E::Io(_) => (
                true,
                "check the URL, the firewall and the proxy settings (HTTPS_PROXY/NO_PROXY)",
            ),
            E::ConnectProxyFailed(_) => {
                (true, "the proxy refused the connection: check HTTPS_PROXY")
            }
            E::Protocol(_) | E::BodyStalled => (true, "the server's answer was garbled or cut off"),
            E::BodyExceedsLimit(_) => (
                false,
                "the answer is far larger than Dynatrace sends: is this the right URL?",
            ),
            _ => (false, "unexpected HTTP client error"),
        };
        let message = report::transport_error(
            call.doing,
            call.method.as_str(),
            call.url,
            &err.to_string(),
            hint,
        );
        let message = call.redact(&message);
        if retry {
            Attempt::Retry {
                message,
                wait: None,
            }
        } else {
            Attempt::Fail(failure(Kind::Api, message))
        }
    }
}

/// What to do about a failed TLS handshake. The safe fixes come first; `--ssl-mode all` last,
/// with what it costs.
fn tls_hint(err: Option<&rustls::Error>, accept_any: bool) -> &'static str {
    use rustls::CertificateError as C;
    if accept_any {
        return "the TLS handshake failed even without certificate checks: is this an HTTPS port?";
    }
    match err {
        Some(rustls::Error::InvalidCertificate(
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
        )) => {
            "the server's certificate is expired or not yet valid: first check this host's \
             clock (date -u), then that the server sends its current certificate and that \
             --ca-file (PEM) holds its current CA; only as a last resort --ssl-mode all, which \
             accepts any certificate, so anyone on the network path could impersonate the \
             cluster and read the tokens"
        }
        _ => {
            "the server's certificate is not trusted or does not match the host name: give its \
             CA with --ca-file (PEM); only as a last resort --ssl-mode all, which accepts any \
             certificate, so anyone on the network path could impersonate the cluster and read \
             the tokens"
        }
    }
}

//! How a failed try is classified: which statuses and transport errors are worth another
//! try, and the message (action, URL, cause, hint) each failure carries.

use std::error::Error as StdError;
use std::io::Read;
use std::time::SystemTime;

use reqwest::blocking::Response;

use super::{messages, retry, strip_url, Attempt, Call, ERROR_BODY_LIMIT};
use crate::error::{failure, Kind};

/// An unexpected status: retry 5xx/408/429 (with the server's wait hint), fail the rest.
pub(super) fn status_failure(call: &Call, resp: Response) -> Attempt {
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
    let mut bytes = Vec::new();
    // An unreadable error body still leaves the status to report.
    let _ = resp.take(ERROR_BODY_LIMIT).read_to_end(&mut bytes);
    let body = String::from_utf8_lossy(&bytes);
    let mut message = messages::status_error(
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
        let wait = retry::server_hint(retry_after.as_deref(), reset.as_deref(), SystemTime::now());
        Attempt::Retry { message, wait }
    } else {
        Attempt::Fail(failure(Kind::Api, message))
    }
}

/// A failure while reading an answer's body (after the status line): retried unless it is
/// one that a new try cannot fix. `accept_any`: `--ssl-mode all` (for the TLS hint).
pub(super) fn body_failure(call: &Call, err: std::io::Error, accept_any: bool) -> Attempt {
    classified(
        call,
        &err,
        "the connection broke before the whole answer arrived",
        accept_any,
    )
}

/// A failure before an answer arrived; through a proxy, the message names it (the proxy
/// may be what failed).
pub(super) fn connect_failure(
    call: &Call,
    err: reqwest::Error,
    proxy: Option<&str>,
    accept_any: bool,
) -> Attempt {
    let note = |m: String| match proxy {
        Some(p) => format!("{m} (connecting through the proxy from {p})"),
        None => m,
    };
    let cut = "the server's answer was garbled or cut off";
    match classified(call, &err, cut, accept_any) {
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

/// A failure below HTTP: connect errors, timeouts and cut connections are retried (with
/// `otherwise` as the hint for a cut); TLS and setup errors are final.
fn classified(
    call: &Call,
    err: &(dyn StdError + 'static),
    otherwise: &str,
    accept_any: bool,
) -> Attempt {
    let rustls_error = find::<rustls::Error>(err);
    let reqwest_error = find::<reqwest::Error>(err);
    let timed_out = reqwest_error.is_some_and(reqwest::Error::is_timeout)
        || find::<std::io::Error>(err).is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut);
    let chain = error_chain(err);
    let (retry, hint) = if rustls_error.is_some() {
        (false, tls_hint(rustls_error, accept_any))
    } else if timed_out {
        (
            true,
            "no answer within the timeout: check the network path to the server",
        )
    } else if reqwest_error.is_some_and(|e| e.is_builder() || e.is_redirect()) {
        (false, "unexpected HTTP client error")
    } else if chain.contains("dns error") {
        (
            true,
            "the host name does not resolve: check the URL and DNS",
        )
    } else if reqwest_error.is_some_and(reqwest::Error::is_connect) {
        (
            true,
            "check the URL, the firewall and the proxy settings (HTTPS_PROXY/NO_PROXY)",
        )
    } else {
        (true, otherwise)
    };
    let message =
        messages::transport_error(call.doing, call.method.as_str(), call.url, &chain, hint);
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

/// The first error of type `T` in the chain, including one wrapped in an `io::Error` (whose
/// `source()` skips the wrapped error itself and goes on with that error's source).
fn find<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(t) = this::<T>(e) {
            return Some(t);
        }
        next = e.source();
    }
    None
}

/// `err` as a `T`, directly or wrapped in (possibly nested) `io::Error`s.
fn this<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut at = err;
    loop {
        if let Some(t) = at.downcast_ref::<T>() {
            return Some(t);
        }
        match at
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => at = inner,
            None => return None,
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

/// An error and its causes on one line: reqwest's own message says little ("error sending
/// request"); the cause (refused, reset, timed out, certificate expired) is further down.
/// reqwest's URL is left out: the caller names the URL, without its query.
pub(super) fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = match this::<reqwest::Error>(e) {
            Some(r) => {
                let text = r.to_string();
                match r.url() {
                    Some(url) => text.replace(&format!(" for url ({url})"), ""),
                    None => text,
                }
            }
            _ => e.to_string(),
        };
        // io::Error shows its inner error's text, whose source comes next: no repeats.
        if parts.last() != Some(&text) && !text.is_empty() {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

//! Error messages: what was being done, to what (method and URL without its query), what the
//! server said (the Dynatrace error envelope), and what to do. Every message passes through
//! [`crate::secret::redact`] (in `Call::redact`) so no token can reach a log, whatever a
//! server echoes back.

use serde::Deserialize;

/// The URL without query string or fragment, its password masked: the parts that can hold
/// secrets.
pub fn strip_url(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    crate::secret::redact_userinfo(&url[..end])
}

#[derive(Deserialize)]
struct Envelope {
    error: EnvelopeError,
}

#[derive(Deserialize)]
struct EnvelopeError {
    message: Option<String>,
    #[serde(default, rename = "constraintViolations")]
    constraint_violations: Vec<Violation>,
}

#[derive(Deserialize)]
struct Violation {
    path: Option<String>,
    message: Option<String>,
}

/// What the server said: the envelope's message and constraint violations, else a short
/// printable excerpt of the body, else nothing.
pub fn server_message(body: &str) -> Option<String> {
    if let Ok(env) = serde_json::from_str::<Envelope>(body) {
        let mut msg = env.error.message.unwrap_or_default();
        let violations: Vec<String> = env
            .error
            .constraint_violations
            .iter()
            .map(|v| match (&v.path, &v.message) {
                (Some(p), Some(m)) => format!("{p}: {m}"),
                (None, Some(m)) => m.clone(),
                (Some(p), None) => p.clone(),
                (None, None) => String::new(),
            })
            .filter(|v| !v.is_empty())
            .collect();
        if !violations.is_empty() {
            msg = format!("{msg} ({})", violations.join("; "));
        }
        return Some(msg).filter(|m| !m.is_empty());
    }
    let text: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// The caller's knowledge used in hints: which token, which scope the call needs, and what a
/// 404 means for this resource.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hints<'a> {
    /// How to name the token in a hint ("the cluster token").
    pub token_name: &'a str,
    /// The scope the call needs, named in the 403 hint.
    pub scope: Option<&'a str>,
    /// What a 404 means here ("tenant 'abc-p1' does not exist").
    pub not_found: Option<&'a str>,
}

/// What to do about a status.
pub fn status_hint(status: u16, hints: &Hints) -> String {
    let token = if hints.token_name.is_empty() {
        "the token"
    } else {
        hints.token_name
    };
    match status {
        401 => format!("{token} is unknown, expired or revoked: give a current one"),
        403 => match hints.scope {
            Some(scope) => format!("{token} lacks scope {scope}"),
            None => format!("{token} lacks a scope this call needs"),
        },
        404 => hints.not_found.map_or_else(
            || "the URL does not exist on this server: check --cluster-url/--api-url".into(),
            str::to_string,
        ),
        400 => "the server rejected the request as invalid".into(),
        408 | 429 => "the server is overloaded or rate-limiting: try again later".into(),
        300..=399 => {
            "the server redirects: point --cluster-url/--api-url at the final address".into()
        }
        500..=599 => "the server failed: try again later or check the cluster's health".into(),
        _ => "the server's answer does not fit this call: check --cluster-url/--api-url".into(),
    }
}

/// `doing: GET https://host/path answered 403 Forbidden: <server message> — <hint>`.
pub fn status_error(
    doing: &str,
    method: &str,
    url: &str,
    status: u16,
    body: &str,
    hints: &Hints,
) -> String {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let said = server_message(body).map_or_else(String::new, |m| format!(": {m}"));
    format!(
        "{doing}: {method} {} answered {status} {reason}{said} — {}",
        strip_url(url),
        status_hint(status, hints)
    )
}

/// `doing: GET https://host/path failed: <transport error> — <hint>`.
pub fn transport_error(doing: &str, method: &str, url: &str, error: &str, hint: &str) -> String {
    format!(
        "{doing}: {method} {} failed: {error} — {hint}",
        strip_url(url)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::redact;

    const TOKEN: &str =
        "dt0c01.ABCDEFGHIJKLMNOPQRSTUVWX.ABCDEFGHIJKLMNOPQRSTUVWXYZ234567ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

    #[test]
    fn urls_lose_query_fragment_and_password() {
        assert_eq!(
            strip_url("https://u:p@h.example:8443/e/x/api?Api-Token=abc#f"),
            "https://u:***@h.example:8443/e/x/api"
        );
        assert_eq!(strip_url("http://127.0.0.1:1/a?b"), "http://127.0.0.1:1/a");
        assert_eq!(strip_url("https://h"), "https://h");
    }

    #[test]
    fn envelope_message_and_violations() {
        let body = r#"{"error":{"code":400,"message":"Constraints violated.","constraintViolations":[
            {"path":"name","message":"must not be null","parameterLocation":"PAYLOAD_BODY"},
            {"message":"bad scope"}]}}"#;
        assert_eq!(
            server_message(body).as_deref(),
            Some("Constraints violated. (name: must not be null; bad scope)")
        );
        assert_eq!(
            server_message("oops\n<html>").as_deref(),
            Some("oops <html>")
        );
        assert_eq!(server_message("  "), None);
    }

    #[test]
    fn status_errors_name_action_url_status_and_hint() {
        let hints = Hints {
            token_name: "the cluster token",
            scope: Some("ServiceProviderAPI"),
            not_found: None,
        };
        let body = r#"{"error":{"code":403,"message":"Token is missing required scope."}}"#;
        let msg = status_error(
            "creating tenant 'abc-p1'",
            "PUT",
            "https://c.example/api/cluster/v2/environments/abc-p1?createToken=true",
            403,
            body,
            &hints,
        );
        assert_eq!(
            msg,
            "creating tenant 'abc-p1': PUT https://c.example/api/cluster/v2/environments/abc-p1 \
             answered 403 Forbidden: Token is missing required scope. — the cluster token lacks \
             scope ServiceProviderAPI"
        );
        let msg401 = status_error("x", "GET", "https://h/p", 401, "", &Hints::default());
        assert!(
            msg401.ends_with(
                "401 Unauthorized — the token is unknown, expired or revoked: give a current one"
            ),
            "{msg401}"
        );
    }

    #[test]
    fn a_token_echoed_by_the_server_never_reaches_the_message() {
        let body = format!(r#"{{"error":{{"code":401,"message":"Token {TOKEN} is invalid"}}}}"#);
        let url = format!("https://h/api?Api-Token={TOKEN}");
        let msg = redact(
            &status_error("doing", "GET", &url, 401, &body, &Hints::default()),
            &[TOKEN],
        );
        assert!(!msg.contains(TOKEN), "{msg}");
        assert!(!msg.contains(&TOKEN[30..]), "{msg}");
        let t = transport_error("doing", "GET", &url, &format!("io: {TOKEN}"), "hint");
        assert!(!redact(&t, &[TOKEN]).contains(&TOKEN[30..]));
    }
}

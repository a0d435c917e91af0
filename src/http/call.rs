//! A request as the domain modules describe it ([`Call`]), its answer ([`Reply`]) and how one
//! try ended ([`Attempt`]).

use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::messages::{strip_url, Hints};
use crate::error::{failure, Kind};
use crate::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// One request as the domain modules describe it. `Debug` shows neither the token nor the
/// body (a lookup's body is a token).
#[derive(Clone, Copy)]
pub struct Call<'a> {
    pub method: Method,
    pub url: &'a str,
    /// Sent as `Authorization: Api-Token ...` (never as a query parameter).
    pub token: Option<&'a Secret>,
    pub json: Option<&'a serde_json::Value>,
    /// What is being done, to what: the start of every error message ("creating tenant 'x'").
    pub doing: &'a str,
    pub hints: Hints<'a>,
    /// When the whole call, retries and body included, must be over, and the option that set
    /// it (named in the error).
    pub deadline: Option<(Instant, &'a str)>,
}

impl<'a> Call<'a> {
    pub fn new(method: Method, url: &'a str, doing: &'a str) -> Self {
        Call {
            method,
            url,
            token: None,
            json: None,
            doing,
            hints: Hints::default(),
            deadline: None,
        }
    }

    pub fn token(mut self, token: &'a Secret, name: &'a str) -> Self {
        self.token = Some(token);
        self.hints.token_name = name;
        self
    }

    pub fn json(mut self, body: &'a serde_json::Value) -> Self {
        self.json = Some(body);
        self
    }

    pub fn scope(mut self, scope: &'a str) -> Self {
        self.hints.scope = Some(scope);
        self
    }

    pub fn not_found(mut self, hint: &'a str) -> Self {
        self.hints.not_found = Some(hint);
        self
    }

    /// The call fails (Kind::Api) once `at` passes, even inside a slow body; `limit` names the
    /// option that set it (`--download-timeout 30m`).
    pub fn deadline(mut self, at: Instant, limit: &'a str) -> Self {
        self.deadline = Some((at, limit));
        self
    }

    /// `text` with this call's token, anything token-shaped and URL passwords removed.
    pub fn redact(&self, text: &str) -> String {
        let secrets: Vec<&str> = self.token.map(Secret::expose).into_iter().collect();
        crate::secret::redact(text, &secrets)
    }

    /// An API error (exit 4) about this call, redacted.
    pub fn api_error(&self, what: &str) -> anyhow::Error {
        let msg = format!(
            "{}: {} {}: {what}",
            self.doing,
            self.method.as_str(),
            strip_url(self.url)
        );
        failure(Kind::Api, self.redact(&msg))
    }
}

impl std::fmt::Debug for Call<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("method", &self.method)
            .field("url", &strip_url(self.url))
            .field("doing", &self.doing)
            .field("token", &self.token.map(|_| crate::secret::REDACTED))
            .field("json", &self.json.map(|_| "<body>"))
            .finish()
    }
}

/// A response with one of the expected statuses, its body read (JSON calls are small).
/// `Debug` shows the body's length only: a mint answer holds the new token.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

impl Reply {
    /// The body as `T`; a body that does not parse is an API error naming the call.
    pub fn json<T: DeserializeOwned>(&self, call: &Call) -> anyhow::Result<T> {
        serde_json::from_str(&self.body).map_err(|e| {
            call.api_error(&format!(
                "answered {} with a body that is not what Dynatrace sends ({}); is this the \
                 right URL?",
                self.status,
                without_values(&e.to_string())
            ))
        })
    }
}

/// serde_json quotes the offending value in some messages (`invalid type: string "..."`); that
/// value may be a secret of the answer (a new token, a tenant token), so quoted parts go.
fn without_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for ch in message.chars() {
        match (ch, quoted) {
            ('"', false) => {
                quoted = true;
                out.push_str("\"…");
            }
            ('"', true) => {
                quoted = false;
                out.push('"');
            }
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

/// How one try ended, when it did not succeed.
pub enum Attempt {
    /// Worth another try; `message` is complete (action, URL, cause, hint).
    Retry {
        message: String,
        wait: Option<Duration>,
    },
    /// Final.
    Fail(anyhow::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_neither_tokens_nor_bodies() {
        let token = Secret::new("dt0c01.PUBLIC.TOPSECRET");
        let body = serde_json::json!({ "token": token.expose() });
        let call = Call::new(Method::Post, "https://h/api?x=TOPSECRET", "looking up")
            .token(&token, "the token")
            .json(&body);
        let reply = Reply {
            status: 201,
            body: r#"{"token":"dt0c01.PUBLIC.TOPSECRET"}"#.into(),
        };
        let shown = format!("{call:?} {reply:?}");
        assert!(!shown.contains("TOPSECRET"), "{shown}");
        assert!(shown.contains("<35 bytes>"), "{shown}");
    }

    #[test]
    fn parse_errors_name_the_problem_but_not_the_values() {
        let call = Call::new(Method::Get, "https://h/api", "reading");
        let reply = Reply {
            status: 200,
            body: r#"{"tenantToken": 5, "x": "s3cr3t-tenant-token"}"#.into(),
        };
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Wants {
            x: u32,
        }
        let err = reply.json::<Wants>(&call).unwrap_err();
        let text = crate::error::one_line(&err);
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains("invalid type"), "{text}");
        assert_eq!(without_values(r#"a "b" c "d"#), r#"a "…" c "…"#);
    }
}

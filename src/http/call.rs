//! A request as the domain modules describe it ([`Call`]), its answer ([`Reply`]) and how one
//! try ended ([`Attempt`]).

use std::time::Duration;

use serde::de::DeserializeOwned;

use super::report::{redact, strip_url, Hints};
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

/// One request as the domain modules describe it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub method: Method,
    pub url: &'a str,
    /// Sent as `Authorization: Api-Token ...` (never as a query parameter).
    pub token: Option<&'a Secret>,
    pub json: Option<&'a serde_json::Value>,
    /// What is being done, to what: the start of every error message ("creating tenant 'x'").
    pub doing: &'a str,
    pub hints: Hints<'a>,
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

    /// `text` with this call's token and anything token-shaped removed.
    pub fn redact(&self, text: &str) -> String {
        let secrets: Vec<&Secret> = self.token.into_iter().collect();
        redact(text, &secrets)
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

/// A response with one of the expected statuses, its body read (JSON calls are small).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    /// The body as `T`; a body that does not parse is an API error naming the call.
    pub fn json<T: DeserializeOwned>(&self, call: &Call) -> anyhow::Result<T> {
        serde_json::from_str(&self.body).map_err(|e| {
            call.api_error(&format!(
                "answered {} with a body that is not what Dynatrace sends ({e}); is this the right URL?",
                self.status
            ))
        })
    }
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

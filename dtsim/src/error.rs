//! The Dynatrace error envelope and the one error type every route returns.
//!
//! Every 4xx/5xx answer with a body has the shape of section 0 of dynatrace-api.md:
//! `{"error":{"code":N,"message":"...","constraintViolations":[...]}}`.

use hyper::StatusCode;
use serde::Serialize;
use serde_json::{json, Value};

/// Where a violated constraint sits in the request (Dynatrace's `parameterLocation`).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Location {
    /// Documented by Dynatrace; no dtsim route validates headers yet.
    #[allow(dead_code)]
    Header,
    Path,
    PayloadBody,
    Query,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Violation {
    pub path: String,
    pub message: String,
    pub parameter_location: Location,
    pub location: Option<String>,
}

/// An error answer: status, message and optional constraint violations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub violations: Vec<Violation>,
    /// Extra response headers (e.g. `Retry-After` on 429).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            violations: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 400 with one constraint violation, the usual shape of a validation failure.
    pub fn invalid(location: Location, path: &str, message: impl Into<String>) -> ApiError {
        let message = message.into();
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: "Constraints violated.".to_string(),
            violations: vec![Violation {
                path: path.to_string(),
                message,
                parameter_location: location,
                location: None,
            }],
            headers: Vec::new(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> ApiError {
        self.headers.push((name, value));
        self
    }

    /// The JSON envelope of this error.
    pub fn envelope(&self) -> Value {
        let mut error = json!({"code": self.status.as_u16(), "message": self.message});
        if !self.violations.is_empty() {
            error["constraintViolations"] = json!(self.violations);
        }
        json!({ "error": error })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

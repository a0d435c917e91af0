//! A parsed incoming request as the routes see it: method, path segments, decoded query,
//! headers, the whole (size-limited) body, and the presented token.

use bytes::Bytes;
use hyper::header::AUTHORIZATION;
use hyper::{HeaderMap, Method};
use serde_json::Value;

use crate::error::{ApiError, ApiResult, Location};

pub struct Req {
    pub method: Method,
    pub path: String,
    pub segs: Vec<String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Percent-decodes (and turns `+` into a space when `plus` is set); bad escapes stay literal.
pub fn decode(s: &str, plus: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k, true), decode(v, true))
        })
        .collect()
}

/// The query string without token parameters, as the request log shows it.
pub fn strip_token_params(q: &str) -> String {
    q.split('&')
        .filter(|p| {
            let k = p.split_once('=').map_or(*p, |(k, _)| k);
            !decode(k, true).eq_ignore_ascii_case("api-token")
        })
        .collect::<Vec<_>>()
        .join("&")
}

impl Req {
    pub fn new(method: Method, path: &str, query: &str, headers: HeaderMap, body: Bytes) -> Req {
        Req {
            method,
            path: path.to_string(),
            segs: path
                .split('/')
                .filter(|s| !s.is_empty())
                .map(|s| decode(s, false))
                .collect(),
            query: parse_query(query),
            headers,
            body,
        }
    }

    /// The token from `Authorization: Api-Token X` (realm case-insensitive) or `?api-token=X`.
    pub fn token(&self) -> Option<String> {
        if let Some(h) = self
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            let h = h.trim();
            if let Some((realm, rest)) = h.split_once(char::is_whitespace) {
                if realm.eq_ignore_ascii_case("api-token") && !rest.trim().is_empty() {
                    return Some(rest.trim().to_string());
                }
            }
        }
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("api-token"))
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean query parameter: absent = `default`; anything but true/false is a 400.
    pub fn bool_param(&self, name: &str, default: bool) -> ApiResult<bool> {
        match self.param(name) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(ApiError::invalid(
                Location::Query,
                name,
                format!("'{v}' is not a boolean; use true or false"),
            )),
        }
    }

    /// Query parameters other than token parameters, by name.
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.query
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !k.eq_ignore_ascii_case("api-token"))
    }

    /// The body parsed as JSON; empty or malformed bodies are a 400 envelope.
    pub fn json(&self) -> ApiResult<Value> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(
                "The request body is missing; send a JSON object.",
            ));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::bad_request(format!("Could not parse the JSON request body: {e}"))
        })
    }

    /// The body as a JSON object.
    pub fn json_object(&self) -> ApiResult<serde_json::Map<String, Value>> {
        match self.json()? {
            Value::Object(m) => Ok(m),
            other => Err(ApiError::bad_request(format!(
                "The request body must be a JSON object, got {}",
                kind_of(&other)
            ))),
        }
    }
}

pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A required non-empty string field of a JSON object body.
pub fn required_str<'a>(
    obj: &'a serde_json::Map<String, Value>,
    field: &str,
) -> ApiResult<&'a str> {
    match obj.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        None | Some(Value::Null) => Err(ApiError::invalid(
            Location::PayloadBody,
            field,
            "is required",
        )),
        Some(other) => Err(ApiError::invalid(
            Location::PayloadBody,
            field,
            format!("must be a non-empty string, got {}", kind_of(other)),
        )),
    }
}

/// An optional list-of-strings field; absent or null is empty.
pub fn string_list(obj: &serde_json::Map<String, Value>, field: &str) -> ApiResult<Vec<String>> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                other => Err(ApiError::invalid(
                    Location::PayloadBody,
                    field,
                    format!("must hold strings only, got {}", kind_of(other)),
                )),
            })
            .collect(),
        Some(other) => Err(ApiError::invalid(
            Location::PayloadBody,
            field,
            format!("must be an array of strings, got {}", kind_of(other)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding_and_stripping() {
        assert_eq!(
            parse_query("filter=name%28a%20b%29&x=1+2&flag"),
            vec![
                ("filter".to_string(), "name(a b)".to_string()),
                ("x".to_string(), "1 2".to_string()),
                ("flag".to_string(), String::new()),
            ]
        );
        assert_eq!(decode("%zz%4", false), "%zz%4");
        assert_eq!(
            strip_token_params("a=1&Api-Token=S&api-token=T&b=2"),
            "a=1&b=2"
        );
    }
}

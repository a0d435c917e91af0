//! Response bodies: one boxed streaming type for JSON answers and installers alike, so the
//! body-level faults (cut, stall, flip_byte, trickle) apply to every answer the same way.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::Frame;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde::Serialize;

use crate::error::ApiError;

pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;
pub type ByteStream = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

pub const JSON: &str = "application/json; charset=utf-8";

pub fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn from_stream(stream: ByteStream) -> Body {
    StreamBody::new(stream.map(|chunk| chunk.map(Frame::data))).boxed_unsync()
}

/// A JSON answer with an explicit Content-Length (faults that cut the body rely on it).
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<Body> {
    // Serialising our own plain data types cannot fail; fall back to an envelope if it ever does.
    let bytes = serde_json::to_vec(value).unwrap_or_else(|e| {
        format!(
            r#"{{"error":{{"code":500,"message":"dtsim could not serialise its answer: {e}"}}}}"#
        )
        .into_bytes()
    });
    let len = bytes.len();
    let mut resp = Response::new(full(bytes));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    resp.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(len));
    resp
}

pub fn no_content(status: StatusCode) -> Response<Body> {
    let mut resp = Response::new(empty());
    *resp.status_mut() = status;
    resp
}

pub fn error(err: &ApiError) -> Response<Body> {
    let mut resp = json(err.status, &err.envelope());
    for (name, value) in &err.headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            resp.headers_mut().insert(*name, v);
        }
    }
    resp
}

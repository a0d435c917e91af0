//! `/__dtsim/` admin routes: request log, faults, CA, token overview. No credentials; the
//! server only lets loopback peers reach them.

use std::sync::Arc;

use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::app::{lock, App};
use crate::body::{self, Body};
use crate::error::{ApiError, ApiResult};
use crate::faults::FaultRule;
use crate::request::Req;

/// Parses one rule or an array of rules, validating each.
pub fn parse_rules(v: Value) -> Result<Vec<FaultRule>, String> {
    let rules: Vec<FaultRule> = match v {
        Value::Array(_) => serde_json::from_value(v),
        _ => serde_json::from_value(v).map(|r| vec![r]),
    }
    .map_err(|e| format!("not a fault rule (see ARCHITECTURE.md, 'Fault rules'): {e}"))?;
    for r in &rules {
        r.validate()?;
    }
    Ok(rules)
}

pub fn handle(app: &Arc<App>, req: &Req) -> ApiResult<Response<Body>> {
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    let m = &req.method;
    match (segs.as_slice(), m) {
        (["__dtsim", "requests"], &Method::GET) => {
            Ok(body::json(StatusCode::OK, lock(&app.log).records()))
        }
        (["__dtsim", "stats"], &Method::GET) => {
            let counts = lock(&app.log).counts().clone();
            let data = app.data();
            let now = app.clock.now_ms();
            let alive = data.tokens.values().filter(|t| t.alive(now)).count();
            Ok(body::json(
                StatusCode::OK,
                &json!({
                    "requests": counts.requests,
                    "dropped": counts.dropped,
                    "byStatus": counts.by_status,
                    "environments": data.environments.len(),
                    "tokens": data.tokens.len(),
                    "tokensAlive": alive,
                }),
            ))
        }
        (["__dtsim", "requests"], &Method::DELETE) => {
            lock(&app.log).clear();
            Ok(body::no_content(StatusCode::NO_CONTENT))
        }
        (["__dtsim", "faults"], &Method::GET) => {
            Ok(body::json(StatusCode::OK, &lock(&app.faults).rules()))
        }
        (["__dtsim", "faults"], &Method::POST) => {
            let rules = parse_rules(req.json()?).map_err(ApiError::bad_request)?;
            let mut set = lock(&app.faults);
            let n = rules.len();
            for r in rules {
                set.add(r);
            }
            Ok(body::json(StatusCode::OK, &json!({ "added": n })))
        }
        (["__dtsim", "faults"], &Method::DELETE) => {
            lock(&app.faults).clear();
            Ok(body::no_content(StatusCode::NO_CONTENT))
        }
        (["__dtsim", "ca.pem"], &Method::GET) => {
            let pem = app.ca.cert_pem();
            let mut resp = Response::new(body::full(pem));
            resp.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-pem-file"),
            );
            Ok(resp)
        }
        (["__dtsim", "tokens"], &Method::GET) => {
            let now = app.clock.now_ms();
            let data = app.data();
            let list: Vec<Value> = data
                .tokens
                .values()
                .map(|t| {
                    json!({
                        "id": t.id,
                        "name": t.name,
                        "environment": t.environment,
                        "scopes": t.scopes,
                        "alive": t.alive(now),
                        "deleted": t.revoked,
                        "createdMs": t.created_ms,
                        "expiresMs": t.expires_ms,
                    })
                })
                .collect();
            Ok(body::json(StatusCode::OK, &list))
        }
        (["__dtsim", "clock"], &Method::GET) => Ok(body::json(
            StatusCode::OK,
            &json!({ "nowMs": app.clock.now_ms(), "offsetMs": app.clock.offset_ms() }),
        )),
        (["__dtsim", "clock"], &Method::POST) => {
            let v: Value = req.json()?;
            let ms = v.get("advanceMs").and_then(Value::as_u64).ok_or_else(|| {
                ApiError::bad_request("give {\"advanceMs\": N}, N a whole number of milliseconds")
            })?;
            let offset = app.clock.advance(ms);
            Ok(body::json(StatusCode::OK, &json!({ "offsetMs": offset })))
        }
        _ => Err(ApiError::not_found(format!(
            "No such admin route: {} {}; see dtsim/README.md",
            req.method, req.path
        ))),
    }
}

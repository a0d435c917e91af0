//! Settings 2.0 objects of the two OneAgent deployment schemas (section 5), and what the
//! Deployment API's `latest` serves: the updates schema's target version ("also used for the
//! Deployment API" [doc: "OneAgent update"]); the default-version setting only feeds the UI.

use std::cmp::Ordering;
use std::sync::Arc;

use base64::Engine;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use crate::app::App;
use crate::body::{self, Body};
use crate::error::{ApiError, ApiResult, Location};
use crate::installer::VERSIONS;
use crate::request::Req;
use crate::state::{Data, SettingsObject};

pub const DEFAULT_VERSION: &str = "builtin:deployment.oneagent.default-version";
pub const UPDATES: &str = "builtin:deployment.oneagent.updates";
const SCHEMAS: [&str; 2] = [DEFAULT_VERSION, UPDATES];

/// Numeric field-by-field comparison of `1.301.55.20260114-153010`.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let fields = |s: &str| -> Vec<u64> {
        s.split(['.', '-'])
            .map(|f| f.parse().unwrap_or(0))
            .collect()
    };
    fields(a).cmp(&fields(b))
}

/// Available versions, newest first.
fn newest_first() -> Vec<&'static str> {
    let mut v = VERSIONS.to_vec();
    v.sort_by(|a, b| compare_versions(b, a));
    v
}

/// The newest available version equal to `prefix` or starting with `prefix.`.
fn newest_with_prefix(prefix: &str) -> Option<&'static str> {
    newest_first()
        .into_iter()
        .find(|v| *v == prefix || v.starts_with(&format!("{prefix}.")))
}

/// The newest build of `version` (`1.301` or a full version) that `revision` allows: absent or
/// "latest" allows any, otherwise the full version or its build part (`55.20260114-153010`).
fn narrowed(version: &str, revision: Option<&str>) -> Option<&'static str> {
    match revision {
        None | Some("latest") => newest_with_prefix(version),
        Some(rev) => newest_first().into_iter().find(|v| {
            *v == rev
                || v.strip_prefix(&format!("{version}."))
                    .is_some_and(|rest| rest == rev || rest.starts_with(&format!("{rev}.")))
        }),
    }
}

/// A concrete default version (`defaultVersion` other than "latest", narrowed by `revision`).
fn concrete_default(value: &Value) -> Option<&'static str> {
    let dv = value.get("defaultVersion")?.as_str()?;
    if dv == "latest" {
        return None;
    }
    narrowed(dv, value.get("revision").and_then(Value::as_str))
}

/// A concrete updates target: `previous`/`older` are the second/third newest [inferred], `1.301`
/// a minor (narrowed by `revision`).
fn concrete_target(value: &Value) -> Option<&'static str> {
    match value.get("targetVersion")?.as_str()? {
        "latest" => None,
        "previous" => newest_first().get(1).copied(),
        "older" => newest_first().get(2).copied(),
        minor => narrowed(minor, value.get("revision").and_then(Value::as_str)),
    }
}

/// What `latest` means in `env`: a concrete updates target, else the newest available.
pub fn resolve_latest(data: &Data, env: &str) -> &'static str {
    data.settings
        .get(env)
        .and_then(|m| m.get(UPDATES))
        .and_then(|o| concrete_target(&o.value))
        .unwrap_or_else(|| newest_first()[0])
}

fn object_id(env: &str, schema: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("dtsim|{env}|{schema}"))
}

fn render(o: &SettingsObject) -> Value {
    json!({"objectId": o.object_id, "schemaId": o.schema_id, "schemaVersion": "1.0", "scope": "environment", "value": o.value})
}

fn split_csv<'a>(req: &'a Req, name: &'a str) -> Option<Vec<&'a str>> {
    req.param(name).map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    })
}

pub fn list(app: &Arc<App>, req: &Req, env: &str) -> ApiResult<Response<Body>> {
    let schemas = split_csv(req, "schemaIds");
    let scopes = split_csv(req, "scopes");
    if schemas.is_none() && scopes.is_none() {
        return Err(ApiError::invalid(
            Location::Query,
            "schemaIds",
            "give schemaIds or scopes (or both), e.g. ?schemaIds=builtin:deployment.oneagent.updates&scopes=environment",
        ));
    }
    let scope_ok = scopes.is_none_or(|s| s.contains(&"environment"));
    let data = app.data();
    let items: Vec<Value> = data
        .settings
        .get(env)
        .into_iter()
        .flat_map(|m| m.values())
        .filter(|o| {
            scope_ok
                && schemas
                    .as_ref()
                    .is_none_or(|s| s.contains(&o.schema_id.as_str()))
        })
        .map(render)
        .collect();
    Ok(body::json(
        StatusCode::OK,
        &json!({"items": items, "totalCount": items.len(), "pageSize": 500, "nextPageKey": null}),
    ))
}

pub fn get_one(app: &Arc<App>, env: &str, object_id: &str) -> ApiResult<Response<Body>> {
    let data = app.data();
    let o = data
        .settings
        .get(env)
        .and_then(|m| m.values().find(|o| o.object_id == object_id))
        .ok_or_else(|| ApiError::not_found(format!("Settings object {object_id} not found")))?;
    Ok(body::json(StatusCode::OK, &render(o)))
}

pub fn delete_one(app: &Arc<App>, env: &str, object_id: &str) -> ApiResult<Response<Body>> {
    {
        let mut data = app.data();
        let m = data.settings.get_mut(env);
        let schema = m
            .as_ref()
            .and_then(|m| m.values().find(|o| o.object_id == object_id))
            .map(|o| o.schema_id.clone())
            .ok_or_else(|| ApiError::not_found(format!("Settings object {object_id} not found")))?;
        if let Some(m) = m {
            m.remove(&schema);
        }
    }
    app.mark_changed();
    Ok(body::no_content(StatusCode::NO_CONTENT))
}

fn minors() -> Vec<String> {
    let mut m: Vec<String> = VERSIONS
        .iter()
        .map(|v| v.splitn(3, '.').take(2).collect::<Vec<_>>().join("."))
        .collect();
    m.dedup();
    m
}

/// Checks one item's value; the message says which field and what is allowed.
fn validate(schema: &str, value: &Value) -> Result<(), String> {
    if !value.is_object() {
        return Err("value must be a JSON object".into());
    }
    let allowed = format!("latest or one of {}", minors().join(", "));
    match schema {
        DEFAULT_VERSION => {
            let dv = value
                .get("defaultVersion")
                .and_then(Value::as_str)
                .ok_or("value.defaultVersion is required (a string)")?;
            if dv != "latest" && newest_with_prefix(dv).is_none() {
                return Err(format!(
                    "value.defaultVersion '{dv}' is not available; use {allowed}"
                ));
            }
            match value.get("revision") {
                None | Some(Value::Null) => Ok(()),
                Some(Value::String(r)) if r == "latest" || dv == "latest" => Ok(()),
                Some(Value::String(_)) if concrete_default(value).is_some() => Ok(()),
                Some(other) => Err(format!(
                    "value.revision {other} names no available build of {dv}; available: {}",
                    VERSIONS.join(", ")
                )),
            }
        }
        UPDATES => {
            // The schema table marks these required, whatever the update mode.
            match value.get("revision") {
                Some(Value::String(_)) => {}
                _ => return Err("value.revision is required (a string, e.g. \"latest\")".into()),
            }
            if !value.get("maintenanceWindows").is_some_and(Value::is_array) {
                return Err("value.maintenanceWindows is required (an array, may be empty)".into());
            }
            match value.get("updateMode").and_then(Value::as_str) {
                Some("AUTOMATIC" | "AUTOMATIC_DURING_MW" | "MANUAL") => {}
                _ => {
                    return Err(
                        "value.updateMode must be AUTOMATIC, AUTOMATIC_DURING_MW or MANUAL".into(),
                    )
                }
            }
            match value.get("targetVersion") {
                None | Some(Value::Null) => Err(format!(
                    "value.targetVersion is required; use previous, older or {allowed}"
                )),
                Some(Value::String(t))
                    if ["latest", "previous", "older"].contains(&t.as_str())
                        || concrete_target(value).is_some() =>
                {
                    Ok(())
                }
                Some(other) => Err(format!(
                    "value.targetVersion {other} (revision {}) is not available; use previous, older or {allowed}",
                    value["revision"]
                )),
            }
        }
        _ => Err(format!(
            "unknown schemaId; dtsim knows {}",
            SCHEMAS.join(", ")
        )),
    }
}

/// POST: an array of `{schemaId, scope, value}`; each item answers on its own (200 all good,
/// 207 mixed, 400 all failed). The schemas hold one object per environment: POST replaces it.
/// `validateOnly=true` answers the same but stores nothing.
pub fn post(app: &Arc<App>, req: &Req, env: &str) -> ApiResult<Response<Body>> {
    let validate_only = req.bool_param("validateOnly", false)?;
    let items = match req.json()? {
        Value::Array(a) if !a.is_empty() => a,
        _ => return Err(ApiError::bad_request(
            "The request body must be a non-empty JSON array of {schemaId, scope, value} objects",
        )),
    };
    let mut results = Vec::new();
    let (mut ok, mut failed) = (0, 0);
    {
        let mut data = app.data();
        for item in &items {
            let schema = item.get("schemaId").and_then(Value::as_str).unwrap_or("");
            let scope = item.get("scope").and_then(Value::as_str).unwrap_or("");
            let value = item.get("value").cloned().unwrap_or(Value::Null);
            let checked = if scope != "environment" {
                Err(format!(
                    "scope '{scope}' is not supported; use \"environment\""
                ))
            } else {
                validate(schema, &value)
            };
            match checked {
                Ok(()) if validate_only => {
                    ok += 1;
                    results.push(json!({"code": 200}));
                }
                Ok(()) => {
                    let object_id = object_id(env, schema);
                    data.settings.entry(env.to_string()).or_default().insert(
                        schema.to_string(),
                        SettingsObject {
                            object_id: object_id.clone(),
                            schema_id: schema.to_string(),
                            value,
                        },
                    );
                    ok += 1;
                    results.push(json!({"code": 200, "objectId": object_id}));
                }
                Err(message) => {
                    failed += 1;
                    results.push(json!({
                        "code": 400,
                        "error": {"code": 400, "message": message},
                        "invalidValue": item,
                    }));
                }
            }
        }
    }
    if ok > 0 && !validate_only {
        app.mark_changed();
    }
    let status = match (ok, failed) {
        (_, 0) => StatusCode::OK,
        (0, _) => StatusCode::BAD_REQUEST,
        _ => StatusCode::MULTI_STATUS,
    };
    Ok(body::json(status, &results))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(schema: &str, value: Value) -> Data {
        let mut d = Data::default();
        d.settings.entry("e".into()).or_default().insert(
            schema.into(),
            SettingsObject {
                object_id: "x".into(),
                schema_id: schema.into(),
                value,
            },
        );
        d
    }

    #[test]
    fn latest_resolution() {
        assert_eq!(resolve_latest(&Data::default(), "e"), VERSIONS[2]);
        let d = with(
            DEFAULT_VERSION,
            json!({"defaultVersion": "1.301", "revision": "latest"}),
        );
        assert_eq!(
            resolve_latest(&d, "e"),
            VERSIONS[2],
            "not the default version"
        );
        let d = with(
            UPDATES,
            json!({"updateMode": "AUTOMATIC", "targetVersion": "1.299"}),
        );
        assert_eq!(resolve_latest(&d, "e"), VERSIONS[0]);
        let d = with(
            UPDATES,
            json!({"updateMode": "AUTOMATIC", "targetVersion": "previous"}),
        );
        assert_eq!(resolve_latest(&d, "e"), VERSIONS[1]);
        let d = with(
            UPDATES,
            json!({"updateMode": "MANUAL", "targetVersion": "1.301", "revision": VERSIONS[1]}),
        );
        assert_eq!(resolve_latest(&d, "e"), VERSIONS[1]);
        assert_eq!(
            compare_versions("1.10.0.1-1", "1.9.0.1-1"),
            Ordering::Greater
        );
    }

    #[test]
    fn validation() {
        assert!(validate(DEFAULT_VERSION, &json!({"defaultVersion": "1.301"})).is_ok());
        assert!(validate(DEFAULT_VERSION, &json!({"defaultVersion": "1.250"})).is_err());
        assert!(validate(
            DEFAULT_VERSION,
            &json!({"defaultVersion": "1.301", "revision": "55.20260114-153010"})
        )
        .is_ok());
        assert!(validate(
            DEFAULT_VERSION,
            &json!({"defaultVersion": "1.301", "revision": "99"})
        )
        .is_err());
        let up = json!({"updateMode": "MANUAL", "targetVersion": "older", "revision": "latest",
            "maintenanceWindows": []});
        assert!(validate(UPDATES, &up).is_ok());
        for field in [
            "updateMode",
            "targetVersion",
            "revision",
            "maintenanceWindows",
        ] {
            let mut v = up.clone();
            v.as_object_mut().map(|o| o.remove(field));
            let err = validate(UPDATES, &v).expect_err(field);
            assert!(err.contains(field), "{field}: {err}");
        }
        assert!(validate("builtin:other", &json!({})).is_err());
    }
}

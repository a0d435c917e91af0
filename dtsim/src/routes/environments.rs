//! Cluster API v2 environments (section 1): list with filter/sort/paging, get, POST, PUT
//! create-or-update (optionally with a token-management token), DELETE, and
//! `tokenManagementToken`. The list lives in `env_list`.

use std::sync::Arc;

use hyper::header::{HeaderValue, LOCATION};
use hyper::{Response, StatusCode};
use rand::Rng;
use serde_json::{json, Map, Value};

use crate::app::App;
use crate::body::{self, Body};
use crate::error::{ApiError, ApiResult, Location};
use crate::request::{kind_of, required_str, string_list, Req};
use crate::state::{Data, Environment};

pub use super::env_list::list;
use crate::tokens::{self, Mint, MANAGEMENT_SCOPES};

/// `^[a-zA-Z0-9_-]{1,70}$`
pub fn valid_id(id: &str) -> bool {
    (1..=70).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_id(id: &str, location: Location) -> ApiResult<()> {
    if valid_id(id) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            location,
            "id",
            format!("'{id}' does not match ^[a-zA-Z0-9_-]{{1,70}}$"),
        ))
    }
}

/// `includeConsumptionInfo` or `includeUncachedConsumptionInfo` (dtsim has no cache: both give
/// the same numbers) [doc: "List specific managed environment"].
pub fn consumption_param(req: &Req) -> ApiResult<bool> {
    Ok(req.bool_param("includeConsumptionInfo", false)?
        | req.bool_param("includeUncachedConsumptionInfo", false)?)
}

/// Retention settings report days [doc: "List all existing environments"].
fn retention(days: u64) -> Value {
    json!({"maxLimitInDays": days, "currentlyUsedInMillis": 0, "currentlyUsedInDays": 0})
}

/// The full Environment object.
pub fn render(env: &Environment, consumption: bool, storage: bool) -> Value {
    let mut v = json!({
        "id": env.id,
        "name": env.name,
        "trial": env.trial,
        "state": env.state,
        "tags": env.tags,
        "creationDate": tokens::iso(env.created_ms),
    });
    if consumption {
        v["quotas"] = json!({
            "hostUnits": {"maxLimit": null, "currentUsage": 0.0},
            "demUnits": {"monthlyLimit": null, "annualLimit": null, "consumedThisMonth": 0.0, "consumedThisYear": 0.0},
            "userSessions": {"totalAnnualLimit": null, "totalConsumedThisYear": 0},
            "sessionProperties": {"consumedThisMonth": 0.0, "consumedThisYear": 0.0},
            "syntheticMonitors": {"monthlyLimit": null, "annualLimit": null, "consumedThisMonth": 0.0, "consumedThisYear": 0.0},
            "customMetrics": {"maxLimit": null},
            "davisDataUnits": {"monthlyLimit": null, "annualLimit": null, "consumedThisMonth": 0.0, "consumedThisYear": 0.0},
            "logMonitoring": {"monthlyLimit": null, "annualLimit": null, "consumedThisMonth": 0.0, "consumedThisYear": 0.0},
        });
    }
    if storage {
        v["storage"] = json!({
            "transactionStorage": {"maxLimit": null, "currentlyUsed": 0},
            "sessionReplayStorage": {"maxLimit": null, "currentlyUsed": 0, "retentionReductionPercentage": 0},
            "symbolFilesFromMobileApps": {"maxLimit": null, "currentlyUsed": 0},
            "logMonitoringStorage": {"maxLimit": null, "currentlyUsed": 0},
            "serviceRequestLevelRetention": retention(35),
            "serviceCodeLevelRetention": retention(10),
            "realUserMonitoringRetention": retention(35),
            "syntheticMonitoringRetention": retention(35),
            "sessionReplayRetention": retention(35),
            "logMonitoringRetention": retention(35),
        });
    }
    v
}

/// The writable fields of an Environment body.
struct Fields {
    name: String,
    state: Option<String>,
    tags: Vec<String>,
    trial: Option<bool>,
}

fn fields(obj: &Map<String, Value>) -> ApiResult<Fields> {
    let name = required_str(obj, "name")?.to_string();
    let state = match obj.get("state") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "ENABLED" || s == "DISABLED" => Some(s.clone()),
        Some(other) => {
            return Err(ApiError::invalid(
                Location::PayloadBody,
                "state",
                format!("must be ENABLED or DISABLED, got {other}"),
            ))
        }
    };
    let tags = string_list(obj, "tags")?;
    if let Some(t) = tags.iter().find(|t| t.chars().count() > 100) {
        return Err(ApiError::invalid(
            Location::PayloadBody,
            "tags",
            format!("tag '{t}' is longer than 100 characters"),
        ));
    }
    let trial = match obj.get("trial") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => {
            return Err(ApiError::invalid(
                Location::PayloadBody,
                "trial",
                format!("must be a boolean, got {}", kind_of(other)),
            ))
        }
    };
    Ok(Fields {
        name,
        state,
        tags,
        trial,
    })
}

fn new_environment(data: &mut Data, id: &str, f: Fields) -> Environment {
    data.next_seq += 1;
    Environment {
        id: id.to_string(),
        name: f.name,
        state: f.state.unwrap_or_else(|| "ENABLED".into()),
        tags: f.tags,
        trial: f.trial.unwrap_or(false),
        created_ms: tokens::now_ms(),
        seq: data.next_seq,
        tenant_token: tokens::random_base32(16),
    }
}

/// Stores a new environment and, if asked, its token-management token; answers the short form.
fn create(app: &App, data: &mut Data, id: &str, f: Fields, create_token: bool) -> Response<Body> {
    let env = new_environment(data, id, f);
    let mut short = json!({"id": env.id, "name": env.name, "description": null});
    if create_token {
        short["tokenManagementToken"] =
            json!(management_token(data, id, "tokenManagementToken", None));
    }
    data.environments.insert(id.to_string(), env);
    let mut resp = body::json(StatusCode::CREATED, &short);
    let location = format!("{}/api/cluster/v2/environments/{id}", app.base_url);
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(LOCATION, v);
    }
    resp
}

fn random_id() -> String {
    let b: [u8; 16] = rand::thread_rng().gen();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

pub fn post(app: &Arc<App>, req: &Req) -> ApiResult<Response<Body>> {
    let create_token = req.bool_param("createToken", false)?;
    let obj = req.json_object()?;
    if obj.get("id").is_some_and(|v| !v.is_null()) {
        return Err(ApiError::invalid(
            Location::PayloadBody,
            "id",
            "must not be set on POST (the server chooses the id); use PUT /api/cluster/v2/environments/{id} to choose it",
        ));
    }
    let f = fields(&obj)?;
    let resp = {
        let mut data = app.data();
        let mut id = random_id();
        while data.environments.contains_key(&id) {
            id = random_id();
        }
        create(app, &mut data, &id, f, create_token)
    };
    app.mark_changed();
    Ok(resp)
}

pub fn put(app: &Arc<App>, req: &Req, id: &str) -> ApiResult<Response<Body>> {
    check_id(id, Location::Path)?;
    let create_token = req.bool_param("createToken", false)?;
    let obj = req.json_object()?;
    match obj.get("id") {
        None | Some(Value::Null) => {}
        Some(Value::String(b)) if b == id => {}
        Some(other) => {
            return Err(ApiError::invalid(
                Location::PayloadBody,
                "id",
                format!("{other} differs from the id in the path ('{id}')"),
            ))
        }
    }
    let f = fields(&obj)?;
    // One lock for check-and-insert: concurrent PUTs of a new id create it exactly once.
    let resp = {
        let mut data = app.data();
        match data.environments.get_mut(id) {
            Some(env) => {
                env.name = f.name;
                env.tags = f.tags;
                if let Some(s) = f.state {
                    env.state = s;
                }
                if let Some(t) = f.trial {
                    env.trial = t;
                }
                body::no_content(StatusCode::NO_CONTENT)
            }
            None => create(app, &mut data, id, f, create_token),
        }
    };
    app.mark_changed();
    Ok(resp)
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Environment '{id}' not found"))
}

pub fn get(app: &Arc<App>, req: &Req, id: &str) -> ApiResult<Response<Body>> {
    let consumption = consumption_param(req)?;
    let storage = req.bool_param("includeStorageInfo", false)?;
    let data = app.data();
    let env = data.environments.get(id).ok_or_else(|| not_found(id))?;
    Ok(body::json(
        StatusCode::OK,
        &render(env, consumption, storage),
    ))
}

pub fn delete(app: &Arc<App>, id: &str) -> ApiResult<Response<Body>> {
    {
        let mut data = app.data();
        let env = data.environments.get(id).ok_or_else(|| not_found(id))?;
        if env.state != "DISABLED" {
            return Err(ApiError::bad_request(format!(
                "Environment '{id}' is {}; disable it first (PUT with \"state\":\"DISABLED\"), then delete it",
                env.state
            )));
        }
        data.remove_environment(id);
    }
    app.mark_changed();
    Ok(body::no_content(StatusCode::NO_CONTENT))
}

/// A token-management token of environment `id` (owned by the cluster), stored; its secret.
fn management_token(data: &mut Data, id: &str, name: &str, expires_ms: Option<u64>) -> String {
    super::tokens::mint_into(
        data,
        Mint {
            name,
            environment: Some(id),
            scopes: MANAGEMENT_SCOPES.iter().map(|s| s.to_string()).collect(),
            owner: "cluster",
            personal_access_token: false,
            expires_ms,
        },
    )
    .secret
}

pub fn token_management_token(app: &Arc<App>, req: &Req, id: &str) -> ApiResult<Response<Body>> {
    // The body, its name and expiresIn are all optional [doc: "Create a new tenant token"].
    let obj = if req.body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        req.json_object()?
    };
    let name = match obj.get("name") {
        None | Some(Value::Null) => "tokenManagementToken".to_string(),
        Some(_) => required_str(&obj, "name")?.to_string(),
    };
    let expires_ms = super::tokens::expires_in(&obj, app.clock.now_ms())?;
    let secret = {
        let mut data = app.data();
        if !data.environments.contains_key(id) {
            return Err(not_found(id));
        }
        management_token(&mut data, id, &name, expires_ms)
    };
    app.mark_changed();
    Ok(body::json(StatusCode::CREATED, &json!({ "token": secret })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_rule() {
        assert!(valid_id("abc-p1"));
        assert!(valid_id(&"a".repeat(70)));
        assert!(!valid_id(&"a".repeat(71)));
        assert!(!valid_id(""));
        assert!(!valid_id("a.b"));
    }
}

//! Cluster API v2 environments (section 1): list with filter/sort/paging, get, POST, PUT
//! create-or-update (optionally with a token-management token), DELETE, and
//! `tokenManagementToken`.

use std::sync::Arc;

use base64::Engine;
use hyper::header::{HeaderValue, LOCATION};
use hyper::{Response, StatusCode};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::app::App;
use crate::body::{self, Body};
use crate::error::{ApiError, ApiResult, Location};
use crate::request::{kind_of, required_str, string_list, Req};
use crate::state::{Data, Environment};
use crate::tokens::{self, Mint, MANAGEMENT_SCOPES};

pub const DEFAULT_PAGE_SIZE: usize = 100;
pub const MAX_PAGE_SIZE: usize = 1000;

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
            "hostUnits": {"maxLimit": null},
            "demUnits": {"monthlyLimit": null, "annualLimit": null, "consumedThisMonth": 0.0, "consumedThisYear": 0.0},
            "userSessions": {"totalAnnualLimit": null, "totalConsumedThisYear": 0},
            "sessionProperties": {"maxLimit": null},
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
            "serviceRequestLevelRetention": {"maxLimit": 35},
            "serviceCodeLevelRetention": {"maxLimit": 10},
            "realUserMonitoringRetention": {"maxLimit": 35},
            "syntheticMonitoringRetention": {"maxLimit": 35},
            "sessionReplayRetention": {"maxLimit": 35},
            "logMonitoringRetention": {"maxLimit": 35},
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
        let minted = tokens::mint(Mint {
            name: "tokenManagementToken",
            environment: Some(id),
            scopes: MANAGEMENT_SCOPES.iter().map(|s| s.to_string()).collect(),
            owner: "cluster",
            personal_access_token: false,
            expires_ms: None,
        });
        short["tokenManagementToken"] = json!(minted.secret);
        data.tokens.insert(minted.token.id.clone(), minted.token);
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
    let consumption = req.bool_param("includeConsumptionInfo", false)?;
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

pub fn token_management_token(app: &Arc<App>, req: &Req, id: &str) -> ApiResult<Response<Body>> {
    let obj = req.json_object()?;
    let name = required_str(&obj, "name")?.to_string();
    let expires_in = obj.get("expiresIn").ok_or_else(|| {
        ApiError::invalid(
            Location::PayloadBody,
            "expiresIn",
            "is required, e.g. {\"value\":300,\"unit\":\"SECONDS\"}",
        )
    })?;
    let ttl = tokens::expires_in_ms(expires_in)?;
    let secret = {
        let mut data = app.data();
        if !data.environments.contains_key(id) {
            return Err(not_found(id));
        }
        let minted = tokens::mint(Mint {
            name: &name,
            environment: Some(id),
            scopes: MANAGEMENT_SCOPES.iter().map(|s| s.to_string()).collect(),
            owner: "cluster",
            personal_access_token: false,
            expires_ms: Some(tokens::now_ms().saturating_add(ttl)),
        });
        data.tokens.insert(minted.token.id.clone(), minted.token);
        minted.secret
    };
    app.mark_changed();
    Ok(body::json(StatusCode::CREATED, &json!({ "token": secret })))
}

/// Everything that selects a page; encoded into `nextPageKey` so the key stands alone.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct ListQuery {
    offset: usize,
    page_size: usize,
    filter: Option<String>,
    sort: Option<String>,
    consumption: bool,
    storage: bool,
}

fn list_query(req: &Req) -> ApiResult<ListQuery> {
    if let Some(key) = req.param("nextPageKey") {
        if let Some(other) = req.param_names().find(|k| *k != "nextPageKey") {
            return Err(ApiError::invalid(
                Location::Query,
                other,
                "no other query parameter is allowed together with nextPageKey",
            ));
        }
        let bad = || {
            ApiError::invalid(
                Location::Query,
                "nextPageKey",
                "is not a key this server handed out",
            )
        };
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(key)
            .map_err(|_| bad())?;
        return serde_json::from_slice(&raw).map_err(|_| bad());
    }
    let page_size = match req.param("pageSize") {
        None => DEFAULT_PAGE_SIZE,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    Location::Query,
                    "pageSize",
                    format!("'{s}' is not an integer within 1..={MAX_PAGE_SIZE}"),
                )
            })?,
    };
    let filter = req.param("filter").map(str::to_string);
    if let Some(f) = &filter {
        parse_filter(f)?;
    }
    let sort = req.param("sort").map(str::to_string);
    if let Some(s) = &sort {
        if !["name", "-name", "creationDate", "-creationDate"].contains(&s.as_str()) {
            return Err(ApiError::invalid(
                Location::Query,
                "sort",
                format!("'{s}' is not one of name, -name, creationDate, -creationDate"),
            ));
        }
    }
    Ok(ListQuery {
        offset: 0,
        page_size,
        filter,
        sort,
        consumption: req.bool_param("includeConsumptionInfo", false)?,
        storage: req.bool_param("includeStorageInfo", false)?,
    })
}

#[derive(Debug, PartialEq)]
enum Term {
    Name(String),
    State(String),
    /// Any of these tags (OR); several Tag terms are ANDed.
    Tag(Vec<String>),
}

/// `name(x)`, `state(ENABLED)`, `tag(a,b)`, joined by commas (AND).
fn parse_filter(f: &str) -> ApiResult<Vec<Term>> {
    let bad = |m: String| ApiError::invalid(Location::Query, "filter", m);
    let mut terms = Vec::new();
    let mut rest = f.trim();
    while !rest.is_empty() {
        let open = rest
            .find('(')
            .ok_or_else(|| bad(format!("'{rest}' is not of the form fn(value)")))?;
        let close = rest[open..]
            .find(')')
            .map(|i| open + i)
            .ok_or_else(|| bad(format!("missing ')' in '{rest}'")))?;
        let func = rest[..open].trim();
        let arg = &rest[open + 1..close];
        terms.push(match func {
            "name" => Term::Name(arg.to_lowercase()),
            "state" if arg == "ENABLED" || arg == "DISABLED" => Term::State(arg.to_string()),
            "state" => return Err(bad(format!("state({arg}): use ENABLED or DISABLED"))),
            "tag" => Term::Tag(arg.split(',').map(|t| t.trim().to_string()).collect()),
            other => {
                return Err(bad(format!(
                    "unknown filter '{other}'; use name(), state() or tag()"
                )))
            }
        });
        rest = rest[close + 1..].trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
            if rest.is_empty() {
                return Err(bad("trailing ',' in filter".into()));
            }
        } else if !rest.is_empty() {
            return Err(bad(format!("expected ',' before '{rest}'")));
        }
    }
    if terms.is_empty() {
        return Err(bad("must not be empty".into()));
    }
    Ok(terms)
}

fn keep(env: &Environment, terms: &[Term]) -> bool {
    terms.iter().all(|t| match t {
        Term::Name(n) => env.name.to_lowercase().contains(n),
        Term::State(s) => env.state == *s,
        Term::Tag(any) => any.iter().any(|t| env.tags.contains(t)),
    })
}

pub fn list(app: &Arc<App>, req: &Req) -> ApiResult<Response<Body>> {
    let q = list_query(req)?;
    let terms = match &q.filter {
        Some(f) => parse_filter(f)?,
        None => Vec::new(),
    };
    let data = app.data();
    let mut envs: Vec<&Environment> = data
        .environments
        .values()
        .filter(|e| keep(e, &terms))
        .collect();
    match q.sort.as_deref() {
        Some("name") => envs.sort_by_key(|e| (e.name.to_lowercase(), e.seq)),
        Some("-name") => {
            envs.sort_by_key(|e| (e.name.to_lowercase(), e.seq));
            envs.reverse();
        }
        Some("-creationDate") => envs.sort_by_key(|e| std::cmp::Reverse((e.created_ms, e.seq))),
        _ => envs.sort_by_key(|e| (e.created_ms, e.seq)),
    }
    let total = envs.len();
    let page: Vec<Value> = envs
        .iter()
        .skip(q.offset)
        .take(q.page_size)
        .map(|e| render(e, q.consumption, q.storage))
        .collect();
    let next = q.offset + q.page_size;
    let next_key = if next < total {
        let key = ListQuery {
            offset: next,
            ..q.clone()
        };
        let raw = serde_json::to_vec(&key).unwrap_or_default();
        Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw))
    } else {
        None
    };
    Ok(body::json(
        StatusCode::OK,
        &json!({
            "environments": page,
            "nextPageKey": next_key,
            "pageSize": q.page_size,
            "totalCount": total,
        }),
    ))
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

    #[test]
    fn filter_grammar() {
        assert_eq!(
            parse_filter("name(Ab),state(ENABLED),tag(a,b),tag(c)").ok(),
            Some(vec![
                Term::Name("ab".into()),
                Term::State("ENABLED".into()),
                Term::Tag(vec!["a".into(), "b".into()]),
                Term::Tag(vec!["c".into()]),
            ])
        );
        for bad in [
            "",
            "name",
            "name(x",
            "foo(x)",
            "state(ON)",
            "name(x),",
            "name(x)tag(y)",
        ] {
            assert!(parse_filter(bad).is_err(), "{bad}");
        }
    }
}

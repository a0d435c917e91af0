//! Token management: environment API tokens v2 (`/api/v2/apiTokens`) and their v1 twin
//! (`/api/v1/tokens`), and cluster tokens (`/api/cluster/v2/tokens`).

use std::sync::Arc;

use hyper::{Response, StatusCode};
use serde_json::{json, Map, Value};

use crate::app::App;
use crate::auth::Caller;
use crate::body::{self, Body};
use crate::error::{ApiError, ApiResult, Location};
use crate::request::{required_str, string_list, Req};
use crate::state::Data;
use crate::tokens::{self, Mint, Presented, Token, CLUSTER_SCOPES, ENV_SCOPES};

/// Where a token lives: an environment or the cluster (`None`).
type Home<'a> = Option<&'a str>;

/// The stored token that `given` (an id or a full secret) names in `home`, if any.
fn find<'d>(data: &'d Data, given: &str, home: Home<'_>) -> Option<&'d Token> {
    let (id, secret) = match tokens::parse(given)? {
        Presented::Full { id, secret } => (id, Some(secret)),
        Presented::IdOnly(id) => (id, None),
    };
    data.tokens.get(&id).filter(|t| {
        !t.revoked
            && t.environment.as_deref() == home
            && secret.is_none_or(|s| tokens::hash(s) == t.secret_sha256)
    })
}

fn not_found(given: &str) -> ApiError {
    // Echo only the public id: `given` may be a full secret.
    let shown = match tokens::parse(given) {
        Some(Presented::Full { id, .. }) | Some(Presented::IdOnly(id)) => id,
        None => "(malformed token)".to_string(),
    };
    ApiError::not_found(format!("Token {shown} not found"))
}

fn token_field(obj: &Map<String, Value>) -> ApiResult<String> {
    let t = required_str(obj, "token")?;
    match tokens::parse(t) {
        Some(Presented::Full { .. }) => Ok(t.to_string()),
        _ => Err(ApiError::invalid(
            Location::PayloadBody,
            "token",
            "is not a Dynatrace API token (dt0c01.<24 chars>.<64 chars>)",
        )),
    }
}

/// The v2 ApiToken object.
pub fn render_v2(t: &Token) -> Value {
    let mut v = json!({
        "id": t.id,
        "name": t.name,
        "enabled": !t.disabled,
        "personalAccessToken": t.personal_access_token,
        "owner": t.owner,
        "creationDate": tokens::iso(t.created_ms),
        "scopes": t.scopes,
    });
    if let Some(e) = t.expires_ms {
        v["expirationDate"] = json!(tokens::iso(e));
    }
    if let Some(u) = t.last_used_ms {
        v["lastUsedDate"] = json!(tokens::iso(u));
    }
    v
}

/// The TokenMetadata object of v1 and cluster tokens (epoch millis dates).
fn render_v1(t: &Token) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "userId": t.owner,
        "revoked": t.disabled,
        "personalAccessToken": t.personal_access_token,
        "created": t.created_ms,
        "expires": t.expires_ms,
        "lastUse": t.last_used_ms,
        "scopes": t.scopes,
    })
}

struct NewToken {
    name: String,
    scopes: Vec<String>,
    expires_ms: Option<u64>,
    personal: bool,
}

fn store(app: &App, home: Home<'_>, owner: &str, n: NewToken) -> tokens::Minted {
    let minted = mint_into(
        &mut app.data(),
        Mint {
            name: &n.name,
            environment: home,
            scopes: n.scopes,
            owner,
            personal_access_token: n.personal,
            expires_ms: n.expires_ms,
        },
    );
    app.mark_changed();
    minted
}

/// Mints a token and stores it: the one path every token-creating route (here and the
/// environment API's tokenManagementToken) takes. The caller marks the state changed.
pub(super) fn mint_into(data: &mut Data, m: Mint) -> tokens::Minted {
    let minted = tokens::mint(m);
    data.tokens
        .insert(minted.token.id.clone(), minted.token.clone());
    minted
}

fn personal(obj: &Map<String, Value>) -> ApiResult<bool> {
    match obj.get("personalAccessToken") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::invalid(
            Location::PayloadBody,
            "personalAccessToken",
            "must be a boolean",
        )),
    }
}

/// `expiresIn` of v1, cluster and tokenManagementToken tokens: optional, relative to the
/// simulator's clock (`now`), which is what their expiry is checked against.
pub(super) fn expires_in(obj: &Map<String, Value>, now: u64) -> ApiResult<Option<u64>> {
    match obj.get("expiresIn") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => Ok(Some(now.saturating_add(tokens::expires_in_ms(v)?))),
    }
}

/// The id of the token `given` names in `home`, which must not be the caller's own token
/// (the docs forbid deleting or updating it: 400).
fn target_id(
    data: &Data,
    home: Home<'_>,
    caller: &Caller,
    given: &str,
    verb: &str,
) -> ApiResult<String> {
    let id = find(data, given, home)
        .map(|t| t.id.clone())
        .ok_or_else(|| not_found(given))?;
    if id == caller.token_id {
        return Err(ApiError::bad_request(format!(
            "Token {id} is the token that authenticated this request; a token cannot {verb} itself, use another token with the required scope"
        )));
    }
    Ok(id)
}

/// Deletes `given` from `home`; deleting the caller's own token is a 400.
fn delete(app: &App, home: Home<'_>, caller: &Caller, given: &str) -> ApiResult<Response<Body>> {
    {
        let mut data = app.data();
        let id = target_id(&data, home, caller, given, "delete")?;
        if let Some(t) = data.tokens.get_mut(&id) {
            t.revoked = true;
        }
    }
    app.mark_changed();
    Ok(body::no_content(StatusCode::NO_CONTENT))
}

// ---- environment API v2 ----

/// The `name` and `scopes` both token-create bodies (v1 and v2) require, scopes validated.
fn name_and_env_scopes(obj: &serde_json::Map<String, Value>) -> ApiResult<(String, Vec<String>)> {
    let name = required_str(obj, "name")?.to_string();
    let scopes = string_list(obj, "scopes")?;
    tokens::check_scopes(&scopes, &ENV_SCOPES, "scopes")?;
    Ok((name, scopes))
}

pub fn v2_create(
    app: &Arc<App>,
    req: &Req,
    env: &str,
    caller: &Caller,
) -> ApiResult<Response<Body>> {
    let obj = req.json_object()?;
    let (name, scopes) = name_and_env_scopes(&obj)?;
    let expires_ms = tokens::parse_expiration(
        obj.get("expirationDate").unwrap_or(&Value::Null),
        app.clock.now_ms(),
    )?;
    let minted = store(
        app,
        Some(env),
        &caller.token_id,
        NewToken {
            name,
            scopes,
            expires_ms,
            personal: personal(&obj)?,
        },
    );
    let mut out = json!({"id": minted.token.id, "token": minted.secret});
    if let Some(e) = expires_ms {
        out["expirationDate"] = json!(tokens::iso(e));
    }
    Ok(body::json(StatusCode::CREATED, &out))
}

pub fn v2_lookup(app: &Arc<App>, req: &Req, env: &str) -> ApiResult<Response<Body>> {
    let token = token_field(&req.json_object()?)?;
    let data = app.data();
    let t = find(&data, &token, Some(env)).ok_or_else(|| not_found(&token))?;
    Ok(body::json(StatusCode::OK, &render_v2(t)))
}

pub fn v2_get(app: &Arc<App>, env: &str, id: &str) -> ApiResult<Response<Body>> {
    let data = app.data();
    let t = find(&data, id, Some(env)).ok_or_else(|| not_found(id))?;
    Ok(body::json(StatusCode::OK, &render_v2(t)))
}

pub fn v2_delete(
    app: &Arc<App>,
    env: &str,
    caller: &Caller,
    given: &str,
) -> ApiResult<Response<Body>> {
    delete(app, Some(env), caller, given)
}

// ---- environment API v1 (deprecated twin) ----

pub fn v1_create(
    app: &Arc<App>,
    req: &Req,
    env: &str,
    caller: &Caller,
) -> ApiResult<Response<Body>> {
    let obj = req.json_object()?;
    let (name, scopes) = name_and_env_scopes(&obj)?;
    let minted = store(
        app,
        Some(env),
        &caller.token_id,
        NewToken {
            name,
            scopes,
            expires_ms: expires_in(&obj, app.clock.now_ms())?,
            personal: false,
        },
    );
    Ok(body::json(
        StatusCode::CREATED,
        &json!({"token": minted.secret}),
    ))
}

pub fn v1_lookup(app: &Arc<App>, req: &Req, env: &str) -> ApiResult<Response<Body>> {
    let token = token_field(&req.json_object()?)?;
    let data = app.data();
    let t = find(&data, &token, Some(env)).ok_or_else(|| not_found(&token))?;
    Ok(body::json(StatusCode::OK, &render_v1(t)))
}

/// `{"values": [{id, name}]}` (a StubList) of the tokens living in `home` that `keep` selects,
/// at most `limit` of them.
fn list_ids(
    app: &App,
    home: Home<'_>,
    keep: impl Fn(&Token) -> bool,
    limit: usize,
) -> Response<Body> {
    let data = app.data();
    let values: Vec<Value> = data
        .tokens
        .in_home(home)
        .filter(|t| !t.revoked && keep(t))
        .take(limit)
        .map(|t| json!({"id": t.id, "name": t.name}))
        .collect();
    body::json(StatusCode::OK, &json!({ "values": values }))
}

pub fn v1_list(app: &Arc<App>, env: &str) -> ApiResult<Response<Body>> {
    Ok(list_ids(app, Some(env), |_| true, usize::MAX))
}

pub fn v1_delete(
    app: &Arc<App>,
    env: &str,
    caller: &Caller,
    given: &str,
) -> ApiResult<Response<Body>> {
    delete(app, Some(env), caller, given)
}

// ---- cluster tokens ----

pub fn cluster_create(app: &Arc<App>, req: &Req, caller: &Caller) -> ApiResult<Response<Body>> {
    let obj = req.json_object()?;
    let name = required_str(&obj, "name")?.to_string();
    let scopes = string_list(&obj, "scopes")?;
    tokens::check_scopes(&scopes, &CLUSTER_SCOPES, "scopes")?;
    let minted = store(
        app,
        None,
        &caller.token_id,
        NewToken {
            name,
            scopes,
            expires_ms: expires_in(&obj, app.clock.now_ms())?,
            personal: false,
        },
    );
    // Only the token [doc: "Create new Cluster token"]; its id is the part before the secret.
    Ok(body::json(
        StatusCode::CREATED,
        &json!({ "token": minted.secret }),
    ))
}

/// TokenMetadata, not the environment ApiToken [doc: "List cluster token metadata with request"].
pub fn cluster_lookup(app: &Arc<App>, req: &Req) -> ApiResult<Response<Body>> {
    let token = token_field(&req.json_object()?)?;
    let data = app.data();
    let t = find(&data, &token, None).ok_or_else(|| not_found(&token))?;
    Ok(body::json(StatusCode::OK, &render_v1(t)))
}

/// A number query parameter within `range`, `default` when absent.
fn number_param(
    req: &Req,
    name: &str,
    range: std::ops::RangeInclusive<u64>,
) -> ApiResult<Option<u64>> {
    req.param(name)
        .map(|v| {
            v.parse().ok().filter(|n| range.contains(n)).ok_or_else(|| {
                ApiError::invalid(
                    Location::Query,
                    name,
                    format!(
                        "'{v}' is not an integer within {}..={}",
                        range.start(),
                        range.end()
                    ),
                )
            })
        })
        .transpose()
}

/// `limit` (default 1000), `user` (owner), `permissions` (repeatable, all required), `from`/`to`
/// (last use, epoch millis) [doc: "List available Cluster tokens"].
pub fn cluster_list(app: &Arc<App>, req: &Req) -> ApiResult<Response<Body>> {
    let limit = number_param(req, "limit", 1..=1_000_000)?.unwrap_or(1000);
    let from = number_param(req, "from", 0..=u64::MAX)?;
    let to = number_param(req, "to", 0..=u64::MAX)?;
    let user = req.param("user");
    let permissions: Vec<&str> = req
        .query
        .iter()
        .filter(|(k, _)| k == "permissions")
        .map(|(_, v)| v.as_str())
        .collect();
    let keep = |t: &Token| {
        user.is_none_or(|u| t.owner == u)
            && permissions.iter().all(|p| t.scopes.iter().any(|s| s == p))
            && from.is_none_or(|f| t.last_used_ms.is_some_and(|u| u > f))
            && to.is_none_or(|x| t.last_used_ms.is_some_and(|u| u < x))
    };
    Ok(list_ids(app, None, keep, limit as usize))
}

pub fn cluster_get(app: &Arc<App>, given: &str) -> ApiResult<Response<Body>> {
    let data = app.data();
    let t = find(&data, given, None).ok_or_else(|| not_found(given))?;
    Ok(body::json(StatusCode::OK, &render_v1(t)))
}

/// PUT `{name?, revoked?, scopes?}` [doc: "Update Cluster token"]; scopes replace the old ones.
pub fn cluster_update(
    app: &Arc<App>,
    req: &Req,
    caller: &Caller,
    given: &str,
) -> ApiResult<Response<Body>> {
    let obj = req.json_object()?;
    let name = match obj.get("name") {
        None | Some(Value::Null) => None,
        Some(_) => Some(required_str(&obj, "name")?.to_string()),
    };
    let revoked = match obj.get("revoked") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            return Err(ApiError::invalid(
                Location::PayloadBody,
                "revoked",
                "must be a boolean",
            ))
        }
    };
    let scopes = match obj.get("scopes") {
        None | Some(Value::Null) => None,
        Some(_) => {
            let s = string_list(&obj, "scopes")?;
            tokens::check_scopes(&s, &CLUSTER_SCOPES, "scopes")?;
            Some(s)
        }
    };
    {
        let mut data = app.data();
        let id = target_id(&data, None, caller, given, "update")?;
        if let Some(t) = data.tokens.get_mut(&id) {
            if let Some(n) = name {
                t.name = n;
            }
            if let Some(r) = revoked {
                t.disabled = r;
            }
            if let Some(s) = scopes {
                t.scopes = s;
            }
        }
    }
    app.mark_changed();
    Ok(body::no_content(StatusCode::NO_CONTENT))
}

pub fn cluster_delete(app: &Arc<App>, caller: &Caller, given: &str) -> ApiResult<Response<Body>> {
    delete(app, None, caller, given)
}

//! Token authentication and scope checks, on every call: expiry, revocation and the realm
//! (an environment token only in its environment, cluster tokens only on cluster routes).

use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::request::Req;
use crate::tokens::{self, Presented};

pub const MISSING: &str = "Missing authorization parameter.";
pub const FAILED: &str = "Token Authentication failed";

#[derive(Clone, Copy, Debug)]
pub enum Realm<'a> {
    Cluster,
    Env(&'a str),
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_id: String,
}

/// Authenticates the request's token for `realm`; `scope` None means any valid token will do.
pub fn authenticate(
    app: &App,
    req: &Req,
    realm: Realm<'_>,
    scope: Option<&str>,
) -> ApiResult<Caller> {
    let presented = req.token().ok_or_else(|| ApiError::unauthorized(MISSING))?;
    let (id, secret) = match tokens::parse(&presented) {
        Some(Presented::Full { id, secret }) => (id, secret.to_string()),
        _ => return Err(ApiError::unauthorized(FAILED)),
    };
    let now = app.clock.now_ms();
    let mut data = app.data();
    let token = data
        .tokens
        .get_mut(&id)
        .filter(|t| t.secret_sha256 == tokens::hash(&secret) && t.alive(now))
        .ok_or_else(|| ApiError::unauthorized(FAILED))?;
    let realm_ok = match realm {
        Realm::Cluster => token.environment.is_none(),
        Realm::Env(env) => token.environment.as_deref() == Some(env),
    };
    if !realm_ok {
        return Err(ApiError::unauthorized(FAILED));
    }
    if let Some(scope) = scope {
        if !token.scopes.iter().any(|s| s == scope) {
            return Err(ApiError::forbidden(format!(
                "Token is missing required scope. Use one of: {scope}"
            )));
        }
    }
    token.last_used_ms = Some(now);
    Ok(Caller { token_id: id })
}

//! Routing: path segments and method to a handler, with the authentication each route needs.
//! Unknown paths are a 404 envelope, known paths with another method a 405 envelope.

pub mod admin;
pub mod deployment;
pub mod env_list;
pub mod environments;
pub mod groups;
pub mod settings;
pub mod token_list;
pub mod tokens;

use std::sync::Arc;

use hyper::{Method, Response, StatusCode};

use crate::app::App;
use crate::auth::{authenticate, Caller, Realm};
use crate::body::Body;
use crate::error::{ApiError, ApiResult};
use crate::faults::Fault;
use crate::request::Req;

fn method_not_allowed(req: &Req, allowed: &[Method]) -> ApiError {
    let list: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "Method {} is not allowed on {}; use {}",
            req.method,
            req.path,
            list.join(", ")
        ),
    )
    .with_header("allow", list.join(", "))
}

fn unknown_route(req: &Req) -> ApiError {
    ApiError::not_found(format!("No such API: {} {}", req.method, req.path))
}

fn cluster(app: &App, req: &Req, scope: &str) -> ApiResult<Caller> {
    authenticate(app, req, Realm::Cluster, Some(scope))
}

fn env_auth(app: &App, req: &Req, env: &str, scope: Option<&str>) -> ApiResult<Caller> {
    authenticate(app, req, Realm::Env(env), scope)
}

const SP: &str = "ServiceProviderAPI";

/// Handles one API request (admin routes are handled before this).
pub async fn dispatch(app: &Arc<App>, req: &Req, faults: &[Fault]) -> ApiResult<Response<Body>> {
    use Method as M;
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    let m = &req.method;
    match segs.as_slice() {
        ["api", "cluster", "v2", "environments"] => match *m {
            M::GET => {
                cluster(app, req, SP)?;
                environments::list(app, req)
            }
            M::POST => {
                cluster(app, req, SP)?;
                environments::post(app, req)
            }
            _ => Err(method_not_allowed(req, &[M::GET, M::POST])),
        },
        ["api", "cluster", "v2", "environments", id] => match *m {
            M::GET => {
                cluster(app, req, SP)?;
                environments::get(app, req, id)
            }
            M::PUT => {
                cluster(app, req, SP)?;
                environments::put(app, req, id)
            }
            M::DELETE => {
                cluster(app, req, SP)?;
                environments::delete(app, id)
            }
            _ => Err(method_not_allowed(req, &[M::GET, M::PUT, M::DELETE])),
        },
        ["api", "cluster", "v2", "environments", id, "tokenManagementToken"] => match *m {
            M::POST => {
                cluster(app, req, "EnvironmentTokenManagement")?;
                environments::token_management_token(app, req, id)
            }
            _ => Err(method_not_allowed(req, &[M::POST])),
        },
        ["api", "cluster", "v2", "tokens"] => match *m {
            M::POST => {
                let caller = cluster(app, req, "ClusterTokenManagement")?;
                tokens::cluster_create(app, req, &caller)
            }
            M::GET => {
                cluster(app, req, "ClusterTokenManagement")?;
                tokens::cluster_list(app, req)
            }
            _ => Err(method_not_allowed(req, &[M::GET, M::POST])),
        },
        ["api", "cluster", "v2", "tokens", "lookup"] => match *m {
            M::POST => {
                cluster(app, req, "ClusterTokenManagement")?;
                tokens::cluster_lookup(app, req)
            }
            _ => Err(method_not_allowed(req, &[M::POST])),
        },
        ["api", "cluster", "v2", "tokens", id] => match *m {
            M::GET => {
                cluster(app, req, "ClusterTokenManagement")?;
                tokens::cluster_get(app, id)
            }
            M::PUT => {
                let caller = cluster(app, req, "ClusterTokenManagement")?;
                tokens::cluster_update(app, req, &caller, id)
            }
            M::DELETE => {
                let caller = cluster(app, req, "ClusterTokenManagement")?;
                tokens::cluster_delete(app, &caller, id)
            }
            _ => Err(method_not_allowed(req, &[M::GET, M::PUT, M::DELETE])),
        },
        ["api", "v1.0", "onpremise", "groups"] => {
            if ![M::GET, M::POST, M::PUT].contains(m) {
                return Err(method_not_allowed(req, &[M::GET, M::POST, M::PUT]));
            }
            cluster(app, req, SP)?;
            match *m {
                M::GET => groups::list(app),
                M::POST => groups::post(app, req),
                _ => groups::put(app, req),
            }
        }
        ["api", "v1.0", "onpremise", "groups", id] => {
            if ![M::GET, M::DELETE].contains(m) {
                return Err(method_not_allowed(req, &[M::GET, M::DELETE]));
            }
            cluster(app, req, SP)?;
            match *m {
                M::GET => groups::get(app, id),
                _ => groups::delete(app, id),
            }
        }
        ["e", env, "api", rest @ ..] => environment_api(app, req, env, rest, faults).await,
        _ => Err(unknown_route(req)),
    }
}

async fn environment_api(
    app: &Arc<App>,
    req: &Req,
    env: &str,
    rest: &[&str],
    faults: &[Fault],
) -> ApiResult<Response<Body>> {
    use Method as M;
    let m = &req.method;
    match rest {
        ["v2", "apiTokens"] => match *m {
            M::POST => {
                let caller = env_auth(app, req, env, Some("apiTokens.write"))?;
                tokens::v2_create(app, req, env, &caller)
            }
            M::GET => {
                env_auth(app, req, env, Some("apiTokens.read"))?;
                token_list::list(app, req, env)
            }
            _ => Err(method_not_allowed(req, &[M::GET, M::POST])),
        },
        ["v2", "apiTokens", "lookup"] => match *m {
            M::POST => {
                env_auth(app, req, env, None)?;
                tokens::v2_lookup(app, req, env)
            }
            _ => Err(method_not_allowed(req, &[M::POST])),
        },
        ["v2", "apiTokens", id] => match *m {
            M::GET => {
                env_auth(app, req, env, Some("apiTokens.read"))?;
                tokens::v2_get(app, env, id)
            }
            M::DELETE => {
                let caller = env_auth(app, req, env, Some("apiTokens.write"))?;
                tokens::v2_delete(app, env, &caller, id)
            }
            _ => Err(method_not_allowed(req, &[M::GET, M::DELETE])),
        },
        ["v1", "tokens"] => match *m {
            M::POST => {
                let caller = env_auth(app, req, env, Some("TenantTokenManagement"))?;
                tokens::v1_create(app, req, env, &caller)
            }
            M::GET => {
                env_auth(app, req, env, Some("TenantTokenManagement"))?;
                tokens::v1_list(app, env)
            }
            _ => Err(method_not_allowed(req, &[M::GET, M::POST])),
        },
        ["v1", "tokens", "lookup"] => match *m {
            // Any valid token may call it [doc: "Tokens API v1 - POST token metadata"].
            M::POST => {
                env_auth(app, req, env, None)?;
                tokens::v1_lookup(app, req, env)
            }
            _ => Err(method_not_allowed(req, &[M::POST])),
        },
        ["v1", "tokens", id] => match *m {
            M::DELETE => {
                let caller = env_auth(app, req, env, Some("TenantTokenManagement"))?;
                tokens::v1_delete(app, env, &caller, id)
            }
            _ => Err(method_not_allowed(req, &[M::DELETE])),
        },
        ["v2", "settings", "objects"] => match *m {
            M::GET => {
                env_auth(app, req, env, Some("settings.read"))?;
                settings::list(app, req, env)
            }
            M::POST => {
                env_auth(app, req, env, Some("settings.write"))?;
                settings::post(app, req, env)
            }
            _ => Err(method_not_allowed(req, &[M::GET, M::POST])),
        },
        ["v2", "settings", "objects", object_id] => match *m {
            M::GET => {
                env_auth(app, req, env, Some("settings.read"))?;
                settings::get_one(app, env, object_id)
            }
            M::DELETE => {
                env_auth(app, req, env, Some("settings.write"))?;
                settings::delete_one(app, env, object_id)
            }
            _ => Err(method_not_allowed(req, &[M::GET, M::DELETE])),
        },
        ["v1", "deployment", "installer", "agent", deploy @ ..] => {
            if *m != M::GET {
                return Err(method_not_allowed(req, &[M::GET]));
            }
            let known = matches!(
                deploy,
                ["connectioninfo"]
                    | ["versions", _, _]
                    | [_, _, "latest"]
                    | [_, _, "latest", "metainfo"]
                    | [_, _, "version", _]
            );
            if !known {
                return Err(unknown_route(req));
            }
            env_auth(app, req, env, Some("InstallerDownload"))?;
            match deploy {
                ["connectioninfo"] => deployment::connection_info(app, env),
                ["versions", os, ty] => deployment::versions(app, req, env, os, ty),
                [os, ty, "latest"] => {
                    deployment::download(app, req, env, os, ty, None, faults).await
                }
                [os, ty, "latest", "metainfo"] => deployment::metainfo(app, req, env, os, ty),
                [os, ty, "version", v] => {
                    deployment::download(app, req, env, os, ty, Some(v), faults).await
                }
                _ => Err(unknown_route(req)),
            }
        }
        _ => Err(unknown_route(req)),
    }
}

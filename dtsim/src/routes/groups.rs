//! User groups of the old cluster API, `/api/v1.0/onpremise/groups` (section 6).

use std::collections::BTreeMap;
use std::sync::Arc;

use hyper::{Response, StatusCode};
use serde_json::{Map, Value};

use crate::app::App;
use crate::body::{self, Body};
use crate::error::{ApiError, ApiResult, Location};
use crate::request::{kind_of, required_str, string_list, Req};
use crate::state::{Data, Group};

pub const PERMISSIONS: [&str; 11] = [
    "VIEWER",
    "MANAGE_SETTINGS",
    "AGENT_INSTALL",
    "LOG_VIEWER",
    "VIEW_SENSITIVE_REQUEST_DATA",
    "CONFIGURE_REQUEST_CAPTURE_DATA",
    "REPLAY_SESSION_DATA",
    "REPLAY_SESSION_DATA_WITHOUT_MASKING",
    "MANAGE_SECURITY_PROBLEMS",
    "VIEW_SECURITY_PROBLEMS",
    "DEMO_USER",
];

/// "Sales Group" -> "salesgroup": lowercase, letters and digits only.
pub fn id_from_name(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn flag(obj: &Map<String, Value>, field: &str) -> ApiResult<bool> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(ApiError::invalid(
            Location::PayloadBody,
            field,
            format!("must be a boolean, got {}", kind_of(other)),
        )),
    }
}

fn access_right(obj: &Map<String, Value>, data: &Data) -> ApiResult<BTreeMap<String, Vec<String>>> {
    let bad = |m: String| ApiError::invalid(Location::PayloadBody, "accessRight", m);
    let map = match obj.get("accessRight") {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m,
        Some(other) => return Err(bad(format!("must be an object, got {}", kind_of(other)))),
    };
    let mut out = BTreeMap::new();
    for (perm, envs) in map {
        if !PERMISSIONS.contains(&perm.as_str()) {
            return Err(bad(format!(
                "unknown permission '{perm}'; known: {}",
                PERMISSIONS.join(", ")
            )));
        }
        let list = match envs {
            Value::Array(a) => a
                .iter()
                .map(|e| e.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad(format!("{perm} must list environment ids (strings)")))?,
            _ => return Err(bad(format!("{perm} must be an array of environment ids"))),
        };
        if let Some(unknown) = list.iter().find(|e| !data.environments.contains_key(*e)) {
            return Err(bad(format!(
                "{perm} names environment '{unknown}', which does not exist; create it first or remove it"
            )));
        }
        out.insert(perm.clone(), list);
    }
    Ok(out)
}

/// The group a body describes; environments in `accessRight` must exist in `data`.
fn group(obj: &Map<String, Value>, id: String, data: &Data) -> ApiResult<Group> {
    Ok(Group {
        id,
        name: required_str(obj, "name")?.to_string(),
        is_cluster_admin_group: flag(obj, "isClusterAdminGroup")?,
        is_access_account: flag(obj, "isAccessAccount")?,
        is_manage_account: flag(obj, "isManageAccount")?,
        ldap_group_names: string_list(obj, "ldapGroupNames")?,
        sso_group_names: string_list(obj, "ssoGroupNames")?,
        access_right: access_right(obj, data)?,
    })
}

fn not_acceptable(message: String) -> ApiError {
    ApiError::new(StatusCode::NOT_ACCEPTABLE, message)
}

pub fn list(app: &Arc<App>) -> ApiResult<Response<Body>> {
    let data = app.data();
    let groups: Vec<&Group> = data.groups.values().collect();
    Ok(body::json(StatusCode::OK, &groups))
}

pub fn get(app: &Arc<App>, id: &str) -> ApiResult<Response<Body>> {
    let data = app.data();
    let g = data
        .groups
        .get(id)
        .ok_or_else(|| ApiError::not_found(format!("Group '{id}' not found")))?;
    Ok(body::json(StatusCode::OK, g))
}

pub fn post(app: &Arc<App>, req: &Req) -> ApiResult<Response<Body>> {
    let obj = req.json_object()?;
    // The docs' own POST example sends `"id": ""`, so an empty id counts as no id.
    if obj
        .get("id")
        .is_some_and(|v| !v.is_null() && v.as_str() != Some(""))
    {
        return Err(ApiError::invalid(
            Location::PayloadBody,
            "id",
            "must not be set on POST: the id is derived from the name",
        ));
    }
    let name = required_str(&obj, "name")?;
    let id = id_from_name(name);
    if id.is_empty() {
        return Err(ApiError::invalid(
            Location::PayloadBody,
            "name",
            "must contain at least one letter or digit (the id is derived from it)",
        ));
    }
    let g = {
        let mut data = app.data();
        let g = group(&obj, id.clone(), &data)?;
        if data.groups.contains_key(&id) {
            return Err(not_acceptable(format!(
                "A group with id '{id}' (from name '{name}') already exists; update it with PUT"
            )));
        }
        data.groups.insert(id, g.clone());
        g
    };
    app.mark_changed();
    Ok(body::json(StatusCode::OK, &g))
}

pub fn put(app: &Arc<App>, req: &Req) -> ApiResult<Response<Body>> {
    let obj = req.json_object()?;
    let id = required_str(&obj, "id")?.to_string();
    let g = {
        let mut data = app.data();
        let g = group(&obj, id.clone(), &data)?;
        if !data.groups.contains_key(&id) {
            return Err(not_acceptable(format!(
                "Group '{id}' does not exist; create it with POST"
            )));
        }
        if let Some(other) = data
            .groups
            .values()
            .find(|o| o.id != id && o.name.eq_ignore_ascii_case(&g.name))
        {
            return Err(ApiError::invalid(
                Location::PayloadBody,
                "name",
                format!(
                    "group '{}' is already named '{}'; choose another name",
                    other.id, other.name
                ),
            ));
        }
        data.groups.insert(id, g.clone());
        g
    };
    app.mark_changed();
    Ok(body::json(StatusCode::OK, &g))
}

pub fn delete(app: &Arc<App>, id: &str) -> ApiResult<Response<Body>> {
    let removed = app
        .data()
        .groups
        .remove(id)
        // The docs answer 400 here, not 404.
        .ok_or_else(|| {
            ApiError::bad_request(format!("Group '{id}' does not exist; nothing to delete"))
        })?;
    app.mark_changed();
    Ok(body::json(StatusCode::OK, &removed))
}

#[cfg(test)]
mod tests {
    #[test]
    fn id_from_name() {
        assert_eq!(super::id_from_name("Sales Group"), "salesgroup");
        assert_eq!(super::id_from_name("Ops-Team 2"), "opsteam2");
    }
}

//! Deployment API v1 (section 3): installer download (latest / version), metainfo, available
//! versions and connection info. Installers come from the installer `Factory`, built off the
//! async threads, and are streamed (never buffered) with an `ETag`.

use std::sync::Arc;

use hyper::header::{
    HeaderValue, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
};
use hyper::{Response, StatusCode};
use serde_json::json;

use crate::app::App;
use crate::body::{self, Body};
use crate::error::{ApiError, ApiResult, Location};
use crate::faults::Fault;
use crate::installer::{InstallerParams, Variant, VERSIONS};
use crate::request::Req;
use crate::routes::settings;

const OS_TYPES: [&str; 5] = ["windows", "unix", "aix", "solaris", "zos"];
const INSTALLER_TYPES: [&str; 5] = [
    "default",
    "default-unattended",
    "mainframe",
    "paas",
    "paas-sh",
];
const ARCHES: [&str; 7] = ["all", "x86", "arm", "ppc", "ppcle", "s390", "sparc"];
/// Arches with Linux installers (section 7): x86, arm (aarch64), ppcle (ppc64le), s390 (s390x).
const SERVED_ARCHES: [&str; 4] = ["x86", "arm", "ppcle", "s390"];
const FLAVORS: [&str; 3] = ["default", "multidistro", "musl"];
const BITNESS: [&str; 3] = ["32", "64", "all"];

fn one_of(value: &str, allowed: &[&str], location: Location, name: &str) -> ApiResult<()> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            location,
            name,
            format!("'{value}' is not one of {}", allowed.join(", ")),
        ))
    }
}

/// Checks osType/installerType: unknown values are a 400, known ones dtsim does not serve a 404.
fn check_kind(os: &str, ty: &str) -> ApiResult<()> {
    one_of(os, &OS_TYPES, Location::Path, "osType")?;
    one_of(ty, &INSTALLER_TYPES, Location::Path, "installerType")?;
    if os != "unix" || ty != "default" {
        return Err(ApiError::not_found(format!(
            "No {ty} installer for osType {os}: dtsim serves only unix/default installers"
        )));
    }
    Ok(())
}

/// Validates the documented query parameters; returns the arch (default x86).
fn check_query(req: &Req) -> ApiResult<String> {
    let arch = req.param("arch").unwrap_or("x86").to_string();
    one_of(&arch, &ARCHES, Location::Query, "arch")?;
    if let Some(f) = req.param("flavor") {
        one_of(f, &FLAVORS, Location::Query, "flavor")?;
    }
    if let Some(b) = req.param("bitness") {
        one_of(b, &BITNESS, Location::Query, "bitness")?;
    }
    req.bool_param("skipMetadata", false)?;
    Ok(arch)
}

/// The arch of a request for an installer or its metainfo: documented arches without a Linux
/// installer are a 404 for both, so metainfo never promises what the download refuses.
fn served_arch(req: &Req) -> ApiResult<String> {
    let arch = check_query(req)?;
    if !SERVED_ARCHES.contains(&arch.as_str()) {
        return Err(ApiError::not_found(format!(
            "No installer for arch {arch}: dtsim serves {}",
            SERVED_ARCHES.join(", ")
        )));
    }
    Ok(arch)
}

fn environment(app: &App, env: &str) -> ApiResult<(String, String)> {
    let data = app.data();
    let e = data
        .environments
        .get(env)
        .ok_or_else(|| ApiError::not_found(format!("Environment '{env}' not found")))?;
    Ok((e.id.clone(), e.tenant_token.clone()))
}

fn endpoints(app: &App) -> Vec<String> {
    vec![format!("{}/communication", app.base_url)]
}

/// The installer variant the fired faults ask for (the first installer-only fault wins).
pub fn variant(faults: &[Fault]) -> Variant {
    faults
        .iter()
        .find_map(|f| match f {
            Fault::BadSignature => Some(Variant::BadSignature),
            Fault::OtherCa => Some(Variant::OtherCa),
            Fault::InstallerFails { exit_code } => Some(Variant::Fails(*exit_code)),
            Fault::InstallerHangs => Some(Variant::Hangs),
            _ => None,
        })
        .unwrap_or(Variant::Normal)
}

fn etag_matches(req: &Req, etag: &str) -> bool {
    req.headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

/// `latest` (version None) or `version/{v}`.
pub async fn download(
    app: &Arc<App>,
    req: &Req,
    env: &str,
    os: &str,
    ty: &str,
    version: Option<&str>,
    faults: &[Fault],
) -> ApiResult<Response<Body>> {
    check_kind(os, ty)?;
    let arch = served_arch(req)?;
    let (tenant_uuid, tenant_token) = environment(app, env)?;
    let version = match version {
        Some(v) if VERSIONS.contains(&v) => v.to_string(),
        Some(v) => {
            return Err(ApiError::not_found(format!(
                "OneAgent installer version {v} not found; available: {}",
                VERSIONS.join(", ")
            )))
        }
        None => settings::resolve_latest(&app.data(), env).to_string(),
    };
    let params = InstallerParams {
        environment: env.to_string(),
        version: version.clone(),
        arch: arch.clone(),
        tenant_uuid,
        tenant_token,
        endpoints: endpoints(app).join(";"),
        variant: variant(faults),
        pad_to: app.installer_size,
    };
    let factory = Arc::clone(&app.factory);
    let installer = tokio::task::spawn_blocking(move || factory.get(&params))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("dtsim installer build task failed: {e}"),
            )
        })?
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("dtsim could not build the installer: {e:#}"),
            )
        })?;
    let etag = HeaderValue::from_str(installer.etag()).map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "dtsim built an installer with an invalid ETag",
        )
    })?;
    if etag_matches(req, installer.etag()) {
        let mut resp = body::no_content(StatusCode::NOT_MODIFIED);
        resp.headers_mut().insert(ETAG, etag);
        return Ok(resp);
    }
    let mut resp = Response::new(body::from_stream(Box::pin(installer.stream())));
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(CONTENT_LENGTH, HeaderValue::from(installer.len()));
    h.insert(ETAG, etag);
    let name = format!("attachment; filename=\"Dynatrace-OneAgent-Linux-{arch}-{version}.sh\"");
    if let Ok(v) = HeaderValue::from_str(&name) {
        h.insert(CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

pub fn metainfo(
    app: &Arc<App>,
    req: &Req,
    env: &str,
    os: &str,
    ty: &str,
) -> ApiResult<Response<Body>> {
    check_kind(os, ty)?;
    served_arch(req)?;
    environment(app, env)?;
    let latest = settings::resolve_latest(&app.data(), env);
    Ok(body::json(
        StatusCode::OK,
        &json!({ "latestAgentVersion": latest }),
    ))
}

pub fn versions(
    app: &Arc<App>,
    req: &Req,
    env: &str,
    os: &str,
    ty: &str,
) -> ApiResult<Response<Body>> {
    check_kind(os, ty)?;
    check_query(req)?;
    environment(app, env)?;
    Ok(body::json(
        StatusCode::OK,
        &json!({ "availableVersions": VERSIONS }),
    ))
}

/// `networkZone` is accepted and ignored: dtsim has a single zone.
pub fn connection_info(app: &Arc<App>, env: &str) -> ApiResult<Response<Body>> {
    let (uuid, tenant_token) = environment(app, env)?;
    let eps = endpoints(app);
    Ok(body::json(
        StatusCode::OK,
        &json!({
            "tenantUUID": uuid,
            "tenantToken": tenant_token,
            "communicationEndpoints": eps,
            "formattedCommunicationEndpoints": eps.join(";"),
        }),
    ))
}

//! Deployment API v1: stream the OneAgent installer to a 0600 file in a private directory while
//! computing its SHA-256 and feeding a [`StreamCheck`] (the signature digest) in the same pass;
//! the environment's target version (metainfo) and its connection info.

mod local;
mod progress;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{failure, Kind};
use crate::http::{Attempt, Call, Client, Method};
use crate::secret::Secret;
use crate::signals;

pub use local::copy_installer;
use progress::Progress;

/// Fed every chunk of the body in order; reset when a retry starts the body again.
pub trait StreamCheck {
    fn reset(&mut self);
    fn update(&mut self, chunk: &[u8]);
}

/// A check that looks at nothing (when the caller needs only the SHA-256).
impl StreamCheck for () {
    fn reset(&mut self) {}
    fn update(&mut self, _chunk: &[u8]) {}
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    pub path: PathBuf,
    /// Lower-case hex SHA-256 of exactly the bytes served.
    pub sha256: String,
    pub bytes: u64,
}

const API_TOKEN: &str = "the installer download token";
const SCOPE: &str = "InstallerDownload";
const BUFFER: usize = 64 * 1024;
const FILE_NAME: &str = "Dynatrace-OneAgent-Linux.sh";

/// The installer `arch` Dynatrace serves for a machine architecture, as `uname -m`, Rust,
/// facter or Ansible name it; OneAgent's own names pass through (so `--arch arm` works too).
pub fn installer_arch(machine: &str) -> anyhow::Result<&'static str> {
    match machine.trim().to_ascii_lowercase().as_str() {
        "x86_64" | "amd64" | "x86" => Ok("x86"),
        "aarch64" | "arm64" | "arm" => Ok("arm"),
        "ppc64le" | "powerpc64le" | "ppcle" => Ok("ppcle"),
        "s390x" | "s390" => Ok("s390"),
        other => Err(failure(
            Kind::Config,
            format!(
                "no OneAgent installer for architecture '{other}' (Linux installers exist for \
                 x86_64, aarch64, ppc64le and s390x); set --arch if the 'arch' fact is wrong"
            ),
        )),
    }
}

/// The Unix `default` installer: `.../latest` or `.../version/{v}`, for `arch`.
pub fn installer_url(api_url: &str, version: &str, arch: &str) -> String {
    let base = format!(
        "{}/v1/deployment/installer/agent/unix/default",
        api_url.trim_end_matches('/')
    );
    let which = if version == "latest" {
        "latest".to_string()
    } else {
        format!("version/{}", encode(version))
    };
    format!("{base}/{which}?arch={}&flavor=default", encode(arch))
}

/// Downloads `url` into `dir` (which the caller made private, 0700) as a new 0600 file. Retries
/// (per the client's policy) start the body again from byte 0: the partial file is deleted
/// and `check` reset. A body shorter than its Content-Length is an error.
///
/// With a `limit` (how long, and the option that set it) the download fails (Kind::Api, the
/// partial file deleted) once it has passed, retries and a trickling body included; a read
/// still waiting when it passes can overrun it by up to the read timeout.
pub fn download_installer(
    c: &Client,
    url: &str,
    token: &Secret,
    dir: &Path,
    check: &mut dyn StreamCheck,
    progress: bool,
    limit: Option<(std::time::Duration, &str)>,
) -> anyhow::Result<Downloaded> {
    ensure_private(dir)?;
    let path = dir.join(FILE_NAME);
    let mut call = Call::new(Method::Get, url, "downloading the OneAgent installer")
        .token(token, API_TOKEN)
        .scope(SCOPE)
        .not_found("no installer for this version and architecture: check --version");
    if let Some((within, name)) = limit {
        let at = std::time::Instant::now()
            .checked_add(within)
            .ok_or_else(|| failure(Kind::Config, format!("{name} is too large")))?;
        call = call.deadline(at, name);
    }
    c.stream(&call, &[200], |resp| {
        check.reset();
        let total = resp.content_length();
        // Read on a helper thread so a SIGTERM/SIGINT stops even a stalled download at once.
        let mut body = signals::interruptible(resp);
        let result = write_body(c, &call, &mut body, &path, total, check, progress);
        if result.is_err() {
            // Never leave a partial installer behind, whether or not a retry follows.
            let _ = fs::remove_file(&path);
        }
        result
    })
}

/// One try: body -> new file, SHA-256 and `check` in one pass with a fixed buffer.
fn write_body(
    c: &Client,
    call: &Call,
    body: &mut impl Read,
    path: &Path,
    total: Option<u64>,
    check: &mut dyn StreamCheck,
    progress: bool,
) -> Result<Downloaded, Attempt> {
    let mut file = create_private(path).map_err(Attempt::Fail)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BUFFER];
    let mut bytes = 0u64;
    let mut bar = Progress::new(progress, total);
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            // No EINTR arm: signals::interruptible retries those on its reading thread.
            Err(e) => {
                return Err(match signals::is_interruption(&e) {
                    // Never retried: the run is being stopped.
                    Some(sig) => Attempt::Fail(signals::interrupted(
                        sig,
                        Kind::Api,
                        &format!(
                            "while downloading the OneAgent installer from {}",
                            crate::http::strip_url(call.url)
                        ),
                    )),
                    None => c.body_failure(call, e),
                });
            }
        };
        // A trickling body ends here at the deadline; the client ends a read waiting past it.
        c.check_deadline(call).map_err(Attempt::Fail)?;
        let chunk = &buf[..n];
        hasher.update(chunk);
        check.update(chunk);
        file.write_all(chunk)
            .map_err(|e| Attempt::Fail(write_error(path, &e)))?;
        bytes += n as u64;
        bar.update(bytes);
    }
    bar.finish();
    if let Some(expected) = total.filter(|t| *t != bytes) {
        // The client reports a connection closed early; this guards against anything it misses.
        return Err(Attempt::Retry {
            message: call.redact(&format!(
                "{}: GET {} ended after {bytes} of {expected} bytes — the connection was cut",
                call.doing,
                crate::http::strip_url(call.url)
            )),
            wait: None,
        });
    }
    // The installer runs next: make sure what was hashed is what is on disk.
    file.sync_all()
        .map_err(|e| Attempt::Fail(write_error(path, &e)))?;
    Ok(Downloaded {
        path: path.to_path_buf(),
        sha256: hex::encode(hasher.finalize()),
        bytes,
    })
}

/// The installer is executed as root later: a directory others can write to (or even list)
/// would let them swap or read it between download and run.
pub(crate) fn ensure_private(dir: &Path) -> anyhow::Result<()> {
    let meta = fs::symlink_metadata(dir).map_err(|e| {
        failure(
            Kind::Config,
            format!("using download directory {}: {e}", dir.display()),
        )
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if !meta.is_dir() || mode & 0o077 != 0 {
        return Err(failure(
            Kind::Internal,
            format!(
                "download directory {} must be a private directory (0700), is {mode:o}{}",
                dir.display(),
                if meta.is_dir() {
                    ""
                } else {
                    " and not a directory"
                }
            ),
        ));
    }
    Ok(())
}

/// A new file readable by its owner only; a stale one from an earlier try is replaced.
pub(crate) fn create_private(path: &Path) -> anyhow::Result<File> {
    let _ = fs::remove_file(path);
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| write_error(path, &e))
}

pub(crate) fn write_error(path: &Path, e: &std::io::Error) -> anyhow::Error {
    failure(
        Kind::Config,
        format!(
            "writing the installer to {}: {e}; check the state dir's free space and permissions",
            path.display()
        ),
    )
}

/// The version `latest` resolves to for this environment.
pub fn target_version(
    c: &Client,
    api_url: &str,
    token: &Secret,
    arch: &str,
) -> anyhow::Result<String> {
    metainfo(c, api_url, token, arch, &[200])?
        .ok_or_else(|| failure(Kind::Internal, "metainfo answered without a version"))
}

/// [`target_version`] with a token that may lack `InstallerDownload`: `None` on 403.
pub fn target_version_if_allowed(
    c: &Client,
    api_url: &str,
    token: &Secret,
    arch: &str,
) -> anyhow::Result<Option<String>> {
    metainfo(c, api_url, token, arch, &[200, 403])
}

fn metainfo(
    c: &Client,
    api_url: &str,
    token: &Secret,
    arch: &str,
    expect: &[u16],
) -> anyhow::Result<Option<String>> {
    let url = format!(
        "{}/v1/deployment/installer/agent/unix/default/latest/metainfo?arch={}",
        api_url.trim_end_matches('/'),
        encode(arch)
    );
    let call = Call::new(Method::Get, &url, "asking the target OneAgent version")
        .token(token, API_TOKEN)
        .scope(SCOPE);
    #[derive(Deserialize)]
    struct Meta {
        #[serde(rename = "latestAgentVersion")]
        latest_agent_version: String,
    }
    let reply = c.call(&call, expect)?;
    if reply.status == 403 {
        return Ok(None);
    }
    let meta: Meta = reply.json(&call)?;
    if meta.latest_agent_version.trim().is_empty() {
        return Err(call.api_error("answered with an empty version"));
    }
    Ok(Some(meta.latest_agent_version.trim().to_string()))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    pub tenant_uuid: String,
    pub tenant_token: Secret,
    /// Communication endpoints, `;`-separated (as `--set-server` takes them).
    pub endpoints: String,
}

/// What a host needs to connect to the environment without a new installer.
pub fn connection_info(
    c: &Client,
    api_url: &str,
    token: &Secret,
) -> anyhow::Result<ConnectionInfo> {
    let url = format!(
        "{}/v1/deployment/installer/agent/connectioninfo",
        api_url.trim_end_matches('/')
    );
    let call = Call::new(Method::Get, &url, "getting the tenant's connection info")
        .token(token, API_TOKEN)
        .scope(SCOPE);
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Info {
        #[serde(rename = "tenantUUID")]
        tenant_uuid: String,
        tenant_token: String,
        #[serde(default)]
        communication_endpoints: Vec<String>,
        formatted_communication_endpoints: Option<String>,
    }
    let info: Info = c.call(&call, &[200])?.json(&call)?;
    let endpoints = info
        .formatted_communication_endpoints
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| info.communication_endpoints.join(";"));
    if info.tenant_uuid.is_empty() || info.tenant_token.trim().is_empty() || endpoints.is_empty() {
        return Err(call.api_error(
            "answered without tenant UUID, tenant token or endpoints; is this the right tenant?",
        ));
    }
    Ok(ConnectionInfo {
        tenant_uuid: info.tenant_uuid,
        tenant_token: Secret::new(info.tenant_token),
        endpoints,
    })
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so a version or an arch
/// from facts cannot change the URL's shape.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;

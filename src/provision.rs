//! `provision`: the controller side of "keep the cluster token off the nodes" (issue 16).
//!
//! Runs where the cluster token lives (Puppet server, Ansible controller), with the facts of the
//! target host: ensures that host's tenant, then hands out an `InstallerDownload`-only token for
//! it that expires within 15 minutes, for the node's `apply --api-token-file`. The node never
//! sees the cluster token or a token that can mint. `provision --revoke` lets the controller
//! kill the token once the node has reported; otherwise it expires.

use std::cell::OnceCell;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use crate::cli::ProvisionArgs;
use crate::cluster;
use crate::config::Config;
use crate::error::{failure, Kind, Outcome, ResultExt};
use crate::facts::{self, Facts, Sources};
use crate::groups::{self, Wanted};
use crate::http::Client;
use crate::report::{ActionReport, Reporter};
use crate::secret::Secret;
use crate::tenant::{self, Tenant};
use crate::tenant_access::{self, Access, Groups};
use crate::token::{self, MintedGuard};

/// Names of the tokens `provision` hands out start so (see [`token::run_token_name`]); `--revoke`
/// by name accepts only these, so it cannot be pointed at an operator's own tokens.
const NAME_PREFIX: &str = "oneagent-bootstrap installer download ";

/// What `provision --json` prints. The token itself only when it was asked on stdout
/// (`--output -`); with `--output FILE` it is in that file alone.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Provisioned<'a> {
    tenant: &'a str,
    /// This run created the tenant.
    created: bool,
    /// What the node passes as `--api-url`.
    api_url: &'a str,
    token_id: &'a str,
    /// Unique per host and run: what `--revoke` also takes.
    token_name: &'a str,
    expires_at: Option<&'a str>,
    /// What was done to the --tenant-group groups (create-group, update-group).
    group_actions: Vec<ActionReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
}

/// Where the token goes, checked before the first request so a bad path mints nothing.
enum Sink {
    Stdout,
    File(PathBuf),
}

pub fn run(cfg: &Config, args: &ProvisionArgs, out: Reporter) -> Result<Outcome> {
    let facts = target_facts(cfg)?;
    let tenant = tenant::resolve(&cfg.tenant, &facts)?.ok_or_else(|| {
        failure(
            Kind::Config,
            "no tenant for the target host: set --tenant or --tenant-template (with its facts)",
        )
    })?;
    let (cluster_url, cluster_token) = cluster_access(cfg)?;
    let mut at = Cluster {
        url: cluster_url,
        token: cluster_token,
        api_url: cfg.api_url_for(&tenant.id)?,
        tenant: &tenant,
        groups: Groups {
            wanted: &[],
            spec: &cfg.groups,
        },
    };
    let cell = OnceCell::new();
    let client = || crate::apply::http_client(cfg, &cell, out.quiet);
    if let Some(which) = &args.revoke {
        let which = revocable(which)?;
        revoke(client()?, &at, &which, cfg.json)?;
        return Ok(Outcome::Converged);
    }
    let host = facts
        .get("hostname")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            failure(
                Kind::Config,
                "provision needs the target host's 'hostname' fact (--fact hostname=..., or \
             --facts-file with the host's facts): the token is named after it",
            )
        })?;
    // Rendered before the first request, so a template error is exit 3 with nothing done.
    let wanted: Vec<Wanted> = groups::render(&cfg.groups, &facts, &tenant.id)?;
    at.groups.wanted = &wanted;
    if args.dry_run {
        return dry_run(client()?, &at, host, cfg.json, out);
    }
    let sink = sink(args.output.as_deref())?;
    let changed = hand_out(client()?, &at, host, &sink, cfg.json, out)?;
    Ok(if changed {
        Outcome::Changed
    } else {
        Outcome::Converged
    })
}

/// `--dry-run`: reads only. Whether the tenant exists and what the groups lack.
fn dry_run(c: &Client, at: &Cluster, host: &str, json: bool, out: Reporter) -> Result<Outcome> {
    let tenant = &at.tenant.id;
    let exists = cluster::tenant_exists(c, at.url, at.token, tenant)?;
    let group_actions =
        tenant_access::preview_groups(at.access(c), at.tenant, at.groups, Some(exists), out)?;
    if json {
        let result = serde_json::json!({
            "dryRun": true,
            "tenant": tenant,
            "exists": exists,
            "groupActions": group_actions,
        });
        stdout_line(&result.to_string())?;
    } else {
        stdout_line(&format!(
            "tenant {tenant} {}; {} user group change(s); would hand out an InstallerDownload \
             token for {host} (15 minutes)",
            if exists { "exists" } else { "would be created" },
            group_actions.len()
        ))?;
    }
    Ok(if exists && group_actions.is_empty() {
        Outcome::Converged
    } else {
        Outcome::Changed
    })
}

/// Where the target's tenant lives, the credential that manages it and the groups it gets.
struct Cluster<'a> {
    url: &'a str,
    token: &'a Secret,
    api_url: String,
    tenant: &'a Tenant,
    groups: Groups<'a>,
}

impl<'a> Cluster<'a> {
    fn access(&self, client: &'a Client) -> Access<'a> {
        Access {
            client,
            url: self.url,
            token: self.token,
        }
    }
}

/// Ensures the tenant (and its groups), mints the token and delivers it; whether the tenant or
/// its groups changed.
fn hand_out(
    c: &Client,
    at: &Cluster,
    host: &str,
    sink: &Sink,
    json: bool,
    out: Reporter,
) -> Result<bool> {
    let tenant = at.tenant;
    let ensured = tenant_access::ensure(at.access(c), tenant, at.groups, out)?;
    let created = ensured.created;
    let group_actions = ensured.groups.unwrap_or_default();
    let changed = created || !group_actions.is_empty();
    let management = cluster::token_management_token(c, at.url, at.token, &tenant.id)?;
    let name = token::run_token_name(host);
    let guard = MintedGuard::mint(c, &at.api_url, &management, &name)?;
    let (Some(id), Some(secret)) = (guard.id(), guard.token()) else {
        return Err(failure(
            Kind::Internal,
            "the minted token was already revoked",
        ));
    };
    out.step(format!(
        "minted installer download token {id} for {host} (InstallerDownload only)"
    ));
    let mut result = Provisioned {
        tenant: &tenant.id,
        created,
        api_url: &at.api_url,
        token_id: id,
        token_name: &name,
        expires_at: guard.expires(),
        group_actions,
        token_file: None,
        token: None,
    };
    // Until it is delivered the guard revokes the token on any failure: nobody could use it.
    deliver(sink, secret, &mut result, json)?;
    // Disarmed: from here the token is the node's, until `--revoke` or its expiry.
    let _handed_out = guard.keep();
    Ok(changed)
}

/// `--revoke`: with a fresh token-management token (the one that minted has expired or soon
/// will), by id or by every token of that name.
fn revoke(c: &Client, at: &Cluster, which: &Revocable, json: bool) -> Result<()> {
    let tenant = &at.tenant.id;
    let management = cluster::token_management_token(c, at.url, at.token, tenant)?;
    match which {
        Revocable::Id(id) => token::revoke(c, &at.api_url, &management, id)?,
        Revocable::Name(name) => token::revoke_named(c, &at.api_url, &management, name)?,
    }
    if json {
        let (key, value) = match which {
            Revocable::Id(id) => ("revokedTokenId", id),
            Revocable::Name(name) => ("revokedTokenName", name),
        };
        stdout_line(&serde_json::json!({ "tenant": tenant, key: value }).to_string())
    } else {
        stdout_line(&format!("revoked {} in tenant {tenant}", which.shown()))
    }
}

/// The target host's facts: the configured sources only. The controller's own facts (its
/// hostname above all) would silently give the controller's tenant.
fn target_facts(cfg: &Config) -> Result<Facts> {
    let text = cfg
        .facts_file
        .as_deref()
        .map(facts::read_facts_file)
        .transpose()?;
    let origin = cfg
        .facts_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    facts::gather(
        Facts::default(),
        &Sources {
            facts_file: text.as_deref().map(|t| (origin.as_str(), t)),
            flags: &cfg.facts,
            hostname_pattern: cfg.hostname_pattern.as_ref(),
        },
    )
}

fn cluster_access(cfg: &Config) -> Result<(&str, &Secret)> {
    match (&cfg.cluster_url, &cfg.cluster_token) {
        (Some(url), Some(token)) => Ok((url, token)),
        _ => Err(failure(
            Kind::Config,
            "provision needs the cluster URL (--cluster-url/DT_CLUSTER_URL) and the cluster \
             token (--cluster-token-file/DT_CLUSTER_TOKEN)",
        )),
    }
}

fn sink(output: Option<&Path>) -> Result<Sink> {
    let Some(path) = output else {
        return Err(failure(
            Kind::Config,
            "provision needs --output FILE (a new file) or --output - (stdout) for the token",
        ));
    };
    if path == Path::new("-") {
        return Ok(Sink::Stdout);
    }
    // symlink_metadata: a link there (even a dangling one) is refused, never followed.
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(failure(
            Kind::Config,
            format!(
                "--output {} already exists: provision writes a new file only (remove it, or \
                 give another path)",
                path.display()
            ),
        ));
    }
    let dir = parent_dir(path);
    if !dir.is_dir() {
        return Err(failure(
            Kind::Config,
            format!(
                "--output {}: the directory {} does not exist",
                path.display(),
                dir.display()
            ),
        ));
    }
    Ok(Sink::File(path.to_path_buf()))
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes the token where it was asked for, and the result on stdout.
fn deliver<'a>(
    sink: &Sink,
    secret: &'a Secret,
    result: &mut Provisioned<'a>,
    json: bool,
) -> Result<()> {
    match sink {
        Sink::File(path) => {
            write_new_private(path, secret)?;
            result.token_file = Some(path.display().to_string());
            if json {
                print_json(result)?;
            } else {
                println!(
                    "tenant {} ({}): token {} ({}) written to {}, expires {}; node API URL {}",
                    result.tenant,
                    if result.created { "created" } else { "existed" },
                    result.token_id,
                    result.token_name,
                    path.display(),
                    result.expires_at.unwrap_or("within 15 minutes"),
                    result.api_url
                );
            }
        }
        Sink::Stdout if json => {
            result.token = Some(secret.expose());
            print_json(result)?;
        }
        Sink::Stdout => {
            // stdout is the token alone (`$(oneagent-bootstrap provision --output -)`); what
            // was done goes to stderr.
            eprintln!(
                "tenant {} ({}): token {} ({}), expires {}; node API URL {}",
                result.tenant,
                if result.created { "created" } else { "existed" },
                result.token_id,
                result.token_name,
                result.expires_at.unwrap_or("within 15 minutes"),
                result.api_url
            );
            stdout_line(secret.expose())?;
        }
    }
    Ok(())
}

fn print_json(result: &Provisioned) -> Result<()> {
    let text = serde_json::to_string(result).kind(Kind::Internal, || {
        "encoding the provision result as JSON".into()
    })?;
    stdout_line(&text)
}

/// A failed stdout write is an error here (not a lost line): the token must reach the caller.
fn stdout_line(text: &str) -> Result<()> {
    let mut o = std::io::stdout().lock();
    writeln!(o, "{text}")
        .and_then(|()| o.flush())
        .kind(Kind::Internal, || {
            "writing the provision result to stdout".into()
        })
}

/// The token into a new 0600 file: written in a private temp file beside it, then linked into
/// place without replacing anything (a file or link that appeared meanwhile makes it fail).
fn write_new_private(path: &Path, secret: &Secret) -> Result<()> {
    let doing = || format!("writing the token to --output {}", path.display());
    let mut tmp = tempfile::Builder::new()
        .prefix(".oneagent-bootstrap-token")
        .tempfile_in(parent_dir(path))
        .kind(Kind::Config, doing)?;
    writeln!(tmp, "{}", secret.expose())
        .and_then(|()| tmp.as_file().sync_all())
        .kind(Kind::Config, doing)?;
    tmp.persist_noclobber(path)
        .map_err(|e| e.error)
        .kind(Kind::Config, doing)?;
    Ok(())
}

enum Revocable<'a> {
    Id(&'a str),
    Name(&'a str),
}

impl Revocable<'_> {
    fn shown(&self) -> String {
        match self {
            Revocable::Id(id) => format!("token {id}"),
            Revocable::Name(name) => format!("the tokens named '{name}'"),
        }
    }
}

/// A token id (`dt0c01.PUBLIC`, public) or a name `provision` gives; never a secret (a full
/// token on the command line would leak it).
fn revocable(which: &str) -> Result<Revocable<'_>> {
    let which = which.trim();
    if which.starts_with(NAME_PREFIX) {
        return Ok(Revocable::Name(which));
    }
    let is_id = which
        .strip_prefix("dt0c01.")
        .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    if is_id {
        return Ok(Revocable::Id(which));
    }
    Err(failure(
        Kind::Config,
        "--revoke takes the tokenId (dt0c01.PUBLIC, without the secret part) or the tokenName \
         that provision printed",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoke_takes_ids_and_our_names_only() {
        assert!(matches!(
            revocable("dt0c01.ABCDEFGHIJKLMNOPQRSTUVWX"),
            Ok(Revocable::Id(_))
        ));
        let name = token::run_token_name("web01");
        assert!(matches!(revocable(&name), Ok(Revocable::Name(_))));
        for bad in [
            "",
            "dt0c01.",
            "dt0c01.ABC.SECRETSECRET",
            "my own token",
            "dt0c01.ABC/../x",
        ] {
            assert!(revocable(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn output_paths_are_new_files_in_existing_dirs() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(sink(Some(Path::new("-"))), Ok(Sink::Stdout)));
        assert!(sink(None).is_err());
        let taken = dir.path().join("taken");
        std::fs::write(&taken, "x").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &link).unwrap();
        for bad in [taken.clone(), link, dir.path().join("no/such/dir/t")] {
            let e = sink(Some(&bad)).err().unwrap();
            assert_eq!(crate::error::kind_of(&e), Kind::Config, "{}", bad.display());
        }
        let fresh = dir.path().join("t");
        assert!(matches!(sink(Some(&fresh)), Ok(Sink::File(_))));

        let secret = Secret::new("dt0c01.AAAA.BBBB");
        write_new_private(&fresh, &secret).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            std::fs::read_to_string(&fresh).unwrap(),
            "dt0c01.AAAA.BBBB\n"
        );
        // Never replaces what is there.
        assert!(write_new_private(&fresh, &Secret::new("other")).is_err());
        assert_eq!(
            std::fs::read_to_string(&fresh).unwrap(),
            "dt0c01.AAAA.BBBB\n"
        );
    }
}

//! The typed configuration, resolved once from flags, environment and defaults.
//!
//! clap already applied flag > env > config file > default for every option (the file is
//! layered in by `file::layer`, called from `cli::parse`). What is left here: tokens (which
//! are never options: files, `DT_CLUSTER_TOKEN`/`DT_API_TOKEN` read through one seam, or stdin),
//! validation with the option's name in the message (Kind::Config, exit 3), and turning strings
//! into the types the pipeline uses.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use regex::Regex;

use crate::cli::{Cmd, EnsureArg, Options, SslModeArg};
use crate::error::{failure, Kind, ResultExt};
use crate::facts;
use crate::groups::GroupsSpec;
use crate::http::SslMode;
use crate::plan::{Ensure, VersionSpec};
use crate::secret::Secret;
use crate::settings::Settings;
use crate::tenant::TenantSpec;

pub mod file;
mod rules;
#[cfg(test)]
mod token_tests;

/// Longest token file we accept: a token is ~100 bytes; anything larger is the wrong file
/// (and is not sent anywhere).
const MAX_TOKEN_FILE: u64 = 4 * 1024;

#[derive(Debug, Clone)]
pub struct Config {
    pub cluster_url: Option<String>,
    pub cluster_token: Option<Secret>,
    /// May contain `{tenant}`; `None` means `{cluster-url}/e/{tenant}/api`.
    pub api_url: Option<String>,
    pub api_token: Option<Secret>,

    pub tenant: TenantSpec,
    pub groups: GroupsSpec,
    pub hostname_pattern: Option<Regex>,
    pub facts_file: Option<PathBuf>,
    pub facts: Vec<String>,

    pub ensure: Ensure,
    pub version: VersionSpec,
    pub upgrade: bool,
    pub allow_downgrade: bool,
    /// How long a remembered target version (--upgrade) stays good, before the jitter.
    pub version_check_interval: Duration,
    /// `--arch` as given (validated); `None` means the `arch` fact decides.
    pub arch: Option<String>,
    /// `--installer-file`: install from this file instead of downloading.
    pub installer_file: Option<PathBuf>,
    pub install_path: PathBuf,
    pub settings: Settings,
    pub installer_args: Vec<String>,

    pub ssl_mode: SslMode,
    pub ca_file: Option<PathBuf>,
    pub sha256: Option<String>,
    pub installer_ca_file: Option<PathBuf>,
    /// The explicit, loudly warned opt-out of the signature check.
    pub insecure_skip_signature: bool,

    pub state_dir: PathBuf,
    pub json: bool,
    pub installer_timeout: Duration,
    /// Overall limit of the installer download (retries and a slow body included).
    pub download_timeout: Duration,
    pub lock_timeout: Duration,
    pub retries: u32,
    /// `--splay`: the longest wait before a run's first request (see `splay.rs`).
    pub splay: Duration,
    pub quiet: bool,
    pub verbose: u8,
    /// `--log-file`: one JSON line per run (logfile.rs).
    pub log_file: Option<PathBuf>,
}

impl Config {
    /// A configuration with every default and nothing set (the base for `demo` and tests).
    pub fn defaults(state_dir: PathBuf, install_path: PathBuf) -> Config {
        Config {
            cluster_url: None,
            cluster_token: None,
            api_url: None,
            api_token: None,
            tenant: TenantSpec::default(),
            groups: GroupsSpec::default(),
            hostname_pattern: None,
            facts_file: None,
            facts: Vec::new(),
            ensure: Ensure::Present,
            version: VersionSpec::Latest,
            upgrade: false,
            allow_downgrade: false,
            version_check_interval: Duration::from_secs(6 * 3600),
            arch: None,
            installer_file: None,
            install_path,
            settings: Settings {
                deployment_metadata: crate::settings::default_deployment_metadata(),
                ..Settings::default()
            },
            installer_args: Vec::new(),
            ssl_mode: SslMode::Default,
            ca_file: None,
            sha256: None,
            installer_ca_file: None,
            insecure_skip_signature: false,
            state_dir,
            json: false,
            installer_timeout: Duration::from_secs(15 * 60),
            download_timeout: Duration::from_secs(30 * 60),
            lock_timeout: Duration::from_secs(10 * 60),
            retries: 3,
            splay: Duration::ZERO,
            quiet: false,
            verbose: 0,
            log_file: None,
        }
    }

    /// The environment API base for a tenant.
    pub fn api_url_for(&self, tenant: &str) -> Result<String> {
        let url = match (&self.api_url, &self.cluster_url) {
            (Some(u), _) => u.replace("{tenant}", tenant),
            (None, Some(c)) => format!("{}/e/{tenant}/api", c.trim_end_matches('/')),
            (None, None) => {
                return Err(failure(
                    Kind::Config,
                    "no Dynatrace address: set --cluster-url (DT_CLUSTER_URL) or --api-url \
                     (DT_API_URL)",
                ))
            }
        };
        Ok(url.trim_end_matches('/').to_string())
    }

    /// The configured tokens' values, for redacting what a child process or the host prints.
    pub fn secrets(&self) -> Vec<&str> {
        [&self.cluster_token, &self.api_token]
            .into_iter()
            .flatten()
            .map(|s| s.expose())
            .collect()
    }
}

/// Where the token-reading seam looks: an environment lookup and stdin.
pub struct Inputs<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub stdin: &'a mut dyn Read,
}

/// Builds the configuration for `cmd` from parsed options.
pub fn resolve(o: &Options, cmd: &Cmd, inputs: Inputs) -> Result<Config> {
    let mut c = Config::defaults(o.state_dir.clone(), o.install_path.clone());
    (c.cluster_token, c.api_token) = tokens(o, inputs)?;

    c.cluster_url = o
        .cluster_url
        .as_deref()
        .map(|u| check_url(u, "--cluster-url"))
        .transpose()?;
    c.api_url = o
        .api_url
        .as_deref()
        .map(|u| check_url(u, "--api-url"))
        .transpose()?;

    c.tenant = TenantSpec {
        explicit: o.tenant.clone().filter(|t| !t.is_empty()),
        template: o.tenant_template.clone().filter(|t| !t.is_empty()),
        name_template: o.tenant_name_template.clone().filter(|t| !t.is_empty()),
        tags: o.tenant_tag.clone(),
    };
    c.groups = groups(o, c.cluster_token.is_some())?;
    c.hostname_pattern = o
        .hostname_pattern
        .as_deref()
        .map(facts::compile_pattern)
        .transpose()?;
    c.facts_file = o.facts_file.clone();
    for f in &o.fact {
        facts::parse_fact_flag(f)?;
    }
    c.facts = o.fact.clone();

    c.ensure = match o.ensure {
        EnsureArg::Present => Ensure::Present,
        EnsureArg::Absent => Ensure::Absent,
    };
    c.version = version(o.version.as_ref())?;
    c.upgrade = o.upgrade;
    c.allow_downgrade = o.allow_downgrade;
    c.version_check_interval = o.version_check_interval;
    if let Some(a) = &o.arch {
        crate::download::installer_arch(a).kind(Kind::Config, || format!("--arch {a:?}"))?;
    }
    c.arch = o.arch.clone();
    c.installer_file = o.installer_file.clone();
    if !c.install_path.is_absolute() {
        return Err(failure(
            Kind::Config,
            format!(
                "--install-path {} must be an absolute path",
                c.install_path.display()
            ),
        ));
    }
    c.settings = settings(o)?;
    for a in &o.installer_arg {
        check_installer_arg(a)?;
    }
    c.installer_args = o.installer_arg.clone();

    c.ssl_mode = match o.ssl_mode {
        SslModeArg::Default => SslMode::Default,
        SslModeArg::All => SslMode::All,
    };
    c.ca_file = o.ca_file.clone();
    c.sha256 = o.sha256.as_deref().map(sha256).transpose()?;
    c.installer_ca_file = o.installer_ca_file.clone();
    c.insecure_skip_signature = o.insecure_skip_signature;

    c.json = o.json;
    c.installer_timeout = o.installer_timeout;
    c.download_timeout = o.download_timeout;
    c.lock_timeout = o.lock_timeout;
    c.retries = o.retries;
    c.splay = o.splay;
    c.quiet = o.quiet;
    c.verbose = o.verbose;
    c.log_file = o.log_file.clone();
    let _ = cmd;
    Ok(c)
}

/// The cluster and API tokens: each from its file (`-`: stdin, once), else its variable.
fn tokens(o: &Options, inputs: Inputs) -> Result<(Option<Secret>, Option<Secret>)> {
    let mut stdin_used = false;
    let stdin = inputs.stdin;
    let mut token = |file: &Option<PathBuf>, flag: &str, var: &str| -> Result<Option<Secret>> {
        let secret = match file {
            Some(p) if p == Path::new("-") => {
                if stdin_used {
                    return Err(failure(
                        Kind::Config,
                        format!("{flag} -: stdin can provide only one token"),
                    ));
                }
                stdin_used = true;
                Some(read_token(&mut *stdin, &format!("{flag} - (stdin)"))?)
            }
            Some(p) => Some(read_token_file(p, flag)?),
            None => match (inputs.env)(var) {
                Some(v) if !v.trim().is_empty() => Some(read_token(v.as_bytes(), var)?),
                _ => None,
            },
        };
        Ok(secret)
    };
    let cluster = token(
        &o.cluster_token_file,
        "--cluster-token-file",
        "DT_CLUSTER_TOKEN",
    )?;
    let api = token(&o.api_token_file, "--api-token-file", "DT_API_TOKEN")?;
    Ok((cluster, api))
}

/// `--version`: `latest` (also when given bare) or an exact version.
fn version(v: Option<&Option<String>>) -> Result<VersionSpec> {
    Ok(match v {
        Some(Some(v)) if v.eq_ignore_ascii_case("latest") => VersionSpec::Latest,
        Some(Some(v)) => {
            if !v.starts_with(|ch: char| ch.is_ascii_digit())
                || !v
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '.' || ch == '-')
            {
                return Err(failure(
                    Kind::Config,
                    format!(
                        "--version {v:?} is neither 'latest' nor a version such as \
                         1.301.55.20260114-153010"
                    ),
                ));
            }
            VersionSpec::Exact(v.clone())
        }
        _ => VersionSpec::Latest,
    })
}

/// `--sha256`, normalised to lower case.
fn sha256(h: &str) -> Result<String> {
    let h = h.trim().to_ascii_lowercase();
    if h.len() != 64 || !h.chars().all(|ch| ch.is_ascii_hexdigit()) {
        return Err(failure(
            Kind::Config,
            format!("--sha256 {h:?} is not 64 hexadecimal digits"),
        ));
    }
    Ok(h)
}

/// A token from a file that only its owner may read or write: a token readable by other
/// users is a leaked token, so the run refuses to use it rather than spread it further.
pub fn read_token_file(path: &Path, what: &str) -> Result<Secret> {
    use std::os::unix::fs::PermissionsExt;
    let shown = format!("{what} {}", path.display());
    let f = std::fs::File::open(path).kind(Kind::Config, || format!("could not read {shown}"))?;
    let meta = f
        .metadata()
        .kind(Kind::Config, || format!("could not read {shown}"))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(failure(
            Kind::Config,
            format!(
                "{shown} is readable or writable by others (mode {mode:04o}): the token may \
                 have leaked; restrict it with 'chmod 600 {}' (and rotate the token if others \
                 could read it)",
                path.display()
            ),
        ));
    }
    if meta.is_file() && meta.len() > MAX_TOKEN_FILE {
        return Err(too_big(&shown));
    }
    read_token(f, &shown)
}

fn too_big(what: &str) -> anyhow::Error {
    failure(
        Kind::Config,
        format!(
            "{what} is larger than {MAX_TOKEN_FILE} bytes: a token is about 100; is this the \
             right file?"
        ),
    )
}

fn read_token(r: impl Read, what: &str) -> Result<Secret> {
    let mut bytes = Vec::new();
    r.take(MAX_TOKEN_FILE + 1)
        .read_to_end(&mut bytes)
        .kind(Kind::Config, || {
            format!("could not read the token from {what}")
        })?;
    if bytes.len() as u64 > MAX_TOKEN_FILE {
        return Err(too_big(what));
    }
    // Editors on Windows start files with a byte-order mark; it is not part of the token.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let text = bytes.trim_ascii();
    if let Some(pos) = text
        .iter()
        .position(|b| !b.is_ascii_graphic() && !b.is_ascii_whitespace())
    {
        // The byte's value and place, never the text around it.
        return Err(failure(
            Kind::Config,
            format!(
                "{what} holds a byte that cannot be part of a token (0x{:02X} at byte {}): \
                 tokens are printable ASCII; write the file again with only the token",
                text[pos],
                pos + 1
            ),
        ));
    }
    let text = String::from_utf8_lossy(text).into_owned();
    check_token(Secret::new(text), what)
}

/// A token is one word; the check never echoes it.
fn check_token(s: Secret, what: &str) -> Result<Secret> {
    if s.is_empty() {
        return Err(failure(Kind::Config, format!("{what} holds no token")));
    }
    if s.expose().chars().any(|ch| !ch.is_ascii_graphic()) {
        return Err(failure(
            Kind::Config,
            format!(
                "{what} must hold exactly one token (it contains white space or characters \
                 that cannot be part of a token)"
            ),
        ));
    }
    Ok(s)
}

/// `https://` always; `http://` only for loopback hosts (tests, dtsim).
fn check_url(url: &str, flag: &str) -> Result<String> {
    let url = url.trim().trim_end_matches('/').to_string();
    let rest = if let Some(r) = url.strip_prefix("https://") {
        r
    } else if let Some(r) = url.strip_prefix("http://") {
        let host = r.split(['/', '?']).next().unwrap_or_default();
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        let name = if host.starts_with('[') {
            host.split(']')
                .next()
                .unwrap_or_default()
                .trim_start_matches('[')
        } else {
            host.split(':').next().unwrap_or_default()
        };
        let loopback = name == "localhost"
            || name
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            return Err(failure(
                Kind::Config,
                format!(
                    "{flag} {url}: plain http:// is allowed only for loopback hosts; use https://"
                ),
            ));
        }
        r
    } else {
        return Err(failure(
            Kind::Config,
            format!("{flag} {url:?} must start with https://"),
        ));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(failure(Kind::Config, format!("{flag} {url:?} has no host")));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        // Not echoed: the part before '@' is a password more often than not.
        return Err(failure(
            Kind::Config,
            format!(
                "{flag}: user:password@ in the URL is refused (it would end up in logs);                  Dynatrace authenticates with the token files"
            ),
        ));
    }
    Ok(url)
}

/// `--tenant-group*` and `--reconcile-groups`. Groups are a cluster API: without the cluster
/// token this fails here, before any request.
fn groups(o: &Options, cluster_token: bool) -> Result<GroupsSpec> {
    use crate::groups::{parse_group, parse_mapping};
    let spec = GroupsSpec {
        groups: o
            .tenant_group
            .iter()
            .filter(|g| !g.trim().is_empty())
            .map(|g| parse_group(g))
            .collect::<Result<_>>()?,
        ldap: o
            .tenant_group_ldap
            .iter()
            .map(|m| parse_mapping(m, "--tenant-group-ldap"))
            .collect::<Result<_>>()?,
        sso: o
            .tenant_group_sso
            .iter()
            .map(|m| parse_mapping(m, "--tenant-group-sso"))
            .collect::<Result<_>>()?,
        reconcile: o.reconcile_groups,
        settle: o.groups_settle,
    };
    let mapped = !spec.ldap.is_empty() || !spec.sso.is_empty();
    if spec.groups.is_empty() && (mapped || spec.reconcile) {
        return Err(failure(
            Kind::Config,
            "--tenant-group-ldap, --tenant-group-sso and --reconcile-groups need at least one \
             --tenant-group (DT_TENANT_GROUPS)",
        ));
    }
    if !spec.groups.is_empty() && !cluster_token {
        return Err(failure(
            Kind::Config,
            "--tenant-group needs the cluster token (--cluster-token-file or DT_CLUSTER_TOKEN, \
             scope ServiceProviderAPI): user groups are a cluster API that an environment \
             token cannot use",
        ));
    }
    Ok(spec)
}

fn settings(o: &Options) -> Result<Settings> {
    let mut s = Settings {
        host_group: o.host_group.clone(),
        network_zone: o.network_zone.clone(),
        monitoring_mode: o.monitoring_mode.map(|m| m.as_str().to_string()),
        proxy: o.proxy.clone(),
        server: o.connection_point.clone(),
        ..Default::default()
    };
    let check = |flag: &str, name: &str, v: &str| {
        rules::check_set(name, v)
            .map_err(|why| failure(Kind::Config, format!("{flag} {v:?}: {why}")))
    };
    for (flag, name, v) in [
        ("--host-group", "host-group", &s.host_group),
        ("--network-zone", "network-zone", &s.network_zone),
        ("--proxy", "proxy", &s.proxy),
        ("--connection-point", "server", &s.server),
    ] {
        if let Some(v) = v {
            check(flag, name, v)?;
        }
    }
    if let Some(p) = &s.proxy {
        rules::check_proxy_userinfo(p)
            .map_err(|why| failure(Kind::Config, format!("--proxy: {why}")))?;
    }
    for t in &o.host_tag {
        check("--host-tag", "host-tag", t)?;
        s.host_tags.insert(t.clone());
    }
    for p in &o.host_property {
        check("--host-property", "host-property", p)?;
        if let Some((k, v)) = p.split_once('=') {
            s.host_properties.insert(k.to_string(), v.to_string());
        }
    }
    s.deployment_metadata = deployment_metadata(&o.deployment_metadata)?;
    Ok(s)
}

/// Ours by default, then the flags in order (a later KEY wins; an empty value unmanages KEY).
fn deployment_metadata(flags: &[String]) -> Result<std::collections::BTreeMap<String, String>> {
    let mut m = crate::settings::default_deployment_metadata();
    for f in flags {
        let Some((k, v)) = f.split_once('=') else {
            return Err(failure(
                Kind::Config,
                format!("--deployment-metadata {f:?} is not KEY=VALUE"),
            ));
        };
        let key_ok = !k.is_empty()
            && k.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-' | '.'));
        // oneagentctl prints one KEY=VALUE a line, so a value must stay on one line and a
        // space would not survive the installer's argument handling either.
        if !key_ok || v.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
            return Err(failure(
                Kind::Config,
                format!(
                    "--deployment-metadata {f:?}: KEY is A-Z a-z 0-9 _ - . and VALUE has no \
                     white space"
                ),
            ));
        }
        if v.is_empty() {
            m.remove(k);
        } else {
            m.insert(k.to_string(), v.to_string());
        }
    }
    Ok(m)
}

/// Only `--set-*=value` and `KEY=value`: anything else could change what the installer does in
/// ways the planner does not know about.
fn check_installer_arg(a: &str) -> Result<()> {
    let key = a.split('=').next().unwrap_or_default();
    if key.to_ascii_lowercase().contains("token") {
        // Not even echoed: it may hold the secret.
        return Err(failure(
            Kind::Config,
            "--installer-arg: tokens are never accepted on the command line (the tenant token \
             comes from the installer itself or from connectioninfo)",
        ));
    }
    let ok = if let Some(rest) = a.strip_prefix("--set-") {
        rest.split_once('=').is_some_and(|(name, _)| {
            !name.is_empty() && name.chars().all(|ch| ch.is_ascii_lowercase() || ch == '-')
        })
    } else {
        a.split_once('=').is_some_and(|(k, _)| {
            !k.is_empty()
                && k.chars()
                    .all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '_')
        })
    };
    if !ok || a.contains('\n') {
        return Err(failure(
            Kind::Config,
            format!(
                "--installer-arg {a:?}: only '--set-name=value' or 'KEY=value' forms are allowed"
            ),
        ));
    }
    if let Some((name, value)) = a.strip_prefix("--set-").and_then(|r| r.split_once('=')) {
        rules::check_set(name, value)
            .map_err(|why| failure(Kind::Config, format!("--installer-arg {a:?}: {why}")))?;
    }
    if a.starts_with("INSTALL_PATH=") {
        return Err(failure(
            Kind::Config,
            "--installer-arg INSTALL_PATH=...: use --install-path instead",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use crate::error::{kind_of, one_line};
    use clap::Parser;

    fn resolve_args(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Result<Config> {
        let mut argv = vec!["oneagent-bootstrap", "apply"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let mut input = stdin.as_bytes();
        resolve(
            &cli.opts,
            &Cmd::Apply,
            Inputs {
                env: &lookup,
                stdin: &mut input,
            },
        )
    }

    #[test]
    fn tokens_from_env_file_and_stdin() {
        let c = resolve_args(&[], &[("DT_CLUSTER_TOKEN", " dt0c01.A.B\n")], "").unwrap();
        assert_eq!(c.cluster_token.unwrap().expose(), "dt0c01.A.B");
        assert!(c.api_token.is_none());

        let c = resolve_args(
            &["--api-token-file", "-"],
            &[("DT_API_TOKEN", "env")],
            "dt0c01.S.T\n",
        )
        .unwrap();
        assert_eq!(c.api_token.unwrap().expose(), "dt0c01.S.T");

        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t");
        std::fs::write(&f, "dt0c01.F.G\n").unwrap();
        // Token files must be private (token_tests.rs).
        let private = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600);
        std::fs::set_permissions(&f, private).unwrap();
        let c = resolve_args(
            &["--cluster-token-file", f.to_str().unwrap()],
            &[("DT_CLUSTER_TOKEN", "env")],
            "",
        )
        .unwrap();
        assert_eq!(
            c.cluster_token.unwrap().expose(),
            "dt0c01.F.G",
            "file beats env"
        );

        let err = resolve_args(
            &["--cluster-token-file", "-", "--api-token-file", "-"],
            &[],
            "x",
        )
        .unwrap_err();
        assert_eq!(kind_of(&err), Kind::Config);
        let err = resolve_args(&[], &[("DT_API_TOKEN", "dt0c01.SECRET.X two")], "").unwrap_err();
        assert!(!one_line(&err).contains("SECRET"), "{}", one_line(&err));
    }

    #[test]
    fn bad_values_name_their_option() {
        for (args, needle) in [
            (
                &["--cluster-url", "http://cluster.example.com"][..],
                "--cluster-url",
            ),
            (&["--cluster-url", "ftp://x"][..], "--cluster-url"),
            (&["--version", "newest"][..], "--version"),
            (&["--sha256", "abc"][..], "--sha256"),
            (&["--install-path", "relative/path"][..], "--install-path"),
            (&["--host-group", "dt.reserved"][..], "--host-group"),
            (&["--host-property", "novalue"][..], "--host-property"),
            (&["--installer-arg", "--uninstall"][..], "--installer-arg"),
            (
                &["--installer-arg", "INSTALL_PATH=/x"][..],
                "--install-path",
            ),
            (&["--fact", "bad"][..], "--fact"),
            (&["--proxy", "http://u:a/b@proxy:3128"][..], "--proxy"),
            (
                &["--cluster-url", "https://u:pw@cluster"][..],
                "--cluster-url",
            ),
            (
                &["--api-url", "https://u@ag:9999/e/{tenant}/api"][..],
                "--api-url",
            ),
            (&["--hostname-pattern", "("][..], "--hostname-pattern"),
        ] {
            let err = resolve_args(args, &[], "").unwrap_err();
            assert_eq!(kind_of(&err), Kind::Config, "{args:?}");
            assert!(
                one_line(&err).contains(needle),
                "{args:?}: {}",
                one_line(&err)
            );
        }
    }

    #[test]
    fn good_values_resolve() {
        let c = resolve_args(
            &[
                "--cluster-url",
                "http://127.0.0.1:8080/",
                "--version",
                "1.301.55.20260114-153010",
                "--host-tag",
                "a",
                "--host-property",
                "k=v=w",
                "--installer-arg",
                "--set-fips-enabled=true",
                "--installer-arg",
                "LOG_PATH=/x",
                "--sha256",
                &"AB".repeat(32),
                "--monitoring-mode",
                "infra-only",
            ],
            &[],
            "",
        )
        .unwrap();
        assert_eq!(c.cluster_url.as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(
            c.api_url_for("abc-p1").unwrap(),
            "http://127.0.0.1:8080/e/abc-p1/api"
        );
        assert_eq!(
            c.version,
            VersionSpec::Exact("1.301.55.20260114-153010".into())
        );
        assert_eq!(c.settings.host_properties["k"], "v=w");
        assert_eq!(c.settings.monitoring_mode.as_deref(), Some("infra-only"));
        assert_eq!(c.sha256.unwrap(), "ab".repeat(32));
        let c = resolve_args(
            &["--api-url", "https://ag.example:9999/e/{tenant}/api"],
            &[],
            "",
        )
        .unwrap();
        assert_eq!(
            c.api_url_for("t1").unwrap(),
            "https://ag.example:9999/e/t1/api"
        );
        assert!(resolve_args(&["--cluster-url", "http://[::1]:9/"], &[], "").is_ok());
    }

    #[test]
    fn deployment_metadata_arch_and_installer_file() {
        let c = resolve_args(&[], &[], "").unwrap();
        let m = &c.settings.deployment_metadata;
        assert_eq!(m["orchestration_tech"], "oneagent-bootstrap");
        assert_eq!(m["script_version"], env!("CARGO_PKG_VERSION"));
        assert!(!m.contains_key("tech_version"));
        assert_eq!((c.arch, c.installer_file), (None, None));

        let c = resolve_args(
            &[
                "--deployment-metadata",
                "orchestration_tech=Puppet",
                "--deployment-metadata",
                "script_version=",
                "--arch",
                "aarch64",
                "--installer-file",
                "/srv/oneagent.sh",
            ],
            &[],
            "",
        )
        .unwrap();
        let m = &c.settings.deployment_metadata;
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!(m["orchestration_tech"], "Puppet");
        assert_eq!(c.arch.as_deref(), Some("aarch64"));

        for (args, needle) in [
            (
                ["--deployment-metadata", "novalue"],
                "--deployment-metadata",
            ),
            (
                ["--deployment-metadata", "k=two words"],
                "--deployment-metadata",
            ),
            (["--deployment-metadata", "=v"], "--deployment-metadata"),
            (["--arch", "riscv64"], "--arch"),
        ] {
            let e = resolve_args(&args, &[], "").unwrap_err();
            assert_eq!(kind_of(&e), Kind::Config, "{args:?}");
            assert!(one_line(&e).contains(needle), "{}", one_line(&e));
        }
    }
}

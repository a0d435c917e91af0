//! The typed configuration, resolved once from flags, environment and defaults.
//!
//! clap already applied flag > env > default for every option. What is left here: tokens (which
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
use crate::plan::{Ensure, Settings, VersionSpec};
use crate::secret::Secret;
use crate::tenant::TenantSpec;

/// Longest token file we accept: a token is ~100 bytes; anything large is the wrong file.
const MAX_TOKEN_FILE: u64 = 64 * 1024;

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
    pub lock_timeout: Duration,
    pub retries: u32,
    pub quiet: bool,
    pub verbose: u8,
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
            install_path,
            settings: Settings::default(),
            installer_args: Vec::new(),
            ssl_mode: SslMode::Default,
            ca_file: None,
            sha256: None,
            installer_ca_file: None,
            insecure_skip_signature: false,
            state_dir,
            json: false,
            installer_timeout: Duration::from_secs(15 * 60),
            lock_timeout: Duration::from_secs(10 * 60),
            retries: 3,
            quiet: false,
            verbose: 0,
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
}

/// Where the token-reading seam looks: an environment lookup and stdin.
pub struct Inputs<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub stdin: &'a mut dyn Read,
}

/// Builds the configuration for `cmd` from parsed options.
pub fn resolve(o: &Options, cmd: &Cmd, inputs: Inputs) -> Result<Config> {
    let mut c = Config::defaults(o.state_dir.clone(), o.install_path.clone());
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
                Some(v) if !v.trim().is_empty() => Some(check_token(Secret::new(v), var)?),
                _ => None,
            },
        };
        Ok(secret)
    };
    c.cluster_token = token(
        &o.cluster_token_file,
        "--cluster-token-file",
        "DT_CLUSTER_TOKEN",
    )?;
    c.api_token = token(&o.api_token_file, "--api-token-file", "DT_API_TOKEN")?;

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
    c.version = match &o.version {
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
    };
    c.upgrade = o.upgrade;
    c.allow_downgrade = o.allow_downgrade;
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
    c.sha256 = match &o.sha256 {
        Some(h) => {
            let h = h.trim().to_ascii_lowercase();
            if h.len() != 64 || !h.chars().all(|ch| ch.is_ascii_hexdigit()) {
                return Err(failure(
                    Kind::Config,
                    format!("--sha256 {h:?} is not 64 hexadecimal digits"),
                ));
            }
            Some(h)
        }
        None => None,
    };
    c.installer_ca_file = o.installer_ca_file.clone();
    c.insecure_skip_signature = o.insecure_skip_signature;

    c.json = o.json;
    c.installer_timeout = o.installer_timeout;
    c.lock_timeout = o.lock_timeout;
    c.retries = o.retries;
    c.quiet = o.quiet;
    c.verbose = o.verbose;
    let _ = cmd;
    Ok(c)
}

/// A token from a file (0600 is the owner's business; we only read it).
pub fn read_token_file(path: &Path, what: &str) -> Result<Secret> {
    let f = std::fs::File::open(path).kind(Kind::Config, || {
        format!("could not read {what} {}", path.display())
    })?;
    read_token(f, &format!("{what} {}", path.display()))
}

fn read_token(r: impl Read, what: &str) -> Result<Secret> {
    let mut text = String::new();
    r.take(MAX_TOKEN_FILE)
        .read_to_string(&mut text)
        .kind(Kind::Config, || {
            format!("could not read the token from {what}")
        })?;
    check_token(Secret::new(text), what)
}

/// A token is one word; the check never echoes it.
fn check_token(s: Secret, what: &str) -> Result<Secret> {
    if s.is_empty() {
        return Err(failure(Kind::Config, format!("{what} holds no token")));
    }
    if s.expose()
        .chars()
        .any(|ch| ch.is_whitespace() || ch.is_control())
    {
        return Err(failure(
            Kind::Config,
            format!("{what} must hold exactly one token (it contains white space)"),
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
    if let Some(g) = &s.host_group {
        if g.chars().count() > 100
            || g.starts_with("dt.")
            || !g
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-' | '.'))
        {
            return Err(failure(
                Kind::Config,
                format!(
                    "--host-group {g:?}: at most 100 of A-Z a-z 0-9 _ - . and not starting with 'dt.'"
                ),
            ));
        }
    }
    for (flag, v) in [
        ("--network-zone", &s.network_zone),
        ("--proxy", &s.proxy),
        ("--connection-point", &s.server),
    ] {
        if let Some(v) = v {
            if v.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
                return Err(failure(
                    Kind::Config,
                    format!("{flag} {v:?} must not contain white space"),
                ));
            }
        }
    }
    for t in &o.host_tag {
        if t.is_empty() || t.chars().any(char::is_control) {
            return Err(failure(
                Kind::Config,
                format!("--host-tag {t:?} is empty or has control characters"),
            ));
        }
        s.host_tags.insert(t.clone());
    }
    for p in &o.host_property {
        match p.split_once('=') {
            Some((k, v)) if !k.is_empty() && !p.chars().any(char::is_control) => {
                s.host_properties.insert(k.to_string(), v.to_string());
            }
            _ => {
                return Err(failure(
                    Kind::Config,
                    format!("--host-property {p:?} is not key=value"),
                ))
            }
        }
    }
    Ok(s)
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
}

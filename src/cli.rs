//! The command-line contract: subcommands, options and the environment variable behind each.
//!
//! Every option is global (accepted before or after the subcommand) and has an environment
//! variable and a configuration-file key; clap applies flag > env > default and
//! config::file::layer slots the file in before the default. Tokens are deliberately not
//! options: they come from files, `DT_CLUSTER_TOKEN`/`DT_API_TOKEN` or stdin (see config.rs),
//! never from argv.

use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "oneagent-bootstrap",
    version = env!("ONEAGENT_BOOTSTRAP_VERSION"),
    propagate_version = true,
    about = "Puts this host under Dynatrace OneAgent monitoring, idempotently",
    // `--version` selects the OneAgent version; the tool's own version is `-V` or a bare
    // `--version` (see Options::version).
    disable_version_flag = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Cmd>,

    #[command(flatten)]
    pub opts: Options,

    /// Print the version of oneagent-bootstrap
    #[arg(short = 'V', action = ArgAction::Version, global = true)]
    pub print_version: Option<bool>,

    /// Write the man pages and bash/zsh/fish completions into DIR (scripts/dist.sh; docs.rs)
    #[arg(long, hide = true, value_name = "DIR")]
    pub generate_docs: Option<PathBuf>,
}

/// Why the arguments could not be parsed.
pub enum ParseError {
    /// clap's own: a bad flag or value, `--help`, `-V`.
    Args(clap::Error),
    /// The configuration file (config::file::layer), with the command line as parsed without
    /// it, so the failure can still be reported as that command promises (`--json`,
    /// `--log-file`).
    ConfigFile {
        without_file: Box<Cli>,
        error: anyhow::Error,
    },
}

impl From<clap::Error> for ParseError {
    fn from(e: clap::Error) -> Self {
        ParseError::Args(e)
    }
}

/// Parses the process arguments; the help ends with the exit-code table (error::EXIT_CODES).
pub fn parse() -> Result<Cli, ParseError> {
    use clap::{CommandFactory, FromArgMatches};
    let mut table = String::from("Exit codes:\n");
    for (code, name, meaning) in crate::error::EXIT_CODES {
        table.push_str(&format!("  {code}  {name:<13} {meaning}\n"));
    }
    let command = Cli::command().after_help(table);
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let first = command.clone().try_get_matches_from(&args)?;
    let without_file = Cli::from_arg_matches(&first)?;
    let explicit = without_file.opts.config.clone();
    let matches = crate::config::file::layer(&command, &args, first, explicit.as_deref()).map_err(
        |error| ParseError::ConfigFile {
            without_file: Box::new(without_file),
            error,
        },
    )?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    cli.opts.split_env_lists(&matches);
    Ok(cli)
}

/// The list options whose environment variable holds several comma-separated values.
const ENV_LISTS: [&str; 5] = [
    "tenant_tag",
    "fact",
    "host_tag",
    "host_property",
    "deployment_metadata",
];

impl Options {
    /// A flag's value is never split (`--host-tag team=a,b` is one tag; repeat the flag for
    /// several). Only the environment forms (`DT_HOST_TAGS=a,b`) hold several values, split on
    /// commas; `\,` is a literal comma.
    pub fn split_env_lists(&mut self, m: &clap::ArgMatches) {
        for id in ENV_LISTS {
            if m.value_source(id) != Some(clap::parser::ValueSource::EnvVariable) {
                continue;
            }
            let list = match id {
                "tenant_tag" => &mut self.tenant_tag,
                "fact" => &mut self.fact,
                "host_tag" => &mut self.host_tag,
                "host_property" => &mut self.host_property,
                _ => &mut self.deployment_metadata,
            };
            *list = list.iter().flat_map(|v| split_env_list(v)).collect();
        }
    }
}

/// `a,b\,c` -> `["a", "b,c"]`; empty items are dropped (`a,,b`, a trailing comma).
pub fn split_env_list(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut item = String::new();
    let mut chars = value.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => match chars.next() {
                Some(',') => item.push(','),
                Some(other) => {
                    item.push('\\');
                    item.push(other);
                }
                None => item.push('\\'),
            },
            ',' => out.push(std::mem::take(&mut item)),
            _ => item.push(ch),
        }
    }
    out.push(item);
    out.retain(|i| !i.trim().is_empty());
    out
}

const DAY: u64 = 24 * 60 * 60;

/// A duration (`90s`, `15m`, `1h 30m`) between `min_ms` milliseconds and `max_s` seconds:
/// checked when parsed, so no later arithmetic on it can overflow.
fn duration_parser(
    min_ms: u64,
    max_s: u64,
) -> impl Fn(&str) -> Result<std::time::Duration, String> + Clone + Send + Sync + 'static {
    move |text| {
        let d = humantime::parse_duration(text).map_err(|e| e.to_string())?;
        let (lo, hi) = (
            std::time::Duration::from_millis(min_ms),
            std::time::Duration::from_secs(max_s),
        );
        if d < lo || d > hi {
            return Err(format!(
                "must be between {} and {}",
                humantime::format_duration(lo),
                humantime::format_duration(hi)
            ));
        }
        Ok(d)
    }
}

#[derive(Debug, Subcommand, Clone, PartialEq, Eq)]
pub enum Cmd {
    /// Converge: the tenant exists and OneAgent is installed for it with the requested settings
    #[command(after_help = concat!(
        "Example:\n",
        "  oneagent-bootstrap apply --cluster-url https://dynatrace.example.com \\\n",
        "      --cluster-token-file /etc/oneagent-bootstrap/cluster-token \\\n",
        "      --tenant-template '{customer}-{stage}{index}' \\\n",
        "      --hostname-pattern '^(?P<customer>[a-z]+)-(?P<stage>[a-z])(?P<index>[0-9]+)-'",
    ))]
    Apply,
    /// The decision `apply` would take, without changing anything (exit 0 converged, 2 would change)
    #[command(after_help = concat!(
        "Example:\n",
        "  oneagent-bootstrap check --cluster-url https://dynatrace.example.com \\\n",
        "      --cluster-token-file /etc/oneagent-bootstrap/cluster-token --tenant abc-p1\n",
        "  echo \"exit $?\"   # 0 converged, 2 apply would change something",
    ))]
    Check,
    /// The local state (also in <state-dir>/status.json)
    #[command(after_help = "Example:\n  oneagent-bootstrap status --json")]
    Status,
    /// The gathered facts and the tenant id they derive, and why
    #[command(after_help = concat!(
        "Example:\n",
        "  facter -j > /tmp/facts.json && oneagent-bootstrap facts --facts-file /tmp/facts.json \\\n",
        "      --tenant-template '{customer}-{stage}{index}'",
    ))]
    Facts,
    /// Verify an installer file (signature and, with --sha256, its digest)
    #[command(after_help = concat!(
        "Example:\n",
        "  oneagent-bootstrap verify ./Dynatrace-OneAgent-Linux.sh --sha256 <hex>",
    ))]
    Verify {
        /// The installer file
        file: PathBuf,
    },
    /// The whole flow against an embedded simulator in a temporary root
    #[command(after_help = "Example:\n  oneagent-bootstrap demo")]
    Demo,
    /// On the Puppet server or Ansible controller: ensure the target host's tenant (from its
    /// facts) and its --tenant-group groups with the cluster token, and hand out a 15-minute
    /// InstallerDownload token for it
    #[command(after_help = concat!(
        "Example:\n",
        "  oneagent-bootstrap provision --cluster-url https://dynatrace.example.com \\\n",
        "      --cluster-token-file /etc/oneagent-bootstrap/cluster-token --fact hostname=abc-p1-web01 \\\n",
        "      --tenant-template '{customer}-{stage}{index}' --output /run/node-token --json",
    ))]
    Provision(ProvisionArgs),
}

/// `provision`'s own flags (the tenant inputs and the cluster token are the global options).
#[derive(Debug, Args, Clone, PartialEq, Eq)]
pub struct ProvisionArgs {
    /// Where the token goes: a new file (created 0600, never overwritten), or '-' for stdout
    #[arg(long, value_name = "FILE", required_unless_present_any = ["revoke", "dry_run"])]
    pub output: Option<PathBuf>,

    /// Revoke a token a provision handed out, by its id (dt0c01.PUBLIC) or its name
    #[arg(long, value_name = "ID_OR_NAME", conflicts_with_all = ["output", "dry_run"])]
    pub revoke: Option<String>,

    /// Only say whether the tenant exists and what would be done to it and its user groups
    /// (reads only); create and mint nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EnsureArg {
    Present,
    Absent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SslModeArg {
    Default,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MonitoringModeArg {
    Fullstack,
    InfraOnly,
    Discovery,
}

impl MonitoringModeArg {
    pub fn as_str(self) -> &'static str {
        match self {
            MonitoringModeArg::Fullstack => "fullstack",
            MonitoringModeArg::InfraOnly => "infra-only",
            MonitoringModeArg::Discovery => "discovery",
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct Options {
    // ---- Configuration file ----
    /// TOML file of options, keys are the long options without the dashes; flags and
    /// environment variables override it [default: /etc/oneagent-bootstrap/config.toml when it
    /// exists]
    #[arg(
        long,
        env = "DT_CONFIG",
        value_name = "FILE",
        global = true,
        help_heading = "Configuration file"
    )]
    pub config: Option<PathBuf>,

    // ---- Cluster and tokens ----
    /// Cluster URL, e.g. https://cluster.example.com
    #[arg(
        long,
        env = "DT_CLUSTER_URL",
        global = true,
        help_heading = "Cluster and tokens"
    )]
    pub cluster_url: Option<String>,

    /// File holding the cluster token ('-' reads stdin); or the token itself in DT_CLUSTER_TOKEN
    #[arg(
        long,
        env = "DT_CLUSTER_TOKEN_FILE",
        global = true,
        help_heading = "Cluster and tokens"
    )]
    pub cluster_token_file: Option<PathBuf>,

    /// Environment API base, may contain {tenant} [default: {cluster-url}/e/{tenant}/api]
    #[arg(
        long,
        env = "DT_API_URL",
        global = true,
        help_heading = "Cluster and tokens"
    )]
    pub api_url: Option<String>,

    /// File holding an environment API token ('-' reads stdin); or the token in DT_API_TOKEN
    #[arg(
        long,
        env = "DT_API_TOKEN_FILE",
        global = true,
        help_heading = "Cluster and tokens"
    )]
    pub api_token_file: Option<PathBuf>,

    // ---- Tenant ----
    /// The tenant (environment) id
    #[arg(long, env = "DT_TENANT", global = true, help_heading = "Tenant")]
    pub tenant: Option<String>,

    /// Template for the tenant id filled from facts, e.g. '{customer}-{stage}{index}'
    #[arg(
        long,
        env = "DT_TENANT_TEMPLATE",
        global = true,
        help_heading = "Tenant"
    )]
    pub tenant_template: Option<String>,

    /// Template for the tenant's display name [default: the tenant id]
    #[arg(
        long,
        env = "DT_TENANT_NAME_TEMPLATE",
        global = true,
        help_heading = "Tenant"
    )]
    pub tenant_name_template: Option<String>,

    /// Tag of a tenant this run creates (repeatable; templates allowed; DT_TENANT_TAGS splits on
    /// ',', '\,' is a comma)
    #[arg(long, env = "DT_TENANT_TAGS", global = true, help_heading = "Tenant")]
    pub tenant_tag: Vec<String>,

    /// User group for a tenant this run creates, 'NAME-TEMPLATE:PERM[,PERM...]', e.g.
    /// '{customer}-viewers:VIEWER' (repeatable; in DT_TENANT_GROUPS ';' separates entries)
    #[arg(
        long,
        env = "DT_TENANT_GROUPS",
        value_delimiter = ';',
        global = true,
        help_heading = "Tenant"
    )]
    pub tenant_group: Vec<String>,

    /// LDAP group mapped to a --tenant-group, 'NAME-TEMPLATE=LDAP-GROUP' (repeatable; ';'
    /// separates entries)
    #[arg(
        long,
        env = "DT_TENANT_GROUP_LDAP",
        value_delimiter = ';',
        global = true,
        help_heading = "Tenant"
    )]
    pub tenant_group_ldap: Vec<String>,

    /// SSO group mapped to a --tenant-group, 'NAME-TEMPLATE=SSO-GROUP' (repeatable; ';'
    /// separates entries)
    #[arg(
        long,
        env = "DT_TENANT_GROUP_SSO",
        value_delimiter = ';',
        global = true,
        help_heading = "Tenant"
    )]
    pub tenant_group_sso: Vec<String>,

    /// Also check and complete the --tenant-group groups when this run did not create the
    /// tenant (costs requests on a converged host)
    #[arg(long, env = "DT_RECONCILE_GROUPS", value_parser = BoolishValueParser::new(), action = ArgAction::SetTrue, global = true, help_heading = "Tenant")]
    pub reconcile_groups: bool,

    /// Wait after writing a user group before reading it back to repair a racing host's
    /// overwrite (jittered x0.5 to x1.5)
    #[arg(long, env = "DT_GROUPS_SETTLE", default_value = "2s", value_parser = humantime::parse_duration, global = true, help_heading = "Tenant")]
    pub groups_settle: std::time::Duration,

    /// Regex whose named groups become facts, applied to the 'hostname' fact
    #[arg(
        long,
        env = "DT_HOSTNAME_PATTERN",
        global = true,
        help_heading = "Tenant"
    )]
    pub hostname_pattern: Option<String>,

    /// JSON object of facts (facter -j, Ansible facts); nested keys become 'a.b'
    #[arg(long, env = "DT_FACTS_FILE", global = true, help_heading = "Tenant")]
    pub facts_file: Option<PathBuf>,

    /// A fact as key=value (repeatable; overrides host facts and the facts file; DT_FACTS splits
    /// on ',', '\,' is a comma)
    #[arg(long, env = "DT_FACTS", global = true, help_heading = "Tenant")]
    pub fact: Vec<String>,

    // ---- Install ----
    /// OneAgent version: 'latest' or e.g. 1.301.55.20260114-153010 (a bare --version prints
    /// this tool's version)
    #[arg(
        long,
        env = "DT_ONEAGENT_VERSION",
        num_args = 0..=1,
        global = true,
        help_heading = "Install"
    )]
    pub version: Option<Option<String>>,

    /// Install when the installed version is older than the target version
    #[arg(long, env = "DT_UPGRADE", value_parser = BoolishValueParser::new(), action = ArgAction::SetTrue, global = true, help_heading = "Install")]
    pub upgrade: bool,

    /// Allow installing an older version than the installed one
    #[arg(long, env = "DT_ALLOW_DOWNGRADE", value_parser = BoolishValueParser::new(), action = ArgAction::SetTrue, global = true, help_heading = "Install")]
    pub allow_downgrade: bool,

    /// With --upgrade, ask Dynatrace for the target version at most this often (plus a stable
    /// per-host jitter); the answer is kept in the state dir
    #[arg(long, env = "DT_VERSION_CHECK_INTERVAL", default_value = "6h", value_parser = humantime::parse_duration, global = true, help_heading = "Install")]
    pub version_check_interval: std::time::Duration,

    /// Installer architecture (x86, arm, ppcle, s390, or x86_64, aarch64, ppc64le, s390x)
    /// [default: from the 'arch' fact]
    #[arg(long, env = "DT_ARCH", global = true, help_heading = "Install")]
    pub arch: Option<String>,

    /// Install from this local installer instead of downloading (air-gapped hosts); verified
    /// like a download, needs no token
    #[arg(
        long,
        env = "DT_INSTALLER_FILE",
        global = true,
        help_heading = "Install"
    )]
    pub installer_file: Option<PathBuf>,

    /// Where OneAgent is installed
    #[arg(
        long,
        env = "DT_INSTALL_PATH",
        default_value = "/opt/dynatrace/oneagent",
        global = true,
        help_heading = "Install"
    )]
    pub install_path: PathBuf,

    /// Host group (managed only when given)
    #[arg(long, env = "DT_HOST_GROUP", global = true, help_heading = "Install")]
    pub host_group: Option<String>,

    /// Network zone (managed only when given)
    #[arg(long, env = "DT_NETWORK_ZONE", global = true, help_heading = "Install")]
    pub network_zone: Option<String>,

    /// Monitoring mode (managed only when given)
    #[arg(
        long,
        env = "DT_MONITORING_MODE",
        value_enum,
        global = true,
        help_heading = "Install"
    )]
    pub monitoring_mode: Option<MonitoringModeArg>,

    /// Host tag (repeatable; when any is given, the host's tags are exactly these; DT_HOST_TAGS
    /// splits on ',', '\,' is a comma)
    #[arg(long, env = "DT_HOST_TAGS", global = true, help_heading = "Install")]
    pub host_tag: Vec<String>,

    /// Host property key=value (repeatable; when any is given, exactly these; DT_HOST_PROPERTIES
    /// splits on ',', '\,' is a comma)
    #[arg(
        long,
        env = "DT_HOST_PROPERTIES",
        global = true,
        help_heading = "Install"
    )]
    pub host_property: Vec<String>,

    /// Deployment metadata KEY=VALUE (repeatable; orchestration_tech, tech_version,
    /// script_version; an empty VALUE stops managing KEY; DT_DEPLOYMENT_METADATA splits on ',',
    /// '\,' is a comma)
    /// [default: orchestration_tech=oneagent-bootstrap, script_version=<this version>]
    #[arg(
        long,
        env = "DT_DEPLOYMENT_METADATA",
        global = true,
        help_heading = "Install"
    )]
    pub deployment_metadata: Vec<String>,

    /// Proxy OneAgent uses to reach Dynatrace (managed only when given)
    #[arg(long, env = "DT_PROXY", global = true, help_heading = "Install")]
    pub proxy: Option<String>,

    /// Communication endpoints OneAgent connects to, ';'-separated
    #[arg(
        long,
        env = "DT_CONNECTION_POINT",
        global = true,
        help_heading = "Install"
    )]
    pub connection_point: Option<String>,

    /// Extra installer argument, only '--set-*=value' or 'KEY=value' forms (repeatable)
    #[arg(
        long,
        env = "DT_INSTALLER_ARG",
        allow_hyphen_values = true,
        global = true,
        help_heading = "Install"
    )]
    pub installer_arg: Vec<String>,

    /// Whether OneAgent should be installed
    #[arg(
        long,
        env = "DT_ENSURE",
        value_enum,
        default_value = "present",
        global = true,
        help_heading = "Install"
    )]
    pub ensure: EnsureArg,

    // ---- TLS ----
    /// 'all' accepts self-signed certificates (with a warning)
    #[arg(
        long,
        env = "DT_SSL_MODE",
        value_enum,
        default_value = "default",
        global = true,
        help_heading = "TLS"
    )]
    pub ssl_mode: SslModeArg,

    /// Extra trusted root certificate (PEM) for the Dynatrace API
    #[arg(long, env = "DT_CA_FILE", global = true, help_heading = "TLS")]
    pub ca_file: Option<PathBuf>,

    // ---- Verification ----
    /// Expected SHA-256 (hex) of the installer file
    #[arg(
        long,
        env = "DT_INSTALLER_SHA256",
        global = true,
        help_heading = "Verification"
    )]
    pub sha256: Option<String>,

    /// Root certificate (PEM) the installer signature must chain to [default: Dynatrace's root]
    #[arg(
        long,
        env = "DT_INSTALLER_CA_FILE",
        global = true,
        help_heading = "Verification"
    )]
    pub installer_ca_file: Option<PathBuf>,

    /// DANGEROUS: install without checking the installer's signature (--sha256 still applies);
    /// warned on every run and recorded in status.json
    #[arg(long, env = "DT_INSECURE_SKIP_SIGNATURE", value_parser = BoolishValueParser::new(), action = ArgAction::SetTrue, global = true, help_heading = "Verification")]
    pub insecure_skip_signature: bool,

    // ---- Run ----
    /// State directory (lock, status.json, last-install.log, temporary downloads)
    #[arg(
        long,
        env = "DT_STATE_DIR",
        default_value = "/var/lib/oneagent-bootstrap",
        global = true,
        help_heading = "Run"
    )]
    pub state_dir: PathBuf,

    /// Print one JSON object on stdout
    #[arg(long, env = "DT_JSON", value_parser = BoolishValueParser::new(), action = ArgAction::SetTrue, global = true, help_heading = "Run")]
    pub json: bool,

    /// Longest the installer may run before its process group is killed (up to 24h)
    #[arg(long, env = "DT_INSTALLER_TIMEOUT", default_value = "15m", value_parser = duration_parser(1, DAY), global = true, help_heading = "Run")]
    pub installer_timeout: std::time::Duration,

    /// Longest the installer download may take, retries included (up to 24h)
    #[arg(long, env = "DT_DOWNLOAD_TIMEOUT", default_value = "30m", value_parser = duration_parser(1, DAY), global = true, help_heading = "Run")]
    pub download_timeout: std::time::Duration,

    /// How long to wait for another run's lock (up to 24h)
    #[arg(long, env = "DT_LOCK_TIMEOUT", default_value = "10m", value_parser = duration_parser(0, DAY), global = true, help_heading = "Run")]
    pub lock_timeout: std::time::Duration,

    /// How many times a failed HTTP request is tried again (connect errors, timeouts, 5xx, 408,
    /// 429; 0 to 10)
    #[arg(
        long,
        env = "DT_RETRIES",
        default_value_t = 3,
        value_parser = clap::value_parser!(u32).range(0..=10),
        global = true,
        help_heading = "Run"
    )]
    pub retries: u32,

    /// Before the first request of a run that needs the network, wait up to this long (0 to
    /// 1h; the same share of it on every run of this host), so a fleet does not reach the
    /// cluster at once. A converged host sends nothing and does not wait
    #[arg(long, env = "DT_SPLAY", default_value = "0s", value_parser = duration_parser(0, 3600), global = true, help_heading = "Run")]
    pub splay: std::time::Duration,

    /// Only the result line and errors
    #[arg(
        short,
        long,
        global = true,
        conflicts_with = "verbose",
        help_heading = "Run"
    )]
    pub quiet: bool,

    /// More detail on stderr: -v adds detail lines, -vv also one line per HTTP request
    #[arg(short, long, action = ArgAction::Count, global = true, help_heading = "Run")]
    pub verbose: u8,

    /// After each apply, check or provision, append one JSON line (the --json result plus host,
    /// time, command) to FILE (0600, never through a link; moved to FILE.1 past 10 MiB)
    #[arg(
        long,
        env = "DT_LOG_FILE",
        value_name = "FILE",
        global = true,
        help_heading = "Run"
    )]
    pub log_file: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn options_are_global_and_version_takes_an_optional_value() {
        let cli = Cli::try_parse_from([
            "x",
            "--tenant",
            "abc-p1",
            "check",
            "--version",
            "1.301.55.20260114-153010",
            "--host-tag",
            "a",
            "--host-tag",
            "b",
        ])
        .unwrap();
        assert_eq!(cli.command, Some(Cmd::Check));
        assert_eq!(cli.opts.tenant.as_deref(), Some("abc-p1"));
        assert_eq!(
            cli.opts.version,
            Some(Some("1.301.55.20260114-153010".to_string()))
        );
        assert_eq!(cli.opts.host_tag, vec!["a", "b"]);

        let bare = Cli::try_parse_from(["x", "--version"]).unwrap();
        assert_eq!(bare.opts.version, Some(None));
        assert_eq!(bare.command, None);
    }

    #[test]
    fn only_environment_lists_split_on_commas() {
        assert_eq!(split_env_list(r"a,b\,c,,d\x,"), vec!["a", "b,c", "d\\x"]);
        let cli = Cli::try_parse_from(["x", "apply", "--host-tag", "team=a,b", "--fact", "d=1, 2"])
            .unwrap();
        assert_eq!(cli.opts.host_tag, vec!["team=a,b"]);
        assert_eq!(cli.opts.fact, vec!["d=1, 2"]);
    }

    #[test]
    fn installer_args_may_start_with_dashes() {
        let cli = Cli::try_parse_from(["x", "apply", "--installer-arg", "--set-fips-enabled=true"])
            .unwrap();
        assert_eq!(cli.opts.installer_arg, vec!["--set-fips-enabled=true"]);
    }

    #[test]
    fn there_is_no_token_option() {
        for bad in ["--cluster-token", "--api-token", "--token"] {
            assert!(
                Cli::try_parse_from(["x", "apply", bad, "dt0c01.X.Y"]).is_err(),
                "{bad} must not exist"
            );
        }
    }
}

//! The command-line contract: subcommands, options and the environment variable behind each.
//!
//! Every option is global (accepted before or after the subcommand) and has an environment
//! variable; clap applies flag > env > default. Tokens are deliberately not options: they come
//! from files, `DT_CLUSTER_TOKEN`/`DT_API_TOKEN` or stdin (see config.rs), never from argv.

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

/// Parses the process arguments; the help ends with the exit-code table (error::EXIT_CODES).
pub fn parse() -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let mut table = String::from("Exit codes:\n");
    for (code, name, meaning) in crate::error::EXIT_CODES {
        table.push_str(&format!("  {code}  {name:<13} {meaning}\n"));
    }
    let matches = Cli::command().after_help(table).try_get_matches()?;
    Cli::from_arg_matches(&matches)
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

    /// Tag of a tenant this run creates (repeatable; templates allowed)
    #[arg(
        long,
        env = "DT_TENANT_TAGS",
        value_delimiter = ',',
        global = true,
        help_heading = "Tenant"
    )]
    pub tenant_tag: Vec<String>,

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

    /// A fact as key=value (repeatable; overrides host facts and the facts file)
    #[arg(
        long,
        env = "DT_FACTS",
        value_delimiter = ',',
        global = true,
        help_heading = "Tenant"
    )]
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

    /// Host tag (repeatable; when any is given, the host's tags are exactly these)
    #[arg(
        long,
        env = "DT_HOST_TAGS",
        value_delimiter = ',',
        global = true,
        help_heading = "Install"
    )]
    pub host_tag: Vec<String>,

    /// Host property key=value (repeatable; when any is given, exactly these)
    #[arg(
        long,
        env = "DT_HOST_PROPERTIES",
        value_delimiter = ',',
        global = true,
        help_heading = "Install"
    )]
    pub host_property: Vec<String>,

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

    /// Longest the installer may run before its process group is killed
    #[arg(long, env = "DT_INSTALLER_TIMEOUT", default_value = "15m", value_parser = humantime::parse_duration, global = true, help_heading = "Run")]
    pub installer_timeout: std::time::Duration,

    /// How long to wait for another run's lock
    #[arg(long, env = "DT_LOCK_TIMEOUT", default_value = "10m", value_parser = humantime::parse_duration, global = true, help_heading = "Run")]
    pub lock_timeout: std::time::Duration,

    /// How many times a failed HTTP request is tried again (connect errors, timeouts, 5xx, 408, 429)
    #[arg(
        long,
        env = "DT_RETRIES",
        default_value_t = 3,
        global = true,
        help_heading = "Run"
    )]
    pub retries: u32,

    /// Only the result line and errors
    #[arg(
        short,
        long,
        global = true,
        conflicts_with = "verbose",
        help_heading = "Run"
    )]
    pub quiet: bool,

    /// More detail on stderr (repeatable)
    #[arg(short, long, action = ArgAction::Count, global = true, help_heading = "Run")]
    pub verbose: u8,
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

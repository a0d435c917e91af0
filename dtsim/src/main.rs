//! `dtsim` command line: start the simulator, publish its URL / cluster token / CA to files,
//! run until Ctrl-C or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use dtsim::{Dtsim, FaultRule, Options, RateLimit};

/// Simulator of the Dynatrace Managed APIs used by oneagent-bootstrap.
///
/// Serves the Cluster API (environments, tokens, groups), the environment API (API tokens,
/// Deployment API with signed installers, settings) and admin routes under /__dtsim/
/// (loopback only). See dtsim/README.md.
#[derive(Parser, Debug)]
#[command(name = "dtsim", version)]
struct Cli {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    listen: SocketAddr,
    /// Serve HTTPS with a certificate from dtsim's CA (SANs localhost, 127.0.0.1, ::1).
    #[arg(long)]
    tls: bool,
    /// Write the base URL (e.g. http://127.0.0.1:41234) to this file once listening.
    #[arg(long, value_name = "PATH")]
    url_file: Option<PathBuf>,
    /// Write a cluster token with every cluster scope to this file (mode 0600).
    #[arg(long, value_name = "PATH")]
    cluster_token_file: Option<PathBuf>,
    /// Write the CA certificate (installer signatures and TLS) to this file as PEM.
    #[arg(long, value_name = "PATH")]
    write_ca: Option<PathBuf>,
    /// Pad installers to about this size: bytes, or with a suffix K, M, G (powers of 1024).
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    installer_size: Option<u64>,
    /// JSON file with an array of fault rules active from the start (format: README.md).
    #[arg(long, value_name = "FILE")]
    faults: Option<PathBuf>,
    /// Load state (environments, tokens, settings, groups, the CA) from this JSON file if it
    /// exists; save it after every change and at shutdown.
    #[arg(long, value_name = "PATH")]
    state_file: Option<PathBuf>,
    /// Refuse with 429 (Retry-After, X-RateLimit-*) once a token has made this many requests
    /// in its current minute.
    #[arg(long, value_name = "PER_MINUTE", value_parser = clap::value_parser!(u32).range(1..))]
    rate_limit: Option<u32>,
    /// Refuse with 429 once the whole cluster has answered this many API requests in the
    /// current minute.
    #[arg(long, value_name = "PER_MINUTE", value_parser = clap::value_parser!(u32).range(1..))]
    cluster_rate_limit: Option<u32>,
    /// Keep at most this many records in the request log (/__dtsim/requests); older ones are
    /// dropped, the counters of /__dtsim/stats see them all.
    #[arg(long, value_name = "N", default_value_t = dtsim::DEFAULT_REQUEST_LOG)]
    request_log: usize,
    /// Keep at most this many signed installers in memory; the least recently used is dropped
    /// and rebuilt (byte for byte) when asked again.
    #[arg(
        long,
        value_name = "N",
        default_value_t = dtsim::installer::DEFAULT_INSTALLER_CACHE as u32,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    installer_cache: u32,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (digits, shift) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 10),
        Some((i, 'M' | 'm')) => (&t[..i], 20),
        Some((i, 'G' | 'g')) => (&t[..i], 30),
        _ => (t, 0),
    };
    digits
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1u64 << shift))
        .ok_or_else(|| format!("'{s}' is not a size; use bytes or e.g. 256M"))
}

fn read_faults(path: &Path) -> anyhow::Result<Vec<FaultRule>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read fault file {}", path.display()))?;
    let rules: Vec<FaultRule> = serde_json::from_str(&text).with_context(|| {
        format!(
            "fault file {} must hold a JSON array of fault rules (see dtsim/README.md)",
            path.display()
        )
    })?;
    for r in &rules {
        r.validate()
            .map_err(|e| anyhow::anyhow!("fault file {}: {e}", path.display()))?;
    }
    Ok(rules)
}

/// Writes via a temporary file and rename, so a watcher never reads half a file.
fn publish(path: &Path, text: &str, private: bool) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&tmp)
        .with_context(|| format!("could not create {}", tmp.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("could not write {}", tmp.display()))?;
    drop(f);
    std::fs::rename(&tmp, path)
        .with_context(|| format!("could not move {} to {}", tmp.display(), path.display()))
}

fn wait_for_signal() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the signal handler")?;
    rt.block_on(async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate()).context("could not watch SIGTERM")?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r.context("could not watch Ctrl-C")?,
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c()
            .await
            .context("could not watch Ctrl-C")?;
        Ok(())
    })
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let faults = match &cli.faults {
        Some(p) => read_faults(p)?,
        None => Vec::new(),
    };
    let sim = Dtsim::start_with(Options {
        listen: cli.listen,
        tls: cli.tls,
        installer_size: cli.installer_size,
        faults,
        state_file: cli.state_file,
        rate_limit: RateLimit {
            per_token: cli.rate_limit,
            cluster: cli.cluster_rate_limit,
        },
        request_log: cli.request_log,
        installer_cache: cli.installer_cache as usize,
    })?;
    if let Some(p) = &cli.write_ca {
        publish(p, &sim.ca_pem(), false)?;
    }
    if let Some(p) = &cli.cluster_token_file {
        publish(p, &format!("{}\n", sim.cluster_token()), true)?;
    }
    // The URL file last: its appearance tells watchers that everything else is in place.
    if let Some(p) = &cli.url_file {
        publish(p, &format!("{}\n", sim.url()), false)?;
    }
    println!("dtsim listening on {}", sim.url());
    wait_for_signal()?;
    eprintln!("dtsim: stopping");
    drop(sim);
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dtsim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::parse_size("1024"), Ok(1024));
        assert_eq!(super::parse_size("4M"), Ok(4 << 20));
        assert_eq!(super::parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(super::parse_size("1G"), Ok(1 << 30));
        assert!(super::parse_size("x").is_err());
        assert!(super::parse_size("").is_err());
    }
}

//! The fleet driver of issue 13, shared by `examples/fleet.rs` (what `scripts/fleet.sh` runs at
//! 12,000 hosts) and `tests/fleet.rs` (the small variant in the default suite): N hosts over M
//! new tenants, P at a time, each host its own install path and state dir, against one dtsim;
//! then the checks and the figures of the report.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;

/// A token a run made must be gone (or expire) within this long.
pub const TOKEN_LIFETIME_MS: u64 = 15 * 60 * 1000;

pub struct Fleet {
    pub bin: PathBuf,
    /// dtsim's base URL (`https://127.0.0.1:PORT`).
    pub url: String,
    /// dtsim's CA: TLS to dtsim and the installer signatures.
    pub ca: PathBuf,
    pub cluster_token_file: PathBuf,
    /// Each host gets `work/hNNNNN/{state,oneagent}`.
    pub work: PathBuf,
    pub hosts: usize,
    pub tenants: usize,
    pub parallel: usize,
    /// More `oneagent-bootstrap apply` arguments (e.g. `--splay`).
    pub extra: Vec<String>,
}

/// One host's run.
#[derive(Debug, Clone)]
pub struct HostRun {
    pub host: usize,
    /// The first host of its tenant (hosts `0..M` are, in that order).
    pub first_of_tenant: bool,
    pub exit: i32,
    /// HTTP requests the run sent (its `--json` result), retries included.
    pub requests: u64,
    pub secs: f64,
    /// Seconds spent waiting before retries (its "trying again in X s" notes).
    pub waited_secs: f64,
    /// stdout and stderr, kept for failed runs only.
    pub output: Option<String>,
}

/// One pass over every host.
pub struct Wave {
    pub runs: Vec<HostRun>,
    pub wall_secs: f64,
    /// dtsim's `/__dtsim/stats` after the wave (its counters were zeroed before it).
    pub stats: Value,
}

impl Fleet {
    pub fn tenant_of(&self, host: usize) -> String {
        format!("fleet-{:05}", host % self.tenants.max(1))
    }

    pub fn host_dir(&self, host: usize) -> PathBuf {
        self.work.join(format!("h{host:05}"))
    }

    fn command(&self, host: usize) -> Command {
        let dir = self.host_dir(host);
        let mut c = Command::new(&self.bin);
        c.arg("apply")
            .arg("--json")
            .args(["--cluster-url", &self.url])
            .arg("--ca-file")
            .arg(&self.ca)
            .arg("--installer-ca-file")
            .arg(&self.ca)
            .arg("--state-dir")
            .arg(dir.join("state"))
            .arg("--install-path")
            .arg(dir.join("oneagent"))
            .args(["--tenant", &self.tenant_of(host)])
            .args(["--fact", &format!("hostname=fleet-host-{host:05}")])
            .args(&self.extra)
            .env("DT_CLUSTER_TOKEN_FILE", &self.cluster_token_file);
        c
    }

    fn run_host(&self, host: usize) -> HostRun {
        let t = Instant::now();
        let out = self.command(host).output();
        let secs = t.elapsed().as_secs_f64();
        let first_of_tenant = host < self.tenants;
        let out = match out {
            Ok(o) => o,
            Err(e) => {
                return HostRun {
                    host,
                    first_of_tenant,
                    exit: -1,
                    requests: 0,
                    secs,
                    waited_secs: 0.0,
                    output: Some(format!("could not start {}: {e}", self.bin.display())),
                }
            }
        };
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let exit = out.status.code().unwrap_or(-1);
        let requests = serde_json::from_str::<Value>(stdout.trim())
            .ok()
            .and_then(|v| v["requests"].as_u64())
            .unwrap_or(0);
        HostRun {
            host,
            first_of_tenant,
            exit,
            requests,
            secs,
            waited_secs: waited(&stderr),
            output: (exit != 0 && exit != 2).then(|| format!("{stdout}\n{stderr}")),
        }
    }

    /// Runs every host once, `parallel` at a time, in host order (so the first host of every
    /// tenant goes before the others).
    pub fn wave(&self) -> Wave {
        let _ = self.admin("DELETE", "/__dtsim/requests");
        let next = AtomicUsize::new(0);
        let runs = Mutex::new(Vec::with_capacity(self.hosts));
        let t = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..self.parallel.max(1) {
                s.spawn(|| loop {
                    let host = next.fetch_add(1, Ordering::Relaxed);
                    if host >= self.hosts {
                        break;
                    }
                    let run = self.run_host(host);
                    runs.lock().unwrap_or_else(|p| p.into_inner()).push(run);
                });
            }
        });
        let wall_secs = t.elapsed().as_secs_f64();
        let mut runs = runs.into_inner().unwrap_or_else(|p| p.into_inner());
        runs.sort_by_key(|r| r.host);
        Wave {
            runs,
            wall_secs,
            stats: self.admin("GET", "/__dtsim/stats"),
        }
    }

    /// An admin route of dtsim over TLS with its CA (the route itself needs no credentials).
    pub fn admin(&self, method: &str, path: &str) -> Value {
        let client = admin_client(&self.ca);
        let url = format!("{}{path}", self.url);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("HTTP method");
        match client.request(method.clone(), &url).send() {
            Ok(r) => r
                .text()
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(Value::Null),
            Err(e) => panic!("dtsim admin {method} {url}: {e}"),
        }
    }
}

/// A client that trusts dtsim's CA only (reqwest has no crypto provider of its own: ring).
fn admin_client(ca: &Path) -> reqwest::blocking::Client {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let pem = std::fs::read(ca).expect("dtsim CA file");
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots
            .add(cert.expect("PEM certificate"))
            .expect("usable root");
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::blocking::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .tls_backend_preconfigured(tls)
        .build()
        .expect("admin HTTP client")
}

/// The total of "trying again in X s" notes on stderr.
pub fn waited(stderr: &str) -> f64 {
    stderr
        .split("trying again in ")
        .skip(1)
        .filter_map(|rest| rest.split(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (n, sum) = xs.fold((0usize, 0.0), |(n, s), x| (n + 1, s + x));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

/// What the tokens on dtsim say after a fleet: installer tokens minted and deleted, and every
/// token still usable for longer than [`TOKEN_LIFETIME_MS`] after it was made, by name.
#[derive(Debug, Default)]
pub struct TokenAudit {
    pub installer_minted: usize,
    pub installer_deleted: usize,
    pub management_minted: usize,
    /// (name, count) of tokens alive now that live past 15 minutes (the cluster token aside).
    pub long_lived: Vec<(String, usize)>,
}

impl TokenAudit {
    pub fn of(tokens: &Value) -> TokenAudit {
        let mut a = TokenAudit::default();
        let mut long: std::collections::BTreeMap<String, usize> = Default::default();
        for t in tokens.as_array().into_iter().flatten() {
            if t["environment"].is_null() {
                continue; // the cluster token dtsim made for the operator
            }
            let scopes: Vec<&str> = t["scopes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if scopes == ["InstallerDownload"] {
                a.installer_minted += 1;
                a.installer_deleted += usize::from(t["deleted"] == Value::Bool(true));
            } else {
                a.management_minted += 1;
            }
            let lives_long = match (t["createdMs"].as_u64(), t["expiresMs"].as_u64()) {
                (Some(c), Some(e)) => e.saturating_sub(c) > TOKEN_LIFETIME_MS,
                _ => true,
            };
            if t["alive"] == Value::Bool(true) && lives_long {
                let name = t["name"].as_str().unwrap_or("?").to_string();
                *long.entry(name).or_default() += 1;
            }
        }
        a.long_lived = long.into_iter().collect();
        a
    }

    pub fn long_lived_total(&self) -> usize {
        self.long_lived.iter().map(|(_, n)| n).sum()
    }
}

/// The report's figures for one wave, one markdown table row each.
pub fn report(fleet: &Fleet, label: &str, w: &Wave) -> String {
    let mut s = String::new();
    let mut by_exit: std::collections::BTreeMap<i32, usize> = Default::default();
    for r in &w.runs {
        *by_exit.entry(r.exit).or_default() += 1;
    }
    let mut times: Vec<f64> = w.runs.iter().map(|r| r.secs).collect();
    times.sort_by(f64::total_cmp);
    let first = w.runs.iter().filter(|r| r.first_of_tenant);
    let others = w.runs.iter().filter(|r| !r.first_of_tenant);
    let retried = w.runs.iter().filter(|r| r.waited_secs > 0.0).count();
    let total_requests: u64 = w.runs.iter().map(|r| r.requests).sum();
    let rows = [
        (
            "hosts / tenants / parallel",
            format!("{} / {} / {}", fleet.hosts, fleet.tenants, fleet.parallel),
        ),
        ("exit codes (hosts)", format!("{by_exit:?}")),
        (
            "requests, total (hosts' own count)",
            total_requests.to_string(),
        ),
        ("requests, dtsim's count", w.stats["requests"].to_string()),
        (
            "requests per host, mean",
            format!("{:.2}", mean(w.runs.iter().map(|r| r.requests as f64))),
        ),
        (
            "requests, first host of a tenant (mean, max)",
            format!(
                "{:.2}, {}",
                mean(first.clone().map(|r| r.requests as f64)),
                first.map(|r| r.requests).max().unwrap_or(0)
            ),
        ),
        (
            "requests, other hosts (mean)",
            format!("{:.2}", mean(others.map(|r| r.requests as f64))),
        ),
        (
            "429 answers (dtsim)",
            w.stats["byStatus"]["429"].as_u64().unwrap_or(0).to_string(),
        ),
        (
            "hosts that waited to retry; total wait",
            format!(
                "{retried}; {:.1} s",
                w.runs.iter().map(|r| r.waited_secs).sum::<f64>().abs()
            ),
        ),
        ("wall time", format!("{:.1} s", w.wall_secs)),
        (
            "hosts/s",
            format!("{:.1}", fleet.hosts as f64 / w.wall_secs.max(1e-9)),
        ),
        (
            "run time p50 / p99 / max",
            format!(
                "{:.3} / {:.3} / {:.3} s",
                percentile(&times, 0.5),
                percentile(&times, 0.99),
                times.last().copied().unwrap_or(0.0)
            ),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(s, "| {label}: {k} | {v} |");
    }
    s
}

/// The targets of issue 13, as messages for each one missed (empty: all met). `long_lived_ok`
/// names tokens allowed to outlive 15 minutes (none, once every run's tokens are short-lived).
pub fn check(
    fleet: &Fleet,
    first: &Wave,
    second: &Wave,
    audit: &TokenAudit,
    long_lived_ok: &[&str],
) -> Vec<String> {
    let mut missed = Vec::new();
    for (name, w, ok) in [("first", first, [2, 2]), ("second", second, [0, 0])] {
        for r in w.runs.iter().filter(|r| r.exit != ok[0]) {
            missed.push(format!(
                "{name} wave: host {} ({}) exited {} (expected {}): {}",
                r.host,
                fleet.tenant_of(r.host),
                r.exit,
                ok[1],
                r.output.as_deref().unwrap_or("").trim()
            ));
        }
    }
    let tenants = first.stats["environments"].as_u64().unwrap_or(0);
    if tenants != fleet.tenants as u64 {
        missed.push(format!(
            "{tenants} tenants exist, expected {}",
            fleet.tenants
        ));
    }
    let again: u64 = second.runs.iter().map(|r| r.requests).sum();
    let dtsim_again = second.stats["requests"].as_u64().unwrap_or(u64::MAX);
    if again != 0 || dtsim_again != 0 {
        missed.push(format!(
            "the converged wave sent {again} requests (dtsim saw {dtsim_again}), expected 0"
        ));
    }
    if audit.installer_minted != audit.installer_deleted {
        missed.push(format!(
            "{} installer tokens minted, {} revoked",
            audit.installer_minted, audit.installer_deleted
        ));
    }
    for (name, n) in &audit.long_lived {
        if !long_lived_ok.contains(&name.as_str()) {
            missed.push(format!("{n} tokens named '{name}' alive past 15 minutes"));
        }
    }
    missed
}

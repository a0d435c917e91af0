//! `demo`: the whole flow against an embedded dtsim (HTTPS with its own CA) in a temporary root.
//!
//! Runs the same pipeline as `apply`/`check` (apply::run with a built Config, no subprocess):
//! facts `hostname=abc-p1-web01` and a hostname pattern derive tenant `abc-p1`, which is
//! created; OneAgent is installed into a temporary install path; then `check` shows the host
//! converged with zero requests. Needs nothing set up; leaves nothing behind.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result};

use crate::apply::{self, Mode, Outcome};
use crate::config::{self, Config};
use crate::error::{failure, one_line, Kind, ResultExt};
use crate::facts;
use crate::report::Reporter;
use crate::tenant::TenantSpec;

const HOSTNAME_PATTERN: &str = r"^(?P<customer>[a-z]+)-(?P<stage>[a-z])(?P<index>[0-9]+)-";
const TEMPLATE: &str = "{customer}-{stage}{index}";

fn write_private(path: &Path, content: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .kind(Kind::Internal, || format!("writing {}", path.display()))?;
    f.write_all(content.as_bytes())
        .kind(Kind::Internal, || format!("writing {}", path.display()))
}

pub fn run(out: Reporter) -> Result<()> {
    let root = tempfile::Builder::new()
        .prefix("oneagent-bootstrap-demo-")
        .tempdir()
        .kind(Kind::Internal, || {
            "creating the demo's temporary root".into()
        })?;
    println!("== oneagent-bootstrap demo in {}", root.path().display());

    let sim = dtsim::Dtsim::start_with(dtsim::Options {
        tls: true,
        ..Default::default()
    })
    .context("starting the embedded dtsim")?;
    println!(
        "1. started dtsim (simulated Dynatrace Managed cluster) at {}",
        sim.url()
    );

    let ca = root.path().join("dtsim-ca.pem");
    let token_file = root.path().join("cluster-token");
    write_private(&ca, &sim.ca_pem())?;
    write_private(&token_file, &sim.cluster_token())?;
    println!(
        "2. wrote dtsim's CA to {} and a cluster token to {} (both 0600)",
        ca.display(),
        token_file.display()
    );

    let mut cfg = Config::defaults(root.path().join("state"), root.path().join("oneagent"));
    cfg.cluster_url = Some(sim.url());
    cfg.cluster_token = Some(config::read_token_file(
        &token_file,
        "the demo's token file",
    )?);
    cfg.ca_file = Some(ca.clone());
    cfg.installer_ca_file = Some(ca);
    cfg.facts = vec!["hostname=abc-p1-web01".into()];
    cfg.hostname_pattern = Some(facts::compile_pattern(HOSTNAME_PATTERN)?);
    cfg.tenant = TenantSpec {
        template: Some(TEMPLATE.into()),
        name_template: Some("Customer {customer|upper}, stage {stage}".into()),
        tags: vec![
            "customer:{customer}".into(),
            "created-by:oneagent-bootstrap-demo".into(),
        ],
        ..Default::default()
    };
    cfg.settings.host_group = Some("abc-web".into());
    cfg.quiet = out.quiet;
    cfg.verbose = out.verbose.max(1);
    // The demo shows the pipeline's detail lines (-v) unless -q.
    let out = Reporter {
        quiet: cfg.quiet,
        verbose: cfg.verbose,
    };
    println!(
        "3. facts: hostname=abc-p1-web01, --hostname-pattern '{HOSTNAME_PATTERN}', \
         --tenant-template '{TEMPLATE}'"
    );

    println!("4. apply (fresh host, new tenant):");
    let first = apply::run(&cfg, Mode::Apply, out);
    summarize(&first, &sim);
    if let Some(e) = first.error {
        return Err(e.context("the demo's apply failed"));
    }

    sim.clear_requests();
    println!("5. check (same host again):");
    let second = apply::run(&cfg, Mode::Check, out);
    summarize(&second, &sim);
    if let Some(e) = second.error {
        return Err(e.context("the demo's check failed"));
    }
    if second.changed || second.requests != 0 {
        return Err(failure(
            Kind::Internal,
            format!(
                "the demo's check should be converged with zero requests, got changed={} and {} requests",
                second.changed, second.requests
            ),
        ));
    }
    let status = std::fs::read_to_string(root.path().join("state/status.json")).unwrap_or_default();
    println!("6. status.json:\n{}", status.trim_end());
    println!(
        "== done: tenant {} created, OneAgent {} installed, check converged (exit 0, 0 requests)",
        first.tenant.as_deref().unwrap_or("?"),
        first.version.as_deref().unwrap_or("?")
    );
    Ok(())
}

fn summarize(o: &Outcome, sim: &dtsim::Dtsim) {
    for a in &o.actions {
        println!("   action: {}", a.description);
    }
    let log = sim.requests();
    println!(
        "   result: {}, {} requests{}",
        match (&o.error, o.changed) {
            (Some(e), _) => format!("failed: {}", one_line(e)),
            (None, true) => "changed (exit 2)".into(),
            (None, false) => "converged (exit 0)".into(),
        },
        o.requests,
        if log.is_empty() { "" } else { " (dtsim saw:)" }
    );
    for r in log {
        println!("     {} {} -> {}", r.method, r.path, r.status);
    }
}

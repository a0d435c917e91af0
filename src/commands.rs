//! The command bodies main.rs dispatches to: `apply`/`check` (the pipeline, then the result
//! line or JSON object), `provision`, a run that failed before it started, `verify`, and the
//! read-only `status` and `facts`, which read the state dir, the host and the configured facts
//! and change nothing. All print through report.rs's formats; the runs that change or mint
//! something also write their `--log-file` line here.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;

use crate::apply::{self, Mode};
use crate::cli::{Cmd, ProvisionArgs};
use crate::config::Config;
use crate::crash;
use crate::error::{kind_of, one_line, Kind, Outcome as Done, ResultExt};
use crate::facts;
use crate::fsafe;
use crate::host::{self, Wanted};
use crate::http;
use crate::logfile;
use crate::report::{read_status, Recorded, Reporter, RunReport, State, Status};
use crate::tenant;
use crate::verify as verification;

/// `apply` and `check`: the pipeline, then the result line or JSON object.
pub fn converge(cfg: &Config, mode: Mode, out: Reporter, started: Instant) -> ExitCode {
    let outcome = apply::run(cfg, mode, out);
    let code = match &outcome.error {
        Some(e) => kind_of(e).exit_code(),
        None if outcome.changed => Done::Changed.exit_code(),
        None => Done::Converged.exit_code(),
    };
    let r = RunReport {
        // On a failure: whether the host was changed before it (exit 6 after an install).
        changed: outcome.changed,
        exit_code: code,
        tenant: outcome.tenant.clone(),
        actions: outcome.actions.clone(),
        version: outcome.version.clone(),
        sha256: outcome.sha256.clone(),
        installer_root: outcome.installer_root.clone(),
        requests: outcome.requests,
        duration_ms: started.elapsed().as_millis() as u64,
        error: outcome.error.as_ref().map(one_line),
    };
    if let Some(e) = &outcome.error {
        eprintln!("error: {}", one_line(e));
    }
    if cfg.json {
        print_json(&r);
    } else if !(cfg.quiet && outcome.error.is_some()) {
        println!("{}", r.line(mode == Mode::Check));
    }
    // Nothing of the log line is built unless there is a log file (the converged run's cost).
    if let Some(path) = cfg.log_file.as_deref() {
        let command = if mode == Mode::Check {
            "check"
        } else {
            "apply"
        };
        let result = serde_json::to_value(&r).unwrap_or_default();
        let run = logfile::Run::of(command, &r);
        logfile::record(path, result, &run, &cfg.secrets(), out);
    }
    ExitCode::from(code)
}

/// The arguments could not be parsed: clap's own message (help and `-V` are exit 0; never
/// clap's 2, which means "changed" to Puppet and Ansible), or a configuration-file failure
/// reported as [`failed_to_start`] for the command the line asked for.
pub fn unparsed(e: crate::cli::ParseError) -> ExitCode {
    use clap::error::ErrorKind;
    match e {
        crate::cli::ParseError::ConfigFile {
            without_file: cli,
            error,
        } => match &cli.command {
            Some(cmd) => failed_to_start(
                cmd,
                &error,
                cli.opts.json,
                cli.opts.log_file.as_deref(),
                Instant::now(),
            ),
            None => fail(&error),
        },
        crate::cli::ParseError::Args(e) => {
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
                _ => Kind::Config.exit_code(),
            };
            let _ = e.print();
            ExitCode::from(code)
        }
    }
}

/// A run that ended before its command could start (a bad configuration): the one error
/// line, the `--json` object for the commands that promise one (apply, check, provision and
/// status, so callers parsing it get the error instead of nothing), and the `--log-file` line.
pub fn failed_to_start(
    cmd: &Cmd,
    e: &anyhow::Error,
    json: bool,
    log_file: Option<&Path>,
    started: Instant,
) -> ExitCode {
    let r = failure_report(e, started);
    let command = match cmd {
        Cmd::Apply => Some("apply"),
        Cmd::Check => Some("check"),
        Cmd::Provision(_) => Some("provision"),
        _ => None,
    };
    if json && command.is_some() {
        print_json(&r);
    }
    if json && matches!(cmd, Cmd::Status) {
        print_unknown_status(e);
    }
    let code = fail(e);
    if let (Some(command), Some(path)) = (command, log_file) {
        // provision's own result object has another shape (see [`provision`]).
        let result = match cmd {
            Cmd::Provision(_) => serde_json::Value::Null,
            _ => serde_json::to_value(&r).unwrap_or_default(),
        };
        let out = Reporter {
            quiet: false,
            verbose: 0,
        };
        logfile::record(path, result, &logfile::Run::of(command, &r), &[], out);
    }
    code
}

/// `provision`: its own result (provision.rs), the `--json` failure object, and a
/// `--log-file` line without provision's result object, which may hold the token.
pub fn provision(cfg: &Config, args: &ProvisionArgs, out: Reporter, started: Instant) -> ExitCode {
    let done = crash::catch("provisioning", || crate::provision::run(cfg, args, out));
    let (code, exit, error) = match done {
        Ok(done) => (done.exit_code(), ExitCode::from(done.exit_code()), None),
        Err(e) => {
            if cfg.json {
                print_json(&failure_report(&e, started));
            }
            (kind_of(&e).exit_code(), fail(&e), Some(one_line(&e)))
        }
    };
    if let Some(path) = cfg.log_file.as_deref() {
        let run = logfile::Run {
            command: "provision",
            exit_code: code,
            duration_ms: started.elapsed().as_millis() as u64,
            error,
        };
        logfile::record(path, Default::default(), &run, &cfg.secrets(), out);
    }
    exit
}

/// The error line on stderr, once; the exit code of its kind.
pub fn fail(e: &anyhow::Error) -> ExitCode {
    eprintln!("error: {}", one_line(e));
    ExitCode::from(kind_of(e).exit_code())
}

/// The result of a run that failed before (or without) an apply outcome; also what
/// `--log-file` records for it.
pub fn failure_report(e: &anyhow::Error, started: Instant) -> RunReport {
    RunReport {
        changed: false,
        exit_code: kind_of(e).exit_code(),
        tenant: None,
        actions: Vec::new(),
        version: None,
        sha256: None,
        installer_root: None,
        requests: 0,
        duration_ms: started.elapsed().as_millis() as u64,
        error: Some(one_line(e)),
    }
}

fn print_json(r: &RunReport) {
    match serde_json::to_string(r) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: could not encode the result as JSON: {e}"),
    }
}

/// `verify FILE`: the installer's signature against the trusted root (see
/// [`verification::load_trust`]; downloaded only when no local root exists), and its sha256
/// when `--sha256` is given.
pub fn verify(cfg: &Config, file: &Path, out: Reporter) -> Result<()> {
    let cell = std::cell::OnceCell::new();
    let trust = verification::load_trust(cfg.installer_ca_file.as_deref(), &|url| {
        let c = apply::http_client(cfg, &cell, cfg.quiet)?;
        let call = http::Call::new(
            http::Method::Get,
            url,
            "downloading the installer signing root",
        );
        Ok(c.call(&call, &[200])?.body.into_bytes())
    })?;
    let v = verification::verify_file(file, cfg.sha256.as_deref(), &trust)?;
    out.step(format!("signed by a chain to {}", v.root));
    println!("verified: {} sha256 {}", file.display(), v.sha256);
    Ok(())
}

/// `status [--json]`: the last run's status.json, corrected by a look at the host now. With
/// `--json` the object is printed even when something failed, with the error in `error`;
/// `updatedAt` is the recorded run's time, null when no run is recorded.
pub fn status(cfg: &Config) -> Result<()> {
    let secrets = cfg.secrets();
    let mut error = None;
    let recorded = match fsafe::trusted_dir(&cfg.state_dir, "the state directory") {
        Ok(Some(dir)) => read_status(&dir),
        Ok(None) => Recorded::None,
        Err(e) => {
            error = Some(e);
            Recorded::None
        }
    };
    let live = match host::observe(&cfg.install_path, Wanted::default(), &secrets) {
        Ok(live) => Some(live),
        Err(e) => {
            error.get_or_insert(e);
            None
        }
    };
    let installed = live.as_ref().map_or_else(
        || host::oneagentctl_present(&cfg.install_path),
        |l| l.installed,
    );
    let unrecorded = |message: String| {
        let state = if installed {
            State::Installed
        } else {
            State::NotInstalled
        };
        let mut s = Status::new(state, message);
        s.tenant = live.as_ref().and_then(|l| l.tenant.clone());
        s
    };
    let (mut s, updated_at) = match recorded {
        Recorded::Status(s) => {
            let at = s.updated_at.clone();
            (s, Some(at))
        }
        Recorded::None => (
            unrecorded(format!("no run recorded in {}", cfg.state_dir.display())),
            None,
        ),
        Recorded::Corrupt(why) => (
            unrecorded(format!("{why}; the next apply replaces it")),
            None,
        ),
    };
    if s.state == State::Installed && !installed {
        s.state = State::NotInstalled;
        s.message = "OneAgent was removed since the last run".into();
    }
    s.is_agent_installed = installed;
    if let Some(live) = &live {
        s.version = live
            .version
            .clone()
            .or(if live.installed { s.version } else { None });
    }
    let error_line = error.as_ref().map(one_line);
    if cfg.json {
        let mut v = serde_json::to_value(&s).kind(Kind::Internal, || "encoding status".into())?;
        v["updatedAt"] = updated_at.clone().into();
        v["error"] = error_line.into();
        println!("{v}");
        return error.map_or(Ok(()), Err);
    }
    print_status(&s, updated_at.as_deref());
    error.map_or(Ok(()), Err)
}

/// `status --json` promises one object whatever happened: with options it could not use, every
/// field is unknown (null) and `error` says why.
fn print_unknown_status(e: &anyhow::Error) {
    let mut v =
        serde_json::to_value(Status::new(State::NotInstalled, String::new())).unwrap_or_default();
    if let Some(fields) = v.as_object_mut() {
        fields
            .values_mut()
            .for_each(|f| *f = serde_json::Value::Null);
        fields.insert("updatedAt".into(), serde_json::Value::Null);
        fields.insert("error".into(), one_line(e).into());
    }
    println!("{v}");
}

/// The human form of `status`: one aligned line per field.
fn print_status(s: &Status, updated_at: Option<&str>) {
    let upgrade = match s.is_upgrade_available {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    };
    println!("state:             {:?}", s.state);
    println!("message:           {}", s.message);
    println!("version:           {}", s.version.as_deref().unwrap_or("-"));
    println!("tenant:            {}", s.tenant.as_deref().unwrap_or("-"));
    println!("agent installed:   {}", s.is_agent_installed);
    println!("upgrade available: {upgrade}");
    println!(
        "installer sha256:  {}",
        s.installer_sha256.as_deref().unwrap_or("-")
    );
    println!(
        "installer root:    {}",
        s.installer_root.as_deref().unwrap_or("-")
    );
    println!("updated at:        {}", updated_at.unwrap_or("-"));
}

/// `facts [--json]`: every fact with its source, and the tenant they derive (or why not).
pub fn facts(cfg: &Config) -> Result<()> {
    let facts = facts::configured(
        cfg.facts_file.as_deref(),
        &cfg.facts,
        cfg.hostname_pattern.as_ref(),
    )?;
    let tenant = tenant::resolve(&cfg.tenant, &facts);
    if cfg.json {
        let map: serde_json::Map<String, serde_json::Value> = facts
            .iter()
            .map(|(k, f)| {
                (
                    k.clone(),
                    serde_json::json!({"value": f.value, "source": f.source.to_string()}),
                )
            })
            .collect();
        let (t, err) = match &tenant {
            Ok(Some(t)) => (
                serde_json::json!({"id": t.id, "name": t.name, "tags": t.tags, "derivation": t.derivation}),
                None,
            ),
            Ok(None) => (serde_json::Value::Null, None),
            Err(e) => (serde_json::Value::Null, Some(one_line(e))),
        };
        let v = serde_json::json!({"facts": map, "tenant": t, "error": err});
        println!("{v}");
    } else {
        let width = facts.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, f) in facts.iter() {
            println!("{k:width$} = {:?}  ({})", f.value, f.source);
        }
        match &tenant {
            Ok(Some(t)) => {
                println!("tenant: {} (from {})", t.id, t.derivation);
                println!("tenant name: {}", t.name);
                if !t.tags.is_empty() {
                    println!("tenant tags: {}", t.tags.join(", "));
                }
            }
            Ok(None) => println!("tenant: none (set --tenant or --tenant-template)"),
            Err(_) => {}
        }
    }
    tenant.map(|_| ())
}

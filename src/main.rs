//! oneagent-bootstrap: parse, resolve the configuration once, run, map the result to an exit
//! code (error::EXIT_CODES), print an error chain once on one line on stderr.

mod apply;
mod cli;
mod cluster;
mod commands;
mod config;
mod crash;
#[cfg(feature = "sim")]
mod demo;
mod docs;
mod download;
mod error;
mod facts;
mod fsafe;
mod groups;
mod host;
mod http;
mod install;
mod lock;
mod logfile;
mod plan;
mod provision;
mod report;
mod secret;
mod settings;
mod signals;
mod splay;
mod tenant;
mod tenant_access;
mod token;
mod verify;
mod version_check;

use std::process::ExitCode;
use std::time::Instant;

use crate::apply::Mode;
use crate::cli::Cmd;
use crate::commands::fail;
use crate::config::Inputs;
use crate::error::{one_line, Kind};
use crate::report::Reporter;

fn main() -> ExitCode {
    // A panic is reported as one line and ends through the normal failure path (crash.rs):
    // apply/check and each command catch their own (cleanup, JSON); this is the last resort.
    crash::install_hook();
    match crash::catch("running oneagent-bootstrap", || Ok(run_command())) {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}

fn run_command() -> ExitCode {
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(e) => return commands::unparsed(e),
    };
    // A bare `--version` (no value) asks for this tool's version.
    if cli.opts.version == Some(None) {
        println!("oneagent-bootstrap {}", env!("ONEAGENT_BOOTSTRAP_VERSION"));
        return ExitCode::SUCCESS;
    }
    if let Some(dir) = &cli.generate_docs {
        return finish(docs::generate(dir));
    }
    let Some(cmd) = cli.command.clone() else {
        eprintln!(
            "error: no command given; use one of apply, check, status, facts, verify, demo \
             (see --help)"
        );
        return ExitCode::from(Kind::Config.exit_code());
    };
    let started = Instant::now();
    let env = |name: &str| std::env::var(name).ok();
    let mut stdin = std::io::stdin();
    let resolved = crash::catch("reading the configuration", || {
        config::resolve(
            &cli.opts,
            &cmd,
            Inputs {
                env: &env,
                stdin: &mut stdin,
            },
        )
    });
    let cfg = match resolved {
        Ok(cfg) => cfg,
        Err(e) => {
            return commands::failed_to_start(
                &cmd,
                &e,
                cli.opts.json,
                cli.opts.log_file.as_deref(),
                started,
            )
        }
    };
    let out = Reporter {
        quiet: cfg.quiet,
        verbose: cfg.verbose,
    };
    if matches!(cmd, Cmd::Apply | Cmd::Check | Cmd::Demo) {
        // These change the host or mint a token (`check --upgrade`): a SIGINT/SIGTERM must end
        // them through the cleanup (token revoked, download removed, installer stopped,
        // status.json Failed), not at once.
        if let Err(e) = signals::install() {
            out.warn(format!(
                "{}; a SIGINT/SIGTERM will end this run without cleaning up",
                one_line(&e)
            ));
        }
    }
    match cmd {
        Cmd::Apply => commands::converge(&cfg, Mode::Apply, out, started),
        Cmd::Check => commands::converge(&cfg, Mode::Check, out, started),
        Cmd::Status => finish(crash::catch("showing the status", || {
            commands::status(&cfg)
        })),
        Cmd::Facts => finish(crash::catch("showing the facts", || commands::facts(&cfg))),
        Cmd::Verify { file } => finish(crash::catch("verifying the file", || {
            commands::verify(&cfg, &file, out)
        })),
        Cmd::Provision(args) => commands::provision(&cfg, &args, out, started),
        #[cfg(feature = "sim")]
        Cmd::Demo => finish(crash::catch("running the demo", || demo::run(out))),
        #[cfg(not(feature = "sim"))]
        Cmd::Demo => fail(&error::failure(
            Kind::Config,
            "this build has no simulator (built without the 'sim' feature); demo is unavailable",
        )),
    }
}

fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

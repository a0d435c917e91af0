//! The fleet benchmark's driver (issue 13), run by `scripts/fleet.sh`: every host once (the
//! roll-out), then every host again (the next Puppet run, which must send nothing), against a
//! dtsim that is already running; prints a markdown table and the targets missed.
//!
//! ```text
//! fleet --bin PATH --url URL --ca PEM --cluster-token-file PATH --work DIR
//!       [--hosts 12000] [--tenants 5000] [--parallel 32] [--label TEXT] [-- APPLY-ARGS...]
//! ```
//! Exit 0 when every target holds, 1 when one is missed, 3 on bad arguments.

#[path = "../tests/fleet_driver/mod.rs"]
mod fleet_driver;

use std::path::PathBuf;
use std::process::ExitCode;

use fleet_driver::{check, report, Fleet, TokenAudit};

fn parse() -> Result<(Fleet, String), String> {
    let mut args = std::env::args().skip(1);
    let get = |name: &str, args: &mut dyn Iterator<Item = String>| {
        args.next().ok_or(format!("{name} needs a value"))
    };
    let (mut bin, mut url, mut ca, mut token, mut work) = (None, None, None, None, None);
    let (mut hosts, mut tenants, mut parallel) = (12_000usize, 5_000usize, 32usize);
    let mut label = "fleet".to_string();
    let mut extra = Vec::new();
    let number = |v: String, name: &str| {
        v.parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or(format!("{name} takes a positive number, not '{v}'"))
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bin" => bin = Some(PathBuf::from(get(&a, &mut args)?)),
            "--url" => url = Some(get(&a, &mut args)?),
            "--ca" => ca = Some(PathBuf::from(get(&a, &mut args)?)),
            "--cluster-token-file" => token = Some(PathBuf::from(get(&a, &mut args)?)),
            "--work" => work = Some(PathBuf::from(get(&a, &mut args)?)),
            "--hosts" => hosts = number(get(&a, &mut args)?, &a)?,
            "--tenants" => tenants = number(get(&a, &mut args)?, &a)?,
            "--parallel" => parallel = number(get(&a, &mut args)?, &a)?,
            "--label" => label = get(&a, &mut args)?,
            "--" => extra.extend(args.by_ref()),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    let need = |v: Option<PathBuf>, name: &str| v.ok_or(format!("{name} is required"));
    let fleet = Fleet {
        bin: need(bin, "--bin")?,
        url: url.ok_or("--url is required")?,
        ca: need(ca, "--ca")?,
        cluster_token_file: need(token, "--cluster-token-file")?,
        work: need(work, "--work")?,
        hosts,
        tenants,
        parallel,
        extra,
    };
    Ok((fleet, label))
}

fn main() -> ExitCode {
    let (fleet, label) = match parse() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("fleet: {e}");
            return ExitCode::from(3);
        }
    };
    let first = fleet.wave();
    print!("{}", report(&fleet, &format!("{label}, roll-out"), &first));
    let second = fleet.wave();
    print!("{}", report(&fleet, &format!("{label}, next run"), &second));
    let audit = TokenAudit::of(&fleet.admin("GET", "/__dtsim/tokens"));
    println!(
        "| {label}: tenants created | {} |",
        first.stats["environments"]
    );
    println!(
        "| {label}: installer tokens minted / revoked | {} / {} |",
        audit.installer_minted, audit.installer_deleted
    );
    println!(
        "| {label}: tokens alive past 15 min (by name) | {} {:?} |",
        audit.long_lived_total(),
        audit.long_lived
    );
    let missed = check(&fleet, &first, &second, &audit, &[]);
    for m in &missed {
        println!("target missed: {}", m.lines().next().unwrap_or(""));
    }
    if missed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

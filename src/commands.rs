//! The read-only commands `status` and `facts`: they read the state dir, the host and the
//! configured facts, and print through report.rs's formats; they change nothing.

use anyhow::Result;

use crate::config::Config;
use crate::error::{Kind, ResultExt};
use crate::facts;
use crate::fsafe;
use crate::host::{self, Wanted};
use crate::report::{read_status, Recorded, State, Status};
use crate::tenant;

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
    let error_line = error.as_ref().map(crate::error::one_line);
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
            Err(e) => (serde_json::Value::Null, Some(crate::error::one_line(e))),
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

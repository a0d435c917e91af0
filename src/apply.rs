//! Executes the plan: the one pipeline behind `check` (which stops before acting) and `apply`.
//!
//! lock -> facts -> tenant id -> observe -> plan (asking Dynatrace only when the plan needs
//! remote facts that version_check does not remember) -> [check stops here] -> network phase,
//! only for a download or a re-point (tenant, token, connection info, download; the minted
//! token is revoked as soon as the download ends, on every path; `--installer-file` is copied
//! instead) -> verify -> install / oneagentctl / uninstall -> observe again and confirm the
//! plan is now empty -> status.json. Status is written at each stage; temp files go with their
//! TempDir. A SIGINT/SIGTERM (signals.rs) is checked after the lock, before the network phase,
//! after the download and before each local step; it fails the run through this same error
//! path, and so does a panic (crash.rs), with the lock still held while `Failed` is written.
//!
//! First of all, the state dir must be one no other user controls (fsafe.rs); `apply` creates
//! it, `check` never does: it writes nothing anywhere (no state dir, lock file, tenant,
//! setting, remembered version) and reads a target version only through a short-lived token it
//! revokes.

mod execute;
mod network;

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::config::Config;
use crate::crash;
use crate::error::{failure, kind_of, one_line, Kind};
use crate::facts;
use crate::fsafe;
use crate::groups;
use crate::host::{self, Observed, Wanted};
use crate::http::Client;
use crate::install::InstallLog;
use crate::lock::{self, Lock};
use crate::plan::{self, Action, Desired, Ensure, Plan, Remote};
use crate::report::{self, ActionReport, Recorded, Reporter, State, Status};
use crate::signals;
use crate::tenant::{self, Tenant};
use crate::version_check;

pub use network::client as http_client;

/// Private per-run download directories under the state dir start with this.
const DOWNLOAD_PREFIX: &str = ".download-";
use network::Network;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Check,
    Apply,
}

/// What a run did; filled as far as it got, also when it failed.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Without an error: the plan had actions (check: would have). With one: a step did change
    /// the host before the failure (it looks different from before the run).
    pub changed: bool,
    pub tenant: Option<String>,
    pub actions: Vec<ActionReport>,
    pub version: Option<String>,
    pub sha256: Option<String>,
    /// Which root verified the downloaded installer (or `skipped ...`).
    pub installer_root: Option<String>,
    pub requests: u32,
    pub error: Option<anyhow::Error>,
}

/// Runs the pipeline. Never panics on bad input; every failure is in `Outcome::error`.
pub fn run(cfg: &Config, mode: Mode, out: Reporter) -> Outcome {
    let client = OnceCell::new();
    let mut o = Outcome::default();
    let mut run = Run {
        cfg,
        mode,
        out,
        client: &client,
        state_dir: None,
        lock: None,
        previous: None,
        before: None,
        local_started: false,
    };
    if let Err(e) = crash::catch("running the pipeline", || run.pipeline(&mut o)) {
        o.changed = false;
        if run.lock.is_some() && mode == Mode::Apply {
            let now = run.observe_after_failure();
            o.changed = run.local_started && run.host_changed(&now);
            run.write_failed(&o, &e, now);
        }
        o.error = Some(e);
    }
    drop(run.lock.take());
    o.requests = client.get().map_or(0, Client::requests);
    o
}

struct Run<'a> {
    cfg: &'a Config,
    mode: Mode,
    out: Reporter,
    client: &'a OnceCell<Client>,
    /// The canonical state dir, once checked (`None`: check found none).
    state_dir: Option<PathBuf>,
    /// Held until the end, also while a failure (or a panic) is recorded in status.json.
    lock: Option<Lock>,
    previous: Option<Status>,
    /// The host as observed before acting, to tell whether a failed run changed it.
    before: Option<Observed>,
    /// A local step (installer, oneagentctl, uninstall.sh) was started.
    local_started: bool,
}

impl<'a> Run<'a> {
    fn secrets(&self) -> Vec<&'a str> {
        self.cfg.secrets()
    }

    fn state_dir(&self) -> Result<&Path> {
        self.state_dir
            .as_deref()
            .ok_or_else(|| failure(Kind::Internal, "the state directory was not checked"))
    }

    /// Before anything else: a state dir no other user controls (apply creates it, check only
    /// looks), its lock (check never creates the file), stale downloads (apply) and the last
    /// status.
    fn take_state_dir(&mut self) -> Result<()> {
        let (cfg, out) = (self.cfg, self.out);
        const WHAT: &str = "the state directory";
        let dir = match self.mode {
            Mode::Apply => fsafe::create_trusted_dir(&cfg.state_dir, WHAT)?,
            Mode::Check => match fsafe::trusted_dir(&cfg.state_dir, WHAT)? {
                Some(dir) => dir,
                None => {
                    out.detail(format!(
                        "no state directory {}: no run recorded",
                        cfg.state_dir.display()
                    ));
                    return Ok(());
                }
            },
        };
        let lock_path = dir.join("lock");
        let on_wait = || out.step("waiting for another oneagent-bootstrap run to finish");
        let held = match self.mode {
            Mode::Apply => Some(lock::acquire(&lock_path, cfg.lock_timeout, on_wait)?),
            Mode::Check => lock::acquire_existing(&lock_path, cfg.lock_timeout, on_wait)?,
        };
        if let Some(waited) = held.as_ref().map(|h| h.waited).filter(|w| !w.is_zero()) {
            out.step(format!(
                "got the lock after {}",
                humantime::format_duration(std::time::Duration::from_millis(
                    waited.as_millis() as u64
                ))
            ));
        }
        self.lock = held;
        if self.mode == Mode::Apply {
            remove_stale_downloads(&dir, out);
        }
        self.previous = match report::read_status(&dir) {
            Recorded::Status(s) => Some(s),
            Recorded::None => None,
            Recorded::Corrupt(why) => {
                if self.mode == Mode::Apply {
                    out.warn(format!("{why}; this run replaces it"));
                } else {
                    out.warn(format!("{why}; the next apply replaces it"));
                }
                None
            }
        };
        self.state_dir = Some(dir);
        Ok(())
    }

    fn pipeline(&mut self, o: &mut Outcome) -> Result<()> {
        let cfg = self.cfg;
        self.take_state_dir()?;
        signals::check(Kind::Api, || {
            "after taking the lock; nothing was changed".into()
        })?;

        let facts = facts::configured(
            cfg.facts_file.as_deref(),
            &cfg.facts,
            cfg.hostname_pattern.as_ref(),
        )?;
        let tenant = self.tenant(&facts)?;
        o.tenant = tenant.as_ref().map(|t| t.id.clone());
        // Rendered now, so a template error is exit 3 before any request.
        let wanted_groups = match &tenant {
            Some(t) => groups::render(&cfg.groups, &facts, &t.id)?,
            None => Vec::new(),
        };
        let desired = self.desired(o.tenant.clone());

        let wanted = Wanted::managed(&cfg.settings);
        let observed = host::observe(&cfg.install_path, wanted, &self.secrets())?;
        self.out.detail(describe(&observed, observed.spawns));
        self.before = Some(observed.clone());
        o.version = observed.version.clone();

        let machine = cfg
            .arch
            .as_deref()
            .or(facts.get("arch"))
            .unwrap_or_default();
        let mut net = Network::new(cfg, tenant.as_ref(), machine, self.out, self.client)
            .read_only(self.mode == Mode::Check)
            .with_groups(&wanted_groups, self.mode == Mode::Apply);
        let (plan, remote) = self.plan(&desired, &observed, &mut net, tenant.as_ref(), &facts)?;
        for note in &plan.notes {
            self.out.step(note);
        }
        o.actions = plan
            .actions
            .iter()
            .map(|a| ActionReport {
                kind: a.kind().into(),
                description: a.to_string(),
            })
            .collect();

        if plan.is_converged() {
            let upgrade_now = upgrade_available(remote.as_ref(), &observed);
            return self.converged(&mut net, o, &observed, tenant.as_ref(), upgrade_now);
        }
        o.changed = true;
        if self.mode == Mode::Check {
            net.revoke();
            for a in &plan.actions {
                self.out.step(format!("would {a}"));
            }
            return self.groups(&mut net, o);
        }

        let mut log = InstallLog::new(self.state_dir()?.join("last-install.log"));
        let executed = self.execute(&plan, &mut net, o, tenant.as_ref(), &mut log);
        o.actions.extend(net.take_group_steps());
        executed?;
        if cfg.groups.reconcile {
            // The plan needed no tenant (a settings change only): the groups are still due.
            self.groups(&mut net, o)?;
        }
        drop(net);

        let after = host::observe(&cfg.install_path, wanted, &self.secrets())?;
        o.version = after.version.clone();
        confirm(&desired, &after, remote.as_ref(), o, log.path())?;
        let upgrade_after = upgrade_available(remote.as_ref(), &after);
        self.write_status(&after, tenant.as_ref(), upgrade_after, o, "changed")
    }

    /// What the configuration asks of the host, for the planner.
    fn desired(&self, tenant: Option<String>) -> Desired {
        let cfg = self.cfg;
        Desired {
            ensure: cfg.ensure,
            tenant,
            version: cfg.version.clone(),
            upgrade: cfg.upgrade,
            allow_downgrade: cfg.allow_downgrade,
            settings: cfg.settings.clone(),
        }
    }

    /// The configured tenant, else (for local work) the last run's; none is exit 3 unless an
    /// installer file or `--ensure absent` makes it unneeded.
    fn tenant(&self, facts: &facts::Facts) -> Result<Option<Tenant>> {
        let cfg = self.cfg;
        let mut tenant = tenant::resolve(&cfg.tenant, facts)?;
        if tenant.is_none() && cfg.ensure == Ensure::Present {
            tenant = self.previous_tenant();
        }
        // An installer file carries its tenant: without one configured, whatever it installs is
        // right (the plan then leaves the tenant alone).
        if tenant.is_none() && cfg.ensure == Ensure::Present && cfg.installer_file.is_none() {
            return Err(failure(
                Kind::Config,
                "no tenant: set --tenant (DT_TENANT) or --tenant-template (DT_TENANT_TEMPLATE)",
            ));
        }
        if let Some(t) = &tenant {
            self.out
                .detail(format!("tenant {} from {}", t.id, t.derivation));
        }
        Ok(tenant)
    }

    /// The plan, asking Dynatrace for the target version only when the plan needs it and
    /// version_check does not remember it.
    fn plan(
        &self,
        desired: &Desired,
        observed: &Observed,
        net: &mut Network,
        tenant: Option<&Tenant>,
        facts: &facts::Facts,
    ) -> Result<(Plan, Option<Remote>)> {
        let plan = plan::plan(desired, observed, None);
        if !plan.needs_remote {
            return Ok((plan, None));
        }
        signals::check(Kind::Api, || {
            "before asking Dynatrace for the target version; nothing was changed".into()
        })?;
        if self.mode == Mode::Check {
            self.out.step(
                "check changes nothing on the cluster: reading the target version takes at \
                 most a short-lived download token, revoked at once",
            );
        }
        let query = version_check::Query {
            state_dir: self.state_dir.as_deref(),
            tenant: tenant.map(|t| t.id.as_str()).unwrap_or_default(),
            arch: net.arch()?,
            interval: self.cfg.version_check_interval,
            seed: facts.get("fqdn").unwrap_or_default(),
        };
        let now = std::time::SystemTime::now();
        // `check` changes nothing, not even this memory; it does use what apply remembered.
        let remember = self.mode == Mode::Apply;
        match version_check::target(&query, now, self.out, remember, || net.target_version()) {
            Ok(target) => {
                let remote = Remote {
                    target_version: target,
                };
                let plan = plan::plan(desired, observed, Some(&remote));
                Ok((plan, Some(remote)))
            }
            // Only check gets here (apply creates the tenant): the host must change.
            Err(e) if network::is_tenant_missing(&e) => {
                self.out.step(one_line(&e));
                Ok((plan, None))
            }
            Err(e) => Err(e),
        }
    }

    /// Nothing to do on the host: the token goes, user groups may still change.
    fn converged(
        &self,
        net: &mut Network,
        o: &mut Outcome,
        observed: &Observed,
        tenant: Option<&Tenant>,
        upgrade_now: Option<bool>,
    ) -> Result<()> {
        net.revoke();
        if self.cfg.groups.reconcile {
            self.groups(net, o)?;
        }
        if self.mode == Mode::Apply {
            let how = if o.changed {
                "user groups changed"
            } else {
                "converged"
            };
            self.write_status(observed, tenant, upgrade_now, o, how)?;
        }
        Ok(())
    }

    /// The tenant of the last run, for local work configured without a tenant.
    fn previous_tenant(&self) -> Option<Tenant> {
        let id = self.previous.as_ref()?.tenant.clone()?;
        Some(Tenant {
            name: id.clone(),
            id,
            tags: Vec::new(),
            derivation: format!(
                "the last run ({})",
                report::status_path(&self.cfg.state_dir).display()
            ),
        })
    }

    /// User groups outside the network phase: `check` shows what would change, `apply` (with
    /// --reconcile-groups) changes it; a change makes the run "changed".
    fn groups(&self, net: &mut Network, o: &mut Outcome) -> Result<()> {
        let done = match self.mode {
            Mode::Check => net.preview_groups(),
            Mode::Apply => net.converge_groups(),
        };
        let steps = net.take_group_steps();
        o.changed |= !steps.is_empty();
        o.actions.extend(steps);
        done
    }

    /// Status for an intermediate stage; a failure to write it must not stop the install.
    fn status_stage(&self, state: State, message: String, tenant: Option<&Tenant>) {
        let mut s = Status::new(state, message);
        s.tenant = tenant.map(|t| t.id.clone());
        if let Some(p) = &self.previous {
            s.version = p.version.clone();
            s.is_agent_installed = p.is_agent_installed;
            s.installer_sha256 = p.installer_sha256.clone();
            s.installer_root = p.installer_root.clone();
        }
        if let Err(e) = self.state_dir().and_then(|d| report::write_status(d, &s)) {
            self.out.warn(one_line(&e));
        }
    }

    fn write_status(
        &self,
        observed: &Observed,
        tenant: Option<&Tenant>,
        upgrade_available: Option<bool>,
        o: &Outcome,
        how: &str,
    ) -> Result<()> {
        let (state, message) = if observed.installed {
            (
                State::Installed,
                format!(
                    "OneAgent {} installed for tenant {} ({how})",
                    observed.version.as_deref().unwrap_or("(version unknown)"),
                    observed.tenant.as_deref().unwrap_or("?")
                ),
            )
        } else {
            (
                State::NotInstalled,
                format!("OneAgent is not installed ({how})"),
            )
        };
        let mut s = Status::new(state, message);
        s.version = observed.version.clone();
        s.tenant = tenant
            .map(|t| t.id.clone())
            .or_else(|| observed.tenant.clone());
        s.is_agent_installed = observed.installed;
        s.is_upgrade_available = upgrade_available;
        // A converged run downloaded nothing: what was installed last is still true.
        let previous = self.previous.as_ref();
        s.installer_sha256 = o
            .sha256
            .clone()
            .or_else(|| previous.and_then(|p| p.installer_sha256.clone()));
        s.installer_root = o
            .installer_root
            .clone()
            .or_else(|| previous.and_then(|p| p.installer_root.clone()));
        report::write_status(self.state_dir()?, &s)
    }

    /// The host after a failure (nothing readable counts as not installed).
    fn observe_after_failure(&self) -> Observed {
        let wanted = Wanted::managed(&self.cfg.settings);
        host::observe(&self.cfg.install_path, wanted, &self.secrets()).unwrap_or_default()
    }

    /// Whether the host looks different from before the run (what `--json` calls changed).
    fn host_changed(&self, now: &Observed) -> bool {
        let Some(before) = &self.before else {
            return false;
        };
        let strip = |o: &Observed| Observed {
            spawns: 0,
            ..o.clone()
        };
        strip(before) != strip(now)
    }

    fn write_failed(&self, o: &Outcome, e: &anyhow::Error, observed: Observed) {
        let mut s = Status::new(
            State::Failed,
            format!("exit {}: {}", kind_of(e).exit_code(), one_line(e)),
        );
        s.version = observed.version;
        s.tenant = o.tenant.clone();
        s.is_agent_installed = observed.installed;
        s.installer_sha256 = o.sha256.clone();
        s.installer_root = o.installer_root.clone();
        if let Err(err) = self.state_dir().and_then(|d| report::write_status(d, &s)) {
            self.out.warn(one_line(&err));
        }
    }
}

/// Whether the target version is newer than the installed one; `None` when either is unknown.
fn upgrade_available(remote: Option<&Remote>, o: &Observed) -> Option<bool> {
    let (r, v) = remote.zip(o.version.as_ref())?;
    Some(plan::compare_versions(v, &r.target_version) == std::cmp::Ordering::Less)
}

/// After acting, the planner must find nothing left to do, else the result is not as planned.
fn confirm(
    desired: &Desired,
    after: &Observed,
    remote: Option<&Remote>,
    o: &Outcome,
    log: &Path,
) -> Result<()> {
    let left = plan::plan(desired, after, remote);
    if left.actions.is_empty() {
        return Ok(());
    }
    let done: Vec<&str> = o.actions.iter().map(|a| a.kind.as_str()).collect();
    let still: Vec<String> = left.actions.iter().map(Action::to_string).collect();
    Err(failure(
        Kind::Installer,
        format!(
            "after {}, the host still does not match the plan: it would still need to {}; see {}",
            done.join(", "),
            still.join("; "),
            log.display()
        ),
    ))
}

/// Download directories a killed run left behind (they may hold an installer, which embeds the
/// tenant token). Only called with the lock held, so none of them is in use.
fn remove_stale_downloads(state_dir: &Path, out: Reporter) {
    let Ok(entries) = std::fs::read_dir(state_dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(DOWNLOAD_PREFIX) {
            match std::fs::remove_dir_all(e.path()) {
                Ok(()) => out.detail(format!("removed stale {}", e.path().display())),
                Err(err) => out.warn(format!("could not remove {}: {err}", e.path().display())),
            }
        }
    }
}

/// One line about the observed host, for `-v`.
fn describe(o: &Observed, spawns: u32) -> String {
    if !o.installed {
        return "observed: OneAgent not installed".into();
    }
    format!(
        "observed: OneAgent {} for tenant {} ({spawns} oneagentctl calls)",
        o.version.as_deref().unwrap_or("?"),
        o.tenant.as_deref().unwrap_or("?")
    )
}

#[cfg(test)]
mod panic_tests;

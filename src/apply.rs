//! Executes the plan: the one pipeline behind `check` (which stops before acting) and `apply`.
//!
//! lock -> facts -> tenant id -> observe -> plan (asking Dynatrace only when the plan needs
//! remote facts) -> [check stops here] -> network phase (tenant, token, connection info,
//! download; the minted token is revoked as soon as the download ends, on every path) ->
//! verify -> install / oneagentctl / uninstall -> observe again and confirm the plan is now
//! empty -> status.json. Status is written at each stage; temp files go with their TempDir.
//! A SIGINT/SIGTERM (signals.rs) is checked after the lock, before the network phase, after the
//! download and before each local step; it fails the run through this same error path.

mod network;

use std::cell::OnceCell;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use anyhow::Result;

use crate::config::Config;
use crate::error::{failure, kind_of, one_line, Kind, ResultExt};
use crate::facts::{self, Facts};
use crate::groups;
use crate::host::{self, Observed, Wanted};
use crate::http::Client;
use crate::install;
use crate::lock;
use crate::plan::{self, Action, Desired, Ensure, Plan, Remote};
use crate::report::{self, ActionReport, Reporter, State, Status};
use crate::signals;
use crate::tenant::{self, Tenant};
use crate::verify;

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
        locked: false,
        previous: None,
    };
    if let Err(e) = run.pipeline(&mut o) {
        if run.locked && mode == Mode::Apply {
            run.write_failed(&o, &e);
        }
        o.error = Some(e);
    }
    o.requests = client.get().map_or(0, Client::requests);
    o
}

/// Facts of this host plus the configured sources.
pub fn gather_facts(cfg: &Config) -> Result<Facts> {
    let text = cfg
        .facts_file
        .as_deref()
        .map(facts::read_facts_file)
        .transpose()?;
    let origin = cfg
        .facts_file
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    facts::gather(
        facts::host_facts(),
        &facts::Sources {
            facts_file: text.as_deref().map(|t| (origin.as_str(), t)),
            flags: &cfg.facts,
            hostname_pattern: cfg.hostname_pattern.as_ref(),
        },
    )
}

/// Creates the state directory (0700: it holds the install log and downloads).
pub fn ensure_state_dir(dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .kind(Kind::Config, || {
            format!(
                "could not create the state directory {}; set --state-dir to a writable place",
                dir.display()
            )
        })
}

struct Run<'a> {
    cfg: &'a Config,
    mode: Mode,
    out: Reporter,
    client: &'a OnceCell<Client>,
    /// We hold the lock, so status.json is ours to write.
    locked: bool,
    previous: Option<Status>,
}

impl<'a> Run<'a> {
    fn secrets(&self) -> Vec<&'a str> {
        [&self.cfg.cluster_token, &self.cfg.api_token]
            .into_iter()
            .flatten()
            .map(|s| s.expose())
            .collect()
    }

    fn pipeline(&mut self, o: &mut Outcome) -> Result<()> {
        let cfg = self.cfg;
        ensure_state_dir(&cfg.state_dir)?;
        let out = self.out;
        let held = lock::acquire(&cfg.state_dir.join("lock"), cfg.lock_timeout, || {
            out.step("waiting for another oneagent-bootstrap run to finish")
        })?;
        if !held.waited.is_zero() {
            out.step(format!(
                "got the lock after {}",
                humantime::format_duration(std::time::Duration::from_millis(
                    held.waited.as_millis() as u64
                ))
            ));
        }
        self.locked = true;
        remove_stale_downloads(&cfg.state_dir, self.out);
        self.previous = report::read_status(&cfg.state_dir);
        signals::check(Kind::Api, || {
            "after taking the lock; nothing was changed".into()
        })?;

        let facts = gather_facts(cfg)?;
        let tenant = tenant::resolve(&cfg.tenant, &facts)?;
        if tenant.is_none() && cfg.ensure == Ensure::Present {
            return Err(failure(
                Kind::Config,
                "no tenant: set --tenant (DT_TENANT) or --tenant-template (DT_TENANT_TEMPLATE)",
            ));
        }
        if let Some(t) = &tenant {
            self.out
                .detail(format!("tenant {} from {}", t.id, t.derivation));
        }
        o.tenant = tenant.as_ref().map(|t| t.id.clone());
        // Rendered now, so a template error is exit 3 before any request.
        let wanted_groups = match &tenant {
            Some(t) => groups::render(&cfg.groups, &facts, &t.id)?,
            None => Vec::new(),
        };
        let desired = Desired {
            ensure: cfg.ensure,
            tenant: o.tenant.clone(),
            version: cfg.version.clone(),
            upgrade: cfg.upgrade,
            allow_downgrade: cfg.allow_downgrade,
            settings: cfg.settings.clone(),
        };

        let wanted = Wanted::managed(&cfg.settings);
        let observed = host::observe(&cfg.install_path, wanted, &self.secrets())?;
        self.out.detail(describe(&observed, observed.spawns));
        o.version = observed.version.clone();

        let mut net = Network::new(cfg, tenant.as_ref(), self.out, self.client)
            .with_groups(&wanted_groups, self.mode == Mode::Apply);
        let mut remote = None;
        let mut plan = plan::plan(&desired, &observed, None);
        if plan.needs_remote {
            signals::check(Kind::Api, || {
                "before asking Dynatrace for the target version; nothing was changed".into()
            })?;
            self.out
                .step("asking Dynatrace for the target version (--upgrade)");
            let target = net.target_version()?;
            self.out.step(format!("target version: {target}"));
            remote = Some(Remote {
                target_version: target,
            });
            plan = plan::plan(&desired, &observed, remote.as_ref());
        }
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
        let upgrade_now = upgrade_available(remote.as_ref(), &observed);

        if plan.is_converged() {
            net.revoke();
            if cfg.groups.reconcile {
                self.groups(&mut net, o)?;
            }
            if self.mode == Mode::Apply {
                let how = if o.changed {
                    "user groups changed"
                } else {
                    "converged"
                };
                self.write_status(&observed, tenant.as_ref(), upgrade_now, o, how)?;
            }
            return Ok(());
        }
        o.changed = true;
        if self.mode == Mode::Check {
            net.revoke();
            for a in &plan.actions {
                self.out.step(format!("would {a}"));
            }
            return self.groups(&mut net, o);
        }

        let executed = self.execute(&plan, &mut net, o, tenant.as_ref());
        o.actions.extend(net.take_group_steps());
        executed?;
        if cfg.groups.reconcile {
            // The plan needed no tenant (a settings change only): the groups are still due.
            self.groups(&mut net, o)?;
        }
        drop(net);

        let after = host::observe(&cfg.install_path, wanted, &self.secrets())?;
        o.version = after.version.clone();
        confirm(&desired, &after, remote.as_ref(), o, &cfg.state_dir)?;
        let upgrade_after = upgrade_available(remote.as_ref(), &after);
        self.write_status(&after, tenant.as_ref(), upgrade_after, o, "changed")
    }

    /// Network phase first (so the minted token dies before anything local happens), then the
    /// local changes in plan order.
    fn execute(
        &self,
        plan: &Plan,
        net: &mut Network,
        o: &mut Outcome,
        tenant: Option<&Tenant>,
    ) -> Result<()> {
        let cfg = self.cfg;
        signals::check(Kind::Api, || {
            "before the download and the changes; nothing was changed".into()
        })?;
        let download_version = plan.actions.iter().find_map(|a| match a {
            Action::Install { version, .. } => Some(version.to_string()),
            Action::Upgrade { to, .. } => Some(to.to_string()),
            _ => None,
        });
        let repoint = plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::Repoint { .. }));

        // Settings first (no request), then the signature trust before any token exists: a
        // missing URL or token, or a bad CA file, fails before anything is created.
        net.preflight()?;
        let trust = match &download_version {
            Some(_) => Some(verify::load_trust(
                cfg.installer_ca_file.as_deref(),
                &|url| net.fetch(url),
            )?),
            None => None,
        };
        if let Some(t) = &trust {
            // A replaced root is worth saying every time; the pinned one only with -v.
            let line = format!("installer signatures must chain to {t}");
            if matches!(t.source, verify::TrustSource::CaFile(_)) {
                self.out.step(line);
            } else {
                self.out.detail(line);
            }
        }
        let connection = if repoint {
            Some(net.connection_info()?)
        } else {
            None
        };
        let mut installer = None;
        if let (Some(version), Some(trust)) = (&download_version, &trust) {
            let dir = tempfile::Builder::new()
                .prefix(DOWNLOAD_PREFIX)
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .tempdir_in(&cfg.state_dir)
                .kind(Kind::Config, || {
                    format!(
                        "could not create a private directory in {}",
                        cfg.state_dir.display()
                    )
                })?;
            net.installer_token()?;
            self.status_stage(
                State::Downloading,
                format!("downloading OneAgent {version}"),
                tenant,
            );
            self.out.step(format!("downloading OneAgent {version}"));
            // The opt-out skips the signature digest too: no work for a check nobody reads.
            let mut sig = (!cfg.insecure_skip_signature).then(verify::SignatureCheck::new);
            let progress = !self.out.quiet && !cfg.json;
            let downloaded = match sig.as_mut() {
                Some(check) => net.download(version, dir.path(), check, progress),
                None => net.download(version, dir.path(), &mut (), progress),
            };
            // The token's only job is done: revoke it now, whatever the download's result.
            net.revoke();
            // Whatever the download's own error, a stopped run says why it stopped.
            signals::check(Kind::Api, || {
                format!("while downloading OneAgent {version}; nothing was installed")
            })?;
            let downloaded = downloaded?;
            self.out.step(format!(
                "downloaded {} bytes, sha256 {}",
                downloaded.bytes, downloaded.sha256
            ));
            o.sha256 = Some(downloaded.sha256.clone());
            let verified = verify::check_download(&downloaded, sig, cfg.sha256.as_deref(), trust)?;
            o.installer_root = Some(if cfg.insecure_skip_signature {
                "skipped (--insecure-skip-signature)".to_string()
            } else {
                self.out
                    .step(format!("verified installer signature ({})", verified.root));
                verified.root.clone()
            });
            installer = Some((dir, downloaded));
        }
        // A re-point without download minted a token for connectioninfo: it dies here too,
        // before anything local runs (a no-op when the download already revoked it).
        net.revoke();

        let log = cfg.state_dir.join("last-install.log");
        for (i, action) in plan.actions.iter().enumerate() {
            // Exit 4 while nothing local has run yet, 6 once the host may be half-changed.
            if i == 0 {
                signals::check(Kind::Api, || {
                    format!(
                        "before the {} step; nothing on the host was changed",
                        action.kind()
                    )
                })?;
            } else {
                signals::check(Kind::Installer, || {
                    format!(
                        "before the {} step, after earlier steps changed the host; see {}",
                        action.kind(),
                        log.display()
                    )
                })?;
            }
            match action {
                Action::Install { .. } | Action::Upgrade { .. } => {
                    let Some((_, d)) = &installer else {
                        return Err(failure(
                            Kind::Internal,
                            "install planned but nothing downloaded",
                        ));
                    };
                    let settings: &[String] = match action {
                        Action::Install { args, .. } => args,
                        _ => &[],
                    };
                    self.status_stage(
                        State::Installing,
                        format!("running the installer: {action}"),
                        tenant,
                    );
                    self.out.step(format!("running the installer ({action})"));
                    install::run_installer(
                        &d.path,
                        &cfg.install_path,
                        &cfg.installer_args,
                        settings,
                        cfg.installer_timeout,
                        &log,
                    )?;
                }
                Action::Repoint { tenant: id, args } => {
                    let Some(info) = &connection else {
                        return Err(failure(
                            Kind::Internal,
                            "re-point planned without connection info",
                        ));
                    };
                    let mut all = vec![
                        format!("--set-tenant={}", info.tenant_uuid),
                        format!("--set-tenant-token={}", info.tenant_token.expose()),
                    ];
                    if cfg.settings.server.is_none() {
                        all.push(format!("--set-server={}", info.endpoints));
                    }
                    all.extend(args.iter().cloned());
                    all.push("--restart-service".into());
                    self.out
                        .step(format!("re-pointing OneAgent to tenant {id}"));
                    let mut secrets = self.secrets();
                    secrets.push(info.tenant_token.expose());
                    install::oneagentctl(&cfg.install_path, &all, &secrets)?;
                }
                Action::Reconfigure { args } => {
                    self.out.step(format!("oneagentctl {}", args.join(" ")));
                    let mut all = args.clone();
                    all.push("--restart-service".into());
                    install::oneagentctl(&cfg.install_path, &all, &self.secrets())?;
                }
                Action::Uninstall => {
                    self.out.step("running uninstall.sh");
                    install::run_uninstall(&cfg.install_path, cfg.installer_timeout, &log)?;
                }
            }
        }
        // `installer` (the TempDir) is dropped here: the downloaded file and its directory go.
        drop(installer);
        Ok(())
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
        if let Err(e) = report::write_status(&self.cfg.state_dir, &s) {
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
        report::write_status(&self.cfg.state_dir, &s)
    }

    fn write_failed(&self, o: &Outcome, e: &anyhow::Error) {
        let observed = host::observe(&self.cfg.install_path, Wanted::default(), &self.secrets())
            .unwrap_or_default();
        let mut s = Status::new(
            State::Failed,
            format!("exit {}: {}", kind_of(e).exit_code(), one_line(e)),
        );
        s.version = observed.version;
        s.tenant = o.tenant.clone();
        s.is_agent_installed = observed.installed;
        s.installer_sha256 = o.sha256.clone();
        s.installer_root = o.installer_root.clone();
        if let Err(err) = report::write_status(&self.cfg.state_dir, &s) {
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
    state_dir: &Path,
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
            state_dir.join("last-install.log").display()
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

//! The acting half of `apply`: the network phase (trust, connection info, the installer), then
//! the local steps in plan order. Split from apply.rs so each step reads on its own.

use std::os::unix::io::RawFd;
use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use tempfile::TempDir;

use super::network::Network;
use super::{Outcome, Run, DOWNLOAD_PREFIX};
use crate::download::{self, ConnectionInfo};
use crate::error::{failure, Kind, ResultExt};
use crate::fsafe::{self, HeldFile};
use crate::install::{self, InstallLog, StepEnv};
use crate::plan::{self, Action, Plan};
use crate::report::{rate, took, State};
use crate::signals;
use crate::tenant::Tenant;
use crate::verify;

/// The downloaded (or copied) installer, held open; its TempDir goes when this is dropped.
type Installer = (TempDir, HeldFile);

/// What the network phase hands the local steps.
struct Fetched {
    installer: Option<Installer>,
    connection: Option<ConnectionInfo>,
}

impl Run<'_> {
    /// Network phase first (so the minted token dies before anything local happens), then the
    /// local changes in plan order.
    pub(super) fn execute(
        &mut self,
        plan: &Plan,
        net: &mut Network,
        o: &mut Outcome,
        tenant: Option<&Tenant>,
        log: &mut InstallLog,
    ) -> Result<()> {
        signals::check(Kind::Api, || {
            "before the download and the changes; nothing was changed".into()
        })?;
        let fetched = self.network_phase(plan, net, o, tenant)?;
        let lock_fd = self.lock.as_ref().map(crate::lock::Lock::raw_fd);
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
                        log.path().display()
                    )
                })?;
            }
            self.local_started = true;
            self.run_action(action, &fetched, tenant, log, lock_fd)?;
        }
        // `fetched.installer` (the TempDir) is dropped here: the downloaded file and its
        // directory go.
        drop(fetched);
        Ok(())
    }

    /// Everything that needs Dynatrace, ending with the minted token revoked.
    fn network_phase(
        &self,
        plan: &Plan,
        net: &mut Network,
        o: &mut Outcome,
        tenant: Option<&Tenant>,
    ) -> Result<Fetched> {
        let cfg = self.cfg;
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
        // missing URL or token, or a bad CA file, fails before anything is created. Local
        // work (settings, uninstall, an --installer-file install) needs neither.
        let download = download_version.is_some() && cfg.installer_file.is_none();
        if download {
            net.arch()?;
        }
        if download || repoint {
            net.preflight()?;
        }
        let trust = match &download_version {
            Some(_) => Some(self.load_trust(net)?),
            None => None,
        };
        let connection = if repoint {
            Some(net.connection_info()?)
        } else {
            None
        };
        let installer = match (&download_version, &trust) {
            (Some(version), Some(trust)) => {
                Some(self.fetch_installer(net, version, trust, o, tenant)?)
            }
            _ => None,
        };
        // A re-point without download minted a token for connectioninfo: it dies here too,
        // before anything local runs (a no-op when the download already revoked it).
        net.revoke();
        Ok(Fetched {
            installer,
            connection,
        })
    }

    fn load_trust(&self, net: &Network) -> Result<verify::Trust> {
        let t = verify::load_trust(self.cfg.installer_ca_file.as_deref(), &|url| net.fetch(url))?;
        // A replaced root is worth saying every time; the pinned one only with -v.
        let line = format!("installer signatures must chain to {t}");
        if matches!(t.source, verify::TrustSource::CaFile(_)) {
            self.out.step(line);
        } else {
            self.out.detail(line);
        }
        Ok(t)
    }

    /// Download (or copy) the installer into a private directory, verify it, and hold it open.
    fn fetch_installer(
        &self,
        net: &mut Network,
        version: &str,
        trust: &verify::Trust,
        o: &mut Outcome,
        tenant: Option<&Tenant>,
    ) -> Result<Installer> {
        let cfg = self.cfg;
        let state_dir = self.state_dir()?;
        let dir = tempfile::Builder::new()
            .prefix(DOWNLOAD_PREFIX)
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir_in(state_dir)
            .kind(Kind::Config, || {
                format!(
                    "could not create a private directory in {}",
                    state_dir.display()
                )
            })?;
        // The opt-out skips the signature digest too: no work for a check nobody reads.
        let mut sig = (!cfg.insecure_skip_signature).then(verify::SignatureCheck::new);
        let downloaded = match &cfg.installer_file {
            Some(file) => {
                self.out.step(format!(
                    "using the installer file {} (--installer-file; no download)",
                    file.display()
                ));
                match sig.as_mut() {
                    Some(check) => download::copy_installer(file, dir.path(), check),
                    None => download::copy_installer(file, dir.path(), &mut ()),
                }?
            }
            None => self.download(net, version, dir.path(), sig.as_mut(), tenant)?,
        };
        o.sha256 = Some(downloaded.sha256.clone());
        let started = Instant::now();
        let verified = verify::check_download(&downloaded, sig, cfg.sha256.as_deref(), trust)?;
        o.installer_root = Some(if cfg.insecure_skip_signature {
            "skipped (--insecure-skip-signature)".to_string()
        } else {
            self.out.step(format!(
                "verified installer signature ({}) in {}",
                verified.root,
                took(started.elapsed())
            ));
            verified.root.clone()
        });
        // From here on the installer is only read through this descriptor (see HeldFile).
        let held = fsafe::hold_verified(&downloaded.path, &downloaded.sha256, downloaded.bytes)?;
        Ok((dir, held))
    }

    /// The installer from Dynatrace, with the download token revoked as soon as it is done.
    fn download(
        &self,
        net: &mut Network,
        version: &str,
        dir: &Path,
        sig: Option<&mut verify::SignatureCheck>,
        tenant: Option<&Tenant>,
    ) -> Result<download::Downloaded> {
        net.installer_token()?;
        self.status_stage(
            State::Downloading,
            format!("downloading OneAgent {version}"),
            tenant,
        );
        self.out.step(format!("downloading OneAgent {version}"));
        let progress = !self.out.quiet && !self.cfg.json;
        let started = Instant::now();
        let downloaded = match sig {
            Some(check) => net.download(version, dir, check, progress),
            None => net.download(version, dir, &mut (), progress),
        };
        // Measured before the revoke request, so the rate is the download's own.
        let spent = started.elapsed();
        // The token's only job is done: revoke it now, whatever the download's result.
        net.revoke();
        // Whatever the download's own error, a stopped run says why it stopped.
        signals::check(Kind::Api, || {
            format!("while downloading OneAgent {version}; nothing was installed")
        })?;
        let downloaded = downloaded?;
        self.out.step(format!(
            "downloaded {} bytes in {} ({}), sha256 {}",
            downloaded.bytes,
            took(spent),
            rate(downloaded.bytes, spent),
            downloaded.sha256
        ));
        Ok(downloaded)
    }

    /// One local step of the plan.
    fn run_action(
        &self,
        action: &Action,
        fetched: &Fetched,
        tenant: Option<&Tenant>,
        log: &mut InstallLog,
        lock_fd: Option<RawFd>,
    ) -> Result<()> {
        let cfg = self.cfg;
        match action {
            Action::Install { .. } | Action::Upgrade { .. } => {
                let Some((_, d)) = &fetched.installer else {
                    return Err(failure(
                        Kind::Internal,
                        "install planned but nothing downloaded",
                    ));
                };
                self.install(action, d, tenant, log, lock_fd)
            }
            Action::Repoint { tenant: id, args } => {
                let Some(info) = &fetched.connection else {
                    return Err(failure(
                        Kind::Internal,
                        "re-point planned without connection info",
                    ));
                };
                self.repoint(id, args, info, log)
            }
            Action::Reconfigure { args } => {
                self.out.step(format!("oneagentctl {}", args.join(" ")));
                let mut all = args.clone();
                if plan::needs_restart(args) {
                    all.push("--restart-service".into());
                }
                install::oneagentctl_step(&cfg.install_path, &all, &self.secrets(), log)?;
                Ok(())
            }
            Action::Uninstall => {
                self.out.step("running uninstall.sh");
                install::run_uninstall(StepEnv {
                    install_path: &cfg.install_path,
                    timeout: cfg.installer_timeout,
                    log,
                    lock_fd,
                })
            }
        }
    }

    fn install(
        &self,
        action: &Action,
        installer: &HeldFile,
        tenant: Option<&Tenant>,
        log: &mut InstallLog,
        lock_fd: Option<RawFd>,
    ) -> Result<()> {
        let cfg = self.cfg;
        // An upgrade keeps the settings, but says again who installed it.
        let metadata;
        let settings: &[String] = match action {
            Action::Install { args, .. } => args,
            _ => {
                metadata = plan::metadata_args(&cfg.settings);
                &metadata
            }
        };
        self.status_stage(
            State::Installing,
            format!("running the installer: {action}"),
            tenant,
        );
        self.out.step(format!("running the installer ({action})"));
        // Where root is about to write: no other user may control it.
        fsafe::trusted_dir(&cfg.install_path, "the install path")?;
        let env = StepEnv {
            install_path: &cfg.install_path,
            timeout: cfg.installer_timeout,
            log,
            lock_fd,
        };
        let started = Instant::now();
        install::run_installer(installer, &cfg.installer_args, settings, env)?;
        self.out
            .step(format!("installer finished in {}", took(started.elapsed())));
        Ok(())
    }

    fn repoint(
        &self,
        id: &str,
        args: &[String],
        info: &ConnectionInfo,
        log: &mut InstallLog,
    ) -> Result<()> {
        let cfg = self.cfg;
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
        install::oneagentctl_step(&cfg.install_path, &all, &secrets, log)?;
        Ok(())
    }
}

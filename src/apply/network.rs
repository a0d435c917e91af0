//! Everything `apply` needs from Dynatrace, obtained lazily so a converged host never builds a
//! token or sends a request: the HTTP client, the tenant (ensured with the cluster token), the
//! installer download token (given, or minted and revoked), the target version, the
//! connection info and the installer download itself. User groups (network/groups.rs) are
//! made right just after this run creates the tenant.

mod groups;

use std::cell::OnceCell;
use std::path::Path;

use anyhow::{Context, Result};

use crate::cluster;
use crate::config::Config;
use crate::download::{self, ConnectionInfo, Downloaded, StreamCheck};
use crate::error::{failure, Kind};
use crate::groups::Wanted;
use crate::http::{Call, Client, HttpOptions, Method};
use crate::report::{ActionReport, Reporter};
use crate::secret::Secret;
use crate::tenant::Tenant;
use crate::tenant_access;
use crate::token::{self, MintedGuard, INSTALLER_SCOPE};

/// The installer download token: the operator's own, or one we minted (and must revoke).
enum InstallerToken<'c> {
    Given(&'c Secret),
    Minted(MintedGuard<'c>),
}

pub struct Network<'c> {
    cfg: &'c Config,
    tenant: Option<&'c Tenant>,
    /// The machine architecture (`--arch` or the `arch` fact), mapped when a request needs it.
    machine: &'c str,
    out: Reporter,
    client: &'c OnceCell<Client>,
    token: Option<InstallerToken<'c>>,
    /// The token was revoked: a second mint in one run would be a bug (one token per run).
    revoked: bool,
    /// `check`: never create the tenant (a missing one is [`TenantMissing`]).
    read_only: bool,
    /// The rendered --tenant-group groups, what was done to them, and whether that is over.
    groups: &'c [Wanted],
    /// `apply` (not `check`, whose `--upgrade` also ensures the tenant): groups may be written.
    write_groups: bool,
    group_steps: Vec<ActionReport>,
    groups_done: bool,
}

/// `check` found that the tenant does not exist (apply would create it).
#[derive(Debug)]
pub struct TenantMissing(String);

impl std::fmt::Display for TenantMissing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "tenant {} does not exist: apply would create it (check creates nothing), so the \
             target version cannot be read yet",
            self.0
        )
    }
}

impl std::error::Error for TenantMissing {}

pub fn is_tenant_missing(e: &anyhow::Error) -> bool {
    e.downcast_ref::<TenantMissing>().is_some()
}

/// The HTTP client, built on first use (so a converged run does not even load CA files).
pub fn client<'c>(cfg: &Config, cell: &'c OnceCell<Client>, quiet: bool) -> Result<&'c Client> {
    if cell.get().is_none() {
        let opts = HttpOptions {
            ssl_mode: cfg.ssl_mode,
            ca_file: cfg.ca_file.clone(),
            retries: cfg.retries,
            ..HttpOptions::default()
        };
        let c = Client::new(&opts)?
            .quiet(quiet)
            .trace(cfg.verbose >= 2 && !quiet);
        crate::splay::wait(cfg, quiet)?;
        let _ = cell.set(c);
    }
    cell.get()
        .ok_or_else(|| failure(Kind::Internal, "the HTTP client was not kept"))
}

impl<'c> Network<'c> {
    pub fn new(
        cfg: &'c Config,
        tenant: Option<&'c Tenant>,
        machine: &'c str,
        out: Reporter,
        client: &'c OnceCell<Client>,
    ) -> Network<'c> {
        Network {
            cfg,
            tenant,
            machine,
            out,
            client,
            token: None,
            revoked: false,
            read_only: false,
            groups: &[],
            write_groups: false,
            group_steps: Vec::new(),
            groups_done: false,
        }
    }

    /// For `check`: nothing is created on the cluster.
    pub fn read_only(mut self, on: bool) -> Self {
        self.read_only = on;
        self
    }

    pub fn with_groups(mut self, groups: &'c [Wanted], write: bool) -> Self {
        self.groups = groups;
        self.write_groups = write;
        self
    }

    fn client(&self) -> Result<&'c Client> {
        client(self.cfg, self.client, self.out.quiet)
    }

    fn tenant(&self) -> Result<&'c Tenant> {
        self.tenant.ok_or_else(|| {
            failure(
                Kind::Config,
                "no tenant: set --tenant (DT_TENANT) or --tenant-template (DT_TENANT_TEMPLATE)",
            )
        })
    }

    /// The installer arch for this host; checked before the first request that needs it.
    pub fn arch(&self) -> Result<&'static str> {
        download::installer_arch(self.machine)
    }

    pub fn api_url(&self) -> Result<String> {
        self.cfg.api_url_for(&self.tenant()?.id)
    }

    /// What the network phase needs, checked before its first request (so a missing URL or
    /// token is a configuration error, not a network failure after a root-certificate fetch):
    /// a tenant, its API URL and a way to get a download token.
    pub fn preflight(&self) -> Result<()> {
        self.api_url()?;
        match (&self.cfg.cluster_token, &self.cfg.api_token) {
            (Some(_), _) if self.cfg.cluster_url.is_none() => Err(failure(
                Kind::Config,
                "a cluster token is set but no --cluster-url (DT_CLUSTER_URL)",
            )),
            (None, None) => Err(failure(
                Kind::Config,
                "a token is needed to download the installer: give a cluster token \
                 (--cluster-token-file or DT_CLUSTER_TOKEN) or an API token \
                 (--api-token-file or DT_API_TOKEN)",
            )),
            _ => Ok(()),
        }
    }

    /// Makes sure the tenant exists (with a cluster token); with --tenant-group, its groups
    /// when this run created it (or --reconcile-groups).
    fn ensure_tenant(&mut self) -> Result<()> {
        let tenant = self.tenant()?;
        let Some(cluster_token) = &self.cfg.cluster_token else {
            self.out.step(format!(
                "no cluster token: not checking whether tenant {} exists (it cannot be created)",
                tenant.id
            ));
            return Ok(());
        };
        let cluster_url = self.cfg.cluster_url.as_deref().ok_or_else(|| {
            failure(
                Kind::Config,
                "a cluster token is set but no --cluster-url (DT_CLUSTER_URL)",
            )
        })?;
        if self.read_only {
            let exists =
                cluster::tenant_exists(self.client()?, cluster_url, cluster_token, &tenant.id)?;
            if !exists {
                return Err(anyhow::Error::new(TenantMissing(tenant.id.clone())));
            }
            // Nothing created, so nothing to hand back.
            return Ok(());
        }
        let groups = self.due_groups();
        let at = tenant_access::Access {
            client: self.client()?,
            url: cluster_url,
            token: cluster_token,
        };
        let ensured = tenant_access::ensure(at, tenant, groups, self.out)?;
        self.groups_converged(ensured.groups);
        Ok(())
    }

    /// The installer download token, obtained once per run.
    pub fn installer_token(&mut self) -> Result<&Secret> {
        if self.token.is_none() {
            let t = self.obtain_token()?;
            self.token = Some(t);
        }
        match &self.token {
            Some(InstallerToken::Given(s)) => Ok(s),
            Some(InstallerToken::Minted(g)) => g
                .token()
                .ok_or_else(|| failure(Kind::Internal, "the minted token was already revoked")),
            None => Err(failure(Kind::Internal, "no installer token")),
        }
    }

    fn obtain_token(&mut self) -> Result<InstallerToken<'c>> {
        if self.revoked {
            return Err(failure(
                Kind::Internal,
                "the installer token was already revoked in this run",
            ));
        }
        self.preflight()?;
        self.ensure_tenant()?;
        let tenant = self.tenant()?;
        let api_url = self.api_url()?;
        let client = self.client()?;
        let label = token::run_token_name(
            &hostname::get()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "unknown host".into()),
        );
        if let Some(api_token) = self.cfg.api_token.as_ref() {
            let scopes = token::scopes_of(client, &api_url, api_token).with_context(|| {
                if self.cfg.cluster_token.is_none() {
                    format!(
                        "checking the API token for tenant {} (without a cluster token the \
                         tenant cannot be created; does it exist?)",
                        tenant.id
                    )
                } else {
                    format!("checking the API token for tenant {}", tenant.id)
                }
            })?;
            if scopes.iter().any(|s| s == INSTALLER_SCOPE) {
                self.out
                    .step("using the given API token for the download (it has InstallerDownload)");
                return Ok(InstallerToken::Given(api_token));
            }
            let guard = MintedGuard::mint(client, &api_url, api_token, &label)?;
            self.out.step(format!(
                "minted installer download token {} with the given API token",
                guard.id().unwrap_or("?")
            ));
            return Ok(InstallerToken::Minted(guard));
        }
        // Short-lived (5 min) for a new tenant as for an existing one: it cannot revoke
        // itself, so it must expire by itself.
        let management = match &self.cfg.cluster_token {
            Some(cluster_token) => {
                let cluster_url = self.cfg.cluster_url.as_deref().unwrap_or_default();
                cluster::token_management_token(client, cluster_url, cluster_token, &tenant.id)?
            }
            None => return Err(failure(Kind::Internal, "no token passed the preflight")),
        };
        let guard = MintedGuard::mint(client, &api_url, management, &label)?;
        self.out.step(format!(
            "minted installer download token {} (InstallerDownload only, expires in 15 min)",
            guard.id().unwrap_or("?")
        ));
        Ok(InstallerToken::Minted(guard))
    }

    /// What `latest` means for this tenant now.
    pub fn target_version(&mut self) -> Result<String> {
        let arch = self.arch()?;
        self.preflight()?;
        let api_url = self.api_url()?;
        let client = self.client()?;
        // An operator's API token with InstallerDownload makes the check this one request (no
        // scope lookup); without the scope (403) it mints a download token as usual.
        if let (None, Some(api_token)) = (&self.token, self.cfg.api_token.as_ref()) {
            if let Some(v) = download::target_version_if_allowed(client, &api_url, api_token, arch)?
            {
                self.token = Some(InstallerToken::Given(api_token));
                return Ok(v);
            }
        }
        let token = self.installer_token()?;
        download::target_version(client, &api_url, token, arch)
    }

    pub fn connection_info(&mut self) -> Result<ConnectionInfo> {
        let api_url = self.api_url()?;
        let client = self.client()?;
        let token = self.installer_token()?;
        download::connection_info(client, &api_url, token)
    }

    pub fn download(
        &mut self,
        version: &str,
        dir: &Path,
        check: &mut dyn StreamCheck,
        progress: bool,
    ) -> Result<Downloaded> {
        let arch = self.arch()?;
        let url = download::installer_url(&self.api_url()?, version, arch);
        let client = self.client()?;
        let timeout = self.cfg.download_timeout;
        let limit = format!("--download-timeout {}", humantime::format_duration(timeout));
        let token = self.installer_token()?;
        download::download_installer(
            client,
            &url,
            token,
            dir,
            check,
            progress,
            Some((timeout, &limit)),
        )
    }

    /// GET of a public document (the root certificate), for verify::load_trust.
    pub fn fetch(&self, url: &str) -> Result<Vec<u8>> {
        let call = Call::new(Method::Get, url, "downloading the installer signing root");
        Ok(self.client()?.call(&call, &[200])?.body.into_bytes())
    }

    /// Revokes the minted token now (a failure is a warning: it expires within 15 minutes).
    pub fn revoke(&mut self) {
        if let Some(InstallerToken::Minted(guard)) = self.token.take() {
            let id = guard.id().unwrap_or("?").to_string();
            match guard.revoke() {
                Ok(()) => self
                    .out
                    .step(format!("revoked installer download token {id}")),
                Err(e) => self.out.warn(token::revoke_warning(&id, &e)),
            }
            self.revoked = true;
        }
    }
}

impl Drop for Network<'_> {
    /// Error paths: the guard's own Drop revokes; this just says so.
    fn drop(&mut self) {
        self.revoke();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The root certificate's GET (when no `--installer-ca-file` is given): the body as served,
    /// and anything but a 200 an API failure, never an empty "root".
    #[test]
    fn fetch_returns_the_document_as_served_or_fails() {
        let sim = dtsim::Dtsim::start().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::defaults(dir.path().join("state"), dir.path().join("oneagent"));
        let cell = OnceCell::new();
        let quiet = Reporter {
            quiet: true,
            verbose: 0,
        };
        let net = Network::new(&cfg, None, "x86_64", quiet, &cell);
        let pem = net.fetch(&format!("{}/__dtsim/ca.pem", sim.url())).unwrap();
        assert_eq!(pem, sim.ca_pem().into_bytes());
        let err = net
            .fetch(&format!("{}/__dtsim/no-such-document", sim.url()))
            .unwrap_err();
        assert_eq!(crate::error::kind_of(&err), Kind::Api, "{err:#}");
    }
}

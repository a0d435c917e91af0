//! dtsim: a simulator of the Dynatrace Managed APIs that oneagent-bootstrap uses (cluster
//! environments and tokens, environment API tokens, the Deployment API with signed installers,
//! settings, user groups), with fault injection and a request log for tests.
//!
//! [`Dtsim`] runs the server on its own tokio runtime on a background thread, so synchronous
//! tests and the synchronous CLI can use it; dropping it stops the server.

mod app;
mod auth;
mod body;
mod clock;
mod dates;
mod error;
pub mod faults;
pub mod installer;
mod ratelimit;
mod request;
mod request_log;
mod routes;
mod server;
mod state;
mod token_store;
mod tokens;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;

pub use app::RequestRecord;
pub use faults::{Fault, FaultRule};
pub use ratelimit::RateLimit;
pub use request_log::{Counts, DEFAULT_CAPACITY as DEFAULT_REQUEST_LOG};

use app::{lock, App};
use installer::{Ca, Factory};
use state::Data;

/// How to start dtsim.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to listen on; port 0 picks a free port (`Dtsim::url` tells which).
    pub listen: SocketAddr,
    /// Serve HTTPS with a certificate from dtsim's CA (SANs localhost, 127.0.0.1, ::1).
    pub tls: bool,
    /// Pad installers to about this many bytes (`None`: just the script, a few KiB).
    pub installer_size: Option<u64>,
    /// Fault rules active from the start.
    pub faults: Vec<FaultRule>,
    /// Load state from here at start (if present), save after changes and at shutdown.
    pub state_file: Option<PathBuf>,
    /// Requests per minute per token and for the whole cluster; beyond them, 429.
    pub rate_limit: RateLimit,
    /// Records the request log keeps (the oldest go first); its counters see every request.
    pub request_log: usize,
    /// Signed installers kept (the least recently used go first; an evicted one is rebuilt
    /// byte for byte when asked again).
    pub installer_cache: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            tls: false,
            installer_size: None,
            faults: Vec::new(),
            state_file: None,
            rate_limit: RateLimit::default(),
            request_log: request_log::DEFAULT_CAPACITY,
            installer_cache: installer::DEFAULT_INSTALLER_CACHE,
        }
    }
}

/// A running simulator. Dropping it stops the server (and saves the state file, if any).
pub struct Dtsim {
    url: String,
    cluster_token: String,
    pub(crate) app: Arc<App>,
    shutdown: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    thread: Option<JoinHandle<()>>,
}

/// The URL clients use for `addr`: an unspecified listen address is reached over loopback.
fn base_url(addr: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("{scheme}://{}", SocketAddr::new(ip, addr.port()))
}

impl Dtsim {
    /// Plain HTTP on 127.0.0.1, a free port.
    pub fn start() -> anyhow::Result<Dtsim> {
        Dtsim::start_with(Options::default())
    }

    pub fn start_with(o: Options) -> anyhow::Result<Dtsim> {
        for rule in &o.faults {
            rule.validate()
                .map_err(|e| anyhow::anyhow!("invalid fault rule {rule:?}: {e}"))?;
        }
        let mut data = match &o.state_file {
            Some(p) => Data::load(p)?.unwrap_or_default(),
            None => Data::default(),
        };
        let ca = match &data.ca {
            Some(stored) => Ca::load(&stored.cert_pem, &stored.key_pem).with_context(|| {
                format!("loading the CA saved in the state file {:?}", o.state_file)
            })?,
            None => Ca::generate("dtsim Root CA").context("creating the dtsim CA")?,
        };
        if o.state_file.is_some() {
            data.ca = Some(state::StoredCa {
                cert_pem: ca.cert_pem(),
                key_pem: ca.key_pem(),
            });
        }
        let ca = Arc::new(ca);
        let factory = Arc::new(
            Factory::with_capacity(Arc::clone(&ca), o.installer_cache)
                .context("creating the installer factory")?,
        );
        let listener = std::net::TcpListener::bind(o.listen).with_context(|| {
            format!(
                "could not listen on {}; pick another --listen address",
                o.listen
            )
        })?;
        listener
            .set_nonblocking(true)
            .context("could not make the listening socket non-blocking")?;
        let addr = listener
            .local_addr()
            .context("could not read the listening address")?;
        let url = base_url(addr, o.tls);

        let minted = tokens::mint(tokens::Mint {
            name: "dtsim cluster token",
            environment: None,
            scopes: tokens::CLUSTER_SCOPES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            owner: "dtsim",
            personal_access_token: false,
            expires_ms: None,
        });
        data.tokens.insert(minted.token.id.clone(), minted.token);

        let tls = if o.tls {
            let sans = ["localhost", "127.0.0.1", "::1"].map(String::from);
            let (chain, key) = ca
                .issue_tls_cert(&sans)
                .context("issuing the dtsim TLS certificate")?;
            Some(server::tls_acceptor(chain, key)?)
        } else {
            None
        };
        let mut faults = faults::FaultSet::default();
        for rule in o.faults {
            faults.add(rule);
        }
        let app = Arc::new(App {
            data: Mutex::new(data),
            log: Mutex::new(request_log::RequestLog::new(o.request_log)),
            faults: Mutex::new(faults),
            base_url: url.clone(),
            ca,
            factory,
            installer_size: o.installer_size,
            state_file: o.state_file,
            changed: tokio::sync::Notify::new(),
            saving: Mutex::new(()),
            rate: Mutex::new(ratelimit::RateLimits::default()),
            limiter: Mutex::new(ratelimit::Limiter::new(o.rate_limit)),
            clock: clock::Clock::default(),
        });
        app.save()?; // the state file exists (with the new cluster token) as soon as we run

        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let (ready_tx, ready_rx) = mpsc::channel::<anyhow::Result<()>>();
        let thread_app = Arc::clone(&app);
        let thread = std::thread::Builder::new()
            .name("dtsim".into())
            .spawn(move || run(listener, thread_app, tls, stop_rx, ready_tx))
            .context("could not start the dtsim server thread")?;
        ready_rx
            .recv()
            .context("the dtsim server thread stopped during start-up")??;
        Ok(Dtsim {
            url,
            cluster_token: minted.secret,
            app,
            shutdown: Mutex::new(Some(stop_tx)),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT` (`https://` with TLS).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// PEM of the CA that signs installers and issued the TLS certificate.
    pub fn ca_pem(&self) -> String {
        self.app.ca.cert_pem()
    }

    /// A cluster token with every cluster scope.
    pub fn cluster_token(&self) -> String {
        self.cluster_token.clone()
    }

    /// The tenant token of every environment (connectioninfo `tenantToken`), so tests can
    /// prove none reaches an output.
    pub fn tenant_tokens(&self) -> Vec<String> {
        let data = self.app.data();
        data.environments
            .values()
            .map(|e| e.tenant_token.clone())
            .collect()
    }

    /// The request log, oldest first (same as `GET /__dtsim/requests`).
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.app.log).records().iter().cloned().collect()
    }

    /// Totals over every request logged since the start or the last clear (`GET
    /// /__dtsim/stats` has them too), including records the bounded log no longer holds.
    pub fn request_counts(&self) -> Counts {
        lock(&self.app.log).counts().clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.app.log).clear();
    }

    pub fn add_fault(&self, rule: FaultRule) {
        lock(&self.app.faults).add(rule);
    }

    pub fn clear_faults(&self) {
        lock(&self.app.faults).clear();
    }

    /// Stops the server and waits for it (also done on drop).
    pub fn stop(&mut self) {
        if let Some(tx) = lock(&self.shutdown).take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Dtsim {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The server thread: its own runtime, the accept loop, the state saver; a final save.
fn run(
    listener: std::net::TcpListener,
    app: Arc<App>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: tokio::sync::oneshot::Receiver<()>,
    ready: mpsc::Sender<anyhow::Result<()>>,
) {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("dtsim-worker")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(anyhow::anyhow!(
                "could not start the dtsim runtime: {e}"
            )));
            return;
        }
    };
    rt.block_on(async {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                let _ = ready.send(Err(anyhow::anyhow!("could not register the listener: {e}")));
                return;
            }
        };
        if app.state_file.is_some() {
            let saver = Arc::clone(&app);
            tokio::spawn(async move {
                loop {
                    saver.changed.notified().await;
                    // Coalesce bursts of changes into one write.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let s = Arc::clone(&saver);
                    let res = tokio::task::spawn_blocking(move || s.save()).await;
                    if let Ok(Err(e)) = res {
                        eprintln!("dtsim: {e:#}");
                    }
                }
            });
        }
        let _ = ready.send(Ok(()));
        server::serve(listener, Arc::clone(&app), tls, stop).await;
    });
    rt.shutdown_timeout(Duration::from_secs(2));
    if let Err(e) = app.save() {
        eprintln!("dtsim: {e:#}");
    }
}

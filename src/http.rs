//! The one HTTP client: versioned User-Agent, connect/read timeouts, TLS (system roots plus
//! `--ca-file`, or `--ssl-mode all`), `http://` for loopback hosts only, the proxy from
//! `HTTPS_PROXY`/`ALL_PROXY` minus `NO_PROXY`, retries by error class with jittered backoff,
//! and a count of every request sent. It knows the Dynatrace error envelope and the
//! `Api-Token` header, nothing else of Dynatrace: callers supply URLs, scopes and hints.

mod env;
mod report;
mod retry;
mod tls;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;
use ureq::http::{Response, Uri};
use ureq::{Agent, Body};

use crate::error::{failure, Kind};
use crate::secret::Secret;

pub use env::{is_loopback, NetEnv, NoProxy};
pub use report::{redact, strip_url, Hints};
pub use retry::Backoff;

/// `--ssl-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Verify certificates against the system store and `--ca-file`.
    #[default]
    Default,
    /// Accept any certificate (self-signed clusters), with a warning.
    All,
}

#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub ssl_mode: SslMode,
    pub ca_file: Option<PathBuf>,
    /// `--retries`: how many times one request is tried in all (the first try included);
    /// 0 counts as 1.
    pub retries: u32,
    pub connect_timeout: Duration,
    /// Limit for each read from the socket (headers and every body chunk), so a stalled
    /// server cannot hang a run.
    pub read_timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            ssl_mode: SslMode::Default,
            ca_file: None,
            retries: 4,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// One request as the domain modules describe it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub method: Method,
    pub url: &'a str,
    /// Sent as `Authorization: Api-Token ...` (never as a query parameter).
    pub token: Option<&'a Secret>,
    pub json: Option<&'a serde_json::Value>,
    /// What is being done, to what: the start of every error message ("creating tenant 'x'").
    pub doing: &'a str,
    pub hints: Hints<'a>,
}

impl<'a> Call<'a> {
    pub fn new(method: Method, url: &'a str, doing: &'a str) -> Self {
        Call {
            method,
            url,
            token: None,
            json: None,
            doing,
            hints: Hints::default(),
        }
    }

    pub fn token(mut self, token: &'a Secret, name: &'a str) -> Self {
        self.token = Some(token);
        self.hints.token_name = name;
        self
    }

    pub fn json(mut self, body: &'a serde_json::Value) -> Self {
        self.json = Some(body);
        self
    }

    pub fn scope(mut self, scope: &'a str) -> Self {
        self.hints.scope = Some(scope);
        self
    }

    pub fn not_found(mut self, hint: &'a str) -> Self {
        self.hints.not_found = Some(hint);
        self
    }

    /// `text` with this call's token and anything token-shaped removed.
    pub fn redact(&self, text: &str) -> String {
        let secrets: Vec<&Secret> = self.token.into_iter().collect();
        redact(text, &secrets)
    }

    /// An API error (exit 4) about this call, redacted.
    pub fn api_error(&self, what: &str) -> anyhow::Error {
        let msg = format!(
            "{}: {} {}: {what}",
            self.doing,
            self.method.as_str(),
            strip_url(self.url)
        );
        failure(Kind::Api, self.redact(&msg))
    }
}

/// A response with one of the expected statuses, its body read (JSON calls are small).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    /// The body as `T`; a body that does not parse is an API error naming the call.
    pub fn json<T: DeserializeOwned>(&self, call: &Call) -> anyhow::Result<T> {
        serde_json::from_str(&self.body).map_err(|e| {
            call.api_error(&format!(
                "answered {} with a body that is not what Dynatrace sends ({e}); is this the right URL?",
                self.status
            ))
        })
    }
}

/// How one try ended, when it did not succeed.
pub enum Attempt {
    /// Worth another try; `message` is complete (action, URL, cause, hint).
    Retry {
        message: String,
        wait: Option<Duration>,
    },
    /// Final.
    Fail(anyhow::Error),
}

/// Bodies of JSON answers and error envelopes are small; anything bigger is not Dynatrace.
const JSON_LIMIT: u64 = 10 << 20;
const ERROR_BODY_LIMIT: u64 = 64 << 10;

pub struct Client {
    direct: Agent,
    /// The agent through the proxy, when one is configured.
    proxied: Option<Agent>,
    no_proxy: NoProxy,
    tries: u32,
    backoff: Backoff,
    accept_any: bool,
    quiet: bool,
    sent: AtomicU32,
}

impl Client {
    /// A client configured from the options and the process environment.
    pub fn new(opts: &HttpOptions) -> anyhow::Result<Client> {
        Self::with_env(opts, &NetEnv::from_process())
    }

    /// A client configured from the options and the given environment (tests pass their own).
    pub fn with_env(opts: &HttpOptions, net: &NetEnv) -> anyhow::Result<Client> {
        let accept_any = opts.ssl_mode == SslMode::All;
        let tls = tls::config(opts.ca_file.as_deref(), accept_any)?;
        let agent = |proxy: Option<ureq::Proxy>| {
            let config = Agent::config_builder()
                .http_status_as_error(false)
                .user_agent(concat!("oneagent-bootstrap/", env!("CARGO_PKG_VERSION")))
                // No compression: the digest must be of the bytes the server served.
                .accept_encoding("")
                // A redirect would carry the token elsewhere or downgrade the scheme.
                .max_redirects(0)
                .timeout_resolve(Some(opts.connect_timeout))
                .timeout_connect(Some(opts.connect_timeout))
                .timeout_per_read(Some(opts.read_timeout))
                .timeout_per_write(Some(opts.read_timeout))
                .tls_config(tls.clone())
                .proxy(proxy)
                .build();
            Agent::new_with_config(config)
        };
        let proxied = match net.proxy() {
            Some((var, url)) => {
                let proxy = ureq::Proxy::new(url).map_err(|e| {
                    failure(
                        Kind::Config,
                        format!(
                            "using the proxy from {var} ({}): {e}; give it as http://host:port",
                            strip_url(url)
                        ),
                    )
                })?;
                Some(agent(Some(proxy)))
            }
            None => None,
        };
        if accept_any {
            eprintln!(
                "warning: --ssl-mode all: TLS certificates are not verified; anyone on the \
                 network path could impersonate the cluster and read the tokens"
            );
        }
        Ok(Client {
            direct: agent(None),
            proxied,
            no_proxy: NoProxy::parse(net.no_proxy.as_deref()),
            tries: opts.retries.max(1),
            backoff: Backoff::default(),
            accept_any,
            quiet: false,
            sent: AtomicU32::new(0),
        })
    }

    /// Replaces the backoff parameters (tests use short delays).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// No "retrying" notes on stderr (`-q`).
    pub fn quiet(mut self, quiet: bool) -> Self {
        self.quiet = quiet;
        self
    }

    /// Requests sent so far, retries included.
    pub fn requests(&self) -> u32 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Sends `call` (with retries) and returns the first answer whose status is in `expect`,
    /// with its body read.
    pub fn call(&self, call: &Call, expect: &[u16]) -> anyhow::Result<Reply> {
        self.stream(call, expect, |mut resp| {
            let status = resp.status().as_u16();
            match resp
                .body_mut()
                .with_config()
                .limit(JSON_LIMIT)
                .read_to_string()
            {
                Ok(body) => Ok(Reply { status, body }),
                Err(e) => Err(self.transport_failure(call, e)),
            }
        })
    }

    /// Sends `call` with retries; on a status in `expect` hands the response to `read`, whose
    /// [`Attempt::Retry`] starts the whole request again (e.g. a body cut short).
    pub fn stream<T>(
        &self,
        call: &Call,
        expect: &[u16],
        mut read: impl FnMut(Response<Body>) -> Result<T, Attempt>,
    ) -> anyhow::Result<T> {
        let agent = self.agent_for(call)?;
        let mut slept = Duration::ZERO;
        let mut attempt = 1;
        loop {
            self.sent.fetch_add(1, Ordering::Relaxed);
            let outcome = match self.send(agent, call) {
                Ok(resp) if expect.contains(&resp.status().as_u16()) => read(resp),
                Ok(resp) => Err(self.status_failure(call, resp)),
                Err(e) => Err(self.transport_failure(call, e)),
            };
            let (message, hint) = match outcome {
                Ok(v) => return Ok(v),
                Err(Attempt::Fail(e)) => return Err(e),
                Err(Attempt::Retry { message, wait }) => (message, wait),
            };
            let wait = self.backoff.wait(attempt, hint);
            if attempt >= self.tries || slept + wait > self.backoff.total {
                let tries = if attempt > 1 {
                    format!(" (gave up after {attempt} tries)")
                } else {
                    String::new()
                };
                return Err(failure(
                    Kind::Api,
                    call.redact(&format!("{message}{tries}")),
                ));
            }
            if !self.quiet {
                eprintln!(
                    "note: {}; trying again in {:.1} s (try {} of {})",
                    call.redact(&message),
                    wait.as_secs_f64(),
                    attempt + 1,
                    self.tries
                );
            }
            std::thread::sleep(wait);
            slept += wait;
            attempt += 1;
        }
    }

    /// Checks the scheme (plain `http://` only for loopback) and picks direct or proxied.
    fn agent_for(&self, call: &Call) -> anyhow::Result<&Agent> {
        let shown = strip_url(call.url);
        let bad = |why: &str| failure(Kind::Config, format!("{}: {shown}: {why}", call.doing));
        let uri: Uri = call
            .url
            .parse()
            .map_err(|_| bad("not a valid URL; give it as https://host[:port]/path"))?;
        let host = uri.host().unwrap_or("");
        if host.is_empty() {
            return Err(bad(
                "the URL has no host; give it as https://host[:port]/path",
            ));
        }
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if is_loopback(host) => return Ok(&self.direct),
            Some("http") => {
                return Err(bad(
                    "plain http:// is refused for a host that is not loopback (the token would \
                     cross the network in clear text); use https://",
                ))
            }
            _ => return Err(bad("only https:// URLs are supported")),
        }
        let port = uri.port_u16().unwrap_or(443);
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match &self.proxied {
            Some(proxied) if !self.no_proxy.bypasses(bare, port) => Ok(proxied),
            _ => Ok(&self.direct),
        }
    }

    fn send(&self, agent: &Agent, call: &Call) -> Result<Response<Body>, ureq::Error> {
        let auth = call.token.map(|t| format!("Api-Token {}", t.expose()));
        macro_rules! with_auth {
            ($req:expr) => {{
                let req = $req;
                match &auth {
                    Some(a) => req.header("Authorization", a.as_str()),
                    None => req,
                }
            }};
        }
        match (call.method, call.json) {
            (Method::Get, _) => with_auth!(agent.get(call.url)).call(),
            (Method::Delete, _) => with_auth!(agent.delete(call.url)).call(),
            (Method::Post, Some(body)) => with_auth!(agent.post(call.url)).send_json(body),
            (Method::Post, None) => with_auth!(agent.post(call.url)).send_empty(),
            (Method::Put, Some(body)) => with_auth!(agent.put(call.url)).send_json(body),
            (Method::Put, None) => with_auth!(agent.put(call.url)).send_empty(),
        }
    }

    /// An unexpected status: retry 5xx/408/429 (with the server's wait hint), fail the rest.
    fn status_failure(&self, call: &Call, mut resp: Response<Body>) -> Attempt {
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = header("retry-after");
        let reset = header("x-ratelimit-reset");
        let location = header("location");
        let body = resp
            .body_mut()
            .with_config()
            .limit(ERROR_BODY_LIMIT)
            .lossy_utf8(true)
            .read_to_string()
            .unwrap_or_default();
        let mut message = report::status_error(
            call.doing,
            call.method.as_str(),
            call.url,
            status,
            &body,
            &call.hints,
        );
        if let Some(loc) = location.filter(|_| (300..400).contains(&status)) {
            message.push_str(&format!(" (to {})", strip_url(&loc)));
        }
        let message = call.redact(&message);
        if retry::retryable_status(status) {
            let wait =
                retry::server_hint(retry_after.as_deref(), reset.as_deref(), SystemTime::now());
            Attempt::Retry { message, wait }
        } else {
            Attempt::Fail(failure(Kind::Api, message))
        }
    }

    /// A failure below HTTP: connect errors, timeouts and cut connections are retried; TLS
    /// and setup errors are final.
    pub fn transport_failure(&self, call: &Call, err: impl Into<ureq::Error>) -> Attempt {
        use ureq::Error as E;
        let err = err.into();
        let tls_hint = if self.accept_any {
            "the TLS handshake failed even without certificate checks: is this an HTTPS port?"
        } else {
            "the server's certificate is not trusted or does not match the host name: give its \
             CA with --ca-file (PEM), or accept any certificate with --ssl-mode all"
        };
        let (retry, hint) = match &err {
            E::Io(io) if io.get_ref().is_some_and(|e| e.is::<rustls::Error>()) => (false, tls_hint),
            E::Rustls(_) | E::Tls(_) | E::Pem(_) => (false, tls_hint),
            E::Timeout(_) => (
                true,
                "no answer within the timeout: check the network path to the server",
            ),
            E::HostNotFound => (
                true,
                "the host name does not resolve: check the URL and DNS",
            ),
            E::ConnectionFailed | E::Io(_) => (
                true,
                "check the URL, the firewall and the proxy settings (HTTPS_PROXY/NO_PROXY)",
            ),
            E::ConnectProxyFailed(_) => {
                (true, "the proxy refused the connection: check HTTPS_PROXY")
            }
            E::Protocol(_) | E::BodyStalled => (true, "the server's answer was garbled or cut off"),
            E::BodyExceedsLimit(_) => (
                false,
                "the answer is far larger than Dynatrace sends: is this the right URL?",
            ),
            _ => (false, "unexpected HTTP client error"),
        };
        let message = report::transport_error(
            call.doing,
            call.method.as_str(),
            call.url,
            &err.to_string(),
            hint,
        );
        let message = call.redact(&message);
        if retry {
            Attempt::Retry {
                message,
                wait: None,
            }
        } else {
            Attempt::Fail(failure(Kind::Api, message))
        }
    }
}

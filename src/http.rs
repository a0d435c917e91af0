//! The one HTTP client: versioned User-Agent, connect/read timeouts, TLS (system roots plus
//! `--ca-file`, or `--ssl-mode all`), `http://` for loopback hosts only, the proxy from
//! `HTTPS_PROXY`/`ALL_PROXY` minus `NO_PROXY`, retries by error class with jittered backoff,
//! and a count of every request sent. It knows the Dynatrace error envelope and the
//! `Api-Token` header, nothing else of Dynatrace: callers supply URLs, scopes and hints.

mod call;
mod env;
mod failures;
mod messages;
mod retry;
mod tls;

use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client as Agent, RequestBuilder, Response};
use reqwest::Url;

use crate::error::{failure, Kind};

pub use call::{Attempt, Call, Method, Reply};
pub use env::{is_loopback, NetEnv, NoProxy};
use failures::error_chain;
pub use messages::strip_url;
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
    /// `--retries`: how many times a failed request is tried again (so `retries + 1` tries
    /// at most); only retryable failures are, within the backoff's total time bound.
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
            retries: 3,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
        }
    }
}

/// Bodies of JSON answers and error envelopes are small; anything bigger is not Dynatrace.
const JSON_LIMIT: u64 = 10 << 20;
const ERROR_BODY_LIMIT: u64 = 64 << 10;

pub struct Client {
    direct: Agent,
    /// The agent through the proxy, when one is configured, and how to name that proxy.
    proxied: Option<(Agent, String)>,
    no_proxy: NoProxy,
    tries: u32,
    backoff: Backoff,
    accept_any: bool,
    read_timeout: Duration,
    quiet: bool,
    /// `-vv`: one stderr line per request sent.
    trace: bool,
    sent: AtomicU32,
    lost: AtomicU32,
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
        let agent = |proxy: Option<reqwest::Proxy>| {
            let builder = reqwest::Client::builder()
                .user_agent(concat!("oneagent-bootstrap/", env!("CARGO_PKG_VERSION")))
                // A redirect would carry the token elsewhere or downgrade the scheme.
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(opts.connect_timeout)
                .tls_backend_preconfigured(tls.clone());
            // Never the proxy variables reqwest would read itself: ours decide, with NO_PROXY.
            let builder = match proxy {
                Some(p) => builder.proxy(p),
                None => builder.no_proxy(),
            };
            // The blocking client's timeout bounds the wait for the answer's headers and then
            // each read of its body: a per-read limit, so a long download is not cut, a
            // stalled one is. (The async client's own read timeout cannot be used here: its
            // body timer needs a runtime on the thread that reads the body.)
            reqwest::blocking::ClientBuilder::from(builder)
                .timeout(opts.read_timeout)
                .build()
                .map_err(|e| {
                    failure(
                        Kind::Internal,
                        format!("setting up the HTTP client: {}", error_chain(&e)),
                    )
                })
        };
        let proxied = match net.proxy() {
            Some((var, url)) => {
                // The parser's own message may repeat the URL, credentials included: not shown.
                let proxy = reqwest::Proxy::all(url).map_err(|_| {
                    failure(
                        Kind::Config,
                        format!(
                            "using the proxy from {var} ({}): not a usable proxy URL; give \
                             it as http://[user:password@]host:port",
                            strip_url(url)
                        ),
                    )
                })?;
                Some((agent(Some(proxy))?, format!("{var} ({})", strip_url(url))))
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
            direct: agent(None)?,
            proxied,
            no_proxy: NoProxy::parse(net.no_proxy.as_deref()),
            tries: opts.retries.saturating_add(1),
            backoff: Backoff::default(),
            accept_any,
            read_timeout: opts.read_timeout,
            quiet: false,
            trace: false,
            sent: AtomicU32::new(0),
            lost: AtomicU32::new(0),
        })
    }

    /// Replaces the backoff parameters (tests use short delays).
    #[cfg(test)]
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// No "retrying" notes on stderr (`-q`).
    pub fn quiet(mut self, quiet: bool) -> Self {
        self.quiet = quiet;
        self
    }

    /// One line per request on stderr (`-vv`).
    pub fn trace(mut self, trace: bool) -> Self {
        self.trace = trace;
        self
    }

    /// A failure while reading an answer's body (classified in failures.rs; download.rs
    /// streams bodies itself and reports through this).
    pub fn body_failure(&self, call: &Call, err: std::io::Error) -> Attempt {
        failures::body_failure(call, err, self.accept_any)
    }

    /// Requests sent so far, retries included.
    pub fn requests(&self) -> u32 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Tries whose answer never arrived whole (connection failed or cut, body unreadable): the
    /// server may have acted on them, e.g. minted a token nobody received.
    pub fn lost_answers(&self) -> u32 {
        self.lost.load(Ordering::Relaxed)
    }

    /// Sends `call` (with retries) and returns the first answer whose status is in `expect`,
    /// with its body read.
    pub fn call(&self, call: &Call, expect: &[u16]) -> anyhow::Result<Reply> {
        self.stream(call, expect, |resp| {
            let status = resp.status().as_u16();
            let mut body = Vec::new();
            if let Err(e) = resp.take(JSON_LIMIT + 1).read_to_end(&mut body) {
                return Err(self.body_failure(call, e));
            }
            if body.len() as u64 > JSON_LIMIT {
                return Err(Attempt::Fail(call.api_error(
                    "answered with a body far larger than Dynatrace sends: is this the right URL?",
                )));
            }
            match String::from_utf8(body) {
                Ok(body) => Ok(Reply { status, body }),
                Err(_) => Err(Attempt::Fail(call.api_error(&format!(
                    "answered {status} with a body that is not UTF-8 text: is this the right URL?"
                )))),
            }
        })
    }

    /// Sends `call` with retries; on a status in `expect` hands the response to `read`, whose
    /// [`Attempt::Retry`] starts the whole request again (e.g. a body cut short).
    pub fn stream<T>(
        &self,
        call: &Call,
        expect: &[u16],
        mut read: impl FnMut(Response) -> Result<T, Attempt>,
    ) -> anyhow::Result<T> {
        let (agent, proxy) = self.agent_for(call)?;
        let mut slept = Duration::ZERO;
        let mut attempt = 1;
        loop {
            self.check_deadline(call)?;
            self.sent.fetch_add(1, Ordering::Relaxed);
            let lost = |a: Attempt| {
                self.lost.fetch_add(1, Ordering::Relaxed);
                a
            };
            let started = Instant::now();
            let sent = self.send(agent, call);
            if self.trace {
                trace_line(call, &sent, started.elapsed(), attempt);
            }
            let outcome = match sent {
                Ok(resp) if expect.contains(&resp.status().as_u16()) => read(resp).map_err(lost),
                Ok(resp) => Err(failures::status_failure(call, resp)),
                Err(e) if never_connected(&e) => {
                    Err(failures::connect_failure(call, e, proxy, self.accept_any))
                }
                Err(e) => Err(lost(failures::connect_failure(
                    call,
                    e,
                    proxy,
                    self.accept_any,
                ))),
            };
            let (message, hint) = match outcome {
                Ok(v) => return Ok(v),
                Err(Attempt::Fail(e)) => return Err(e),
                Err(Attempt::Retry { message, wait }) => (message, wait),
            };
            self.check_deadline(call)?;
            let wait = self.backoff.wait(attempt, hint);
            let wait = match call.deadline {
                Some((at, _)) => wait.min(at.saturating_duration_since(Instant::now())),
                None => wait,
            };
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
            pause(wait, || format!("while waiting to retry: {}", call.doing))?;
            slept += wait;
            attempt += 1;
        }
    }

    /// Checks the scheme (plain `http://` only for loopback) and picks direct or proxied (then
    /// also naming the proxy).
    fn agent_for(&self, call: &Call) -> anyhow::Result<(&Agent, Option<&str>)> {
        let shown = strip_url(call.url);
        let bad = |why: &str| failure(Kind::Config, format!("{}: {shown}: {why}", call.doing));
        let uri = Url::parse(call.url)
            .map_err(|_| bad("not a valid URL; give it as https://host[:port]/path"))?;
        let host = uri.host_str().unwrap_or("");
        if host.is_empty() {
            return Err(bad(
                "the URL has no host; give it as https://host[:port]/path",
            ));
        }
        match uri.scheme() {
            "https" => {}
            "http" if is_loopback(host) => return Ok((&self.direct, None)),
            "http" => {
                return Err(bad(
                    "plain http:// is refused for a host that is not loopback (the token would \
                     cross the network in clear text); use https://",
                ))
            }
            _ => return Err(bad("only https:// URLs are supported")),
        }
        let port = uri.port_or_known_default().unwrap_or(443);
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match &self.proxied {
            Some((agent, name)) if !self.no_proxy.bypasses(bare, port) => {
                Ok((agent, Some(name.as_str())))
            }
            _ => Ok((&self.direct, None)),
        }
    }

    /// Kind::Api once the call's deadline has passed (body readers call it between chunks).
    pub fn check_deadline(&self, call: &Call) -> anyhow::Result<()> {
        match call.deadline {
            Some((at, limit)) if Instant::now() >= at => Err(failure(
                Kind::Api,
                format!(
                    "{}: {} {}: did not finish within {limit}: the server answers too slowly; \
                     check the network path, or raise the limit",
                    call.doing,
                    call.method.as_str(),
                    strip_url(call.url)
                ),
            )),
            _ => Ok(()),
        }
    }

    fn send(&self, agent: &Agent, call: &Call) -> reqwest::Result<Response> {
        let req = match call.method {
            Method::Get => agent.get(call.url),
            Method::Delete => agent.delete(call.url),
            Method::Post => with_body(agent.post(call.url), call.json),
            Method::Put => with_body(agent.put(call.url), call.json),
        };
        let req = match call.token {
            Some(t) => req.header("Authorization", format!("Api-Token {}", t.expose())),
            None => req,
        };
        // The deadline is checked before each try and by readers between chunks. A request
        // timeout would replace the per-read limit for the whole exchange, so it is set only
        // when the deadline is nearer than that limit: then it also ends a slow trickle.
        let left = call
            .deadline
            .map(|(at, _)| at.saturating_duration_since(Instant::now()));
        match left {
            Some(left) if left < self.read_timeout => req.timeout(left).send(),
            _ => req.send(),
        }
    }
}

/// `-vv`: `http: GET https://host/path -> 200 in 12 ms (try 1)`, the time to the answer's
/// headers. Never the query (it may name a tenant's settings) or userinfo, never a header.
fn trace_line(call: &Call, sent: &reqwest::Result<Response>, took: Duration, attempt: u32) {
    let answer = match sent {
        Ok(resp) => resp.status().as_u16().to_string(),
        Err(e) if e.is_timeout() => "timed out".into(),
        Err(_) => "no answer".into(),
    };
    let line = format!(
        "  http: {} {} -> {answer} in {} (try {attempt})",
        call.method.as_str(),
        strip_url(call.url),
        crate::report::took(took)
    );
    // The URL is already stripped; the redaction is for anything else a line could carry.
    eprintln!("{}", call.redact(&line));
}

/// A JSON body, or an explicitly empty one (`Content-Length: 0`, as servers expect of a POST).
fn with_body(req: RequestBuilder, json: Option<&serde_json::Value>) -> RequestBuilder {
    match json.map(serde_json::to_vec) {
        Some(Ok(bytes)) => req.header("Content-Type", "application/json").body(bytes),
        // A Value always serialises; were it not to, the server rejects the empty body (400).
        Some(Err(_)) | None => req.body(Vec::new()),
    }
}

/// The request never reached a server, which so cannot have acted on it (no connection, or
/// no TLS session: nothing was sent).
fn never_connected(e: &reqwest::Error) -> bool {
    e.is_connect()
}

/// Sleeps `wait` in short slices so a SIGINT/SIGTERM ends a retry pause (which may be 30 s when
/// the server asks for it) at once, through the run's normal cleanup.
fn pause(wait: Duration, during: impl Fn() -> String) -> anyhow::Result<()> {
    const SLICE: Duration = Duration::from_millis(50);
    let until = std::time::Instant::now() + wait;
    loop {
        crate::signals::check(Kind::Api, &during)?;
        let left = until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(SLICE));
    }
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

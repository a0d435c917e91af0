//! Test harness: a dtsim on port 0, temp dirs for state and install path, and a `#[must_use]`
//! builder that runs the real binary and, when an expectation fails, dumps the command, exit
//! status, stdout, stderr and dtsim's request log.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use dtsim::{Dtsim, Fault, FaultRule, Options};
use serde_json::Value;

// Helpers of tests/hardening_input.rs (token census, faults for N requests, private files).
mod input;
pub use input::write_private;
// The tests' own HTTP requests to dtsim.
pub mod http;
// One secret scan and one token census for every scenario test.
mod secrets;
// Snapshots of stderr and --json (tests/snapshots.rs).
mod snapshot;
#[allow(unused_imports)]
pub use secrets::{assert_clean, files_strictly_under, flock_held};
#[allow(unused_imports)]
pub use snapshot::assert_snapshot;

pub const BIN: &str = env!("CARGO_BIN_EXE_oneagent-bootstrap");
pub const PATTERN: &str = r"^(?P<customer>[a-z]+)-(?P<stage>[a-z])(?P<index>[0-9]+)-";
pub const TEMPLATE: &str = "{customer}-{stage}{index}";
pub const V_OLD: &str = "1.299.40.20250908-101500";
pub const V_MID: &str = "1.301.55.20260114-153010";
pub const V_NEW: &str = "1.303.12.20260310-090000";

pub struct World {
    pub sim: Dtsim,
    pub dir: tempfile::TempDir,
    pub state: PathBuf,
    pub install: PathBuf,
    pub ca: PathBuf,
    pub cluster_token_file: PathBuf,
}

impl World {
    pub fn new() -> World {
        World::with(Options::default())
    }

    pub fn with(o: Options) -> World {
        let tls = o.tls;
        let sim = Dtsim::start_with(o).expect("dtsim starts");
        if tls {
            http::trust(&sim.ca_pem());
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = dir.path().join("dtsim-ca.pem");
        std::fs::write(&ca, sim.ca_pem()).expect("write CA");
        let cluster_token_file = dir.path().join("cluster-token");
        write_private(&cluster_token_file, &sim.cluster_token());
        World {
            state: dir.path().join("state"),
            install: dir.path().join("oneagent"),
            sim,
            dir,
            ca,
            cluster_token_file,
        }
    }

    /// `oneagent-bootstrap SUB` with the usual options: dtsim, temp state and install path,
    /// the dtsim CA for signatures, host `abc-p1-web01` -> tenant `abc-p1`, cluster token file.
    pub fn cmd(&self, sub: &str) -> Run<'_> {
        Run {
            world: self,
            args: vec![
                sub.to_string(),
                "--cluster-url".into(),
                self.sim.url(),
                "--state-dir".into(),
                self.state.display().to_string(),
                "--install-path".into(),
                self.install.display().to_string(),
                "--installer-ca-file".into(),
                self.ca.display().to_string(),
                "--fact".into(),
                "hostname=abc-p1-web01".into(),
                "--hostname-pattern".into(),
                PATTERN.into(),
                "--tenant-template".into(),
                TEMPLATE.into(),
            ],
            env: vec![(
                "DT_CLUSTER_TOKEN_FILE".into(),
                self.cluster_token_file.display().to_string(),
            )],
            stdin: None,
            bare: false,
        }
    }

    /// The binary with only these arguments (no defaults at all).
    pub fn bare(&self, args: &[&str]) -> Run<'_> {
        Run {
            world: self,
            args: args.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            stdin: None,
            bare: true,
        }
    }

    pub fn oneagentctl(&self, args: &[&str]) -> String {
        let out = Command::new(self.install.join("agent/tools/oneagentctl"))
            .args(args)
            .output()
            .expect("oneagentctl runs");
        assert!(out.status.success(), "oneagentctl {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Replaces the installed program `rel` (under the install path) by a shell wrapper: when
    /// its first argument matches the shell pattern `when`, it runs the shell code `then`;
    /// otherwise it runs the original, moved aside to `rel` with the extension `.real`.
    pub fn wrap_program(&self, rel: &str, when: &str, then: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.install.join(rel);
        let real = path.with_extension("real");
        std::fs::rename(&path, &real).expect("move the original aside");
        let script = format!(
            "#!/bin/sh\ncase \"$1\" in {when}) {then} ;; esac\nexec '{}' \"$@\"\n",
            real.display()
        );
        std::fs::write(&path, script).expect("write the wrapper");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    pub fn installed(&self) -> bool {
        self.install.join("agent/tools/oneagentctl").exists()
    }

    pub fn fault(&self, method: &str, path: &str, fault: Fault) {
        self.sim.add_fault(FaultRule {
            method: Some(method.into()),
            path: path.into(),
            times: None,
            fraction: None,
            fault,
        });
    }

    /// "METHOD /path" of every request dtsim saw, query strings dropped.
    pub fn requests(&self) -> Vec<String> {
        self.sim
            .requests()
            .iter()
            .map(|r| {
                let path = r.path.split('?').next().unwrap_or_default();
                format!("{} {path}", r.method)
            })
            .collect()
    }

    pub fn admin(&self, path: &str) -> Value {
        http::get_json(&format!("{}{path}", self.sim.url()), None)
    }

    pub fn status_json(&self) -> Value {
        let text = std::fs::read_to_string(self.state.join("status.json")).expect("status.json");
        serde_json::from_str(&text).expect("status.json is JSON")
    }

    /// `apply` with `--api-url` pointing at another tenant (a misrouted ActiveGate) and that
    /// tenant's InstallerDownload token: its installer installs fine but attaches the host to
    /// that tenant, which the confirmation must catch (exit 6).
    pub fn misrouted_apply(&self, extra: &[&str]) -> Done<'_> {
        let token = self.env_token("other-t1", &["InstallerDownload"]);
        let api_url = format!("{}/e/other-t1/api", self.sim.url());
        self.cmd("apply")
            .without_cluster_token()
            .env("DT_API_TOKEN", &token)
            .args(&["--api-url", &api_url])
            .args(extra)
            .run()
    }

    /// Creates environment `env` (if needed) and mints a token there with `scopes`, the way an
    /// operator would; the request log is cleared afterwards.
    pub fn env_token(&self, env: &str, scopes: &[&str]) -> String {
        let base = self.sim.url();
        let cluster = self.sim.cluster_token();
        let auth = Some(cluster.as_str());
        self.environment(env);
        let tm = http::send_json(
            reqwest::Method::POST,
            &format!("{base}/api/cluster/v2/environments/{env}/tokenManagementToken"),
            auth,
            &serde_json::json!({"name": "test", "expiresIn": {"value": 300, "unit": "SECONDS"}}),
        );
        let tm = tm["token"].as_str().expect("token").to_string();
        let t = http::send_json(
            reqwest::Method::POST,
            &format!("{base}/e/{env}/api/v2/apiTokens"),
            Some(&tm),
            &serde_json::json!({"name": "test token", "scopes": scopes}),
        );
        self.sim.clear_requests();
        t["token"].as_str().expect("token").to_string()
    }

    /// Sets the environment's OneAgent updates target version (what `latest` means for the
    /// Deployment API [doc: "OneAgent update"]) through the settings API, with a settings token
    /// minted the way an operator would.
    pub fn set_target_version(&self, env: &str, version: &str) {
        let base = self.sim.url();
        let st = self.env_token(env, &["settings.write"]);
        let short = version.split('.').take(2).collect::<Vec<_>>().join(".");
        // send_json asserts a success status.
        http::send_json(
            reqwest::Method::POST,
            &format!("{base}/e/{env}/api/v2/settings/objects"),
            Some(&st),
            &serde_json::json!([{
                "schemaId": "builtin:deployment.oneagent.updates",
                "scope": "environment",
                "value": {"updateMode": "MANUAL", "targetVersion": short, "revision": version,
                    "maintenanceWindows": []}
            }]),
        );
        self.sim.clear_requests();
    }

    /// Every file under `dir`, recursively.
    pub fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    todo.push(p);
                } else {
                    out.push(p);
                }
            }
        }
        out
    }
}

#[must_use]
pub struct Run<'w> {
    world: &'w World,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Option<String>,
    bare: bool,
}

impl<'w> Run<'w> {
    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.to_string());
        self
    }

    pub fn args(mut self, a: &[&str]) -> Self {
        self.args.extend(a.iter().map(|s| s.to_string()));
        self
    }

    /// Replaces the value of a default option (single-valued options may appear only once).
    pub fn set(mut self, flag: &str, value: &str) -> Self {
        match self.args.iter().position(|a| a == flag) {
            Some(i) if i + 1 < self.args.len() => self.args[i + 1] = value.to_string(),
            _ => self.args.extend([flag.to_string(), value.to_string()]),
        }
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn stdin(mut self, s: &str) -> Self {
        self.stdin = Some(s.into());
        self
    }

    pub fn without_cluster_token(mut self) -> Self {
        self.env.retain(|(k, _)| k != "DT_CLUSTER_TOKEN_FILE");
        self
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        // Hermetic: nothing from the developer's environment (DT_*, proxies) leaks in.
        c.env_clear()
            .env(
                "PATH",
                std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
            )
            // A host's real /etc/oneagent-bootstrap/config.toml must not steer the tests;
            // tests that want the default path set this variable themselves (later wins).
            .env(
                "ONEAGENT_BOOTSTRAP_DEFAULT_CONFIG",
                "/nonexistent/oneagent-bootstrap/config.toml",
            )
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        c
    }

    pub fn spawn(self) -> std::process::Child {
        self.command()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts")
    }

    pub fn run(self) -> Done<'w> {
        use std::io::Write;
        let mut c = self.command();
        c.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = c.spawn().expect("the binary starts");
        if let Some(input) = &self.stdin {
            let mut pipe = child.stdin.take().expect("stdin pipe");
            pipe.write_all(input.as_bytes()).expect("write stdin");
        }
        let out = child.wait_with_output().expect("the binary finishes");
        Done {
            world: self.world,
            args: self.args,
            code: out.status.code().unwrap_or(-1),
            signal: std::os::unix::process::ExitStatusExt::signal(&out.status),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// A run still going (for tests that signal it): its output is collected on threads so the
/// pipes never fill up.
pub struct Running<'w> {
    world: &'w World,
    args: Vec<String>,
    child: std::process::Child,
    stdout: Option<std::thread::JoinHandle<String>>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl<'w> Run<'w> {
    /// Spawns the binary and returns at once. It starts with the default action for SIGINT and
    /// SIGTERM whatever this test process inherited (a runner started in the background has
    /// SIGINT ignored, which the binary would keep).
    pub fn start(self) -> Running<'w> {
        use std::os::unix::process::CommandExt;
        let world = self.world;
        let args = self.args.clone();
        let mut cmd = self.command();
        // SAFETY: only signal(2) runs between fork and exec, which is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                for sig in [libc::SIGINT, libc::SIGTERM] {
                    if libc::signal(sig, libc::SIG_DFL) == libc::SIG_ERR {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let collect = |r: Option<Box<dyn std::io::Read + Send>>| {
            r.map(|mut r| {
                std::thread::spawn(move || {
                    let mut buf = Vec::new();
                    let _ = r.read_to_end(&mut buf);
                    String::from_utf8_lossy(&buf).into_owned()
                })
            })
        };
        let stdout = collect(child.stdout.take().map(|r| Box::new(r) as _));
        let stderr = collect(child.stderr.take().map(|r| Box::new(r) as _));
        Running {
            world,
            args,
            child,
            stdout,
            stderr,
        }
    }
}

impl<'w> Running<'w> {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends `sig` to the binary (only to it, not to its process group).
    pub fn signal(&self, sig: i32) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits");
        // SAFETY: kill only sends a signal, to our own child.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(
            rc,
            0,
            "kill({pid}, {sig}): {}",
            std::io::Error::last_os_error()
        );
    }

    /// Waits up to `within` for the exit; past that the binary is killed and the test fails.
    #[track_caller]
    pub fn finish(mut self, within: std::time::Duration) -> Done<'w> {
        let deadline = std::time::Instant::now() + within;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break Some(s);
            }
            if std::time::Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        let join = |h: Option<std::thread::JoinHandle<String>>| {
            h.and_then(|h| h.join().ok()).unwrap_or_default()
        };
        let done = Done {
            world: self.world,
            args: self.args,
            code: status.and_then(|s| s.code()).unwrap_or(-1),
            signal: status.and_then(|s| std::os::unix::process::ExitStatusExt::signal(&s)),
            stdout: join(self.stdout.take()),
            stderr: join(self.stderr.take()),
        };
        assert!(
            status.is_some(),
            "still running after {within:?}; killed{}",
            done.dump()
        );
        done
    }
}

/// A process seen in /proc: pid, process group, state letter, command line (NULs as spaces).
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: u32,
    pub pgid: u32,
    pub state: char,
    pub cmdline: String,
}

/// Every process this user can see in /proc (processes that end while we look are skipped).
pub fn processes() -> Vec<Proc> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // "pid (comm) S ppid pgrp ...": comm may hold spaces and parentheses; split after the last ')'.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let (Some(state), Some(pgid)) = (
            fields.first().and_then(|s| s.chars().next()),
            fields.get(2).and_then(|s| s.parse::<u32>().ok()),
        ) else {
            continue;
        };
        let cmdline = std::fs::read(e.path().join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        out.push(Proc {
            pid,
            pgid,
            state,
            cmdline,
        });
    }
    out
}

/// Processes still running (not zombies) in process group `pgid`.
pub fn alive_in_group(pgid: u32) -> Vec<Proc> {
    processes()
        .into_iter()
        .filter(|p| p.pgid == pgid && !matches!(p.state, 'Z' | 'X'))
        .collect()
}

pub struct Done<'w> {
    world: &'w World,
    pub args: Vec<String>,
    pub code: i32,
    /// The signal that ended the binary, if one did (then `code` is -1).
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Done<'_> {
    pub fn dump(&self) -> String {
        let status = std::fs::read_to_string(self.world.state.join("status.json"))
            .unwrap_or_else(|_| "(none)".into());
        format!(
            "\n--- command: oneagent-bootstrap {}\n--- exit: {} (signal {:?})\n--- stdout:\n{}\n--- stderr:\n{}\n--- dtsim requests:\n{}\n--- status.json:\n{}\n",
            self.args.join(" "),
            self.code,
            self.signal,
            self.stdout,
            self.stderr,
            self.world
                .sim
                .requests()
                .iter()
                .map(|r| format!("{} {} -> {}", r.method, r.path, r.status))
                .collect::<Vec<_>>()
                .join("\n"),
            status
        )
    }

    #[track_caller]
    pub fn code(&self, want: i32) -> &Self {
        assert_eq!(self.code, want, "unexpected exit code{}", self.dump());
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}{}",
            self.dump()
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}{}",
            self.dump()
        );
        self
    }

    #[track_caller]
    pub fn requests(&self, want: &[&str]) -> &Self {
        let got = self.world.requests();
        assert_eq!(got, want, "unexpected requests{}", self.dump());
        self
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}){}", self.dump()))
    }

    #[track_caller]
    pub fn check(&self, ok: bool, what: &str) -> &Self {
        assert!(ok, "{what}{}", self.dump());
        self
    }
}

/// Anything shaped like a full Dynatrace token (`dt0c01.` + 24 + `.` + 64 characters).
pub fn find_token(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(i) = text[from..].find("dt0c01.") {
        let start = from + i;
        let rest = &bytes[start + 7..];
        let public = rest
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        if public >= 8 && rest.get(public) == Some(&b'.') {
            let secret = rest[public + 1..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
            if secret >= 16 {
                return Some(text[start..start + 7 + public + 1 + secret].to_string());
            }
        }
        from = start + 7;
    }
    None
}

// ---- tests/parity.rs ----

impl World {
    /// Downloads the `latest` x86 installer of environment `env` the way an operator would for
    /// an air-gapped host, into a file of the test's temp dir; the request log is cleared.
    pub fn installer_file(&self, env: &str) -> PathBuf {
        let token = self.env_token(env, &["InstallerDownload"]);
        let url = format!(
            "{}/e/{env}/api/v1/deployment/installer/agent/unix/default/latest?arch=x86&flavor=default",
            self.sim.url()
        );
        let body = http::get_bytes(&url, Some(&token));
        let path = self.dir.path().join(format!("{env}-installer.sh"));
        std::fs::write(&path, body).expect("write installer");
        self.sim.clear_requests();
        path
    }

    /// `oneagentctl --get-deployment-metadata` as KEY -> VALUE.
    pub fn deployment_metadata(&self) -> std::collections::BTreeMap<String, String> {
        self.oneagentctl(&["--get-deployment-metadata"])
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

impl Run<'_> {
    /// Drops a default option and its value (e.g. `--cluster-url` for local-only runs).
    pub fn without(mut self, flag: &str) -> Self {
        if let Some(i) = self.args.iter().position(|a| a == flag) {
            self.args.drain(i..(i + 2).min(self.args.len()));
        }
        self
    }

    /// No Dynatrace address and no token: only local work can succeed.
    pub fn offline(self) -> Self {
        self.without("--cluster-url").without_cluster_token()
    }
}

// --- hardening-fs helpers ---

/// `uid` and `gid` of an unprivileged user that exists on this machine (nobody).
pub const NOBODY: u32 = 65534;

pub fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", p.display()));
}

/// Runs `args` as the unprivileged user [`NOBODY`] (a real second user, through setpriv);
/// whether it succeeded.
pub fn as_nobody(args: &[&str]) -> bool {
    let status = Command::new("setpriv")
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "--",
        ])
        .args(args)
        .status()
        .expect("setpriv runs");
    status.success()
}

/// Processes whose command line contains `needle` (not zombies).
pub fn running_with(needle: &str) -> Vec<Proc> {
    processes()
        .into_iter()
        .filter(|p| p.cmdline.contains(needle) && !matches!(p.state, 'Z' | 'X'))
        .collect()
}

// ---- user groups (tests/groups.rs) ----

impl World {
    /// Every user group on the cluster (`GET /api/v1.0/onpremise/groups`). The group helpers'
    /// requests show in dtsim's log: clear it before a run whose requests a test asserts.
    pub fn groups(&self) -> Vec<Value> {
        let v = http::get_json(
            &format!("{}/api/v1.0/onpremise/groups", self.sim.url()),
            Some(&self.sim.cluster_token()),
        );
        v.as_array().cloned().expect("a list of groups")
    }

    /// The group named `name`.
    #[track_caller]
    pub fn group(&self, name: &str) -> Value {
        self.groups()
            .into_iter()
            .find(|g| g["name"] == name)
            .unwrap_or_else(|| panic!("no group {name:?}"))
    }

    /// Creates (POST) or replaces (PUT, `body` has the id) a group the way an operator would.
    pub fn write_group(&self, body: Value) -> Value {
        let url = format!("{}/api/v1.0/onpremise/groups", self.sim.url());
        let method = if body.get("id").is_some() {
            reqwest::Method::PUT
        } else {
            reqwest::Method::POST
        };
        http::send_json(method, &url, Some(&self.sim.cluster_token()), &body)
    }

    /// Creates environment `id` (other customers' tenants that groups may hold rights on).
    pub fn environment(&self, id: &str) {
        http::send_json(
            reqwest::Method::PUT,
            &format!("{}/api/cluster/v2/environments/{id}", self.sim.url()),
            Some(&self.sim.cluster_token()),
            &serde_json::json!({"name": id}),
        );
    }
}

impl<'w> Run<'w> {
    /// Runs as host `hostname`, with its own state dir and install path under the world's
    /// temp dir (several hosts of one cluster).
    pub fn host(self, hostname: &str) -> Self {
        let base = self.world.dir.path().join(hostname);
        let state = base.join("state").display().to_string();
        let install = base.join("oneagent").display().to_string();
        self.set("--fact", &format!("hostname={hostname}"))
            .set("--state-dir", &state)
            .set("--install-path", &install)
    }
}

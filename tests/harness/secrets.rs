//! The two promises every scenario test checks through one place: no secret the run could see
//! reaches an output or a file we write, and no token the run created outlives it.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{find_token, Done, World};

/// Longest run of upper-case base32 letters an output may hold. dtsim's tenant tokens are 16
/// of them and the secret half of a `dt0c01` token 64; token ids (24) and version strings are
/// fine. The tenant tokens are also matched by value.
const BASE32_RUN_LIMIT: usize = 39;

/// How long a token the run created may stay usable: the minted download token expires in
/// 15 minutes (README "Tokens"), a little slack for the clock between the run and the check.
const SHORT_LIVED_MS: u64 = 15 * 60 * 1000 + 60_000;

/// Every file under `dir`, recursively; a missing or unreadable directory fails the test (a
/// scan of nothing proves nothing).
#[track_caller]
pub fn files_strictly_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let entries =
            std::fs::read_dir(&d).unwrap_or_else(|e| panic!("listing {}: {e}", d.display()));
        for e in entries {
            let p = e.expect("directory entry").path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn longest_base32_run(text: &str) -> usize {
    text.split(|c: char| !matches!(c, 'A'..='Z' | '2'..='7'))
        .map(str::len)
        .max()
        .unwrap_or(0)
}

/// Fails when `text` holds one of `secrets`, anything token-shaped, or a long base32 run.
#[track_caller]
pub fn assert_clean(where_: &str, text: &str, secrets: &[(String, String)]) {
    for (name, value) in secrets {
        assert!(
            value.is_empty() || !text.contains(value.as_str()),
            "the {name} leaked into {where_}:\n{text}"
        );
    }
    assert_eq!(
        find_token(text),
        None,
        "a token leaked into {where_}:\n{text}"
    );
    assert!(
        longest_base32_run(text) <= BASE32_RUN_LIMIT,
        "something secret-shaped (a long base32 run) is in {where_}:\n{text}"
    );
}

impl World {
    /// Every secret this world's runs could see: the cluster token, every environment's
    /// tenant token, and `extra` (proxy passwords, tokens a test minted).
    pub fn secrets(&self, extra: &[&str]) -> Vec<(String, String)> {
        let mut out = vec![("cluster token".to_string(), self.sim.cluster_token())];
        out.extend(
            self.sim
                .tenant_tokens()
                .into_iter()
                .map(|t| ("tenant token".to_string(), t)),
        );
        out.extend(
            extra
                .iter()
                .map(|s| ("test secret".to_string(), s.to_string())),
        );
        out
    }

    /// No secret in the stdout or stderr of `runs`, nor in any file under the state dir
    /// (status.json, last-install.log, version-check.json, temp leftovers).
    #[track_caller]
    pub fn assert_no_secrets(&self, runs: &[&Done], extra: &[&str]) {
        self.assert_no_secrets_in(runs, &[&self.state], extra);
    }

    /// Like [`World::assert_no_secrets`], over the files under each of `dirs`.
    #[track_caller]
    pub fn assert_no_secrets_in(&self, runs: &[&Done], dirs: &[&Path], extra: &[&str]) {
        let secrets = self.secrets(extra);
        for (i, r) in runs.iter().enumerate() {
            assert_clean(&format!("stdout of run {i}"), &r.stdout, &secrets);
            assert_clean(&format!("stderr of run {i}"), &r.stderr, &secrets);
        }
        for dir in dirs {
            for f in files_strictly_under(dir) {
                let bytes =
                    std::fs::read(&f).unwrap_or_else(|e| panic!("reading {}: {e}", f.display()));
                assert_clean(
                    &f.display().to_string(),
                    &String::from_utf8_lossy(&bytes),
                    &secrets,
                );
            }
        }
    }

    /// dtsim's token overview (`/__dtsim/tokens`).
    pub fn tokens(&self) -> Vec<Value> {
        self.admin("/__dtsim/tokens")
            .as_array()
            .cloned()
            .expect("a list of tokens")
    }

    /// Every token the runs created is dead, or expires within 15 minutes; returns them. Not
    /// the runs': cluster tokens and the ones the harness mints (named `test...`, `census`).
    #[track_caller]
    pub fn assert_run_tokens_short_lived(&self) -> Vec<Value> {
        // dtsim's clock, which tests may have moved forward (`/__dtsim/clock`).
        let now_ms = self.admin("/__dtsim/clock")["nowMs"]
            .as_u64()
            .expect("dtsim's clock");
        let created: Vec<Value> = self
            .tokens()
            .into_iter()
            .filter(|t| !t["environment"].is_null())
            .filter(|t| {
                let name = t["name"].as_str().expect("token name");
                !name.starts_with("test") && name != "census"
            })
            .collect();
        for t in &created {
            let short = t["expiresMs"]
                .as_u64()
                .is_some_and(|at| at <= now_ms + SHORT_LIVED_MS);
            assert!(
                t["alive"] == false || short,
                "a token the run created is alive and not short-lived: {t}"
            );
        }
        created
    }

    /// The run minted exactly one `InstallerDownload` token in `env`, deleted it (204), and
    /// dtsim counts it dead; every other token it created is dead or short-lived. Returns the
    /// minted token's id.
    #[track_caller]
    pub fn assert_minted_token_revoked(&self, env: &str) -> String {
        let created = self.assert_run_tokens_short_lived();
        let minted: Vec<&Value> = created
            .iter()
            .filter(|t| {
                t["environment"] == env && t["scopes"] == serde_json::json!(["InstallerDownload"])
            })
            .collect();
        assert_eq!(
            minted.len(),
            1,
            "not one minted download token: {created:?}"
        );
        let id = minted[0]["id"].as_str().expect("id").to_string();
        assert_eq!(minted[0]["alive"], false, "minted token {id} still alive");
        let log = self.sim.requests();
        let deleted = log.iter().any(|r| {
            r.method == "DELETE" && r.path.ends_with(&format!("/apiTokens/{id}")) && r.status == 204
        });
        assert!(deleted, "no successful DELETE of {id} in {log:?}");
        id
    }
}

/// Whether another process holds an flock on `path` (what the binary's lock is): a
/// non-blocking `flock` from here fails while it does. A missing file is not held.
pub fn flock_held(path: &Path) -> bool {
    use std::os::unix::io::AsRawFd;
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    // SAFETY: flock on a descriptor this function owns; closing it drops our lock.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    rc != 0
}

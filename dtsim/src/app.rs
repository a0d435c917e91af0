//! The shared state behind every request: data, request log, faults, installer factory.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::faults::FaultSet;
use crate::installer::{Ca, Factory};
use crate::ratelimit::{Limiter, RateLimits};
use crate::request_log::RequestLog;
use crate::state::Data;

/// One entry of the request log (`GET /__dtsim/requests`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    pub method: String,
    /// Path and query string, minus any `api-token` parameter.
    pub path: String,
    pub status: u16,
    /// `dt0c01.PUBLIC` of the presented token, never its secret.
    pub token_id: Option<String>,
}

pub struct App {
    pub data: Mutex<Data>,
    pub log: Mutex<RequestLog>,
    pub faults: Mutex<FaultSet>,
    /// The base URL clients use (`http://127.0.0.1:PORT`), for `Location` and connectioninfo.
    pub base_url: String,
    pub ca: Arc<Ca>,
    pub factory: Arc<Factory>,
    pub installer_size: Option<u64>,
    pub state_file: Option<PathBuf>,
    /// Woken after every change so the saver task writes the state file.
    pub changed: Notify,
    /// Serialises writers of the state file (the saver task and the final save).
    pub saving: Mutex<()>,
    /// Per-endpoint request counts behind the `X-RateLimit-*` headers.
    pub rate: Mutex<RateLimits>,
    /// `--rate-limit` / `--cluster-rate-limit`: refuses with 429 once a quota is spent.
    pub limiter: Mutex<Limiter>,
    /// What token expiry is checked against (movable through `/__dtsim/clock`).
    pub clock: Clock,
}

/// Locks a mutex, recovering from poisoning: every critical section leaves the data consistent
/// (single inserts/removes), and one panicking request must not take the simulator down.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl App {
    pub fn data(&self) -> MutexGuard<'_, Data> {
        lock(&self.data)
    }

    /// Call after a change to `data` (with the lock released) to get it persisted.
    pub fn mark_changed(&self) {
        if self.state_file.is_some() {
            self.changed.notify_one();
        }
    }

    pub fn record(&self, r: RequestRecord) {
        lock(&self.log).push(r);
    }

    /// Writes the state file now (no-op without `--state-file`).
    pub fn save(&self) -> anyhow::Result<()> {
        if let Some(path) = &self.state_file {
            let _one_writer = lock(&self.saving);
            let snapshot = self.data().clone();
            snapshot.save(path)?;
        }
        Ok(())
    }
}

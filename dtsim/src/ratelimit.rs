//! Rate limits. The `X-RateLimit-*` headers of ordinary responses [doc: "Dynatrace API - Access
//! limit"]: `Limit` is the per-minute quota of the endpoint, `Remaining` what is left of it in
//! the current minute, `Reset` when that minute ends (epoch **microseconds**). Those quotas are
//! only counted. The optional [`Limiter`] (`--rate-limit`, `--cluster-rate-limit`) refuses:
//! requests per minute per token and for the whole cluster, answered with 429, `Retry-After`
//! and the same three headers. Dynatrace documents a request pool per environment rather than a
//! published number; a minute quota is the simplest model that makes clients back off.

use std::collections::HashMap;

use hyper::header::{HeaderMap, HeaderValue};

/// Requests per minute and endpoint; also what the `rate_limit` fault announces.
pub const LIMIT_PER_MINUTE: u32 = 1000;
const MINUTE_US: u128 = 60_000_000;
/// Below this many windows, expired ones are left alone.
const MIN_PRUNE: usize = 10_000;

/// What one endpoint (or token, or the cluster) has left in its current minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub remaining: u32,
    pub reset_micros: u128,
}

impl Quota {
    /// Adds the three headers unless the answer already carries them (a 429 does).
    pub fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in [
            ("x-ratelimit-limit", self.limit.to_string()),
            ("x-ratelimit-remaining", self.remaining.to_string()),
            ("x-ratelimit-reset", self.reset_micros.to_string()),
        ] {
            if !headers.contains_key(name) {
                if let Ok(v) = HeaderValue::from_str(&value) {
                    headers.insert(name, v);
                }
            }
        }
    }

    /// Whole seconds until the reset (at least 1), for `Retry-After`.
    pub fn retry_after_secs(&self, now_us: u128) -> u64 {
        let left = self.reset_micros.saturating_sub(now_us);
        (left.div_ceil(1_000_000) as u64).max(1)
    }
}

/// One-minute windows by key, each started by the key's first request. Keys carry ids (paths,
/// tokens), so expired windows are dropped; the sweep runs when the map has doubled since the
/// last one, which keeps it amortised O(1) per request even with many live windows.
#[derive(Debug)]
struct Windows {
    map: HashMap<String, (u128, u32)>,
    sweep_at: usize,
}

impl Default for Windows {
    fn default() -> Windows {
        Windows {
            map: HashMap::new(),
            sweep_at: MIN_PRUNE,
        }
    }
}

impl Windows {
    /// The window of `key` at `now_us` (a fresh one if the last has ended) and its use so far.
    fn current(&mut self, key: &str, now_us: u128) -> &mut (u128, u32) {
        if self.map.len() >= self.sweep_at {
            self.map.retain(|_, (start, _)| now_us < *start + MINUTE_US);
            self.sweep_at = (self.map.len() * 2).max(MIN_PRUNE);
        }
        let w = self.map.entry(key.to_string()).or_insert((now_us, 0));
        if now_us >= w.0 + MINUTE_US {
            *w = (now_us, 0);
        }
        w
    }
}

fn quota(limit: u32, (start, used): (u128, u32)) -> Quota {
    Quota {
        limit,
        remaining: limit.saturating_sub(used),
        reset_micros: start + MINUTE_US,
    }
}

/// Per-endpoint (`METHOD path`) counts behind the headers of ordinary answers.
#[derive(Debug, Default)]
pub struct RateLimits {
    windows: Windows,
}

impl RateLimits {
    /// Counts one request to `endpoint` at `now_us` and returns that endpoint's quota.
    pub fn count(&mut self, endpoint: &str, now_us: u128) -> Quota {
        let w = self.windows.current(endpoint, now_us);
        w.1 = w.1.saturating_add(1);
        quota(LIMIT_PER_MINUTE, *w)
    }
}

/// Limits that refuse: requests per minute per token and for the whole cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests per minute any one token may make (by the id presented, valid or not).
    pub per_token: Option<u32>,
    /// Requests per minute over all API routes together.
    pub cluster: Option<u32>,
}

#[derive(Debug, Default)]
pub struct Limiter {
    limit: RateLimit,
    tokens: Windows,
    cluster: Windows,
}

const CLUSTER_KEY: &str = "";

impl Limiter {
    pub fn new(limit: RateLimit) -> Limiter {
        Limiter {
            limit,
            ..Limiter::default()
        }
    }

    /// Admits and counts a request made with `token_id` at `now_us`, or refuses it with the
    /// exhausted quota that ends last. Refused requests are not counted: a client that waits
    /// for the reset gets in.
    pub fn admit(&mut self, token_id: Option<&str>, now_us: u128) -> Result<(), Quota> {
        let mut refused: Option<Quota> = None;
        let mut refuse = |q: Quota| {
            if refused.is_none_or(|r| q.reset_micros > r.reset_micros) {
                refused = Some(q);
            }
        };
        if let Some(limit) = self.limit.cluster {
            let w = *self.cluster.current(CLUSTER_KEY, now_us);
            if w.1 >= limit {
                refuse(quota(limit, w));
            }
        }
        if let (Some(limit), Some(id)) = (self.limit.per_token, token_id) {
            let w = *self.tokens.current(id, now_us);
            if w.1 >= limit {
                refuse(quota(limit, w));
            }
        }
        if let Some(q) = refused {
            return Err(q);
        }
        if self.limit.cluster.is_some() {
            self.cluster.current(CLUSTER_KEY, now_us).1 += 1;
        }
        if let (Some(_), Some(id)) = (self.limit.per_token, token_id) {
            self.tokens.current(id, now_us).1 += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u128 = 1_700_000_000_000_000;

    #[test]
    fn windows_per_endpoint_and_minute() {
        let mut r = RateLimits::default();
        assert_eq!(r.count("GET /a", T).remaining, LIMIT_PER_MINUTE - 1);
        let q = r.count("GET /a", T + 5);
        assert_eq!(
            (q.remaining, q.reset_micros),
            (LIMIT_PER_MINUTE - 2, T + MINUTE_US)
        );
        assert_eq!(r.count("GET /b", T + 5).remaining, LIMIT_PER_MINUTE - 1);
        let q = r.count("GET /a", T + MINUTE_US);
        assert_eq!(
            (q.remaining, q.reset_micros),
            (LIMIT_PER_MINUTE - 1, T + 2 * MINUTE_US)
        );
        for _ in 0..2 * LIMIT_PER_MINUTE {
            r.count("GET /c", T);
        }
        assert_eq!(r.count("GET /c", T).remaining, 0);
        for i in 0..MIN_PRUNE - 3 {
            r.count(&format!("GET /old/{i}"), T);
        }
        r.count("GET /new", T + MINUTE_US);
        assert!(r.windows.map.len() < 10, "expired minutes are dropped");
    }

    #[test]
    fn many_live_windows_do_not_sweep_on_every_request() {
        let mut r = RateLimits::default();
        for i in 0..5 * MIN_PRUNE {
            r.count(&format!("GET /live/{i}"), T);
        }
        assert_eq!(r.windows.map.len(), 5 * MIN_PRUNE, "live windows are kept");
        assert!(
            r.windows.sweep_at > 5 * MIN_PRUNE,
            "next sweep only after doubling"
        );
    }

    #[test]
    fn limiter_refuses_per_token_and_per_cluster_until_the_reset() {
        let mut l = Limiter::new(RateLimit {
            per_token: Some(2),
            cluster: Some(5),
        });
        assert_eq!(l.admit(Some("a"), T), Ok(()));
        assert_eq!(l.admit(Some("a"), T + 1), Ok(()));
        let q = l
            .admit(Some("a"), T + 2)
            .expect_err("third request of token a");
        assert_eq!(
            (q.limit, q.remaining, q.reset_micros),
            (2, 0, T + MINUTE_US)
        );
        assert_eq!(q.retry_after_secs(T + 2), 60);
        assert_eq!(q.retry_after_secs(T + MINUTE_US - 1), 1);
        // Other tokens still get in until the cluster's quota is gone; no token counts too.
        assert_eq!(l.admit(Some("b"), T + 3), Ok(()));
        assert_eq!(l.admit(None, T + 4), Ok(()));
        assert_eq!(l.admit(Some("c"), T + 5), Ok(()));
        let q = l.admit(Some("d"), T + 6).expect_err("cluster quota spent");
        assert_eq!((q.limit, q.remaining), (5, 0));
        // Refusals were not counted: after the reset both quotas are whole again.
        let later = T + MINUTE_US;
        assert_eq!(l.admit(Some("a"), later), Ok(()));
        assert_eq!(l.admit(Some("a"), later), Ok(()));
        assert!(l.admit(Some("a"), later).is_err());

        let mut off = Limiter::new(RateLimit::default());
        for _ in 0..10_000 {
            assert_eq!(off.admit(Some("a"), T), Ok(()));
        }
    }
}

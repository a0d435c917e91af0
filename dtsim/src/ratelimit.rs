//! The `X-RateLimit-*` headers of ordinary responses [doc: "Dynatrace API - Access limit"]:
//! `Limit` is the per-minute quota of the endpoint, `Remaining` what is left of it in the
//! current minute, `Reset` when that minute ends (epoch **microseconds**).
//!
//! dtsim counts but does not enforce (429s come from the `rate_limit` fault): a limiter can
//! later refuse when `Quota::remaining` is 0 and answer with the same numbers.

use std::collections::HashMap;

use hyper::header::{HeaderMap, HeaderValue};

/// Requests per minute and endpoint; also what the `rate_limit` fault announces.
pub const LIMIT_PER_MINUTE: u32 = 1000;
const MINUTE_US: u128 = 60_000_000;
const MAX_WINDOWS: usize = 10_000;

/// What one endpoint has left in its current minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub remaining: u32,
    pub reset_micros: u128,
}

impl Quota {
    /// Adds the three headers unless the answer already carries them (an injected 429 does).
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
}

/// One-minute windows per endpoint (`METHOD path`), started by an endpoint's first request.
#[derive(Debug, Default)]
pub struct RateLimits {
    windows: HashMap<String, (u128, u32)>,
}

impl RateLimits {
    /// Counts one request to `endpoint` at `now_us` and returns that endpoint's quota.
    pub fn count(&mut self, endpoint: &str, now_us: u128) -> Quota {
        // Paths carry ids, so the map would grow without end in a long run: drop old minutes.
        if self.windows.len() >= MAX_WINDOWS {
            self.windows
                .retain(|_, (start, _)| now_us < *start + MINUTE_US);
        }
        let (start, used) = self
            .windows
            .entry(endpoint.to_string())
            .or_insert((now_us, 0));
        if now_us >= *start + MINUTE_US {
            (*start, *used) = (now_us, 0);
        }
        *used = used.saturating_add(1);
        Quota {
            limit: LIMIT_PER_MINUTE,
            remaining: LIMIT_PER_MINUTE.saturating_sub(*used),
            reset_micros: *start + MINUTE_US,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_per_endpoint_and_minute() {
        let mut r = RateLimits::default();
        let t = 1_700_000_000_000_000;
        assert_eq!(r.count("GET /a", t).remaining, LIMIT_PER_MINUTE - 1);
        let q = r.count("GET /a", t + 5);
        assert_eq!(
            (q.remaining, q.reset_micros),
            (LIMIT_PER_MINUTE - 2, t + MINUTE_US)
        );
        assert_eq!(r.count("GET /b", t + 5).remaining, LIMIT_PER_MINUTE - 1);
        let q = r.count("GET /a", t + MINUTE_US);
        assert_eq!(
            (q.remaining, q.reset_micros),
            (LIMIT_PER_MINUTE - 1, t + 2 * MINUTE_US)
        );
        for _ in 0..2 * LIMIT_PER_MINUTE {
            r.count("GET /c", t);
        }
        assert_eq!(r.count("GET /c", t).remaining, 0);
        for i in 0..MAX_WINDOWS {
            r.count(&format!("GET /old/{i}"), t);
        }
        r.count("GET /new", t + MINUTE_US);
        assert!(r.windows.len() < 10, "expired minutes are dropped");
    }
}

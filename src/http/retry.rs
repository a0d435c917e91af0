//! When to try again and how long to wait: jittered exponential backoff with a cap and a bounded
//! total, and the server's own hints (`Retry-After`, then `X-RateLimit-Reset`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;

/// Backoff parameters. Production uses [`Backoff::default`]; tests shrink the delays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the second try, doubled for each further one.
    pub base: Duration,
    /// No single computed delay exceeds this.
    pub cap: Duration,
    /// A server-requested wait (`Retry-After`, `X-RateLimit-Reset`) is clamped to this.
    pub server_cap: Duration,
    /// Retrying stops once the time slept for one request would exceed this.
    pub total: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(8),
            server_cap: Duration::from_secs(30),
            total: Duration::from_secs(90),
        }
    }
}

impl Backoff {
    /// The delay after failed try number `attempt` (1-based): "equal jitter", i.e. half the
    /// exponential delay plus a random part of the other half, so concurrent hosts spread out
    /// but no delay collapses to zero.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let full = exp.min(self.cap);
        let half = full / 2;
        let jitter_ms = rand::thread_rng().gen_range(0..=half.as_millis() as u64);
        half + Duration::from_millis(jitter_ms)
    }

    /// The wait before the next try: the server's hint when it gave one (clamped), else the
    /// jittered backoff.
    pub fn wait(&self, attempt: u32, server_hint: Option<Duration>) -> Duration {
        match server_hint {
            Some(hint) => hint.min(self.server_cap),
            None => self.delay(attempt),
        }
    }
}

/// `Retry-After` in delta-seconds. (The HTTP-date form is not used by Dynatrace; it is ignored
/// and the caller falls back to the rate-limit reset or its own backoff.)
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// `X-RateLimit-Reset`: when the quota refills, in **microseconds** since the epoch. Returns
/// how long from `now`; zero when it lies in the past.
pub fn parse_rate_limit_reset(value: &str, now: SystemTime) -> Option<Duration> {
    let micros = value.trim().parse::<u64>().ok()?;
    let reset = UNIX_EPOCH.checked_add(Duration::from_micros(micros))?;
    Some(reset.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The server's wait hint from a response's headers: `Retry-After` first, then the reset time.
pub fn server_hint(
    retry_after: Option<&str>,
    rate_limit_reset: Option<&str>,
    now: SystemTime,
) -> Option<Duration> {
    retry_after
        .and_then(parse_retry_after)
        .or_else(|| rate_limit_reset.and_then(|v| parse_rate_limit_reset(v, now)))
}

/// Statuses worth another try: the server may answer differently in a moment.
pub fn retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_and_ignores_garbage() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("0"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-3"), None);
        assert_eq!(parse_retry_after(""), None);
    }

    #[test]
    fn rate_limit_reset_is_microseconds_since_epoch() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let in_2_5s = (1_700_000_000u64 * 1_000_000 + 2_500_000).to_string();
        assert_eq!(
            parse_rate_limit_reset(&in_2_5s, now),
            Some(Duration::from_millis(2500))
        );
        let past = (1_600_000_000u64 * 1_000_000).to_string();
        assert_eq!(parse_rate_limit_reset(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_rate_limit_reset("soon", now), None);
        // Far future values do not overflow.
        assert!(parse_rate_limit_reset(&u64::MAX.to_string(), now).is_some());
    }

    #[test]
    fn retry_after_wins_over_reset_and_both_are_capped() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let reset = (1_700_000_010u64 * 1_000_000).to_string();
        assert_eq!(
            server_hint(Some("2"), Some(&reset), now),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            server_hint(None, Some(&reset), now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(server_hint(Some("x"), None, now), None);
        let b = Backoff::default();
        assert_eq!(
            b.wait(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn backoff_grows_is_jittered_and_capped() {
        let b = Backoff::default();
        for _ in 0..200 {
            let d1 = b.delay(1);
            assert!(d1 >= Duration::from_millis(250) && d1 <= Duration::from_millis(500));
            let d3 = b.delay(3);
            assert!(d3 >= Duration::from_secs(1) && d3 <= Duration::from_secs(2));
            let d30 = b.delay(30);
            assert!(d30 >= Duration::from_secs(4) && d30 <= Duration::from_secs(8));
            assert!(b.delay(u32::MAX) <= b.cap);
        }
        let spread: std::collections::HashSet<_> = (0..50).map(|_| b.delay(4)).collect();
        assert!(spread.len() > 1, "delays must be jittered");
    }

    #[test]
    fn only_transient_statuses_are_retried() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(retryable_status(s), "{s}");
        }
        for s in [200, 204, 304, 400, 401, 403, 404, 409, 410] {
            assert!(!retryable_status(s), "{s}");
        }
    }
}

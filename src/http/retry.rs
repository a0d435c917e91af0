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

/// `Retry-After` as delta-seconds or as an HTTP date (RFC 9110: IMF-fixdate, and the obsolete
/// RFC 850 and asctime forms a recipient must accept), as the wait from `now`; a date in the
/// past is no wait. Anything else is ignored and the caller falls back to the rate-limit reset
/// or its own backoff.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = UNIX_EPOCH.checked_add(Duration::from_secs(parse_http_date(value)?))?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Epoch seconds of `Sun, 06 Nov 1994 08:49:37 GMT`, `Sunday, 06-Nov-94 08:49:37 GMT` or
/// `Sun Nov  6 08:49:37 1994`: a day and a year (day first in all three), a month name and
/// H:M:S; the zone, when given, must be GMT.
fn parse_http_date(s: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let (mut numbers, mut month, mut time) = (Vec::new(), None, None);
    let words = s.split([' ', ',', '-']).filter(|w| !w.is_empty());
    for (i, w) in words.enumerate() {
        let lower = w.to_ascii_lowercase();
        if let Some(m) = MONTHS.iter().position(|m| *m == lower) {
            month = Some(m as u64 + 1);
        } else if w.contains(':') {
            let hms: Vec<u64> = w
                .split(':')
                .map(|x| x.parse().ok())
                .collect::<Option<_>>()?;
            match hms[..] {
                [h, m, s] if h < 24 && m < 60 && s < 61 => time = Some(h * 3600 + m * 60 + s),
                _ => return None,
            }
        } else if w.bytes().all(|b| b.is_ascii_digit()) {
            numbers.push(w.parse::<u64>().ok()?);
        } else if i > 0 && lower != "gmt" {
            return None; // a zone other than GMT, or garbage (the weekday comes first)
        }
    }
    let (month, time) = (month?, time?);
    let [day, year] = numbers[..] else {
        return None;
    };
    // RFC 850's two-digit years: RFC 9110 reads them as the nearest such year in the past.
    let year = match year {
        0..=69 => 2000 + year,
        70..=99 => 1900 + year,
        y => y,
    };
    if !(1..=31).contains(&day) || year < 1970 {
        return None;
    }
    // Days from the civil date (H. Hinnant's algorithm), years starting in March.
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era_days = (y / 400) * 146_097;
    let yoe = y % 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era_days + doe).checked_sub(719_468)?;
    Some(days * 86_400 + time)
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
        .and_then(|v| parse_retry_after(v, now))
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
        let now = SystemTime::now();
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_retry_after("", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn retry_after_as_an_http_date_in_all_three_forms() {
        // 784111777 = Sun, 06 Nov 1994 08:49:37 GMT (the example of RFC 9110).
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777 - 12);
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "sun, 06 nov 1994 08:49:37 gmt",
        ] {
            assert_eq!(
                parse_retry_after(form, now),
                Some(Duration::from_secs(12)),
                "{form}"
            );
        }
        // Leap day and a date in this century.
        let t = UNIX_EPOCH + Duration::from_secs(1_709_164_800); // 2024-02-29T00:00:00Z
        assert_eq!(
            parse_retry_after("Thu, 29 Feb 2024 00:01:00 GMT", t),
            Some(Duration::from_secs(60))
        );
        // A date already past: retry now.
        let later = UNIX_EPOCH + Duration::from_secs(784_111_777 + 100);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", later),
            Some(Duration::ZERO)
        );
        for bad in [
            "Sun, 06 Nov 1994 08:49:37 CET",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "06 Nov 1994 08:49",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
        }
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

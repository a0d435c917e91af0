//! Durations and rates as the step lines print them: wall-clock figures a person reads at a
//! glance (`120 ms`, `3.1 s`, `280 MiB/s`), not exact values.

use std::time::Duration;

/// `950 ms` below a second, `3.1 s` above.
pub fn took(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// `bytes` over `d` in MiB/s (`-` when too quick to measure).
pub fn rate(bytes: u64, d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs <= 0.0 {
        return "- MiB/s".into();
    }
    format!("{:.0} MiB/s", bytes as f64 / (1024.0 * 1024.0) / secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_in_ms_long_in_s_and_rate_in_mib() {
        assert_eq!(took(Duration::from_millis(120)), "120 ms");
        assert_eq!(took(Duration::from_millis(3140)), "3.1 s");
        assert_eq!(rate(256 << 20, Duration::from_millis(500)), "512 MiB/s");
        assert_eq!(rate(1, Duration::ZERO), "- MiB/s");
    }
}

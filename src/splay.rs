//! `--splay`: before the first request of a run that needs the network, wait a delay between 0
//! and the splay, the same on every run of a host and spread evenly over a fleet, so a fleet's
//! first roll-out does not reach the cluster in the same second. A converged run builds no
//! HTTP client, so it neither sends a request nor waits.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::Kind;

/// The part of `max` that `seed` picks: a hash, so close seeds land far apart.
pub fn delay(max: Duration, seed: &[u8]) -> Duration {
    let digest = Sha256::digest(seed);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let share = u64::from_be_bytes(first) as f64 / u64::MAX as f64;
    max.mul_f64(share)
}

/// What makes this host this host: the machine id and host name (different on every machine)
/// and the state and install paths (different for several installs on one machine).
fn host_seed(state_dir: &Path, install_path: &Path) -> Vec<u8> {
    let mut seed = std::fs::read("/etc/machine-id").unwrap_or_default();
    if let Ok(name) = hostname::get() {
        seed.extend_from_slice(name.as_encoded_bytes());
    }
    for p in [state_dir, install_path] {
        seed.push(0);
        seed.extend_from_slice(p.as_os_str().as_encoded_bytes());
    }
    seed
}

/// Waits this host's share of `--splay` (nothing when it is 0), in slices so that SIGINT or
/// SIGTERM ends the wait at once (exit 4: nothing was done yet).
pub fn wait(cfg: &Config, quiet: bool) -> Result<()> {
    if cfg.splay.is_zero() {
        return Ok(());
    }
    let wait = delay(cfg.splay, &host_seed(&cfg.state_dir, &cfg.install_path));
    if !quiet {
        eprintln!(
            "note: waiting {:.1} s (this host's share of --splay {}) before contacting the cluster",
            wait.as_secs_f64(),
            humantime::format_duration(cfg.splay)
        );
    }
    let until = Instant::now() + wait;
    loop {
        crate::signals::check(Kind::Api, || {
            "while waiting out --splay, before any request".to_string()
        })?;
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_per_host_and_spread_over_the_splay() {
        let max = Duration::from_secs(600);
        let a = delay(max, &host_seed(Path::new("/s/a"), Path::new("/o")));
        assert_eq!(
            a,
            delay(max, &host_seed(Path::new("/s/a"), Path::new("/o")))
        );
        assert_ne!(
            a,
            delay(max, &host_seed(Path::new("/s/b"), Path::new("/o")))
        );
        assert_eq!(delay(Duration::ZERO, b"x"), Duration::ZERO);
        // 1000 hosts fill the ten one-minute buckets of a 10-minute splay about evenly.
        let mut buckets = [0u32; 10];
        for i in 0..1000u32 {
            let d = delay(max, &i.to_be_bytes());
            assert!(d <= max);
            buckets[(d.as_secs() / 60).min(9) as usize] += 1;
        }
        assert!(
            buckets.iter().all(|n| (60..=140).contains(n)),
            "{buckets:?}"
        );
    }
}

//! What the signature digest costs a download: SHA-256 alone (what the download loop does
//! anyway) against SHA-256 plus the streaming [`Digester`], over installer-like data fed in
//! 64 KiB chunks like the download loop feeds it.
//!
//! `cargo run --release -p signed-installer --example digest_bench [MiB]` (default 256).

use std::io::Write;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use signed_installer::{BackgroundDigester, Digester};

const CHUNK: usize = 64 * 1024;

/// A shell header, a binary payload (random bytes: LF every ~256 bytes, CRs and NULs
/// included), the signature part: what a Dynatrace installer looks like to the digester.
fn installer_like(mib: usize) -> Vec<u8> {
    let mut data = Vec::with_capacity(mib << 20);
    for i in 0..400 {
        data.extend_from_slice(format!("# line {i} of the installer's shell part\n").as_bytes());
    }
    // xorshift: fast, reproducible filler.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while data.len() < (mib << 20) - 4096 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.extend_from_slice(b"\n----SIGNED-INSTALLER\nContent-Type: application/x-pkcs7-signature\n\nMAA=\n----SIGNED-INSTALLER--\n");
    data
}

fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// A download loop as download.rs runs it: each 64 KiB chunk is copied out of the "socket"
/// (here memory), hashed and written to a temp file; `check` sees every chunk.
fn download_loop(data: &[u8], mut check: impl FnMut(&[u8])) {
    let mut file = tempfile::tempfile().expect("temp file for the download benchmark");
    let mut buf = vec![0u8; CHUNK];
    let mut h = Sha256::new();
    for c in data.chunks(CHUNK) {
        buf[..c.len()].copy_from_slice(c);
        let got = &buf[..c.len()];
        h.update(got);
        check(got);
        file.write_all(got).expect("writing the benchmark file");
    }
    std::hint::black_box(h.finalize());
}

fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(256);
    let data = installer_like(mib);
    let n = data.len();
    if std::env::var("DIGEST_BENCH_PROFILE").is_ok() {
        // Only the content-only digester, for `perf record`.
        for _ in 0..5 {
            let mut d = Digester::without_file_hash();
            for c in data.chunks(CHUNK) {
                d.update(c);
            }
            std::hint::black_box(d.finish().is_ok());
        }
        return;
    }
    println!(
        "{mib} MiB of installer-like data, {} KiB chunks, best of 3",
        CHUNK / 1024
    );

    let raw = best_of(3, || {
        let mut h = Sha256::new();
        for c in data.chunks(CHUNK) {
            h.update(c);
        }
        std::hint::black_box(h.finalize());
    });
    let inline = best_of(3, || {
        let mut h = Sha256::new();
        let mut d = Digester::new();
        for c in data.chunks(CHUNK) {
            h.update(c);
            d.update(c);
        }
        std::hint::black_box((h.finalize(), d.finish().is_ok()));
    });
    let background = best_of(3, || {
        let mut h = Sha256::new();
        let mut d = BackgroundDigester::spawn();
        for c in data.chunks(CHUNK) {
            h.update(c);
            d.update(c);
        }
        std::hint::black_box((h.finalize(), d.finish().is_ok()));
    });
    let digester_alone = best_of(3, || {
        let mut d = Digester::new();
        for c in data.chunks(CHUNK) {
            d.update(c);
        }
        std::hint::black_box(d.finish().is_ok());
    });
    let content_only = best_of(3, || {
        let mut d = Digester::without_file_hash();
        for c in data.chunks(CHUNK) {
            d.update(c);
        }
        std::hint::black_box(d.finish().is_ok());
    });

    let plain_download = best_of(3, || download_loop(&data, |_| {}));
    let checked_download = best_of(3, || {
        let mut d = BackgroundDigester::spawn();
        download_loop(&data, |c| d.update(c));
        std::hint::black_box(d.finish().is_ok());
    });

    let pct = |d: Duration, base: Duration| (d.as_secs_f64() / base.as_secs_f64() - 1.0) * 100.0;
    println!(
        "SHA-256 alone:                      {:8.0} MB/s",
        mbps(n, raw)
    );
    println!(
        "Digester alone (both hashes):       {:8.0} MB/s",
        mbps(n, digester_alone)
    );
    println!(
        "Digester alone (content hash only): {:8.0} MB/s",
        mbps(n, content_only)
    );
    println!(
        "SHA-256 + Digester, same thread:    {:8.0} MB/s  (+{:.0}% time)",
        mbps(n, inline),
        pct(inline, raw)
    );
    println!(
        "SHA-256 + BackgroundDigester:       {:8.0} MB/s  (+{:.0}% time)",
        mbps(n, background),
        pct(background, raw)
    );
    println!("download loop (copy, SHA-256, write a temp file):");
    println!(
        "  plain:                            {:8.0} MB/s",
        mbps(n, plain_download)
    );
    println!(
        "  + BackgroundDigester:             {:8.0} MB/s  (+{:.0}% time)",
        mbps(n, checked_download),
        pct(checked_download, plain_download)
    );
}

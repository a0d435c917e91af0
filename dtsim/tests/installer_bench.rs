//! Size and speed of padded installers. The default run uses 8 MiB; the 256 MiB figures come
//! from the ignored test: `cargo test -p dtsim --release --test installer_bench -- --ignored --nocapture`.

use std::sync::Arc;
use std::time::Instant;

use dtsim::installer::{Ca, Factory, InstallerParams, Variant, VERSIONS};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

fn params(pad_to: u64) -> InstallerParams {
    InstallerParams {
        environment: "env-a".into(),
        version: VERSIONS[2].into(),
        arch: "x86".into(),
        tenant_uuid: "env-a".into(),
        tenant_token: "token".into(),
        endpoints: "https://127.0.0.1:1/communication".into(),
        variant: Variant::Normal,
        pad_to: Some(pad_to),
    }
}

/// Builds, streams and checks one padded installer; prints the figures.
fn measure(pad_to: u64) {
    let factory = Factory::new(Arc::new(Ca::generate("bench").expect("CA"))).expect("factory");
    let t = Instant::now();
    let inst = factory.get(&params(pad_to)).expect("installer");
    let sign_secs = t.elapsed().as_secs_f64();
    let len = inst.len();
    assert!(
        len.abs_diff(pad_to) < 4096,
        "asked for {pad_to} bytes, got {len}"
    );

    // The second get is a cache hit: no re-signing.
    let t = Instant::now();
    let again = factory.get(&params(pad_to)).expect("cached installer");
    assert!(Arc::ptr_eq(&inst, &again));
    assert!(
        t.elapsed().as_millis() < 50,
        "cache hit took {:?}",
        t.elapsed()
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let t = Instant::now();
    let (total, max_chunk, hash) = rt.block_on(async {
        let mut s = Box::pin(inst.stream());
        let (mut total, mut max_chunk, mut h) = (0u64, 0usize, Sha256::new());
        while let Some(chunk) = s.next().await {
            let chunk = chunk.expect("chunk");
            total += chunk.len() as u64;
            max_chunk = max_chunk.max(chunk.len());
            h.update(&chunk);
        }
        (total, max_chunk, h.finalize())
    });
    let stream_secs = t.elapsed().as_secs_f64();
    assert_eq!(total, len);
    assert!(max_chunk <= 64 * 1024, "chunk of {max_chunk} bytes");
    // Streaming twice gives the same bytes.
    let hash2 = rt.block_on(async {
        let mut s = Box::pin(inst.stream());
        let mut h = Sha256::new();
        while let Some(chunk) = s.next().await {
            h.update(chunk.expect("chunk"));
        }
        h.finalize()
    });
    assert_eq!(hash, hash2);
    let mib = len as f64 / (1024.0 * 1024.0);
    eprintln!(
        "installer {mib:.1} MiB: signed in {sign_secs:.2} s; streamed (with SHA-256 of the stream) in {stream_secs:.2} s = {:.0} MB/s",
        len as f64 / stream_secs / 1e6
    );
}

#[test]
fn padded_8_mib() {
    measure(8 << 20);
}

#[test]
#[ignore = "256 MiB: run with --release --ignored --nocapture for the figures"]
fn padded_256_mib() {
    measure(256 << 20);
}

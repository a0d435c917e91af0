//! Fuzz target for the whole reader: the S/MIME layout split, the canonicalising digest, the
//! signature part's MIME headers and base64, the CMS SignedData and the certificate chain.
//! The first input byte picks the chunk size the file is fed in, so chunking bugs show too.
//! Run: `cargo +nightly fuzz run verify -- -max_total_time=300` from this directory (see
//! crates/signed-installer/README.md).
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use signed_installer::{verify, BackgroundDigester, Digester, TrustAnchor};

fn anchor() -> &'static TrustAnchor {
    static ANCHOR: OnceLock<TrustAnchor> = OnceLock::new();
    ANCHOR.get_or_init(|| {
        TrustAnchor::from_der(include_bytes!(
            "../../crates/signed-installer/tests/data/root.der"
        ))
        .expect("fixture root parses")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, file)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first) * 37 + 1;
    let mut d = Digester::new();
    for c in file.chunks(chunk) {
        d.update(c);
    }
    let whole = d.finish();
    // The background digester must agree with the inline one.
    if first & 1 == 1 {
        let mut bg = BackgroundDigester::spawn();
        for c in file.chunks(chunk) {
            bg.update(c);
        }
        let other = bg.finish();
        assert_eq!(
            whole.as_ref().map(|p| p.content_sha256).ok(),
            other.as_ref().map(|p| p.content_sha256).ok()
        );
    }
    if let Ok(parsed) = whole {
        let now = UNIX_EPOCH + Duration::from_secs(1_798_761_600);
        let _ = verify(&parsed, anchor(), now);
    }
});

//! Property: no input makes the digester or the verifier panic. A few thousand inputs: random
//! bytes, mutated fixtures (byte flips, insertions, deletions, truncations, splices), and
//! fixtures whose CMS DER is mutated before being re-encoded in base64 (so the mutations reach
//! the ASN.1 and certificate code, not just the base64 decoder); each fed in random chunking.
//! The longer run is the cargo-fuzz target in fuzz/ (see README.md).

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use signed_installer::{verify, Digester, TrustAnchor};

fn data(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading fixture {}: {e}", path.display()))
}

fn mutate(input: &[u8], rng: &mut StdRng) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..rng.gen_range(1..6) {
        let at = rng.gen_range(0..=v.len());
        match rng.gen_range(0..6) {
            0 if at < v.len() => v[at] ^= rng.gen_range(1..=255u8),
            1 => v.insert(at, [b'\r', b'\n', 0, b'-', b'=', b'A'][rng.gen_range(0..6)]),
            2 if at < v.len() => {
                let end = (at + rng.gen_range(1..64)).min(v.len());
                v.drain(at..end);
            }
            3 => v.truncate(at),
            4 => {
                let from = rng.gen_range(0..input.len().max(1));
                let len = rng
                    .gen_range(0..200)
                    .min(input.len() - from.min(input.len()));
                let piece = input[from..from + len].to_vec();
                v.splice(at..at, piece);
            }
            _ => {
                let n = rng.gen_range(0..40);
                let junk: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
                v.splice(at..at, junk);
            }
        }
    }
    v
}

/// The fixture with its CMS DER mutated and re-encoded.
fn mutate_der(file: &[u8], rng: &mut StdRng) -> Vec<u8> {
    let text = String::from_utf8_lossy(file);
    let Some(start) = text.find("\n\nMII") else {
        return file.to_vec();
    };
    let Some(end) = text[start..].find("\n\n----SIGNED-INSTALLER--") else {
        return file.to_vec();
    };
    let b64: String = text[start + 2..start + end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64) else {
        return file.to_vec();
    };
    let der = mutate(&der, rng);
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = file[..start + 2].to_vec();
    for line in encoded.as_bytes().chunks(64) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.extend_from_slice(&file[start + end + 1..]);
    out
}

#[test]
fn no_input_panics() {
    let seed = std::env::var("NO_PANIC_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_260_101);
    let mut rng = StdRng::seed_from_u64(seed);
    let root = TrustAnchor::from_pem(&data("root.pem")).expect("fixture root");
    let now = UNIX_EPOCH + Duration::from_secs(1_798_761_600);
    let fixtures = [
        data("valid.sh"),
        data("long-lines.sh"),
        data("expired-signer.sh"),
    ];
    let (mut parsed_ok, mut verified_ok) = (0, 0);
    for i in 0..3000 {
        let base = &fixtures[i % fixtures.len()];
        let input = match i % 4 {
            0 => (0..rng.gen_range(0..3000)).map(|_| rng.gen()).collect(),
            1 | 2 => mutate(base, &mut rng),
            _ => mutate_der(base, &mut rng),
        };
        let mut d = Digester::new();
        let mut rest = input.as_slice();
        while !rest.is_empty() {
            let n = rng.gen_range(1..2000).min(rest.len());
            d.update(&rest[..n]);
            rest = &rest[n..];
        }
        if let Ok(parsed) = d.finish() {
            parsed_ok += 1;
            if verify(&parsed, &root, now).is_ok() {
                verified_ok += 1;
            }
        }
    }
    eprintln!("no_panic: seed {seed}: 3000 inputs, {parsed_ok} parsed, {verified_ok} verified");
    // The mutations must reach the CMS code, not stop at the layout.
    assert!(
        parsed_ok > 300,
        "only {parsed_ok} inputs got past the layout"
    );
}

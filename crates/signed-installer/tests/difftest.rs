//! Differential test: the native verifier and the documented `openssl cms -verify` command must
//! agree (both accept or both refuse) on every generated installer.
//!
//! Installers: shell text, binary payloads with NULs, CR/LF mixes, lines over 4 KiB, lines
//! around OpenSSL's 1023-byte chunks with CRs at the edges, empty payloads, payloads holding
//! the boundary text; signed by throwaway RSA and EC PKIs made with openssl (directly by a
//! root, or through an intermediate; with and without signed attributes; issuer+serial or
//! key-id signer ids), either the natural way (openssl signs the script in text mode, the
//! script goes before the boundary as Dynatrace does) or over exactly what openssl's verify
//! digests (recovered with `-noverify -out`, signed with `-binary`) so odd contents are valid
//! too. Then tampered: a flipped byte, truncation, another file's signature, a signer from
//! another CA (same root name, other key; or another name), an expired or not-yet-valid
//! signer, signers whose extensions OpenSSL judges (key usage, extended key usage, unknown
//! critical extensions, an issuer that is not a CA, path length).
//!
//! Seeded: set DIFFTEST_SEED to reproduce a run (the seed is printed). DIFFTEST_JOBS sets the
//! number of base installers (default 260, each with one tampered variant: 520 files);
//! DIFFTEST_TAMPER=N uses tampering mode N (0..8, see `job`) for all of them. On a
//! disagreement the files are kept in a temp dir that is printed.

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use signed_installer::{verify_any, Digester, TrustAnchor};
use support::gen::{self, Layout};
use support::openssl::{self as ossl, SignOpts};
use support::pki::{make_pki, Pki};

/// One file to judge: what it is, and its bytes.
struct Case {
    /// Content kind; for the summary.
    kind: usize,
    tampered: bool,
    /// How it was made or tampered with; for the summary.
    how: &'static str,
    name: String,
    what: String,
    bytes: Vec<u8>,
}

struct Disagreement {
    file: String,
    what: String,
    openssl: String,
    native: String,
}

fn native_accepts(bytes: &[u8], anchors: &[TrustAnchor], rng: &mut StdRng) -> Result<(), String> {
    // Feed in random chunk sizes: the result must not depend on them.
    let mut d = Digester::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = rng.gen_range(1..=70_000).min(rest.len());
        d.update(&rest[..n]);
        rest = &rest[n..];
    }
    let parsed = d.finish().map_err(|e| e.to_string())?;
    verify_any(&parsed, anchors, SystemTime::now())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Builds the base installer of job `i` and one tampered variant.
fn job(i: usize, seed: u64, pki: &Pki, dir: &Path) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let kind = i % gen::KINDS.len();
    let content = gen::content(kind, &mut rng);
    let who = &pki.good[rng.gen_range(0..pki.good.len())];
    let opts = SignOpts {
        binary: false,
        noattr: rng.gen_bool(0.15),
        keyid: rng.gen_bool(0.15),
    };
    let layout = Layout::random(&mut rng);
    let p = |name: &str| dir.join(format!("{i:04}-{name}"));
    std::fs::write(p("content"), &content).expect("content");

    // Natural: openssl signs the script in text mode; the script goes before the boundary.
    ossl::sign(dir, &p("content"), who, opts, &p("sig.der"));
    let natural_sig = std::fs::read(p("sig.der")).expect("signature");
    let natural = layout.build(&content, &natural_sig);
    let mut base = natural.clone();
    let mut how = "natural";
    if rng.gen_bool(0.5) {
        // Over exactly what openssl's verify digests for this layout.
        std::fs::write(p("natural.sh"), &natural).expect("file");
        if ossl::digested_bytes(dir, &p("natural.sh"), &p("digested")).is_some() {
            ossl::sign(
                dir,
                &p("digested"),
                who,
                SignOpts {
                    binary: true,
                    ..opts
                },
                &p("sig2.der"),
            );
            base = layout.build(&content, &std::fs::read(p("sig2.der")).expect("signature"));
            how = "digest-exact";
        }
    }
    let what = format!(
        "{} content ({} bytes), {how} signature by {}, {opts:?}, layout {layout:?}",
        gen::KINDS[kind],
        content.len(),
        who.cert.display()
    );
    let mut cases = vec![Case {
        kind,
        tampered: false,
        how: "signed",
        name: format!("{i:04}-base.sh"),
        what: what.clone(),
        bytes: base.clone(),
    }];

    let mut tampered = base.clone();
    // DIFFTEST_TAMPER=N forces tampering mode N (0..8) for every job, to stress one reader.
    let mode = std::env::var("DIFFTEST_TAMPER")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(i % 8);
    let mut how = match mode {
        0 | 1 => "flipped byte",
        2 => "flipped byte in the signature part",
        3 => "truncated",
        4 => "signature of another content",
        _ => "",
    };
    let change = match mode {
        0 | 1 => gen::flip(&mut tampered, &mut rng),
        2 => gen::flip_in_signature(&mut tampered, &mut rng),
        3 => gen::truncate(&mut tampered, &mut rng),
        4 => {
            // Another content's signature.
            let mut other = content.clone();
            other.extend_from_slice(b"\necho changed\n");
            std::fs::write(p("other"), &other).expect("content");
            ossl::sign(dir, &p("other"), who, opts, &p("sig3.der"));
            tampered = layout.build(&content, &std::fs::read(p("sig3.der")).expect("signature"));
            "signature of another content".to_string()
        }
        _ => {
            let (label, bad) = &pki.special[rng.gen_range(0..pki.special.len())];
            // Not every special signer has a subject key identifier to name it by.
            let opts = SignOpts {
                keyid: false,
                ..opts
            };
            ossl::sign(dir, &p("content"), bad, opts, &p("sig4.der"));
            tampered = layout.build(&content, &std::fs::read(p("sig4.der")).expect("signature"));
            how = label;
            label.to_string()
        }
    };
    cases.push(Case {
        kind,
        tampered: true,
        how,
        name: format!("{i:04}-tampered.sh"),
        what: format!("{what}; tampered: {change}"),
        bytes: tampered,
    });
    cases
}

#[test]
fn native_verifier_agrees_with_openssl_cms_verify() {
    if !ossl::openssl_required() {
        return;
    }
    let seed = std::env::var("DIFFTEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    let jobs: usize = std::env::var("DIFFTEST_JOBS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(260);
    eprintln!("difftest: seed {seed} (DIFFTEST_SEED={seed} reproduces), {jobs} base installers");
    let tmp = tempfile::Builder::new()
        .prefix("signed-installer-difftest-")
        .tempdir()
        .expect("temp dir");
    let dir = tmp.path().to_path_buf();
    let pki = make_pki(&dir);

    let next = AtomicUsize::new(0);
    let stats = Mutex::new((0usize, 0usize, 0usize)); // files, accepted by both, refused by both
                                                      // Per content kind: [base accepted, base total, tampered accepted, tampered total].
    let per_kind = Mutex::new(vec![[0usize; 4]; gen::KINDS.len()]);
    // Per way of making the file: [accepted, total].
    let per_how = Mutex::new(std::collections::BTreeMap::<&str, [usize; 2]>::new());
    let disagreements = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs {
                    break;
                }
                let mut rng = StdRng::seed_from_u64(seed.wrapping_add(i as u64));
                for case in job(i, seed, &pki, &dir) {
                    let path = dir.join(&case.name);
                    std::fs::write(&path, &case.bytes).expect("installer file");
                    let (ossl_ok, ossl_err) = ossl::documented_verify(&path, &pki.ca_file);
                    let native = native_accepts(&case.bytes, &pki.anchors, &mut rng);
                    {
                        let mut k = per_kind.lock().unwrap_or_else(|e| e.into_inner());
                        let slot = &mut k[case.kind][if case.tampered { 2 } else { 0 }..];
                        slot[0] += usize::from(ossl_ok);
                        slot[1] += 1;
                        let mut h = per_how.lock().unwrap_or_else(|e| e.into_inner());
                        let entry = h.entry(case.how).or_default();
                        entry[0] += usize::from(ossl_ok);
                        entry[1] += 1;
                    }
                    let mut st = stats.lock().unwrap_or_else(|e| e.into_inner());
                    st.0 += 1;
                    match (ossl_ok, &native) {
                        (true, Ok(())) => st.1 += 1,
                        (false, Err(_)) => st.2 += 1,
                        _ => disagreements
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(Disagreement {
                                file: path.display().to_string(),
                                what: case.what.clone(),
                                openssl: if ossl_ok {
                                    "accepted".into()
                                } else {
                                    format!("refused: {}", ossl_err.trim())
                                },
                                native: match &native {
                                    Ok(()) => "accepted".into(),
                                    Err(e) => format!("refused: {e}"),
                                },
                            }),
                    }
                }
            });
        }
    });
    let (files, both_ok, both_refused) = *stats.lock().unwrap_or_else(|e| e.into_inner());
    let disagreements = disagreements
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    eprintln!(
        "difftest: {files} files, both accept {both_ok}, both refuse {both_refused}, disagree {}",
        disagreements.len()
    );
    let per_how = per_how.into_inner().unwrap_or_else(|e| e.into_inner());
    for (how, [ok, n]) in &per_how {
        eprintln!("difftest:   accepted {ok:>4}/{n:<4} {how}");
    }
    let per_kind = per_kind.into_inner().unwrap_or_else(|e| e.into_inner());
    for (kind, [ok, n, t_ok, t_n]) in gen::KINDS.iter().zip(&per_kind) {
        eprintln!("difftest:   {kind:>14}: accepted {ok}/{n} signed, {t_ok}/{t_n} tampered");
    }
    if !disagreements.is_empty() {
        let kept = tmp.keep();
        let mut report = String::new();
        for d in &disagreements {
            report.push_str(&format!(
                "\n{}\n  {}\n  openssl: {}\n  native:  {}\n",
                d.file, d.what, d.openssl, d.native
            ));
        }
        panic!(
            "native verifier and openssl disagree on {} of {files} files (seed {seed}, files kept in {}):{report}",
            disagreements.len(),
            kept.display()
        );
    }
    assert!(files >= 2 * jobs, "{files} files judged");
    // The corpus must exercise both outcomes substantially.
    assert!(
        both_ok >= jobs / 4,
        "only {both_ok} files accepted: the generator is broken"
    );
    assert!(
        both_refused >= jobs / 4,
        "only {both_refused} files refused"
    );
}

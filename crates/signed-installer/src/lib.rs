//! Native verification of Dynatrace's signed OneAgent installers, byte-compatible with the
//! documented `openssl cms -verify` check (OpenSSL 3.0, text mode).
//!
//! A signed installer is the shell script, a `----SIGNED-INSTALLER` line, a MIME part
//! `Content-Type: application/x-pkcs7-signature` holding a base64 CMS SignedData, and
//! `----SIGNED-INSTALLER--`. [`Digester`] reads it in one streaming pass (any chunking),
//! computing the file's SHA-256 and the SHA-256 of the signed content exactly as OpenSSL
//! canonicalises it; [`verify`] then checks the CMS signature and the signer's chain to a
//! [`TrustAnchor`] at a given time.

mod b64;
mod background;
mod ber;
mod chain;
mod digester;
mod error;
mod mime;
mod names;
mod sig;
mod signer;
mod trust;

use std::time::{SystemTime, UNIX_EPOCH};

pub use background::BackgroundDigester;
pub use digester::{Digester, Parsed, BOUNDARY, MAX_CHUNK, SIGNATURE_PART_LIMIT};
pub use error::{Error, Timestamp};
pub use trust::{fingerprint, TrustAnchor, DYNATRACE_ROOT_G1_SHA256};

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// SHA-256 of the whole file (`None` if the digester did not hash it).
    pub file_sha256: Option<[u8; 32]>,
    /// SHA-256 of the signed content (as canonicalised for the signature).
    pub content_sha256: [u8; 32],
    /// Subjects from the signer to the root.
    pub chain: Vec<String>,
    /// Subject of the trust anchor that ended the chain.
    pub root_subject: String,
    /// SHA-256 of the trust anchor's DER.
    pub root_sha256: [u8; 32],
}

/// Verify what [`Digester::finish`] returned against `root`, with certificate validity checked
/// at `now`.
///
/// `now` is the verification time: pass the current time in production. That is what
/// `openssl cms -verify` does by default (the differential test must agree with it), and it
/// means an installer whose signer certificate has expired is refused, as Dynatrace's
/// documented check refuses it. Tests pass a fixed time so they are hermetic.
pub fn verify(parsed: &Parsed, root: &TrustAnchor, now: SystemTime) -> Result<Report, Error> {
    verify_any(parsed, std::slice::from_ref(root), now)
}

/// [`verify`] with several trusted roots (like a `-CAfile` bundle): the chain may end at any.
pub fn verify_any(
    parsed: &Parsed,
    roots: &[TrustAnchor],
    now: SystemTime,
) -> Result<Report, Error> {
    if roots.is_empty() {
        return Err(Error::UntrustedChain("no trust anchor given".into()));
    }
    let now = unix_seconds(now);
    let signed = signer::parse(&parsed.signature_der)?;
    // OpenSSL's order: find every signer's certificate, verify every chain, then the
    // signatures and digests. Digest and signature come first here so that a changed file
    // reports "digest mismatch" rather than a chain problem of an unrelated signer.
    let mut chain = (Vec::new(), 0);
    let mut certs = Vec::with_capacity(signed.signers.len());
    for si in &signed.signers {
        certs.push(signer::signer_cert(si, &signed.certs)?);
    }
    for (si, cert) in signed.signers.iter().zip(&certs) {
        signer::verify_signer(si, &signed.digest_algs, cert, &parsed.content_sha256)?;
    }
    for cert in &certs {
        chain = chain::verify_chain(cert, &signed.certs, roots, now)?;
    }
    let (chain, root) = chain;
    Ok(Report {
        file_sha256: parsed.file_sha256,
        content_sha256: parsed.content_sha256,
        chain,
        root_subject: roots[root].subject(),
        root_sha256: roots[root].sha256(),
    })
}

/// [`Digester`] over a whole in-memory file, then [`verify`].
pub fn verify_bytes(file: &[u8], root: &TrustAnchor, now: SystemTime) -> Result<Report, Error> {
    let mut d = Digester::new();
    d.update(file);
    verify(&d.finish()?, root, now)
}

/// Seconds since the epoch (negative before it).
fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

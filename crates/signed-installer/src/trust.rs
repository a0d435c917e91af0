//! The trust anchor: one root certificate and its SHA-256 fingerprint.

use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

use crate::Error;

/// SHA-256 of the DER of Dynatrace's root, `CN=Dynatrace Root Certificate Authority G1,
/// O=Dynatrace LLC` (valid 2016-12-09 to 2046-12-09), as published at
/// `https://ca.dynatrace.com/dt-root.cert.pem`. A copy of the root obtained anywhere else is
/// accepted only if it hashes to this.
pub const DYNATRACE_ROOT_G1_SHA256: [u8; 32] = [
    0x76, 0x15, 0x6A, 0x5E, 0x0D, 0x68, 0xE0, 0x41, 0x7D, 0x57, 0xAE, 0x35, 0xDE, 0x53, 0x90, 0x46,
    0x84, 0x75, 0x89, 0x4D, 0x9C, 0xDE, 0x6E, 0xF6, 0x93, 0x65, 0x0B, 0x83, 0x79, 0x86, 0xA2, 0x92,
];

/// A root certificate trusted to end the signer's chain.
#[derive(Debug, Clone)]
pub struct TrustAnchor {
    pub(crate) der: Vec<u8>,
    pub(crate) cert: Certificate,
    sha256: [u8; 32],
}

impl TrustAnchor {
    /// A root from its DER encoding.
    pub fn from_der(der: &[u8]) -> Result<TrustAnchor, Error> {
        let cert = Certificate::from_der(der).map_err(|e| {
            Error::Malformed(format!(
                "the trust anchor is not a DER X.509 certificate: {e}"
            ))
        })?;
        // Fingerprint what the certificate re-encodes to, which is the input for a DER input
        // (the decoder is strict DER): the pin then means the certificate we actually use.
        let der = cert
            .to_der()
            .map_err(|e| Error::Malformed(format!("the trust anchor cannot be re-encoded: {e}")))?;
        let sha256 = Sha256::digest(&der).into();
        Ok(TrustAnchor { der, cert, sha256 })
    }

    /// A root from PEM text holding exactly one `CERTIFICATE` block.
    pub fn from_pem(pem: &[u8]) -> Result<TrustAnchor, Error> {
        let mut all = TrustAnchor::all_from_pem(pem)?;
        match all.len() {
            1 => Ok(all.remove(0)),
            n => Err(Error::Malformed(format!(
                "the trust anchor PEM holds {n} certificates; give exactly one root"
            ))),
        }
    }

    /// Every certificate of a PEM bundle (like `openssl -CAfile` loads them); at least one.
    pub fn all_from_pem(pem: &[u8]) -> Result<Vec<TrustAnchor>, Error> {
        let certs = Certificate::load_pem_chain(pem).map_err(|e| {
            Error::Malformed(format!("the trust anchor is not PEM certificates: {e}"))
        })?;
        if certs.is_empty() {
            return Err(Error::malformed(
                "the trust anchor PEM holds no CERTIFICATE block",
            ));
        }
        certs
            .iter()
            .map(|cert| {
                let der = cert.to_der().map_err(|e| {
                    Error::Malformed(format!("the trust anchor cannot be re-encoded: {e}"))
                })?;
                TrustAnchor::from_der(&der)
            })
            .collect()
    }

    /// The certificate of a PEM bundle whose SHA-256 is `pin` (Dynatrace's published
    /// dt-root.cert.pem holds two roots, G1 and L2; the pin selects G1).
    pub fn pinned_from_pem(pem: &[u8], pin: &[u8; 32]) -> Result<TrustAnchor, Error> {
        let all = TrustAnchor::all_from_pem(pem)?;
        let found: Vec<String> = all
            .iter()
            .map(|a| format!("{} ({})", a.subject(), a.fingerprint()))
            .collect();
        all.into_iter().find(|a| &a.sha256 == pin).ok_or_else(|| {
            Error::UntrustedChain(format!(
                "no certificate with the pinned SHA-256 {} in the root file; it holds: {}",
                fingerprint(pin),
                found.join("; ")
            ))
        })
    }

    /// SHA-256 of the DER certificate.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    /// The fingerprint as OpenSSL prints it: `76:15:6A:...`.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.sha256)
    }

    /// The subject, `CN=..., O=...` in certificate order (as OpenSSL prints it).
    pub fn subject(&self) -> String {
        display_name(&self.cert.tbs_certificate.subject)
    }

    /// Whether this is Dynatrace's root (by the pinned fingerprint).
    pub fn is_dynatrace_root_g1(&self) -> bool {
        self.sha256 == DYNATRACE_ROOT_G1_SHA256
    }

    /// The DER certificate.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
}

/// Colon-separated uppercase hex, OpenSSL's fingerprint format.
pub fn fingerprint(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(&format!("{b:02X}"));
    }
    out
}

/// A distinguished name in certificate order, `CN=Signer, O=Example` (OpenSSL's one-line
/// order; RFC 4514 would reverse it).
pub(crate) fn display_name(name: &x509_cert::name::Name) -> String {
    let mut parts = Vec::new();
    for rdn in name.0.iter() {
        for atv in rdn.0.iter() {
            parts.push(atv.to_string());
        }
    }
    parts.join(", ")
}

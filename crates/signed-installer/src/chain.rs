//! The signer's certificate chain, checked the way `openssl cms -verify` checks it by default
//! (X509 verification with the `smime_sign` purpose, trusted certificates first).
//!
//! From the signer up: each issuer is the trust anchor if its subject and key identifier match
//! (OpenSSL looks in the trusted store first), else a certificate from the CMS; each signature
//! must verify with the issuer's key; issuers must be CAs (basicConstraints, keyCertSign,
//! path length); the S/MIME purpose rules apply (extendedKeyUsage, if present, must allow
//! emailProtection; a signer's keyUsage, if present, must allow digitalSignature or
//! nonRepudiation); unknown critical extensions are refused; every certificate including the
//! root must be valid at `now`. The root's self-signature is not checked (OpenSSL does not
//! either: it is trusted as configured).

use const_oid::db::rfc5280;
use const_oid::db::rfc5912;
use der::asn1::ObjectIdentifier as Oid;
use der::{Decode, Encode};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use x509_cert::Certificate;

use crate::error::Timestamp;
use crate::names::same_name;
use crate::sig::{self, cert_signature_alg};
use crate::{Error, TrustAnchor};

/// Longest chain followed (signer, intermediates, root); OpenSSL's default depth is 100, real
/// chains are 3 long.
const MAX_DEPTH: usize = 10;

/// Extensions OpenSSL 3.0 understands (`X509_supported_extension`); any other critical one
/// fails verification.
const SUPPORTED_CRITICAL: [Oid; 15] = [
    Oid::new_unwrap("2.16.840.1.113730.1.1"), // netscape-cert-type
    rfc5280::ID_CE_KEY_USAGE,
    rfc5280::ID_CE_SUBJECT_ALT_NAME,
    rfc5280::ID_CE_BASIC_CONSTRAINTS,
    rfc5280::ID_CE_CERTIFICATE_POLICIES,
    rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS,
    rfc5280::ID_CE_EXT_KEY_USAGE,
    Oid::new_unwrap("1.3.6.1.5.5.7.1.7"),    // sbgp-ipAddrBlock
    Oid::new_unwrap("1.3.6.1.5.5.7.1.8"),    // sbgp-autonomousSysNum
    Oid::new_unwrap("1.3.6.1.5.5.7.48.1.5"), // OCSP no-check
    rfc5280::ID_CE_POLICY_CONSTRAINTS,
    Oid::new_unwrap("1.3.6.1.5.5.7.1.14"), // proxyCertInfo
    rfc5280::ID_CE_NAME_CONSTRAINTS,
    rfc5280::ID_CE_POLICY_MAPPINGS,
    rfc5280::ID_CE_INHIBIT_ANY_POLICY,
];

const EMAIL_PROTECTION: Oid = rfc5912::ID_KP_EMAIL_PROTECTION;

/// The extensions of one certificate that the checks need.
struct Exts {
    basic: Option<BasicConstraints>,
    key_usage: Option<KeyUsage>,
    eku: Option<ExtendedKeyUsage>,
    skid: Option<Vec<u8>>,
    akid: Option<Vec<u8>>,
    name_constraints: bool,
}

fn subject(cert: &Certificate) -> String {
    crate::trust::display_name(&cert.tbs_certificate.subject)
}

fn exts(cert: &Certificate) -> Result<Exts, Error> {
    let mut e = Exts {
        basic: None,
        key_usage: None,
        eku: None,
        skid: None,
        akid: None,
        name_constraints: false,
    };
    let bad = |what: &str, err: der::Error| {
        Error::UntrustedChain(format!(
            "certificate {} has an invalid {what} extension: {err}",
            subject(cert)
        ))
    };
    for ext in cert.tbs_certificate.extensions.iter().flatten() {
        let value = ext.extn_value.as_bytes();
        match ext.extn_id {
            rfc5280::ID_CE_BASIC_CONSTRAINTS => {
                e.basic = Some(
                    BasicConstraints::from_der(value).map_err(|x| bad("basicConstraints", x))?,
                )
            }
            rfc5280::ID_CE_KEY_USAGE => {
                e.key_usage = Some(KeyUsage::from_der(value).map_err(|x| bad("keyUsage", x))?)
            }
            rfc5280::ID_CE_EXT_KEY_USAGE => {
                e.eku = Some(
                    ExtendedKeyUsage::from_der(value).map_err(|x| bad("extendedKeyUsage", x))?,
                )
            }
            rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER => {
                let id = SubjectKeyIdentifier::from_der(value)
                    .map_err(|x| bad("subjectKeyIdentifier", x))?;
                e.skid = Some(id.0.as_bytes().to_vec());
            }
            rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER => {
                let id = AuthorityKeyIdentifier::from_der(value)
                    .map_err(|x| bad("authorityKeyIdentifier", x))?;
                e.akid = id.key_identifier.map(|k| k.as_bytes().to_vec());
            }
            rfc5280::ID_CE_NAME_CONSTRAINTS => e.name_constraints = true,
            _ => {}
        }
        if ext.critical && !SUPPORTED_CRITICAL.contains(&ext.extn_id) {
            return Err(Error::UntrustedChain(format!(
                "certificate {} has an unsupported critical extension {}",
                subject(cert),
                sig::oid_name(&ext.extn_id)
            )));
        }
    }
    Ok(e)
}

/// OpenSSL's `check_issued` minus the signature: names chain and, where both say, the key
/// identifiers match.
fn may_have_issued(
    issuer: &Certificate,
    issuer_exts: &Exts,
    child: &Certificate,
    child_exts: &Exts,
) -> bool {
    if !same_name(
        &issuer.tbs_certificate.subject,
        &child.tbs_certificate.issuer,
    ) {
        return false;
    }
    match (&child_exts.akid, &issuer_exts.skid) {
        (Some(a), Some(s)) => a == s,
        _ => true,
    }
}

/// The chain from the signer to one of the anchors, checked. Returns the subjects (signer
/// first) and the index of the anchor that ended it.
pub(crate) fn verify_chain(
    signer: &Certificate,
    pool: &[Certificate],
    anchors: &[TrustAnchor],
    now: i64,
) -> Result<(Vec<String>, usize), Error> {
    let anchor_exts = anchors
        .iter()
        .map(|a| exts(&a.cert))
        .collect::<Result<Vec<_>, _>>()?;
    let mut chain: Vec<(&Certificate, Exts)> = vec![(signer, exts(signer)?)];
    // A signer that is an anchor itself starts at the anchor.
    let mut reached = anchors.iter().position(|a| &a.cert == signer);
    // The chain ends at a self-issued trusted certificate (a root): without OpenSSL's
    // partial-chain flag, a trusted intermediate still needs its root among the trusted.
    while !reached.is_some_and(|i| self_issued(&anchors[i].cert)) {
        if chain.len() > MAX_DEPTH {
            return Err(Error::UntrustedChain(format!(
                "the chain from {} is longer than {MAX_DEPTH} certificates",
                subject(signer)
            )));
        }
        let (child, child_exts) = chain
            .last()
            .map(|(c, e)| (*c, e))
            .ok_or_else(|| Error::UntrustedChain("empty chain".into()))?;
        // Trusted certificates first, as OpenSSL does by default.
        let trusted = anchors
            .iter()
            .zip(&anchor_exts)
            .position(|(a, e)| &a.cert != child && may_have_issued(&a.cert, e, child, child_exts));
        if let Some(i) = trusted {
            check_signature(child, &anchors[i].cert)?;
            chain.push((&anchors[i].cert, exts(&anchors[i].cert)?));
            reached = Some(i);
            continue;
        }
        if let Some(i) = reached {
            return Err(Error::UntrustedChain(format!(
                "the trusted certificate {} is not a root (its issuer is {}) and its issuer is \
                 not trusted; the trust file must hold the root",
                anchors[i].subject(),
                crate::trust::display_name(&anchors[i].cert.tbs_certificate.issuer)
            )));
        }
        let mut next = None;
        for cand in pool {
            if chain.iter().any(|(c, _)| *c == cand) {
                continue;
            }
            let cand_exts = exts(cand)?;
            if may_have_issued(cand, &cand_exts, child, child_exts) {
                next = Some((cand, cand_exts));
                break;
            }
        }
        let Some((issuer, issuer_exts)) = next else {
            let roots: Vec<String> = anchors
                .iter()
                .map(|a| format!("{} (SHA-256 {})", a.subject(), a.fingerprint()))
                .collect();
            return Err(Error::UntrustedChain(format!(
                "no issuer found for {} (issuer {}) among the CMS certificates, and it is not \
                 issued by the trust anchor {}",
                subject(child),
                crate::trust::display_name(&child.tbs_certificate.issuer),
                roots.join(" or ")
            )));
        };
        check_signature(child, issuer)?;
        chain.push((issuer, issuer_exts));
    }

    check_extensions(&chain)?;
    for (cert, _) in &chain {
        check_time(cert, now)?;
    }
    let subjects = chain.iter().map(|(c, _)| subject(c)).collect();
    Ok((subjects, reached.unwrap_or(0)))
}

fn self_issued(cert: &Certificate) -> bool {
    same_name(&cert.tbs_certificate.subject, &cert.tbs_certificate.issuer)
}

fn check_signature(child: &Certificate, issuer: &Certificate) -> Result<(), Error> {
    let what = format!(
        "signature of certificate {} by {}",
        subject(child),
        subject(issuer)
    );
    let alg = child.signature_algorithm.oid;
    let (family, hash) = cert_signature_alg(&alg)
        .ok_or_else(|| Error::Unsupported(format!("{what}: algorithm {}", sig::oid_name(&alg))))?;
    let tbs = child
        .tbs_certificate
        .to_der()
        .map_err(|e| Error::Malformed(format!("{what}: cannot encode the certificate: {e}")))?;
    let sig_bytes = child
        .signature
        .as_bytes()
        .ok_or_else(|| Error::BadSignature(format!("{what}: the signature has unused bits")))?;
    sig::verify_prehash(
        &what,
        &issuer.tbs_certificate.subject_public_key_info,
        family,
        hash,
        &hash.digest(&tbs),
        sig_bytes,
    )
}

/// CA, path length and S/MIME purpose rules (OpenSSL's `check_chain_extensions`).
fn check_extensions(chain: &[(&Certificate, Exts)]) -> Result<(), Error> {
    let last = chain.len() - 1;
    let mut below = 0usize; // non-self-issued intermediates below the current certificate
    for (i, (cert, e)) in chain.iter().enumerate() {
        let name = subject(cert);
        if let Some(eku) = &e.eku {
            if !eku.0.contains(&EMAIL_PROTECTION) {
                return Err(Error::UntrustedChain(format!(
                    "certificate {name} has an extendedKeyUsage without emailProtection, which \
                     OpenSSL's smime_sign purpose requires"
                )));
            }
        }
        if i == 0 {
            if let Some(ku) = &e.key_usage {
                if !ku.digital_signature() && !ku.non_repudiation() {
                    return Err(Error::UntrustedChain(format!(
                        "signer certificate {name} has a keyUsage without digitalSignature or \
                         nonRepudiation"
                    )));
                }
            }
            continue;
        }
        // An issuer: must be a CA. OpenSSL tolerates a root without basicConstraints when it
        // is a v1 self-signed certificate or has a keyUsage (with keyCertSign).
        if let Some(ku) = &e.key_usage {
            if !ku.key_cert_sign() {
                return Err(Error::UntrustedChain(format!(
                    "issuer {name} has a keyUsage without keyCertSign"
                )));
            }
        }
        match &e.basic {
            Some(b) if b.ca => {}
            Some(_) => {
                return Err(Error::UntrustedChain(format!(
                    "issuer {name} is not a CA (basicConstraints CA:FALSE)"
                )))
            }
            None => {
                let v1_self_signed = cert.tbs_certificate.version == x509_cert::Version::V1
                    && same_name(&cert.tbs_certificate.subject, &cert.tbs_certificate.issuer);
                if i != last || !(v1_self_signed || e.key_usage.is_some()) {
                    return Err(Error::UntrustedChain(format!(
                        "issuer {name} has no basicConstraints extension, so it is not a CA"
                    )));
                }
            }
        }
        if e.name_constraints {
            return Err(Error::Unsupported(format!(
                "issuer {name} has nameConstraints, which this verifier does not implement"
            )));
        }
        if i > 1 {
            if let Some(limit) = e.basic.as_ref().and_then(|b| b.path_len_constraint) {
                if below > usize::from(limit) {
                    return Err(Error::UntrustedChain(format!(
                        "path length exceeded: {name} allows {limit} intermediate CAs below it, \
                         the chain has {below}"
                    )));
                }
            }
        }
        if !same_name(&cert.tbs_certificate.subject, &cert.tbs_certificate.issuer) {
            below += 1;
        }
    }
    Ok(())
}

/// Valid iff notBefore <= now < notAfter (OpenSSL's `X509_cmp_time` comparisons).
fn check_time(cert: &Certificate, now: i64) -> Result<(), Error> {
    let v = &cert.tbs_certificate.validity;
    let not_before = v.not_before.to_unix_duration().as_secs() as i64;
    let not_after = v.not_after.to_unix_duration().as_secs() as i64;
    if now < not_before {
        return Err(Error::NotYetValid {
            subject: subject(cert),
            not_before: Timestamp(not_before),
            now: Timestamp(now),
        });
    }
    if now >= not_after {
        return Err(Error::Expired {
            subject: subject(cert),
            not_after: Timestamp(not_after),
            now: Timestamp(now),
        });
    }
    Ok(())
}

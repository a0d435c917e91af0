//! The CMS SignedData: which certificate signed, what it signed (the signed attributes or the
//! content digest), and whether the signature and the message digest hold. Mirrors
//! `CMS_verify` in OpenSSL's crypto/cms/cms_smime.c: every SignerInfo must verify.

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use const_oid::db::rfc5911;
use der::asn1::{ObjectIdentifier as Oid, OctetString};
use der::{Decode, Encode};
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::Certificate;

use crate::sig::{self, Hash};
use crate::Error;

/// The parts of the SignedData that verification uses.
pub(crate) struct Signed {
    pub certs: Vec<Certificate>,
    pub signers: Vec<SignerInfo>,
}

/// Digest algorithms OpenSSL 3.0's default provider can set up for `digestAlgorithms`; any
/// other makes OpenSSL fail, a known one other than the signer's is computed and unused.
fn known_digest(oid: &Oid) -> bool {
    let s = oid.to_string();
    match s.strip_prefix("2.16.840.1.101.3.4.2.") {
        // SHA-2, SHA-3 and SHAKE.
        Some(n) => n.parse::<u8>().is_ok_and(|n| (1..=12).contains(&n)),
        // SHA-1, MD5, RIPEMD-160, SM3.
        None => matches!(
            s.as_str(),
            "1.3.14.3.2.26" | "1.2.840.113549.2.5" | "1.3.36.3.2.1" | "1.2.156.10197.1.401"
        ),
    }
}

pub(crate) fn parse(der: &[u8]) -> Result<Signed, Error> {
    let ci = ContentInfo::from_der(der)
        .map_err(|e| Error::Malformed(format!("the signature is not a CMS ContentInfo: {e}")))?;
    if ci.content_type != rfc5911::ID_SIGNED_DATA {
        return Err(Error::Malformed(format!(
            "the signature is a CMS {}, expected SignedData",
            sig::oid_name(&ci.content_type)
        )));
    }
    let sd: SignedData = ci
        .content
        .decode_as()
        .map_err(|e| Error::Malformed(format!("the CMS SignedData does not parse: {e}")))?;
    if sd.encap_content_info.econtent.is_some() {
        return Err(Error::malformed(
            "the CMS SignedData embeds content; a signed installer's signature is detached",
        ));
    }
    for alg in sd.digest_algorithms.iter() {
        if !known_digest(&alg.oid) {
            return Err(Error::Unsupported(format!(
                "digest algorithm {} in the SignedData",
                sig::oid_name(&alg.oid)
            )));
        }
    }
    let certs = sd
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            CertificateChoices::Certificate(cert) => Some(cert.clone()),
            CertificateChoices::Other(_) => None,
        })
        .collect();
    let signers: Vec<SignerInfo> = sd.signer_infos.0.iter().cloned().collect();
    if signers.is_empty() {
        return Err(Error::malformed("the CMS SignedData has no signers"));
    }
    Ok(Signed { certs, signers })
}

/// The certificate a SignerInfo names, from the CMS certificates.
pub(crate) fn signer_cert<'a>(
    si: &SignerInfo,
    certs: &'a [Certificate],
) -> Result<&'a Certificate, Error> {
    let found = certs.iter().find(|c| match &si.sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => {
            c.tbs_certificate.issuer == ias.issuer
                && c.tbs_certificate.serial_number == ias.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(skid) => c
            .tbs_certificate
            .get::<SubjectKeyIdentifier>()
            .ok()
            .flatten()
            .is_some_and(|(_, id)| id.0 == skid.0),
    });
    found.ok_or_else(|| {
        let named = match &si.sid {
            SignerIdentifier::IssuerAndSerialNumber(ias) => format!(
                "issuer {} serial {}",
                crate::trust::display_name(&ias.issuer),
                hex::encode(ias.serial_number.as_bytes())
            ),
            SignerIdentifier::SubjectKeyIdentifier(skid) => {
                format!("subject key identifier {}", hex::encode(skid.0.as_bytes()))
            }
        };
        Error::UntrustedChain(format!(
            "the signer's certificate ({named}) is not among the {} certificates in the CMS",
            certs.len()
        ))
    })
}

/// The SignerInfo's digest algorithm; only SHA-256 is computed over the content (the digest is
/// taken in the same pass as the download, before the signature part is read), so any other
/// fails closed.
pub(crate) fn content_hash(si: &SignerInfo) -> Result<Hash, Error> {
    match Hash::from_digest_oid(&si.digest_alg.oid) {
        Some(Hash::Sha256) => Ok(Hash::Sha256),
        _ => Err(Error::Unsupported(format!(
            "unsupported digest {} in the signature (only SHA-256 is computed)",
            sig::oid_name(&si.digest_alg.oid)
        ))),
    }
}

/// Checks one SignerInfo against the content digest and the signer's key.
pub(crate) fn verify_signer(
    si: &SignerInfo,
    cert: &Certificate,
    content_digest: &[u8],
) -> Result<(), Error> {
    let hash = content_hash(si)?;
    let spki = &cert.tbs_certificate.subject_public_key_info;
    let family = sig::signer_family(&spki.algorithm.oid, &si.signature_algorithm.oid)?;
    let what = format!(
        "CMS signature by {}",
        crate::trust::display_name(&cert.tbs_certificate.subject)
    );
    let Some(attrs) = &si.signed_attrs else {
        // No signed attributes: the signature is over the content digest itself.
        return sig::verify_prehash(
            &what,
            spki,
            family,
            hash,
            content_digest,
            si.signature.as_bytes(),
        )
        .map_err(|e| match e {
            Error::BadSignature(m) => Error::BadSignature(format!(
                "{m} (no signed attributes: the signed content differs from the file's, or the \
                 signature was not made by this certificate)"
            )),
            other => other,
        });
    };
    let mut content_type: Vec<&Oid> = Vec::new();
    let mut message_digest: Vec<OctetString> = Vec::new();
    for attr in attrs.iter() {
        let single = attr.oid == rfc5911::ID_CONTENT_TYPE || attr.oid == rfc5911::ID_MESSAGE_DIGEST;
        if single && attr.values.len() != 1 {
            return Err(Error::Malformed(format!(
                "signed attribute {} has {} values, expected 1",
                sig::oid_name(&attr.oid),
                attr.values.len()
            )));
        }
        for v in attr.values.iter() {
            if attr.oid == rfc5911::ID_CONTENT_TYPE {
                content_type.push(&attr.oid);
                let ct: Oid = v.decode_as().map_err(|e| {
                    Error::Malformed(format!("the contentType attribute is not an OID: {e}"))
                })?;
                if ct != rfc5911::ID_DATA {
                    return Err(Error::Malformed(format!(
                        "the signed contentType is {}, expected id-data",
                        sig::oid_name(&ct)
                    )));
                }
            } else if attr.oid == rfc5911::ID_MESSAGE_DIGEST {
                message_digest.push(v.decode_as().map_err(|e| {
                    Error::Malformed(format!(
                        "the messageDigest attribute is not an OCTET STRING: {e}"
                    ))
                })?);
            }
        }
    }
    if content_type.len() != 1 || message_digest.len() != 1 {
        return Err(Error::Malformed(format!(
            "the signed attributes must hold one contentType and one messageDigest, found {} \
             and {}",
            content_type.len(),
            message_digest.len()
        )));
    }
    let expected = message_digest[0].as_bytes();
    if expected != content_digest {
        return Err(Error::DigestMismatch {
            algorithm: hash.name(),
            expected: hex::encode(expected),
            actual: hex::encode(content_digest),
        });
    }
    // The signature is over the DER SET OF the signed attributes (re-encoded, as OpenSSL does).
    let encoded = attrs
        .to_der()
        .map_err(|e| Error::Malformed(format!("cannot encode the signed attributes: {e}")))?;
    sig::verify_prehash(
        &what,
        spki,
        family,
        hash,
        &hash.digest(&encoded),
        si.signature.as_bytes(),
    )
}

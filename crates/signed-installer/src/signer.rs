//! The CMS SignedData: which certificate signed, what it signed (the signed attributes or the
//! content digest), and whether the signature and the message digest hold. Mirrors
//! `CMS_verify` in OpenSSL's crypto/cms/cms_smime.c: every SignerInfo must verify.
//!
//! The outer structure is read with the lenient reader in `ber.rs` (OpenSSL does not look at
//! the versions, the encapsulated content type or an EC signer's signatureAlgorithm); the
//! signed attributes and the certificates, which signatures cover, with the strict DER types.

use cms::signed_data::SignedAttributes;
use const_oid::db::rfc5911;
use der::asn1::{ObjectIdentifier as Oid, OctetString};
use der::{Decode, Encode};
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::Certificate;

use crate::ber::{self, Reader};
use crate::names::same_name;
use crate::sig::{self, Hash};
use crate::Error;

/// DER content of the id-signedData object identifier (1.2.840.113549.1.7.2).
const ID_SIGNED_DATA: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
/// SHA-256 (2.16.840.1.101.3.4.2.1).
const ID_SHA256: [u8; 9] = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];

/// How a SignerInfo names its certificate.
pub(crate) enum Sid<'a> {
    /// The issuer's Name (its DER) and the serial number (INTEGER content octets).
    IssuerSerial { issuer: &'a [u8], serial: &'a [u8] },
    /// The subject key identifier.
    KeyId(&'a [u8]),
}

/// The fields of a SignerInfo that verification uses.
pub(crate) struct SignerInfo<'a> {
    pub sid: Sid<'a>,
    /// digestAlgorithm OID (content octets).
    pub digest: &'a [u8],
    /// The signed attributes, parsed (they are covered by the signature).
    pub signed_attrs: Option<SignedAttributes>,
    /// signatureAlgorithm OID (content octets).
    pub sig_alg: &'a [u8],
    pub signature: &'a [u8],
}

/// The parts of the SignedData that verification uses.
pub(crate) struct Signed<'a> {
    pub certs: Vec<Certificate>,
    pub signers: Vec<SignerInfo<'a>>,
    /// The OIDs of `digestAlgorithms`, in order (OpenSSL digests the content with each).
    pub digest_algs: Vec<&'a [u8]>,
}

/// Digest algorithms OpenSSL 3.0's default provider can set up for `digestAlgorithms`; any
/// other makes OpenSSL fail, a known one other than the signer's is computed and unused.
fn known_digest(oid: &[u8]) -> bool {
    match oid {
        // SHA-2, SHA-3 and SHAKE: 2.16.840.1.101.3.4.2.1 to .12.
        [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, n] => (1..=12).contains(n),
        // SHA-1, MD5, RIPEMD-160, SM3.
        [0x2b, 0x0e, 0x03, 0x02, 0x1a]
        | [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05]
        | [0x2b, 0x24, 0x03, 0x02, 0x01]
        | [0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x83, 0x11] => true,
        _ => false,
    }
}

pub(crate) fn parse(der: &[u8]) -> Result<Signed<'_>, Error> {
    parse_inner(der).map_err(|e| Error::Malformed(format!("the CMS signature does not parse: {e}")))
}

fn parse_inner(der: &[u8]) -> Result<Signed<'_>, String> {
    let mut top = Reader::new(der, "ContentInfo");
    let ci = top.expect(ber::SEQUENCE, "ContentInfo")?;
    let mut r = Reader::new(ci.value, "ContentInfo");
    let content_type = r.oid("contentType")?;
    if content_type != ID_SIGNED_DATA {
        return Err(format!(
            "the signature is a CMS {}, expected SignedData",
            ber::oid_text(content_type)
        ));
    }
    let content = r.expect(0xa0, "[0] content")?;
    r.finish()?;
    let mut r = Reader::new(content.value, "SignedData");
    let sd = r.expect(ber::SEQUENCE, "SignedData")?;
    r.finish()?;

    let mut r = Reader::new(sd.value, "SignedData");
    r.integer("version")?;
    let algs = r.expect(ber::SET, "digestAlgorithms")?;
    let mut ar = Reader::new(algs.value, "digestAlgorithms");
    let mut digest_algs = Vec::new();
    while !ar.is_empty() {
        let oid = ar.algorithm("digestAlgorithm")?;
        if !known_digest(oid) {
            return Err(format!(
                "unknown digest algorithm {} in digestAlgorithms",
                ber::oid_text(oid)
            ));
        }
        digest_algs.push(oid);
    }
    let encap = r.expect(ber::SEQUENCE, "encapContentInfo")?;
    let mut er = Reader::new(encap.value, "encapContentInfo");
    er.oid("eContentType")?;
    if er.optional(0xa0)?.is_some() {
        return Err("the SignedData embeds content; an installer's signature is detached".into());
    }
    er.finish()?;
    let certs = match r.optional(0xa0)? {
        Some(set) => certificates(set.value)?,
        None => Vec::new(),
    };
    // CRLs are not consulted by the documented check.
    r.optional(0xa1)?;
    let infos = r.expect(ber::SET, "signerInfos")?;
    r.finish()?;
    let mut ir = Reader::new(infos.value, "signerInfos");
    let mut signers = Vec::new();
    while !ir.is_empty() {
        let si = ir.expect(ber::SEQUENCE, "SignerInfo")?;
        signers.push(signer_info(si.value)?);
    }
    if signers.is_empty() {
        return Err("the SignedData has no signers".into());
    }
    Ok(Signed {
        certs,
        signers,
        digest_algs,
    })
}

/// The X.509 certificates of the `certificates` field (other choices are skipped).
fn certificates(set: &[u8]) -> Result<Vec<Certificate>, String> {
    let mut r = Reader::new(set, "certificates");
    let mut certs = Vec::new();
    while !r.is_empty() {
        let t = r.any()?;
        if t.tag == ber::SEQUENCE {
            let cert = Certificate::from_der(t.raw).map_err(|e| {
                format!(
                    "certificate {} in the CMS does not parse: {e}",
                    certs.len() + 1
                )
            })?;
            certs.push(cert);
        }
    }
    Ok(certs)
}

fn signer_info(v: &[u8]) -> Result<SignerInfo<'_>, String> {
    let mut r = Reader::new(v, "SignerInfo");
    r.integer("version")?;
    let t = r.any()?;
    let sid = match t.tag {
        ber::SEQUENCE => {
            let mut ir = Reader::new(t.value, "issuerAndSerialNumber");
            let issuer = ir.expect(ber::SEQUENCE, "issuer")?.raw;
            let serial = ir.integer("serialNumber")?;
            ir.finish()?;
            Sid::IssuerSerial { issuer, serial }
        }
        0x80 => Sid::KeyId(t.value),
        other => {
            return Err(format!(
                "SignerInfo: unknown signer identifier tag 0x{other:02x}"
            ))
        }
    };
    let digest = r.algorithm("digestAlgorithm")?;
    let signed_attrs = match r.optional(0xa0)? {
        Some(t) => {
            // [0] IMPLICIT SET OF Attribute: read it as the SET it stands for.
            let mut set = t.raw.to_vec();
            set[0] = ber::SET;
            Some(
                SignedAttributes::from_der(&set)
                    .map_err(|e| format!("SignerInfo: the signed attributes do not parse: {e}"))?,
            )
        }
        None => None,
    };
    let sig_alg = r.algorithm("signatureAlgorithm")?;
    let signature = r.expect(ber::OCTET_STRING, "signature")?.value;
    r.optional(0xa1)?;
    r.finish()?;
    Ok(SignerInfo {
        sid,
        digest,
        signed_attrs,
        sig_alg,
        signature,
    })
}

/// The certificate a SignerInfo names, from the CMS certificates.
pub(crate) fn signer_cert<'a>(
    si: &SignerInfo<'_>,
    certs: &'a [Certificate],
) -> Result<&'a Certificate, Error> {
    let found = certs.iter().find(|c| match &si.sid {
        Sid::IssuerSerial { issuer, serial } => {
            c.tbs_certificate.serial_number.as_bytes() == *serial
                && match x509_cert::name::Name::from_der(issuer) {
                    Ok(name) => same_name(&c.tbs_certificate.issuer, &name),
                    Err(_) => c
                        .tbs_certificate
                        .issuer
                        .to_der()
                        .is_ok_and(|n| n == *issuer),
                }
        }
        Sid::KeyId(id) => c
            .tbs_certificate
            .get::<SubjectKeyIdentifier>()
            .ok()
            .flatten()
            .is_some_and(|(_, skid)| skid.0.as_bytes() == *id),
    });
    found.ok_or_else(|| {
        let named = match &si.sid {
            Sid::IssuerSerial { issuer, serial } => format!(
                "issuer {} serial {}",
                x509_cert::name::Name::from_der(issuer)
                    .map_or_else(|_| hex::encode(issuer), |n| crate::trust::display_name(&n)),
                hex::encode(serial)
            ),
            Sid::KeyId(id) => format!("subject key identifier {}", hex::encode(id)),
        };
        Error::UntrustedChain(format!(
            "the signer's certificate ({named}) is not among the {} certificates in the CMS",
            certs.len()
        ))
    })
}

/// Whether OpenSSL has a name for an OID near the digest OIDs (AES, SHA-2/SHA-3/SHAKE/KMAC,
/// DSA and ECDSA with SHA-2/SHA-3: 2.16.840.1.101.3.4.{1,2,3}.n): those are not "unknown".
fn openssl_knows(oid: &[u8]) -> bool {
    matches!(oid, [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 1..=3, n] if *n <= 64)
}

/// The digest the content is hashed with for this SignerInfo, as OpenSSL picks it
/// (`ossl_cms_DigestAlgorithm_find_ctx`): the `digestAlgorithms` entry that matches the
/// SignerInfo's digestAlgorithm; without signed attributes, an OID OpenSSL does not know
/// matches the first entry (its "broken implementations" workaround compares the unknown
/// NID 0 with the digest's pkey type, which is 0 for 3.0's provider digests). Only SHA-256 is
/// computed over the content (during the download, before the signature part is read), so
/// any other digest fails closed.
pub(crate) fn content_hash(si: &SignerInfo<'_>, digest_algs: &[&[u8]]) -> Result<Hash, Error> {
    let unknown =
        si.signed_attrs.is_none() && !known_digest(si.digest) && !openssl_knows(si.digest);
    let effective = if unknown {
        digest_algs.first().copied()
    } else {
        digest_algs.iter().copied().find(|d| *d == si.digest)
    };
    match effective {
        Some(oid) if oid == ID_SHA256 => Ok(Hash::Sha256),
        Some(oid) => Err(Error::Unsupported(format!(
            "digest {} in the signature (only SHA-256 is computed)",
            ber::oid_text(oid)
        ))),
        None => Err(Error::Malformed(format!(
            "the SignerInfo's digest {} is not among the SignedData's digestAlgorithms",
            ber::oid_text(si.digest)
        ))),
    }
}

/// Checks one SignerInfo against the content digest and the signer's key.
pub(crate) fn verify_signer(
    si: &SignerInfo<'_>,
    digest_algs: &[&[u8]],
    cert: &Certificate,
    content_digest: &[u8],
) -> Result<(), Error> {
    let hash = content_hash(si, digest_algs)?;
    let spki = &cert.tbs_certificate.subject_public_key_info;
    let family = sig::signer_family(&spki.algorithm.oid, si.sig_alg)?;
    let what = format!(
        "CMS signature by {}",
        crate::trust::display_name(&cert.tbs_certificate.subject)
    );
    let Some(attrs) = &si.signed_attrs else {
        // No signed attributes: the signature is over the content digest itself.
        return sig::verify_prehash(&what, spki, family, hash, content_digest, si.signature)
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
        si.signature,
    )
}

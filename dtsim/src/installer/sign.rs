//! The detached CMS signature and the MIME part that carries it, as in Dynatrace's installers.

use anyhow::Context;
use base64::Engine;
use std::time::SystemTime;

use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier};
use der::asn1::{SetOfVec, UtcTime};
use der::oid::ObjectIdentifier;
use der::{DateTime, Decode, Encode};
use spki::{AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier};

use super::ca::Signer;

/// id-data (RFC 5652): the signed content is plain data.
const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
/// id-sha256 (RFC 5754).
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");

/// id-signingTime (RFC 5652 section 11.3).
const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
/// ecdsa-with-SHA256 (RFC 5758), no parameters.
const ID_ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

/// The signer key as the CMS builder wants it. A local wrapper names the signature algorithm
/// itself, which p256's own impl would only do with sha2's `oid` feature.
struct EcdsaP256<'a>(&'a p256::ecdsa::SigningKey);

impl signature::Keypair for EcdsaP256<'_> {
    type VerifyingKey = p256::ecdsa::VerifyingKey;
    fn verifying_key(&self) -> Self::VerifyingKey {
        *self.0.verifying_key()
    }
}

impl DynSignatureAlgorithmIdentifier for EcdsaP256<'_> {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(AlgorithmIdentifierOwned {
            oid: ID_ECDSA_WITH_SHA256,
            parameters: None,
        })
    }
}

impl signature::Signer<p256::ecdsa::DerSignature> for EcdsaP256<'_> {
    fn try_sign(&self, msg: &[u8]) -> Result<p256::ecdsa::DerSignature, signature::Error> {
        let sig: p256::ecdsa::Signature = self.0.try_sign(msg)?;
        Ok(sig.to_der())
    }
}

/// The boundary line as it appears in the file (the MIME boundary is "--SIGNED-INSTALLER").
pub(crate) const BOUNDARY_LINE: &str = "----SIGNED-INSTALLER";

/// Everything after the signed text: the empty line that ends the first MIME part, the
/// boundary, the `smime.p7s` part, the closing boundary.
pub(crate) fn smime_tail(
    digest: &[u8; 32],
    signer: &Signer,
    signed_at: SystemTime,
) -> anyhow::Result<Vec<u8>> {
    let der = signed_data(digest, signer, signed_at)
        .context("building the CMS signature of an installer")?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + 400);
    out.push('\n');
    out.push_str(BOUNDARY_LINE);
    out.push('\n');
    out.push_str("Content-Type: application/x-pkcs7-signature; name=\"smime.p7s\"\n");
    out.push_str("Content-Transfer-Encoding: base64\n");
    out.push_str("Content-Disposition: attachment; filename=\"smime.p7s\"\n");
    out.push('\n');
    // `as_bytes().chunks` on ASCII base64 never splits a character.
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(BOUNDARY_LINE);
    out.push_str("--\n");
    Ok(out.into_bytes())
}

/// DER ContentInfo(SignedData): detached, SHA-256, signed attributes contentType,
/// messageDigest and signingTime (`signed_at`), the signer certificate included.
fn signed_data(
    digest: &[u8; 32],
    signer: &Signer,
    signed_at: SystemTime,
) -> anyhow::Result<Vec<u8>> {
    let cert = x509_cert::Certificate::from_der(&signer.cert_der)
        .context("parsing the signer certificate")?;
    let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer: cert.tbs_certificate.issuer.clone(),
        serial_number: cert.tbs_certificate.serial_number.clone(),
    });
    let sha256 = AlgorithmIdentifierOwned {
        oid: ID_SHA256,
        parameters: None,
    };
    let econtent = EncapsulatedContentInfo {
        econtent_type: ID_DATA,
        econtent: None,
    };
    let key = EcdsaP256(&signer.key);
    let mut signer_info = SignerInfoBuilder::new(
        &key,
        sid,
        sha256.clone(),
        &econtent,
        Some(digest.as_slice()),
    )
    .map_err(|e| anyhow::anyhow!("preparing the signer info: {e}"))?;
    signer_info
        .add_signed_attribute(signing_time(signed_at)?)
        .map_err(|e| anyhow::anyhow!("adding the signingTime attribute: {e}"))?;
    let mut builder = SignedDataBuilder::new(&econtent);
    builder
        .add_digest_algorithm(sha256)
        .map_err(|e| anyhow::anyhow!("adding the digest algorithm: {e}"))?
        .add_certificate(CertificateChoices::Certificate(cert))
        .map_err(|e| anyhow::anyhow!("adding the signer certificate: {e}"))?
        .add_signer_info::<_, p256::ecdsa::DerSignature>(signer_info)
        .map_err(|e| anyhow::anyhow!("signing with the installer signer key: {e}"))?;
    let content_info = builder
        .build()
        .map_err(|e| anyhow::anyhow!("assembling the SignedData: {e}"))?;
    content_info
        .to_der()
        .map_err(|e| anyhow::anyhow!("encoding the SignedData as DER: {e}"))
}

/// The signingTime attribute for `at`, as UTCTime (RFC 5652 requires it for 1950-2049). The
/// cms builder's own helper takes the current time only.
fn signing_time(at: SystemTime) -> anyhow::Result<x509_cert::attr::Attribute> {
    let time = DateTime::from_system_time(at)
        .and_then(UtcTime::from_date_time)
        .and_then(|t| t.to_der())
        .map_err(|e| anyhow::anyhow!("encoding the signingTime {at:?}: {e}"))?;
    let value = x509_cert::attr::AttributeValue::from_der(&time)
        .map_err(|e| anyhow::anyhow!("reading back the signingTime: {e}"))?;
    let mut values = SetOfVec::new();
    values
        .insert(value)
        .map_err(|e| anyhow::anyhow!("building the signingTime attribute: {e}"))?;
    Ok(x509_cert::attr::Attribute {
        oid: ID_SIGNING_TIME,
        values,
    })
}

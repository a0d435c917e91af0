//! Signature primitives: RSA PKCS#1 v1.5 and ECDSA (P-256, P-384) over a precomputed digest.

use const_oid::db::{rfc5912, rfc5912::ID_EC_PUBLIC_KEY};
use der::asn1::ObjectIdentifier as Oid;
use sha2::{Digest, Sha256, Sha384, Sha512};
use signature::hazmat::PrehashVerifier;
use spki::SubjectPublicKeyInfoOwned;

use crate::Error;

/// A hash this verifier computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Hash::Sha256 => "SHA-256",
            Hash::Sha384 => "SHA-384",
            Hash::Sha512 => "SHA-512",
        }
    }

    pub(crate) fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha384 => Sha384::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
}

/// The key family a signature algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Rsa,
    Ecdsa,
}

/// A certificate's signature algorithm: the family and the hash it signs with.
pub(crate) fn cert_signature_alg(oid: &Oid) -> Option<(Family, Hash)> {
    match *oid {
        rfc5912::SHA_256_WITH_RSA_ENCRYPTION => Some((Family::Rsa, Hash::Sha256)),
        rfc5912::SHA_384_WITH_RSA_ENCRYPTION => Some((Family::Rsa, Hash::Sha384)),
        rfc5912::SHA_512_WITH_RSA_ENCRYPTION => Some((Family::Rsa, Hash::Sha512)),
        rfc5912::ECDSA_WITH_SHA_256 => Some((Family::Ecdsa, Hash::Sha256)),
        rfc5912::ECDSA_WITH_SHA_384 => Some((Family::Ecdsa, Hash::Sha384)),
        rfc5912::ECDSA_WITH_SHA_512 => Some((Family::Ecdsa, Hash::Sha512)),
        _ => None,
    }
}

/// The signature family of a CMS SignerInfo, as OpenSSL 3.0 decides it: by the signer's key.
/// For an EC key the SignerInfo's signatureAlgorithm is not looked at (ECDSA with the
/// SignerInfo's digest); for an RSA key it must be rsaEncryption or an RSA PKCS#1 v1.5
/// signature OID (`rsa_cms_verify`), RSA-PSS is not implemented here (fails closed).
pub(crate) fn signer_family(key_alg: &Oid, sig_alg: &[u8]) -> Result<Family, Error> {
    if *key_alg == ID_EC_PUBLIC_KEY {
        return Ok(Family::Ecdsa);
    }
    if *key_alg != rfc5912::RSA_ENCRYPTION {
        return Err(Error::Unsupported(format!(
            "signer key type {}",
            oid_name(key_alg)
        )));
    }
    const PKCS1: [u8; 8] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const SHA3_RSA: [u8; 8] = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03];
    let pkcs1 = match sig_alg.split_last() {
        // rsaEncryption, md2/md4/md5/sha1WithRSAEncryption, sha256/384/512/224 and
        // sha512-224/256WithRSAEncryption.
        Some((n, prefix)) if prefix == PKCS1 => matches!(n, 1..=5 | 11..=16),
        // sha3-224/256/384/512WithRSAEncryption.
        Some((n, prefix)) if prefix == SHA3_RSA => matches!(n, 13..=16),
        // sha1WithRSA (OIW).
        _ => sig_alg == [0x2b, 0x0e, 0x03, 0x02, 0x1d],
    };
    if pkcs1 {
        Ok(Family::Rsa)
    } else if sig_alg.split_last() == Some((&10, &PKCS1[..])) {
        Err(Error::Unsupported("RSA-PSS signatures".into()))
    } else {
        Err(Error::BadSignature(format!(
            "signature algorithm {} does not fit the signer's RSA key",
            crate::ber::oid_text(sig_alg)
        )))
    }
}

/// A short name of an algorithm OID for messages.
pub(crate) fn oid_name(oid: &Oid) -> String {
    const_oid::db::DB
        .by_oid(oid)
        .map_or_else(|| oid.to_string(), |name| format!("{name} ({oid})"))
}

/// RSA keys below this size are refused, as OpenSSL's default security level refuses them.
const MIN_RSA_BITS: usize = 1024;

/// Verify `sig` over a message whose `hash` digest is `digest`, with the key in `spki`.
/// `what` names the signature in the error (which says what did not match).
pub(crate) fn verify_prehash(
    what: &str,
    spki: &SubjectPublicKeyInfoOwned,
    family: Family,
    hash: Hash,
    digest: &[u8],
    sig: &[u8],
) -> Result<(), Error> {
    check(spki, family, hash, digest, sig).map_err(|e| match e {
        Fail::Bad(m) => Error::BadSignature(format!("{what}: {m}")),
        Fail::Unsupported(m) => Error::Unsupported(format!("{what}: {m}")),
    })
}

/// RSA keys up to this size are read (the `rsa` crate's default limit is 4096 bits; OpenSSL
/// verifies with larger keys too).
const MAX_RSA_BITS: usize = 16384;

fn rsa_key(spki: &SubjectPublicKeyInfoOwned) -> Result<rsa::RsaPublicKey, Fail> {
    use der::Decode;
    let unusable = |e: String| Fail::Bad(format!("unusable RSA public key: {e}"));
    let k = rsa::pkcs1::RsaPublicKey::from_der(spki.subject_public_key.raw_bytes())
        .map_err(|e| unusable(e.to_string()))?;
    let n = rsa::BigUint::from_bytes_be(k.modulus.as_bytes());
    let e = rsa::BigUint::from_bytes_be(k.public_exponent.as_bytes());
    rsa::RsaPublicKey::new_with_max_size(n, e, MAX_RSA_BITS).map_err(|e| unusable(e.to_string()))
}

enum Fail {
    Bad(String),
    Unsupported(String),
}

fn check(
    spki: &SubjectPublicKeyInfoOwned,
    family: Family,
    hash: Hash,
    digest: &[u8],
    sig: &[u8],
) -> Result<(), Fail> {
    let key_alg = spki.algorithm.oid;
    match family {
        Family::Rsa => {
            if key_alg != rfc5912::RSA_ENCRYPTION {
                return Err(Fail::Bad(format!(
                    "an RSA signature but the key is {}",
                    oid_name(&key_alg)
                )));
            }
            let key = rsa_key(spki)?;
            let bits = rsa::traits::PublicKeyParts::size(&key) * 8;
            if bits < MIN_RSA_BITS {
                return Err(Fail::Bad(format!(
                    "the RSA key has {bits} bits, fewer than the {MIN_RSA_BITS} OpenSSL accepts"
                )));
            }
            let scheme = match hash {
                Hash::Sha256 => rsa::Pkcs1v15Sign::new::<Sha256>(),
                Hash::Sha384 => rsa::Pkcs1v15Sign::new::<Sha384>(),
                Hash::Sha512 => rsa::Pkcs1v15Sign::new::<Sha512>(),
            };
            key.verify(scheme, digest, sig)
                .map_err(|_| Fail::Bad("the RSA signature does not verify".to_string()))
        }
        Family::Ecdsa => {
            if key_alg != ID_EC_PUBLIC_KEY {
                return Err(Fail::Bad(format!(
                    "an ECDSA signature but the key is {}",
                    oid_name(&key_alg)
                )));
            }
            let curve: Option<Oid> = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as().ok());
            let point = spki.subject_public_key.raw_bytes();
            let bad = || Fail::Bad("the ECDSA signature does not verify".to_string());
            match curve {
                Some(rfc5912::SECP_256_R_1) => {
                    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                        .map_err(|_| Fail::Bad("unusable P-256 public key".to_string()))?;
                    let sig = p256::ecdsa::Signature::from_der(sig).map_err(|_| bad())?;
                    key.verify_prehash(digest, &sig).map_err(|_| bad())
                }
                Some(rfc5912::SECP_384_R_1) => {
                    let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(point)
                        .map_err(|_| Fail::Bad("unusable P-384 public key".to_string()))?;
                    let sig = p384::ecdsa::Signature::from_der(sig).map_err(|_| bad())?;
                    key.verify_prehash(digest, &sig).map_err(|_| bad())
                }
                Some(other) => Err(Fail::Unsupported(format!(
                    "elliptic curve {} (P-256 and P-384 are supported)",
                    oid_name(&other)
                ))),
                None => Err(Fail::Unsupported(
                    "EC key without a named curve".to_string(),
                )),
            }
        }
    }
}

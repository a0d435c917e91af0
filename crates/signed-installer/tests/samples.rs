//! The verifier against OpenSSL-signed fixtures (tests/data, made by
//! scripts/difftest-fixtures.sh): valid, expired, tampered, wrong root, any chunking.
//! These need no openssl at run time; the differential test (difftest.rs) does.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use signed_installer::{
    verify, verify_any, verify_bytes, Digester, Error, TrustAnchor, DYNATRACE_ROOT_G1_SHA256,
};

fn data(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading fixture {}: {e}", path.display()))
}

fn root() -> TrustAnchor {
    TrustAnchor::from_pem(&data("root.pem")).expect("fixture root")
}

/// 2027-01-01T00:00:00Z: inside every fixture certificate's validity except the expired one.
fn at_2027() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_798_761_600)
}

#[test]
fn valid_installer_verifies_with_its_chain() {
    let file = data("valid.sh");
    let report = verify_bytes(&file, &root(), at_2027()).expect("valid fixture verifies");
    assert_eq!(
        report.chain,
        vec![
            "CN=Fixture signer, O=signed-installer tests".to_string(),
            "CN=Fixture Intermediate, O=signed-installer tests".to_string(),
            "CN=Fixture Root CA, O=signed-installer tests".to_string(),
        ]
    );
    assert_eq!(report.root_sha256, root().sha256());
    use sha2::Digest;
    assert_eq!(
        report.file_sha256,
        Some(<[u8; 32]>::from(sha2::Sha256::digest(&file)))
    );
}

#[test]
fn pem_and_der_anchors_are_the_same() {
    let der = TrustAnchor::from_der(&data("root.der")).unwrap();
    assert_eq!(der.sha256(), root().sha256());
    assert_eq!(
        der.subject(),
        "CN=Fixture Root CA, O=signed-installer tests"
    );
    assert!(!der.is_dynatrace_root_g1());
}

#[test]
fn long_lines_and_mixed_line_ends_verify() {
    verify_bytes(&data("long-lines.sh"), &root(), at_2027()).expect("long-lines fixture");
}

#[test]
fn any_chunking_gives_the_same_result() {
    let file = data("long-lines.sh");
    for size in [1, 2, 3, 511, 1022, 1023, 1024, 1025, 4096, 65536] {
        let mut d = Digester::new();
        for chunk in file.chunks(size) {
            d.update(chunk);
        }
        let parsed = d
            .finish()
            .unwrap_or_else(|e| panic!("chunks of {size}: {e}"));
        verify(&parsed, &root(), at_2027()).unwrap_or_else(|e| panic!("chunks of {size}: {e}"));
    }
}

#[test]
fn expired_signer_is_refused_with_dates() {
    let err = verify_bytes(&data("expired-signer.sh"), &root(), at_2027()).unwrap_err();
    match &err {
        Error::Expired {
            subject, not_after, ..
        } => {
            assert_eq!(subject, "CN=Fixture expired, O=signed-installer tests");
            assert_eq!(not_after.to_string(), "2021-01-01T00:00:00Z");
        }
        other => panic!("expected Expired, got {other}"),
    }
    assert!(
        err.to_string()
            .contains("verification time is 2027-01-01T00:00:00Z"),
        "{err}"
    );
}

#[test]
fn verification_time_matters() {
    let file = data("valid.sh");
    // Before the intermediate (and signer) became valid.
    let early = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let err = verify_bytes(&file, &root(), early).unwrap_err();
    assert!(matches!(err, Error::NotYetValid { .. }), "{err}");
    // After the signer expired (2098).
    let late = UNIX_EPOCH + Duration::from_secs(4_100_000_000);
    let err = verify_bytes(&file, &root(), late).unwrap_err();
    assert!(matches!(err, Error::Expired { .. }), "{err}");
}

#[test]
fn changed_script_is_a_digest_mismatch_with_both_values() {
    let mut file = data("valid.sh");
    let at = file.iter().position(|&b| b == b'i').unwrap();
    file[at] = b'I';
    let err = verify_bytes(&file, &root(), at_2027()).unwrap_err();
    let Error::DigestMismatch {
        expected,
        actual,
        algorithm,
    } = &err
    else {
        panic!("expected DigestMismatch, got {err}");
    };
    assert_eq!(*algorithm, "SHA-256");
    assert_eq!(expected.len(), 64);
    assert_eq!(actual.len(), 64);
    assert_ne!(expected, actual);
    assert!(err.to_string().contains(expected.as_str()), "{err}");
}

/// Dynatrace's real root, from the shared folder beside the repository (never committed: the
/// product pins its fingerprint). Missing, the test fails unless `SKIP_REAL_ROOT_TESTS=1`, so
/// CI (which has ../shared) never passes without checking the pin.
fn dynatrace_root_pem() -> Option<Vec<u8>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/dt-root.cert.pem");
    match std::fs::read(&path) {
        Ok(pem) => Some(pem),
        Err(_) if std::env::var("SKIP_REAL_ROOT_TESTS").as_deref() == Ok("1") => {
            eprintln!("SKIP_REAL_ROOT_TESTS=1: the Dynatrace root pin was not checked");
            None
        }
        Err(e) => panic!(
            "no Dynatrace root at {}: {e} (put a copy of shared/ beside the clone, or set \
             SKIP_REAL_ROOT_TESTS=1 to skip deliberately)",
            path.display()
        ),
    }
}

#[test]
fn dynatrace_root_matches_the_pin() {
    let Some(pem) = dynatrace_root_pem() else {
        return;
    };
    // The published file holds two roots (G1 and L2); the pin picks G1.
    assert_eq!(TrustAnchor::all_from_pem(&pem).unwrap().len(), 2);
    assert!(TrustAnchor::from_pem(&pem).is_err());
    let anchor = TrustAnchor::pinned_from_pem(&pem, &DYNATRACE_ROOT_G1_SHA256).expect("G1 in file");
    assert!(anchor.is_dynatrace_root_g1(), "{}", anchor.fingerprint());
    assert_eq!(
        anchor.fingerprint(),
        "76:15:6A:5E:0D:68:E0:41:7D:57:AE:35:DE:53:90:46:84:75:89:4D:9C:DE:6E:F6:93:65:0B:83:79:86:A2:92"
    );
    assert!(
        anchor
            .subject()
            .contains("CN=Dynatrace Root Certificate Authority G1"),
        "{}",
        anchor.subject()
    );
}

#[test]
fn other_root_is_an_untrusted_chain() {
    let Some(pem) = dynatrace_root_pem() else {
        return;
    };
    let anchor = TrustAnchor::pinned_from_pem(&pem, &DYNATRACE_ROOT_G1_SHA256).unwrap();
    let err = verify_bytes(&data("valid.sh"), &anchor, at_2027()).unwrap_err();
    assert!(matches!(err, Error::UntrustedChain(_)), "{err}");
    assert!(err.to_string().contains("76:15:6A"), "{err}");
}

#[test]
fn not_a_signed_installer_is_malformed() {
    for file in [
        &b""[..],
        b"#!/bin/sh\necho hi\n",
        b"#!/bin/sh\n----SIGNED-INSTALLER\nContent-Type: text/plain\n\nx\n----SIGNED-INSTALLER--\n",
        b"#!/bin/sh\n----SIGNED-INSTALLER\nContent-Type: application/x-pkcs7-signature\n\n!!!\n----SIGNED-INSTALLER--\n",
    ] {
        let err = verify_bytes(file, &root(), at_2027()).unwrap_err();
        assert!(matches!(err, Error::Malformed(_)), "{err}");
    }
}

/// The fixture with its CMS DER changed by `change` (base64 re-encoded in 64-column lines).
fn with_der(file: &[u8], change: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    use base64::Engine;
    let find = |needle: &[u8]| file.windows(needle.len()).position(|w| w == needle);
    let start = find(b"\n\nMII").expect("base64 start") + 2;
    let end = find(b"\n\n----SIGNED-INSTALLER--").expect("base64 end");
    let b64: Vec<u8> = file[start..end]
        .iter()
        .copied()
        .filter(|&c| c != b'\n')
        .collect();
    let mut der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    change(&mut der);
    let encoded = base64::engine::general_purpose::STANDARD.encode(&der);
    let mut out = file[..start].to_vec();
    for (i, line) in encoded.as_bytes().chunks(64).enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(line);
    }
    out.extend_from_slice(&file[end..]);
    out
}

fn position(der: &[u8], needle: &[u8]) -> usize {
    der.windows(needle.len())
        .position(|w| w == needle)
        .expect("field in the fixture DER")
}

#[test]
fn fields_openssl_ignores_are_ignored() {
    // OpenSSL 3.0.19 accepts both of these (checked with the documented command): it does not
    // look at the SignedData version or the encapsulated content type of a detached signature,
    // and an OID with a large second arc under 2 is legal BER.
    let file = data("valid.sh");
    let version = with_der(&file, |der| {
        let at = position(der, &[0x02, 0x01, 0x01]);
        der[at + 2] = 0x07;
    });
    verify_bytes(&version, &root(), at_2027()).expect("SignedData version 7");
    let content_type = with_der(&file, |der| {
        let at = position(der, &hex::decode("06092a864886f70d010701").unwrap());
        der[at + 2] = 0x56;
    });
    verify_bytes(&content_type, &root(), at_2027()).expect("odd eContentType");
    // A digest algorithm OpenSSL does not know makes it fail, and us.
    let digest = with_der(&file, |der| {
        let at = position(der, &hex::decode("0609608648016503040201").unwrap());
        der[at + 10] = 0x63;
    });
    let err = verify_bytes(&digest, &root(), at_2027()).unwrap_err();
    assert!(matches!(err, Error::Malformed(_)), "{err}");
}

#[test]
fn without_signed_attributes_the_digest_is_picked_as_openssl_picks_it() {
    let file = data("noattr.sh");
    verify_bytes(&file, &root(), at_2027()).expect("signature over the content digest");
    let sha256 = hex::decode("0609608648016503040201").unwrap();
    let signer_digest = |der: &[u8]| {
        let first = position(der, &sha256);
        first + 1 + position(&der[first + 1..], &sha256)
    };
    // OpenSSL 3.0.19 (checked with the documented command): an OID it does not know in the
    // SignerInfo's digestAlgorithm matches the first digestAlgorithms entry (SHA-256)...
    let unknown = with_der(&file, |der| {
        let at = signer_digest(der);
        der[at + 6] = 0x23; // 2.16.840.1.101.35.4.2.1
    });
    verify_bytes(&unknown, &root(), at_2027()).expect("unknown digest OID, no signed attributes");
    // ...but one it knows must be among them: AES-128-ECB or SHA-384 are refused.
    for (at, byte) in [(9, 0x01), (10, 0x02)] {
        let known = with_der(&file, |der| {
            let s = signer_digest(der);
            der[s + at] = byte;
            if at == 9 {
                der[s + 10] = 0x01;
            }
        });
        let err = verify_bytes(&known, &root(), at_2027()).unwrap_err();
        assert!(matches!(err, Error::Malformed(_)), "{err}");
    }
    // With signed attributes an unknown digest is refused.
    let with_attrs = with_der(&data("valid.sh"), |der| {
        let at = signer_digest(der);
        der[at + 6] = 0x23;
    });
    assert!(verify_bytes(&with_attrs, &root(), at_2027()).is_err());
}

#[test]
fn names_compare_as_openssl_compares_them() {
    // The SignerInfo names its certificate by issuer and serial; OpenSSL compares names in
    // canonical form (case and spacing ignored): a lowercased letter still finds the signer,
    // another letter does not (both checked with the documented command).
    let file = data("valid.sh");
    let issuer_in_sid = |der: &[u8]| {
        let needle = b"Fixture Intermediate";
        der.windows(needle.len())
            .rposition(|w| w == needle)
            .expect("sid issuer")
    };
    let case = with_der(&file, |der| {
        let at = issuer_in_sid(der);
        der[at] = b'f';
    });
    verify_bytes(&case, &root(), at_2027()).expect("case-changed issuer name in the sid");
    let other = with_der(&file, |der| {
        let at = issuer_in_sid(der);
        der[at + 7] = b'X';
    });
    let err = verify_bytes(&other, &root(), at_2027()).unwrap_err();
    assert!(matches!(err, Error::UntrustedChain(_)), "{err}");
    assert!(err.to_string().contains("not among the"), "{err}");
}

#[test]
fn a_trusted_intermediate_needs_its_root() {
    // Like `openssl cms -verify -CAfile` without -partial_chain (checked): trusting only the
    // intermediate is "unable to get issuer certificate"; with the root as well it verifies.
    let file = data("valid.sh");
    let intermediate = TrustAnchor::from_pem(&data("intermediate.pem")).unwrap();
    let err = verify_any(
        &parse(&file),
        std::slice::from_ref(&intermediate),
        at_2027(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::UntrustedChain(_)), "{err}");
    assert!(err.to_string().contains("not a root"), "{err}");
    let report = verify_any(&parse(&file), &[intermediate, root()], at_2027()).unwrap();
    assert_eq!(report.root_sha256, root().sha256());
}

fn parse(file: &[u8]) -> signed_installer::Parsed {
    let mut d = Digester::new();
    d.update(file);
    d.finish().expect("layout")
}

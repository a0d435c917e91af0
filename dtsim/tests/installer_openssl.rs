//! The documented `openssl cms -verify` check accepts dtsim installers signed by dtsim's CA and
//! rejects every tampered or foreign one.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use dtsim::installer::{Ca, Factory, Installer, InstallerParams, Variant, VERSIONS};

const MIME_HEADER: &str = "Content-Type: multipart/signed; protocol=\"application/x-pkcs7-signature\"; micalg=\"sha-256\"; boundary=\"--SIGNED-INSTALLER\"\n\n\n----SIGNED-INSTALLER\n";

fn openssl_present() -> bool {
    let found = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("!!!!!!!! SKIPPED: `openssl` is not installed; the signature tests did not run !!!!!!!!");
    }
    found
}

/// Runs the documented check on `installer` (bytes) with `ca_file`; returns success and stderr.
fn openssl_verify(installer: &[u8], ca_file: &Path) -> (bool, String) {
    let mut child = Command::new("openssl")
        .args(["cms", "-verify", "-CAfile"])
        .arg(ca_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning openssl");
    let mut stdin = child.stdin.take().expect("openssl stdin");
    let data = [MIME_HEADER.as_bytes(), installer].concat();
    // Write from a thread: openssl may stop reading early on malformed input.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("waiting for openssl");
    let _ = writer.join();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn params(variant: Variant, pad_to: Option<u64>) -> InstallerParams {
    InstallerParams {
        environment: "env-a".into(),
        version: VERSIONS[1].into(),
        arch: "x86".into(),
        tenant_uuid: "env-a".into(),
        tenant_token: "SECRETTENANTTOKEN123".into(),
        endpoints: "https://127.0.0.1:1/communication;https://backup.example/communication".into(),
        variant,
        pad_to,
    }
}

struct Fixture {
    factory: Factory,
    _dir: tempfile::TempDir,
    ca_file: std::path::PathBuf,
}

fn fixture() -> Fixture {
    let ca = Arc::new(Ca::generate("dtsim test root").expect("CA"));
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.cert_pem()).expect("writing ca.pem");
    Fixture {
        factory: Factory::new(ca).expect("factory"),
        _dir: dir,
        ca_file,
    }
}

fn bytes_of(i: &Installer) -> Vec<u8> {
    let v = i.to_vec();
    assert_eq!(v.len() as u64, i.len());
    v
}

#[test]
fn normal_installer_verifies_and_any_changed_byte_breaks_it() {
    if !openssl_present() {
        return;
    }
    let f = fixture();
    let inst = f
        .factory
        .get(&params(Variant::Normal, Some(3 << 20)))
        .expect("installer");
    let data = bytes_of(&inst);
    let (ok, err) = openssl_verify(&data, &f.ca_file);
    assert!(ok, "openssl rejected a Normal installer: {err}");

    let text = String::from_utf8_lossy(&data);
    let sig_start = text.find("\n----SIGNED-INSTALLER\n").expect("boundary");
    let b64_start = text[sig_start..]
        .find("\n\n")
        .map(|i| sig_start + i + 2)
        .expect("sig body");
    // Script start, script middle, padding middle, end of padding, inside the base64 signature.
    for at in [0, 100, data.len() / 2, sig_start - 2, b64_start + 40] {
        let mut bad = data.clone();
        bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
        let (ok, _) = openssl_verify(&bad, &f.ca_file);
        assert!(!ok, "openssl accepted an installer with byte {at} changed");
    }
}

#[test]
fn bad_signature_and_other_ca_are_rejected() {
    if !openssl_present() {
        return;
    }
    let f = fixture();
    // Each must fail for its own reason: content digest vs. certificate chain.
    for (variant, why) in [
        (Variant::BadSignature, "content verify error"),
        (Variant::OtherCa, "unable to get local issuer certificate"),
    ] {
        let inst = f
            .factory
            .get(&params(variant.clone(), None))
            .expect("installer");
        let (ok, err) = openssl_verify(&bytes_of(&inst), &f.ca_file);
        assert!(!ok, "openssl accepted a {variant:?} installer");
        assert!(
            err.contains(why),
            "{variant:?}: expected '{why}' from openssl, got: {err}"
        );
    }
    for variant in [Variant::Fails(7), Variant::Hangs] {
        let inst = f
            .factory
            .get(&params(variant.clone(), None))
            .expect("installer");
        let (ok, err) = openssl_verify(&bytes_of(&inst), &f.ca_file);
        assert!(ok, "openssl rejected a {variant:?} installer: {err}");
    }
}

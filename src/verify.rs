//! Verification of the downloaded installer: which root is trusted (the pinned Dynatrace root,
//! or an explicit CA file), the optional `--sha256`, and the S/MIME signature through the
//! `signed-installer` crate, streamed in the same pass as the download ([`SignatureCheck`]) or
//! over a file on disk (`verify FILE`).

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use signed_installer::{
    BackgroundDigester, Digester, Parsed, TrustAnchor, DYNATRACE_ROOT_G1_SHA256,
};

use crate::download::{Downloaded, StreamCheck};
use crate::error::{failure, failure_because, Cause, Kind, ResultExt};

/// Where Dynatrace publishes its root (the file holds the G1 root and a second one; the pin
/// selects G1).
pub const ROOT_URL: &str = "https://ca.dynatrace.com/dt-root.cert.pem";

/// A local copy of the root, preferred over fetching it (it must match the pin too).
pub const SYSTEM_ROOT: &str = "/etc/oneagent-bootstrap/dt-root.cert.pem";

/// How the trusted root was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustSource {
    /// `--installer-ca-file`: replaces the pinned Dynatrace root (every certificate in the
    /// file is trusted, as `openssl cms -verify -CAfile` would).
    CaFile(PathBuf),
    /// The local copy at [`SYSTEM_ROOT`], checked against the pin.
    System(PathBuf),
    /// Downloaded from [`ROOT_URL`], checked against the pin.
    Fetched(String),
}

/// The roots a signature must chain to, and how they were obtained (for status and JSON).
#[derive(Debug, Clone)]
pub struct Trust {
    anchors: Vec<TrustAnchor>,
    pub source: TrustSource,
}

impl fmt::Display for TrustSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustSource::CaFile(p) => write!(
                f,
                "from --installer-ca-file {} (replaces the pinned Dynatrace root)",
                p.display()
            ),
            TrustSource::System(p) => write!(f, "from {} (pinned)", p.display()),
            TrustSource::Fetched(url) => write!(f, "from {url} (pinned)"),
        }
    }
}

/// `CN=..., O=... (SHA-256 76:15:...) from <source> (pinned | replaces the pinned ...)`.
impl fmt::Display for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let roots: Vec<String> = self.anchors.iter().map(describe).collect();
        write!(f, "{} {}", roots.join("; "), self.source)
    }
}

fn describe(a: &TrustAnchor) -> String {
    format!("{} (SHA-256 {})", a.subject(), a.fingerprint())
}

/// The trusted root: `ca_file` if given (recorded as replacing the pin), else [`SYSTEM_ROOT`]
/// if it exists, else [`ROOT_URL`] through `fetch`; the last two must hold the certificate
/// whose SHA-256 is the pinned [`DYNATRACE_ROOT_G1_SHA256`].
pub fn load_trust(
    ca_file: Option<&Path>,
    fetch: &dyn Fn(&str) -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<Trust> {
    load_trust_from(ca_file, Path::new(SYSTEM_ROOT), fetch)
}

fn load_trust_from(
    ca_file: Option<&Path>,
    system_root: &Path,
    fetch: &dyn Fn(&str) -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<Trust> {
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).kind(Kind::Config, || {
            format!("could not read --installer-ca-file {}", path.display())
        })?;
        let anchors = TrustAnchor::all_from_pem(&pem).kind(Kind::Config, || {
            format!(
                "--installer-ca-file {} holds no usable PEM certificate",
                path.display()
            )
        })?;
        return Ok(Trust {
            anchors,
            source: TrustSource::CaFile(path.to_path_buf()),
        });
    }
    match std::fs::read(system_root) {
        Ok(pem) => {
            let anchor = TrustAnchor::pinned_from_pem(&pem, &DYNATRACE_ROOT_G1_SHA256).kind(
                Kind::Config,
                || {
                    format!(
                        "{} is not Dynatrace's root certificate; replace it with the file from \
                         {ROOT_URL}, remove it, or name another root with --installer-ca-file",
                        system_root.display()
                    )
                },
            )?;
            return Ok(Trust {
                anchors: vec![anchor],
                source: TrustSource::System(system_root.to_path_buf()),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e).kind(Kind::Config, || {
                format!("could not read {}", system_root.display())
            })
        }
    }
    let pem = fetch(ROOT_URL).map_err(|e| {
        e.context(format!(
            "downloading Dynatrace's root certificate from {ROOT_URL} (or put it at {} or \
             pass --installer-ca-file)",
            system_root.display()
        ))
    })?;
    let anchor = TrustAnchor::pinned_from_pem(&pem, &DYNATRACE_ROOT_G1_SHA256)
        .kind(Kind::Verification, || {
            format!("the root certificate served at {ROOT_URL} does not match the pinned one")
        })?;
    Ok(Trust {
        anchors: vec![anchor],
        source: TrustSource::Fetched(ROOT_URL.to_string()),
    })
}

/// The streaming signature digest, fed by the download loop in the same pass as its SHA-256.
/// The loop hashes the file itself, so only the signed content is hashed here, on a worker
/// thread: the loop pays for a buffer copy (see the crate's `digest_bench` example).
pub struct SignatureCheck {
    digester: BackgroundDigester,
}

impl SignatureCheck {
    pub fn new() -> Self {
        SignatureCheck {
            digester: BackgroundDigester::spawn(),
        }
    }
}

impl Default for SignatureCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamCheck for SignatureCheck {
    /// A retried download starts over.
    fn reset(&mut self) {
        self.digester = BackgroundDigester::spawn();
    }

    fn update(&mut self, chunk: &[u8]) {
        self.digester.update(chunk);
    }
}

/// What verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
    /// The root the signature chains to and how it was obtained
    /// (`subject (SHA-256 ...) from <where> (pinned)`), or "skipped".
    pub root: String,
}

/// Checks a download: `expected_sha256` if given, and the signature with `sig`, the check the
/// download fed. `sig: None` is the explicit opt-out (`--insecure-skip-signature`): the
/// download fed nothing, a loud warning is printed and the caller records the skip. All checks
/// asked for must pass.
pub fn check_download(
    d: &Downloaded,
    sig: Option<SignatureCheck>,
    expected_sha256: Option<&str>,
    trust: &Trust,
) -> anyhow::Result<Verified> {
    check_download_at(d, sig, expected_sha256, trust, SystemTime::now())
}

fn check_download_at(
    d: &Downloaded,
    sig: Option<SignatureCheck>,
    expected_sha256: Option<&str>,
    trust: &Trust,
    now: SystemTime,
) -> anyhow::Result<Verified> {
    let Some(sig) = sig else {
        check_sha256(&d.path, &d.sha256, expected_sha256)?;
        eprintln!(
            "WARNING: the signature of {} was NOT verified (--insecure-skip-signature); \
             anything could be in it",
            d.path.display()
        );
        return Ok(Verified {
            sha256: d.sha256.to_ascii_lowercase(),
            root: "skipped".to_string(),
        });
    };
    let seen = sig.digester.file_len();
    if seen != d.bytes {
        return Err(failure(
            Kind::Internal,
            format!(
                "the signature check of {} saw {seen} bytes, {} were saved",
                d.path.display(),
                d.bytes
            ),
        ));
    }
    check_at(
        &d.path,
        &d.sha256,
        sig.digester.finish(),
        expected_sha256,
        trust,
        now,
    )
}

/// `verify FILE`: the same checks, streaming the file through the digester.
pub fn verify_file(
    path: &Path,
    expected_sha256: Option<&str>,
    trust: &Trust,
) -> anyhow::Result<Verified> {
    verify_file_at(path, expected_sha256, trust, SystemTime::now())
}

fn verify_file_at(
    path: &Path,
    expected_sha256: Option<&str>,
    trust: &Trust,
    now: SystemTime,
) -> anyhow::Result<Verified> {
    let reading = || format!("could not read the installer {}", path.display());
    let mut file = std::fs::File::open(path).kind(Kind::Config, reading)?;
    let mut digester = Digester::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).kind(Kind::Config, reading)?;
        if n == 0 {
            break;
        }
        digester.update(&buf[..n]);
    }
    let sha256 = digester.file_sha256().map(hex::encode).unwrap_or_default();
    check_at(
        path,
        &sha256,
        digester.finish(),
        expected_sha256,
        trust,
        now,
    )
}

/// `--sha256`, when given, against the file's hash (hex).
fn check_sha256(path: &Path, file_sha256: &str, expected: Option<&str>) -> anyhow::Result<()> {
    let Some(expected) = expected.map(str::trim) else {
        return Ok(());
    };
    if expected.eq_ignore_ascii_case(file_sha256) {
        return Ok(());
    }
    Err(failure_because(
        Cause::Digest,
        format!(
            "installer {} does not have the expected SHA-256: --sha256 says {expected}, the \
             file has {} — the download is corrupt, tampered with, or not the version the hash \
             was taken from",
            path.display(),
            file_sha256.to_ascii_lowercase()
        ),
    ))
}

/// The checks, at verification time `now`: `file_sha256` is the file's hash (hex), `parsed`
/// what the digester made of it.
fn check_at(
    path: &Path,
    file_sha256: &str,
    parsed: Result<Parsed, signed_installer::Error>,
    expected_sha256: Option<&str>,
    trust: &Trust,
    now: SystemTime,
) -> anyhow::Result<Verified> {
    let shown = path.display();
    let file_sha256 = file_sha256.to_ascii_lowercase();
    check_sha256(path, &file_sha256, expected_sha256)?;
    let refused = |e: signed_installer::Error| {
        let cause = match e {
            signed_installer::Error::DigestMismatch { .. } => Cause::Digest,
            signed_installer::Error::Expired { .. }
            | signed_installer::Error::NotYetValid { .. } => Cause::Expired,
            _ => Cause::Chain,
        };
        failure_because(
            cause,
            format!(
                "installer {shown} failed signature verification against {trust}: {e} — do \
                 not run it; download it again, and if it still fails, check the proxy and \
                 the trusted root"
            ),
        )
    };
    let parsed = parsed.map_err(refused)?;
    let report = signed_installer::verify_any(&parsed, &trust.anchors, now).map_err(refused)?;
    Ok(Verified {
        sha256: file_sha256,
        root: format!(
            "{} (SHA-256 {}) {}",
            report.root_subject,
            signed_installer::fingerprint(&report.root_sha256),
            trust.source
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{cause_of, kind_of};
    use sha2::Digest as _;
    use std::time::{Duration, UNIX_EPOCH};

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("crates/signed-installer/tests/data")
            .join(name)
    }

    /// Dynatrace's real root, from shared/ beside the repository (never committed). Missing,
    /// the test fails unless `SKIP_REAL_ROOT_TESTS=1`, so CI never silently skips the pin.
    fn dynatrace_root() -> Option<Vec<u8>> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/dt-root.cert.pem");
        match std::fs::read(&path) {
            Ok(pem) => Some(pem),
            Err(_) if std::env::var("SKIP_REAL_ROOT_TESTS").as_deref() == Ok("1") => None,
            Err(e) => panic!(
                "no Dynatrace root at {}: {e} (copy shared/ beside the clone, or set \
                 SKIP_REAL_ROOT_TESTS=1)",
                path.display()
            ),
        }
    }

    fn no_fetch(url: &str) -> anyhow::Result<Vec<u8>> {
        panic!("unexpected fetch of {url}")
    }

    fn fixture_trust() -> Trust {
        load_trust(Some(&fixture("root.pem")), &no_fetch).unwrap()
    }

    /// 2027-01-01: inside the fixtures' validity.
    fn at_2027() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_798_761_600)
    }

    #[test]
    fn ca_file_replaces_the_pin_and_says_so() {
        let t = fixture_trust();
        assert_eq!(t.source, TrustSource::CaFile(fixture("root.pem")));
        let shown = t.to_string();
        assert!(shown.contains("CN=Fixture Root CA"), "{shown}");
        assert!(
            shown.contains("replaces the pinned Dynatrace root"),
            "{shown}"
        );
    }

    #[test]
    fn unreadable_ca_file_is_a_config_error() {
        let err = load_trust(Some(Path::new("/nonexistent/ca.pem")), &no_fetch).unwrap_err();
        assert_eq!(kind_of(&err), Kind::Config);
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn system_copy_must_match_the_pin() {
        let err = load_trust_from(None, &fixture("root.pem"), &no_fetch).unwrap_err();
        assert_eq!(kind_of(&err), Kind::Config);
        let chain = crate::error::one_line(&err);
        assert!(chain.contains("76:15:6A:5E"), "{chain}");
        let Some(pem) = dynatrace_root() else { return };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dt-root.cert.pem");
        std::fs::write(&path, pem).unwrap();
        let t = load_trust_from(None, &path, &no_fetch).unwrap();
        assert_eq!(t.source, TrustSource::System(path));
        assert!(t
            .to_string()
            .contains("Dynatrace Root Certificate Authority G1"));
    }

    #[test]
    fn fetched_root_must_match_the_pin() {
        let missing = Path::new("/nonexistent/dt-root.cert.pem");
        let wrong = |url: &str| {
            assert_eq!(url, ROOT_URL);
            Ok(std::fs::read(fixture("root.pem"))?)
        };
        let err = load_trust_from(None, missing, &wrong).unwrap_err();
        assert_eq!(kind_of(&err), Kind::Verification);
        let down = |_: &str| -> anyhow::Result<Vec<u8>> { Err(failure(Kind::Api, "offline")) };
        let err = load_trust_from(None, missing, &down).unwrap_err();
        assert_eq!(kind_of(&err), Kind::Api);
        assert!(err.to_string().contains(ROOT_URL), "{err}");
        let Some(pem) = dynatrace_root() else { return };
        let right = move |_: &str| Ok(pem.clone());
        let t = load_trust_from(None, missing, &right).unwrap();
        assert_eq!(t.source, TrustSource::Fetched(ROOT_URL.into()));
    }

    #[test]
    fn valid_file_verifies_with_its_root_and_hash() {
        let path = fixture("valid.sh");
        let bytes = std::fs::read(&path).unwrap();
        let sha = hex::encode(<[u8; 32]>::from(sha2::Sha256::digest(&bytes)));
        let v = verify_file_at(
            &path,
            Some(&sha.to_uppercase()),
            &fixture_trust(),
            at_2027(),
        )
        .unwrap();
        assert_eq!(v.sha256, sha);
        assert!(v.root.starts_with("CN=Fixture Root CA"), "{}", v.root);
        assert!(v.root.contains("from --installer-ca-file"), "{}", v.root);
    }

    #[test]
    fn wrong_sha256_fails_even_with_a_good_signature() {
        let path = fixture("valid.sh");
        let err =
            verify_file_at(&path, Some(&"0".repeat(64)), &fixture_trust(), at_2027()).unwrap_err();
        assert_eq!(kind_of(&err), Kind::Verification);
        assert!(err.to_string().contains(&"0".repeat(64)), "{err}");
    }

    #[test]
    fn an_unsigned_file_is_refused_for_its_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("unsigned.sh");
        std::fs::write(&path, "#!/bin/sh\necho hi\n").unwrap();
        let err = verify_file_at(&path, None, &fixture_trust(), at_2027()).unwrap_err();
        assert_eq!(kind_of(&err), Kind::Verification);
        assert_eq!(cause_of(&err), Some(Cause::Chain));
    }

    /// A download of `name` fed to a SignatureCheck in `chunk`-sized pieces.
    fn downloaded(name: &str, chunk: usize) -> (Downloaded, SignatureCheck) {
        let path = fixture(name);
        let bytes = std::fs::read(&path).unwrap();
        let mut sig = SignatureCheck::new();
        for c in bytes.chunks(chunk) {
            sig.update(c);
        }
        let d = Downloaded {
            path,
            sha256: hex::encode(<[u8; 32]>::from(sha2::Sha256::digest(&bytes))),
            bytes: bytes.len() as u64,
        };
        (d, sig)
    }

    #[test]
    fn streamed_download_is_checked_like_a_file() {
        let (d, mut sig) = downloaded("long-lines.sh", 777);
        // A retried download starts over.
        sig.reset();
        let bytes = std::fs::read(&d.path).unwrap();
        for c in bytes.chunks(777) {
            sig.update(c);
        }
        let v =
            check_download_at(&d, Some(sig), Some(&d.sha256), &fixture_trust(), at_2027()).unwrap();
        assert_eq!(v.sha256, d.sha256);
        assert!(v.root.contains("SHA-256"), "{}", v.root);
    }

    #[test]
    fn tampered_or_expired_is_a_verification_failure() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = std::fs::read(fixture("valid.sh")).unwrap();
        bytes[20] ^= 1;
        let path = dir.path().join("tampered.sh");
        std::fs::write(&path, &bytes).unwrap();
        let err = verify_file_at(&path, None, &fixture_trust(), at_2027()).unwrap_err();
        assert_eq!(kind_of(&err), Kind::Verification);
        assert_eq!(cause_of(&err), Some(Cause::Digest));
        assert!(err.to_string().contains("digest mismatch"), "{err}");
        let err = verify_file_at(
            &fixture("expired-signer.sh"),
            None,
            &fixture_trust(),
            at_2027(),
        )
        .unwrap_err();
        assert_eq!(kind_of(&err), Kind::Verification);
        assert_eq!(cause_of(&err), Some(Cause::Expired));
        assert!(err.to_string().contains("expired certificate"), "{err}");
    }

    #[test]
    fn skipping_the_signature_still_checks_the_hash() {
        let (d, _) = downloaded("expired-signer.sh", 4096);
        let v = check_download_at(&d, None, Some(&d.sha256), &fixture_trust(), at_2027()).unwrap();
        assert_eq!(v.root, "skipped");
        let err = check_download_at(&d, None, Some(&"1".repeat(64)), &fixture_trust(), at_2027())
            .unwrap_err();
        assert_eq!(kind_of(&err), Kind::Verification);
        assert_eq!(cause_of(&err), Some(Cause::Digest));
        // Without the skip, the expired signer is refused.
        let (d, sig) = downloaded("expired-signer.sh", 4096);
        let err = check_download_at(&d, Some(sig), None, &fixture_trust(), at_2027()).unwrap_err();
        assert_eq!(kind_of(&err), Kind::Verification);
    }

    #[test]
    fn digester_and_download_disagreeing_is_an_internal_error() {
        let (mut d, sig) = downloaded("valid.sh", 4096);
        d.bytes += 1;
        let err = check_download_at(&d, Some(sig), None, &fixture_trust(), at_2027()).unwrap_err();
        assert_eq!(kind_of(&err), Kind::Internal);
    }

    /// A system root that exists but cannot be read is a configuration error to fix, not a
    /// reason to download another root instead.
    #[test]
    fn an_unreadable_system_root_is_exit_3_without_download() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_trust_from(None, dir.path(), &no_fetch).unwrap_err();
        assert_eq!(kind_of(&err), Kind::Config);
        assert!(
            crate::error::one_line(&err).contains("could not read"),
            "{err:#}"
        );
    }
}

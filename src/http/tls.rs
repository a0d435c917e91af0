//! TLS settings: rustls with ring (TLS 1.2 and 1.3 only: rustls implements nothing older),
//! roots = the system store plus `--ca-file`, or no verification at all with `--ssl-mode all`.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};

use crate::error::{failure, Kind};

/// Reads every certificate of a PEM file; an unreadable file, one without certificates or
/// with one rustls cannot use as a root is a configuration error naming the path.
pub fn read_ca_file(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let bad = |why: String| {
        failure(
            Kind::Config,
            format!("reading --ca-file {}: {why}", path.display()),
        )
    };
    let bytes = std::fs::read(path).map_err(|e| bad(format!("{e}; give a readable PEM file")))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not valid PEM ({e}); give PEM CERTIFICATE blocks")))?;
    if certs.is_empty() {
        return Err(bad("no CERTIFICATE block found; give a PEM file".into()));
    }
    let mut store = rustls::RootCertStore::empty();
    for (i, cert) in certs.iter().enumerate() {
        store.add(cert.clone()).map_err(|e| {
            bad(format!(
                "certificate #{} is not a usable X.509 certificate ({e})",
                i + 1
            ))
        })?;
    }
    Ok(certs)
}

/// The TLS configuration for the agent. `accept_any` disables certificate verification
/// (`--ssl-mode all`); the system store is then not loaded.
pub fn config(ca_file: Option<&Path>, accept_any: bool) -> anyhow::Result<TlsConfig> {
    // Pin the provider so no process-wide default can swap the crypto underneath us.
    let builder = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()));
    // Read the CA file even when nothing is verified, so a wrong path is reported either way.
    let mut roots: Vec<Certificate<'static>> = Vec::new();
    if let Some(path) = ca_file {
        roots.extend(
            read_ca_file(path)?
                .iter()
                .map(|c| Certificate::from_der(c.as_ref()).to_owned()),
        );
    }
    if accept_any {
        // ureq's rustls verifier for this mode accepts every certificate chain and name.
        return Ok(builder.disable_verification(true).build());
    }
    // A broken system store is not fatal: a --ca-file may be all that is needed, and a
    // missing root shows up as a clear TLS error on first use.
    let native = rustls_native_certs::load_native_certs();
    roots.extend(
        native
            .certs
            .iter()
            .map(|c| Certificate::from_der(c.as_ref()).to_owned()),
    );
    Ok(builder
        .root_certs(RootCerts::new_with_certs(&roots))
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::kind_of;

    #[test]
    fn bad_ca_files_are_config_errors_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no pem here\n").unwrap();
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        for path in [&missing, &empty, &garbage] {
            let err = config(Some(path), false).unwrap_err();
            assert_eq!(kind_of(&err), Kind::Config);
            let text = crate::error::one_line(&err);
            assert!(text.contains(&path.display().to_string()), "{text}");
        }
    }

    #[test]
    fn a_missing_ca_file_is_reported_in_every_mode() {
        let missing = Path::new("/nonexistent/ca.pem");
        assert_eq!(
            kind_of(&config(Some(missing), true).unwrap_err()),
            Kind::Config
        );
        assert!(config(None, true).is_ok());
        assert!(config(None, false).is_ok());
    }
}

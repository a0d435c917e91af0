//! TLS settings: rustls with ring (TLS 1.2 and 1.3 only: rustls implements nothing older),
//! roots = the system store plus `--ca-file`, or no verification at all with `--ssl-mode all`.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

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
    let mut store = RootCertStore::empty();
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

/// The TLS configuration for the client. `accept_any` disables certificate verification
/// (`--ssl-mode all`); the system store is then not loaded.
pub fn config(ca_file: Option<&Path>, accept_any: bool) -> anyhow::Result<ClientConfig> {
    // Pin the provider so no process-wide default can swap the crypto underneath us.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| failure(Kind::Internal, format!("setting up TLS: {e}")))?;
    // Read the CA file even when nothing is verified, so a wrong path is reported either way.
    let extra = match ca_file {
        Some(path) => read_ca_file(path)?,
        None => Vec::new(),
    };
    if accept_any {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
            .with_no_client_auth());
    }
    let mut roots = RootCertStore::empty();
    // read_ca_file already checked that each of these is usable as a root.
    roots.add_parsable_certificates(extra);
    // A broken system store is not fatal: a --ca-file may be all that is needed, and a
    // missing root shows up as a clear TLS error on first use.
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// `--ssl-mode all`: any certificate chain and name is accepted; the handshake's signatures
/// are still checked, so the session is at least with the holder of the presented key.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
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

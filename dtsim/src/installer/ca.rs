//! The simulator's certificate authority: one self-signed ECDSA P-256 root that issues the
//! installer signer certificate (S/MIME signing, as `openssl cms -verify` checks purpose
//! `smimesign` by default) and TLS server certificates.

use anyhow::Context;
use p256::pkcs8::EncodePrivateKey;
use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber, PKCS_ECDSA_P256_SHA256,
};

/// Validity of everything dtsim issues. Fixed dates (not "now") keep certificates valid for
/// tests whatever the clock says, like Dynatrace's own long-lived root.
fn set_validity(params: &mut CertificateParams) {
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2046, 12, 9);
}

/// Random positive serial: issuer + serial identifies the signer inside the CMS structure, so
/// two CAs or two runs must never collide.
fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::from_slice(&bytes)
}

/// The certificate and key that sign installers.
pub(crate) struct Signer {
    pub(crate) cert_der: Vec<u8>,
    pub(crate) key: p256::ecdsa::SigningKey,
}

/// A root CA with its installer signer.
pub struct Ca {
    params: CertificateParams,
    key: KeyPair,
    cert_der: Vec<u8>,
    cert_pem: String,
    signer: Signer,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Ca")
            .field("subject", &self.params.distinguished_name)
            .finish()
    }
}

impl Ca {
    /// Creates a fresh root CA named `common_name` (O=dtsim) and its installer signer.
    pub fn generate(common_name: &str) -> anyhow::Result<Ca> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .context("generating the dtsim CA key (ECDSA P-256)")?;
        let mut params = CertificateParams::new(Vec::<String>::new())
            .context("preparing the dtsim CA certificate")?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "dtsim");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.serial_number = Some(random_serial());
        set_validity(&mut params);
        let cert = params
            .self_signed(&key)
            .with_context(|| format!("self-signing the dtsim CA certificate '{common_name}'"))?;
        let cert_der = cert.der().to_vec();
        let cert_pem = cert.pem();
        let mut ca = Ca {
            params,
            key,
            cert_der,
            cert_pem,
            signer: Signer {
                cert_der: Vec::new(),
                key: p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng),
            },
        };
        ca.signer = ca.issue_signer(common_name).with_context(|| {
            format!("issuing the installer signer certificate of '{common_name}'")
        })?;
        Ok(ca)
    }

    /// The root certificate (PEM), i.e. what clients pin or pass as CA file.
    pub fn cert_pem(&self) -> String {
        self.cert_pem.clone()
    }

    /// The root certificate (DER).
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    pub(crate) fn signer(&self) -> &Signer {
        &self.signer
    }

    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }

    /// The end-entity certificate that signs installers. Key usage digitalSignature and EKU
    /// emailProtection (what OpenSSL's `smimesign` purpose check demands) plus codeSigning.
    fn issue_signer(&self, ca_name: &str) -> anyhow::Result<Signer> {
        let key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        let pkcs8 = key
            .to_pkcs8_der()
            .context("encoding the signer key as PKCS#8")?;
        let rc_key = KeyPair::try_from(pkcs8.as_bytes()).context("loading the signer key")?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{ca_name} installer signing"));
        params
            .distinguished_name
            .push(DnType::OrganizationName, "dtsim");
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::EmailProtection,
            ExtendedKeyUsagePurpose::CodeSigning,
        ];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial());
        set_validity(&mut params);
        let cert = params.signed_by(&rc_key, &self.issuer())?;
        Ok(Signer {
            cert_der: cert.der().to_vec(),
            key,
        })
    }

    /// Issues a TLS server certificate for `sans` (DNS names or IP addresses). Returns the
    /// chain (leaf first, then this root) as DER and the leaf's PKCS#8 private key (DER).
    pub fn issue_tls_cert(&self, sans: &[String]) -> anyhow::Result<(Vec<Vec<u8>>, Vec<u8>)> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .context("generating a TLS server key (ECDSA P-256)")?;
        let mut params = CertificateParams::new(sans.to_vec())
            .with_context(|| format!("preparing a TLS certificate for {sans:?}"))?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        let cn = sans.first().map(String::as_str).unwrap_or("dtsim");
        params.distinguished_name.push(DnType::CommonName, cn);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "dtsim");
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial());
        set_validity(&mut params);
        let cert = params
            .signed_by(&key, &self.issuer())
            .with_context(|| format!("signing a TLS certificate for {sans:?}"))?;
        Ok((
            vec![cert.der().to_vec(), self.cert_der.clone()],
            key.serialize_der(),
        ))
    }
}

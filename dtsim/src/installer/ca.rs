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

/// The parameters of a dtsim root named `common_name`; also rebuilt by `load` so that what
/// it issues names the loaded root exactly as `generate` would have.
fn root_params(common_name: &str, organization: Option<&str>) -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())
        .context("preparing the dtsim CA certificate")?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    if let Some(o) = organization {
        params.distinguished_name.push(DnType::OrganizationName, o);
    }
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.serial_number = Some(random_serial());
    set_validity(&mut params);
    Ok(params)
}

/// The first value of attribute `oid` in `name`, as text.
fn name_attr(name: &x509_cert::name::Name, oid: der::oid::ObjectIdentifier) -> Option<String> {
    use der::asn1::{PrintableStringRef, Utf8StringRef};
    let value = name
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|a| a.oid == oid)?;
    if let Ok(s) = value.value.decode_as::<Utf8StringRef<'_>>() {
        return Some(s.as_str().to_owned());
    }
    value
        .value
        .decode_as::<PrintableStringRef<'_>>()
        .ok()
        .map(|s| s.as_str().to_owned())
}

impl Ca {
    /// Creates a fresh root CA named `common_name` (O=dtsim) and its installer signer.
    pub fn generate(common_name: &str) -> anyhow::Result<Ca> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .context("generating the dtsim CA key (ECDSA P-256)")?;
        let params = root_params(common_name, Some("dtsim"))?;
        let cert = params
            .self_signed(&key)
            .with_context(|| format!("self-signing the dtsim CA certificate '{common_name}'"))?;
        Self::assemble(params, key, cert.der().to_vec(), cert.pem(), common_name)
    }

    /// Reloads a root saved with `cert_pem` and `key_pem` (so a restarted simulator keeps the
    /// CA that clients already trust). A new installer signer is issued.
    pub fn load(cert_pem: &str, key_pem: &str) -> anyhow::Result<Ca> {
        use der::DecodePem;
        let cert = x509_cert::Certificate::from_pem(cert_pem.as_bytes())
            .context("parsing the dtsim CA certificate (PEM): regenerate it or fix the file")?;
        let key = KeyPair::from_pem(key_pem)
            .context("parsing the dtsim CA key (PKCS#8 PEM): regenerate it or fix the file")?;
        let spki_bits = cert
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        if spki_bits != key.public_key_raw() {
            anyhow::bail!("the dtsim CA key does not belong to the CA certificate");
        }
        let subject = &cert.tbs_certificate.subject;
        let cn = name_attr(subject, der::oid::ObjectIdentifier::new_unwrap("2.5.4.3"))
            .context("the dtsim CA certificate has no common name")?;
        let org = name_attr(subject, der::oid::ObjectIdentifier::new_unwrap("2.5.4.10"));
        let params = root_params(&cn, org.as_deref())?;
        let cert_der = der::Encode::to_der(&cert).context("re-encoding the CA certificate")?;
        Self::assemble(params, key, cert_der, cert_pem.to_owned(), &cn)
    }

    fn assemble(
        params: CertificateParams,
        key: KeyPair,
        cert_der: Vec<u8>,
        cert_pem: String,
        common_name: &str,
    ) -> anyhow::Result<Ca> {
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

    /// The root's private key (PKCS#8 PEM), for saving next to `cert_pem` and `load`ing later.
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
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

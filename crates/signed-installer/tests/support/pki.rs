//! The throwaway PKIs of the differential test: trusted RSA and EC roots, good signers (RSA
//! directly under a root, P-256 and RSA under an EC intermediate), and signers with something
//! special that OpenSSL judges (dates, purposes, extensions, foreign or impostor roots, CA
//! flags, path lengths).

use std::path::{Path, PathBuf};

use signed_installer::TrustAnchor;

use super::openssl::{Ca, Identity, KeyAlg};

pub struct Pki {
    pub ca_file: PathBuf,
    pub anchors: Vec<TrustAnchor>,
    /// Valid signers: RSA directly under an RSA root; P-256 under a P-384 intermediate; RSA
    /// under that EC intermediate.
    pub good: Vec<Identity>,
    /// Signers with something special about them (most are not acceptable to OpenSSL), and
    /// what it is.
    pub special: Vec<(&'static str, Identity)>,
}

const SIGNER_EXTS: &str = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
                           subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n";

pub fn make_pki(dir: &Path) -> Pki {
    let rsa_root = Ca::root(
        dir,
        "rsa-root",
        KeyAlg::Rsa2048,
        "/CN=Diff Root RSA/O=difftest",
    );
    let ec_root = Ca::root(dir, "ec-root", KeyAlg::P384, "/CN=Diff Root EC/O=difftest");
    let ec_int = ec_root.intermediate(
        "ec-int",
        KeyAlg::P384,
        "/CN=Diff Intermediate EC/O=difftest",
    );
    let (from, to) = ("20200101000000Z", "20890101000000Z");
    let rsa_signer = rsa_root.issue(
        "rsa-signer",
        KeyAlg::Rsa2048,
        "/CN=RSA signer/O=difftest",
        SIGNER_EXTS,
        from,
        to,
    );
    let mut ec_signer = ec_int.issue(
        "ec-signer",
        KeyAlg::P256,
        "/CN=EC signer/O=difftest",
        SIGNER_EXTS,
        from,
        to,
    );
    ec_signer.extra = Some(ec_int.id.cert.clone());
    let mut rsa_under_ec = ec_int.issue(
        "rsa-under-ec",
        KeyAlg::Rsa2048,
        "/CN=RSA signer under EC/O=difftest",
        SIGNER_EXTS,
        from,
        to,
    );
    rsa_under_ec.extra = Some(ec_int.id.cert.clone());

    let expired = rsa_root.issue(
        "expired",
        KeyAlg::Rsa2048,
        "/CN=Expired signer/O=difftest",
        SIGNER_EXTS,
        "20200101000000Z",
        "20210101000000Z",
    );
    let future = rsa_root.issue(
        "future",
        KeyAlg::P256,
        "/CN=Future signer/O=difftest",
        SIGNER_EXTS,
        "20800101000000Z",
        "20890101000000Z",
    );
    let code_signing = rsa_root.issue(
        "codesign",
        KeyAlg::Rsa2048,
        "/CN=Code signer/O=difftest",
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n",
        from,
        to,
    );
    // Same subject as the trusted RSA root, another key.
    let impostor_root = Ca::root(
        &dir.join("impostor"),
        "rsa-root",
        KeyAlg::Rsa2048,
        "/CN=Diff Root RSA/O=difftest",
    );
    let impostor = impostor_root.issue(
        "signer",
        KeyAlg::Rsa2048,
        "/CN=RSA signer/O=difftest",
        SIGNER_EXTS,
        from,
        to,
    );
    let stranger_root = Ca::root(
        dir,
        "stranger",
        KeyAlg::P256,
        "/CN=Stranger Root/O=elsewhere",
    );
    let stranger = stranger_root.issue(
        "signer",
        KeyAlg::P256,
        "/CN=Stranger signer/O=elsewhere",
        SIGNER_EXTS,
        from,
        to,
    );
    // A CA certificate used as signer, its issuer not in the CMS.
    let mut ca_as_signer = ec_int.id.clone();
    ca_as_signer.extra = None;
    let with = |name: &str, exts: &str| {
        let subject = format!("/CN={name}/O=difftest");
        rsa_root.issue(name, KeyAlg::Rsa2048, &subject, exts, from, to)
    };
    let no_digital_signature = with("no-digitalSignature", "keyUsage=critical,keyEncipherment\n");
    let email_protection = with(
        "emailProtection",
        "keyUsage=critical,nonRepudiation\nextendedKeyUsage=emailProtection,codeSigning\n",
    );
    let any_eku = with("anyEKU", "extendedKeyUsage=anyExtendedKeyUsage\n");
    let unknown_critical = with("unknown-critical", "1.2.3.4.5=critical,ASN1:NULL\n");
    let critical_skid = with("critical-skid", "subjectKeyIdentifier=critical,hash\n");
    let no_extensions = with("no-extensions", "");
    let rsa4096 = rsa_root.issue(
        "rsa4096",
        KeyAlg::Rsa4096,
        "/CN=RSA 4096 signer/O=difftest",
        SIGNER_EXTS,
        from,
        to,
    );
    // An intermediate that is not a CA, and a chain longer than a pathlen allows.
    let not_ca = rsa_root.intermediate_with(
        "not-ca",
        KeyAlg::P256,
        "/CN=Not a CA/O=difftest",
        "basicConstraints=critical,CA:FALSE\n",
    );
    let mut under_not_ca = not_ca.issue(
        "under-not-ca",
        KeyAlg::P256,
        "/CN=Under not a CA/O=difftest",
        SIGNER_EXTS,
        from,
        to,
    );
    under_not_ca.extra = Some(not_ca.id.cert.clone());
    let len0 = rsa_root.intermediate_with(
        "len0",
        KeyAlg::P256,
        "/CN=Pathlen 0/O=difftest",
        "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=keyCertSign\n",
    );
    let deeper = len0.intermediate("deeper", KeyAlg::P256, "/CN=Below pathlen 0/O=difftest");
    let mut too_deep = deeper.issue(
        "too-deep",
        KeyAlg::P256,
        "/CN=Too deep/O=difftest",
        SIGNER_EXTS,
        from,
        to,
    );
    let both = [
        std::fs::read(&deeper.id.cert).expect("cert"),
        std::fs::read(&len0.id.cert).expect("cert"),
    ]
    .concat();
    let both_path = dir.join("len0-chain.pem");
    std::fs::write(&both_path, both).expect("chain file");
    too_deep.extra = Some(both_path);
    let mut under_len0 = len0.issue(
        "under-len0",
        KeyAlg::P256,
        "/CN=Under pathlen 0/O=difftest",
        SIGNER_EXTS,
        from,
        to,
    );
    under_len0.extra = Some(len0.id.cert.clone());

    let mut bundle = std::fs::read(&rsa_root.id.cert).expect("root");
    bundle.extend(std::fs::read(&ec_root.id.cert).expect("root"));
    let ca_file = dir.join("bundle.pem");
    std::fs::write(&ca_file, &bundle).expect("bundle");
    let anchors = TrustAnchor::all_from_pem(&bundle).expect("anchors");
    Pki {
        ca_file,
        anchors,
        good: vec![rsa_signer, ec_signer, rsa_under_ec],
        special: vec![
            ("expired signer", expired),
            ("not-yet-valid signer", future),
            ("signer without S/MIME purpose", code_signing),
            (
                "signer from an impostor root with the trusted root's name",
                impostor,
            ),
            ("signer from another CA", stranger),
            (
                "intermediate CA as signer, intermediate not in the CMS",
                ca_as_signer,
            ),
            (
                "signer keyUsage without digitalSignature",
                no_digital_signature,
            ),
            (
                "signer with emailProtection among its EKUs",
                email_protection,
            ),
            ("signer with only anyExtendedKeyUsage", any_eku),
            (
                "signer with an unknown critical extension",
                unknown_critical,
            ),
            ("signer with a critical subjectKeyIdentifier", critical_skid),
            ("signer without extensions", no_extensions),
            ("RSA 4096 signer", rsa4096),
            (
                "signer under an intermediate that is not a CA",
                under_not_ca,
            ),
            ("signer two CAs below a pathlen:0 CA", too_deep),
            ("signer right below a pathlen:0 CA", under_len0),
        ],
    }
}

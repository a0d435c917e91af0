//! Throwaway PKIs and the `openssl` commands the differential test runs: sign (detached, to
//! DER), recover the bytes `openssl cms -verify` digests, and the documented verify command.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The header lines the documented check puts before the installer.
pub const PREAMBLE: &str = "echo 'Content-Type: multipart/signed; protocol=\"application/x-pkcs7-signature\"; micalg=\"sha-256\"; boundary=\"--SIGNED-INSTALLER\"'; echo; echo; echo '----SIGNED-INSTALLER'";

/// Whether the openssl tests should run: true if `openssl` works; false (with a note) if it
/// does not and `SKIP_OPENSSL_TESTS=1`; otherwise the test fails, so CI never passes silently
/// without the differential test.
pub fn openssl_required() -> bool {
    let works = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if works {
        return true;
    }
    if std::env::var("SKIP_OPENSSL_TESTS").as_deref() == Ok("1") {
        eprintln!("SKIP_OPENSSL_TESTS=1 and no working `openssl`: differential test skipped");
        return false;
    }
    panic!(
        "`openssl` is not installed or does not run; the differential test needs it \
         (install openssl, or set SKIP_OPENSSL_TESTS=1 to skip deliberately)"
    );
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn openssl(dir: &Path) -> Command {
    let mut c = Command::new("openssl");
    c.current_dir(dir);
    c
}

/// A certificate and its key, as files.
#[derive(Clone, Debug)]
pub struct Identity {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Certificates to add to the CMS besides the signer's (intermediates).
    pub extra: Option<PathBuf>,
}

/// Key algorithms for `openssl req -newkey`.
#[derive(Clone, Copy)]
pub enum KeyAlg {
    Rsa2048,
    Rsa4096,
    P256,
    P384,
}

impl KeyAlg {
    fn args(self) -> Vec<&'static str> {
        match self {
            KeyAlg::Rsa2048 => vec!["-newkey", "rsa:2048"],
            KeyAlg::Rsa4096 => vec!["-newkey", "rsa:4096"],
            KeyAlg::P256 => vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            KeyAlg::P384 => vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
        }
    }
}

/// A CA (root or intermediate) that issues certificates with chosen dates via `openssl ca`.
pub struct Ca {
    pub id: Identity,
    dir: PathBuf,
}

impl Ca {
    /// A self-signed root.
    pub fn root(dir: &Path, name: &str, alg: KeyAlg, subject: &str) -> Ca {
        let cadir = dir.join(name);
        std::fs::create_dir_all(cadir.join("new")).expect("CA dir");
        std::fs::write(cadir.join("index.txt"), "").expect("CA index");
        std::fs::write(cadir.join("serial"), "1000\n").expect("CA serial");
        let cert = cadir.join("ca.pem");
        let key = cadir.join("ca.key");
        run(openssl(dir)
            .args(["req", "-x509", "-nodes", "-days", "3650", "-subj", subject])
            .args(alg.args())
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]));
        write_conf(&cadir);
        Ca {
            id: Identity {
                cert,
                key,
                extra: None,
            },
            dir: cadir,
        }
    }

    /// A certificate issued by this CA: `exts` are extension lines, dates `YYYYMMDDHHMMSSZ`.
    pub fn issue(
        &self,
        name: &str,
        alg: KeyAlg,
        subject: &str,
        exts: &str,
        start: &str,
        end: &str,
    ) -> Identity {
        let base = self.dir.join(name);
        let key = base.with_extension("key");
        let csr = base.with_extension("csr");
        let cert = base.with_extension("pem");
        let ext = base.with_extension("ext");
        std::fs::write(&ext, exts).expect("extension file");
        run(openssl(&self.dir)
            .args(["req", "-new", "-nodes", "-subj", subject])
            .args(alg.args())
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&csr));
        run(openssl(&self.dir)
            .args(["ca", "-batch", "-notext", "-config"])
            .arg(self.dir.join("ca.cnf"))
            .arg("-cert")
            .arg(&self.id.cert)
            .arg("-keyfile")
            .arg(&self.id.key)
            .arg("-in")
            .arg(&csr)
            .arg("-out")
            .arg(&cert)
            .args(["-startdate", start, "-enddate", end])
            .arg("-extfile")
            .arg(&ext));
        Identity {
            cert,
            key,
            extra: None,
        }
    }

    /// An intermediate CA issued by this one.
    pub fn intermediate(&self, name: &str, alg: KeyAlg, subject: &str) -> Ca {
        self.intermediate_with(
            name,
            alg,
            subject,
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n\
             subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
        )
    }

    /// An intermediate issued by this one with the given extensions (which may make it
    /// unfit to be a CA: the point of some tests).
    pub fn intermediate_with(&self, name: &str, alg: KeyAlg, subject: &str, exts: &str) -> Ca {
        let id = self.issue(
            name,
            alg,
            subject,
            exts,
            "20200101000000Z",
            "20900101000000Z",
        );
        let cadir = self.dir.join(format!("{name}.ca"));
        std::fs::create_dir_all(cadir.join("new")).expect("CA dir");
        std::fs::write(cadir.join("index.txt"), "").expect("CA index");
        std::fs::write(cadir.join("serial"), "2000\n").expect("CA serial");
        write_conf(&cadir);
        Ca { id, dir: cadir }
    }
}

fn write_conf(cadir: &Path) {
    let d = cadir.display();
    let conf = format!(
        "[ca]\ndefault_ca = d\n[d]\ndatabase = {d}/index.txt\nnew_certs_dir = {d}/new\n\
         serial = {d}/serial\ndefault_md = sha256\npolicy = p\nunique_subject = no\n\
         [p]\ncommonName = supplied\norganizationName = optional\n"
    );
    std::fs::write(cadir.join("ca.cnf"), conf).expect("CA config");
}

/// Signing options.
#[derive(Clone, Copy, Debug)]
pub struct SignOpts {
    /// `-binary`: sign the bytes as they are (no canonicalisation by openssl).
    pub binary: bool,
    /// `-noattr`: no signed attributes, the signature is over the content digest.
    pub noattr: bool,
    /// `-keyid`: identify the signer by subject key identifier.
    pub keyid: bool,
}

/// `openssl cms -sign` of `content`, detached, SHA-256, DER output.
pub fn sign(dir: &Path, content: &Path, who: &Identity, opts: SignOpts, out: &Path) {
    let mut c = openssl(dir);
    c.args(["cms", "-sign", "-md", "sha256", "-outform", "DER", "-in"])
        .arg(content)
        .arg("-signer")
        .arg(&who.cert)
        .arg("-inkey")
        .arg(&who.key)
        .arg("-out")
        .arg(out);
    if let Some(extra) = &who.extra {
        c.arg("-certfile").arg(extra);
    }
    if opts.binary {
        c.arg("-binary");
    }
    if opts.noattr {
        c.arg("-noattr");
    }
    if opts.keyid {
        c.arg("-keyid");
    }
    run(&mut c);
}

/// What `openssl cms -verify` digests for the installer `file` (its `-out`, written before the
/// digest is compared), or None if openssl does not get that far (layout refused).
pub fn digested_bytes(dir: &Path, file: &Path, out: &Path) -> Option<Vec<u8>> {
    let _ = std::fs::remove_file(out);
    let script = format!("( {PREAMBLE}; cat \"$1\" ) | openssl cms -verify -noverify -out \"$2\"");
    let _ = Command::new("sh")
        .current_dir(dir)
        .args(["-c", &script, "sh"])
        .arg(file)
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    std::fs::read(out).ok()
}

/// The documented check: `( echo ...; cat FILE ) | openssl cms -verify -CAfile CA > /dev/null`.
/// Returns whether openssl accepted, and its stderr.
pub fn documented_verify(file: &Path, ca_file: &Path) -> (bool, String) {
    let script =
        format!("( {PREAMBLE}; cat \"$1\" ) | openssl cms -verify -CAfile \"$2\" > /dev/null");
    let out = Command::new("sh")
        .args(["-c", &script, "sh"])
        .arg(file)
        .arg(ca_file)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running the documented openssl check: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

//! `--installer-file`: an installer already on the host (air-gapped), copied into the run's
//! private download directory with the same one-pass SHA-256 and [`StreamCheck`] as a download,
//! so verification and execution take exactly the path a downloaded installer takes.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::{create_private, ensure_private, write_error, Downloaded, StreamCheck, FILE_NAME};
use crate::error::{Kind, ResultExt};

/// Copies `src` into `dir` (private, 0700) as a new 0600 file, hashing and feeding `check` as
/// it goes. The operator's file is only read.
pub fn copy_installer(
    src: &Path,
    dir: &Path,
    check: &mut dyn StreamCheck,
) -> anyhow::Result<Downloaded> {
    ensure_private(dir)?;
    let reading = || {
        format!(
            "could not read the installer file {} (--installer-file)",
            src.display()
        )
    };
    let mut input = File::open(src).kind(Kind::Config, reading)?;
    let path = dir.join(FILE_NAME);
    let mut out = create_private(&path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; super::BUFFER];
    let mut bytes = 0u64;
    check.reset();
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err::<Downloaded, _>(e).kind(Kind::Config, reading),
        };
        let chunk = &buf[..n];
        hasher.update(chunk);
        check.update(chunk);
        out.write_all(chunk).map_err(|e| write_error(&path, &e))?;
        bytes += n as u64;
    }
    out.sync_all().map_err(|e| write_error(&path, &e))?;
    Ok(Downloaded {
        path,
        sha256: hex::encode(hasher.finalize()),
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

    use super::*;

    #[test]
    fn copies_hashes_and_feeds_the_check_in_one_pass() {
        struct Count(u64, u32);
        impl StreamCheck for Count {
            fn reset(&mut self) {
                self.1 += 1;
            }
            fn update(&mut self, chunk: &[u8]) {
                self.0 += chunk.len() as u64;
            }
        }
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("installer.sh");
        let body = vec![b'x'; 200_000];
        std::fs::write(&src, &body).unwrap();
        let dir = tmp.path().join("private");
        std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        let mut count = Count(0, 0);
        let d = copy_installer(&src, &dir, &mut count).unwrap();
        assert_eq!((d.bytes, count.0, count.1), (200_000, 200_000, 1));
        assert_eq!(d.sha256, hex::encode(Sha256::digest(&body)));
        assert_eq!(std::fs::read(&d.path).unwrap(), body);
        let mode = std::fs::metadata(&d.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(src.exists(), "the operator's file stays");

        let missing = copy_installer(&tmp.path().join("nope"), &dir, &mut ()).unwrap_err();
        assert_eq!(crate::error::kind_of(&missing), Kind::Config);
        assert!(crate::error::one_line(&missing).contains("--installer-file"));
    }
}

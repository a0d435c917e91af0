//! Token files: private, small, and nothing but the token (BOM and surrounding white space
//! aside).

use std::path::Path;

use super::*;
use crate::error::{kind_of, one_line};

fn write_private(path: &Path, bytes: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn token_files_are_private_small_and_clean() {
    use std::os::unix::fs::PermissionsExt;
    const TOKEN: &str = "dt0c01.ABCDEFGHIJKLMNOPQRSTUVWX.SECRETPARTSECRETPART";
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t");
    let read = |f: &Path| read_token_file(f, "--cluster-token-file");

    // A byte-order mark and surrounding white space are not part of the token.
    write_private(&f, format!("\u{FEFF}  {TOKEN}\r\n\n").as_bytes());
    assert_eq!(read(&f).unwrap().expose(), TOKEN);

    for mode in [0o640, 0o604, 0o620, 0o602] {
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap();
        let err = one_line(&read(&f).unwrap_err());
        assert!(
            err.contains("chmod 600") && err.contains(&format!("{mode:04o}")),
            "{err}"
        );
    }

    write_private(&f, TOKEN.repeat(100).as_bytes());
    let err = one_line(&read(&f).unwrap_err());
    assert!(err.contains("larger than 4096 bytes"), "{err}");

    for garbage in [
        format!("{TOKEN}\0"),
        format!("\u{1b}[0m{TOKEN}"),
        format!("{TOKEN}\u{FEFF}"),
        format!("{TOKEN}é"),
    ] {
        write_private(&f, garbage.as_bytes());
        let err = read(&f).unwrap_err();
        assert_eq!(kind_of(&err), Kind::Config);
        let text = format!("{} {err:?}", one_line(&err));
        assert!(!text.contains("SECRETPART"), "{text}");
        assert!(text.contains("cannot be part of a token"), "{text}");
    }
    // The same rules for stdin and the environment variable.
    let err = read_token(&mut TOKEN.repeat(100).as_bytes(), "stdin").unwrap_err();
    assert!(one_line(&err).contains("larger than"));
    let env = format!("\u{FEFF}{TOKEN}");
    let t = read_token(env.as_bytes(), "DT_CLUSTER_TOKEN").unwrap();
    assert_eq!(t.expose(), TOKEN);
}

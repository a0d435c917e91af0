use super::*;
use crate::error::{kind_of, one_line};
use std::os::unix::fs::PermissionsExt;

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// Gives `p` to `uid`; false (nothing done) when we are not root and cannot.
fn chown(p: &Path, uid: u32) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: skipping the part with a file of another user");
        return false;
    }
    std::os::unix::fs::chown(p, Some(uid), None).unwrap();
    true
}

#[test]
fn world_writable_or_foreign_state_dir_is_refused_with_path_owner_mode_and_fix() {
    let top = tempfile::tempdir().unwrap();
    let state = top.path().join("state");
    fs::create_dir(&state).unwrap();
    chmod(&state, 0o777);
    let err = trusted_dir(&state, "the state directory").unwrap_err();
    assert_eq!(kind_of(&err), Kind::Config);
    let msg = one_line(&err);
    assert!(msg.contains(&state.display().to_string()), "{msg}");
    assert!(msg.contains("mode 0777") && msg.contains("uid 0"), "{msg}");
    assert!(msg.contains("chmod go-w"), "{msg}");

    // Sticky is no excuse for the directory we write in, only for a parent.
    chmod(&state, 0o1777);
    assert!(trusted_dir(&state, "the state directory").is_err());
    let inner = state.join("inner");
    fs::create_dir(&inner).unwrap();
    chmod(&inner, 0o700);
    assert!(trusted_dir(&inner, "the state directory")
        .unwrap()
        .is_some());

    // A parent writable by others without the sticky bit.
    chmod(&state, 0o777);
    let msg = one_line(&trusted_dir(&inner, "the state directory").unwrap_err());
    assert!(
        msg.contains(&format!("{} is writable", state.display())),
        "{msg}"
    );

    // Owned by another non-root user, even with a tight mode.
    chmod(&state, 0o700);
    chown(&inner, 65534);
    let msg = one_line(&trusted_dir(&inner, "the state directory").unwrap_err());
    assert!(
        msg.contains("uid 65534") && msg.contains("owned by another user"),
        "{msg}"
    );
}

#[test]
fn missing_dir_checks_its_parent_and_is_created_private() {
    let top = tempfile::tempdir().unwrap();
    let state = top.path().join("a/b");
    assert!(trusted_dir(&state, "x").unwrap().is_none());
    assert!(!state.exists(), "trusted_dir must not create anything");
    let real = create_trusted_dir(&state, "x").unwrap();
    assert_eq!(fs::metadata(&real).unwrap().mode() & 0o777, 0o700);

    chmod(top.path(), 0o777);
    let other = top.path().join("c");
    assert!(create_trusted_dir(&other, "x").is_err());
    assert!(!other.exists());
}

#[test]
fn planted_links_are_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    fs::write(&target, "precious").unwrap();
    let state = dir.path().join("state");
    fs::create_dir(&state).unwrap();
    for name in [
        ".status.json.tmp",
        "last-install.log",
        "lock",
        "status.json",
    ] {
        std::os::unix::fs::symlink(&target, state.join(name)).unwrap();
    }
    write_atomic(&state, "status.json", b"{}", 0o644).unwrap();
    assert_eq!(fs::read_to_string(state.join("status.json")).unwrap(), "{}");
    let mut log = create_new(&state.join("last-install.log"), 0o600).unwrap();
    log.write_all(b"log").unwrap();
    let err = open_lock(&state.join("lock"), true).unwrap_err();
    assert!(
        one_line(&err).contains("symbolic link"),
        "{}",
        one_line(&err)
    );
    assert_eq!(fs::read_to_string(&target).unwrap(), "precious");
    assert!(fs::symlink_metadata(state.join("lock"))
        .unwrap()
        .is_symlink());

    std::os::unix::fs::symlink(&target, state.join("linked")).unwrap();
    assert!(open_read(&state.join("linked")).is_err());
    assert!(open_read(&state.join("absent")).unwrap().is_none());
}

#[test]
fn programs_in_writable_directories_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tools = dir.path().join("agent/tools");
    fs::create_dir_all(&tools).unwrap();
    let ctl = tools.join("oneagentctl");
    fs::write(&ctl, "#!/bin/sh\n").unwrap();
    chmod(&ctl, 0o755);
    check_program(&ctl, "oneagentctl").unwrap();
    chmod(&tools, 0o777);
    let msg = one_line(&check_program(&ctl, "oneagentctl").unwrap_err());
    assert!(msg.contains(&tools.display().to_string()), "{msg}");
    chmod(&tools, 0o755);
    chmod(&ctl, 0o777);
    assert!(check_program(&ctl, "oneagentctl").is_err());
    chmod(&ctl, 0o755);
    if chown(&ctl, 65534) {
        assert!(check_program(&ctl, "oneagentctl").is_err());
    }

    // A link to a safe program, in a directory others can write: they could re-point it.
    let open = dir.path().join("open");
    fs::create_dir(&open).unwrap();
    chmod(&open, 0o777);
    let link = open.join("oneagentctl");
    std::os::unix::fs::symlink("/bin/sh", &link).unwrap();
    let msg = one_line(&check_program(&link, "oneagentctl").unwrap_err());
    assert!(msg.contains(&open.display().to_string()), "{msg}");
    chmod(&open, 0o755);
    check_program(&link, "oneagentctl").unwrap();
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[test]
fn the_held_installer_is_what_was_verified_whatever_happens_to_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("installer.sh");
    let good = b"echo verified\n";
    fs::write(&path, good).unwrap();
    chmod(&path, 0o600);
    let held = hold_verified(&path, &sha(good), good.len() as u64).unwrap();
    // A swap after verification: replace the name with another file, then delete it.
    let evil = dir.path().join("evil.sh");
    fs::write(&evil, "echo evil\n").unwrap();
    fs::rename(&evil, &path).unwrap();
    assert_eq!(fs::read(held.fd_path()).unwrap(), good);
    fs::remove_file(&path).unwrap();
    assert_eq!(fs::read(held.fd_path()).unwrap(), good);
}

#[test]
fn a_changed_or_linked_installer_is_not_held() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("installer.sh");
    fs::write(&path, b"echo swapped\n").unwrap();
    chmod(&path, 0o600);
    let err = hold_verified(&path, &sha(b"echo verified\n"), 14).unwrap_err();
    assert_eq!(kind_of(&err), Kind::Verification);
    assert!(one_line(&err).contains("changed after verification"));

    let right = sha(b"echo swapped\n");
    fs::hard_link(&path, dir.path().join("other-name")).unwrap();
    let err = hold_verified(&path, &right, 13).unwrap_err();
    assert!(one_line(&err).contains("2 links"), "{}", one_line(&err));
    fs::remove_file(dir.path().join("other-name")).unwrap();
    chmod(&path, 0o644);
    assert!(hold_verified(&path, &right, 13).is_err());
    chmod(&path, 0o600);
    hold_verified(&path, &right, 13).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    assert!(hold_verified(&link, &right, 13).is_err());
}

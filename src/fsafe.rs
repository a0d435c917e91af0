//! Paths no other user controls. We run as root: a directory another user can write to, or a
//! symbolic link someone planted, would let them choose what root writes or executes.
//!
//! The rule for a directory we trust (the state dir, the install path's program directories)
//! is OpenSSH's for `~/.ssh`: it and every parent must be owned by root or by us, and must not
//! be writable by group or others, except a parent with the sticky bit (`/tmp`), where others
//! cannot rename or delete what is not theirs. Inside the state dir, files are opened with
//! `O_NOFOLLOW`, created with `O_EXCL` and replaced by `rename`, so a planted link is never
//! followed.

use std::ffi::CStr;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::Result;
use sha2::{Digest, Sha256};

use crate::error::{failure, Kind, ResultExt};

/// Whether files owned by `uid` may decide what we run: root's and our own only.
fn trusted_owner(uid: u32) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    uid == 0 || uid == unsafe { libc::geteuid() }
}

/// `uid 1000 (alice)`, or just the number when the user database does not know it.
fn owner_name(uid: u32) -> String {
    // SAFETY: passwd is a C struct of integers and pointers, for which all zeroes is valid.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwuid_r writes into `pwd` and `buf`, both ours and sized as passed; the name
    // it points to lives in `buf`, read before `buf` goes away.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc == 0 && !found.is_null() && !pwd.pw_name.is_null() {
        // SAFETY: pw_name points to a NUL-terminated name inside `buf`, still alive here.
        let name = unsafe { CStr::from_ptr(pwd.pw_name) }.to_string_lossy();
        return format!("uid {uid} ({name})");
    }
    format!("uid {uid}")
}

/// What makes a path unsafe.
#[derive(Debug, Clone, Copy)]
enum Unsafe {
    Owner,
    Writable,
}

/// Why `meta` makes its path unsafe, if it does. `sticky_ok`: a world-writable directory with
/// the sticky bit is acceptable (a parent such as /tmp), not for the directory we write in.
fn unsafe_because(meta: &fs::Metadata, sticky_ok: bool) -> Option<Unsafe> {
    let mode = meta.mode();
    if !trusted_owner(meta.uid()) {
        return Some(Unsafe::Owner);
    }
    let sticky = meta.is_dir() && mode & libc::S_ISVTX != 0;
    if mode & 0o022 != 0 && !(sticky && sticky_ok) {
        return Some(Unsafe::Writable);
    }
    None
}

fn refusal(what: &str, path: &Path, meta: &fs::Metadata, why: Unsafe) -> anyhow::Error {
    let p = path.display();
    let (why, fix) = match why {
        Unsafe::Owner => ("is owned by another user", format!("chown root {p}")),
        Unsafe::Writable => ("is writable by group or others", format!("chmod go-w {p}")),
    };
    failure(
        Kind::Config,
        format!(
            "refusing to use {what}: {p} {why} ({}, mode {:04o}), so someone other than root \
             could change what runs as root; fix: {fix}, or use another path",
            owner_name(meta.uid()),
            meta.mode() & 0o7777,
        ),
    )
}

/// Checks `real` (a canonical path) and every parent. `strict_self`: `real` itself may not
/// rely on the sticky bit (it is the directory we create files in).
fn check_chain(real: &Path, what: &str, strict_self: bool) -> Result<()> {
    for (i, p) in real.ancestors().enumerate() {
        let meta = fs::symlink_metadata(p)
            .kind(Kind::Config, || format!("checking {what}: {}", p.display()))?;
        if let Some(why) = unsafe_because(&meta, !(i == 0 && strict_self)) {
            return Err(refusal(what, p, &meta, why));
        }
    }
    Ok(())
}

/// The canonical form of an existing directory `dir` after checking it and every parent;
/// `None` when it does not exist (its nearest existing parent is checked instead).
/// Callers use the returned path from then on, so a symbolic link on the way is resolved once.
pub fn trusted_dir(dir: &Path, what: &str) -> Result<Option<PathBuf>> {
    match fs::canonicalize(dir) {
        Ok(real) => {
            if !real.is_dir() {
                return Err(failure(
                    Kind::Config,
                    format!("{what} {} is not a directory", dir.display()),
                ));
            }
            check_chain(&real, what, true)?;
            Ok(Some(real))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = dir
                .ancestors()
                .skip(1)
                // A relative path's last ancestor is "", meaning the current directory.
                .map(|a| {
                    if a.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        a
                    }
                })
                .find_map(|a| fs::canonicalize(a).ok())
                .unwrap_or_else(|| PathBuf::from("/"));
            check_chain(&parent, what, false)?;
            Ok(None)
        }
        Err(e) => Err(e).kind(Kind::Config, || {
            format!("checking {what} {}", dir.display())
        }),
    }
}

/// The state directory, created 0700 if missing; its canonical path.
pub fn create_trusted_dir(dir: &Path, what: &str) -> Result<PathBuf> {
    if let Some(real) = trusted_dir(dir, what)? {
        return Ok(real);
    }
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .kind(Kind::Config, || {
            format!(
                "could not create {what} {}; set --state-dir to a writable place",
                dir.display()
            )
        })?;
    // Checked again: someone may have created part of it between our check and mkdir.
    trusted_dir(dir, what)?.ok_or_else(|| {
        failure(
            Kind::Config,
            format!("{what} {} vanished after creating it", dir.display()),
        )
    })
}

/// A program we are about to execute (oneagentctl, uninstall.sh): a regular file, owned by
/// root or us, not writable by others, in directories no other user controls.
pub fn check_program(path: &Path, what: &str) -> Result<()> {
    let real = fs::canonicalize(path).kind(Kind::Installer, || {
        format!("could not find {what} {}", path.display())
    })?;
    let meta = fs::symlink_metadata(&real).kind(Kind::Installer, || {
        format!("checking {what} {}", real.display())
    })?;
    if !meta.is_file() {
        return Err(failure(
            Kind::Config,
            format!(
                "refusing to run {what} {}: not a regular file",
                real.display()
            ),
        ));
    }
    if let Some(why) = unsafe_because(&meta, false) {
        return Err(refusal(what, &real, &meta, why));
    }
    let what = format!("{what} {}", path.display());
    check_chain(real.parent().unwrap_or(Path::new("/")), &what, false)?;
    // Where the name itself lives too, when it is a link: whoever controls that directory
    // could point the link elsewhere.
    let named_in = path.parent().map(fs::canonicalize).transpose();
    let named_in = named_in.kind(Kind::Installer, || format!("checking {what}"))?;
    match named_in {
        Some(dir) => check_chain(&dir, &what, false),
        None => Ok(()),
    }
}

/// Opens an existing file in a trusted directory for reading, never through a symbolic link;
/// `None` when it does not exist.
pub fn open_read(path: &Path) -> std::io::Result<Option<File>> {
    match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => {
            if !f.metadata()?.is_file() {
                return Err(std::io::Error::other("not a regular file"));
            }
            Ok(Some(f))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A file whose content decides where root sends a secret (the configuration file): not a
/// symbolic link, a regular file owned by root or us, not writable by group or others, in
/// directories no other user controls. Returned open, so the file checked is the file read.
pub fn open_trusted_file(path: &Path, what: &str) -> Result<File> {
    let p = path.display();
    let meta = fs::symlink_metadata(path).kind(Kind::Config, || format!("reading {what} {p}"))?;
    if meta.file_type().is_symlink() {
        return Err(failure(
            Kind::Config,
            format!(
                "refusing to read {what} {p}: it is a symbolic link, which whoever controls it \
                 could point elsewhere; give the path of the file itself"
            ),
        ));
    }
    let file = open_read(path)
        .and_then(|f| f.ok_or_else(|| std::io::ErrorKind::NotFound.into()))
        .kind(Kind::Config, || format!("reading {what} {p}"))?;
    let meta = file
        .metadata()
        .kind(Kind::Config, || format!("checking {what} {p}"))?;
    if let Some(why) = unsafe_because(&meta, false) {
        return Err(refusal(what, path, &meta, why));
    }
    let real = fs::canonicalize(path).kind(Kind::Config, || format!("checking {what} {p}"))?;
    check_chain(real.parent().unwrap_or(Path::new("/")), what, false)?;
    // A directory on the way that is a link: whoever controls the directory holding the link
    // could point it elsewhere.
    for link in path.ancestors().skip(1).filter(|a| a.is_symlink()) {
        if let Some(holder) = link.parent().and_then(|d| fs::canonicalize(d).ok()) {
            check_chain(&holder, what, false)?;
        }
    }
    Ok(file)
}

/// A new file at `path` (whatever was there, link or file, is removed first, never followed).
/// Only called with the lock held, so no other run of ours races for the name.
pub fn create_new(path: &Path, mode: u32) -> std::io::Result<File> {
    match fs::symlink_metadata(path) {
        Ok(m) if !m.is_dir() => fs::remove_file(path)?,
        _ => {}
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(mode)
        .open(path)
}

/// Replaces `dir/name` with `body` atomically: a new `dir/.name.tmp` (O_EXCL), then rename.
pub fn write_atomic(dir: &Path, name: &str, body: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = create_new(&tmp, mode)?;
    f.write_all(body)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, dir.join(name))
}

/// The lock file, opened read-write without following a link; created (0600) when `create`.
/// `None` when it does not exist and `create` is false.
pub fn open_lock(path: &Path, create: bool) -> Result<Option<File>> {
    let opened = OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .mode(0o600)
        .open(path);
    let file = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !create => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(failure(
                Kind::Config,
                format!(
                    "refusing the lock file {}: it is a symbolic link; remove it (rm {})",
                    path.display(),
                    path.display()
                ),
            ))
        }
        Err(e) => {
            return Err(e).kind(Kind::Config, || {
                format!(
                    "could not open the lock file {}; check --state-dir and its permissions",
                    path.display()
                )
            })
        }
    };
    let meta = file
        .metadata()
        .kind(Kind::Config, || format!("checking {}", path.display()))?;
    if !meta.is_file() {
        return Err(failure(
            Kind::Config,
            format!(
                "the lock file {} is not a regular file; remove it",
                path.display()
            ),
        ));
    }
    if let Some(why) = unsafe_because(&meta, false) {
        return Err(refusal("the lock file", path, &meta, why));
    }
    Ok(Some(file))
}

/// The verified installer, held open read-only. Why what `sh` reads is what was verified:
/// - the download wrote it as a new 0600 file (O_EXCL) in a fresh 0700 directory of ours
///   inside the state dir, whose chain no other user controls (checked first thing), and our
///   write handle is closed: no process but root can open it for writing;
/// - [`hold_verified`] opens it once (O_NOFOLLOW), checks that this inode is ours, 0600, has
///   no other name (one link, so no hard link elsewhere reaches it) and re-hashes it through
///   this descriptor against the verified SHA-256: the inode we hold has the verified bytes;
/// - `sh` is given `/dev/fd/N`, this very descriptor, not the path: renaming, replacing or
///   deleting the path afterwards changes nothing about what runs.
#[derive(Debug)]
pub struct HeldFile {
    file: File,
    path: PathBuf,
}

impl HeldFile {
    /// Where it was verified (for messages only: it is never opened by this name again).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path through which a child that inherits the descriptor reads this same file
    /// (`/proc/self/fd/N` where a minimal system has no `/dev/fd`).
    pub fn fd_path(&self) -> PathBuf {
        let fd = self.file.as_raw_fd();
        let dev = PathBuf::from(format!("/dev/fd/{fd}"));
        if dev.exists() {
            dev
        } else {
            PathBuf::from(format!("/proc/self/fd/{fd}"))
        }
    }

    pub fn raw_fd(&self) -> i32 {
        self.file.as_raw_fd()
    }
}

/// See [`HeldFile`]. Kind::Verification when the file on disk is not what was verified.
pub fn hold_verified(path: &Path, sha256: &str, bytes: u64) -> Result<HeldFile> {
    let what = || format!("re-opening the verified installer {}", path.display());
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .kind(Kind::Verification, what)?;
    let meta = file.metadata().kind(Kind::Verification, what)?;
    let mode = meta.mode() & 0o7777;
    if !meta.is_file() || !trusted_owner(meta.uid()) || mode & 0o077 != 0 || meta.nlink() != 1 {
        return Err(failure(
            Kind::Verification,
            format!(
                "the verified installer {} changed owner, mode or links ({}, mode {mode:04o}, \
                 {} links); nothing was run",
                path.display(),
                owner_name(meta.uid()),
                meta.nlink()
            ),
        ));
    }
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut read = 0u64;
    loop {
        let n = file.read(&mut buf).kind(Kind::Verification, what)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        read += n as u64;
    }
    // Children reopen /dev/fd/N from offset 0 (Linux); rewinding keeps a shared offset right too.
    file.seek(SeekFrom::Start(0))
        .kind(Kind::Verification, what)?;
    let got = hex::encode(hasher.finalize());
    if got != sha256 || read != bytes {
        return Err(failure(
            Kind::Verification,
            format!(
                "the installer {} changed after verification (sha256 {got}, {read} bytes; \
                 verified {sha256}, {bytes} bytes); nothing was run",
                path.display()
            ),
        ));
    }
    Ok(HeldFile {
        file,
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests;

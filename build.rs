//! Stamps `ONEAGENT_BOOTSTRAP_VERSION` ("0.1.0 (commit 1a2b3c4d5e6f)") for `--version`/`-V`.
//!
//! The commit comes from `git` when the source is a checkout; a build from a tarball has no
//! `.git`, so it reads `ONEAGENT_BOOTSTRAP_COMMIT` (set by whoever made the tarball) or says
//! "unknown" rather than failing the build.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=ONEAGENT_BOOTSTRAP_COMMIT");
    let commit = std::env::var("ONEAGENT_BOOTSTRAP_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_string());
    println!(
        "cargo:rustc-env=ONEAGENT_BOOTSTRAP_VERSION={} (commit {})",
        env!("CARGO_PKG_VERSION"),
        commit.trim()
    );
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?;
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

fn git_commit() -> Option<String> {
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    // Rebuild when HEAD moves: HEAD itself (branch switch, detached), the branch's ref file and
    // packed-refs (commit, fetch). Worktrees keep HEAD in their own git dir, refs in the common.
    let git_dir = git(&["rev-parse", "--git-dir"]).map(PathBuf::from);
    let common = git(&["rev-parse", "--git-common-dir"]).map(PathBuf::from);
    let head_ref = git(&["symbolic-ref", "-q", "HEAD"]);
    // A path that does not exist would make cargo rerun this script (and rebuild) every time.
    for dir in [git_dir, common].into_iter().flatten() {
        let refs = head_ref.iter().map(|r| dir.join(r));
        for path in [dir.join("HEAD"), dir.join("packed-refs")]
            .into_iter()
            .chain(refs)
        {
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    Some(commit)
}

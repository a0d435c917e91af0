//! Exit-code classes and the one error type that carries them.
//!
//! Everything else uses `anyhow` with context. Where the exit code depends on what went wrong,
//! the code that knows creates a [`Failure`] (or attaches one with [`ResultExt::kind`]); `main`
//! walks the chain once and maps the first `Failure` it meets to an exit code. An error with no
//! `Failure` in its chain is a bug: exit 1.

use std::fmt;

/// The exit-code contract with Puppet, Ansible and people: each code's name and meaning live
/// on its variant (here and on [`Outcome`]); [`EXIT_CODES`], the `--help` table and README.md
/// (whose test compares it with `--help`) are built from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// 1: a bug or an environment we did not foresee.
    Internal,
    /// 3: bad flags, environment variables, facts, templates or files.
    Config,
    /// 4: the cluster or environment API failed, refused or could not be reached.
    Api,
    /// 5: the installer failed verification (digest, signature, chain, layout).
    Verification,
    /// 6: the installer or oneagentctl failed, or the host does not match the plan afterwards.
    Installer,
    /// 7: another run holds the lock.
    Locked,
}

/// What a finished run reports when nothing failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 0: converged, nothing changed (or, for `check`, nothing would change).
    Converged,
    /// 2: changed (or, for `check`, a change is needed).
    Changed,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Internal,
        Kind::Config,
        Kind::Api,
        Kind::Verification,
        Kind::Installer,
        Kind::Locked,
    ];

    pub const fn exit_code(self) -> u8 {
        match self {
            Kind::Internal => 1,
            Kind::Config => 3,
            Kind::Api => 4,
            Kind::Verification => 5,
            Kind::Installer => 6,
            Kind::Locked => 7,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Kind::Internal => "internal",
            Kind::Config => "config",
            Kind::Api => "api",
            Kind::Verification => "verification",
            Kind::Installer => "installer",
            Kind::Locked => "locked",
        }
    }

    pub const fn meaning(self) -> &'static str {
        match self {
            Kind::Internal => "unexpected internal error",
            Kind::Config => "bad configuration or input",
            Kind::Api => "Dynatrace API or network failure",
            Kind::Verification => "installer verification failed",
            Kind::Installer => "installer failed or the result is not as planned",
            Kind::Locked => "another run holds the lock",
        }
    }
}

impl Outcome {
    pub const ALL: [Outcome; 2] = [Outcome::Converged, Outcome::Changed];

    pub const fn exit_code(self) -> u8 {
        match self {
            Outcome::Converged => 0,
            Outcome::Changed => 2,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Outcome::Converged => "converged",
            Outcome::Changed => "changed",
        }
    }

    pub const fn meaning(self) -> &'static str {
        match self {
            Outcome::Converged => "nothing changed (check: nothing would change)",
            Outcome::Changed => "the host was changed (check: a change is needed)",
        }
    }
}

/// Every exit code, its name and its meaning, by code: built from [`Outcome::ALL`] and
/// [`Kind::ALL`] at compile time, so a new variant cannot be missing from the table.
pub const EXIT_CODES: &[(u8, &str, &str)] = &{
    const N: usize = Outcome::ALL.len() + Kind::ALL.len();
    let mut rows = [(0u8, "", ""); N];
    let mut i = 0;
    while i < Outcome::ALL.len() {
        let o = Outcome::ALL[i];
        rows[i] = (o.exit_code(), o.name(), o.meaning());
        i += 1;
    }
    let mut j = 0;
    while j < Kind::ALL.len() {
        let k = Kind::ALL[j];
        rows[i + j] = (k.exit_code(), k.name(), k.meaning());
        j += 1;
    }
    // Insertion sort by code (const context: no slice::sort).
    let mut a = 1;
    while a < N {
        let mut b = a;
        while b > 0 && rows[b - 1].0 > rows[b].0 {
            let t = rows[b - 1];
            rows[b - 1] = rows[b];
            rows[b] = t;
            b -= 1;
        }
        a += 1;
    }
    rows
};

/// Why a failure happened, where a caller or a test acts on the variant rather than the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// 5: the file's SHA-256 (`--sha256`) or its signed content's digest is not as expected.
    Digest,
    /// 5: the file is not a signed installer, or its signature or chain to the trusted root
    /// does not verify.
    Chain,
    /// 5: a certificate on the chain has expired (or is not valid yet) at verification time.
    Expired,
    /// 6: the installer, uninstaller or oneagentctl did not finish within its timeout.
    Timeout,
    /// 6: the installer, uninstaller or oneagentctl exited unsuccessfully.
    Exit,
}

impl Cause {
    pub const fn kind(self) -> Kind {
        match self {
            Cause::Digest | Cause::Chain | Cause::Expired => Kind::Verification,
            Cause::Timeout | Cause::Exit => Kind::Installer,
        }
    }
}

/// An error whose class decides the exit code. Its message says what was being done, to what,
/// and what the user can do; it never holds a secret.
#[derive(Debug)]
pub struct Failure {
    pub kind: Kind,
    pub message: String,
    /// Set where the reason is worth a variant (see [`cause_of`]). Only tests read it so far:
    /// the exit code comes from `kind`, the user reads `message`.
    #[cfg_attr(not(test), allow(dead_code))]
    pub cause: Option<Cause>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// A new error of the given class.
pub fn failure(kind: Kind, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failure {
        kind,
        message: message.into(),
        cause: None,
    })
}

/// A new error of the class its cause implies.
pub fn failure_because(cause: Cause, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failure {
        kind: cause.kind(),
        message: message.into(),
        cause: Some(cause),
    })
}

/// The typed reason of an error: the first [`Failure`] in its chain that has one.
#[cfg(test)]
pub fn cause_of(err: &anyhow::Error) -> Option<Cause> {
    err.downcast_ref::<Failure>()
        .and_then(|f| f.cause)
        .or_else(|| {
            err.chain()
                .find_map(|c| c.downcast_ref::<Failure>().and_then(|f| f.cause))
        })
}

/// The class of an error: the outermost [`Failure`] in its chain, else `Internal`.
pub fn kind_of(err: &anyhow::Error) -> Kind {
    // `anyhow::Error::downcast_ref` sees context layers (outermost first, which is how
    // `ResultExt::kind` attaches a Failure); `chain()` items do not expose context types, but
    // do find a Failure that is the source of some other error.
    err.downcast_ref::<Failure>()
        .or_else(|| {
            err.chain()
                .find_map(|cause| cause.downcast_ref::<Failure>())
        })
        .map_or(Kind::Internal, |f| f.kind)
}

/// The whole chain on one line, outermost first: `doing X: because Y: because Z`. Line breaks
/// inside a cause (regex errors draw a caret under the pattern) become single spaces, and URL
/// passwords are masked: this is what the user, `--json` and status.json see of an error.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for (i, cause) in err.chain().enumerate() {
        let text = cause.to_string();
        // Context that repeats its cause adds nothing.
        if i > 0 && out.ends_with(&text) {
            continue;
        }
        if i > 0 {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    let joined = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    crate::secret::redact_userinfo(&joined)
}

pub trait ResultExt<T> {
    /// Attach a class and a message (what was being done, to what, what to do) to an error.
    fn kind(self, kind: Kind, message: impl FnOnce() -> String) -> anyhow::Result<T>;
}

impl<T, E> ResultExt<T> for Result<T, E>
where
    E: Into<anyhow::Error>,
{
    fn kind(self, kind: Kind, message: impl FnOnce() -> String) -> anyhow::Result<T> {
        self.map_err(|e| {
            e.into().context(Failure {
                kind,
                message: message(),
                cause: None,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_every_variant_once_by_code() {
        let codes: Vec<u8> = EXIT_CODES.iter().map(|(c, _, _)| *c).collect();
        assert_eq!(codes, vec![0, 1, 2, 3, 4, 5, 6, 7]);
        for k in Kind::ALL {
            assert!(
                EXIT_CODES.contains(&(k.exit_code(), k.name(), k.meaning())),
                "{k:?}"
            );
        }
        for o in Outcome::ALL {
            assert!(
                EXIT_CODES.contains(&(o.exit_code(), o.name(), o.meaning())),
                "{o:?}"
            );
        }
        // The contract's fixed points, which Puppet and Ansible code against.
        assert_eq!(EXIT_CODES[2], (2, "changed", Outcome::Changed.meaning()));
        assert_eq!(EXIT_CODES[7].1, "locked");
    }

    #[test]
    fn outermost_failure_decides_and_plain_errors_are_internal() {
        let plain = anyhow::anyhow!("boom");
        assert_eq!(kind_of(&plain), Kind::Internal);

        let inner: Result<(), _> = Err(std::io::Error::other("connection reset"));
        let err = inner
            .kind(Kind::Api, || "downloading installer".into())
            .unwrap_err()
            .context("applying");
        assert_eq!(kind_of(&err), Kind::Api);
        assert_eq!(
            one_line(&err),
            "applying: downloading installer: connection reset"
        );
    }

    #[test]
    fn a_cause_sets_the_class_and_survives_context() {
        let err = failure_because(Cause::Expired, "signer expired").context("verifying");
        assert_eq!(kind_of(&err), Kind::Verification);
        assert_eq!(cause_of(&err), Some(Cause::Expired));
        let err = failure_because(Cause::Timeout, "installer hung");
        assert_eq!(kind_of(&err), Kind::Installer);
        assert_eq!(cause_of(&err), Some(Cause::Timeout));
        assert_eq!(cause_of(&failure(Kind::Installer, "x")), None);
    }

    #[test]
    fn one_line_is_one_line_without_url_passwords() {
        let err = anyhow::anyhow!("regex parse error:\n    (\n    ^\nerror: unclosed group")
            .context("--set-proxy=http://u:hunter2@proxy:3128 was refused");
        let line = one_line(&err);
        assert!(!line.contains('\n'), "{line}");
        assert!(!line.contains("hunter2"), "{line}");
        assert_eq!(
            line,
            "--set-proxy=http://u:***@proxy:3128 was refused: regex parse error: ( ^ error: \
             unclosed group"
        );
    }
}

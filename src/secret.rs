//! Tokens as a type that cannot be printed by accident (and is wiped when dropped), and the one
//! place where text is redacted: known secrets and token shapes ([`redact`], for what a child
//! process printed and what a server answered), the values of token options in a command line
//! ([`redact_args`]) and passwords in URLs (`http://user:***@host`, [`redact_userinfo`]), which
//! everything printed or stored passes through.

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use zeroize::Zeroize;

/// What a secret is replaced with wherever it would have been shown.
pub const REDACTED: &str = "<redacted>";

/// A Dynatrace token. `Debug` and `Display` print `<redacted>`; the value is reachable only
/// through [`Secret::expose`], which is grep-able. Its memory is zeroed on drop, so a core dump
/// or a reused allocation does not hold a token the run no longer needs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a token, trimming the surrounding white space a file or heredoc adds (the
    /// untrimmed copy is wiped too).
    pub fn new(value: impl Into<String>) -> Self {
        let mut raw = value.into();
        let s = Secret(raw.trim().to_string());
        raw.zeroize();
        s
    }

    /// Zeroes the whole buffer (its capacity, not only the token) and leaves the secret empty.
    fn wipe(&mut self) {
        self.0.zeroize();
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The public token id (`dt0c01.PUBLIC`): safe to log, and what DELETE takes.
    pub fn token_id(&self) -> Option<&str> {
        let mut parts = self.0.splitn(3, '.');
        let prefix = parts.next()?;
        let public = parts.next()?;
        parts.next()?;
        let len = prefix.len() + 1 + public.len();
        Some(&self.0[..len])
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// So a holder (token::MintedGuard) takes a token borrowed or moved in, never copied.
impl<'a> From<&'a Secret> for Cow<'a, Secret> {
    fn from(s: &'a Secret) -> Self {
        Cow::Borrowed(s)
    }
}

impl From<Secret> for Cow<'_, Secret> {
    fn from(s: Secret) -> Self {
        Cow::Owned(s)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Anything shaped like a Dynatrace token (`dt0c01.PUBLIC.SECRET`) keeps only its public id.
static TOKEN_SHAPE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(dt0[a-z][0-9]{2}\.[A-Za-z0-9]+)\.[A-Za-z0-9_-]+")
        .unwrap_or_else(|e| unreachable!("constant regex: {e}"))
});

/// `text` with each of `secrets` replaced by `<redacted>`, the secret part of anything
/// token-shaped removed (a token we were not told about, e.g. one a server echoes back) and URL
/// passwords masked: for what a child process printed or a server answered.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s, REDACTED);
    }
    let out = TOKEN_SHAPE.replace_all(&out, format!("$1.{REDACTED}"));
    redact_userinfo(&out)
}

/// A command line as shown in logs and errors: the values of token options
/// (`--set-tenant-token=...`) hidden, URL passwords (`--set-proxy=http://user:pass@host`)
/// masked.
pub fn redact_args(args: &[String]) -> String {
    let shown = args
        .iter()
        .map(|a| match a.split_once('=') {
            Some((k, _)) if k.to_ascii_lowercase().contains("token") => format!("{k}={REDACTED}"),
            _ => a.clone(),
        })
        .collect::<Vec<_>>()
        .join(" ");
    redact_userinfo(&shown)
}

/// What replaces the password of a URL's userinfo.
pub const MASK: &str = "***";

/// `text` with the password of every URL userinfo masked: `http://user:pass@host` and the
/// scheme-less `user:pass@host` OneAgent's `--set-proxy` also takes (after an `=` too, as in
/// `--set-proxy=user:pass@host`). Words end at white space only, since a password may hold
/// `,`, `'` or `(`; an authority ends at the next `/` (`--proxy` refuses an unencoded `/`,
/// `?` or `#` in its userinfo), its userinfo at the last `@` in it.
pub fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (word, after) = rest.split_at(word_end);
        out.push_str(&redact_word(word));
        let sep_len = after.chars().next().map_or(0, char::len_utf8);
        out.push_str(&after[..sep_len]);
        rest = &after[sep_len..];
    }
    out
}

/// Every authority in `word`: after each `://`, or (without any) after the first `=`.
fn redact_word(word: &str) -> String {
    if !word.contains('@') {
        return word.to_string();
    }
    let mut starts: Vec<usize> = word.match_indices("://").map(|(i, _)| i + 3).collect();
    if starts.is_empty() {
        starts.push(word.find('=').map_or(0, |i| i + 1));
    }
    let mut out = String::with_capacity(word.len());
    let mut done = 0;
    for start in starts {
        if start < done {
            continue;
        }
        let end = word[start..].find('/').map_or(word.len(), |i| start + i);
        let authority = &word[start..end];
        let Some(at) = authority.rfind('@') else {
            continue;
        };
        let Some(colon) = authority[..at].find(':') else {
            continue;
        };
        out.push_str(&word[done..start + colon + 1]);
        out.push_str(MASK);
        done = start + at;
    }
    out.push_str(&word[done..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_passwords_are_masked_wherever_they_appear() {
        for (text, want) in [
            ("http://user:pass@proxy:8080", "http://user:***@proxy:8080"),
            (
                "set --set-proxy=https://u:p@ss:w=rd@h:3128/x?q=1 then",
                "set --set-proxy=https://u:***@h:3128/x?q=1 then",
            ),
            (
                "--set-proxy=alice:s3cret@10.0.0.1:8080",
                "--set-proxy=alice:***@10.0.0.1:8080",
            ),
            (
                "proxy (http://u:p@h) failed",
                "proxy (http://u:***@h) failed",
            ),
            ("'http://u:p@h'", "'http://u:***@h'"),
            ("\"http://u:p,(w)'x@h\"", "\"http://u:***@h\""),
            ("(u:p,w@h:1)", "(u:***@h:1)"),
            (
                "a=http://u:p@h,b=https://v:q@i/x",
                "a=http://u:***@h,b=https://v:***@i/x",
            ),
            // Nothing to mask: no password, an @ in a path, a mail address, plain text.
            ("http://user@h", "http://user@h"),
            ("https://h/a:b@c", "https://h/a:b@c"),
            ("mail ops@example.com now", "mail ops@example.com now"),
            ("tenant abc-p1: ok", "tenant abc-p1: ok"),
            ("ünïcode ✓ http://ü:ö@h", "ünïcode ✓ http://ü:***@h"),
        ] {
            assert_eq!(redact_userinfo(text), want, "{text}");
        }
    }

    #[test]
    fn known_secrets_and_url_passwords_are_redacted() {
        assert_eq!(redact("a SECRET b", &["SECRET", ""]), "a <redacted> b");
        assert_eq!(
            redact("T1 via http://u:pw@h T1", &["T1"]),
            "<redacted> via http://u:***@h <redacted>"
        );
    }

    #[test]
    fn token_shapes_lose_their_secret_part() {
        const TOKEN: &str =
            "dt0c01.ABCDEFGHIJKLMNOPQRSTUVWX.ABCDEFGHIJKLMNOPQRSTUVWXYZ234567ABCDEFGH";
        let text = format!("a {TOKEN} b plain-secret-value c");
        assert_eq!(
            redact(&text, &["plain-secret-value"]),
            "a dt0c01.ABCDEFGHIJKLMNOPQRSTUVWX.<redacted> b <redacted> c"
        );
        // A known secret goes whole, before the shape could leave its public id.
        assert_eq!(redact(TOKEN, &[TOKEN]), "<redacted>");
        assert_eq!(redact("dt0c01.PUBLIC only", &[]), "dt0c01.PUBLIC only");
    }

    #[test]
    fn token_option_values_are_hidden_in_command_lines() {
        let args: Vec<String> = [
            "--set-tenant-token=SECRET",
            "--SET-TOKEN=x",
            "--set-proxy=http://u:pw@h:1",
            "--set-host-group=web",
            "--restart-service",
        ]
        .map(String::from)
        .into();
        assert_eq!(
            redact_args(&args),
            "--set-tenant-token=<redacted> --SET-TOKEN=<redacted> \
             --set-proxy=http://u:***@h:1 --set-host-group=web --restart-service"
        );
    }

    #[test]
    fn wipe_zeroes_the_token_bytes() {
        // Drop calls wipe; after a drop the buffer is freed and cannot be read, so the wipe
        // is checked on a live secret, whose buffer stays allocated.
        let mut s = Secret::new("dt0c01.PUBLIC.SECRETPART");
        let (ptr, len) = (s.0.as_ptr(), s.0.len());
        s.wipe();
        assert!(s.is_empty());
        // SAFETY: zeroize keeps the allocation (it clears the String, capacity unchanged).
        let wiped = unsafe { std::slice::from_raw_parts(ptr, len) };
        assert!(wiped.iter().all(|&b| b == 0), "{wiped:?}");
    }

    #[test]
    fn a_password_after_an_equals_sign_is_masked_and_nothing_before_it() {
        // Masking too much is a defect too: the message must still say which option it was.
        assert_eq!(redact_userinfo("k:=u:pw@h"), "k:=u:***@h");
        assert_eq!(
            redact_userinfo("--proxy=u:pw@h:3128"),
            "--proxy=u:***@h:3128"
        );
    }

    #[test]
    fn never_prints_and_yields_the_public_id() {
        let s = Secret::new(" dt0c01.ABCDEFGHIJKLMNOPQRSTUVWX.SECRETPART\n");
        assert_eq!(format!("{s} {s:?}"), "<redacted> <redacted>");
        assert_eq!(s.token_id(), Some("dt0c01.ABCDEFGHIJKLMNOPQRSTUVWX"));
        assert_eq!(Secret::new("nodots").token_id(), None);
    }
}

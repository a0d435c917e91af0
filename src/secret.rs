//! Tokens as a type that cannot be printed by accident.

use std::fmt;

/// A Dynatrace token. `Debug` and `Display` print `<redacted>`; the value is reachable only
/// through [`Secret::expose`], which is grep-able.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a token, trimming the surrounding white space a file or heredoc adds.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into().trim().to_string())
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

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_and_yields_the_public_id() {
        let s = Secret::new(" dt0c01.ABCDEFGHIJKLMNOPQRSTUVWX.SECRETPART\n");
        assert_eq!(format!("{s} {s:?}"), "<redacted> <redacted>");
        assert_eq!(s.token_id(), Some("dt0c01.ABCDEFGHIJKLMNOPQRSTUVWX"));
        assert_eq!(Secret::new("nodots").token_id(), None);
    }
}

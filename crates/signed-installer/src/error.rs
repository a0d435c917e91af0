//! The one error type of the crate: which check failed, with the expected and actual values.

use std::fmt;

/// Why an installer was refused. Every variant names the check; where there is something to
/// compare, the message carries the expected and the actual value (hex digests, dates, names).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The file is not a signed installer as `openssl cms -verify` reads it (no boundary, no
    /// closing boundary, wrong number of parts, bad signature-part headers, bad base64 or DER).
    #[error("malformed signed installer: {0}")]
    Malformed(String),

    /// The signed content does not hash to what the signer signed.
    #[error(
        "digest mismatch: the signature says the signed content has {algorithm} {expected}, \
         the file's signed content has {actual}"
    )]
    DigestMismatch {
        algorithm: &'static str,
        expected: String,
        actual: String,
    },

    /// A signature (CMS signer or certificate) does not verify with the key it names.
    #[error("bad signature: {0}")]
    BadSignature(String),

    /// The signer's certificate does not chain to the trust anchor (or a certificate on the way
    /// is not allowed to be where it is).
    #[error("untrusted chain: {0}")]
    UntrustedChain(String),

    /// A certificate on the chain has expired at the verification time.
    #[error(
        "expired certificate: {subject} was valid until {not_after}, verification time is {now}"
    )]
    Expired {
        subject: String,
        not_after: Timestamp,
        now: Timestamp,
    },

    /// A certificate on the chain is not valid yet at the verification time.
    #[error(
        "certificate not yet valid: {subject} is valid from {not_before}, verification time is {now}"
    )]
    NotYetValid {
        subject: String,
        not_before: Timestamp,
        now: Timestamp,
    },

    /// A digest or signature algorithm this verifier does not implement (it fails closed).
    #[error("unsupported algorithm: {0}")]
    Unsupported(String),
}

impl Error {
    pub(crate) fn malformed(msg: impl Into<String>) -> Self {
        Error::Malformed(msg.into())
    }
}

/// Seconds since the Unix epoch, displayed as an RFC 3339 UTC timestamp (for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

/// Days since 1970-01-01 to (year, month, day): Howard Hinnant's civil_from_days.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_as_rfc3339() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp(2_428_498_069).to_string(), "2046-12-15T14:47:49Z");
        assert_eq!(Timestamp(951_782_400).to_string(), "2000-02-29T00:00:00Z");
    }
}

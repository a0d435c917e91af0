//! The signature part: its MIME headers, read the way OpenSSL's `mime_parse_hdr` reads them, and
//! its base64 body decoded to the CMS DER.

use crate::digester::MAX_CHUNK;
use crate::Error;

/// Content types OpenSSL accepts for the signature part (compared after lowercasing).
const SIGNATURE_TYPES: [&[u8]; 2] = [
    b"application/x-pkcs7-signature",
    b"application/pkcs7-signature",
];

/// The DER of the CMS SignedData in the signature part (headers checked, base64 decoded, bytes
/// after the first DER object ignored as OpenSSL's `ASN1_item_d2i_bio` ignores them).
pub(crate) fn signature_der(part: &[u8]) -> Result<Vec<u8>, Error> {
    let (content_type, body) = parse_headers(part);
    let Some(value) = content_type else {
        return Err(Error::malformed(
            "the signature part has no Content-Type header (expected \
             `Content-Type: application/x-pkcs7-signature`)",
        ));
    };
    if !SIGNATURE_TYPES.contains(&value.as_slice()) {
        return Err(Error::Malformed(format!(
            "the signature part's Content-Type is `{}`, expected application/x-pkcs7-signature \
             or application/pkcs7-signature",
            String::from_utf8_lossy(&value)
        )));
    }
    let decoded = crate::b64::decode_like_openssl(&part[body..]);
    let len = first_tlv_len(&decoded).ok_or_else(|| {
        Error::malformed("the signature part's base64 does not decode to a DER object")
    })?;
    Ok(decoded[..len].to_vec())
}

/// The memory BIO's `BIO_gets`: up to [`MAX_CHUNK`] bytes, ending at the first `\n`.
pub(crate) fn mem_chunks(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let window = &rest[..MAX_CHUNK.min(rest.len())];
        let len = memchr::memchr(b'\n', window).map_or(window.len(), |nl| nl + 1);
        let (chunk, tail) = rest.split_at(len);
        rest = tail;
        Some(chunk)
    })
}

/// `ossl_isspace`.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `strip_start` then `strip_end` of asn_mime.c, quirks included: leading whitespace and one
/// leading quote go, trailing whitespace and one trailing quote go; `None` where OpenSSL
/// returns NULL.
fn strip_ends(s: &[u8]) -> Option<&[u8]> {
    let mut start = None;
    for (i, &c) in s.iter().enumerate() {
        if c == b'"' {
            if i + 1 < s.len() {
                start = Some(i + 1);
                break;
            }
            return None;
        }
        if !is_space(c) {
            start = Some(i);
            break;
        }
    }
    let name = &s[start?..];
    let mut end = name.len();
    while end > 0 {
        let c = name[end - 1];
        if c == b'"' {
            // OpenSSL: `if (p - 1 == name) return NULL`.
            if end - 1 == 1 {
                return None;
            }
            return Some(&name[..end - 1]);
        }
        if is_space(c) {
            end -= 1;
        } else {
            return Some(&name[..end]);
        }
    }
    None
}

/// Reads the headers of the signature part; returns the (lowercased) value of the first
/// `content-type` header and the offset where the body starts (after the blank line).
///
/// Only what decides the Content-Type value is reproduced: a header is `name: value` on a line
/// that does not start with whitespace after a header (that is a continuation: parameters);
/// the value ends at a `;` outside a parenthesised comment, or at the end of the line, where
/// OpenSSL's C string runs on to the next NUL (so text after a lone CR is part of the value);
/// a line still inside a comment at its end adds no header. A line whose first byte is CR, LF
/// or NUL ends the headers.
fn parse_headers(part: &[u8]) -> (Option<Vec<u8>>, usize) {
    let mut offset = 0;
    let mut have_header = false;
    let mut content_type = None;
    for chunk in mem_chunks(part) {
        offset += chunk.len();
        let stop = chunk
            .iter()
            .position(|&c| c == 0 || c == b'\r' || c == b'\n')
            .unwrap_or(chunk.len());
        if stop == 0 {
            break;
        }
        if have_header && is_space(chunk[0]) {
            continue;
        }
        let Some(colon) = chunk[..stop].iter().position(|&c| c == b':') else {
            continue;
        };
        let mut in_comment = false;
        let mut value_end = None;
        for (i, &c) in chunk[..stop].iter().enumerate().skip(colon + 1) {
            match (in_comment, c) {
                (false, b';') => {
                    value_end = Some(i);
                    break;
                }
                (false, b'(') => in_comment = true,
                (true, b')') => in_comment = false,
                _ => {}
            }
        }
        let value_end = match value_end {
            Some(end) => end,
            None if in_comment => continue,
            None => chunk[stop..]
                .iter()
                .position(|&c| c == 0)
                .map_or(chunk.len(), |nul| stop + nul),
        };
        have_header = true;
        let name = strip_ends(&chunk[..colon]).map(|n| n.to_ascii_lowercase());
        if content_type.is_none() && name.as_deref() == Some(b"content-type".as_slice()) {
            // A header with no value counts as "no Content-Type" for OpenSSL too.
            match strip_ends(&chunk[colon + 1..value_end]) {
                Some(v) => content_type = Some(v.to_ascii_lowercase()),
                None => return (None, offset),
            }
        }
    }
    (content_type, offset)
}

/// Length of the first BER/DER object (definite length only), if complete.
pub(crate) fn first_tlv_len(der: &[u8]) -> Option<usize> {
    let mut i = 1;
    if *der.first()? & 0x1f == 0x1f {
        // High tag number form: continuation bytes.
        while *der.get(i)? & 0x80 != 0 {
            i += 1;
        }
        i += 1;
    }
    let first = *der.get(i)?;
    i += 1;
    let len = if first & 0x80 == 0 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for _ in 0..n {
            len = (len << 8) | usize::from(*der.get(i)?);
            i += 1;
        }
        len
    };
    let total = i.checked_add(len)?;
    (total <= der.len()).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_are_lowercased_and_parameters_ignored() {
        let part = b"Content-Type: Application/X-PKCS7-Signature; name=\"smime.p7s\"\r\n\
                     Content-Transfer-Encoding: base64\r\n\r\nMAA=\r\n";
        let (ct, body) = parse_headers(part);
        assert_eq!(
            ct.as_deref(),
            Some(b"application/x-pkcs7-signature".as_slice())
        );
        assert_eq!(&part[body..], b"MAA=\r\n");
    }

    #[test]
    fn comments_and_quotes_follow_openssl() {
        // A ';' inside a comment does not end the value; the comment stays in the value.
        let (ct, _) = parse_headers(b"content-type: a (x;y) b\r\n\r\n");
        assert_eq!(ct.as_deref(), Some(b"a (x;y) b".as_slice()));
        // Unclosed comment: no header at all.
        let (ct, _) = parse_headers(b"content-type: a (x\r\n\r\n");
        assert_eq!(ct, None);
        // Quotes around the value are stripped.
        let (ct, _) = parse_headers(b"content-type: \"application/pkcs7-signature\"\r\n\r\n");
        assert_eq!(
            ct.as_deref(),
            Some(b"application/pkcs7-signature".as_slice())
        );
        // A lone CR ends the scan, but the value runs on to the end of the line.
        let (ct, _) = parse_headers(b"content-type: ab\rcd\r\n\r\n");
        assert_eq!(ct.as_deref(), Some(b"ab\rcd".as_slice()));
        // Continuation lines are parameters, not headers.
        let (ct, _) = parse_headers(b"x: y\r\n content-type: z\r\n\r\n");
        assert_eq!(ct, None);
    }

    #[test]
    fn strip_ends_quirks() {
        assert_eq!(strip_ends(b"  abc  "), Some(b"abc".as_slice()));
        assert_eq!(strip_ends(b" \"abc\" "), Some(b"abc".as_slice()));
        assert_eq!(strip_ends(b"   "), None);
        assert_eq!(strip_ends(b"\""), None);
        assert_eq!(strip_ends(b"a\""), None);
    }

    #[test]
    fn first_tlv_ignores_trailing_bytes() {
        assert_eq!(first_tlv_len(&[0x30, 0x02, 1, 2, 9, 9]), Some(4));
        assert_eq!(first_tlv_len(&[0x30, 0x81, 0x01, 1]), Some(4));
        assert_eq!(first_tlv_len(&[0x30, 0x03, 1]), None);
        assert_eq!(first_tlv_len(&[0x30, 0x80, 0, 0]), None);
        assert_eq!(first_tlv_len(&[]), None);
    }
}

//! Base64 of the signature part, decoded the way OpenSSL's base64 BIO (`b64_read`,
//! crypto/evp/bio_b64.c) and `EVP_DecodeUpdate` (crypto/evp/encode.c) decode it under
//! `ASN1_item_d2i_bio`, quirks included, because what they refuse or skip decides whether
//! `openssl cms -verify` accepts a file:
//!
//! - The BIO reads its source in blocks of 1024 bytes. Until decoding has started it scans
//!   whole lines: a line (with its LF) that does not fit in a block is skipped, and so is a
//!   line that decodes to nothing with an error or an end marker (headers, `-----BEGIN`).
//!   The first other line, even an empty one, starts the data; a last line without LF is
//!   never a start.
//! - From there each block goes through `EVP_DecodeUpdate`: whitespace and line ends are
//!   skipped, only complete 4-character groups produce bytes (a trailing incomplete group is
//!   lost), `=` pads, a base64 character after padding or any byte outside the alphabet is an
//!   error that discards the whole block's output and stops, `-` ends the data.
//! - Reading stops once the first DER object is complete (`asn1_d2i_read_bio` asks for no
//!   more), so errors after it do not matter.

use crate::mime::first_tlv_len;

const BLOCK: usize = 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Value(u8),
    /// Tab, space, CR, LF: skipped.
    Space,
    /// `-`: end of data.
    End,
    Error,
}

fn class(c: u8) -> Class {
    match c {
        b'A'..=b'Z' => Class::Value(c - b'A'),
        b'a'..=b'z' => Class::Value(c - b'a' + 26),
        b'0'..=b'9' => Class::Value(c - b'0' + 52),
        b'+' => Class::Value(62),
        b'/' => Class::Value(63),
        // Padding decodes as zero bits; `EVP_DecodeUpdate` subtracts it from the output.
        b'=' => Class::Value(0),
        b'\t' | b' ' | b'\r' | b'\n' => Class::Space,
        b'-' => Class::End,
        _ => Class::Error,
    }
}

/// `EVP_ENCODE_CTX` for decoding: up to 64 pending characters.
#[derive(Default)]
struct DecodeCtx {
    pending: Vec<u8>,
}

/// `EVP_DecodeUpdate`: -1 error, 0 end of data, 1 more may follow; and the decoded bytes.
impl DecodeCtx {
    fn update(&mut self, input: &[u8]) -> (i32, Vec<u8>) {
        let mut out = Vec::new();
        let mut eof = 0usize;
        let n = self.pending.len();
        if n > 0 && self.pending[n - 1] == b'=' {
            eof += 1;
            if n > 1 && self.pending[n - 2] == b'=' {
                eof += 1;
            }
        }
        if input.is_empty() {
            return (0, out);
        }
        let mut seof = false;
        for &c in input {
            let cl = class(c);
            if cl == Class::Error {
                return (-1, out);
            }
            if c == b'=' {
                eof += 1;
            } else if eof > 0 && matches!(cl, Class::Value(_)) {
                return (-1, out);
            }
            if eof > 2 {
                return (-1, out);
            }
            if cl == Class::End {
                seof = true;
                break;
            }
            if matches!(cl, Class::Value(_)) {
                self.pending.push(c);
            }
            if self.pending.len() == 64 {
                let decoded = decode_block(&self.pending);
                self.pending.clear();
                if decoded.len() < eof {
                    return (-1, out);
                }
                out.extend_from_slice(&decoded[..decoded.len() - eof]);
            }
        }
        if !self.pending.is_empty() {
            if self.pending.len() % 4 == 0 {
                let decoded = decode_block(&self.pending);
                self.pending.clear();
                if decoded.len() < eof {
                    return (-1, out);
                }
                out.extend_from_slice(&decoded[..decoded.len() - eof]);
            } else if seof {
                return (-1, out);
            }
        }
        let rv = if seof || (self.pending.is_empty() && eof > 0) {
            0
        } else {
            1
        };
        (rv, out)
    }
}

/// Complete groups of four base64 characters (all valid here) to bytes.
fn decode_block(chars: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(chars.len() / 4 * 3);
    for quad in chars.chunks_exact(4) {
        let mut l = 0u32;
        for &c in quad {
            let v = match class(c) {
                Class::Value(v) => v,
                _ => 0,
            };
            l = (l << 6) | u32::from(v);
        }
        out.extend_from_slice(&[(l >> 16) as u8, (l >> 8) as u8, l as u8]);
    }
    out
}

/// The bytes `ASN1_item_d2i_bio` gets from OpenSSL's base64 BIO over `body`: decoding stops
/// when the first DER object is complete, at an error, or at the end of the data.
pub(crate) fn decode_like_openssl(body: &[u8]) -> Vec<u8> {
    let mut src = body;
    let mut tmp: Vec<u8> = Vec::with_capacity(BLOCK);
    let mut start = true;
    let mut skip_to_lf = false;
    let mut ctx = DecodeCtx::default();
    let mut out = Vec::new();
    loop {
        let take = (BLOCK - tmp.len()).min(src.len());
        let more = take > 0;
        if more {
            tmp.extend_from_slice(&src[..take]);
            src = &src[take..];
        } else if tmp.is_empty() {
            break;
        }
        if start {
            let mut p = 0;
            let mut started = false;
            for q in 0..tmp.len() {
                if tmp[q] != b'\n' {
                    continue;
                }
                if skip_to_lf {
                    p = q + 1;
                    skip_to_lf = false;
                    continue;
                }
                let (k, decoded) = DecodeCtx::default().update(&tmp[p..=q]);
                if k <= 0 && decoded.is_empty() {
                    p = q + 1;
                    continue;
                }
                start = false;
                started = true;
                tmp.drain(..p);
                break;
            }
            if !started {
                if p == 0 {
                    if tmp.len() == BLOCK {
                        // One long line: skip it up to its LF.
                        skip_to_lf = true;
                        tmp.clear();
                    }
                } else if p != tmp.len() {
                    tmp.drain(..p);
                } else {
                    tmp.clear();
                }
                if more {
                    continue;
                }
                break;
            }
        } else if tmp.len() < BLOCK && more {
            continue;
        }
        let (rv, decoded) = ctx.update(&tmp);
        tmp.clear();
        if rv < 0 {
            break;
        }
        out.extend_from_slice(&decoded);
        if rv == 0 || !more || first_tlv_len(&out).is_some() {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_base64_decodes() {
        assert_eq!(
            decode_like_openssl(b"MAMCAQE=\n"),
            [0x30, 0x03, 0x02, 0x01, 0x01]
        );
        assert_eq!(
            decode_like_openssl(b"MAMC\r\nAQE=\r\n"),
            [0x30, 0x03, 0x02, 0x01, 0x01]
        );
    }

    #[test]
    fn junk_lines_before_the_data_are_skipped() {
        assert_eq!(
            decode_like_openssl(b"not: base64\n-----BEGIN X-----\nMAMCAQE=\n"),
            [0x30, 0x03, 0x02, 0x01, 0x01]
        );
    }

    #[test]
    fn a_first_line_longer_than_a_block_is_skipped() {
        let mut body = vec![b'A'; 1100];
        body.extend_from_slice(b"\nMAMCAQE=\n");
        assert_eq!(decode_like_openssl(&body), [0x30, 0x03, 0x02, 0x01, 0x01]);
    }

    #[test]
    fn incomplete_groups_and_errors_lose_data() {
        // "MAMCAQE" lacks its padding: 7 characters are not whole groups, and groups are only
        // decoded 64 characters at a time or when all pending characters form whole groups.
        assert_eq!(decode_like_openssl(b"MAMCAQE\n"), Vec::<u8>::new());
        // An error in the block discards the block's output.
        assert_eq!(decode_like_openssl(b"MAMCAQE=\n*\n"), Vec::<u8>::new());
        // Data after padding is an error.
        assert_eq!(decode_like_openssl(b"MA==MCAQ\n"), Vec::<u8>::new());
        // No line end at all: never starts.
        assert_eq!(decode_like_openssl(b"MAMCAQE="), Vec::<u8>::new());
    }
}

//! Byte layout of an installer file and its two views: the raw bytes (streamed in chunks, never
//! materialised) and the signed content (what `openssl cms -verify` hashes), digested once.
//!
//! Layout: `text` = script + payload lines, then `tail` = "\n----SIGNED-INSTALLER\n" + the
//! signature MIME part + closing boundary. `text` is plain LF-only text (lines < 1000 bytes, no
//! CR, no NUL, no line starting with "--") ending in "\n". OpenSSL's MIME splitter joins the
//! lines of a part with CRLF and gives the last line ending to the boundary; the last line of
//! the part is the empty line that starts `tail`, so the signed content is exactly `text` with
//! every LF turned into CRLF.

use anyhow::{bail, Context};
use bytes::Bytes;
use sha2::{Digest, Sha256};

/// Payload line: 76 base64 characters and LF, like MIME base64 bodies.
const LINE_CHARS: usize = 76;
const LINE_LEN: usize = LINE_CHARS + 1;
/// Lines per payload block; one block (~64 KiB) is also the streaming chunk size.
const BLOCK_LINES: usize = 851;
const BLOCK_LEN: usize = BLOCK_LINES * LINE_LEN;
/// Rough size of the signature tail, to land `pad_to` near the requested total.
const TAIL_ESTIMATE: u64 = 1_400;
/// OpenSSL reads MIME lines into a 1024-byte buffer; stay well below.
pub(crate) const MAX_LINE: usize = 998;

/// The unsigned part of an installer: script text and payload lines. (No `Debug`: the script
/// embeds the tenant token.)
pub(crate) struct Layout {
    head: Bytes,
    block: Bytes,
    payload_lines: u64,
}

impl Layout {
    /// `script` must be the complete script (ending with its `exit`) as LF-terminated lines.
    /// At least one payload line follows it, so a payload byte always exists to tamper with.
    pub(crate) fn new(script: String, pad_to: Option<u64>) -> anyhow::Result<Layout> {
        check_text(&script).context("checking the generated installer script")?;
        let head = Bytes::from(script);
        let wanted = pad_to
            .unwrap_or(0)
            .saturating_sub(head.len() as u64 + TAIL_ESTIMATE);
        let payload_lines = (wanted / LINE_LEN as u64).max(1);
        Ok(Layout {
            head,
            block: payload_block(),
            payload_lines,
        })
    }

    fn payload_len(&self) -> u64 {
        self.payload_lines * LINE_LEN as u64
    }

    /// Length of `text` (script + payload).
    pub(crate) fn text_len(&self) -> u64 {
        self.head.len() as u64 + self.payload_len()
    }

    /// Offset of the byte that `Variant::BadSignature` changes: the first payload byte.
    pub(crate) fn flip_offset(&self) -> u64 {
        self.head.len() as u64
    }

    /// SHA-256 of the signed content (`text` with LF -> CRLF), in one pass over the payload.
    pub(crate) fn signed_digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(crlf(&self.head));
        let block_crlf = crlf(&self.block);
        let full_blocks = self.payload_lines / BLOCK_LINES as u64;
        for _ in 0..full_blocks {
            h.update(&block_crlf);
        }
        // The remaining lines are a prefix of the block; each is LINE_LEN + 1 bytes with CRLF.
        let rest = (self.payload_lines % BLOCK_LINES as u64) as usize;
        h.update(&block_crlf[..rest * (LINE_LEN + 1)]);
        h.finalize().into()
    }

    /// Bytes of `text` starting at `pos` (< text_len), at most one block.
    fn chunk_at(&self, pos: u64) -> Bytes {
        let head_len = self.head.len() as u64;
        if pos < head_len {
            return self.head.slice(pos as usize..);
        }
        let off = pos - head_len;
        let within = (off % BLOCK_LEN as u64) as usize;
        let left = self.payload_len() - off;
        let end = (within as u64 + left).min(BLOCK_LEN as u64) as usize;
        self.block.slice(within..end)
    }
}

/// A complete installer: layout, signature tail, and the optional tampered byte.
pub(crate) struct Body {
    layout: Layout,
    tail: Bytes,
    flip: Option<u64>,
}

impl Body {
    pub(crate) fn new(layout: Layout, tail: Vec<u8>, flip: Option<u64>) -> Body {
        Body {
            layout,
            tail: Bytes::from(tail),
            flip,
        }
    }

    pub(crate) fn len(&self) -> u64 {
        self.layout.text_len() + self.tail.len() as u64
    }

    /// Quoted SHA-256 over what determines the content: the caller's parameter description,
    /// the tail (it holds the signature, hence the digest of the text) and the tampered byte.
    pub(crate) fn etag(&self, params: &str) -> String {
        let mut h = Sha256::new();
        h.update(params.as_bytes());
        h.update([0]);
        h.update(&self.tail);
        h.update(format!("{:?}", self.flip).as_bytes());
        format!("\"{}\"", hex::encode(&h.finalize()[..16]))
    }

    /// The chunk starting at `pos`, or `None` at the end. Chunks are shared slices of
    /// pre-built blocks, so streaming costs no copying except around the tampered byte.
    pub(crate) fn chunk_at(&self, pos: u64) -> Option<Bytes> {
        let text_len = self.layout.text_len();
        let chunk = if pos < text_len {
            self.layout.chunk_at(pos)
        } else if pos < self.len() {
            self.tail.slice((pos - text_len) as usize..)
        } else {
            return None;
        };
        match self.flip {
            Some(at) if at >= pos && at < pos + chunk.len() as u64 => {
                let mut owned = chunk.to_vec();
                let b = &mut owned[(at - pos) as usize];
                *b = if *b == b'A' { b'B' } else { b'A' };
                Some(Bytes::from(owned))
            }
            _ => Some(chunk),
        }
    }
}

/// LF -> CRLF.
fn crlf(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 32);
    for &b in text {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// Enforces the invariants under which "signed content = text with CRLF" holds.
fn check_text(text: &str) -> anyhow::Result<()> {
    if !text.ends_with('\n') {
        bail!("the text does not end with a newline");
    }
    // split, not lines(): lines() would silently eat a CR before LF.
    for (i, line) in text[..text.len() - 1].split('\n').enumerate() {
        let n = i + 1;
        if line.len() > MAX_LINE {
            bail!("line {n} is {} bytes long (limit {MAX_LINE})", line.len());
        }
        if line.contains(['\r', '\0']) {
            bail!("line {n} contains a CR or NUL byte");
        }
        if line.starts_with("--") {
            bail!("line {n} starts with \"--\" (could be taken for a MIME boundary)");
        }
    }
    Ok(())
}

/// One block of deterministic base64-alphabet lines (xorshift, fixed seed): looks like an
/// encoded payload, never contains a MIME boundary. Built once and shared by all installers,
/// so a cached installer costs a few KiB whatever its size.
fn payload_block() -> Bytes {
    static BLOCK: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    BLOCK.get_or_init(make_payload_block).clone()
}

fn make_payload_block() -> Bytes {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(BLOCK_LEN);
    for _ in 0..BLOCK_LINES {
        for _ in 0..LINE_CHARS {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            out.push(ALPHABET[(state >> 58) as usize]);
        }
        out.push(b'\n');
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(body: &Body) -> Vec<u8> {
        let mut out = Vec::new();
        let mut pos = 0;
        while let Some(c) = body.chunk_at(pos) {
            assert!(!c.is_empty());
            pos += c.len() as u64;
            out.extend_from_slice(&c);
        }
        out
    }

    #[test]
    fn digest_matches_materialised_text() {
        for pad in [None, Some(10_000), Some(3 * BLOCK_LEN as u64 + 5_000)] {
            let layout = Layout::new("echo hi\nexit 0\n".to_string(), pad).unwrap();
            let digest = layout.signed_digest();
            let body = Body::new(layout, b"\nTAIL\n".to_vec(), None);
            let all = collect(&body);
            assert_eq!(all.len() as u64, body.len());
            let text = &all[..all.len() - 6];
            let expected: [u8; 32] = Sha256::digest(crlf(text)).into();
            assert_eq!(digest, expected, "pad {pad:?}");
            if let Some(p) = pad {
                assert!(body.len() + TAIL_ESTIMATE >= p - LINE_LEN as u64);
            }
        }
    }

    #[test]
    fn flip_changes_exactly_one_byte() {
        let mk = |flip: bool| {
            let layout = Layout::new("exit 0\n".to_string(), Some(200_000)).unwrap();
            let at = layout.flip_offset();
            (Body::new(layout, b"\nT\n".to_vec(), flip.then_some(at)), at)
        };
        let (plain, _) = mk(false);
        let (flipped, at) = mk(true);
        let (a, b) = (collect(&plain), collect(&flipped));
        let diffs: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
        assert_eq!(diffs, vec![at as usize]);
    }

    #[test]
    fn rejects_unsafe_text() {
        assert!(Layout::new("no newline".into(), None).is_err());
        assert!(Layout::new("a\r\n".into(), None).is_err());
        assert!(Layout::new("----SIGNED-INSTALLER\n".into(), None).is_err());
        assert!(Layout::new(format!("{}\n", "x".repeat(2000)), None).is_err());
    }
}

//! The streaming reader of the signed-installer layout: one pass over the file, in any chunking,
//! that computes the SHA-256 of the raw file and the SHA-256 of exactly the bytes
//! `openssl cms -verify` (text mode, OpenSSL 3.0) digests, and keeps the signature part.
//!
//! What OpenSSL 3.0.19 does with the documented command (header + blank lines +
//! `----SIGNED-INSTALLER` + the file, on stdin), reproduced here byte for byte and checked by
//! experiment (the differential test in tests/ keeps checking it):
//!
//! 1. Stage 1, `multi_split` (crypto/asn1/asn_mime.c): `BIO_gets` cuts the input into chunks
//!    of at most 1023 bytes (`MAX_SMLEN` 1024 minus the terminating NUL) that end at a `\n` or
//!    at the size limit. NUL bytes are data: they neither end a chunk nor the input (the stdin
//!    BIO's `gets` returns the byte count, not `strlen`, as the experiments show). A chunk
//!    starting with `----SIGNED-INSTALLER` is a part boundary (`--` right after it: the closing
//!    one, after which nothing is read). Of every other chunk, all trailing CR and LF bytes are
//!    stripped; "\r\n" is written before a chunk when the previous chunk had an LF among its
//!    stripped bytes, so the last line end before a boundary is dropped. A part exists once it
//!    has a chunk; exactly two parts are needed.
//! 2. Stage 2, `SMIME_crlf_copy` (via `CMS_verify`) re-reads part 1 from a memory BIO in chunks
//!    of at most 1023 bytes ending at `\n`, strips the trailing CR/LF bytes of each chunk and
//!    writes the chunk followed by "\r\n" if it ended with `\n`.
//!
//! The message digest is over stage 2's output. Both stages run as state machines over slices;
//! the only copies are of a chunk split across two `update` calls (at most 1023 bytes) and of
//! the signature part (bounded by [`SIGNATURE_PART_LIMIT`]).

use memchr::memchr;
use sha2::{Digest, Sha256};

use crate::mime;
use crate::Error;

/// `MAX_SMLEN` (1024) minus the NUL that `BIO_gets` appends: the longest chunk OpenSSL reads.
pub const MAX_CHUNK: usize = 1023;

/// The boundary line: `--` + the boundary parameter `--SIGNED-INSTALLER`.
pub const BOUNDARY: &[u8] = b"----SIGNED-INSTALLER";

/// The signature part is kept in memory; real ones are a few KiB. A larger one is refused
/// (OpenSSL would read it; nothing legitimate is that large).
pub const SIGNATURE_PART_LIMIT: usize = 1 << 20;

/// What the single pass over the file found.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// SHA-256 of every byte fed to the digester (the file as downloaded); `None` from a
    /// digester made with [`Digester::without_file_hash`].
    pub file_sha256: Option<[u8; 32]>,
    /// SHA-256 of the signed content as `openssl cms -verify` canonicalises it.
    pub content_sha256: [u8; 32],
    /// Length of that canonical content.
    pub content_len: u64,
    /// Number of bytes fed.
    pub file_len: u64,
    /// The CMS SignedData (DER) from the signature part.
    pub signature_der: Vec<u8>,
}

/// How the file's stage-1 reading ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Still reading.
    Open,
    /// Saw the closing boundary: OpenSSL stops reading there.
    Closed,
}

/// The streaming digester. Feed the file with [`Digester::update`], then call
/// [`Digester::finish`].
pub struct Digester {
    raw: Option<Sha256>,
    file_len: u64,
    /// A stage-1 chunk that is not complete yet (no `\n` and shorter than [`MAX_CHUNK`]).
    pending: Vec<u8>,
    split: Splitter,
}

impl Default for Digester {
    fn default() -> Self {
        Self::new()
    }
}

impl Digester {
    /// A digester that also hashes the whole file.
    pub fn new() -> Self {
        Digester {
            raw: Some(Sha256::new()),
            file_len: 0,
            pending: Vec::with_capacity(MAX_CHUNK),
            split: Splitter::new(),
        }
    }

    /// A digester for a caller that hashes the file itself (a download loop): only the signed
    /// content is hashed, which halves the work.
    pub fn without_file_hash() -> Self {
        Digester {
            raw: None,
            ..Digester::new()
        }
    }

    /// Feed the next bytes of the file.
    pub fn update(&mut self, mut data: &[u8]) {
        if let Some(raw) = &mut self.raw {
            raw.update(data);
        }
        self.file_len += data.len() as u64;
        if self.split.end != End::Open {
            return;
        }
        if !self.pending.is_empty() {
            let room = MAX_CHUNK - self.pending.len();
            let window = &data[..room.min(data.len())];
            match memchr(b'\n', window) {
                Some(nl) => {
                    self.pending.extend_from_slice(&window[..=nl]);
                    data = &data[nl + 1..];
                }
                None => {
                    self.pending.extend_from_slice(window);
                    data = &data[window.len()..];
                    if self.pending.len() < MAX_CHUNK {
                        return;
                    }
                }
            }
            let chunk = std::mem::take(&mut self.pending);
            self.split.chunk(&chunk);
            self.pending = chunk;
            self.pending.clear();
        }
        while !data.is_empty() && self.split.end == End::Open {
            let window = &data[..MAX_CHUNK.min(data.len())];
            let len = match memchr(b'\n', window) {
                Some(nl) => nl + 1,
                None if window.len() == MAX_CHUNK => MAX_CHUNK,
                None => {
                    self.pending.extend_from_slice(window);
                    return;
                }
            };
            self.split.chunk(&data[..len]);
            data = &data[len..];
        }
    }

    /// SHA-256 of the bytes fed so far (available even when [`Digester::finish`] fails);
    /// `None` without a file hash.
    pub fn file_sha256(&self) -> Option<[u8; 32]> {
        self.raw.clone().map(|h| h.finalize().into())
    }

    /// Number of bytes fed so far.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// End of file: the last partial chunk is read as `fgets` returns it at EOF, then the layout
    /// is checked and the signature part decoded.
    pub fn finish(mut self) -> Result<Parsed, Error> {
        if !self.pending.is_empty() && self.split.end == End::Open {
            let chunk = std::mem::take(&mut self.pending);
            self.split.chunk(&chunk);
        }
        let file_sha256 = self.raw.map(|h| <[u8; 32]>::from(h.finalize()));
        let s = self.split;
        match s.end {
            End::Closed => {}
            End::Open => {
                return Err(Error::malformed(
                    "no closing boundary `----SIGNED-INSTALLER--` (is this a signed installer, \
                     and was it downloaded completely?)",
                ))
            }
        }
        if s.parts != 2 {
            return Err(Error::Malformed(format!(
                "expected 2 MIME parts (the script and the signature) separated by \
                 `----SIGNED-INSTALLER`, found {}",
                s.parts
            )));
        }
        if s.signature_overflow {
            return Err(Error::Malformed(format!(
                "the signature part is larger than {SIGNATURE_PART_LIMIT} bytes"
            )));
        }
        let signature_der = mime::signature_der(&s.signature)?;
        let content_len = s.content.out_len;
        Ok(Parsed {
            file_sha256,
            content_sha256: s.content.finalize(),
            content_len,
            file_len: self.file_len,
            signature_der,
        })
    }
}

/// Stage 1: OpenSSL's `multi_split`, fed one `fgets` chunk at a time.
struct Splitter {
    end: End,
    /// The next content chunk starts a new part (just after a boundary).
    first: bool,
    /// The previous content chunk ended with an EOL (so "\r\n" goes before the next one).
    eol: bool,
    /// Parts with at least one chunk so far.
    parts: u32,
    content: Canon,
    signature: Vec<u8>,
    signature_overflow: bool,
}

impl Splitter {
    fn new() -> Self {
        Splitter {
            end: End::Open,
            // The documented command puts a boundary line right before the file.
            first: true,
            eol: false,
            parts: 0,
            content: Canon::new(),
            signature: Vec::new(),
            signature_overflow: false,
        }
    }

    fn chunk(&mut self, line: &[u8]) {
        if self.end != End::Open {
            return;
        }
        if line.starts_with(BOUNDARY) {
            // Part 1 (if it is the current part) is complete: stage 2 sees its EOF.
            if self.parts == 1 {
                self.content.flush();
            }
            if line[BOUNDARY.len()..].starts_with(b"--") {
                self.end = End::Closed;
            } else {
                self.first = true;
            }
            return;
        }
        let (body, eol) = strip_eol(line);
        if self.first {
            self.first = false;
            self.parts += 1;
        } else if self.eol {
            self.emit(b"\r\n");
        }
        self.eol = eol;
        if !body.is_empty() {
            self.emit(body);
        }
    }

    fn emit(&mut self, bytes: &[u8]) {
        match self.parts {
            1 if bytes == b"\r\n" => self.content.eol(),
            1 => self.content.content(bytes),
            2 => {
                if self.signature.len() + bytes.len() > SIGNATURE_PART_LIMIT {
                    self.signature_overflow = true;
                } else {
                    self.signature.extend_from_slice(bytes);
                }
            }
            // A third part: the file is refused at the end; nothing to keep.
            _ => {}
        }
    }
}

/// OpenSSL's `strip_eol` (text mode): drop all trailing CR and LF bytes; the line had an EOL if
/// an LF was among them.
pub(crate) fn strip_eol(line: &[u8]) -> (&[u8], bool) {
    let mut len = line.len();
    let mut eol = false;
    while len > 0 {
        match line[len - 1] {
            b'\n' => eol = true,
            b'\r' => {}
            _ => break,
        }
        len -= 1;
    }
    (&line[..len], eol)
}

/// Stage 2: `SMIME_crlf_copy` over part 1, hashing its output as it goes.
///
/// Its input arrives as content runs (no LF inside, never ending in CR: stage 1 stripped them)
/// and the "\r\n" stage 1 puts between lines. Instead of buffering a memory-BIO chunk, it
/// tracks the chunk's length and holds back trailing CRs until it knows whether they end the
/// chunk (then they are stripped) or more bytes follow in the same chunk (then they are data).
struct Canon {
    hash: Sha256,
    /// Output gathered for the hash: many small writes (a line, a CRLF) cost more as separate
    /// hash updates than as one memcpy each and a large update.
    out: Vec<u8>,
    out_len: u64,
    /// Bytes in the current `BIO_gets` chunk of the memory BIO.
    len: usize,
    /// CRs at the end of the current chunk, not hashed yet.
    held_cr: usize,
}

const CRS: [u8; 64] = [b'\r'; 64];

/// Output bytes gathered before a hash update.
const OUT_BATCH: usize = 32 * 1024;

impl Canon {
    fn new() -> Self {
        Canon {
            hash: Sha256::new(),
            out: Vec::with_capacity(OUT_BATCH + MAX_CHUNK + 2),
            out_len: 0,
            len: 0,
            held_cr: 0,
        }
    }

    fn put(&mut self, bytes: &[u8]) {
        self.out_len += bytes.len() as u64;
        if bytes.len() >= OUT_BATCH {
            self.hash.update(&self.out);
            self.out.clear();
            self.hash.update(bytes);
            return;
        }
        self.out.extend_from_slice(bytes);
        if self.out.len() >= OUT_BATCH {
            self.hash.update(&self.out);
            self.out.clear();
        }
    }

    /// The SHA-256 of everything written.
    fn finalize(mut self) -> [u8; 32] {
        self.hash.update(&self.out);
        self.out.clear();
        self.hash.finalize().into()
    }

    fn release_held(&mut self) {
        while self.held_cr > 0 {
            let n = self.held_cr.min(CRS.len());
            self.put(&CRS[..n]);
            self.held_cr -= n;
        }
    }

    /// Bytes that contain no LF.
    fn content(&mut self, mut s: &[u8]) {
        while !s.is_empty() {
            let take = (MAX_CHUNK - self.len).min(s.len());
            let (part, rest) = s.split_at(take);
            let keep = part.len() - trailing_crs(part);
            if keep > 0 {
                self.release_held();
                self.put(&part[..keep]);
            }
            self.held_cr += part.len() - keep;
            self.len += take;
            if self.len == MAX_CHUNK {
                // A full chunk without LF: its trailing CRs are stripped, no EOL written.
                self.held_cr = 0;
                self.len = 0;
            }
            s = rest;
        }
    }

    /// The "\r\n" stage 1 writes between lines.
    fn eol(&mut self) {
        // The CR may be the 1023rd byte of a chunk (then it is stripped and the LF alone is the
        // next chunk); either way the chunk holding the LF is written as its text + "\r\n".
        self.content(b"\r");
        self.held_cr = 0;
        self.len = 0;
        self.put(b"\r\n");
    }

    /// End of part 1: the last chunk has no LF; its trailing CRs are stripped.
    fn flush(&mut self) {
        self.held_cr = 0;
        self.len = 0;
    }
}

fn trailing_crs(s: &[u8]) -> usize {
    s.iter().rev().take_while(|&&b| b == b'\r').count()
}

#[cfg(test)]
#[path = "digester_tests.rs"]
mod tests;

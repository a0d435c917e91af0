//! Canonicalisation edge cases, each with the bytes OpenSSL 3.0.19 digests (taken from
//! `openssl cms -verify -noverify -out` on the same input), and the streaming digester checked
//! against a plain, buffer-at-once port of OpenSSL's two passes.

use super::*;
use crate::mime::mem_chunks;
use rand::{Rng, SeedableRng};

/// Straight port of `multi_split` + `SMIME_crlf_copy` over a whole buffer: returns part 1 as
/// stage 2 writes it, and the number of parts (None if there is no closing boundary).
fn reference(file: &[u8]) -> (Option<Vec<u8>>, Option<usize>) {
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let mut cur: Option<Vec<u8>> = None;
    let (mut first, mut eol) = (true, false);
    let mut closed = false;
    for line in mem_chunks(file) {
        if line.len() >= BOUNDARY.len() && &line[..BOUNDARY.len()] == BOUNDARY {
            if line.len() >= BOUNDARY.len() + 2
                && &line[BOUNDARY.len()..BOUNDARY.len() + 2] == b"--"
            {
                closed = true;
                break;
            }
            first = true;
            continue;
        }
        let (body, next_eol) = strip_eol(line);
        if first {
            first = false;
            if let Some(p) = cur.take() {
                parts.push(p);
            }
            cur = Some(Vec::new());
        } else if eol {
            cur.as_mut().unwrap().extend_from_slice(b"\r\n");
        }
        eol = next_eol;
        cur.as_mut().unwrap().extend_from_slice(body);
    }
    if !closed {
        return (None, None);
    }
    if let Some(p) = cur.take() {
        parts.push(p);
    }
    let canon = parts.first().map(|p| {
        let mut out = Vec::new();
        for line in mem_chunks(p) {
            let (body, eol) = strip_eol(line);
            out.extend_from_slice(body);
            if eol {
                out.extend_from_slice(b"\r\n");
            }
        }
        out
    });
    (canon, Some(parts.len()))
}

/// The streaming splitter's part-1 output and part count, fed in the given chunk sizes.
fn streamed(file: &[u8], sizes: &mut dyn FnMut() -> usize) -> (Option<[u8; 32]>, Option<u32>, u64) {
    let mut d = Digester::new();
    let mut rest = file;
    while !rest.is_empty() {
        let n = sizes().clamp(1, rest.len());
        d.update(&rest[..n]);
        rest = &rest[n..];
    }
    if !d.pending.is_empty() && d.split.end == End::Open {
        let chunk = std::mem::take(&mut d.pending);
        d.split.chunk(&chunk);
    }
    let s = d.split;
    if s.end != End::Closed {
        return (None, None, 0);
    }
    let len = s.content.out_len;
    (Some(s.content.finalize()), Some(s.parts), len)
}

/// Part 1 as OpenSSL digests it, for a file whose script is `script` (boundary appended).
fn canon(script: &[u8]) -> Shown {
    let mut file = script.to_vec();
    file.extend_from_slice(b"----SIGNED-INSTALLER\nsig\n----SIGNED-INSTALLER--\n");
    let (canon, parts) = reference(&file);
    assert_eq!(parts, Some(2), "{:?}", String::from_utf8_lossy(script));
    let canon = canon.unwrap();
    let (hash, _, len) = streamed(&file, &mut || 7);
    assert_eq!(hash, Some(Sha256::digest(&canon).into()));
    assert_eq!(len, canon.len() as u64);
    Shown(canon)
}

/// Bytes compared as bytes but printed escaped and shortened, so a failure is readable.
#[derive(PartialEq)]
struct Shown(Vec<u8>);

impl std::fmt::Debug for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = self.0.escape_ascii().to_string();
        if text.len() > 120 {
            write!(
                f,
                "{}...{} ({} bytes)",
                &text[..40],
                &text[text.len() - 60..],
                self.0.len()
            )
        } else {
            write!(f, "{text:?}")
        }
    }
}

impl<T: AsRef<[u8]>> PartialEq<T> for Shown {
    fn eq(&self, other: &T) -> bool {
        self.0 == other.as_ref()
    }
}

fn x(n: usize) -> Vec<u8> {
    vec![b'x'; n]
}

#[test]
fn line_ends_become_crlf_and_the_last_one_is_dropped() {
    assert_eq!(
        canon(b"#!/bin/sh\necho hello\nexit 0\n"),
        b"#!/bin/sh\r\necho hello\r\nexit 0"
    );
    // What `openssl cms -sign` signs for "...exit 0\n" is "...exit 0\r\n": the extra line end
    // Dynatrace (and openssl's S/MIME writer) put before the boundary restores it.
    assert_eq!(canon(b"exit 0\n\n"), b"exit 0\r\n");
    assert_eq!(canon(b"a\r\n\r\n\r\nb\r\r\n\n"), b"a\r\n\r\n\r\nb\r\n");
    assert_eq!(canon(b"\n"), b"");
    // Without a line end the boundary is not at a chunk start: it is text, and there is
    // only one part.
    let file = b"no newline----SIGNED-INSTALLER\nsig\n----SIGNED-INSTALLER--\n";
    assert_eq!(reference(file).1, Some(1));
}

#[test]
fn lone_crs_stay_inside_lines_and_go_at_line_ends() {
    assert_eq!(canon(b"a\rb\n"), b"a\rb");
    assert_eq!(canon(b"a\r\r\nb\n"), b"a\r\nb");
    assert_eq!(canon(b"a\r\n\rb\n"), b"a\r\n\rb");
}

#[test]
fn nul_bytes_are_data() {
    assert_eq!(canon(b"abc\0def\nxyz\n"), b"abc\0def\r\nxyz");
    assert_eq!(canon(b"a\n\0bc\nd\n"), b"a\r\n\0bc\r\nd");
    assert_eq!(canon(b"ab\0\0\ncd\n"), b"ab\0\0\r\ncd");
    assert_eq!(canon(b"\0\n"), b"\0");
}

#[test]
fn long_lines_are_cut_at_1023_bytes_and_lose_trailing_crs_there() {
    // Stage 1 cuts after 1022 x + CR: the CR ends its chunk and is stripped.
    let mut s = x(1022);
    s.extend_from_slice(b"\ryyyyy\n");
    let mut want = x(1022);
    want.extend_from_slice(b"yyyyy");
    assert_eq!(canon(&s), want);
    // Two CRs: the first is stripped by stage 1, the second starts the next chunk and stays.
    let mut s = x(1022);
    s.extend_from_slice(b"\r\ry\n");
    let mut want = x(1022);
    want.push(b'y');
    assert_eq!(canon(&s), want);
    // A CR right after a full chunk is data.
    let mut s = x(1023);
    s.extend_from_slice(b"\ryyyyy\n");
    let mut want = x(1023);
    want.extend_from_slice(b"\ryyyyy");
    assert_eq!(canon(&s), want);
    // A 1023-byte line followed by its LF: the LF is a chunk of its own (empty, with EOL), so
    // the CRLF comes back before the next line.
    let mut s = x(1023);
    s.extend_from_slice(b"\nz\n");
    let mut want = x(1023);
    want.extend_from_slice(b"\r\nz");
    assert_eq!(canon(&s), want);
}

#[test]
fn stage_two_cuts_where_stage_one_did_not() {
    // 1021 x + LF: stage 2 reads 1021 x + CRLF as one 1023-byte chunk ending in LF.
    let mut s = x(1021);
    s.extend_from_slice(b"\nabc\n");
    let mut want = x(1021);
    want.extend_from_slice(b"\r\nabc");
    assert_eq!(canon(&s), want);
    // 1022 x + CRLF: stage 2 reads 1022 x + CR (CR stripped, no EOL) then "\n" (EOL alone).
    let mut s = x(1022);
    s.extend_from_slice(b"\nabc\n");
    let mut want = x(1022);
    want.extend_from_slice(b"\r\nabc");
    assert_eq!(canon(&s), want);
    // A CR that stage 1 keeps (mid-chunk) but that lands on stage 2's 1023rd byte, because
    // stage 1 stripped two CRs at its own cut: stage-1 output is x*1021 y*1024 "\r" "q", and
    // stage 2's second chunk (bytes 1023..2046) ends with that CR, which is stripped.
    let mut s = x(1021);
    s.extend_from_slice(b"\r\r");
    s.extend_from_slice(&vec![b'y'; 1024]);
    s.extend_from_slice(b"\rq\n");
    let mut want = x(1021);
    want.extend_from_slice(&vec![b'y'; 1024]);
    want.push(b'q');
    assert_eq!(canon(&s), want);
    // One stage-1 chunk "abcd" x*1018 "\r" (1023 bytes, CR stripped) then "q".
    let mut s = b"abcd".to_vec();
    s.extend_from_slice(&x(1018));
    s.extend_from_slice(b"\rq\n");
    let mut want = b"abcd".to_vec();
    want.extend_from_slice(&x(1018));
    want.push(b'q');
    assert_eq!(canon(&s), want);
}

#[test]
fn boundaries_are_recognised_at_any_chunk_start() {
    // After a full 1023-byte chunk the next chunk starts with the boundary: part 1 ends there.
    let mut file = x(1023);
    file.extend_from_slice(b"----SIGNED-INSTALLER\nsig\n----SIGNED-INSTALLER--\n");
    assert_eq!(reference(&file), (Some(x(1023)), Some(2)));
    // Empty parts do not count: two boundaries in a row still make two parts.
    let file = b"a\n----SIGNED-INSTALLER\n----SIGNED-INSTALLER\nsig\n----SIGNED-INSTALLER--";
    assert_eq!(reference(file).1, Some(2));
    assert_eq!(streamed(file, &mut || 3).1, Some(2));
    // An empty script: only one part.
    let file = b"----SIGNED-INSTALLER\nsig\n----SIGNED-INSTALLER--\n";
    assert_eq!(streamed(file, &mut || 100).1, Some(1));
    // The boundary text inside a line is data.
    assert_eq!(
        canon(b"echo ----SIGNED-INSTALLER\n\n"),
        b"echo ----SIGNED-INSTALLER\r\n"
    );
    // "----SIGNED-INSTALLER-" is a part boundary, "----SIGNED-INSTALLER--x" a closing one.
    let file = b"a\n----SIGNED-INSTALLER-\nb\n----SIGNED-INSTALLER--x";
    assert_eq!(streamed(file, &mut || 5).1, Some(2));
    // No closing boundary.
    assert_eq!(streamed(b"a\n----SIGNED-INSTALLER\nb\n", &mut || 5).1, None);
}

#[test]
fn streaming_matches_the_reference_in_any_chunking() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let alphabet = [b'a', b'\r', b'\n', 0, b'-', b'x'];
    for round in 0..400 {
        let mut file = Vec::new();
        let lines = rng.gen_range(0..12);
        for _ in 0..lines {
            let len = match rng.gen_range(0..4) {
                0 => rng.gen_range(0..5),
                1 => rng.gen_range(1018..1030),
                2 => rng.gen_range(2040..2055),
                _ => rng.gen_range(0..300),
            };
            for _ in 0..len {
                file.push(alphabet[rng.gen_range(0..alphabet.len())]);
            }
            if rng.gen_bool(0.2) {
                file.extend_from_slice(b"----SIGNED-INSTALLER");
            }
            if rng.gen_bool(0.7) {
                file.push(b'\n');
            }
        }
        if rng.gen_bool(0.9) {
            file.extend_from_slice(b"----SIGNED-INSTALLER\nsig\n");
        }
        if rng.gen_bool(0.9) {
            file.extend_from_slice(b"----SIGNED-INSTALLER--\n");
        }
        let (want, parts) = reference(&file);
        let want_hash = want.as_ref().map(|w| <[u8; 32]>::from(Sha256::digest(w)));
        for max in [1, 2, 1023, 1024, 4096, 1 << 20] {
            let (hash, got_parts, _) = streamed(&file, &mut || rng.gen_range(1..=max));
            assert_eq!(
                got_parts.map(|p| p as usize),
                parts,
                "round {round}, chunks up to {max}"
            );
            if parts.is_some_and(|p| p >= 1) {
                assert_eq!(hash, want_hash, "round {round}, chunks up to {max}");
            }
        }
    }
}

#[test]
fn raw_hash_covers_every_byte() {
    let file = b"a\n----SIGNED-INSTALLER\nb\n----SIGNED-INSTALLER--\ntrailing junk";
    let mut d = Digester::new();
    d.update(&file[..10]);
    d.update(&file[10..]);
    let err = d.finish().unwrap_err();
    assert!(matches!(err, Error::Malformed(_)), "{err}");
    let mut d = Digester::new();
    d.update(file);
    assert_eq!(
        d.file_sha256(),
        Some(<[u8; 32]>::from(Sha256::digest(file)))
    );
    assert_eq!(d.file_len, file.len() as u64);
}

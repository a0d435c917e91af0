//! Installer contents, layouts and tampering for the differential test, all from a seeded RNG.

use base64::Engine;
use rand::rngs::StdRng;
use rand::Rng;

pub const BOUNDARY: &str = "----SIGNED-INSTALLER";

/// The kinds of script/payload the test generates.
pub const KINDS: [&str; 8] = [
    "shell",
    "binary",
    "eol-mix",
    "long-lines",
    "chunk-edges",
    "empty",
    "boundary-text",
    "installer-like",
];

fn shell_line(rng: &mut StdRng) -> String {
    const WORDS: [&str; 12] = [
        "echo",
        "if",
        "then",
        "fi",
        "\"$1\"",
        "exit",
        "0",
        "INSTALL_PATH=/opt/dynatrace",
        "--version",
        "tail",
        "-n",
        "+42",
    ];
    let n = rng.gen_range(0..10);
    (0..n)
        .map(|_| WORDS[rng.gen_range(0..WORDS.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

fn random_eol(rng: &mut StdRng) -> &'static [u8] {
    const EOLS: [&[u8]; 6] = [b"\n", b"\r\n", b"\r", b"\r\r\n", b"\n\r", b"\n\n"];
    EOLS[rng.gen_range(0..EOLS.len())]
}

/// Content of the given kind (index into [`KINDS`]).
pub fn content(kind: usize, rng: &mut StdRng) -> Vec<u8> {
    let mut c = Vec::new();
    match KINDS[kind] {
        "shell" => {
            c.extend_from_slice(b"#!/bin/sh\n");
            for _ in 0..rng.gen_range(0..60) {
                c.extend_from_slice(shell_line(rng).as_bytes());
                c.push(b'\n');
            }
        }
        "binary" => {
            let n = rng.gen_range(0..20_000);
            c.extend((0..n).map(|_| rng.gen::<u8>()));
        }
        "eol-mix" => {
            for _ in 0..rng.gen_range(1..80) {
                c.extend_from_slice(shell_line(rng).as_bytes());
                c.extend_from_slice(random_eol(rng));
            }
        }
        "long-lines" => {
            for _ in 0..rng.gen_range(1..5) {
                let n = rng.gen_range(4097..12_000);
                c.extend((0..n).map(|_| b"abcxyz \t\r"[rng.gen_range(0..9)]));
                c.extend_from_slice(random_eol(rng));
            }
        }
        "chunk-edges" => {
            // Lines around OpenSSL's 1023-byte chunk size, with CRs and NULs at the edges.
            for _ in 0..rng.gen_range(1..8) {
                let n = rng.gen_range(1015..1032) * rng.gen_range(1..3);
                let mut line: Vec<u8> = vec![b'q'; n];
                for _ in 0..rng.gen_range(0..4) {
                    let at =
                        (1023usize * rng.gen_range(1..3) + rng.gen_range(0..4)).saturating_sub(2);
                    if at < line.len() {
                        line[at] = if rng.gen_bool(0.8) { b'\r' } else { 0 };
                    }
                }
                c.extend_from_slice(&line);
                c.extend_from_slice(random_eol(rng));
            }
        }
        "empty" => match rng.gen_range(0..4) {
            0 => {}
            1 => c.push(b'\n'),
            2 => c.extend_from_slice(b"\r\n"),
            _ => c.extend_from_slice(b"#!/bin/sh\nexit 0\n"),
        },
        "boundary-text" => {
            for _ in 0..rng.gen_range(1..20) {
                let line = match rng.gen_range(0..6) {
                    0 => format!("echo {BOUNDARY}"),
                    1 => format!("x{BOUNDARY}--"),
                    // At a line start: openssl ends the part there.
                    2 => BOUNDARY.to_string(),
                    3 => format!("{BOUNDARY}--"),
                    _ => shell_line(rng),
                };
                c.extend_from_slice(line.as_bytes());
                c.extend_from_slice(random_eol(rng));
            }
        }
        _ => {
            // A script that exits before a binary payload, like the real installers.
            c.extend_from_slice(
                b"#!/bin/sh\n# Dynatrace OneAgent installer (test)\nif [ \"$1\" = --version ]; then echo 1.301.55; exit 0; fi\nexit 0\n",
            );
            let n = rng.gen_range(0..40_000);
            c.extend((0..n).map(|_| rng.gen::<u8>()));
        }
    }
    if rng.gen_bool(0.3) {
        // Drop or change the final line end.
        while matches!(c.last(), Some(b'\n' | b'\r')) && rng.gen_bool(0.7) {
            c.pop();
        }
    }
    c
}

/// How the signature part is written around the content.
#[derive(Clone, Debug)]
pub struct Layout {
    sep: &'static str,
    eol: &'static str,
    content_type: &'static str,
    width: usize,
    /// A line end after the base64 (as openssl writes it); without it the last base64 line
    /// loses its line end to the boundary.
    blank_after: bool,
    end: &'static str,
}

impl Layout {
    pub fn random(rng: &mut StdRng) -> Layout {
        // Mostly the Dynatrace/openssl form: content, "\n", boundary, LF line ends.
        let sep = if rng.gen_bool(0.7) {
            "\n"
        } else {
            ["", "\r\n", "\n\n", "\r"][rng.gen_range(0..4)]
        };
        let eol = if rng.gen_bool(0.8) { "\n" } else { "\r\n" };
        let content_type = [
            "Content-Type: application/x-pkcs7-signature; name=\"smime.p7s\"",
            "Content-Type: application/pkcs7-signature",
            "content-type: Application/X-PKCS7-Signature",
            "Content-Type: application/x-pkcs7-signature (comment; here)",
            "Content-Type: text/plain",
        ][if rng.gen_bool(0.85) {
            0
        } else {
            rng.gen_range(1..5)
        }];
        let width = [64, 76, 1100][if rng.gen_bool(0.9) {
            0
        } else {
            rng.gen_range(1..3)
        }];
        let end = ["\n", "", "\r\n", "\ntrailing bytes\n"][if rng.gen_bool(0.8) {
            0
        } else {
            rng.gen_range(1..4)
        }];
        let blank_after = rng.gen_bool(0.9);
        Layout {
            sep,
            eol,
            content_type,
            width,
            blank_after,
            end,
        }
    }

    /// content, separator, boundary, the signature part, closing boundary.
    pub fn build(&self, content: &[u8], signature_der: &[u8]) -> Vec<u8> {
        let mut f = content.to_vec();
        let eol = self.eol;
        f.extend_from_slice(self.sep.as_bytes());
        f.extend_from_slice(format!("{BOUNDARY}{eol}").as_bytes());
        f.extend_from_slice(format!("{}{eol}", self.content_type).as_bytes());
        f.extend_from_slice(format!("Content-Transfer-Encoding: base64{eol}").as_bytes());
        f.extend_from_slice(
            format!("Content-Disposition: attachment; filename=\"smime.p7s\"{eol}{eol}").as_bytes(),
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode(signature_der);
        for line in b64.as_bytes().chunks(self.width) {
            f.extend_from_slice(line);
            f.extend_from_slice(eol.as_bytes());
        }
        if self.blank_after {
            f.extend_from_slice(eol.as_bytes());
        }
        f.extend_from_slice(format!("{BOUNDARY}--{}", self.end).as_bytes());
        f
    }
}

/// One flipped byte anywhere.
pub fn flip(file: &mut [u8], rng: &mut StdRng) -> String {
    if file.is_empty() {
        return "flip (empty file)".into();
    }
    let at = rng.gen_range(0..file.len());
    let x = rng.gen_range(1..=255u8);
    file[at] ^= x;
    format!("flip byte {at} ^ 0x{x:02x}")
}

/// One flipped byte in the signature part (after the first boundary line), where the MIME,
/// base64 and DER readers must agree with OpenSSL's.
pub fn flip_in_signature(file: &mut [u8], rng: &mut StdRng) -> String {
    let needle = BOUNDARY.as_bytes();
    let start = file
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or(0);
    if start >= file.len() {
        return flip(file, rng);
    }
    let at = rng.gen_range(start..file.len());
    let x = rng.gen_range(1..=255u8);
    file[at] ^= x;
    format!("flip byte {at} ^ 0x{x:02x} (signature part starts at {start})")
}

/// Cut the file short.
pub fn truncate(file: &mut Vec<u8>, rng: &mut StdRng) -> String {
    let at = rng.gen_range(0..file.len().max(1));
    file.truncate(at);
    format!("truncate to {at} bytes")
}

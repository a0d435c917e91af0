//! Snapshot tests, as rustup does: a run's stderr and `--json` with what changes from run to
//! run (port, temp paths, ids, digests, times) replaced by placeholders, compared with a file
//! under tests/snapshots/. Any new line, a leaked secret included, fails the test.
//! `UPDATE_SNAPSHOTS=1 cargo test --test snapshots` rewrites the files; review the diff.

use std::path::PathBuf;

use super::{Done, World};

/// `text` with the world's URL and temp dir, token ids, SHA-256 digests, dates and durations
/// replaced by placeholders.
pub fn normalise(w: &World, text: &str) -> String {
    let text = text
        .replace(&w.sim.url(), "<DTSIM>")
        .replace(&w.dir.path().display().to_string(), "<TMP>")
        .replace(&std::process::id().to_string(), "<PID>");
    let text = replace_runs(
        &text,
        "dt0c01.",
        |c| matches!(c, 'A'..='Z' | '2'..='7'),
        "dt0c01.<ID>",
    );
    let text = replace_runs(
        &text,
        ".download-",
        |c| c.is_ascii_alphanumeric(),
        ".download-<RND>",
    );
    // The CA is generated per dtsim: its fingerprint changes every run.
    let text = replace_runs(
        &text,
        "SHA-256 ",
        |c| c.is_ascii_hexdigit() || c == ':',
        "SHA-256 <FP>",
    );
    let text = replace_runs(
        &text,
        "\"durationMs\":",
        |c| c.is_ascii_digit(),
        "\"durationMs\":<MS>",
    );
    let text = replace_runs(
        &text,
        "downloaded ",
        |c| c.is_ascii_digit(),
        "downloaded <N>",
    );
    let text = hex_digests(&text);
    let text = dates(&text);
    rates(&durations(&text))
}

/// `(280 MiB/s)` (or `- MiB/s` when too quick to measure) becomes `<RATE>`.
fn rates(text: &str) -> String {
    const UNIT: &str = " MiB/s";
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(UNIT) {
        let head = &rest[..i];
        let figure = head.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.' || c == '-');
        out.push_str(figure);
        out.push_str(if figure.len() < head.len() {
            "<RATE>"
        } else {
            UNIT
        });
        rest = &rest[i + UNIT.len()..];
    }
    out.push_str(rest);
    out
}

/// `prefix` followed by characters matching `keep` becomes `with`.
fn replace_runs(text: &str, prefix: &str, keep: impl Fn(char) -> bool, with: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        out.push_str(&rest[..i]);
        let after = &rest[i + prefix.len()..];
        let n = after.find(|c: char| !keep(c)).unwrap_or(after.len());
        out.push_str(if n > 0 { with } else { prefix });
        rest = &after[n..];
    }
    out.push_str(rest);
    out
}

/// Maps each maximal run of characters for which `class` is true through `f`.
fn map_runs(text: &str, class: impl Fn(char) -> bool, f: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut run = String::new();
    for c in text.chars() {
        if class(c) {
            run.push(c);
        } else {
            out.push_str(&f(&run));
            run.clear();
            out.push(c);
        }
    }
    out.push_str(&f(&run));
    out
}

fn hex_digests(text: &str) -> String {
    map_runs(
        text,
        |c| c.is_ascii_hexdigit(),
        |r| {
            if r.len() == 64 {
                "<SHA256>".into()
            } else {
                r.into()
            }
        },
    )
}

/// RFC 3339 timestamps (`2026-11-27T18:00:00Z`, with fractions or an offset) become `<TIME>`.
fn dates(text: &str) -> String {
    map_runs(
        text,
        |c| c.is_ascii_digit() || matches!(c, '-' | ':' | 'T' | 'Z' | '.' | '+'),
        |r| {
            let b = r.as_bytes();
            let is_date = b.len() >= 20
                && b[4] == b'-'
                && b[7] == b'-'
                && b[10] == b'T'
                && b[..4].iter().all(u8::is_ascii_digit);
            if is_date {
                "<TIME>".into()
            } else {
                r.into()
            }
        },
    )
}

/// `1.2s`, `350ms`, `12 ms` after a digit run become `<DUR>` (wall-clock varies).
fn durations(text: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        let boundary = start == 0 || !chars[start - 1].is_ascii_alphanumeric();
        let mut j = i;
        while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
            j += 1;
        }
        if boundary && j > i && chars[i].is_ascii_digit() {
            let unit_at = if chars.get(j) == Some(&' ') { j + 1 } else { j };
            let unit: String = chars[unit_at..].iter().take(2).collect();
            let len = if unit == "ms" {
                2
            } else if unit.starts_with('s') {
                1
            } else {
                0
            };
            let ends = chars
                .get(unit_at + len)
                .is_none_or(|c| !c.is_ascii_alphanumeric());
            if len > 0 && ends {
                out.push_str("<DUR>");
                i = unit_at + len;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Compares `got` (already normalised) with tests/snapshots/`name`; `UPDATE_SNAPSHOTS=1`
/// writes it instead.
#[track_caller]
pub fn assert_snapshot(name: &str, got: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var("UPDATE_SNAPSHOTS").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("snapshot dir");
        std::fs::write(&path, got).expect("write snapshot");
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "no snapshot {} ({e}); run with UPDATE_SNAPSHOTS=1 and review it:\n{got}",
            path.display()
        )
    });
    if want != got {
        let diff: Vec<String> = want
            .lines()
            .map(|l| (l, got.lines().any(|g| g == l)))
            .filter(|(_, found)| !found)
            .map(|(l, _)| format!("- {l}"))
            .chain(
                got.lines()
                    .filter(|g| !want.lines().any(|l| l == *g))
                    .map(|g| format!("+ {g}")),
            )
            .collect();
        panic!(
            "{} differs (UPDATE_SNAPSHOTS=1 to accept):\n{}\n--- got:\n{got}",
            path.display(),
            diff.join("\n")
        );
    }
}

impl Done<'_> {
    /// Snapshots this run's exit code and normalised stderr (and stdout) under `name`.
    #[track_caller]
    pub fn snapshot(&self, w: &World, name: &str) {
        let got = format!(
            "exit: {}\n--- stdout:\n{}--- stderr:\n{}",
            self.code,
            normalise(w, &self.stdout),
            normalise(w, &self.stderr)
        );
        assert_snapshot(name, &got);
    }
}

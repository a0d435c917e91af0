//! Fault injection: rules (the format of ARCHITECTURE.md), their matching and bookkeeping, and
//! the stream transformers that apply body-level faults to any response body without buffering
//! it (installers are up to 256 MiB).

use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{stream, StreamExt};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::body::ByteStream;

/// One rule: which requests it hits (method, path glob), how often, and what it does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// HTTP method to match (case-insensitive); absent matches every method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Glob over the request path (no query string); `*` matches any run of characters, `/` included.
    pub path: String,
    /// Fire for the next N matching requests only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// Fire for this share (0..=1) of matching requests, chosen at random.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fraction: Option<f64>,
    pub fault: Fault,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Answer with this status and an error envelope instead of handling the request.
    Status { status: u16 },
    /// 429 with `Retry-After` and `X-RateLimit-*` headers.
    RateLimit { retry_after_secs: u64 },
    /// The same 429 with `Retry-After` as an HTTP date (the other form RFC 9110 allows).
    RateLimitDate { retry_after_secs: u64 },
    /// Wait before handling the request.
    Delay { ms: u64 },
    /// Close the connection after this many body bytes (before Content-Length is reached).
    Cut { after_bytes: u64 },
    /// Pause the body for `ms` after this many bytes.
    Stall { after_bytes: u64, ms: u64 },
    /// Invert the body byte at this offset.
    FlipByte { offset: u64 },
    /// Send the body in chunks of this size with a pause between them.
    Trickle { chunk_bytes: u64, interval_ms: u64 },
    /// Installer only: content changed after signing.
    BadSignature,
    /// Installer only: signed by a CA that is not dtsim's.
    OtherCa,
    /// Installer only: the script exits with this code.
    InstallerFails { exit_code: i32 },
    /// Installer only: the script never finishes.
    InstallerHangs,
}

impl FaultRule {
    /// Checks values a rule needs to make sense; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.path.is_empty() {
            return Err("fault rule 'path' must not be empty (use \"*\" for every path)".into());
        }
        if let Some(f) = self.fraction {
            if !(0.0..=1.0).contains(&f) {
                return Err(format!(
                    "fault rule 'fraction' must be within 0..=1, got {f}"
                ));
            }
        }
        match &self.fault {
            Fault::Status { status } if !(100..=599).contains(status) => Err(format!(
                "fault status must be within 100..=599, got {status}"
            )),
            Fault::Trickle { chunk_bytes: 0, .. } => {
                Err("fault trickle 'chunk_bytes' must be at least 1".into())
            }
            _ => Ok(()),
        }
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && glob(self.path.as_bytes(), path.as_bytes())
    }
}

/// `*` matches any run of bytes (including `/`); everything else matches itself.
pub fn glob(pattern: &[u8], text: &[u8]) -> bool {
    // Iterative matcher with one backtrack point: linear enough for paths.
    let (mut p, mut t) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some(p);
            mark = t;
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// The active rules; a rule with `times` is dropped once used up.
#[derive(Debug, Default)]
pub struct FaultSet {
    rules: Vec<FaultRule>,
}

impl FaultSet {
    pub fn add(&mut self, rule: FaultRule) {
        self.rules.push(rule);
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    pub fn rules(&self) -> Vec<FaultRule> {
        self.rules.clone()
    }

    /// The faults that fire for this request, in rule order; counts each use of a `times` rule.
    pub fn take(&mut self, method: &str, path: &str) -> Vec<Fault> {
        let mut fired = Vec::new();
        let mut rng = rand::thread_rng();
        for rule in self.rules.iter_mut() {
            if !rule.matches(method, path) {
                continue;
            }
            if let Some(f) = rule.fraction {
                if rng.gen::<f64>() >= f {
                    continue;
                }
            }
            if let Some(n) = rule.times.as_mut() {
                if *n == 0 {
                    continue;
                }
                *n -= 1;
            }
            fired.push(rule.fault.clone());
        }
        self.rules.retain(|r| r.times != Some(0));
        fired
    }
}

/// Wraps a body stream with every body-level fault in `faults` (others are ignored here).
pub fn transform(mut body: ByteStream, faults: &[Fault]) -> ByteStream {
    for f in faults {
        if let Fault::FlipByte { offset } = f {
            body = flip_byte(body, *offset);
        }
    }
    for f in faults {
        body = match *f {
            Fault::Trickle {
                chunk_bytes,
                interval_ms,
            } => trickle(body, chunk_bytes.max(1), Duration::from_millis(interval_ms)),
            Fault::Stall { after_bytes, ms } => stall(body, after_bytes, Duration::from_millis(ms)),
            _ => body,
        };
    }
    for f in faults {
        if let Fault::Cut { after_bytes } = f {
            body = cut(body, *after_bytes);
        }
    }
    body
}

fn flip_byte(inner: ByteStream, offset: u64) -> ByteStream {
    let mut pos = 0u64;
    Box::pin(inner.map(move |chunk| {
        let chunk = chunk?;
        let start = pos;
        pos += chunk.len() as u64;
        if (start..pos).contains(&offset) {
            let mut b = BytesMut::from(&chunk[..]);
            let i = (offset - start) as usize;
            b[i] = !b[i];
            return Ok(b.freeze());
        }
        Ok(chunk)
    }))
}

/// Splits `chunk` so that the first part ends at stream position `boundary`.
fn split_at_boundary(chunk: &mut Bytes, pos: u64, boundary: u64) -> Option<Bytes> {
    if pos < boundary && pos + chunk.len() as u64 > boundary {
        Some(chunk.split_to((boundary - pos) as usize))
    } else {
        None
    }
}

struct Cursor {
    inner: ByteStream,
    pos: u64,
    pending: Option<Bytes>,
    done: bool,
}

impl Cursor {
    fn new(inner: ByteStream) -> Cursor {
        Cursor {
            inner,
            pos: 0,
            pending: None,
            done: false,
        }
    }

    async fn next_chunk(&mut self) -> Option<io::Result<Bytes>> {
        if let Some(b) = self.pending.take() {
            return Some(Ok(b));
        }
        self.inner.next().await
    }
}

fn cut(inner: ByteStream, after: u64) -> ByteStream {
    Box::pin(stream::unfold(
        Cursor::new(inner),
        move |mut c| async move {
            if c.done {
                return None;
            }
            if c.pos >= after {
                c.done = true;
                // Let the connection flush what was sent before it is torn down.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let e = io::Error::other(format!(
                    "dtsim fault cut: connection closed after {after} body bytes"
                ));
                return Some((Err(e), c));
            }
            match c.next_chunk().await? {
                Err(e) => {
                    c.done = true;
                    Some((Err(e), c))
                }
                Ok(mut b) => {
                    if let Some(head) = split_at_boundary(&mut b, c.pos, after) {
                        b = head;
                    }
                    c.pos += b.len() as u64;
                    Some((Ok(b), c))
                }
            }
        },
    ))
}

fn stall(inner: ByteStream, after: u64, pause: Duration) -> ByteStream {
    Box::pin(stream::unfold(
        (Cursor::new(inner), false),
        move |(mut c, mut stalled)| async move {
            if !stalled && c.pos >= after {
                stalled = true;
                tokio::time::sleep(pause).await;
            }
            let mut b = match c.next_chunk().await? {
                Ok(b) => b,
                Err(e) => return Some((Err(e), (c, stalled))),
            };
            if let Some(head) = split_at_boundary(&mut b, c.pos, after) {
                c.pending = Some(b);
                b = head;
            }
            c.pos += b.len() as u64;
            Some((Ok(b), (c, stalled)))
        },
    ))
}

fn trickle(inner: ByteStream, chunk: u64, interval: Duration) -> ByteStream {
    Box::pin(stream::unfold(
        Cursor::new(inner),
        move |mut c| async move {
            if c.done {
                return None;
            }
            // Up to `chunk` bytes per interval, whatever the size of the inner chunks: a large
            // `chunk_bytes` sets a rate (1 MiB per 1 ms pause gave ~335 MB/s), a small one a trickle.
            let mut out = BytesMut::new();
            while (out.len() as u64) < chunk {
                match c.next_chunk().await {
                    None => {
                        c.done = true;
                        break;
                    }
                    Some(Err(e)) => return Some((Err(e), c)),
                    Some(Ok(mut b)) => {
                        let room = (chunk - out.len() as u64) as usize;
                        if b.len() > room {
                            c.pending = Some(b.split_off(room));
                        }
                        out.extend_from_slice(&b);
                    }
                }
            }
            if out.is_empty() {
                return None;
            }
            if c.pos > 0 && !interval.is_zero() {
                tokio::time::sleep(interval).await;
            }
            c.pos += out.len() as u64;
            Some((Ok(out.freeze()), c))
        },
    ))
}

/// A body made of `data` in chunks of `chunk` bytes (tests and JSON answers).
pub fn chunks(data: Bytes, chunk: usize) -> ByteStream {
    let parts: Vec<io::Result<Bytes>> = data
        .chunks(chunk.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Box::pin(stream::iter(parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn collect(s: ByteStream) -> (Vec<u8>, Option<String>, usize) {
        let mut s = s;
        let (mut out, mut n) = (Vec::new(), 0);
        while let Some(c) = s.next().await {
            match c {
                Ok(b) => {
                    out.extend_from_slice(&b);
                    n += 1;
                }
                Err(e) => return (out, Some(e.to_string()), n),
            }
        }
        (out, None, n)
    }

    fn data() -> Bytes {
        Bytes::from((0..=255u8).cycle().take(10_000).collect::<Vec<_>>())
    }

    /// 256 MiB through every body transformer, in 64 KiB chunks that share one buffer: the
    /// transformers hold at most one chunk (the test would need 256 MiB per copy otherwise).
    #[tokio::test]
    async fn big_bodies_stream_through() {
        const TOTAL: u64 = 256 << 20;
        let block = Bytes::from(vec![7u8; 64 << 10]);
        let n = (TOTAL / block.len() as u64) as usize;
        let src: ByteStream = Box::pin(stream::iter((0..n).map(move |_| Ok(block.clone()))));
        let faults = [
            Fault::FlipByte { offset: TOTAL - 1 },
            Fault::Stall {
                after_bytes: TOTAL / 2,
                ms: 1,
            },
            Fault::Trickle {
                chunk_bytes: 1 << 20,
                interval_ms: 0,
            },
            Fault::Cut {
                after_bytes: TOTAL - 10,
            },
        ];
        let mut out = transform(src, &faults);
        let (mut seen, mut max_chunk) = (0u64, 0usize);
        let mut err = None;
        while let Some(c) = out.next().await {
            match c {
                Ok(b) => {
                    seen += b.len() as u64;
                    max_chunk = max_chunk.max(b.len());
                }
                Err(e) => err = Some(e),
            }
        }
        assert_eq!(seen, TOTAL - 10);
        // Bounded by the trickle's chunk (it coalesces up to 1 MiB per interval), never the body.
        assert!(max_chunk <= 1 << 20);
        assert!(err.is_some());
    }

    #[test]
    fn glob_matches_runs_including_slashes() {
        assert!(glob(
            b"/e/*/api/v1/deployment/installer/agent/*",
            b"/e/x/api/v1/deployment/installer/agent/unix/default/latest"
        ));
        assert!(glob(b"*", b"/anything/at/all"));
        assert!(glob(b"/a*c", b"/abbbc"));
        assert!(!glob(b"/a*c", b"/abbbd"));
        assert!(!glob(b"/api", b"/api/x"));
        assert!(glob(b"*latest", b"/x/latest"));
    }

    #[test]
    fn times_and_method_are_honoured() {
        let mut set = FaultSet::default();
        set.add(FaultRule {
            method: Some("get".into()),
            path: "/x*".into(),
            times: Some(2),
            fraction: None,
            fault: Fault::Delay { ms: 1 },
        });
        assert!(set.take("POST", "/x").is_empty());
        assert_eq!(set.take("GET", "/x1").len(), 1);
        assert_eq!(set.take("GET", "/x2").len(), 1);
        assert!(set.take("GET", "/x3").is_empty());
        assert!(set.rules().is_empty());
    }

    #[tokio::test]
    async fn transformers_keep_or_change_bytes_as_asked() {
        let d = data();
        let (out, err, _) = collect(transform(
            chunks(d.clone(), 4096),
            &[Fault::FlipByte { offset: 5000 }],
        ))
        .await;
        assert!(err.is_none());
        assert_eq!(out.len(), d.len());
        let diff: Vec<usize> = (0..d.len()).filter(|&i| out[i] != d[i]).collect();
        assert_eq!(diff, vec![5000]);

        let (out, err, _) = collect(transform(
            chunks(d.clone(), 4096),
            &[Fault::Cut { after_bytes: 4100 }],
        ))
        .await;
        assert_eq!(out, d[..4100].to_vec());
        assert!(err.is_some_and(|e| e.contains("cut")));

        let (out, err, n) = collect(transform(
            chunks(d.clone(), 4096),
            &[Fault::Trickle {
                chunk_bytes: 1000,
                interval_ms: 1,
            }],
        ))
        .await;
        assert!(err.is_none());
        assert_eq!(out, d.to_vec());
        assert_eq!(n, 10); // 10,000 bytes in 4096-byte pieces -> ten chunks of 1000

        let t = std::time::Instant::now();
        let (out, err, _) = collect(transform(
            chunks(d.clone(), 4096),
            &[Fault::Stall {
                after_bytes: 10,
                ms: 150,
            }],
        ))
        .await;
        assert!(err.is_none());
        assert_eq!(out, d.to_vec());
        assert!(t.elapsed() >= Duration::from_millis(150));
    }
}

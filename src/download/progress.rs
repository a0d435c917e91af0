//! A one-line progress bar on stderr (bytes, rate, ETA; a spinner without a Content-Length),
//! drawn only when stderr is a terminal: under Puppet or Ansible (a pipe or a file) nothing is
//! printed, and the caller's step lines carry the durations instead.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// At most ten redraws a second: the loop reads 64 KiB chunks, thousands a second on loopback.
const REDRAW: Duration = Duration::from_millis(100);
const SPINNER: [char; 4] = ['|', '/', '-', '\\'];
/// Carriage return plus "erase the whole line": the next draw (or line) starts on a clean row.
const CLEAR: &str = "\r\x1b[2K";

pub struct Progress {
    enabled: bool,
    total: Option<u64>,
    started: Instant,
    last: Option<Instant>,
    frame: usize,
}

impl Progress {
    /// `wanted` is the caller's choice (not `-q`, not `--json`); the terminal check is made here.
    pub fn new(wanted: bool, total: Option<u64>) -> Progress {
        Progress {
            enabled: wanted && std::io::stderr().is_terminal(),
            total,
            started: Instant::now(),
            last: None,
            frame: 0,
        }
    }

    pub fn update(&mut self, done: u64) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if self.last.is_some_and(|t| now.duration_since(t) < REDRAW) {
            return;
        }
        self.last = Some(now);
        self.frame = self.frame.wrapping_add(1);
        let line = render(
            done,
            self.total,
            now.duration_since(self.started),
            self.frame,
        );
        self.draw(&format!("{CLEAR}{line}"));
    }

    /// Erases the bar: the step line that follows says what was downloaded, and how fast.
    pub fn finish(&mut self) {
        if self.enabled && self.last.take().is_some() {
            self.draw(CLEAR);
        }
    }

    fn draw(&self, text: &str) {
        let mut err = std::io::stderr().lock();
        // A failed progress write must not fail the download.
        let _ = err.write_all(text.as_bytes());
        let _ = err.flush();
    }
}

/// A failed or retried try leaves no half-drawn bar before its error or retry note.
impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// `downloading installer [#####     ] 12.5/25.0 MiB  50% 80.0 MiB/s ETA 1s`, or with a spinner
/// and no fraction when the length is unknown.
pub fn render(done: u64, total: Option<u64>, elapsed: Duration, frame: usize) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { mib(done) / secs } else { 0.0 };
    match total.filter(|t| *t > 0) {
        Some(total) => {
            let pct = (done.min(total) * 100 / total) as usize;
            let filled = pct / 5;
            let eta = if rate > 0.0 {
                format!("{:.0}s", mib(total.saturating_sub(done)) / rate)
            } else {
                "?".into()
            };
            format!(
                "downloading installer [{}{}] {:.1}/{:.1} MiB {pct:>3}% {rate:.1} MiB/s ETA {eta}",
                "#".repeat(filled),
                " ".repeat(20 - filled),
                mib(done),
                mib(total)
            )
        }
        None => format!(
            "downloading installer {} {:.1} MiB {rate:.1} MiB/s",
            SPINNER[frame % SPINNER.len()],
            mib(done)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_fraction_rate_eta_and_a_spinner_without_length() {
        let second = Duration::from_secs(1);
        let half = render(512 * 1024, Some(1024 * 1024), second, 0);
        assert_eq!(
            half,
            "downloading installer [##########          ] 0.5/1.0 MiB  50% 0.5 MiB/s ETA 1s"
        );
        assert!(render(3, Some(1), second, 0).contains("100%"));
        assert!(render(0, Some(1), Duration::ZERO, 0).ends_with("ETA ?"));
        assert_eq!(
            render(2 << 20, None, second * 2, 1),
            "downloading installer / 2.0 MiB 1.0 MiB/s"
        );
        assert_ne!(render(0, None, second, 1), render(0, None, second, 2));
    }
}

//! A one-line progress bar on stderr, drawn only when stderr is a terminal: under Puppet or
//! Ansible (a pipe or a file) nothing is printed.

use std::io::Write;
use std::time::{Duration, Instant};

const REDRAW: Duration = Duration::from_millis(200);

pub struct Progress {
    enabled: bool,
    total: Option<u64>,
    last: Option<Instant>,
}

impl Progress {
    /// `wanted` is the caller's choice (e.g. not `-q`); the terminal check is made here.
    pub fn new(wanted: bool, total: Option<u64>) -> Progress {
        // SAFETY: isatty only inspects the descriptor number; fd 2 is always a valid argument.
        let tty = unsafe { libc::isatty(libc::STDERR_FILENO) } == 1;
        Progress {
            enabled: wanted && tty,
            total,
            last: None,
        }
    }

    pub fn update(&mut self, done: u64) {
        if !self.enabled || self.last.is_some_and(|t| t.elapsed() < REDRAW) {
            return;
        }
        self.last = Some(Instant::now());
        self.draw(done);
    }

    pub fn finish(&mut self, done: u64) {
        if self.enabled {
            self.draw(done);
            eprintln!();
        }
    }

    fn draw(&self, done: u64) {
        let line = render(done, self.total);
        let mut err = std::io::stderr().lock();
        // A failed progress write must not fail the download.
        let _ = write!(err, "\r{line}");
        let _ = err.flush();
    }
}

/// `downloading installer [#####     ] 12.5/25.0 MiB 50%`, or bytes only without a length.
pub fn render(done: u64, total: Option<u64>) -> String {
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    match total.filter(|t| *t > 0) {
        Some(total) => {
            let pct = (done.min(total) * 100 / total) as usize;
            let filled = pct / 5;
            format!(
                "downloading installer [{}{}] {:.1}/{:.1} MiB {pct:>3}%",
                "#".repeat(filled),
                " ".repeat(20 - filled),
                mib(done),
                mib(total)
            )
        }
        None => format!("downloading installer {:.1} MiB", mib(done)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_fraction_and_unknown_length() {
        let half = render(512 * 1024, Some(1024 * 1024));
        assert_eq!(
            half,
            "downloading installer [##########          ] 0.5/1.0 MiB  50%"
        );
        assert!(render(3, Some(1)).contains("100%"));
        assert_eq!(render(0, None), "downloading installer 0.0 MiB");
    }
}

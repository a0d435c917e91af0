//! SIGINT and SIGTERM during `apply` (and `demo`): Puppet's exec timeout, Ansible's async
//! timeout, systemd or a person's Ctrl-C.
//!
//! The handler only records the signal in an atomic (async-signal-safe) and puts both signals
//! back to their default action, so a second one ends the process at once should the cleanup
//! itself hang. The long waits poll [`received`]: the installer/oneagentctl wait loop in
//! install.rs, the download (per chunk, through [`Interruptible`]) and the phase boundaries in
//! apply.rs. They fail with a [`Failure`](crate::error::Failure) saying which signal stopped
//! what, and the normal error path cleans up: the minted token is revoked, the download
//! directory removed, status.json says Failed.

use std::fmt;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use anyhow::Result;

use crate::error::{failure, Kind};

/// The signals we turn into a clean failure.
const HANDLED: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

/// A recorded signal number (0: none yet).
pub struct Flag(AtomicI32);

impl Flag {
    pub const fn new() -> Flag {
        Flag(AtomicI32::new(0))
    }

    pub fn received(&self) -> Option<Signal> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            n => Some(Signal(n)),
        }
    }

    /// Keeps the first signal: that is the one the run reports.
    fn record(&self, sig: libc::c_int) {
        let _ = self
            .0
            .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
    }
}

/// The process-wide flag the handler sets.
static RECEIVED: Flag = Flag::new();
/// Which of [`HANDLED`] we installed a handler for (an inherited "ignore" is kept).
static INSTALLED: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];

/// A signal that interrupted the run; displays as `SIGTERM`, `SIGINT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal(libc::c_int);

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            libc::SIGINT => f.write_str("SIGINT"),
            libc::SIGTERM => f.write_str("SIGTERM"),
            n => write!(f, "signal {n}"),
        }
    }
}

/// The signal that interrupted this run, if any (always `None` unless [`install`] ran).
pub fn received() -> Option<Signal> {
    RECEIVED.received()
}

/// `Err` (of class `kind`) when a signal arrived: "interrupted by SIGTERM {during}".
pub fn check(kind: Kind, during: impl FnOnce() -> String) -> Result<()> {
    match received() {
        None => Ok(()),
        Some(sig) => Err(interrupted(sig, kind, &during())),
    }
}

/// The failure for a run stopped by `sig`; `during` says where (and what that means).
pub fn interrupted(sig: Signal, kind: Kind, during: &str) -> anyhow::Error {
    failure(kind, format!("interrupted by {sig} {during}"))
}

extern "C" fn on_signal(sig: libc::c_int) {
    // SAFETY: only async-signal-safe work: an atomic store and sigaction(2); errno is put back
    // as the interrupted code may be about to read it.
    unsafe {
        let errno = *libc::__errno_location();
        RECEIVED.record(sig);
        for (i, s) in HANDLED.iter().enumerate() {
            if INSTALLED[i].load(Ordering::SeqCst) {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(*s, &dfl, std::ptr::null_mut());
            }
        }
        *libc::__errno_location() = errno;
    }
}

/// Installs the handler for SIGINT and SIGTERM. A signal the parent set to be ignored (`nohup`,
/// a background job of a non-interactive shell) stays ignored, as is the convention.
pub fn install() -> Result<()> {
    for (i, sig) in HANDLED.iter().enumerate() {
        // SAFETY: sigaction with zero-initialised structs we own; the handler is
        // async-signal-safe (see on_signal).
        let rc = unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(*sig, std::ptr::null(), &mut old) != 0 {
                -1
            } else if old.sa_sigaction == libc::SIG_IGN {
                0
            } else {
                let mut act: libc::sigaction = std::mem::zeroed();
                act.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
                // SA_RESTART: other code never sees EINTR; the waits poll the flag instead.
                act.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut act.sa_mask);
                for s in HANDLED {
                    libc::sigaddset(&mut act.sa_mask, s);
                }
                // Marked first: a signal right after sigaction must find itself installed.
                INSTALLED[i].store(true, Ordering::SeqCst);
                libc::sigaction(*sig, &act, std::ptr::null_mut())
            }
        };
        if rc != 0 {
            INSTALLED[i].store(false, Ordering::SeqCst);
            return Err(failure(
                Kind::Internal,
                format!(
                    "installing the handler for {}: {}",
                    Signal(*sig),
                    io::Error::last_os_error()
                ),
            ));
        }
    }
    Ok(())
}

/// How often a read waiting for data looks at the flag.
const POLL: Duration = Duration::from_millis(100);
/// Chunks read ahead of the consumer (bounded: memory stays flat).
const AHEAD: usize = 4;
const CHUNK: usize = 64 * 1024;

/// A reader whose `read` gives up within [`POLL`] of a signal, even while the underlying read
/// is stalled (the HTTP client retries EINTR on its sockets until its read timeout, so the signal alone
/// cannot cut a stalled read short). The inner reader runs on a helper thread; after an
/// interruption that thread is left to end by itself when its read returns (or with the
/// process). The error says so through [`is_interruption`]; its kind is `Other`, not
/// `Interrupted`, which generic readers take as "try again".
pub struct Interruptible {
    /// Full-size buffers and how many bytes of each were read.
    rx: Receiver<io::Result<(Vec<u8>, usize)>>,
    /// Consumed buffers go back to the reader (no allocation per chunk).
    back: Sender<Vec<u8>>,
    pending: Vec<u8>,
    len: usize,
    at: usize,
    flag: &'static Flag,
    done: bool,
}

/// Wraps `inner` (the download body) so that reading it stops at a SIGINT/SIGTERM.
pub fn interruptible(inner: impl Read + Send + 'static) -> Interruptible {
    Interruptible::with_flag(inner, &RECEIVED)
}

impl Interruptible {
    fn with_flag(mut inner: impl Read + Send + 'static, flag: &'static Flag) -> Interruptible {
        let (tx, rx) = mpsc::sync_channel(AHEAD);
        let (back, recycled) = mpsc::channel::<Vec<u8>>();
        std::thread::spawn(move || loop {
            let mut buf = recycled.try_recv().unwrap_or_else(|_| vec![0u8; CHUNK]);
            let item = match inner.read(&mut buf) {
                Ok(n) => Ok((buf, n)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
            let end = !matches!(&item, Ok((_, n)) if *n > 0);
            // A send error: the consumer gave up (interrupted or failed); stop reading.
            if tx.send(item).is_err() || end {
                return;
            }
        });
        Interruptible {
            rx,
            back,
            pending: Vec::new(),
            len: 0,
            at: 0,
            flag,
            done: false,
        }
    }
}

/// The marker inside the io::Error of an interrupted read.
#[derive(Debug)]
struct InterruptedRead(Signal);

impl fmt::Display for InterruptedRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "interrupted by {}", self.0)
    }
}

impl std::error::Error for InterruptedRead {}

/// The signal behind an error from [`Interruptible::read`], if that is what it is.
pub fn is_interruption(e: &io::Error) -> Option<Signal> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<InterruptedRead>())
        .map(|i| i.0)
}

impl Read for Interruptible {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(sig) = self.flag.received() {
                return Err(io::Error::other(InterruptedRead(sig)));
            }
            if self.at < self.len {
                let n = buf.len().min(self.len - self.at);
                buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
                self.at += n;
                return Ok(n);
            }
            if self.done {
                return Ok(0);
            }
            match self.rx.recv_timeout(POLL) {
                Ok(Ok((chunk, len))) => {
                    self.done = len == 0;
                    let used = std::mem::replace(&mut self.pending, chunk);
                    if !used.is_empty() {
                        // The reader may have ended already; then the buffer is just freed.
                        let _ = self.back.send(used);
                    }
                    self.len = len;
                    self.at = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.done = true;
                    return Err(io::Error::other(
                        "the download's reader thread ended without a result",
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A reader that hands out `data` in small pieces, then stalls for `stall`.
    struct Slow {
        data: Vec<u8>,
        at: usize,
        stall: Duration,
    }

    impl Read for Slow {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.at == self.data.len() {
                std::thread::sleep(self.stall);
                return Ok(0);
            }
            let n = buf.len().min(7).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    #[test]
    fn passes_every_byte_through_in_order() {
        static FLAG: Flag = Flag::new();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut r = Interruptible::with_flag(
            Slow {
                data: data.clone(),
                at: 0,
                stall: Duration::ZERO,
            },
            &FLAG,
        );
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        assert_eq!(got, data);
        // Past the end it keeps answering 0.
        assert_eq!(r.read(&mut [0u8; 8]).unwrap(), 0);
    }

    #[test]
    fn a_stalled_read_gives_up_soon_after_the_signal() {
        static FLAG: Flag = Flag::new();
        let mut r = Interruptible::with_flag(
            Slow {
                data: b"head".to_vec(),
                at: 0,
                stall: Duration::from_secs(30),
            },
            &FLAG,
        );
        let mut buf = [0u8; 16];
        assert_eq!(r.read(&mut buf).unwrap(), 4);
        let setter = std::thread::spawn(|| {
            std::thread::sleep(Duration::from_millis(200));
            FLAG.record(libc::SIGTERM);
        });
        let started = Instant::now();
        let err = r.read(&mut buf).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(err.kind(), io::ErrorKind::Other);
        assert_eq!(is_interruption(&err), Some(Signal(libc::SIGTERM)));
        assert_eq!(err.to_string(), "interrupted by SIGTERM");
        setter.join().unwrap();
        // The first signal is the one reported.
        FLAG.record(libc::SIGINT);
        assert_eq!(
            FLAG.received().map(|s| s.to_string()),
            Some("SIGTERM".into())
        );
    }

    #[test]
    fn errors_of_the_inner_reader_come_through() {
        static FLAG: Flag = Flag::new();
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::TimedOut, "read timed out"))
            }
        }
        let mut r = Interruptible::with_flag(Broken, &FLAG);
        let err = r.read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(is_interruption(&err), None);
    }

    #[test]
    fn signal_names() {
        assert_eq!(Signal(libc::SIGINT).to_string(), "SIGINT");
        assert_eq!(Signal(libc::SIGTERM).to_string(), "SIGTERM");
        let e = interrupted(Signal(libc::SIGTERM), Kind::Api, "while downloading X");
        assert_eq!(crate::error::kind_of(&e), Kind::Api);
        assert_eq!(e.to_string(), "interrupted by SIGTERM while downloading X");
    }
}

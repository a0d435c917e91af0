//! The digester on its own thread, for a download loop that already hashes the file: the loop
//! pays for a copy into a recycled 64 KiB buffer, the canonical-content hash runs on another
//! core. Same result as [`Digester`] (without the file hash, which the caller has).

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use crate::{Digester, Error, Parsed};

/// Bytes gathered before a hand-off: small writes are coalesced.
const BATCH: usize = 64 * 1024;
/// Batches in flight: bounds memory (about 1 MiB) and lets the loop run ahead a little.
const IN_FLIGHT: usize = 16;

/// A [`Digester::without_file_hash`] fed through a bounded channel by [`update`], run on a
/// worker thread (or inline if no thread can be started).
///
/// [`update`]: BackgroundDigester::update
pub struct BackgroundDigester {
    batch: Vec<u8>,
    file_len: u64,
    mode: Mode,
}

enum Mode {
    Worker {
        tx: SyncSender<Vec<u8>>,
        recycled: Receiver<Vec<u8>>,
        worker: JoinHandle<Digester>,
    },
    Inline(Box<Digester>),
}

impl BackgroundDigester {
    /// Starts the worker thread (falls back to digesting inline if the thread cannot start).
    pub fn spawn() -> BackgroundDigester {
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(IN_FLIGHT);
        let (back, recycled) = mpsc::sync_channel::<Vec<u8>>(IN_FLIGHT + 2);
        let started = std::thread::Builder::new()
            .name("installer-digest".into())
            .spawn(move || {
                let mut d = Digester::without_file_hash();
                for buf in rx {
                    d.update(&buf);
                    // A full recycle queue just means the buffer is freed.
                    let _ = back.try_send(buf);
                }
                d
            });
        let mode = match started {
            Ok(worker) => Mode::Worker {
                tx,
                recycled,
                worker,
            },
            Err(_) => Mode::Inline(Box::new(Digester::without_file_hash())),
        };
        BackgroundDigester {
            batch: Vec::with_capacity(BATCH),
            file_len: 0,
            mode,
        }
    }

    /// Feed the next bytes of the file.
    pub fn update(&mut self, chunk: &[u8]) {
        self.file_len += chunk.len() as u64;
        if let Mode::Inline(d) = &mut self.mode {
            d.update(chunk);
            return;
        }
        self.batch.extend_from_slice(chunk);
        if self.batch.len() >= BATCH {
            self.hand_off();
        }
    }

    /// Number of bytes fed.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    fn hand_off(&mut self) {
        let Mode::Worker { tx, recycled, .. } = &mut self.mode else {
            return;
        };
        let next = match recycled.try_recv() {
            Ok(mut buf) => {
                buf.clear();
                buf
            }
            Err(_) => Vec::with_capacity(BATCH),
        };
        let full = std::mem::replace(&mut self.batch, next);
        if let Err(mpsc::SendError(full)) = tx.send(full) {
            // The worker is gone (it panicked): finish() reports that panic. Keep the bytes
            // out of the way so memory does not grow.
            drop(full);
        }
    }

    /// Waits for the worker and checks the layout, like [`Digester::finish`].
    pub fn finish(mut self) -> Result<Parsed, Error> {
        self.hand_off();
        match self.mode {
            Mode::Inline(d) => d.finish(),
            Mode::Worker { tx, worker, .. } => {
                drop(tx);
                match worker.join() {
                    Ok(d) => d.finish(),
                    // A panic in the digester is a bug: surface it, do not hide it.
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_result_as_the_inline_digester_in_any_chunking() {
        let mut file = Vec::new();
        for i in 0..20_000u32 {
            file.extend_from_slice(format!("line {i}\r\n").as_bytes());
            if i % 97 == 0 {
                file.extend(std::iter::repeat_n(b'\r', (i % 1500) as usize));
            }
        }
        file.extend_from_slice(b"\n----SIGNED-INSTALLER\nContent-Type: application/pkcs7-signature\n\nMAMCAQE=\n\n----SIGNED-INSTALLER--\n");
        let mut inline = Digester::new();
        inline.update(&file);
        let want = inline.finish().unwrap();
        for size in [1, 1000, 65_536, 200_000] {
            let mut bg = BackgroundDigester::spawn();
            for c in file.chunks(size) {
                bg.update(c);
            }
            assert_eq!(bg.file_len(), file.len() as u64);
            let got = bg.finish().unwrap();
            assert_eq!(got.content_sha256, want.content_sha256, "chunks of {size}");
            assert_eq!(got.signature_der, want.signature_der);
            assert_eq!(got.file_sha256, None);
        }
    }

    #[test]
    fn layout_errors_come_back() {
        let mut bg = BackgroundDigester::spawn();
        bg.update(b"#!/bin/sh\nno signature\n");
        assert!(matches!(bg.finish(), Err(Error::Malformed(_))));
    }
}

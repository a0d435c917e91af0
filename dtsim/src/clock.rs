//! The simulator's clock: the real time plus an offset tests move forward with
//! `POST /__dtsim/clock {"advanceMs": N}`, so a token's expiry can be reached without waiting
//! for it. Per simulator (not process-wide): tests run several simulators in one process.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::tokens;

#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicU64,
}

impl Clock {
    /// Milliseconds since the Unix epoch, as this simulator sees them.
    pub fn now_ms(&self) -> u64 {
        tokens::now_ms().saturating_add(self.offset_ms.load(Ordering::SeqCst))
    }

    pub fn offset_ms(&self) -> u64 {
        self.offset_ms.load(Ordering::SeqCst)
    }

    /// Moves the clock forward (never back: expiry already reached stays reached); the new
    /// offset.
    pub fn advance(&self, ms: u64) -> u64 {
        let before = self
            .offset_ms
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |o| {
                Some(o.saturating_add(ms))
            })
            .unwrap_or_else(|o| o);
        before.saturating_add(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advances_and_never_goes_back() {
        let c = Clock::default();
        let before = c.now_ms();
        assert_eq!(c.advance(15 * 60 * 1000), 15 * 60 * 1000);
        assert!(c.now_ms() >= before + 15 * 60 * 1000);
        assert_eq!(c.advance(u64::MAX), u64::MAX, "saturates");
        assert_eq!(c.advance(1), u64::MAX);
    }
}

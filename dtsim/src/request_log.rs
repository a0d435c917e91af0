//! The request log behind `/__dtsim/requests`: the most recent records in a ring buffer of
//! bounded size, plus counters over every request ever logged, so a fleet run of tens of
//! thousands of requests neither grows memory without end nor loses its totals.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use crate::app::RequestRecord;

/// Records kept by default: every test's whole log, and a few minutes of a fleet.
pub const DEFAULT_CAPACITY: usize = 100_000;

#[derive(Debug)]
pub struct RequestLog {
    records: VecDeque<RequestRecord>,
    capacity: usize,
    counts: Counts,
}

/// Totals since the start (or the last clear), whatever the ring buffer still holds.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub requests: u64,
    /// Records pushed out of the ring buffer (`requests` minus what `GET requests` shows).
    pub dropped: u64,
    /// Status code -> number of answers.
    pub by_status: BTreeMap<u16, u64>,
}

impl RequestLog {
    pub fn new(capacity: usize) -> RequestLog {
        RequestLog {
            records: VecDeque::new(),
            capacity,
            counts: Counts::default(),
        }
    }

    pub fn push(&mut self, r: RequestRecord) {
        self.counts.requests += 1;
        *self.counts.by_status.entry(r.status).or_default() += 1;
        if self.capacity == 0 {
            self.counts.dropped += 1;
            return;
        }
        if self.records.len() >= self.capacity {
            self.records.pop_front();
            self.counts.dropped += 1;
        }
        self.records.push_back(r);
    }

    pub fn clear(&mut self) {
        self.records.clear();
        self.counts = Counts::default();
    }

    /// Oldest first.
    pub fn records(&self) -> &VecDeque<RequestRecord> {
        &self.records
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u16) -> RequestRecord {
        RequestRecord {
            method: "GET".into(),
            path: format!("/{i}"),
            status: if i % 2 == 0 { 200 } else { 429 },
            token_id: None,
        }
    }

    #[test]
    fn keeps_the_newest_and_counts_everything() {
        let mut log = RequestLog::new(3);
        for i in 0..5 {
            log.push(rec(i));
        }
        let paths: Vec<&str> = log.records().iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/2", "/3", "/4"]);
        assert_eq!(log.counts().requests, 5);
        assert_eq!(log.counts().dropped, 2);
        assert_eq!(log.counts().by_status, BTreeMap::from([(200, 3), (429, 2)]));
        log.clear();
        assert!(log.records().is_empty());
        assert_eq!(log.counts(), &Counts::default());

        let mut off = RequestLog::new(0);
        off.push(rec(1));
        assert!(off.records().is_empty());
        assert_eq!((off.counts().requests, off.counts().dropped), (1, 1));
    }
}

//! `--state-file`'s metrics: written by the reserving thread alone (one writer, as a worker's slot has), read
//! by scrapes. The ceilings are not kept here: a scrape reads them from the counters (`Metrics::page`).

use std::time::Duration;

use super::labels::{latency_bucket, LATENCY_LE};
use super::slots::{add, read, Histogram};
use super::totals::Counts;

#[derive(Debug)]
pub struct StateMetrics {
    reservations: crate::sync::AtomicU64,
    sync_errors: crate::sync::AtomicU64,
    /// Write plus fdatasync of one slot; sum in microseconds.
    sync: Histogram<{ LATENCY_LE.len() }>,
}

impl StateMetrics {
    pub fn new() -> StateMetrics {
        let zero = || crate::sync::AtomicU64::new(0);
        StateMetrics { reservations: zero(), sync_errors: zero(), sync: Histogram::new() }
    }

    /// A slot written and synced in `took`: the ceiling could rise.
    pub fn synced(&self, took: Duration) {
        add(&self.reservations, 1);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.sync.observe(latency_bucket(micros), micros);
    }

    /// A write or sync of the state file failed.
    pub fn sync_failed(&self) {
        add(&self.sync_errors, 1);
    }

    pub(super) fn totals(&self, ceilings: [u64; 2]) -> StateTotals {
        let mut sync = Counts::ZERO;
        sync.add(&self.sync);
        StateTotals { ceilings, reservations: read(&self.reservations), sync_errors: read(&self.sync_errors), sync }
    }
}

impl Default for StateMetrics {
    fn default() -> StateMetrics {
        StateMetrics::new()
    }
}

/// One scrape's view of the state file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct StateTotals {
    /// `/status`, `/statusV2`.
    pub(super) ceilings: [u64; 2],
    pub(super) reservations: u64,
    pub(super) sync_errors: u64,
    pub(super) sync: Counts<{ LATENCY_LE.len() }>,
}

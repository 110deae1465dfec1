//! Totals: every worker's slot summed into plain numbers on the stack when `/metrics` is scraped (or the
//! process stops). A snapshot only: no atomics, nothing shared.

use super::labels::{Close, Code, Endpoint, RedisFault, SentinelFault, LATENCY_LE, PER_CALL_LE, PER_READ_LE};
use super::slots::{read, unpack, Counter, Histogram, WorkerMetrics};
use crate::counter::Snapshot;
use crate::limits::SENTINELS_MAX;

/// Distinct primaries shown by `counter_redis_primary_info`: during a failover workers move one by one, so two
/// are normal; more than four would mean the Sentinels disagree wildly, and the first four tell that story.
pub(super) const PRIMARIES_SHOWN_MAX: usize = 4;

/// A histogram's summed buckets (not cumulative) and sum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Counts<const N: usize> {
    pub(super) buckets: [u64; N],
    pub(super) sum: u64,
}

impl<const N: usize> Counts<N> {
    pub(super) const ZERO: Counts<N> = Counts { buckets: [0; N], sum: 0 };

    pub(super) fn add(&mut self, h: &Histogram<N>) {
        for (total, bucket) in self.buckets.iter_mut().zip(&h.buckets) {
            *total = total.wrapping_add(read(bucket));
        }
        self.sum = self.sum.wrapping_add(read(&h.sum));
    }
}

/// Adds each atomic of `slots` to its total.
fn add_all(totals: &mut [u64], slots: &[crate::sync::AtomicU64]) {
    for (total, slot) in totals.iter_mut().zip(slots) {
        *total = total.wrapping_add(read(slot));
    }
}

/// Every worker's counters summed (a plain copy on the stack).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Totals {
    pub(super) counters: [u64; Counter::COUNT],
    pub(super) requests: [[u64; Code::COUNT]; Endpoint::COUNT],
    pub(super) closed: [u64; Close::COUNT],
    pub(super) per_read: Counts<{ PER_READ_LE.len() }>,
    pub(super) per_call: Counts<{ PER_CALL_LE.len() }>,
    pub(super) latency: Counts<{ LATENCY_LE.len() }>,
    pub(super) redis_faults: [u64; RedisFault::COUNT],
    pub(super) redis_up: u64,
    pub(super) redis_seen: Snapshot,
    pub(super) redis_sentinel_faults: [[u64; SentinelFault::COUNT]; SENTINELS_MAX],
    /// Distinct primaries (`pack`ed) with the number of workers ready on each.
    pub(super) primaries: [([u64; 3], u64); PRIMARIES_SHOWN_MAX],
    pub(super) primaries_len: usize,
}

impl Totals {
    pub(super) const ZERO: Totals = Totals {
        counters: [0; Counter::COUNT],
        requests: [[0; Code::COUNT]; Endpoint::COUNT],
        closed: [0; Close::COUNT],
        per_read: Counts::ZERO,
        per_call: Counts::ZERO,
        latency: Counts::ZERO,
        redis_faults: [0; RedisFault::COUNT],
        redis_up: 0,
        redis_seen: Snapshot { counter: 0, last_changed: 0 },
        redis_sentinel_faults: [[0; SentinelFault::COUNT]; SENTINELS_MAX],
        primaries: [([0; 3], 0); PRIMARIES_SHOWN_MAX],
        primaries_len: 0,
    };

    /// A plain counter's total.
    pub fn get(&self, counter: Counter) -> u64 {
        self.counters[counter as usize]
    }

    /// Responses sent, all endpoints and codes (for the "stopped" log line).
    pub fn requests(&self) -> u64 {
        self.requests.iter().flatten().fold(0, |a, &b| a.wrapping_add(b))
    }

    /// Connections accepted and not closed yet.
    pub fn connections_open(&self) -> u64 {
        self.get(Counter::Accepted).saturating_sub(self.closed.iter().fold(0, |a, &b| a.wrapping_add(b)))
    }

    /// Adds one worker's slot.
    pub(super) fn add(&mut self, w: &WorkerMetrics) {
        add_all(&mut self.counters, &w.counters);
        for (row, slots) in self.requests.iter_mut().zip(&w.requests) {
            add_all(row, slots);
        }
        add_all(&mut self.closed, &w.closed);
        self.per_read.add(&w.per_read);
        self.per_call.add(&w.per_call);
        self.latency.add(&w.latency);
        add_all(&mut self.redis_faults, &w.redis_faults);
        self.redis_up = self.redis_up.wrapping_add(read(&w.redis_up));
        let value = read(&w.redis_value);
        if value >= self.redis_seen.counter {
            self.redis_seen = Snapshot { counter: value, last_changed: read(&w.redis_changed) };
        }
        for (totals, slots) in self.redis_sentinel_faults.iter_mut().zip(&w.redis_sentinel_faults) {
            add_all(totals, slots);
        }
        self.add_primary([0, 1, 2].map(|i| read(&w.redis_primary[i])));
    }

    /// Counts one more worker ready on `primary` (packed), among the first `PRIMARIES_SHOWN_MAX` distinct ones.
    fn add_primary(&mut self, primary: [u64; 3]) {
        if unpack(primary).is_none() {
            return;
        }
        match self.primaries.iter_mut().take(self.primaries_len).find(|(p, _)| *p == primary) {
            Some((_, workers)) => *workers += 1,
            None if self.primaries_len < PRIMARIES_SHOWN_MAX => {
                self.primaries[self.primaries_len] = (primary, 1);
                self.primaries_len += 1;
            }
            None => {}
        }
    }
}

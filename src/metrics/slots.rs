//! Per-worker slots: the counters one worker records into, each written only by that worker (so a plain
//! load and store replaces a locked read-modify-write), and the catalogue of plain counters (`counters!`):
//! a new counter is one line there plus the call that records it.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::labels::{
    latency_bucket, power_of_two_bucket, Close, Code, Endpoint, RedisFault, SentinelFault, LATENCY_LE, PER_CALL_LE,
    PER_READ_LE,
};
use crate::counter::Snapshot;
use crate::limits::SENTINELS_MAX;
use crate::sync::{AtomicU64, Ordering};

/// Where on the page a plain counter is rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Http,
    Connections,
    /// Only in redis mode.
    Redis,
}

/// Declares `Counter`, the plain counters of a slot (one `u64` each, indexed by the enum), with each one's
/// section, metric name and help text.
macro_rules! counters {
    ($($variant:ident: $section:ident, $name:literal, $help:literal;)+) => {
        /// A plain counter of a worker slot; its discriminant indexes the slot's array.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Counter {
            $($variant,)+
        }

        impl Counter {
            /// Every counter, in rendering order.
            pub const ALL: &'static [Counter] = &[$(Counter::$variant),+];
            pub const COUNT: usize = Self::ALL.len();
            const SECTIONS: &'static [Section] = &[$(Section::$section),+];
            const NAMES: &'static [&'static str] = &[$($name),+];
            const HELPS: &'static [&'static str] = &[$($help),+];

            pub fn section(self) -> Section {
                Self::SECTIONS[self as usize]
            }

            /// The metric's name (a `_total`).
            pub fn metric(self) -> &'static str {
                Self::NAMES[self as usize]
            }

            pub fn help(self) -> &'static str {
                Self::HELPS[self as usize]
            }
        }
    };
}

counters! {
    BytesIn: Http, "counter_http_received_bytes_total", "Bytes read from clients.";
    BytesOut: Http, "counter_http_sent_bytes_total", "Bytes written to clients.";
    Accepted: Connections, "counter_connections_accepted_total", "Client connections accepted.";
    RedisCalls: Redis, "counter_redis_round_trips_total", "Script calls sent to Redis.";
    RedisReconnects: Redis, "counter_redis_reconnects_total",
        "Times a worker's Redis link was ready again after losing a ready connection.";
    RedisFailovers: Redis, "counter_redis_failovers_total",
        "Times a worker's link became ready on a different primary than before: failovers followed.";
    RedisWaitShortfalls: Redis, "counter_redis_wait_shortfalls_total",
        "Batches answered 503 because WAIT reported fewer replicas than --redis-wait-replicas.";
    RedisTripwire: Redis, "counter_redis_tripwire_total",
        "Batches answered 503 because Redis returned values at or below one already handed out.";
    RedisSkips: Redis, "counter_redis_skips_total",
        "First writes through a Redis process the service had not written through before: each skipped the gap.";
    RedisSkippedValues: Redis, "counter_redis_skipped_values_total",
        "Values those skips passed over (never handed out).";
    RedisLifts: Redis, "counter_redis_lifts_total",
        "Batches Redis answered at or below the worker's mark, lifted past it plus the gap.";
    RedisLiftedValues: Redis, "counter_redis_lifted_values_total",
        "Values those lifts passed over (approximate above 2^52 per lift).";
}

/// Adds `n` to a counter that only the calling worker writes.
pub(super) fn add(counter: &AtomicU64, n: u64) {
    // ORDERING: Relaxed load then store instead of fetch_add: a slot has exactly one writer (its worker thread),
    // so nothing can land between the two, and a plain store avoids a locked read-modify-write on the request
    // path. A scrape on another worker may read a value a moment old; nothing else is published through it.
    counter.store(counter.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// Reads a counter for a scrape.
pub(super) fn read(counter: &AtomicU64) -> u64 {
    // ORDERING: Relaxed: a monitoring read; counters of one scrape need not come from the same instant.
    counter.load(Ordering::Relaxed)
}

fn zeros<const N: usize>() -> [AtomicU64; N] {
    std::array::from_fn(|_| AtomicU64::new(0))
}

/// A primary's address packed into three words for a lock-free per-worker slot: [family << 16 | port, ip high,
/// ip low]; all zero is "none".
pub(super) fn pack(addr: Option<SocketAddr>) -> [u64; 3] {
    match addr {
        None => [0; 3],
        Some(SocketAddr::V4(a)) => [1 << 16 | u64::from(a.port()), 0, u64::from(u32::from(*a.ip()))],
        Some(SocketAddr::V6(a)) => {
            let ip = u128::from(*a.ip());
            [2 << 16 | u64::from(a.port()), (ip >> 64) as u64, ip as u64]
        }
    }
}

pub(super) fn unpack(words: [u64; 3]) -> Option<SocketAddr> {
    let port = (words[0] & 0xffff) as u16;
    match words[0] >> 16 {
        1 => Some(SocketAddr::from((Ipv4Addr::from(words[2] as u32), port))),
        2 => Some(SocketAddr::from((Ipv6Addr::from(u128::from(words[1]) << 64 | u128::from(words[2])), port))),
        _ => None,
    }
}

/// A histogram's buckets (not cumulative: each observation lands in one) and the sum of observed values.
#[derive(Debug)]
pub(super) struct Histogram<const N: usize> {
    pub(super) buckets: [AtomicU64; N],
    pub(super) sum: AtomicU64,
}

impl<const N: usize> Histogram<N> {
    pub(super) fn new() -> Histogram<N> {
        Histogram { buckets: zeros(), sum: AtomicU64::new(0) }
    }

    pub(super) fn observe(&self, bucket: usize, value: u64) {
        add(&self.buckets[bucket], 1);
        add(&self.sum, value);
    }
}

/// One worker's counters. Every field is written only by the worker that owns the slot (see `add`).
#[derive(Debug)]
pub struct WorkerMetrics {
    pub(super) counters: [AtomicU64; Counter::COUNT],
    pub(super) requests: [[AtomicU64; Code::COUNT]; Endpoint::COUNT],
    pub(super) closed: [AtomicU64; Close::COUNT],
    pub(super) per_read: Histogram<{ PER_READ_LE.len() }>,
    pub(super) per_call: Histogram<{ PER_CALL_LE.len() }>,
    /// Sum in microseconds.
    pub(super) latency: Histogram<{ LATENCY_LE.len() }>,
    pub(super) redis_faults: [AtomicU64; RedisFault::COUNT],
    /// 1 while this worker's link is ready.
    pub(super) redis_up: AtomicU64,
    /// The latest /status value (and its change second) Redis returned to this worker.
    pub(super) redis_value: AtomicU64,
    pub(super) redis_changed: AtomicU64,
    /// The primary this worker's link is ready on (`pack`), zero while down.
    pub(super) redis_primary: [AtomicU64; 3],
    pub(super) redis_sentinel_faults: [[AtomicU64; SentinelFault::COUNT]; SENTINELS_MAX],
}

impl WorkerMetrics {
    pub(super) fn new() -> WorkerMetrics {
        WorkerMetrics {
            counters: zeros(),
            requests: std::array::from_fn(|_| zeros()),
            closed: zeros(),
            per_read: Histogram::new(),
            per_call: Histogram::new(),
            latency: Histogram::new(),
            redis_faults: zeros(),
            redis_up: AtomicU64::new(0),
            redis_value: AtomicU64::new(0),
            redis_changed: AtomicU64::new(0),
            redis_primary: zeros(),
            redis_sentinel_faults: std::array::from_fn(|_| zeros()),
        }
    }

    /// Adds `n` to a plain counter.
    pub fn count(&self, counter: Counter, n: u64) {
        add(&self.counters[counter as usize], n);
    }

    /// One response.
    pub fn request(&self, endpoint: Endpoint, code: u16) {
        add(&self.requests[endpoint as usize][Code::of(code) as usize], 1);
    }

    pub fn bytes_in(&self, n: usize) {
        self.count(Counter::BytesIn, n as u64);
    }

    pub fn bytes_out(&self, n: usize) {
        self.count(Counter::BytesOut, n as u64);
    }

    /// Requests answered (or deferred) from one read(2); a read that completed none is not a batch.
    pub fn answered_per_read(&self, requests: usize) {
        if requests > 0 {
            self.per_read.observe(power_of_two_bucket(requests, PER_READ_LE.len() - 1), requests as u64);
        }
    }

    pub fn accepted(&self) {
        self.count(Counter::Accepted, 1);
    }

    pub fn closed(&self, reason: Close) {
        add(&self.closed[reason as usize], 1);
    }

    /// One script call carrying `k` deferred /status requests.
    pub fn redis_call(&self, k: usize) {
        self.count(Counter::RedisCalls, 1);
        self.per_call.observe(power_of_two_bucket(k, PER_CALL_LE.len() - 1), k as u64);
    }

    /// A script call's reply arrived `latency` after the call was written.
    pub fn redis_reply(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency.observe(latency_bucket(micros), micros);
    }

    pub fn redis_fault(&self, fault: RedisFault) {
        add(&self.redis_faults[fault as usize], 1);
    }

    /// The link's state changed; `reconnect`: it is ready again after a connection that was ready was lost.
    pub fn redis_link(&self, up: bool, reconnect: bool) {
        // ORDERING: Relaxed, single writer as in `add`.
        self.redis_up.store(u64::from(up), Ordering::Relaxed);
        if reconnect {
            self.count(Counter::RedisReconnects, 1);
        }
    }

    /// The latest /status value Redis returned to this worker.
    pub fn redis_value(&self, seen: Snapshot) {
        // ORDERING: Relaxed, single writer as in `add`; a scrape may pair a value with the previous change time.
        self.redis_value.store(seen.counter, Ordering::Relaxed);
        self.redis_changed.store(seen.last_changed, Ordering::Relaxed);
    }

    /// The link is ready on `primary` (None: down); `moved`: a different primary than it was last ready on.
    pub fn redis_primary(&self, primary: Option<SocketAddr>, moved: bool) {
        for (slot, word) in self.redis_primary.iter().zip(pack(primary)) {
            // ORDERING: Relaxed, single writer as in `add`; a scrape may see a torn address mid-failover, which
            // the next scrape corrects (and a torn word pair never names a family that is not there).
            slot.store(word, Ordering::Relaxed);
        }
        if moved {
            self.count(Counter::RedisFailovers, 1);
        }
    }

    /// A batch's WAIT came back with fewer replicas than required: the batch answered 503.
    pub fn redis_wait_shortfall(&self) {
        self.count(Counter::RedisWaitShortfalls, 1);
    }

    /// A batch at or below a value already handed out: answered 503.
    pub fn redis_tripwire(&self) {
        self.count(Counter::RedisTripwire, 1);
    }

    /// The first write through a new Redis process skipped `values` ahead.
    pub fn redis_skip(&self, values: u64) {
        self.count(Counter::RedisSkips, 1);
        self.count(Counter::RedisSkippedValues, values);
    }

    /// Redis answered at or below this worker's mark: the counter was lifted `values` past it.
    pub fn redis_lift(&self, values: u64) {
        self.count(Counter::RedisLifts, 1);
        self.count(Counter::RedisLiftedValues, values);
    }

    /// Sentinel `index` (in `--redis-sentinels` order) did not name the primary.
    pub fn redis_sentinel_fault(&self, index: usize, fault: SentinelFault) {
        if let Some(row) = self.redis_sentinel_faults.get(index) {
            add(&row[fault as usize], 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_pack_and_unpack() {
        for addr in ["10.1.2.3:6379", "[2001:db8::1]:26379", "[::ffff:1.2.3.4]:1"] {
            let addr: SocketAddr = addr.parse().unwrap();
            assert_eq!(unpack(pack(Some(addr))), Some(addr));
        }
        assert_eq!(unpack(pack(None)), None);
    }

    #[test]
    fn counters_are_named_once() {
        for (i, c) in Counter::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i);
            assert!(c.metric().starts_with("counter_") && c.metric().ends_with("_total"), "{c:?}");
            assert!(Counter::ALL[i + 1..].iter().all(|d| d.metric() != c.metric()), "{c:?} named twice");
        }
    }
}

//! The service's Prometheus metrics: one cache-padded slot of counters per worker, written only by that worker,
//! summed when `/metrics` is scraped and rendered in the text exposition format 0.0.4 into the caller's buffer.
//! It decides nothing about what happens: the code that sees an event records it (app.rs: requests; conn.rs:
//! bytes and reads; worker.rs: connections; redis/link.rs: the link). No I/O, no clock reads, no allocation
//! after start.
//!
//! Everything that records sits above it, so it owns its label sets (`Endpoint`, `Close`, `RedisFault`) and each
//! caller maps its own types onto them where it records: this file imports nothing from `http/`, `server/` or
//! `redis/`, only from the leaves.

use std::fmt;
use std::io::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::counter::Snapshot;
use crate::limits::{METRICS_BODY_BYTES_MAX, SENTINELS_MAX};
use crate::sync::{AtomicU64, Ordering};

/// The `endpoint` label of a response. The discriminant indexes `ENDPOINTS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Status = 0,
    StatusV2 = 1,
    Health = 2,
    Ready = 3,
    Metrics = 4,
    /// Every path not in the route table (404) and every unparsable request.
    Other = 5,
}

/// `endpoint` label values, in `Endpoint`'s order.
const ENDPOINTS: [&str; 6] = ["/status", "/statusV2", "/health", "/ready", "/metrics", "other"];

/// `code` label values: every status the server can send (response.rs), then a catch-all that stays at zero.
const CODES: [&str; 10] = ["200", "400", "404", "405", "413", "414", "431", "503", "505", "other"];

/// The `reason` label of a closed connection. The discriminant indexes `CLOSE_REASONS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    ClientClose = 0,
    CloseRequested = 1,
    BadRequest = 2,
    IdleTimeout = 3,
    HeaderTimeout = 4,
    SendTimeout = 5,
    Shutdown = 6,
    Error = 7,
    /// Accepted by the kernel, then closed at once: the worker's connection table was full (or registration
    /// failed).
    Refused = 8,
}

/// `reason` label values, in `Close`'s order.
const CLOSE_REASONS: [&str; 9] = [
    "client_close",
    "close_requested",
    "bad_request",
    "idle_timeout",
    "header_timeout",
    "send_timeout",
    "shutdown",
    "error",
    "refused",
];

/// The `kind` label of a Redis link fault. The discriminant indexes `FAULTS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedisFault {
    Resolve = 0,
    Connect = 1,
    Io = 2,
    Timeout = 3,
    Protocol = 4,
    Auth = 5,
    Loading = 6,
    Busy = 7,
    ReadOnly = 8,
    Closed = 9,
    NotPrimary = 10,
    NoReplicas = 11,
    MasterDown = 12,
    NoSentinel = 13,
    SentinelAuth = 14,
    UnknownMaster = 15,
    Tls = 16,
    Cluster = 17,
}

/// `kind` label values, in `RedisFault`'s order.
const FAULTS: [&str; 18] = [
    "resolve",
    "connect",
    "io",
    "timeout",
    "protocol",
    "auth",
    "loading",
    "busy",
    "readonly",
    "closed",
    "not_primary",
    "noreplicas",
    "masterdown",
    "no_sentinel",
    "sentinel_auth",
    "unknown_master",
    "tls",
    "cluster",
];

/// The `kind` label of one Sentinel's failure to name the primary. The discriminant indexes `SENTINEL_FAULTS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SentinelFault {
    Connect = 0,
    Timeout = 1,
    Auth = 2,
    UnknownMaster = 3,
    Other = 4,
}

/// `kind` label values, in `SentinelFault`'s order.
const SENTINEL_FAULTS: [&str; 5] = ["connect", "timeout", "auth", "unknown_master", "other"];

/// Distinct primaries shown by `counter_redis_primary_info`: during a failover workers move one by one, so two
/// are normal; more than four would mean the Sentinels disagree wildly, and the first four tell that story.
const PRIMARIES_SHOWN_MAX: usize = 4;

// Each label enum's last variant is its array's last entry, so an index never runs past the array.
const _: () = assert!(Endpoint::Other as usize == ENDPOINTS.len() - 1);
const _: () = assert!(Close::Refused as usize == CLOSE_REASONS.len() - 1);
const _: () = assert!(RedisFault::Cluster as usize == FAULTS.len() - 1);
const _: () = assert!(SentinelFault::Other as usize == SENTINEL_FAULTS.len() - 1);

/// Requests answered per read(2): powers of two up to 64, then +Inf (a 64 KiB read holds hundreds).
const PER_READ_LE: [&str; 8] = ["1", "2", "4", "8", "16", "32", "64", "+Inf"];
/// Requests per Redis script call: a batch holds every /status a worker had in one loop turn.
const PER_CALL_LE: [&str; 12] = ["1", "2", "4", "8", "16", "32", "64", "128", "256", "512", "1024", "+Inf"];
/// Redis round-trip latency, 100 µs to the 1 s timeout (`REDIS_TIMEOUT_MILLIS`).
const LATENCY_MICROS: [u64; 13] =
    [100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000];
const LATENCY_LE: [&str; 14] = [
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
    "+Inf",
];

fn code_index(code: u16) -> usize {
    match code {
        200 => 0,
        400 => 1,
        404 => 2,
        405 => 3,
        413 => 4,
        414 => 5,
        431 => 6,
        503 => 7,
        505 => 8,
        _ => 9,
    }
}

/// A primary's address packed into three words for a lock-free per-worker slot: [family << 16 | port, ip high,
/// ip low]; all zero is "none".
fn pack(addr: Option<SocketAddr>) -> [u64; 3] {
    match addr {
        None => [0; 3],
        Some(SocketAddr::V4(a)) => [1 << 16 | u64::from(a.port()), 0, u64::from(u32::from(*a.ip()))],
        Some(SocketAddr::V6(a)) => {
            let ip = u128::from(*a.ip());
            [2 << 16 | u64::from(a.port()), (ip >> 64) as u64, ip as u64]
        }
    }
}

fn unpack(words: [u64; 3]) -> Option<SocketAddr> {
    let port = (words[0] & 0xffff) as u16;
    match words[0] >> 16 {
        1 => Some(SocketAddr::from((Ipv4Addr::from(words[2] as u32), port))),
        2 => Some(SocketAddr::from((Ipv6Addr::from(u128::from(words[1]) << 64 | u128::from(words[2])), port))),
        _ => None,
    }
}

/// The bucket of `n` among the powers of two 1, 2, 4, …, with everything past the last finite one in `last`.
fn power_of_two_bucket(n: usize, last: usize) -> usize {
    (usize::BITS - n.saturating_sub(1).leading_zeros()).min(last as u32) as usize
}

/// Adds `n` to a counter that only the calling worker writes.
fn add(counter: &AtomicU64, n: u64) {
    // ORDERING: Relaxed load then store instead of fetch_add: a slot has exactly one writer (its worker thread),
    // so nothing can land between the two, and a plain store avoids a locked read-modify-write on the request
    // path. A scrape on another worker may read a value a moment old; nothing else is published through it.
    counter.store(counter.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// Reads a counter for a scrape.
fn read(counter: &AtomicU64) -> u64 {
    // ORDERING: Relaxed: a monitoring read; counters of one scrape need not come from the same instant.
    counter.load(Ordering::Relaxed)
}

/// A histogram's buckets (not cumulative: each observation lands in one) and the sum of observed values.
#[derive(Debug)]
struct Histogram<const N: usize> {
    buckets: [AtomicU64; N],
    sum: AtomicU64,
}

impl<const N: usize> Default for Histogram<N> {
    fn default() -> Histogram<N> {
        Histogram { buckets: std::array::from_fn(|_| AtomicU64::new(0)), sum: AtomicU64::new(0) }
    }
}

impl<const N: usize> Histogram<N> {
    fn observe(&self, bucket: usize, value: u64) {
        add(&self.buckets[bucket], 1);
        add(&self.sum, value);
    }

    fn add_to(&self, totals: &mut Counts<N>) {
        for (total, bucket) in totals.buckets.iter_mut().zip(&self.buckets) {
            *total = total.wrapping_add(read(bucket));
        }
        totals.sum = totals.sum.wrapping_add(read(&self.sum));
    }
}

/// One worker's counters. Every field is written only by the worker that owns the slot (see `add`).
#[derive(Debug, Default)]
pub struct WorkerMetrics {
    requests: [[AtomicU64; CODES.len()]; ENDPOINTS.len()],
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    accepted: AtomicU64,
    closed: [AtomicU64; CLOSE_REASONS.len()],
    per_read: Histogram<{ PER_READ_LE.len() }>,
    redis_calls: AtomicU64,
    per_call: Histogram<{ PER_CALL_LE.len() }>,
    /// Sum in microseconds.
    latency: Histogram<{ LATENCY_LE.len() }>,
    redis_faults: [AtomicU64; FAULTS.len()],
    redis_reconnects: AtomicU64,
    /// 1 while this worker's link is ready.
    redis_up: AtomicU64,
    /// The latest /status value (and its change second) Redis returned to this worker.
    redis_value: AtomicU64,
    redis_changed: AtomicU64,
    /// The primary this worker's link is ready on (`pack`), zero while down.
    redis_primary: [AtomicU64; 3],
    redis_failovers: AtomicU64,
    redis_wait_shortfalls: AtomicU64,
    redis_tripwire: AtomicU64,
    redis_sentinel_faults: [[AtomicU64; SENTINEL_FAULTS.len()]; SENTINELS_MAX],
}

impl WorkerMetrics {
    /// One response.
    pub fn request(&self, endpoint: Endpoint, code: u16) {
        add(&self.requests[endpoint as usize][code_index(code)], 1);
    }

    pub fn bytes_in(&self, n: usize) {
        add(&self.bytes_in, n as u64);
    }

    pub fn bytes_out(&self, n: usize) {
        add(&self.bytes_out, n as u64);
    }

    /// Requests answered (or deferred) from one read(2); a read that completed none is not a batch.
    pub fn answered_per_read(&self, requests: usize) {
        if requests > 0 {
            self.per_read.observe(power_of_two_bucket(requests, PER_READ_LE.len() - 1), requests as u64);
        }
    }

    pub fn accepted(&self) {
        add(&self.accepted, 1);
    }

    pub fn closed(&self, reason: Close) {
        add(&self.closed[reason as usize], 1);
    }

    /// One script call carrying `k` deferred /status requests.
    pub fn redis_call(&self, k: usize) {
        add(&self.redis_calls, 1);
        self.per_call.observe(power_of_two_bucket(k, PER_CALL_LE.len() - 1), k as u64);
    }

    /// A script call's reply arrived `latency` after the call was written.
    pub fn redis_reply(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let bucket = LATENCY_MICROS.iter().position(|&bound| micros <= bound).unwrap_or(LATENCY_MICROS.len());
        self.latency.observe(bucket, micros);
    }

    pub fn redis_fault(&self, fault: RedisFault) {
        add(&self.redis_faults[fault as usize], 1);
    }

    /// The link's state changed; `reconnect`: it is ready again after a connection that was ready was lost.
    pub fn redis_link(&self, up: bool, reconnect: bool) {
        // ORDERING: Relaxed, single writer as in `add`.
        self.redis_up.store(u64::from(up), Ordering::Relaxed);
        if reconnect {
            add(&self.redis_reconnects, 1);
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
            add(&self.redis_failovers, 1);
        }
    }

    /// A batch's WAIT came back with fewer replicas than required: the batch answered 503.
    pub fn redis_wait_shortfall(&self) {
        add(&self.redis_wait_shortfalls, 1);
    }

    /// A batch at or below a value already handed out: answered 503.
    pub fn redis_tripwire(&self) {
        add(&self.redis_tripwire, 1);
    }

    /// Sentinel `index` (in `--redis-sentinels` order) did not name the primary.
    pub fn redis_sentinel_fault(&self, index: usize, fault: SentinelFault) {
        if let Some(row) = self.redis_sentinel_faults.get(index) {
            add(&row[fault as usize], 1);
        }
    }

    fn add_to(&self, t: &mut Totals) {
        for (row, slots) in t.requests.iter_mut().zip(&self.requests) {
            for (total, slot) in row.iter_mut().zip(slots) {
                *total = total.wrapping_add(read(slot));
            }
        }
        t.bytes_in = t.bytes_in.wrapping_add(read(&self.bytes_in));
        t.bytes_out = t.bytes_out.wrapping_add(read(&self.bytes_out));
        t.accepted = t.accepted.wrapping_add(read(&self.accepted));
        for (total, slot) in t.closed.iter_mut().zip(&self.closed) {
            *total = total.wrapping_add(read(slot));
        }
        self.per_read.add_to(&mut t.per_read);
        t.redis_calls = t.redis_calls.wrapping_add(read(&self.redis_calls));
        self.per_call.add_to(&mut t.per_call);
        self.latency.add_to(&mut t.latency);
        for (total, slot) in t.redis_faults.iter_mut().zip(&self.redis_faults) {
            *total = total.wrapping_add(read(slot));
        }
        t.redis_reconnects = t.redis_reconnects.wrapping_add(read(&self.redis_reconnects));
        t.redis_up = t.redis_up.wrapping_add(read(&self.redis_up));
        let value = read(&self.redis_value);
        if value >= t.redis_seen.counter {
            t.redis_seen = Snapshot { counter: value, last_changed: read(&self.redis_changed) };
        }
        t.redis_failovers = t.redis_failovers.wrapping_add(read(&self.redis_failovers));
        t.redis_wait_shortfalls = t.redis_wait_shortfalls.wrapping_add(read(&self.redis_wait_shortfalls));
        t.redis_tripwire = t.redis_tripwire.wrapping_add(read(&self.redis_tripwire));
        for (totals, slots) in t.redis_sentinel_faults.iter_mut().zip(&self.redis_sentinel_faults) {
            for (total, slot) in totals.iter_mut().zip(slots) {
                *total = total.wrapping_add(read(slot));
            }
        }
        let primary = [0, 1, 2].map(|i| read(&self.redis_primary[i]));
        if unpack(primary).is_some() {
            match t.primaries.iter_mut().take(t.primaries_len).find(|(p, _)| *p == primary) {
                Some((_, workers)) => *workers += 1,
                None if t.primaries_len < PRIMARIES_SHOWN_MAX => {
                    t.primaries[t.primaries_len] = (primary, 1);
                    t.primaries_len += 1;
                }
                None => {}
            }
        }
    }
}

/// Facts fixed at start, shown on every scrape.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Info {
    /// Unix seconds at which the process started.
    pub start_time_secs: u64,
    /// The detected CPU limit in cores; None when the cgroup sets none.
    pub cpu_limit_cores: Option<f64>,
    /// Sentinels configured (redis mode): one row of per-Sentinel errors each.
    pub redis_sentinels: usize,
}

/// Every worker's slot, created once at start with the worker count.
#[derive(Debug)]
pub struct Metrics {
    slots: Arc<[CachePadded<WorkerMetrics>]>,
    info: Info,
}

impl Metrics {
    pub fn new(workers: usize, info: Info) -> Metrics {
        let slots: Vec<_> = (0..workers.max(1)).map(|_| CachePadded::new(WorkerMetrics::default())).collect();
        Metrics { slots: slots.into(), info }
    }

    /// Worker slots: the most workers this registry can serve.
    pub fn workers(&self) -> usize {
        self.slots.len()
    }

    /// Worker `id`'s counters; only that worker may record into them.
    pub fn worker(&self, id: usize) -> &WorkerMetrics {
        &self.slots[id]
    }

    /// Worker `id`'s counters as an owned handle, for parts of the worker that outlive a borrow (the Redis link).
    pub fn slot(&self, id: usize) -> Slot {
        assert!(id < self.slots.len(), "worker {id} has no metrics slot");
        Slot { slots: Arc::clone(&self.slots), id }
    }

    /// Every worker's counters summed, as of about now.
    pub fn totals(&self) -> Totals {
        let mut totals = Totals::default();
        for slot in self.slots.iter() {
            slot.add_to(&mut totals);
        }
        totals
    }

    /// A scrape: the totals taken once, so measuring the page and writing it see the same values.
    /// `status` is the in-process /status counter; redis mode shows the latest value Redis returned instead.
    pub fn page(&self, status: Snapshot, status_v2: Snapshot, redis: bool) -> Page {
        let totals = self.totals();
        let status = if redis { totals.redis_seen } else { status };
        Page { totals, info: self.info, workers: self.slots.len(), status, status_v2, redis }
    }
}

/// A worker's own slot, shared-owned.
#[derive(Clone)]
pub struct Slot {
    slots: Arc<[CachePadded<WorkerMetrics>]>,
    id: usize,
}

impl Deref for Slot {
    type Target = WorkerMetrics;
    fn deref(&self) -> &WorkerMetrics {
        &self.slots[self.id]
    }
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Slot({})", self.id)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Counts<const N: usize> {
    buckets: [u64; N],
    sum: u64,
}

impl<const N: usize> Default for Counts<N> {
    fn default() -> Counts<N> {
        Counts { buckets: [0; N], sum: 0 }
    }
}

/// Every worker's counters summed (a plain copy on the stack).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    requests: [[u64; CODES.len()]; ENDPOINTS.len()],
    bytes_in: u64,
    bytes_out: u64,
    accepted: u64,
    closed: [u64; CLOSE_REASONS.len()],
    per_read: Counts<{ PER_READ_LE.len() }>,
    redis_calls: u64,
    per_call: Counts<{ PER_CALL_LE.len() }>,
    latency: Counts<{ LATENCY_LE.len() }>,
    redis_faults: [u64; FAULTS.len()],
    redis_reconnects: u64,
    redis_up: u64,
    redis_seen: Snapshot,
    redis_failovers: u64,
    redis_wait_shortfalls: u64,
    redis_tripwire: u64,
    redis_sentinel_faults: [[u64; SENTINEL_FAULTS.len()]; SENTINELS_MAX],
    /// Distinct primaries (`pack`ed) with the number of workers ready on each.
    primaries: [([u64; 3], u64); PRIMARIES_SHOWN_MAX],
    primaries_len: usize,
}

impl Totals {
    /// Responses sent, all endpoints and codes (for the "stopped" log line).
    pub fn requests(&self) -> u64 {
        self.requests.iter().flatten().fold(0, |a, &b| a.wrapping_add(b))
    }

    /// Connections accepted and not closed yet.
    pub fn connections_open(&self) -> u64 {
        self.accepted.saturating_sub(self.closed.iter().fold(0, |a, &b| a.wrapping_add(b)))
    }
}

/// Where a page is rendered: the response buffer, or a byte count for Content-Length.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

struct Length(usize);

impl Sink for Length {
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
}

#[derive(Clone, Copy)]
enum Num {
    Int(u64),
    Float(f64),
}

/// One scrape's content: `len` then `write` render the same bytes.
#[derive(Clone, Debug)]
pub struct Page {
    totals: Totals,
    info: Info,
    workers: usize,
    status: Snapshot,
    status_v2: Snapshot,
    redis: bool,
}

impl Page {
    /// The body's length in bytes (for Content-Length; HEAD needs it without the body).
    pub fn len(&self) -> usize {
        let mut length = Length(0);
        self.render(&mut length);
        length.0
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Appends the body to `out`. At most `METRICS_BODY_BYTES_MAX` bytes (a unit test renders the worst case),
    /// so a buffer reserved for `RESPONSE_BYTES_MAX` never grows.
    pub fn write(&self, out: &mut Vec<u8>) {
        let start = out.len();
        self.render(out);
        debug_assert!(out.len() - start <= METRICS_BODY_BYTES_MAX);
    }

    fn render(&self, s: &mut dyn Sink) {
        let t = &self.totals;
        family(s, "counter_http_requests_total", "counter", "Responses sent, by endpoint and status code.");
        for (e, endpoint) in ENDPOINTS.iter().enumerate() {
            for (c, code) in CODES.iter().enumerate() {
                // Always the 200 of every real endpoint (so rates start at zero), else only what happened.
                if t.requests[e][c] > 0 || (c == 0 && e != Endpoint::Other as usize) {
                    let labels = [("endpoint", *endpoint), ("code", *code)];
                    sample(s, "counter_http_requests_total", "", &labels, Num::Int(t.requests[e][c]));
                }
            }
        }
        counter(s, "counter_http_received_bytes_total", "Bytes read from clients.", t.bytes_in);
        counter(s, "counter_http_sent_bytes_total", "Bytes written to clients.", t.bytes_out);
        histogram(
            s,
            "counter_http_requests_per_read",
            "Requests answered per read(2) of a connection: pipelined batch sizes.",
            &PER_READ_LE,
            &t.per_read,
            Num::Int(t.per_read.sum),
        );
        self.render_connections(s);
        self.render_process(s);
        if self.redis {
            self.render_redis(s);
        }
    }

    fn render_connections(&self, s: &mut dyn Sink) {
        let t = &self.totals;
        gauge(s, "counter_connections_open", "Client connections open now.", Num::Int(t.connections_open()));
        counter(s, "counter_connections_accepted_total", "Client connections accepted.", t.accepted);
        family(s, "counter_connections_closed_total", "counter", "Client connections closed, by reason.");
        for (reason, &n) in CLOSE_REASONS.iter().zip(&t.closed) {
            sample(s, "counter_connections_closed_total", "", &[("reason", reason)], Num::Int(n));
        }
    }

    fn render_process(&self, s: &mut dyn Sink) {
        family(s, "counter_value", "gauge", "The counter's current value (redis mode: the latest this pod saw).");
        let counters = [("/status", self.status), ("/statusV2", self.status_v2)];
        for (endpoint, snapshot) in counters {
            sample(s, "counter_value", "", &[("endpoint", endpoint)], Num::Int(snapshot.counter));
        }
        let name = "counter_last_changed_timestamp_seconds";
        family(s, name, "gauge", "Unix time of the counter's latest change (0: never).");
        for (endpoint, snapshot) in counters {
            sample(s, name, "", &[("endpoint", endpoint)], Num::Int(snapshot.last_changed));
        }
        let start = Num::Int(self.info.start_time_secs);
        gauge(s, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.", start);
        gauge(s, "counter_workers", "Worker threads (each an epoll loop).", Num::Int(self.workers as u64));
        if let Some(cores) = self.info.cpu_limit_cores {
            gauge(s, "counter_cpu_limit_cores", "CPU limit from the cgroup quota, in cores.", Num::Float(cores));
        }
        family(s, "counter_build_info", "gauge", "Version and counter backend; always 1.");
        let backend = if self.redis { "redis" } else { "memory" };
        let labels = [("version", env!("CARGO_PKG_VERSION")), ("backend", backend)];
        sample(s, "counter_build_info", "", &labels, Num::Int(1));
    }

    fn render_redis(&self, s: &mut dyn Sink) {
        let t = &self.totals;
        counter(s, "counter_redis_round_trips_total", "Script calls sent to Redis.", t.redis_calls);
        histogram(
            s,
            "counter_redis_requests_per_round_trip",
            "GET /status requests carried by one script call.",
            &PER_CALL_LE,
            &t.per_call,
            Num::Int(t.per_call.sum),
        );
        histogram(
            s,
            "counter_redis_round_trip_seconds",
            "Time from writing a script call to reading its reply.",
            &LATENCY_LE,
            &t.latency,
            Num::Float(t.latency.sum as f64 / 1e6),
        );
        family(s, "counter_redis_errors_total", "counter", "Redis link faults (each drops the link), by kind.");
        for (kind, &n) in FAULTS.iter().zip(&t.redis_faults) {
            sample(s, "counter_redis_errors_total", "", &[("kind", kind)], Num::Int(n));
        }
        let help = "Times a worker's Redis link was ready again after losing a ready connection.";
        counter(s, "counter_redis_reconnects_total", help, t.redis_reconnects);
        let help = "Workers whose Redis link is ready (0 to counter_workers).";
        gauge(s, "counter_redis_links_up", help, Num::Int(t.redis_up));
        let name = "counter_redis_primary_info";
        family(s, name, "gauge", "The primary each ready worker talks to, by address; the value is the worker count.");
        for (packed, workers) in t.primaries.iter().take(t.primaries_len) {
            // An address is at most 47 bytes ("[v6]:port"); formatted on the stack.
            let mut buf = [0u8; 64];
            let mut cursor = std::io::Cursor::new(&mut buf[..]);
            if let Some(addr) = unpack(*packed) {
                let _ = write!(cursor, "{addr}");
            }
            let len = cursor.position() as usize;
            let address = std::str::from_utf8(&buf[..len]).unwrap_or("");
            sample(s, name, "", &[("address", address)], Num::Int(*workers));
        }
        let help = "Times a worker's link became ready on a different primary than before: failovers followed.";
        counter(s, "counter_redis_failovers_total", help, t.redis_failovers);
        let help = "Batches answered 503 because WAIT reported fewer replicas than --redis-wait-replicas.";
        counter(s, "counter_redis_wait_shortfalls_total", help, t.redis_wait_shortfalls);
        let help = "Batches answered 503 because Redis returned values at or below one already handed out.";
        counter(s, "counter_redis_tripwire_total", help, t.redis_tripwire);
        if self.info.redis_sentinels > 0 {
            let name = "counter_redis_sentinel_errors_total";
            let help = "Times a Sentinel did not name the primary, by its index in --redis-sentinels and kind.";
            family(s, name, "counter", help);
            for (index, row) in t.redis_sentinel_faults.iter().enumerate().take(self.info.redis_sentinels) {
                let mut digits = itoa::Buffer::new();
                let index = digits.format(index);
                for (kind, &n) in SENTINEL_FAULTS.iter().zip(row) {
                    sample(s, name, "", &[("sentinel", index), ("kind", kind)], Num::Int(n));
                }
            }
        }
    }
}

fn family(s: &mut dyn Sink, name: &str, kind: &str, help: &str) {
    for part in ["# HELP ", name, " ", help, "\n# TYPE ", name, " ", kind, "\n"] {
        s.put(part.as_bytes());
    }
}

fn counter(s: &mut dyn Sink, name: &str, help: &str, value: u64) {
    family(s, name, "counter", help);
    sample(s, name, "", &[], Num::Int(value));
}

fn gauge(s: &mut dyn Sink, name: &str, help: &str, value: Num) {
    family(s, name, "gauge", help);
    sample(s, name, "", &[], value);
}

/// `name_bucket` per bound (cumulative), `name_sum`, `name_count`.
fn histogram<const N: usize>(s: &mut dyn Sink, name: &str, help: &str, le: &[&str; N], c: &Counts<N>, sum: Num) {
    family(s, name, "histogram", help);
    let mut cumulative: u64 = 0;
    for (bound, &n) in le.iter().zip(&c.buckets) {
        cumulative = cumulative.wrapping_add(n);
        sample(s, name, "_bucket", &[("le", bound)], Num::Int(cumulative));
    }
    sample(s, name, "_sum", &[], sum);
    sample(s, name, "_count", &[], Num::Int(cumulative));
}

/// `name{k="v",…} value`. Label values are this file's constants: nothing to escape.
fn sample(s: &mut dyn Sink, name: &str, suffix: &str, labels: &[(&str, &str)], value: Num) {
    s.put(name.as_bytes());
    s.put(suffix.as_bytes());
    for (i, (k, v)) in labels.iter().enumerate() {
        s.put(if i == 0 { b"{" } else { b"," });
        s.put(k.as_bytes());
        s.put(b"=\"");
        s.put(v.as_bytes());
        s.put(b"\"");
    }
    s.put(if labels.is_empty() { b" " } else { b"} " });
    match value {
        Num::Int(n) => s.put(itoa::Buffer::new().format(n).as_bytes()),
        Num::Float(f) if f.is_nan() => s.put(b"NaN"),
        Num::Float(f) if f.is_infinite() => s.put(if f > 0.0 { b"+Inf" } else { b"-Inf" }),
        Num::Float(f) => s.put(ryu::Buffer::new().format_finite(f).as_bytes()),
    }
    s.put(b"\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets() {
        let b = |n| power_of_two_bucket(n, 7);
        assert_eq!(
            [b(1), b(2), b(3), b(4), b(5), b(16), b(17), b(64), b(65), b(10_000)],
            [0, 1, 2, 2, 3, 4, 5, 6, 7, 7]
        );
        for (i, le) in PER_READ_LE[..7].iter().enumerate() {
            assert_eq!(le.parse::<usize>().unwrap(), 1 << i);
        }
        for (i, le) in PER_CALL_LE[..11].iter().enumerate() {
            assert_eq!(le.parse::<usize>().unwrap(), 1 << i);
        }
        for (micros, le) in LATENCY_MICROS.iter().zip(LATENCY_LE) {
            assert_eq!(*micros as f64 / 1e6, le.parse::<f64>().unwrap());
        }
    }

    /// A label enum and its array are two lists kept in step by hand: each variant must find its own name.
    #[test]
    fn every_label_enum_names_its_own_label() {
        let endpoints = [
            (Endpoint::Status, "/status"),
            (Endpoint::StatusV2, "/statusV2"),
            (Endpoint::Health, "/health"),
            (Endpoint::Ready, "/ready"),
            (Endpoint::Metrics, "/metrics"),
            (Endpoint::Other, "other"),
        ];
        for (endpoint, label) in endpoints {
            assert_eq!(ENDPOINTS[endpoint as usize], label);
        }
        let closes = [
            (Close::ClientClose, "client_close"),
            (Close::CloseRequested, "close_requested"),
            (Close::BadRequest, "bad_request"),
            (Close::IdleTimeout, "idle_timeout"),
            (Close::HeaderTimeout, "header_timeout"),
            (Close::SendTimeout, "send_timeout"),
            (Close::Shutdown, "shutdown"),
            (Close::Error, "error"),
            (Close::Refused, "refused"),
        ];
        for (close, label) in closes {
            assert_eq!(CLOSE_REASONS[close as usize], label);
        }
        let faults = [
            (RedisFault::Resolve, "resolve"),
            (RedisFault::Connect, "connect"),
            (RedisFault::Io, "io"),
            (RedisFault::Timeout, "timeout"),
            (RedisFault::Protocol, "protocol"),
            (RedisFault::Auth, "auth"),
            (RedisFault::Loading, "loading"),
            (RedisFault::Busy, "busy"),
            (RedisFault::ReadOnly, "readonly"),
            (RedisFault::Closed, "closed"),
            (RedisFault::NotPrimary, "not_primary"),
            (RedisFault::NoReplicas, "noreplicas"),
            (RedisFault::MasterDown, "masterdown"),
            (RedisFault::NoSentinel, "no_sentinel"),
            (RedisFault::SentinelAuth, "sentinel_auth"),
            (RedisFault::UnknownMaster, "unknown_master"),
            (RedisFault::Tls, "tls"),
            (RedisFault::Cluster, "cluster"),
        ];
        for (fault, label) in faults {
            assert_eq!(FAULTS[fault as usize], label);
        }
        let sentinel_faults = [
            (SentinelFault::Connect, "connect"),
            (SentinelFault::Timeout, "timeout"),
            (SentinelFault::Auth, "auth"),
            (SentinelFault::UnknownMaster, "unknown_master"),
            (SentinelFault::Other, "other"),
        ];
        for (fault, label) in sentinel_faults {
            assert_eq!(SENTINEL_FAULTS[fault as usize], label);
        }
    }

    #[test]
    fn sums_every_worker_and_renders_what_it_summed() {
        let metrics =
            Metrics::new(2, Info { start_time_secs: 1_700_000_000, cpu_limit_cores: Some(1.5), redis_sentinels: 0 });
        metrics.worker(0).request(Endpoint::Status, 200);
        metrics.worker(1).request(Endpoint::Status, 200);
        metrics.worker(1).request(Endpoint::Other, 400);
        metrics.worker(0).answered_per_read(3);
        metrics.worker(1).accepted();
        metrics.worker(1).closed(Close::BadRequest);
        let page = metrics.page(Snapshot { counter: 2, last_changed: 5 }, Snapshot::default(), false);
        let mut out = Vec::new();
        page.write(&mut out);
        assert_eq!(out.len(), page.len());
        let text = String::from_utf8(out).unwrap();
        for line in [
            "counter_http_requests_total{endpoint=\"/status\",code=\"200\"} 2\n",
            "counter_http_requests_total{endpoint=\"other\",code=\"400\"} 1\n",
            "counter_http_requests_total{endpoint=\"/metrics\",code=\"200\"} 0\n",
            "counter_http_requests_per_read_bucket{le=\"2\"} 0\n",
            "counter_http_requests_per_read_bucket{le=\"4\"} 1\n",
            "counter_http_requests_per_read_bucket{le=\"+Inf\"} 1\n",
            "counter_http_requests_per_read_sum 3\n",
            "counter_connections_open 0\n",
            "counter_connections_closed_total{reason=\"bad_request\"} 1\n",
            "counter_value{endpoint=\"/status\"} 2\n",
            "counter_cpu_limit_cores 1.5\n",
            "counter_workers 2\n",
            "process_start_time_seconds 1700000000\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
        assert!(!text.contains("counter_redis_"), "memory mode shows no redis series");
        assert!(!text.contains("code=\"404\""), "only what happened, besides the 200s");
    }

    /// The bound `Page::write` promises: every series present, every value at its widest.
    #[test]
    fn worst_case_page_fits_its_bound() {
        let wide = Counts { buckets: [u64::MAX; 14], sum: u64::MAX };
        let totals = Totals {
            requests: [[u64::MAX; CODES.len()]; ENDPOINTS.len()],
            bytes_in: u64::MAX,
            bytes_out: u64::MAX,
            accepted: u64::MAX,
            closed: [u64::MAX; CLOSE_REASONS.len()],
            per_read: Counts { buckets: [u64::MAX; 8], sum: u64::MAX },
            redis_calls: u64::MAX,
            per_call: Counts { buckets: [u64::MAX; 12], sum: u64::MAX },
            latency: wide,
            redis_faults: [u64::MAX; FAULTS.len()],
            redis_reconnects: u64::MAX,
            redis_up: u64::MAX,
            redis_seen: Snapshot { counter: u64::MAX, last_changed: u64::MAX },
            redis_failovers: u64::MAX,
            redis_wait_shortfalls: u64::MAX,
            redis_tripwire: u64::MAX,
            redis_sentinel_faults: [[u64::MAX; SENTINEL_FAULTS.len()]; SENTINELS_MAX],
            primaries: [(pack(Some("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535".parse().unwrap())), u64::MAX); 4],
            primaries_len: PRIMARIES_SHOWN_MAX,
        };
        let max = Snapshot { counter: u64::MAX, last_changed: u64::MAX };
        let info = Info {
            start_time_secs: u64::MAX,
            cpu_limit_cores: Some(-f64::MIN_POSITIVE),
            redis_sentinels: SENTINELS_MAX,
        };
        let page = Page { totals, info, workers: usize::MAX, status: max, status_v2: max, redis: true };
        let len = page.len();
        assert!(len <= METRICS_BODY_BYTES_MAX, "worst-case page is {len} bytes");
    }
}

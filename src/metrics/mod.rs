//! The service's Prometheus metrics: one cache-padded slot of counters per worker, written only by that worker,
//! summed when `/metrics` is scraped and rendered in the text exposition format 0.0.4 into the caller's buffer.
//! It decides nothing about what happens: the code that sees an event records it (app.rs: requests; conn.rs:
//! bytes and reads; worker.rs: connections; redis/link.rs: the link). No I/O, no clock reads, no allocation
//! after start.
//!
//! Everything that records sits above it, so it owns its label sets (`Endpoint`, `Close`, `RedisFault`) and each
//! caller maps its own types onto them where it records: this module imports nothing from `http/`, `server/` or
//! `redis/`, only from the leaves. By concept: `labels` (label enums and bucket bounds), `slots` (one worker's
//! counters and the catalogue of plain ones), `totals` (the slots summed), `render` (the text format).

mod labels;
mod render;
mod slots;
mod state;
mod totals;

use std::fmt;
use std::ops::Deref;

use crossbeam_utils::CachePadded;

pub use labels::{Close, Code, Endpoint, RedisFault, SentinelFault};
pub use render::Page;
pub use slots::{Counter, WorkerMetrics};
pub use state::StateMetrics;
pub use totals::Totals;

use crate::counter::Snapshot;
use crate::sync::Arc;

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
    /// `--state-file`: the reserving thread's own counters.
    pub state: StateMetrics,
}

impl Metrics {
    pub fn new(workers: usize, info: Info) -> Metrics {
        let slots: Vec<_> = (0..workers.max(1)).map(|_| CachePadded::new(WorkerMetrics::new())).collect();
        Metrics { slots: slots.into(), info, state: StateMetrics::new() }
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
        let mut totals = Totals::ZERO;
        for slot in self.slots.iter() {
            totals.add(slot);
        }
        totals
    }

    /// A scrape: the totals taken once, so measuring the page and writing it see the same values.
    /// `status` is the in-process /status counter; redis mode shows the latest value Redis returned instead.
    /// `ceilings`: with a state file, the counters' durable ceilings (`/status`, `/statusV2`).
    pub fn page(&self, status: Snapshot, status_v2: Snapshot, redis: bool, ceilings: Option<[u64; 2]>) -> Page {
        let totals = self.totals();
        let status = if redis { totals.redis_seen } else { status };
        let state = ceilings.map(|c| self.state.totals(c));
        Page { totals, info: self.info, workers: self.slots.len(), status, status_v2, redis, state }
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

#[cfg(test)]
mod tests {
    use super::*;

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
        metrics.worker(0).bytes_in(7);
        metrics.worker(1).count(Counter::BytesIn, 5);
        assert_eq!(metrics.totals().get(Counter::BytesIn), 12);
        let page = metrics.page(Snapshot { counter: 2, last_changed: 5 }, Snapshot::default(), false, None);
        let mut out = Vec::new();
        page.write(&mut out);
        assert_eq!(out.len(), page.body_len());
        let text = String::from_utf8(out).unwrap();
        for line in [
            "counter_http_requests_total{endpoint=\"/status\",code=\"200\"} 2\n",
            "counter_http_requests_total{endpoint=\"other\",code=\"400\"} 1\n",
            "counter_http_requests_total{endpoint=\"/metrics\",code=\"200\"} 0\n",
            "counter_http_received_bytes_total 12\n",
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
        assert!(!text.contains("counter_state_"), "nor state file series without one");
        metrics.state.synced(std::time::Duration::from_micros(300));
        metrics.state.sync_failed();
        let page = metrics.page(Snapshot::default(), Snapshot::default(), false, Some([1024, 2048]));
        let mut out = Vec::new();
        page.write(&mut out);
        let text = String::from_utf8(out).unwrap();
        for line in [
            "counter_state_ceiling{endpoint=\"/status\"} 1024\n",
            "counter_state_ceiling{endpoint=\"/statusV2\"} 2048\n",
            "counter_state_reservations_total 1\n",
            "counter_state_sync_errors_total 1\n",
            "counter_state_sync_seconds_bucket{le=\"0.00025\"} 0\n",
            "counter_state_sync_seconds_bucket{le=\"0.0005\"} 1\n",
            "counter_state_sync_seconds_sum 0.0003\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
        assert!(!text.contains("code=\"404\""), "only what happened, besides the 200s");
    }
}

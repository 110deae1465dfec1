//! Rendering: one scrape's totals as the Prometheus text exposition format 0.0.4, measured first (for
//! Content-Length) and then written into the caller's buffer, with no allocation.

use std::io::Write as _;

use super::labels::{Close, Code, Endpoint, RedisFault, SentinelFault, LATENCY_LE, PER_CALL_LE, PER_READ_LE};
use super::slots::{unpack, Counter, Section};
use super::state::StateTotals;
use super::totals::{Counts, Totals};
use super::Info;
use crate::counter::Snapshot;
use crate::limits::METRICS_BODY_BYTES_MAX;

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
    pub(super) totals: Totals,
    pub(super) info: Info,
    pub(super) workers: usize,
    pub(super) status: Snapshot,
    pub(super) status_v2: Snapshot,
    pub(super) redis: bool,
    /// `--state-file` only.
    pub(super) state: Option<StateTotals>,
}

impl Page {
    /// The body's length in bytes (for Content-Length; HEAD needs it without the body).
    pub fn body_len(&self) -> usize {
        let mut length = Length(0);
        self.render(&mut length);
        length.0
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
        for (e, endpoint) in Endpoint::NAMES.iter().enumerate() {
            for (c, code) in Code::NAMES.iter().enumerate() {
                // Always the 200 of every real endpoint (so rates start at zero), else only what happened.
                if t.requests[e][c] > 0 || (c == Code::Ok as usize && e != Endpoint::Other as usize) {
                    let labels = [("endpoint", *endpoint), ("code", *code)];
                    sample(s, "counter_http_requests_total", "", &labels, Num::Int(t.requests[e][c]));
                }
            }
        }
        self.plain_counters(s, Section::Http);
        let help = "Requests answered per read(2) of a connection: pipelined batch sizes.";
        histogram(s, "counter_http_requests_per_read", help, &PER_READ_LE, &t.per_read, Num::Int(t.per_read.sum));
        self.render_connections(s);
        self.render_process(s);
        if self.redis {
            self.render_redis(s);
        }
        if let Some(state) = &self.state {
            render_state(s, state);
        }
    }

    /// Every plain counter of `section`, in `Counter`'s order.
    fn plain_counters(&self, s: &mut dyn Sink, section: Section) {
        for &c in Counter::ALL.iter().filter(|c| c.section() == section) {
            counter(s, c.metric(), c.help(), self.totals.get(c));
        }
    }

    fn render_connections(&self, s: &mut dyn Sink) {
        let t = &self.totals;
        gauge(s, "counter_connections_open", "Client connections open now.", Num::Int(t.connections_open()));
        self.plain_counters(s, Section::Connections);
        family(s, "counter_connections_closed_total", "counter", "Client connections closed, by reason.");
        for (reason, &n) in Close::NAMES.iter().zip(&t.closed) {
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
        self.plain_counters(s, Section::Redis);
        let (name, help) =
            ("counter_redis_requests_per_round_trip", "GET /status requests carried by one script call.");
        histogram(s, name, help, &PER_CALL_LE, &t.per_call, Num::Int(t.per_call.sum));
        let (name, help) =
            ("counter_redis_round_trip_seconds", "Time from writing a script call to reading its reply.");
        histogram(s, name, help, &LATENCY_LE, &t.latency, Num::Float(t.latency.sum as f64 / 1e6));
        family(
            s,
            "counter_redis_errors_total",
            "counter",
            "Redis link faults by kind (noscript and reply fail one batch; the others drop the link).",
        );
        for (kind, &n) in RedisFault::NAMES.iter().zip(&t.redis_faults) {
            sample(s, "counter_redis_errors_total", "", &[("kind", kind)], Num::Int(n));
        }
        let help = "Workers whose Redis link is ready (0 to counter_workers).";
        gauge(s, "counter_redis_links_up", help, Num::Int(t.redis_up));
        self.render_primaries(s);
        if self.info.redis_sentinels > 0 {
            let name = "counter_redis_sentinel_errors_total";
            let help = "Times a Sentinel did not name the primary, by its index in --redis-sentinels and kind.";
            family(s, name, "counter", help);
            for (index, row) in t.redis_sentinel_faults.iter().enumerate().take(self.info.redis_sentinels) {
                let mut digits = itoa::Buffer::new();
                let index = digits.format(index);
                for (kind, &n) in SentinelFault::NAMES.iter().zip(row) {
                    sample(s, name, "", &[("sentinel", index), ("kind", kind)], Num::Int(n));
                }
            }
        }
    }

    fn render_primaries(&self, s: &mut dyn Sink) {
        let t = &self.totals;
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
    }
}

fn family(s: &mut dyn Sink, name: &str, kind: &str, help: &str) {
    for part in ["# HELP ", name, " ", help, "\n# TYPE ", name, " ", kind, "\n"] {
        s.put(part.as_bytes());
    }
}

fn render_state(s: &mut dyn Sink, t: &StateTotals) {
    let name = "counter_state_ceiling";
    let help = "The durable ceiling: no value above it is handed out, and a restart after a crash resumes above it.";
    family(s, name, "gauge", help);
    for (endpoint, ceiling) in ["/status", "/statusV2"].iter().zip(t.ceilings) {
        sample(s, name, "", &[("endpoint", endpoint)], Num::Int(ceiling));
    }
    let help = "Reservations written to the state file and synced (each may raise the ceilings).";
    counter(s, "counter_state_reservations_total", help, t.reservations);
    let help = "Writes or syncs of the state file that failed (the ceiling stays; requests beyond it get 503).";
    counter(s, "counter_state_sync_errors_total", help, t.sync_errors);
    let help = "Time to write one slot of the state file and fdatasync it.";
    let sum = Num::Float(t.sync.sum as f64 / 1e6);
    histogram(s, "counter_state_sync_seconds", help, &LATENCY_LE, &t.sync, sum);
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

/// `name{k="v",…} value`. Label values are this module's constants: nothing to escape.
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
    use crate::limits::SENTINELS_MAX;
    use crate::metrics::slots::pack;
    use crate::metrics::totals::PRIMARIES_SHOWN_MAX;

    /// The bound `Page::write` promises: every series present, every value at its widest.
    #[test]
    fn worst_case_page_fits_its_bound() {
        let widest = pack(Some("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535".parse().unwrap()));
        let totals = Totals {
            counters: [u64::MAX; Counter::COUNT],
            requests: [[u64::MAX; Code::COUNT]; Endpoint::COUNT],
            closed: [u64::MAX; Close::COUNT],
            per_read: Counts { buckets: [u64::MAX; PER_READ_LE.len()], sum: u64::MAX },
            per_call: Counts { buckets: [u64::MAX; PER_CALL_LE.len()], sum: u64::MAX },
            latency: Counts { buckets: [u64::MAX; LATENCY_LE.len()], sum: u64::MAX },
            redis_faults: [u64::MAX; RedisFault::COUNT],
            redis_up: u64::MAX,
            redis_seen: Snapshot { counter: u64::MAX, last_changed: u64::MAX },
            redis_sentinel_faults: [[u64::MAX; SentinelFault::COUNT]; SENTINELS_MAX],
            primaries: [(widest, u64::MAX); PRIMARIES_SHOWN_MAX],
            primaries_len: PRIMARIES_SHOWN_MAX,
        };
        let max = Snapshot { counter: u64::MAX, last_changed: u64::MAX };
        let info = Info {
            start_time_secs: u64::MAX,
            cpu_limit_cores: Some(-f64::MIN_POSITIVE),
            redis_sentinels: SENTINELS_MAX,
        };
        let state = Some(StateTotals {
            ceilings: [u64::MAX; 2],
            reservations: u64::MAX,
            sync_errors: u64::MAX,
            sync: Counts { buckets: [u64::MAX; LATENCY_LE.len()], sum: u64::MAX },
        });
        // Redis mode and a state file exclude each other; both at once is a bound on either.
        let page = Page { totals, info, workers: usize::MAX, status: max, status_v2: max, redis: true, state };
        let len = page.body_len();
        assert!(len <= METRICS_BODY_BYTES_MAX, "worst-case page is {len} bytes");
    }
}

//! The history checker: every GET /status a test client sent, with what came back and when, checked against the
//! model of a fetch-and-increment counter that may skip values but never repeats one (Jepsen's way: record
//! invocation and completion, inject faults, check the whole history). Four checks, each O(n log n):
//!
//! 1. **unique**: every value is handed out at most once, across every client of every process;
//! 2. **real-time order** (linearizability of fetch-and-increment): if A's response was received before B was
//!    sent, A's value is smaller than B's;
//! 3. **per connection**: the values one connection receives increase, in request order;
//! 4. **liveness**: every request is answered, or its connection closed, within [`ANSWER_DEADLINE`] of being
//!    sent; time the server process spent stopped (SIGSTOP, given with [`History::pause`]) does not count.
//!
//! A status other than 200 and 503 is reported too (the load sends only valid requests). Times are monotonic
//! (`Instant`) and conservative: `sent` is taken before the write, `received` after the read, so a recorded
//! interval contains the real one and an order the checker infers from them is real.

#![allow(dead_code)]

use std::fmt;
use std::time::{Duration, Instant};

/// How long a request may wait for its answer or its connection's close, pauses of the server excluded.
pub const ANSWER_DEADLINE: Duration = Duration::from_secs(10);

/// How many violations of each kind a report keeps (the first ones, in the order the check meets them).
const KEEP: usize = 10;

/// What one request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A response with this status; a 200's value is in [`Record::value`].
    Status(u16),
    /// The connection closed (EOF, reset, a failed write) before the response came.
    Closed,
    /// The client gave up waiting: no response and no close (a hang).
    NoAnswer,
}

/// One request: who sent it on which connection, when it left and when its outcome was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// The load's client (thread) number.
    pub client: usize,
    /// The connection, unique across the whole history (a reconnect is a new connection).
    pub conn: u64,
    /// Taken just before the request was written.
    pub sent: Instant,
    /// Taken just after the response was read (or the close or the give-up seen).
    pub received: Instant,
    pub outcome: Outcome,
    /// The counter value of a 200, None otherwise.
    pub value: Option<u64>,
}

impl Record {
    /// A 200 carrying `value`.
    pub fn ok(client: usize, conn: u64, sent: Instant, received: Instant, value: u64) -> Record {
        Record { client, conn, sent, received, outcome: Outcome::Status(200), value: Some(value) }
    }

    /// A request that got `outcome` (not a 200 with a value).
    pub fn other(client: usize, conn: u64, sent: Instant, received: Instant, outcome: Outcome) -> Record {
        Record { client, conn, sent, received, outcome, value: None }
    }

    pub fn status(&self) -> Option<u16> {
        match self.outcome {
            Outcome::Status(s) => Some(s),
            _ => None,
        }
    }
}

/// A violation of one of the checks, with the records that show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// The same value in two responses.
    Duplicate { first: Record, second: Record },
    /// `before` was received before `after` was sent, yet `after`'s value is not larger.
    RealTime { before: Record, after: Record },
    /// On one connection, `later` (sent after `earlier`) carries a value not larger than `earlier`'s.
    Connection { earlier: Record, later: Record },
    /// Neither an answer nor a close within the deadline (`waited` excludes the server's pauses).
    Unanswered { record: Record, waited: Duration },
    /// A status other than 200 and 503, or a 200 without a value.
    Status { record: Record },
}

/// What the checks found: counts, and the first violations of each kind.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub requests: usize,
    /// 200s with a value: the values handed out.
    pub values: usize,
    pub unavailable: usize,
    pub closed: usize,
    pub no_answer: usize,
    /// Violations found per kind (every one counted, only the first `KEEP` of each kept).
    pub duplicates: usize,
    pub real_time: usize,
    pub connection: usize,
    pub unanswered: usize,
    pub statuses: usize,
    pub violations: Vec<Violation>,
    /// The highest value handed out.
    pub highest: Option<u64>,
    /// The earliest `sent`: records print their times relative to it.
    pub origin: Option<Instant>,
}

impl Report {
    pub fn violation_count(&self) -> usize {
        self.duplicates + self.real_time + self.connection + self.unanswered + self.statuses
    }

    pub fn is_clean(&self) -> bool {
        self.violation_count() == 0
    }

    /// Panics with the whole report unless every check passed.
    #[track_caller]
    pub fn assert_clean(&self) {
        assert!(self.is_clean(), "history check failed:\n{self}");
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} requests: {} values (highest {:?}), {} 503s, {} closed, {} unanswered",
            self.requests, self.values, self.highest, self.unavailable, self.closed, self.no_answer
        )?;
        writeln!(
            f,
            "violations: {} duplicate, {} real-time order, {} per-connection order, {} unanswered, {} bad status",
            self.duplicates, self.real_time, self.connection, self.unanswered, self.statuses
        )?;
        let origin = self.origin.unwrap_or_else(Instant::now);
        let show = |r: &Record| {
            let at = |t: Instant| t.saturating_duration_since(origin).as_secs_f64();
            let value = r.value.map_or("-".to_string(), |v| v.to_string());
            format!(
                "[client {} conn {} sent {:.6} s received {:.6} s {:?} value {value}]",
                r.client,
                r.conn,
                at(r.sent),
                at(r.received),
                r.outcome
            )
        };
        for v in &self.violations {
            let line = match v {
                Violation::Duplicate { first, second } => format!("duplicate {} {}", show(first), show(second)),
                Violation::RealTime { before, after } => {
                    format!("real-time: {} received before {} was sent", show(before), show(after))
                }
                Violation::Connection { earlier, later } => {
                    format!("connection: {} then {}", show(earlier), show(later))
                }
                Violation::Unanswered { record, waited } => format!("unanswered after {waited:?}: {}", show(record)),
                Violation::Status { record } => format!("status: {}", show(record)),
            };
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

/// Records in the order each connection sent its requests, plus the windows in which the server process was
/// stopped. Push a connection's records in request order (a client thread does that naturally).
#[derive(Debug, Clone, Default)]
pub struct History {
    pub records: Vec<Record>,
    pub pauses: Vec<(Instant, Instant)>,
}

impl History {
    pub fn new() -> History {
        History::default()
    }

    pub fn push(&mut self, record: Record) {
        self.records.push(record);
    }

    /// Adds another client's records (its connections' records in their order).
    pub fn extend(&mut self, records: impl IntoIterator<Item = Record>) {
        self.records.extend(records);
    }

    /// The server process was stopped from `from` to `to`: requests waiting then get that much longer.
    pub fn pause(&mut self, from: Instant, to: Instant) {
        self.pauses.push((from, to.max(from)));
    }

    pub fn check(&self) -> Report {
        check_with_pauses(&self.records, &self.pauses)
    }

    /// The history as text, one record per line, times in microseconds since `origin` (the earliest `sent`):
    /// what a failed scenario saves to a file.
    pub fn dump(&self) -> String {
        let origin = self.records.iter().map(|r| r.sent).min().unwrap_or_else(Instant::now);
        let us = |t: Instant| t.saturating_duration_since(origin).as_micros();
        let mut out = String::from("# client conn sent_us received_us outcome value\n");
        for (from, to) in &self.pauses {
            out.push_str(&format!("# pause {} {}\n", us(*from), us(*to)));
        }
        for r in &self.records {
            let outcome = match r.outcome {
                Outcome::Status(s) => s.to_string(),
                Outcome::Closed => "closed".to_string(),
                Outcome::NoAnswer => "no-answer".to_string(),
            };
            let value = r.value.map_or("-".to_string(), |v| v.to_string());
            out.push_str(&format!("{} {} {} {} {outcome} {value}\n", r.client, r.conn, us(r.sent), us(r.received)));
        }
        out
    }
}

/// The four checks over `records`, with no pause of the server.
pub fn check(records: &[Record]) -> Report {
    check_with_pauses(records, &[])
}

/// The four checks over `records`; `pauses` are the windows in which the server process was stopped.
pub fn check_with_pauses(records: &[Record], pauses: &[(Instant, Instant)]) -> Report {
    let origin = records.iter().map(|r| r.sent).min();
    let mut report = Report { requests: records.len(), origin, ..Report::default() };
    for r in records {
        match (r.outcome, r.value) {
            (Outcome::Status(200), Some(_)) => report.values += 1,
            (Outcome::Status(503), None) => report.unavailable += 1,
            (Outcome::Closed, None) => report.closed += 1,
            (Outcome::NoAnswer, None) => report.no_answer += 1,
            _ => note(&mut report.statuses, &mut report.violations, Violation::Status { record: *r }),
        }
    }
    report.highest = records.iter().filter_map(|r| r.value).max();
    check_unique(records, &mut report);
    check_real_time(records, &mut report);
    check_connections(records, &mut report);
    check_liveness(records, pauses, &mut report);
    report
}

/// Counts a violation; keeps it if fewer than `KEEP` of its kind were kept.
fn note(count: &mut usize, kept: &mut Vec<Violation>, v: Violation) {
    *count += 1;
    if *count <= KEEP {
        kept.push(v);
    }
}

/// Check 1: sort the 200s by value; equal neighbours are a value handed out twice.
fn check_unique(records: &[Record], report: &mut Report) {
    let mut by_value: Vec<&Record> = records.iter().filter(|r| r.value.is_some()).collect();
    by_value.sort_by_key(|r| (r.value, r.sent));
    for pair in by_value.windows(2) {
        if pair[0].value == pair[1].value {
            let v = Violation::Duplicate { first: *pair[0], second: *pair[1] };
            note(&mut report.duplicates, &mut report.violations, v);
        }
    }
}

/// Check 2: walk the 200s by send time; before each one, take in every 200 received strictly before it was
/// sent, keeping the one with the largest value. That value must be smaller than this one's.
fn check_real_time(records: &[Record], report: &mut Report) {
    let valued: Vec<&Record> = records.iter().filter(|r| r.value.is_some()).collect();
    let mut by_sent = valued.clone();
    by_sent.sort_by_key(|r| r.sent);
    let mut by_received = valued;
    by_received.sort_by_key(|r| r.received);
    let mut done = by_received.iter().peekable();
    let mut max: Option<&Record> = None;
    for b in by_sent {
        while let Some(a) = done.next_if(|a| a.received < b.sent) {
            if max.is_none_or(|m| a.value > m.value) {
                max = Some(a);
            }
        }
        if let Some(a) = max.filter(|a| a.value >= b.value) {
            note(&mut report.real_time, &mut report.violations, Violation::RealTime { before: *a, after: *b });
        }
    }
}

/// Check 3: a stable sort by connection keeps each connection's records in request order; its 200s' values
/// must rise.
fn check_connections(records: &[Record], report: &mut Report) {
    let mut by_conn: Vec<&Record> = records.iter().filter(|r| r.value.is_some()).collect();
    by_conn.sort_by_key(|r| r.conn);
    for pair in by_conn.windows(2) {
        if pair[0].conn == pair[1].conn && pair[1].value <= pair[0].value {
            let v = Violation::Connection { earlier: *pair[0], later: *pair[1] };
            note(&mut report.connection, &mut report.violations, v);
        }
    }
}

/// Check 4: each request's wait minus the server's stopped time within it is under the deadline, and a request
/// the client gave up on is a violation whatever its wait.
fn check_liveness(records: &[Record], pauses: &[(Instant, Instant)], report: &mut Report) {
    let paused = Paused::new(pauses);
    for r in records {
        let waited = r.received.saturating_duration_since(r.sent).saturating_sub(paused.within(r.sent, r.received));
        if waited > ANSWER_DEADLINE || r.outcome == Outcome::NoAnswer {
            note(&mut report.unanswered, &mut report.violations, Violation::Unanswered { record: *r, waited });
        }
    }
}

/// The server's stopped windows, merged and sorted, with the stopped time before each window's start, so that
/// the stopped time inside any interval is two binary searches.
struct Paused {
    windows: Vec<(Instant, Instant)>,
    /// `before[i]`: stopped time in windows `0..i`.
    before: Vec<Duration>,
}

impl Paused {
    fn new(pauses: &[(Instant, Instant)]) -> Paused {
        let mut sorted = pauses.to_vec();
        sorted.sort();
        let mut windows: Vec<(Instant, Instant)> = Vec::new();
        for (from, to) in sorted {
            match windows.last_mut() {
                Some(last) if from <= last.1 => last.1 = last.1.max(to),
                _ => windows.push((from, to)),
            }
        }
        let mut before = Vec::with_capacity(windows.len() + 1);
        let mut sum = Duration::ZERO;
        for (from, to) in &windows {
            before.push(sum);
            sum += *to - *from;
        }
        before.push(sum);
        Paused { windows, before }
    }

    /// Stopped time from the start of all time to `t`.
    fn until(&self, t: Instant) -> Duration {
        // Windows starting at or before t: the last of them may be cut by t.
        let i = self.windows.partition_point(|(from, _)| *from <= t);
        if i == 0 {
            return Duration::ZERO;
        }
        let (from, to) = self.windows[i - 1];
        self.before[i - 1] + (to.min(t) - from)
    }

    fn within(&self, from: Instant, to: Instant) -> Duration {
        self.until(to).saturating_sub(self.until(from))
    }
}

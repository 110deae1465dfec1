//! Fuzzes one connection's state machine (`server::conn::Conn`) over a scripted in-memory socket: request bytes
//! arrive in fuzz-chosen chunks, the socket takes response bytes in fuzz-chosen amounts or refuses them, and
//! readiness events come in the order Linux's edge-triggered epoll would raise them. Checked on every input:
//! no panic; the bytes written are exactly what the pure `App::answer` makes of the bytes that arrived (so
//! responses come in request order and nothing is answered twice or skipped), and an independent parser finds
//! each one well-formed HTTP/1.1 with a Content-Length its body matches (HEAD: no body); the /status counter
//! grew by exactly the 200s to GET /status; the connection's buffers stay within the bound derived below; and
//! once the client stops acting, everything that arrived was read and answered (no stall waiting for an edge
//! that never comes).
//!
//! # Input layout
//! `[repeat][flags][n_lo][n_hi][schedule: n bytes][request bytes]`. The request bytes are sent `repeat % 64 + 1`
//! times back to back (a small input can pipeline hundreds of requests and reach backpressure). `flags & 1`:
//! the client sends FIN once everything arrived. The schedule is a list of client actions, two bytes each
//! (`act`: bytes arrive, the client reads, a spurious wakeup, FIN, a signal, a reset); when it runs out, the rest
//! arrives, the client reads everything, and the run is checked. A seed is a real request with the header
//! `\0\0\0\0`: it arrives in one piece and the socket takes every byte.
#![no_main]

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::ops::Range;

use counter::app::{App, Mode};
use counter::config::Timeouts;
use counter::http::date::DateCache;
use counter::http::request::{parse, Method, Parsed};
use counter::http::route::{route, Endpoint, Route};
use counter::limits::{OUTPUT_HIGH_WATER_BYTES, READ_BUFFER_BYTES, REQUEST_BYTES_MAX, RESPONSE_BYTES_MAX};
use counter::server::conn::{CloseReason, Conn, Ctx, Outcome, Readiness, Scratch, Stream};
use libfuzzer_sys::fuzz_target;

/// A fixed clock: the connection and the oracle render the same Date and lastChanged bytes.
const NOW: u64 = 1_700_000_000;

/// What one connection may hold beyond its struct, from limits.rs: unanswered input is at most one read
/// buffer plus one partial request, pending output at most the high-water mark plus one response.
const BUFFERED_BYTES_BOUND: usize =
    READ_BUFFER_BYTES + REQUEST_BYTES_MAX + OUTPUT_HIGH_WATER_BYTES + RESPONSE_BYTES_MAX;

/// The kernel's side of the socket, as the connection sees it through `Stream`.
struct Script {
    /// Everything the client will send (after repetition).
    input: Vec<u8>,
    /// `input[read..arrived]` is in the receive queue.
    read: usize,
    arrived: usize,
    /// The client's FIN arrived after `input[..arrived]`.
    fin: bool,
    /// Bytes the send queue takes before the next write blocks.
    window: usize,
    /// A write blocked or was partial (Linux sets SOCK_NOSPACE): the next opening of the window raises an edge.
    write_armed: bool,
    /// The next read or write fails with `Interrupted` (a signal).
    interrupt: bool,
    /// The client reset the connection: writes fail at once, reads once the bytes that arrived before are read.
    reset: bool,
    /// Our side was shut down for writing (`shutdown_write` takes `&self`).
    write_shut: Cell<bool>,
    /// Every byte the connection wrote, in order.
    output: Vec<u8>,
}

impl Read for Script {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if std::mem::take(&mut self.interrupt) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        // Like tcp_recvmsg: as much as is queued, up to the buffer; a short read means the queue is empty. Bytes
        // that arrived before a reset are still read; the error comes after them.
        let n = buf.len().min(self.arrived - self.read);
        if n == 0 && self.reset {
            return Err(io::ErrorKind::ConnectionReset.into());
        }
        if n == 0 {
            return if self.fin { Ok(0) } else { Err(io::ErrorKind::WouldBlock.into()) };
        }
        buf[..n].copy_from_slice(&self.input[self.read..self.read + n]);
        self.read += n;
        Ok(n)
    }
}

impl Write for Script {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        assert!(!self.write_shut.get(), "write after shutdown_write");
        if self.reset {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        if std::mem::take(&mut self.interrupt) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = buf.len().min(self.window);
        if n < buf.len() {
            self.write_armed = true;
        }
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.window -= n;
        self.output.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Stream for Script {
    fn shutdown_write(&self) -> io::Result<()> {
        self.write_shut.set(true);
        Ok(())
    }
}

impl Script {
    fn new(input: Vec<u8>) -> Script {
        Script {
            input,
            read: 0,
            arrived: 0,
            fin: false,
            window: 0,
            write_armed: false,
            interrupt: false,
            reset: false,
            write_shut: Cell::new(false),
            output: Vec::new(),
        }
    }

    /// What epoll reports when this socket's item fires: the whole current mask, not only the edge's cause. A
    /// reset reports everything (EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLRDHUP).
    fn readiness(&self) -> Readiness {
        Readiness {
            readable: self.read < self.arrived || self.fin || self.reset,
            writable: self.window > 0 || self.reset,
            read_closed: self.fin || self.reset,
        }
    }
}

/// Chunk and window sizes: fine-grained near 1 byte, coarse up to whole read buffers, and "everything".
fn size(b: u8) -> usize {
    match b {
        0..=63 => 1 + usize::from(b),
        64..=127 => usize::from(b - 63) * 64,
        128..=191 => usize::from(b - 127) * 1024,
        _ => usize::MAX,
    }
}

struct Harness {
    app: App,
    dates: DateCache,
    scratch: Scratch,
    conn: Option<Conn<Script>>,
    closed: Option<CloseReason>,
    /// Redis mode's batch list: memory mode must never put anything on it.
    waiting: Vec<usize>,
}

impl Harness {
    /// One epoll wakeup for this socket.
    fn event(&mut self, ready: Readiness) {
        let Some(conn) = self.conn.as_mut().filter(|_| self.closed.is_none()) else { return };
        let timeouts = Timeouts { idle_secs: 120, header_secs: 10 };
        let mut ctx = Ctx {
            app: &self.app,
            stats: self.app.metrics.worker(0),
            dates: &mut self.dates,
            scratch: &mut self.scratch,
            timeouts,
            mode: Mode::Memory,
            waiting: &mut self.waiting,
            now: 0,
        };
        let outcome = conn.on_event(ready, &mut ctx);
        assert!(self.scratch.out.is_empty(), "scratch output not empty between events");
        assert!(self.waiting.is_empty(), "memory mode deferred a request");
        let held = conn.buffered_bytes();
        assert!(held <= BUFFERED_BYTES_BOUND, "connection holds {held} bytes > {BUFFERED_BYTES_BOUND}");
        if let Outcome::Close(reason) = outcome {
            self.closed = Some(reason);
        }
    }

    /// The event raised by a client action, if the connection is still open and Linux would raise one.
    fn edge(&mut self, raised: bool) {
        if raised && self.closed.is_none() {
            let ready = self.conn.as_mut().map(|c| c.stream_mut().readiness());
            if let Some(ready) = ready {
                self.event(ready);
            }
        }
    }

    fn script(&mut self) -> &mut Script {
        self.conn.as_mut().expect("conn").stream_mut()
    }
}

/// A client action: one or two schedule bytes.
fn act(h: &mut Harness, op: u8, arg: u8) {
    match op % 8 {
        // Bytes arrive: sk_data_ready wakes the item.
        0..=2 => {
            let s = h.script();
            if s.fin || s.reset {
                return;
            }
            let new = size(arg).min(s.input.len() - s.arrived);
            s.arrived += new;
            h.edge(new > 0);
        }
        // The client reads: the window opens; an edge only if a write had run out of room.
        3..=5 => {
            let s = h.script();
            s.window = s.window.saturating_add(size(arg));
            let raised = std::mem::take(&mut s.write_armed);
            h.edge(raised);
        }
        // A wakeup with an arbitrary mask on top of the true one (mio allows spurious events).
        6 => {
            let mut ready = h.script().readiness();
            ready.readable |= arg & 1 != 0;
            ready.writable |= arg & 2 != 0;
            h.event(ready);
        }
        // Rarer: FIN now (the rest of the input is never sent), a signal, or a reset: at once, or right behind the
        // rest of the input (both reach the socket before the worker looks, as a client's write-then-abort does).
        _ => match arg % 8 {
            0 => {
                let s = h.script();
                s.input.truncate(s.arrived);
                s.fin = true;
                h.edge(true);
            }
            1..=5 => h.script().interrupt = true,
            6 => {
                h.script().reset = true;
                h.edge(true);
            }
            _ => {
                let s = h.script();
                if !s.fin {
                    s.arrived = s.input.len();
                }
                s.reset = true;
                h.edge(true);
            }
        },
    }
}

/// What the client sent, as the pure parser sees it: one entry per response expected, in order.
struct Expected {
    /// The bytes `App::answer` renders for the input, request by request.
    bytes: Vec<u8>,
    /// Per response: its range in `bytes`, whether the request was HEAD (no body), whether it increments
    /// /status, and whether its bytes are reproducible (a /metrics page counts the connection's own traffic,
    /// which the oracle's app never saw: only its framing and status line are compared).
    responses: Vec<Want>,
}

struct Want {
    range: Range<usize>,
    head: bool,
    counts: bool,
    exact: bool,
}

fn expected(input: &[u8]) -> Expected {
    let app = App::new();
    let mut dates = DateCache::new(NOW);
    let mut e = Expected { bytes: Vec::new(), responses: Vec::new() };
    let mut at = 0;
    // The request table's own rules (`parse`, `route`) find each request and say HEAD, /status or /metrics;
    // `App::answer`, given exactly that request, renders its bytes.
    loop {
        let (one, head, route) = match parse(&input[at..]) {
            Ok(Parsed::Complete { request, consumed }) => {
                (&input[at..at + consumed], request.method == Method::Head, Some(route(request.method, request.path)))
            }
            Ok(Parsed::Partial) => break,
            Err(_) => (&input[at..], false, None),
        };
        // A fresh buffer per request: `answer` stops at the high-water mark of the buffer it appends to.
        let mut rendered = Vec::new();
        let answered = app.answer(one, &mut dates, &mut rendered);
        assert_eq!((answered.requests, answered.consumed), (1, one.len()), "answer vs parse");
        let start = e.bytes.len();
        e.bytes.extend_from_slice(&rendered);
        let endpoint = |endpoint| route == Some(Route::Endpoint { endpoint, head_only: head });
        e.responses.push(Want {
            range: start..e.bytes.len(),
            head,
            counts: endpoint(Endpoint::Status) && !head,
            exact: !endpoint(Endpoint::Metrics),
        });
        at += one.len();
        if answered.close {
            break;
        }
    }
    e
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let repeat = usize::from(data[0] % 64) + 1;
    let fin_at_end = data[1] & 1 != 0;
    let n = usize::from(u16::from_le_bytes([data[2], data[3]])).min(data.len() - 4);
    let (schedule, request) = data[4..].split_at(n);

    let timeouts = Timeouts { idle_secs: 120, header_secs: 10 };
    let mut h = Harness {
        app: App::new(),
        dates: DateCache::new(NOW),
        scratch: Scratch::new(),
        conn: Some(Conn::new(Script::new(request.repeat(repeat)), 0, 1, 0, timeouts)),
        closed: None,
        waiting: Vec::new(),
    };
    for pair in schedule.chunks(2) {
        if h.closed.is_some() {
            break;
        }
        act(&mut h, pair[0], pair.get(1).copied().unwrap_or(0));
    }
    // The client stops acting: the rest arrives, the window opens for good, then FIN if chosen. Only the edges
    // Linux would raise are delivered, so a connection that stops reading without a reason is caught below.
    if h.closed.is_none() {
        let s = h.script();
        let more = s.arrived < s.input.len() && !s.fin && !s.reset;
        if more {
            s.arrived = s.input.len();
        }
        h.edge(more);
        let s = h.script();
        s.window = usize::MAX;
        let raised = std::mem::take(&mut s.write_armed);
        h.edge(raised);
        if fin_at_end && !h.script().fin {
            h.script().fin = true;
            h.edge(true);
        }
    }
    check(&mut h);
});

fn check(h: &mut Harness) {
    let mut conn = h.conn.take().expect("conn");
    let s = std::mem::replace(conn.stream_mut(), Script::new(Vec::new()));
    let want = expected(&s.input[..s.arrived]);
    // An independent reading of the bytes written: framing first, then response by response against the oracle.
    let heads: Vec<bool> = want.responses.iter().map(|w| w.head).collect();
    let (got, rest) = split_responses(&s.output, &heads);
    for (i, (range, w)) in got.iter().zip(&want.responses).enumerate() {
        let (a, b) = (&s.output[range.clone()], &want.bytes[w.range.clone()]);
        let same = if w.exact { a == b } else { status_line(a) == status_line(b) };
        assert!(same, "response {i} differs: wrote {:?}, expected {:?}", text(a), text(b));
    }
    let counter = h.app.status.peek().counter as usize;
    let increments = |n: usize| want.responses[..n].iter().filter(|w| w.counts).count();
    if s.reset {
        // Whatever got out before the reset is a prefix of the right answer; increments happened for every
        // request answered, delivered or not.
        if let Some(w) = want.responses.get(got.len()) {
            let partial = &s.output[rest.clone()];
            assert!(!w.exact || want.bytes[w.range.clone()].starts_with(partial), "torn response is not a prefix");
        }
        let (delivered, answerable) = (increments(got.len()), increments(want.responses.len()));
        assert!(delivered <= counter && counter <= answerable, "counter {counter} outside {delivered}..={answerable}");
        return;
    }
    assert_ne!(h.closed, Some(CloseReason::Error), "I/O error on a healthy socket");
    if h.closed.is_none() {
        // Still open: the client sent no FIN (a FIN must have closed it) and the connection read every byte.
        assert!(!s.fin, "FIN received and everything answered, but the connection stays open");
        assert_eq!(s.read, s.arrived, "stall: {} bytes arrived but were never read", s.arrived - s.read);
    }
    assert!(rest.is_empty(), "{} bytes after the last whole response", rest.len());
    assert_eq!(got.len(), want.responses.len(), "responses written vs requests answered by App::answer");
    assert_eq!(counter, increments(got.len()), "counter vs 200s to GET /status");
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(120)]).into_owned()
}

fn status_line(b: &[u8]) -> &[u8] {
    &b[..b.windows(2).position(|w| w == b"\r\n").unwrap_or(b.len())]
}

/// Splits `out` into back-to-back HTTP/1.1 responses without the server's code; `head[i]` says response `i`
/// answers a HEAD (its Content-Length describes a body that is not sent). Returns the whole responses and
/// the bytes after them (a torn last response). Panics on anything malformed.
fn split_responses(out: &[u8], head: &[bool]) -> (Vec<Range<usize>>, Range<usize>) {
    let mut whole = Vec::new();
    let mut at = 0;
    let mut closed = false;
    while at < out.len() {
        assert!(!closed, "a response after one that said Connection: close");
        assert!(whole.len() < head.len(), "more responses than requests");
        let Some(end) = find(&out[at..], b"\r\n\r\n") else { break };
        let text = std::str::from_utf8(&out[at..at + end]).expect("response head is not UTF-8");
        let mut lines = text.split("\r\n");
        let status = lines.next().unwrap();
        let code = status.strip_prefix("HTTP/1.1 ").expect("status line must start with HTTP/1.1");
        assert!(code.len() > 4 && code.as_bytes()[..3].iter().all(u8::is_ascii_digit) && &code[3..4] == " ");
        let mut length = None;
        let mut date = false;
        for line in lines {
            let (name, value) = line.split_once(": ").expect("header line without ': '");
            assert!(!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'), "{name:?}");
            if name.eq_ignore_ascii_case("content-length") {
                assert!(length.is_none(), "two Content-Length fields");
                assert!(!value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()), "Content-Length {value:?}");
                length = Some(value.parse::<usize>().unwrap());
            }
            date |= name.eq_ignore_ascii_case("date");
            closed |= name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close");
        }
        assert!(date, "response without Date");
        let length = length.expect("response without Content-Length");
        let head_only = head[whole.len()];
        let body_at = at + end + 4;
        let body_len = if head_only { 0 } else { length };
        if out.len() < body_at + body_len {
            break;
        }
        whole.push(at..body_at + body_len);
        at = body_at + body_len;
    }
    (whole, at..out.len())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

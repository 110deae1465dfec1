//! One connection's state machine and the bytes it must keep between events. It never registers or
//! deregisters anything: it returns `Keep` or `Close` and the worker loop does the rest.
//!
//! # The edge-triggered contract (mio registers every source edge-triggered)
//! - Readable: read until `WouldBlock`, or until a read returns less than the buffer (the kernel had no more;
//!   new data raises a new edge), `Ok(0)` is the peer's FIN, `Interrupted` is retried.
//! - Responses are written eagerly, once per read, right after parsing: a pipelined batch costs one write.
//! - Write until done or `WouldBlock`; only then does a WRITABLE edge matter, and it resumes the flush.
//! - Registration is READABLE | WRITABLE once at accept: no `epoll_ctl` per request.
//!
//! # Memory
//! An idle connection owns no buffer. Reads land in the worker's scratch buffer and responses are rendered into
//! the worker's scratch output; only the leftovers (a partial request, response bytes the socket refused) are
//! copied into this connection's own `input` / `output`, which are bounded by the limits.

use std::io::{self, Read, Write};
use std::net::Shutdown;

use mio::net::TcpStream;

use crate::app::{Answered, App, Deferred, Mode, SharedResult};
use crate::config::Timeouts;
use crate::http::date::DateCache;
use crate::http::request::Parser;
use crate::limits::{
    CONN_BUFFER_KEEP_BYTES, LINGER_SECS, OUTPUT_BYTES_MAX, OUTPUT_HIGH_WATER_BYTES, READ_BUFFER_BYTES,
    RESPONSE_BYTES_MAX, SEND_TIMEOUT_SECS,
};
use crate::metrics::WorkerMetrics;

/// What a connection needs of its socket. The server uses mio's `TcpStream`; the fuzz harness plugs in a
/// scripted stream that splits reads and writes at arbitrary points and returns `WouldBlock` at will.
pub trait Stream: Read + Write {
    fn shutdown_write(&self) -> io::Result<()>;
}

impl Stream for TcpStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

/// Buffers a worker allocates once at start and lends to whichever connection has an event.
pub struct Scratch {
    pub read: Box<[u8]>,
    /// Empty between events (invariant): responses rendered here are written or moved to `Conn::output`.
    pub out: Vec<u8>,
    /// The worker's request parser: it remembers the last head it parsed, on whichever connection, so a
    /// repeated head (a client's next request, usually) costs one comparison.
    pub parser: Parser,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            read: vec![0; READ_BUFFER_BYTES].into_boxed_slice(),
            out: Vec::with_capacity(OUTPUT_HIGH_WATER_BYTES + RESPONSE_BYTES_MAX),
            parser: Parser::new(),
        }
    }
}

/// What a connection needs from its worker while it handles one event.
pub struct Ctx<'w> {
    pub app: &'w App,
    /// The worker's own metrics slot: bytes, requests per read, and (through `App`) responses.
    pub stats: &'w WorkerMetrics,
    pub dates: &'w mut DateCache,
    pub scratch: &'w mut Scratch,
    pub timeouts: Timeouts,
    pub mode: Mode,
    /// Indices of connections with deferred requests not yet in a batch (redis mode) or not yet parked
    /// (durable mode).
    pub waiting: &'w mut Vec<usize>,
    /// The worker's monotonic second (`Clock::mono_secs`): deadlines are counted in it, never in wall time.
    pub now: u64,
}

/// The readiness an event reported.
#[derive(Clone, Copy, Debug)]
pub struct Readiness {
    pub readable: bool,
    pub writable: bool,
    /// The peer shut down its side: read until `Ok(0)` even after a short read.
    pub read_closed: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed (FIN) with nothing left to answer.
    PeerClosed,
    /// A final response to a request that asked for it (`Connection: close`, HTTP/1.0) was written and the
    /// client closed or the linger ran out.
    Done,
    /// The same after a request that could not be parsed (the 4xx/505 error response is final).
    BadRequest,
    /// An I/O error (reset, broken pipe).
    Error,
    IdleTimeout,
    HeaderTimeout,
    SendTimeout,
    /// The worker is shutting down and this connection was idle.
    Shutdown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Keep,
    Close(CloseReason),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    /// Final response sent and our side shut down: discard input until the client closes.
    Lingering,
}

pub struct Conn<S = TcpStream> {
    stream: S,
    /// Slot in the worker's table, and an id unique within the worker: a batch reply for a connection that
    /// closed must not reach the next one in the same slot.
    index: usize,
    id: u64,
    state: State,
    /// Request bytes received but not answered: a partial request, or requests held back by backpressure.
    input: Vec<u8>,
    /// Response bytes the socket has not taken yet.
    output: Vec<u8>,
    /// A final response was rendered: no more requests are read; close once `output` is flushed.
    closing: bool,
    /// That final response answered an unparsable request (for the close reason).
    bad_request: bool,
    /// The client sent FIN: answer what is buffered, then close.
    peer_eof: bool,
    /// Redis mode: GET /status requests waiting for the shared counter, in order (durable mode: GET requests of
    /// either counter waiting for its ceiling).
    deferred: Deferred,
    /// Of those, how many are not in a batch yet; `in_waiting`: this connection is on `Ctx::waiting`.
    unsent: usize,
    in_waiting: bool,
    /// Reading stopped for a reason other than a drained socket (backpressure, deferred responses): read again
    /// when that clears, since no new edge will say so.
    more_to_read: bool,
    /// Monotonic second (the worker's `Clock`) at which this connection is closed unless something moves it.
    deadline: u64,
    deadline_reason: CloseReason,
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

fn interrupted(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Interrupted
}

impl<S: Stream> Conn<S> {
    pub fn new(stream: S, index: usize, id: u64, now: u64, timeouts: Timeouts) -> Conn<S> {
        Conn {
            stream,
            index,
            id,
            deferred: Deferred::default(),
            unsent: 0,
            in_waiting: false,
            more_to_read: false,
            state: State::Open,
            input: Vec::new(),
            output: Vec::new(),
            closing: false,
            bad_request: false,
            peer_eof: false,
            // A new connection must send its first request head within the header timeout.
            deadline: now + timeouts.header_secs,
            deadline_reason: CloseReason::HeaderTimeout,
        }
    }

    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Closes the connection if its deadline passed.
    pub fn check_deadline(&self, now: u64) -> Outcome {
        if now >= self.deadline {
            Outcome::Close(self.deadline_reason)
        } else {
            Outcome::Keep
        }
    }

    /// Nothing in flight: safe to close during shutdown without cutting a request or response.
    pub fn is_idle(&self) -> bool {
        self.input.is_empty() && self.output.is_empty() && self.deferred.is_empty() && self.state == State::Open
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// Requests wait for the counter (redis mode's batch, durable mode's ceiling).
    pub fn has_deferred(&self) -> bool {
        !self.deferred.is_empty()
    }

    /// Redis mode: takes the count of deferred requests not yet in a batch (the worker is building one).
    pub fn take_unsent(&mut self) -> usize {
        self.in_waiting = false;
        std::mem::take(&mut self.unsent)
    }

    /// Redis mode: answers the `count` oldest deferred requests with `result`, then carries on with whatever
    /// they held back.
    pub fn deliver(&mut self, result: SharedResult, count: usize, ctx: &mut Ctx<'_>) -> Outcome {
        let out = if self.output.is_empty() { &mut ctx.scratch.out } else { reserve_output(&mut self.output) };
        ctx.app.deliver(ctx.stats, result, count, &mut self.deferred, ctx.dates, out);
        self.on_event(Readiness { readable: false, writable: false, read_closed: false }, ctx)
    }

    /// Bytes this connection holds beyond its struct (for the memory bound tests and metrics).
    pub fn buffered_bytes(&self) -> usize {
        self.input.capacity() + self.output.capacity()
    }

    pub fn on_event(&mut self, ready: Readiness, ctx: &mut Ctx<'_>) -> Outcome {
        let outcome = match self.handle(ready, ctx) {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Close(CloseReason::Error),
        };
        // The scratch output is the worker's, lent for this event: whatever a failed write left there belongs
        // to this connection and must never reach the next one.
        debug_assert!(outcome != Outcome::Keep || ctx.scratch.out.is_empty());
        ctx.scratch.out.clear();
        outcome
    }

    fn handle(&mut self, ready: Readiness, ctx: &mut Ctx<'_>) -> io::Result<Outcome> {
        if self.state == State::Lingering {
            return self.discard_until_eof(ctx);
        }
        let now = ctx.now;
        if ready.writable && !self.output.is_empty() {
            self.flush(ctx, now)?;
        }
        // Requests held back by backpressure go first, in order, before anything new is read.
        self.answer_buffered(ctx, now)?;
        if ready.readable || ready.read_closed || self.more_to_read {
            self.read_and_answer(ctx, ready.read_closed, now)?;
        } else {
            self.flush(ctx, now)?; // responses rendered by `deliver`
        }
        self.settle(ctx, now)
    }

    /// No reading while this many response bytes wait: the client must read first.
    fn backlogged(&self) -> bool {
        self.output.len() >= OUTPUT_HIGH_WATER_BYTES
    }

    fn read_and_answer(&mut self, ctx: &mut Ctx<'_>, read_closed: bool, now: u64) -> io::Result<()> {
        loop {
            // Requests already buffered go first, in order; then the socket.
            self.answer_buffered(ctx, now)?;
            if self.closing || self.peer_eof || self.backlogged() || self.input.len() >= READ_BUFFER_BYTES {
                // Stopped for a reason of our own while the socket may still hold bytes: no new edge will
                // report them, so read again as soon as the reason clears.
                self.more_to_read = !self.peer_eof;
                return Ok(());
            }
            let n = match self.stream.read(&mut ctx.scratch.read) {
                Ok(0) => {
                    self.peer_eof = true;
                    self.more_to_read = false;
                    return Ok(());
                }
                Ok(n) => n,
                Err(e) if would_block(&e) => {
                    self.more_to_read = false;
                    return Ok(());
                }
                Err(e) if interrupted(&e) => continue,
                Err(e) => return Err(e),
            };
            ctx.stats.bytes_in(n);
            let had_input = !self.input.is_empty();
            let requests = if had_input {
                append(&mut self.input, &ctx.scratch.read[..n], READ_BUFFER_BYTES);
                self.answer_input(ctx, now)
            } else {
                // The common case: whole requests in one read, answered straight from the scratch buffer.
                let out = if self.output.is_empty() { &mut ctx.scratch.out } else { reserve_output(&mut self.output) };
                let (read, parser) = (&ctx.scratch.read[..n], &mut ctx.scratch.parser);
                let answered = ctx.app.answer_in(ctx.mode, ctx.stats, read, ctx.dates, parser, out, &mut self.deferred);
                self.note_answered(answered, ctx);
                if answered.consumed < n {
                    append(&mut self.input, &ctx.scratch.read[answered.consumed..n], READ_BUFFER_BYTES);
                }
                answered.requests
            };
            ctx.stats.answered_per_read(requests);
            if self.input.is_empty() {
                self.set_deadline(now + ctx.timeouts.idle_secs, CloseReason::IdleTimeout);
            } else if !had_input {
                // A request head has begun: it must be complete within the header timeout (slowloris).
                self.set_deadline(now + ctx.timeouts.header_secs, CloseReason::HeaderTimeout);
            }
            self.flush(ctx, now)?;
            if n < ctx.scratch.read.len() && !read_closed {
                // A short read drained the socket; the next byte raises a new edge.
                self.more_to_read = false;
                return self.answer_buffered(ctx, now);
            }
        }
    }

    /// Answers complete requests left in `input` (held back by backpressure) while the client keeps reading.
    fn answer_buffered(&mut self, ctx: &mut Ctx<'_>, now: u64) -> io::Result<()> {
        while !self.input.is_empty() && !self.closing && !self.backlogged() {
            let before = self.input.len();
            self.answer_input(ctx, now);
            self.flush(ctx, now)?;
            if self.input.len() == before {
                break; // a partial request: it needs more bytes
            }
        }
        Ok(())
    }

    /// Answers requests buffered in `input`, then forgets the bytes it consumed. Returns the requests answered.
    fn answer_input(&mut self, ctx: &mut Ctx<'_>, now: u64) -> usize {
        let out = if self.output.is_empty() { &mut ctx.scratch.out } else { reserve_output(&mut self.output) };
        let (input, parser) = (&self.input, &mut ctx.scratch.parser);
        let answered = ctx.app.answer_in(ctx.mode, ctx.stats, input, ctx.dates, parser, out, &mut self.deferred);
        self.note_answered(answered, ctx);
        self.input.drain(..answered.consumed);
        if answered.requests > 0 && self.input.is_empty() {
            self.set_deadline(now + ctx.timeouts.idle_secs, CloseReason::IdleTimeout);
        }
        answered.requests
    }

    /// Notes a final response, and puts this connection on the worker's list for the next batch when it deferred
    /// requests.
    fn note_answered(&mut self, answered: Answered, ctx: &mut Ctx<'_>) {
        self.closing |= answered.close;
        self.bad_request |= answered.error;
        let deferred = answered.deferred;
        if deferred > 0 {
            self.unsent += deferred;
            if !self.in_waiting {
                self.in_waiting = true;
                ctx.waiting.push(self.index);
            }
        }
    }

    /// Writes pending response bytes until done or `WouldBlock`. Leaves `ctx.scratch.out` empty.
    fn flush(&mut self, ctx: &mut Ctx<'_>, now: u64) -> io::Result<()> {
        let from_scratch = !ctx.scratch.out.is_empty();
        let pending: &[u8] = if from_scratch { &ctx.scratch.out } else { &self.output };
        let mut written = 0;
        while written < pending.len() {
            match self.stream.write(&pending[written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if would_block(&e) => break,
                Err(e) if interrupted(&e) => continue,
                Err(e) => return Err(e),
            }
        }
        ctx.stats.bytes_out(written);
        if from_scratch {
            append(&mut self.output, &ctx.scratch.out[written..], OUTPUT_BYTES_MAX);
            ctx.scratch.out.clear();
        } else {
            self.output.drain(..written);
        }
        if !self.output.is_empty() && written > 0 {
            self.set_deadline(now + SEND_TIMEOUT_SECS, CloseReason::SendTimeout);
        } else if self.output.is_empty() && written > 0 && self.input.is_empty() {
            self.set_deadline(now + ctx.timeouts.idle_secs, CloseReason::IdleTimeout);
        }
        Ok(())
    }

    /// After an event: decide whether the connection lives on, and give back buffer memory it no longer needs.
    fn settle(&mut self, ctx: &mut Ctx<'_>, now: u64) -> io::Result<Outcome> {
        if !self.output.is_empty() || !self.deferred.is_empty() {
            return Ok(Outcome::Keep); // a WRITABLE edge, or the batch reply, will resume
        }
        release_if_empty(&mut self.output);
        release_if_empty(&mut self.input);
        if self.closing {
            let reason = if self.bad_request { CloseReason::BadRequest } else { CloseReason::Done };
            if self.peer_eof {
                return Ok(Outcome::Close(reason));
            }
            // RFC 9112 §9.6: half-close first, then read until the client closes, so request bytes still in
            // flight do not make the kernel answer them with an RST that destroys the response we just sent.
            self.stream.shutdown_write()?;
            self.state = State::Lingering;
            self.set_deadline(now + LINGER_SECS, reason);
            return self.discard_until_eof(ctx);
        }
        if self.peer_eof {
            // Everything the client sent is answered (a partial request can no longer complete).
            return Ok(Outcome::Close(CloseReason::PeerClosed));
        }
        Ok(Outcome::Keep)
    }

    fn discard_until_eof(&mut self, ctx: &mut Ctx<'_>) -> io::Result<Outcome> {
        loop {
            match self.stream.read(&mut ctx.scratch.read) {
                Ok(0) => return Ok(Outcome::Close(self.deadline_reason)),
                Ok(n) => ctx.stats.bytes_in(n),
                Err(e) if would_block(&e) => return Ok(Outcome::Keep),
                Err(e) if interrupted(&e) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn set_deadline(&mut self, deadline: u64, reason: CloseReason) {
        self.deadline = deadline;
        self.deadline_reason = reason;
    }
}

/// Appends like `extend_from_slice`, doubling capacity as usual but never past `max` (which the length never
/// exceeds), so a connection's capacity obeys the same bound as its contents.
fn append(buf: &mut Vec<u8>, bytes: &[u8], max: usize) {
    let needed = buf.len() + bytes.len();
    if needed > buf.capacity() {
        let target = (buf.capacity() * 2).min(max).max(needed);
        buf.reserve_exact(target - buf.len());
    }
    buf.extend_from_slice(bytes);
}

/// Pending output gets its whole bound before more responses are rendered into it, so rendering never doubles
/// its capacity past the bound.
fn reserve_output(output: &mut Vec<u8>) -> &mut Vec<u8> {
    output.reserve_exact(OUTPUT_BYTES_MAX.saturating_sub(output.len()));
    output
}

/// Frees a buffer that grew past what a typical request needs once it is empty again, so an idle connection
/// holds no memory after one burst. Small buffers are kept: a client that splits every request reuses them.
fn release_if_empty(buf: &mut Vec<u8>) {
    if buf.is_empty() && buf.capacity() > CONN_BUFFER_KEEP_BYTES {
        *buf = Vec::new();
    }
}

//! One worker's connection to Redis: connect, handshake (AUTH, SELECT, SCRIPT LOAD), batched script calls
//! in a FIFO matched to replies in order, timeouts, and reconnects with capped exponential backoff and jitter.
//! It never blocks the worker on I/O: the socket is non-blocking and registered in the worker's Poll (host
//! name resolution at connect time is the one blocking call; see `connect`).
//!
//! It knows nothing of HTTP or of connections: a batch of k increments goes in, and `(k, BatchResult)` comes out,
//! in order. The server splits that among the requests it batched.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::ToSocketAddrs;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::resp::{self, error_kind, RedisErrorKind, Reply, Status};
use super::script;
use crate::config::RedisTarget;
use crate::counter::Snapshot;
use crate::limits::{
    REDIS_BACKOFF_FIRST_MILLIS, REDIS_BACKOFF_MAX_MILLIS, REDIS_BATCHES_IN_FLIGHT_MAX, REDIS_READ_BUFFER_BYTES,
    REDIS_TIMEOUT_MILLIS,
};
use crate::log;
use crate::metrics::{RedisFault, Slot};

const _: () = assert!(REDIS_READ_BUFFER_BYTES >= resp::REPLY_BYTES_MAX);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No socket; reconnect at `retry_at`.
    Down {
        retry_at: Instant,
    },
    /// connect(2) in progress since `since`.
    Connecting {
        since: Instant,
    },
    /// Connected; AUTH / SELECT / SCRIPT LOAD replies pending.
    Handshake {
        since: Instant,
    },
    Ready,
}

/// What a reply in the FIFO answers.
#[derive(Clone, Copy, Debug)]
enum Entry {
    Auth,
    Select,
    Load,
    Batch { k: usize, sent: Instant },
}

/// What one batch got from Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchResult {
    /// The batch's k increments hold the consecutive values `first ..= first + k - 1`, all changed at
    /// `last_changed` (Redis TIME, seconds).
    Values { first: u64, last_changed: u64 },
    /// Redis was unreachable, timed out or refused: no value, never a made-up one.
    Failed,
}

/// Why the link went down, for the one log line per state change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Resolve,
    Connect,
    Io,
    Timeout,
    Protocol,
    Auth,
    Loading,
    Busy,
    ReadOnly,
    Closed,
}

impl Fault {
    /// The `kind` label the metrics count this fault under.
    fn label(self) -> RedisFault {
        match self {
            Fault::Resolve => RedisFault::Resolve,
            Fault::Connect => RedisFault::Connect,
            Fault::Io => RedisFault::Io,
            Fault::Timeout => RedisFault::Timeout,
            Fault::Protocol => RedisFault::Protocol,
            Fault::Auth => RedisFault::Auth,
            Fault::Loading => RedisFault::Loading,
            Fault::Busy => RedisFault::Busy,
            Fault::ReadOnly => RedisFault::ReadOnly,
            Fault::Closed => RedisFault::Closed,
        }
    }
}

pub struct Link {
    target: RedisTarget,
    token: Token,
    worker: usize,
    state: State,
    stream: Option<TcpStream>,
    out: Vec<u8>,
    input: Box<[u8]>,
    input_len: usize,
    fifo: VecDeque<Entry>,
    evalsha: Vec<u8>,
    eval: Vec<u8>,
    /// Consecutive failed attempts since the link was last ready.
    failures: u32,
    /// The state change already logged, so a flapping Redis logs once per change, not per attempt.
    logged_down: Option<Fault>,
    /// The link has been ready before: becoming ready again is a reconnect.
    was_ready: bool,
    /// This worker's metrics slot: script calls, latency, faults, link state.
    stats: Slot,
    rng: u64,
}

impl Link {
    pub fn new(target: RedisTarget, token: Token, worker: usize, stats: Slot) -> Link {
        let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos());
        Link {
            target,
            token,
            worker,
            state: State::Down { retry_at: Instant::now() },
            stream: None,
            out: Vec::with_capacity(64 * 1024),
            input: vec![0; REDIS_READ_BUFFER_BYTES].into_boxed_slice(),
            input_len: 0,
            fifo: VecDeque::with_capacity(64),
            evalsha: Vec::new(),
            eval: script::eval_prefix(),
            failures: 0,
            logged_down: None,
            was_ready: false,
            stats,
            rng: (seed as u64) ^ ((worker as u64 + 1) << 32) | 1,
        }
    }

    pub fn is_ready(&self) -> bool {
        self.state == State::Ready
    }

    fn batches_in_flight(&self) -> usize {
        self.fifo.iter().filter(|e| matches!(e, Entry::Batch { .. })).count()
    }

    /// Ready and with room for another batch in flight.
    pub fn can_send(&self) -> bool {
        self.is_ready() && self.batches_in_flight() < REDIS_BATCHES_IN_FLIGHT_MAX
    }

    /// How long the worker may sleep before `maintain` has something to do.
    pub fn next_wakeup(&self, now: Instant) -> Option<Duration> {
        let timeout = Duration::from_millis(REDIS_TIMEOUT_MILLIS);
        let at = match self.state {
            State::Down { retry_at } => retry_at,
            State::Connecting { since } | State::Handshake { since } => since + timeout,
            State::Ready => match self.fifo.front() {
                Some(Entry::Batch { sent, .. }) => *sent + timeout,
                _ => return None,
            },
        };
        Some(at.saturating_duration_since(now))
    }

    /// Sends one script call for `k` deferred requests. The caller checked `can_send`.
    pub fn send_batch(&mut self, k: usize, now: Instant, registry: &Registry, done: &mut Vec<(usize, BatchResult)>) {
        self.out.extend_from_slice(&self.evalsha);
        script::finish_batch(&mut self.out, k);
        self.fifo.push_back(Entry::Batch { k, sent: now });
        self.stats.redis_call(k);
        if let Err(fault) = self.write() {
            self.down(fault, now, registry, done);
        }
    }

    /// Timers: reconnect when the backoff expired; fail everything when a round trip or connect timed out.
    pub fn maintain(&mut self, now: Instant, registry: &Registry, done: &mut Vec<(usize, BatchResult)>) {
        let expired = self.next_wakeup(now).is_some_and(|d| d.is_zero());
        match self.state {
            State::Down { .. } if expired => self.connect(now, registry, done),
            State::Connecting { .. } | State::Handshake { .. } | State::Ready if expired => {
                self.down(Fault::Timeout, now, registry, done)
            }
            _ => {}
        }
    }

    /// Resolves the host and starts a non-blocking connect. Resolution uses getaddrinfo, which blocks: it runs
    /// only here, at (re)connect time and never per request, and resolves Kubernetes Service names from the
    /// cluster DNS in about a millisecond. Possible optimization (not needed yet): resolve on a helper thread.
    fn connect(&mut self, now: Instant, registry: &Registry, done: &mut Vec<(usize, BatchResult)>) {
        let addr = match (self.target.host.as_str(), self.target.port).to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(addr)) => addr,
            _ => return self.down(Fault::Resolve, now, registry, done),
        };
        let mut stream = match TcpStream::connect(addr) {
            Ok(s) => s,
            Err(_) => return self.down(Fault::Connect, now, registry, done),
        };
        if registry.register(&mut stream, self.token, Interest::READABLE | Interest::WRITABLE).is_err() {
            return self.down(Fault::Connect, now, registry, done);
        }
        let _ = stream.set_nodelay(true);
        self.stream = Some(stream);
        self.state = State::Connecting { since: now };
    }

    /// The handshake, pipelined in one write: AUTH, SELECT, SCRIPT LOAD.
    fn start_handshake(&mut self, now: Instant) {
        self.out.clear();
        if let Some(password) = &self.target.password {
            match &self.target.username {
                Some(user) => script::command(&mut self.out, &[b"AUTH", user.as_bytes(), password.as_bytes()]),
                None => script::command(&mut self.out, &[b"AUTH", password.as_bytes()]),
            }
            self.fifo.push_back(Entry::Auth);
        }
        if self.target.db != 0 {
            script::command(&mut self.out, &[b"SELECT", self.target.db.to_string().as_bytes()]);
            self.fifo.push_back(Entry::Select);
        }
        script::command(&mut self.out, &[b"SCRIPT", b"LOAD", script::SCRIPT.as_bytes()]);
        self.fifo.push_back(Entry::Load);
        self.state = State::Handshake { since: now };
    }

    /// A readiness event on the link's socket. Completed batches are appended to `done`, in order.
    pub fn on_event(&mut self, now: Instant, registry: &Registry, done: &mut Vec<(usize, BatchResult)>) {
        if let Err(fault) = self.progress(now, done) {
            self.down(fault, now, registry, done);
        }
    }

    fn progress(&mut self, now: Instant, done: &mut Vec<(usize, BatchResult)>) -> Result<(), Fault> {
        if let State::Connecting { .. } = self.state {
            let Some(stream) = &self.stream else { return Err(Fault::Connect) };
            match stream.take_error() {
                Ok(None) => {}
                _ => return Err(Fault::Connect),
            }
            match stream.peer_addr() {
                Ok(_) => self.start_handshake(now),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()), // still connecting
                Err(_) => return Err(Fault::Connect),
            }
        }
        if matches!(self.state, State::Down { .. }) {
            return Ok(());
        }
        self.write()?;
        self.read(now, done)?;
        self.write()
    }

    fn write(&mut self) -> Result<(), Fault> {
        let Some(stream) = self.stream.as_mut() else { return Ok(()) };
        if matches!(self.state, State::Connecting { .. }) {
            return Ok(());
        }
        let mut written = 0;
        while written < self.out.len() {
            match stream.write(&self.out[written..]) {
                Ok(0) => return Err(Fault::Io),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Err(Fault::Io),
            }
        }
        self.out.drain(..written);
        Ok(())
    }

    fn read(&mut self, now: Instant, done: &mut Vec<(usize, BatchResult)>) -> Result<(), Fault> {
        loop {
            let Some(stream) = self.stream.as_mut() else { return Ok(()) };
            if self.input_len == self.input.len() {
                return Err(Fault::Protocol); // cannot happen with replies <= REPLY_BYTES_MAX; never spin
            }
            match stream.read(&mut self.input[self.input_len..]) {
                Ok(0) => return Err(Fault::Closed),
                Ok(n) => self.input_len += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Err(Fault::Io),
            }
            let mut at = 0;
            loop {
                let consumed = match resp::parse(&self.input[at..self.input_len]) {
                    Ok(Status::Complete { reply, consumed }) => {
                        let reply = own(reply);
                        self.on_reply(reply, now, done)?;
                        consumed
                    }
                    Ok(Status::Partial) => break,
                    Err(_) => return Err(Fault::Protocol),
                };
                at += consumed;
            }
            self.input.copy_within(at..self.input_len, 0);
            self.input_len -= at;
        }
    }

    fn on_reply(&mut self, reply: Owned, now: Instant, done: &mut Vec<(usize, BatchResult)>) -> Result<(), Fault> {
        let Some(entry) = self.fifo.pop_front() else { return Err(Fault::Protocol) };
        match (entry, reply) {
            (Entry::Auth | Entry::Select, Owned::Ok) => Ok(()),
            (Entry::Auth, Owned::Error(_)) => Err(Fault::Auth),
            (Entry::Load, Owned::Sha(sha, len)) => {
                self.evalsha = script::evalsha_prefix(&sha[..len]);
                if matches!(self.state, State::Handshake { .. }) {
                    self.state = State::Ready;
                    self.stats.redis_link(true, self.was_ready);
                    self.was_ready = true;
                    log::info(
                        "redis connected",
                        &[("worker", &self.worker), ("redis", &self.target), ("failed_attempts", &self.failures)],
                    );
                    self.failures = 0;
                    self.logged_down = None;
                }
                Ok(())
            }
            (Entry::Batch { k, sent }, Owned::Pair(value, seconds)) => {
                self.stats.redis_reply(now.saturating_duration_since(sent));
                let (Ok(last), Ok(seconds)) = (u64::try_from(value), u64::try_from(seconds)) else {
                    return Err(Fault::Protocol);
                };
                if last < k as u64 {
                    return Err(Fault::Protocol);
                }
                self.stats.redis_value(Snapshot { counter: last, last_changed: seconds });
                done.push((k, BatchResult::Values { first: last + 1 - k as u64, last_changed: seconds }));
                Ok(())
            }
            (Entry::Batch { k, sent }, Owned::Error(kind)) => match kind {
                RedisErrorKind::NoScript => {
                    // The script cache is empty (restart, failover, SCRIPT FLUSH). Every EVALSHA already sent
                    // behind this one fails the same way, so re-sending each as EVAL at the back keeps the
                    // FIFO in step with Redis' order; SCRIPT LOAD puts the cache back for later batches.
                    self.stats.redis_reply(now.saturating_duration_since(sent));
                    self.out.extend_from_slice(&self.eval);
                    script::finish_batch(&mut self.out, k);
                    self.fifo.push_back(Entry::Batch { k, sent: now });
                    self.stats.redis_call(k);
                    if !self.fifo.iter().any(|e| matches!(e, Entry::Load)) {
                        script::command(&mut self.out, &[b"SCRIPT", b"LOAD", script::SCRIPT.as_bytes()]);
                        self.fifo.push_back(Entry::Load);
                    }
                    Ok(())
                }
                RedisErrorKind::Loading => self.fail_then(k, Fault::Loading, done),
                RedisErrorKind::Busy => self.fail_then(k, Fault::Busy, done),
                RedisErrorKind::ReadOnly => self.fail_then(k, Fault::ReadOnly, done),
                RedisErrorKind::NoAuth | RedisErrorKind::WrongPass => self.fail_then(k, Fault::Auth, done),
                RedisErrorKind::Other => self.fail_then(k, Fault::Protocol, done),
            },
            (_, Owned::Error(RedisErrorKind::Loading)) => Err(Fault::Loading),
            (_, Owned::Error(RedisErrorKind::NoAuth | RedisErrorKind::WrongPass)) => Err(Fault::Auth),
            _ => Err(Fault::Protocol),
        }
    }

    fn fail_then(&mut self, k: usize, fault: Fault, done: &mut Vec<(usize, BatchResult)>) -> Result<(), Fault> {
        done.push((k, BatchResult::Failed));
        Err(fault)
    }

    /// Fails every batch in flight (503, never a guessed value), drops the socket, and schedules a reconnect.
    fn down(&mut self, fault: Fault, now: Instant, registry: &Registry, done: &mut Vec<(usize, BatchResult)>) {
        for entry in self.fifo.drain(..) {
            if let Entry::Batch { k, .. } = entry {
                done.push((k, BatchResult::Failed));
            }
        }
        if let Some(mut stream) = self.stream.take() {
            let _ = registry.deregister(&mut stream);
        }
        self.out.clear();
        self.input_len = 0;
        self.stats.redis_fault(fault.label());
        self.stats.redis_link(false, false);
        if self.logged_down != Some(fault) {
            let level = if fault == Fault::Auth { log::error } else { log::warn };
            let message = if fault == Fault::Auth {
                "redis refused our credentials (check REDIS_PASSWORD / the URL)"
            } else {
                "redis unavailable"
            };
            level(
                message,
                &[
                    ("worker", &self.worker),
                    ("redis", &self.target),
                    ("fault", &format_args!("{fault:?}")),
                    ("failed_attempts", &self.failures),
                ],
            );
            self.logged_down = Some(fault);
        }
        self.failures = self.failures.saturating_add(1);
        self.state = State::Down { retry_at: now + self.backoff() };
    }

    /// Capped exponential backoff with jitter in [50%, 100%] of the step, so workers and pods that lost Redis
    /// together do not reconnect in lockstep.
    fn backoff(&mut self) -> Duration {
        let step = REDIS_BACKOFF_FIRST_MILLIS.saturating_mul(1 << self.failures.min(16)).min(REDIS_BACKOFF_MAX_MILLIS);
        // xorshift64: plenty for jitter.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        Duration::from_millis(step / 2 + self.rng % (step / 2 + 1))
    }
}

/// A reply reduced to what the link acts on, so it no longer borrows the read buffer.
enum Owned {
    Ok,
    Sha([u8; 64], usize),
    Pair(i64, i64),
    Error(RedisErrorKind),
    Other,
}

fn own(reply: Reply<'_>) -> Owned {
    match reply {
        Reply::Simple(_) => Owned::Ok,
        Reply::Error(message) => Owned::Error(error_kind(message)),
        Reply::Bulk(Some(sha)) if sha.len() <= 64 => {
            let mut buf = [0u8; 64];
            buf[..sha.len()].copy_from_slice(sha);
            Owned::Sha(buf, sha.len())
        }
        Reply::Array(items) => match items.as_pair() {
            Some((a, b)) => Owned::Pair(a, b),
            None => Owned::Other,
        },
        _ => Owned::Other,
    }
}

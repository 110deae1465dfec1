//! One worker's connection to Redis: connect, handshake (AUTH, SELECT, SCRIPT LOAD), batched script calls
//! in a FIFO matched to replies in order, timeouts, and reconnects with capped exponential backoff and jitter.
//! It never blocks the worker on I/O: the socket is non-blocking and registered in the worker's Poll, TLS is
//! rustls over it (`tls.rs`), host names are resolved on a helper thread (`resolve.rs`), and cluster redirects
//! pick the node (`cluster.rs`).
//!
//! It knows nothing of HTTP or of connections: a batch of k increments goes in, and `(k, BatchResult)` comes out,
//! in order. The server splits that among the requests it batched.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::cluster::{self, Cluster, Redirect, Verdict};
use super::resolve::Resolver;
use super::resp::{self, error_kind, RedisErrorKind, Reply, Status};
use super::script;
use super::tls::{self, Stream};
use crate::config::RedisTarget;
use crate::counter::Snapshot;
use crate::limits::{
    REDIS_BACKOFF_FIRST_MILLIS, REDIS_BACKOFF_MAX_MILLIS, REDIS_BATCHES_IN_FLIGHT_MAX, REDIS_READ_BUFFER_BYTES,
    REDIS_RESOLVE_POLL_MILLIS, REDIS_RESOLVE_TIMEOUT_MILLIS, REDIS_TIMEOUT_MILLIS,
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
    /// Waiting for the helper thread to resolve the host name, since `since`.
    Resolving {
        since: Instant,
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
    /// Redis Cluster: the one-shot ASKING before a batch an `-ASK` sent here.
    Asking,
    Batch {
        k: usize,
        sent: Instant,
    },
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
    /// TLS setup, handshake, certificate or record failure (`rediss://`); the log line names the cause.
    Tls,
    /// MASTERDOWN: a replica that lost its primary (replica-serve-stale-data no).
    MasterDown,
    /// Redis Cluster: TRYAGAIN, CLUSTERDOWN, or more redirects in a row than `REDIS_REDIRECTS_MAX`.
    Cluster,
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
            Fault::Tls => RedisFault::Tls,
            Fault::MasterDown => RedisFault::MasterDown,
            Fault::Cluster => RedisFault::Cluster,
        }
    }
}

pub struct Link {
    target: RedisTarget,
    token: Token,
    worker: usize,
    state: State,
    stream: Option<Stream>,
    /// `rediss://`: the verified client configuration, built at the first connect and again after a TLS fault.
    tls_config: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// Why the last TLS fault happened, for its log line.
    cause: Option<String>,
    /// Redis Cluster: the node this link talks to and the batches a redirect sent elsewhere.
    cluster: Cluster,
    /// The batches re-sent on this connection follow an `-ASK`: each goes behind ASKING.
    asking: bool,
    /// Resolves host names off the loop; started at the first connect to a name (never for an IP literal).
    resolver: Option<Resolver>,
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
            tls_config: None,
            cause: None,
            cluster: Cluster::new(),
            asking: false,
            resolver: None,
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

    /// Ready, or switching to the node a cluster redirect named (the waiting batches go there first).
    pub fn is_ready(&self) -> bool {
        self.state == State::Ready || self.cluster.waiting() > 0
    }

    fn batches_in_flight(&self) -> usize {
        self.fifo.iter().filter(|e| matches!(e, Entry::Batch { .. })).count()
    }

    /// Ready and with room for another batch in flight.
    pub fn can_send(&self) -> bool {
        self.state == State::Ready
            && !self.cluster.is_pending()
            && self.cluster.waiting() == 0
            && self.batches_in_flight() < REDIS_BATCHES_IN_FLIGHT_MAX
    }

    /// How long the worker may sleep before `maintain` has something to do.
    pub fn next_wakeup(&self, now: Instant) -> Option<Duration> {
        let timeout = Duration::from_millis(REDIS_TIMEOUT_MILLIS);
        let at = match self.state {
            State::Down { retry_at } => retry_at,
            State::Resolving { since } => {
                (now + Duration::from_millis(REDIS_RESOLVE_POLL_MILLIS)).min(self.resolve_by(since))
            }
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
            State::Resolving { since } => match self.resolver.as_mut().and_then(Resolver::answer) {
                Some(Some(addr)) => self.connect_to(addr, now, registry, done),
                Some(None) => self.down(Fault::Resolve, now, registry, done),
                None if now >= self.resolve_by(since) => self.down(Fault::Resolve, now, registry, done),
                None => {}
            },
            State::Handshake { .. } if expired && self.stream.as_ref().is_some_and(Stream::is_handshaking) => {
                // A plain Redis reads a ClientHello as an unfinished inline command and never answers.
                let why = "no TLS handshake reply in time (does the server speak TLS on this port?)";
                self.cause = Some(why.to_string());
                self.down(Fault::Tls, now, registry, done)
            }
            State::Connecting { .. } | State::Handshake { .. } | State::Ready if expired => {
                self.down(Fault::Timeout, now, registry, done)
            }
            _ => {}
        }
    }

    /// When a resolution started at `since` counts as failed: the resolve limit, or the round-trip limit when
    /// redirected batches wait on it (their requests are waiting, as on any round trip).
    fn resolve_by(&self, since: Instant) -> Instant {
        let limit = if self.cluster.waiting() > 0 { REDIS_TIMEOUT_MILLIS } else { REDIS_RESOLVE_TIMEOUT_MILLIS };
        since + Duration::from_millis(limit)
    }

    /// Starts a reconnect: an IP literal is connected at once; a host name is resolved again on the helper
    /// thread, every time (never an address cached across reconnects), and `maintain` connects once it answers.
    fn connect(&mut self, now: Instant, registry: &Registry, done: &mut Vec<(usize, BatchResult)>) {
        let (host, port) = self.cluster.endpoint(&self.target);
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.connect_to(SocketAddr::new(ip, port), now, registry, done);
        }
        if self.resolver.is_none() {
            self.resolver = Resolver::start(self.worker).ok();
        }
        let (host, port) = self.cluster.endpoint(&self.target);
        if self.resolver.as_mut().is_some_and(|resolver| resolver.ask(host, port)) {
            self.state = State::Resolving { since: now };
        } else {
            self.resolver = None; // the thread could not start or is gone: a new one next time
            self.down(Fault::Resolve, now, registry, done);
        }
    }

    /// Starts a non-blocking connect to `addr`, TLS on top for `rediss://`.
    fn connect_to(
        &mut self,
        addr: SocketAddr,
        now: Instant,
        registry: &Registry,
        done: &mut Vec<(usize, BatchResult)>,
    ) {
        let tcp = match TcpStream::connect(addr) {
            Ok(s) => s,
            Err(_) => return self.down(Fault::Connect, now, registry, done),
        };
        let mut stream = match self.wrap(tcp) {
            Ok(stream) => stream,
            Err(cause) => {
                self.cause = Some(cause);
                return self.down(Fault::Tls, now, registry, done);
            }
        };
        if registry.register(stream.tcp(), self.token, Interest::READABLE | Interest::WRITABLE).is_err() {
            return self.down(Fault::Connect, now, registry, done);
        }
        let _ = stream.tcp().set_nodelay(true);
        self.stream = Some(stream);
        self.state = State::Connecting { since: now };
    }

    /// Plain TCP for `redis://`; for `rediss://` a TLS session verified against the URL's host name.
    fn wrap(&mut self, tcp: TcpStream) -> Result<Stream, String> {
        let Some(files) = &self.target.tls else { return Ok(Stream::plain(tcp)) };
        let config = match &self.tls_config {
            Some(config) => config.clone(),
            None => self.tls_config.insert(tls::client_config(files)?).clone(),
        };
        Stream::tls(tcp, config, tls::server_name(self.cluster.tls_name(&self.target))?)
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
        } else if self.cluster.should_switch(self.batches_in_flight()) {
            self.switch_node(now, registry, done);
        }
    }

    /// Redis Cluster: every batch in flight has answered and some were redirected. Leave this node (nothing is
    /// pending on it) and connect to the one named; the redirected batches go out once it is ready.
    fn switch_node(&mut self, now: Instant, registry: &Registry, done: &mut Vec<(usize, BatchResult)>) {
        if let Some(mut stream) = self.stream.take() {
            let _ = registry.deregister(stream.tcp());
        }
        self.out.clear();
        self.input_len = 0;
        self.fifo.clear();
        self.asking = self.cluster.switch();
        self.connect(now, registry, done);
    }

    /// The connection is ready: batches a redirect sent here go first, ASKING before each after an `-ASK`.
    fn resend_redirected(&mut self, now: Instant) {
        while let Some(k) = self.cluster.take_resend() {
            if self.asking {
                script::command(&mut self.out, &[b"ASKING"]);
                self.fifo.push_back(Entry::Asking);
            }
            self.out.extend_from_slice(&self.evalsha);
            script::finish_batch(&mut self.out, k);
            self.fifo.push_back(Entry::Batch { k, sent: now });
            self.stats.redis_call(k);
        }
        self.asking = false;
    }

    fn progress(&mut self, now: Instant, done: &mut Vec<(usize, BatchResult)>) -> Result<(), Fault> {
        if let State::Connecting { .. } = self.state {
            let Some(stream) = self.stream.as_mut() else { return Err(Fault::Connect) };
            match stream.tcp().take_error() {
                Ok(None) => {}
                _ => return Err(Fault::Connect),
            }
            match stream.tcp().peer_addr() {
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
        // TLS: ciphertext left from a write that hit WouldBlock goes first (this is its WRITABLE edge).
        stream.flush_pending().map_err(|e| self.io_fault(&e))?;
        let Some(stream) = self.stream.as_mut() else { return Ok(()) };
        let mut written = 0;
        while written < self.out.len() {
            match stream.write(&self.out[written..]) {
                Ok(0) => return Err(Fault::Io),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_fault(&e)),
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
                Err(e) => return Err(self.io_fault(&e)),
            }
            let mut at = 0;
            loop {
                let consumed = match resp::parse(&self.input[at..self.input_len]) {
                    Ok(Status::Complete { reply, consumed }) => {
                        let reply = own(reply, self.cluster.endpoint(&self.target).0);
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
            (Entry::Auth | Entry::Select | Entry::Asking, Owned::Ok) => Ok(()),
            (Entry::Auth, Owned::Error(_)) => Err(Fault::Auth),
            (Entry::Load, Owned::Sha(sha, len)) => {
                self.evalsha = script::evalsha_prefix(&sha[..len]);
                if matches!(self.state, State::Handshake { .. }) {
                    self.became_ready(now);
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
                // Batches redirected before this one ran here after all: they answer first, 503, in order.
                for waited in self.cluster.abandon() {
                    done.push((waited, BatchResult::Failed));
                }
                self.cluster.served();
                self.stats.redis_value(Snapshot { counter: last, last_changed: seconds });
                done.push((k, BatchResult::Values { first: last + 1 - k as u64, last_changed: seconds }));
                Ok(())
            }
            (Entry::Batch { k, sent }, Owned::Redirect(redirect)) => {
                // Not run, so safe to send again, on the node named.
                self.stats.redis_reply(now.saturating_duration_since(sent));
                match self.cluster.redirected(k, redirect) {
                    Verdict::Wait => Ok(()),
                    Verdict::TooMany => Err(Fault::Cluster),
                }
            }
            (Entry::Batch { k, sent }, Owned::Error(kind)) => self.on_batch_error(k, sent, kind, now, done),
            (_, Owned::Error(RedisErrorKind::Loading)) => Err(Fault::Loading),
            (_, Owned::Error(RedisErrorKind::NoAuth | RedisErrorKind::WrongPass)) => Err(Fault::Auth),
            _ => Err(Fault::Protocol),
        }
    }

    /// The handshake's last reply arrived: the link serves, and batches a redirect sent here go out first.
    fn became_ready(&mut self, now: Instant) {
        // A cluster redirect's node switch is routine, not news: neither a reconnect nor a log line.
        let switched = self.cluster.waiting() > 0 && self.failures == 0;
        self.state = State::Ready;
        self.stats.redis_link(true, self.was_ready && !switched);
        self.was_ready = true;
        if !switched {
            log::info(
                "redis connected",
                &[("worker", &self.worker), ("redis", &self.target), ("failed_attempts", &self.failures)],
            );
        }
        self.failures = 0;
        self.logged_down = None;
        self.resend_redirected(now);
    }

    /// An error reply to a script call.
    fn on_batch_error(
        &mut self,
        k: usize,
        sent: Instant,
        kind: RedisErrorKind,
        now: Instant,
        done: &mut Vec<(usize, BatchResult)>,
    ) -> Result<(), Fault> {
        match kind {
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
            RedisErrorKind::MasterDown => self.fail_then(k, Fault::MasterDown, done),
            RedisErrorKind::TryAgain | RedisErrorKind::ClusterDown => self.fail_then(k, Fault::Cluster, done),
            // A redirect whose text did not parse: answered like any unexpected error.
            RedisErrorKind::Moved | RedisErrorKind::Ask => self.fail_then(k, Fault::Protocol, done),
            RedisErrorKind::NoAuth | RedisErrorKind::WrongPass => self.fail_then(k, Fault::Auth, done),
            RedisErrorKind::Other => self.fail_then(k, Fault::Protocol, done),
        }
    }

    /// An I/O error is a TLS fault when rustls raised it; its cause is kept for the log line.
    fn io_fault(&mut self, e: &io::Error) -> Fault {
        match tls::tls_error(e) {
            Some(tls_error) => {
                self.cause = Some(tls::describe(tls_error, self.cluster.tls_name(&self.target)));
                Fault::Tls
            }
            None => Fault::Io,
        }
    }

    fn fail_then(&mut self, k: usize, fault: Fault, done: &mut Vec<(usize, BatchResult)>) -> Result<(), Fault> {
        // Batches redirected before this one are older: they answer first.
        for waited in self.cluster.abandon() {
            done.push((waited, BatchResult::Failed));
        }
        done.push((k, BatchResult::Failed));
        Err(fault)
    }

    /// Fails every batch in flight (503, never a guessed value), drops the socket, and schedules a reconnect.
    fn down(&mut self, fault: Fault, now: Instant, registry: &Registry, done: &mut Vec<(usize, BatchResult)>) {
        // Redirected batches are older than anything still in the FIFO; the next connect starts from the URL.
        for k in self.cluster.reset() {
            done.push((k, BatchResult::Failed));
        }
        self.asking = false;
        for entry in self.fifo.drain(..) {
            if let Entry::Batch { k, .. } = entry {
                done.push((k, BatchResult::Failed));
            }
        }
        if let Some(mut stream) = self.stream.take() {
            let _ = registry.deregister(stream.tcp());
        }
        if fault == Fault::Tls {
            self.tls_config = None; // read the CA and client files again: a fix or a rotation is picked up
        }
        self.out.clear();
        self.input_len = 0;
        self.stats.redis_fault(fault.label());
        self.stats.redis_link(false, false);
        let cause = self.cause.take();
        if self.logged_down != Some(fault) {
            let level = if matches!(fault, Fault::Auth | Fault::Tls) { log::error } else { log::warn };
            let message = match fault {
                Fault::Auth => "redis refused our credentials (check REDIS_PASSWORD / the URL)",
                Fault::Tls => "redis TLS failed",
                _ => "redis unavailable",
            };
            let fields: [(&str, &dyn std::fmt::Display); 4] = [
                ("worker", &self.worker),
                ("redis", &self.target),
                ("fault", &format_args!("{fault:?}")),
                ("failed_attempts", &self.failures),
            ];
            match &cause {
                Some(cause) => level(message, &[&fields[..], &[("cause", cause as &dyn std::fmt::Display)]].concat()),
                None => level(message, &fields),
            }
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
    /// `-MOVED` / `-ASK` with the node parsed (allocates: redirects are rare, never per request).
    Redirect(Redirect),
    Other,
}

/// `host` is the node the reply came from, for a redirect that names no host.
fn own(reply: Reply<'_>, host: &str) -> Owned {
    match reply {
        Reply::Simple(_) => Owned::Ok,
        Reply::Error(message) => match error_kind(message) {
            RedisErrorKind::Moved | RedisErrorKind::Ask => match cluster::parse_redirect(message, host) {
                Some(redirect) => Owned::Redirect(redirect),
                None => Owned::Error(RedisErrorKind::Other),
            },
            kind => Owned::Error(kind),
        },
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

//! One worker's connection to Redis: find the primary (a Sentinel's answer, or the URL's host), connect,
//! handshake (AUTH, SELECT, ROLE with Sentinels, SCRIPT LOAD), batched script calls each followed by `WAIT` in a
//! FIFO matched to replies in order, the tripwire, timeouts, and reconnects with capped exponential backoff and
//! jitter. The connect path is: resolve the target → connect → handshake → ready. It never blocks the worker on
//! I/O: every socket is non-blocking and registered in the worker's Poll, TLS is rustls over the primary's
//! socket (`tls.rs`), the URL's host name is resolved on a helper thread (`resolve.rs`; Sentinels' names are
//! still resolved inline, see `ask_next_sentinel`), and cluster redirects pick the node (`cluster.rs`).
//!
//! It knows nothing of HTTP or of connections: a batch of k increments goes in, and `(k, BatchResult)` comes out,
//! in order. The server splits that among the requests it batched.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::cluster::{self, Cluster, Redirect, Verdict};
use super::resolve::Resolver;
use super::resp::{self, error_kind, Listing, RedisErrorKind, Reply, Status};
use super::script;
use super::sentinel::{self, Answer, Sentinels};
use super::tls::{self, Stream};
use crate::config::RedisTarget;
use crate::counter::Snapshot;
use crate::limits::{
    REDIS_BACKOFF_FIRST_MILLIS, REDIS_BACKOFF_MAX_MILLIS, REDIS_BATCHES_IN_FLIGHT_MAX, REDIS_READ_BUFFER_BYTES,
    REDIS_REDISCOVER_MAX_MILLIS, REDIS_RESOLVE_POLL_MILLIS, REDIS_RESOLVE_TIMEOUT_MILLIS,
    REDIS_SENTINEL_TIMEOUT_MILLIS, REDIS_TIMEOUT_MILLIS, REDIS_WAIT_TIMEOUT_MILLIS, SENTINELS_MAX,
};
use crate::log;
use crate::metrics::{RedisFault, SentinelFault, Slot};

const _: () = assert!(REDIS_READ_BUFFER_BYTES >= resp::REPLY_BYTES_MAX);
const _: () = assert!(REDIS_READ_BUFFER_BYTES >= resp::LISTING_BYTES_MAX);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No socket; reconnect at `retry_at`.
    Down {
        retry_at: Instant,
    },
    /// Sentinel mode: asking Sentinel `index` (in the configured list) for the primary since `since`;
    /// `connected` once its connect(2) finished and the question went out.
    Asking {
        index: usize,
        since: Instant,
        connected: bool,
    },
    /// Waiting for the helper thread to resolve the URL's (or a redirect's) host name, since `since`.
    Resolving {
        since: Instant,
    },
    /// connect(2) to the primary in progress since `since`.
    Connecting {
        since: Instant,
    },
    /// Connected; AUTH / SELECT / ROLE / SCRIPT LOAD replies pending.
    Handshake {
        since: Instant,
    },
    Ready,
}

/// What a reply in the FIFO answers.
#[derive(Clone, Copy, Debug)]
enum Entry {
    SentinelAuth,
    SentinelAsk,
    Auth,
    Select,
    Role,
    Load,
    /// Redis Cluster: the one-shot ASKING before a batch an `-ASK` sent here.
    Asking,
    Batch {
        k: usize,
        sent: Instant,
    },
    /// The `WAIT` written right behind a batch: its reply decides whether the batch's values are handed out.
    Wait {
        sent: Instant,
    },
}

/// What one batch got from Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchResult {
    /// The batch's k increments hold the consecutive values `first ..= first + k - 1`, all changed at
    /// `last_changed` (Redis TIME, seconds).
    Values { first: u64, last_changed: u64 },
    /// Redis was unreachable, timed out, refused, or the values could not be handed out (a WAIT shortfall,
    /// the tripwire): no value, never a made-up or repeated one.
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
    /// `ROLE` did not say master: the Sentinel's answer is stale (a failover is under way).
    NotPrimary,
    /// `NOREPLICAS`: the primary has fewer replicas than `min-replicas-to-write`.
    NoReplicas,
    /// `MASTERDOWN`: a replica that lost its primary.
    MasterDown,
    /// No Sentinel named a primary this round (each one's own fault is counted per Sentinel).
    NoSentinel,
    /// A Sentinel refused our credentials (REDIS_SENTINEL_PASSWORD).
    SentinelAuth,
    /// A Sentinel does not monitor a primary under `--redis-master-name`.
    UnknownMaster,
    /// TLS setup, handshake, certificate or record failure (`rediss://`); the log line names the cause.
    Tls,
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
            Fault::NotPrimary => RedisFault::NotPrimary,
            Fault::NoReplicas => RedisFault::NoReplicas,
            Fault::MasterDown => RedisFault::MasterDown,
            Fault::NoSentinel => RedisFault::NoSentinel,
            Fault::SentinelAuth => RedisFault::SentinelAuth,
            Fault::UnknownMaster => RedisFault::UnknownMaster,
            Fault::Tls => RedisFault::Tls,
            Fault::Cluster => RedisFault::Cluster,
        }
    }

    /// The `kind` label of one Sentinel's failure to name the primary.
    fn sentinel_label(self) -> SentinelFault {
        match self {
            Fault::Resolve | Fault::Connect => SentinelFault::Connect,
            Fault::Timeout => SentinelFault::Timeout,
            Fault::SentinelAuth | Fault::Auth => SentinelFault::Auth,
            Fault::UnknownMaster => SentinelFault::UnknownMaster,
            _ => SentinelFault::Other,
        }
    }

    /// Means "this node is not the primary (any more)": find the primary again soon, not at the backoff's pace.
    fn not_primary(self) -> bool {
        matches!(self, Fault::NotPrimary | Fault::ReadOnly | Fault::NoReplicas | Fault::MasterDown | Fault::Loading)
    }
}

pub struct Link {
    target: RedisTarget,
    token: Token,
    worker: usize,
    state: State,
    /// Sentinel mode when not empty.
    sentinels: Sentinels,
    /// The primary a Sentinel named this round, picked up once the read loop is done with the Sentinel socket.
    found: Option<SocketAddr>,
    /// The address the link connects (or is connected) to, and the one it was last ready on.
    primary: Option<SocketAddr>,
    last_ready_on: Option<SocketAddr>,
    /// The last fault logged per Sentinel, so a dead Sentinel is logged once per change, not per discovery.
    sentinel_logged: [Option<Fault>; SENTINELS_MAX],
    /// `WAIT <n> <timeout>`, built once; empty when `wait_replicas` is 0.
    wait: Vec<u8>,
    /// A batch's values waiting for its `WAIT` reply: (k, first, last_changed).
    held: Option<(usize, u64, u64)>,
    /// The last WAIT came back short: logged once when it starts and once when it ends.
    short: bool,
    /// The tripwire: the highest value this worker handed out. A batch at or below it is never shown.
    highest: u64,
    stream: Option<Stream>,
    /// `rediss://`: the verified client configuration, built at the first connect and again after a TLS fault.
    tls_config: Option<crate::sync::Arc<rustls::ClientConfig>>,
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
        let sentinels =
            Sentinels::new(target.sentinels.clone(), &target.master_name, target.sentinel_password.as_deref());
        let mut wait = Vec::new();
        if target.wait_replicas > 0 {
            let n = itoa::Buffer::new().format(target.wait_replicas).as_bytes().to_vec();
            let timeout = itoa::Buffer::new().format(REDIS_WAIT_TIMEOUT_MILLIS).as_bytes().to_vec();
            script::command(&mut wait, &[b"WAIT", &n, &timeout]);
        }
        Link {
            target,
            token,
            worker,
            state: State::Down { retry_at: Instant::now() },
            sentinels,
            found: None,
            primary: None,
            last_ready_on: None,
            sentinel_logged: [None; SENTINELS_MAX],
            wait,
            held: None,
            short: false,
            highest: 0,
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

    /// Ready and with room for another batch in flight; none while a redirect moves the link.
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
            State::Asking { since, .. } => since + Duration::from_millis(REDIS_SENTINEL_TIMEOUT_MILLIS),
            State::Resolving { since } => {
                (now + Duration::from_millis(REDIS_RESOLVE_POLL_MILLIS)).min(self.resolve_by(since))
            }
            State::Connecting { since } | State::Handshake { since } => since + timeout,
            State::Ready => match self.fifo.front() {
                Some(Entry::Batch { sent, .. } | Entry::Wait { sent }) => *sent + timeout,
                _ => return None,
            },
        };
        Some(at.saturating_duration_since(now))
    }

    /// Sends one script call for `k` deferred requests. The caller checked `can_send`.
    pub fn send_batch(&mut self, k: usize, now: Instant, registry: &Registry, done: &mut Vec<(usize, BatchResult)>) {
        self.out.extend_from_slice(&self.evalsha);
        script::finish_batch(&mut self.out, k);
        self.push_batch(k, now);
        if let Err(fault) = self.write() {
            self.down(fault, now, registry, done);
        }
    }

    /// Queues a batch already in `out`, and its `WAIT` in the same write: the acknowledgement covers exactly the
    /// writes this connection made up to and including the batch.
    fn push_batch(&mut self, k: usize, now: Instant) {
        self.fifo.push_back(Entry::Batch { k, sent: now });
        if !self.wait.is_empty() {
            self.out.extend_from_slice(&self.wait);
            self.fifo.push_back(Entry::Wait { sent: now });
        }
        self.stats.redis_call(k);
    }

    /// Timers: reconnect when the backoff expired; fail everything when a round trip or connect timed out.
    pub fn maintain(&mut self, now: Instant, registry: &Registry, done: &mut Vec<(usize, BatchResult)>) {
        let expired = self.next_wakeup(now).is_some_and(|d| d.is_zero());
        match self.state {
            State::Down { .. } if expired => self.connect(now, registry, done),
            State::Asking { index, .. } if expired => self.sentinel_failed(index, Fault::Timeout, now, registry, done),
            State::Resolving { since } => match self.resolver.as_mut().and_then(Resolver::answer) {
                Some(Some(addr)) => self.connect_primary(addr, now, registry, done),
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

    /// Resolve the target: with Sentinels, ask them (the answer arrives as events); else the URL's host (or the
    /// node a cluster redirect named). An IP literal is connected at once; a host name is resolved again on the
    /// helper thread, every time (never an address cached across reconnects), and `maintain` connects once it
    /// answers.
    fn connect(&mut self, now: Instant, registry: &Registry, done: &mut Vec<(usize, BatchResult)>) {
        if !self.sentinels.is_empty() && self.cluster.waiting() == 0 {
            self.sentinels.start_round();
            return self.ask_next_sentinel(now, registry, done);
        }
        let (host, port) = self.cluster.endpoint(&self.target);
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.connect_primary(SocketAddr::new(ip, port), now, registry, done);
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

    /// When a resolution started at `since` counts as failed: the resolve limit, or the round-trip limit when
    /// redirected batches wait on it (their requests are waiting, as on any round trip).
    fn resolve_by(&self, since: Instant) -> Instant {
        let limit = if self.cluster.waiting() > 0 { REDIS_TIMEOUT_MILLIS } else { REDIS_RESOLVE_TIMEOUT_MILLIS };
        since + Duration::from_millis(limit)
    }

    /// Starts a non-blocking connect to `addr`, registered under the link's token; `data` is a data node (TLS
    /// for `rediss://`), not a Sentinel (plain TCP).
    fn open(&mut self, addr: SocketAddr, registry: &Registry, data: bool) -> Result<(), Fault> {
        let tcp = TcpStream::connect(addr).map_err(|_| Fault::Connect)?;
        let mut stream = if data {
            self.wrap(tcp).map_err(|cause| {
                self.cause = Some(cause);
                Fault::Tls
            })?
        } else {
            Stream::plain(tcp)
        };
        registry
            .register(stream.tcp(), self.token, Interest::READABLE | Interest::WRITABLE)
            .map_err(|_| Fault::Connect)?;
        let _ = stream.tcp().set_nodelay(true);
        self.stream = Some(stream);
        Ok(())
    }

    /// Plain TCP for `redis://`; for `rediss://` a TLS session verified against the URL's host name (or a
    /// redirect's, see `Cluster::tls_name`).
    fn wrap(&mut self, tcp: TcpStream) -> Result<Stream, String> {
        let Some(files) = &self.target.tls else { return Ok(Stream::plain(tcp)) };
        let config = match &self.tls_config {
            Some(config) => config.clone(),
            None => self.tls_config.insert(tls::client_config(files)?).clone(),
        };
        Stream::tls(tcp, config, tls::server_name(self.cluster.tls_name(&self.target))?)
    }

    /// Drops the socket (a Sentinel's, or a failed primary's) and whatever was pending on it.
    fn close(&mut self, registry: &Registry) {
        if let Some(mut stream) = self.stream.take() {
            let _ = registry.deregister(stream.tcp());
        }
        self.out.clear();
        self.input_len = 0;
        self.fifo.retain(|e| matches!(e, Entry::Batch { .. } | Entry::Wait { .. }));
    }

    fn connect_primary(
        &mut self,
        addr: SocketAddr,
        now: Instant,
        registry: &Registry,
        done: &mut Vec<(usize, BatchResult)>,
    ) {
        self.primary = Some(addr);
        match self.open(addr, registry, true) {
            Ok(()) => self.state = State::Connecting { since: now },
            Err(fault) => self.down(fault, now, registry, done),
        }
    }

    /// Guidelines step 1: the next Sentinel in turn, with a short timeout; none left this round: down, and the
    /// backoff decides when the next round starts.
    fn ask_next_sentinel(&mut self, now: Instant, registry: &Registry, done: &mut Vec<(usize, BatchResult)>) {
        while let Some((index, addr)) = self.sentinels.next_to_ask() {
            let resolved = (addr.host.as_str(), addr.port).to_socket_addrs().map(|mut a| a.next());
            let opened = match resolved {
                Ok(Some(addr)) => self.open(addr, registry, false),
                _ => Err(Fault::Resolve),
            };
            match opened {
                Ok(()) => {
                    self.state = State::Asking { index, since: now, connected: false };
                    return;
                }
                Err(fault) => self.note_sentinel_fault(index, fault),
            }
        }
        self.down(Fault::NoSentinel, now, registry, done);
    }

    /// Sentinel `index` failed to answer: count and log it (once per change), then ask the next one.
    fn sentinel_failed(
        &mut self,
        index: usize,
        fault: Fault,
        now: Instant,
        registry: &Registry,
        done: &mut Vec<(usize, BatchResult)>,
    ) {
        self.close(registry);
        self.note_sentinel_fault(index, fault);
        self.ask_next_sentinel(now, registry, done);
    }

    fn note_sentinel_fault(&mut self, index: usize, fault: Fault) {
        self.stats.redis_sentinel_fault(index, fault.sentinel_label());
        if self.sentinel_logged[index] == Some(fault) {
            return;
        }
        self.sentinel_logged[index] = Some(fault);
        let sentinel = self.sentinels.addr(index);
        let fields: [(&str, &dyn std::fmt::Display); 4] = [
            ("worker", &self.worker),
            ("sentinel", sentinel),
            ("master_name", &self.target.master_name),
            ("fault", &format_args!("{fault:?}")),
        ];
        match fault {
            Fault::SentinelAuth => {
                log::error("sentinel refused our credentials (check REDIS_SENTINEL_PASSWORD)", &fields)
            }
            Fault::UnknownMaster => log::error("sentinel does not monitor this master name", &fields),
            _ => log::warn("sentinel unavailable", &fields),
        }
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
        // Guidelines step 3: the node a Sentinel named may have been demoted since it answered.
        if !self.sentinels.is_empty() {
            script::command(&mut self.out, &[b"ROLE"]);
            self.fifo.push_back(Entry::Role);
        }
        script::command(&mut self.out, &[b"SCRIPT", b"LOAD", script::SCRIPT.as_bytes()]);
        self.fifo.push_back(Entry::Load);
        self.state = State::Handshake { since: now };
    }

    /// A readiness event on the link's socket. Completed batches are appended to `done`, in order.
    pub fn on_event(&mut self, now: Instant, registry: &Registry, done: &mut Vec<(usize, BatchResult)>) {
        let result = self.progress(now, done);
        match (result, self.state) {
            (Err(fault), State::Asking { index, .. }) => self.sentinel_failed(index, fault, now, registry, done),
            (Err(fault), _) => self.down(fault, now, registry, done),
            (Ok(()), State::Asking { index, .. }) => {
                // Guidelines step 2: connect to the address the Sentinel gave.
                if let Some(addr) = self.found.take() {
                    self.sentinels.answered(index);
                    self.sentinel_logged[index] = None;
                    self.close(registry);
                    self.connect_primary(addr, now, registry, done);
                }
            }
            (Ok(()), _) if self.cluster.should_switch(self.in_flight()) => self.switch_node(now, registry, done),
            (Ok(()), _) => {}
        }
    }

    /// Batches and their WAITs still to be answered on this connection.
    fn in_flight(&self) -> usize {
        self.fifo.iter().filter(|e| matches!(e, Entry::Batch { .. } | Entry::Wait { .. })).count()
    }

    /// Redis Cluster: every batch in flight has answered and some were redirected. Leave this node (nothing is
    /// pending on it) and connect to the one named; the redirected batches go out once it is ready.
    fn switch_node(&mut self, now: Instant, registry: &Registry, done: &mut Vec<(usize, BatchResult)>) {
        self.close(registry);
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
            self.push_batch(k, now);
        }
        self.asking = false;
    }

    fn progress(&mut self, now: Instant, done: &mut Vec<(usize, BatchResult)>) -> Result<(), Fault> {
        if let State::Connecting { .. } | State::Asking { connected: false, .. } = self.state {
            let Some(stream) = self.stream.as_mut() else { return Err(Fault::Connect) };
            match stream.tcp().take_error() {
                Ok(None) => {}
                _ => return Err(Fault::Connect),
            }
            match stream.tcp().peer_addr() {
                Ok(_) => self.connected(now),
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

    /// connect(2) finished: the handshake to a primary, or the question to a Sentinel.
    fn connected(&mut self, now: Instant) {
        match self.state {
            State::Asking { index, since, .. } => {
                self.out.clear();
                self.out.extend_from_slice(self.sentinels.query());
                if self.sentinels.authenticates() {
                    self.fifo.push_back(Entry::SentinelAuth);
                }
                self.fifo.push_back(Entry::SentinelAsk);
                self.state = State::Asking { index, since, connected: true };
            }
            _ => self.start_handshake(now),
        }
    }

    fn write(&mut self) -> Result<(), Fault> {
        let Some(stream) = self.stream.as_mut() else { return Ok(()) };
        if matches!(self.state, State::Connecting { .. } | State::Asking { connected: false, .. }) {
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
            while self.found.is_none() {
                let buf = &self.input[at..self.input_len];
                let parsed = match self.fifo.front() {
                    Some(Entry::SentinelAsk) => resp::parse_listing(buf).map(|l| l.map(|(l, n)| (own_answer(&l), n))),
                    Some(Entry::Role) => resp::parse_listing(buf).map(|l| l.map(|(l, n)| (own_role(&l), n))),
                    _ => resp::parse(buf).map(|status| match status {
                        Status::Complete { reply, consumed } => {
                            Some((own(reply, self.cluster.endpoint(&self.target).0), consumed))
                        }
                        Status::Partial => None,
                    }),
                };
                let consumed = match parsed {
                    Ok(Some((reply, consumed))) => {
                        self.on_reply(reply, now, done)?;
                        consumed
                    }
                    Ok(None) => break,
                    Err(_) => return Err(Fault::Protocol),
                };
                at += consumed;
            }
            if self.found.is_some() {
                return Ok(()); // the Sentinel socket is done with; on_event moves to the primary
            }
            self.input.copy_within(at..self.input_len, 0);
            self.input_len -= at;
        }
    }

    fn on_reply(&mut self, reply: Owned, now: Instant, done: &mut Vec<(usize, BatchResult)>) -> Result<(), Fault> {
        let Some(entry) = self.fifo.pop_front() else { return Err(Fault::Protocol) };
        match (entry, reply) {
            (Entry::SentinelAuth, Owned::Ok) => Ok(()),
            (
                Entry::SentinelAuth | Entry::SentinelAsk,
                Owned::Error(RedisErrorKind::NoAuth | RedisErrorKind::WrongPass),
            ) => Err(Fault::SentinelAuth),
            (Entry::SentinelAuth, Owned::Error(_)) => Err(Fault::SentinelAuth),
            (Entry::SentinelAsk, Owned::Answer(Answer::Primary(addr))) => {
                self.found = Some(addr);
                Ok(())
            }
            (Entry::SentinelAsk, Owned::Answer(Answer::Unknown)) => Err(Fault::UnknownMaster),
            (Entry::Auth | Entry::Select | Entry::Asking, Owned::Ok) => Ok(()),
            (Entry::Auth, Owned::Error(_)) => Err(Fault::Auth),
            (Entry::Role, Owned::Role { primary: true }) => Ok(()),
            (Entry::Role, Owned::Role { primary: false }) => Err(Fault::NotPrimary),
            (Entry::Load, Owned::Sha(sha, len)) => {
                self.evalsha = script::evalsha_prefix(&sha[..len]);
                if matches!(self.state, State::Handshake { .. }) {
                    self.ready(now);
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
                let first = last + 1 - k as u64;
                if self.wait.is_empty() {
                    self.hand_out(k, first, seconds, done);
                } else {
                    self.held = Some((k, first, seconds));
                }
                Ok(())
            }
            (Entry::Wait { .. }, Owned::Integer(acks)) => {
                // None: the batch before this WAIT failed (NOSCRIPT re-sent it behind; an error answered it).
                if let Some((k, first, seconds)) = self.held.take() {
                    self.acknowledged(acks, k, first, seconds, done);
                }
                Ok(())
            }
            (Entry::Wait { .. }, _) => {
                if let Some((k, ..)) = self.held.take() {
                    done.push((k, BatchResult::Failed));
                }
                Err(Fault::Protocol)
            }
            (Entry::Batch { k, sent }, Owned::Redirect(redirect)) => {
                // Not run, so safe to send again, on the node named (its WAIT, next, finds nothing held).
                self.stats.redis_reply(now.saturating_duration_since(sent));
                match self.cluster.redirected(k, redirect) {
                    Verdict::Wait => Ok(()),
                    Verdict::TooMany => Err(Fault::Cluster),
                }
            }
            (Entry::Batch { k, sent }, Owned::Error(kind)) => self.on_batch_error(k, sent, kind, now, done),
            (_, Owned::Error(RedisErrorKind::Loading)) => Err(Fault::Loading),
            (_, Owned::Error(RedisErrorKind::MasterDown)) => Err(Fault::MasterDown),
            (_, Owned::Error(RedisErrorKind::NoAuth | RedisErrorKind::WrongPass)) => Err(Fault::Auth),
            _ => Err(Fault::Protocol),
        }
    }

    /// An error reply to a batch: NOSCRIPT re-sends it as EVAL; anything else answers it 503 and drops the link
    /// (every other batch in flight answers 503 too, and none is ever re-sent).
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
                self.push_batch(k, now);
                if !self.fifo.iter().any(|e| matches!(e, Entry::Load)) {
                    script::command(&mut self.out, &[b"SCRIPT", b"LOAD", script::SCRIPT.as_bytes()]);
                    self.fifo.push_back(Entry::Load);
                }
                Ok(())
            }
            RedisErrorKind::Loading => self.fail_then(k, Fault::Loading, done),
            RedisErrorKind::Busy => self.fail_then(k, Fault::Busy, done),
            RedisErrorKind::ReadOnly => self.fail_then(k, Fault::ReadOnly, done),
            RedisErrorKind::NoReplicas => self.fail_then(k, Fault::NoReplicas, done),
            RedisErrorKind::MasterDown => self.fail_then(k, Fault::MasterDown, done),
            RedisErrorKind::TryAgain | RedisErrorKind::ClusterDown => self.fail_then(k, Fault::Cluster, done),
            // A redirect whose text did not parse: answered like any unexpected error.
            RedisErrorKind::Moved | RedisErrorKind::Ask => self.fail_then(k, Fault::Protocol, done),
            RedisErrorKind::NoAuth | RedisErrorKind::WrongPass => self.fail_then(k, Fault::Auth, done),
            RedisErrorKind::Other => self.fail_then(k, Fault::Protocol, done),
        }
    }

    /// The handshake finished: log the state change, once, and count a failover when the primary moved.
    fn ready(&mut self, now: Instant) {
        self.state = State::Ready;
        // A cluster redirect's node switch is routine, not news: no reconnect, no failover, no log line.
        if self.cluster.waiting() > 0 && self.failures == 0 {
            self.stats.redis_link(true, false);
            self.stats.redis_primary(self.primary, false);
            return self.resend_redirected(now);
        }
        let moved = self.last_ready_on.is_some() && self.last_ready_on != self.primary;
        self.stats.redis_link(true, self.was_ready);
        if let Some(primary) = self.primary {
            self.stats.redis_primary(Some(primary), moved);
        }
        self.was_ready = true;
        let primary = self.primary.map_or_else(String::new, |a| a.to_string());
        if moved {
            let from = self.last_ready_on.map_or_else(String::new, |a| a.to_string());
            log::warn(
                "redis primary changed",
                &[("worker", &self.worker), ("redis", &self.target), ("from", &from), ("primary", &primary)],
            );
        }
        log::info(
            "redis connected",
            &[
                ("worker", &self.worker),
                ("redis", &self.target),
                ("primary", &primary),
                ("failed_attempts", &self.failures),
            ],
        );
        self.last_ready_on = self.primary;
        self.failures = 0;
        self.logged_down = None;
        self.resend_redirected(now);
    }

    /// A batch's WAIT reply: its values go out only if enough replicas have them, so a replica promoted after a
    /// crash of this primary already holds the counter past them. Otherwise the whole batch answers 503: the
    /// values are skipped (a gap), never handed out unreplicated.
    fn acknowledged(&mut self, acks: i64, k: usize, first: u64, seconds: u64, done: &mut Vec<(usize, BatchResult)>) {
        let wanted = i64::from(self.target.wait_replicas);
        if acks >= wanted {
            if self.short {
                self.short = false;
                log::info("redis replicas acknowledge again", &[("worker", &self.worker), ("acks", &acks)]);
            }
            return self.hand_out(k, first, seconds, done);
        }
        self.stats.redis_wait_shortfall();
        if !self.short {
            self.short = true;
            log::warn(
                "redis replicas did not acknowledge in time; answering 503",
                &[("worker", &self.worker), ("acks", &acks), ("wanted", &wanted)],
            );
        }
        done.push((k, BatchResult::Failed));
    }

    /// The tripwire, the last check before values leave: a batch at or below the highest value this worker
    /// handed out means Redis lost increments (a failover to a replica that lacked them, a restart from an old
    /// file) and these values were handed out already. Never shown: 503, and Redis' counter, which this batch
    /// advanced, climbs past the mark as traffic continues.
    fn hand_out(&mut self, k: usize, first: u64, seconds: u64, done: &mut Vec<(usize, BatchResult)>) {
        if first <= self.highest {
            self.stats.redis_tripwire();
            let primary = self.primary.map_or_else(String::new, |a| a.to_string());
            log::error(
                "tripwire: redis returned values at or below one already handed out; answering 503",
                &[("worker", &self.worker), ("first", &first), ("highest", &self.highest), ("primary", &primary)],
            );
            done.push((k, BatchResult::Failed));
            return;
        }
        let last = first + k as u64 - 1;
        self.highest = last;
        self.stats.redis_value(Snapshot { counter: last, last_changed: seconds });
        done.push((k, BatchResult::Values { first, last_changed: seconds }));
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
        if fault == Fault::Tls {
            self.tls_config = None; // read the CA and client files again: a fix or a rotation is picked up
        }
        for entry in self.fifo.drain(..) {
            if let Entry::Batch { k, .. } = entry {
                done.push((k, BatchResult::Failed));
            }
        }
        if let Some((k, ..)) = self.held.take() {
            done.push((k, BatchResult::Failed));
        }
        self.close(registry);
        self.stats.redis_fault(fault.label());
        self.stats.redis_link(false, false);
        self.stats.redis_primary(None, false);
        let cause = self.cause.take();
        if self.logged_down != Some(fault) {
            let level =
                if matches!(fault, Fault::Auth | Fault::NoSentinel | Fault::Tls) { log::error } else { log::warn };
            let message = match fault {
                Fault::Auth => "redis refused our credentials (check REDIS_PASSWORD / the URL)",
                Fault::Tls => "redis TLS failed",
                Fault::NoSentinel => "no sentinel named a primary",
                f if f.not_primary() => "redis node is not the primary (any more); finding it again",
                _ => "redis unavailable",
            };
            let primary = self.primary.map_or_else(String::new, |a| a.to_string());
            let fields: [(&str, &dyn std::fmt::Display); 5] = [
                ("worker", &self.worker),
                ("redis", &self.target),
                ("primary", &primary),
                ("fault", &format_args!("{fault:?}")),
                ("failed_attempts", &self.failures),
            ];
            match &cause {
                Some(cause) => level(message, &[&fields[..], &[("cause", cause as &dyn std::fmt::Display)]].concat()),
                None => level(message, &fields),
            }
            self.logged_down = Some(fault);
        }
        // A demoted node means a failover is under way and the new primary is usually named within a second:
        // look again at least that often. Everything else backs off to the cap, so a Redis that is down for
        // long is not hammered by every worker of every pod.
        self.failures = self.failures.saturating_add(1);
        let mut retry = self.backoff();
        // With Sentinels, failing to reach the primary they named is a failover under way, too.
        let rediscover = fault.not_primary() || (!self.sentinels.is_empty() && fault != Fault::NoSentinel);
        if rediscover {
            retry = retry.min(Duration::from_millis(REDIS_REDISCOVER_MAX_MILLIS));
        }
        self.state = State::Down { retry_at: now + retry };
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
    Integer(i64),
    Error(RedisErrorKind),
    /// `-MOVED` / `-ASK` with the node parsed (allocates: redirects are rare, never per request).
    Redirect(Redirect),
    /// A Sentinel's answer to get-master-addr-by-name.
    Answer(Answer),
    /// ROLE's first item said master.
    Role {
        primary: bool,
    },
    Other,
}

fn own_answer(listing: &Listing<'_>) -> Owned {
    match listing {
        Listing::Other(Reply::Error(message)) => Owned::Error(error_kind(message)),
        listing => Owned::Answer(sentinel::answer(listing)),
    }
}

fn own_role(listing: &Listing<'_>) -> Owned {
    match listing {
        Listing::Items(items) => Owned::Role { primary: items.bulk(0) == Some(b"master") },
        Listing::Other(Reply::Error(message)) => Owned::Error(error_kind(message)),
        Listing::Other(_) => Owned::Other,
    }
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
        Reply::Integer(n) => Owned::Integer(n),
        Reply::Array(items) => match items.as_pair() {
            Some((a, b)) => Owned::Pair(a, b),
            None => Owned::Other,
        },
        _ => Owned::Other,
    }
}

//! One worker's connection to Redis: the connection state machine and its socket I/O. Find the primary (a
//! Sentinel's answer, or the URL's host), connect, handshake (AUTH, SELECT, ROLE with Sentinels, SCRIPT LOAD),
//! then batched script calls, each followed by `WAIT` when configured; timeouts and reconnects. It never blocks
//! the worker: every socket is non-blocking and registered in the worker's Poll, TLS is rustls over the same
//! socket (`tls.rs`), and every host name (the URL's, a Sentinel's, the primary a Sentinel announced, a cluster
//! redirect's node) is resolved on the helper thread (`resolve.rs`).
//!
//! Owns the socket, the buffers, the state and the handshake. Which reply settles which batch, and what a batch's
//! values must pass, is `replies.rs`; why a fault happened and how long to back off, `fault.rs`; Sentinel
//! discovery's list and answer, `sentinel.rs`; redirects, `cluster.rs`. It knows nothing of HTTP: a batch of k
//! increments goes in under its `BatchId`, and exactly one `Done` for that id comes out.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::cluster::Cluster;
use super::fault::{self, Backoff, Fault};
use super::replies::{own, own_answer, own_role, After, Cmd, Owned, Pending, Replies};
pub use super::replies::{BatchId, BatchResult, Done};
use super::resolve::Resolver;
use super::resp::{self, Status};
use super::script;
use super::sentinel::{Answer, Sentinels};
use super::tls::{self, Stream};
use crate::config::RedisTarget;
use crate::limits::{
    REDIS_BATCHES_IN_FLIGHT_MAX, REDIS_OUTPUT_BYTES, REDIS_READ_BUFFER_BYTES, REDIS_RESOLVE_POLL_MILLIS,
    REDIS_RESOLVE_TIMEOUT_MILLIS, REDIS_SENTINEL_TIMEOUT_MILLIS, REDIS_TIMEOUT_MILLIS, REDIS_WAIT_TIMEOUT_MILLIS,
};
use crate::log;
use crate::metrics::Slot;

const _: () = assert!(REDIS_READ_BUFFER_BYTES >= resp::REPLY_BYTES_MAX);
const _: () = assert!(REDIS_READ_BUFFER_BYTES >= resp::LISTING_BYTES_MAX);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No socket; reconnect at `retry_at`.
    Down {
        retry_at: Instant,
    },
    /// Waiting since `since` for the helper thread to resolve a name: Sentinel `sentinel`'s, or (None) a data
    /// node's (the URL's host, a redirect's node, the primary a Sentinel named).
    Resolving {
        since: Instant,
        sentinel: Option<usize>,
    },
    /// Sentinel mode: asking Sentinel `index` for the primary since `since` (its name lookup included);
    /// `connected` once its connect(2) finished and the question went out.
    Asking {
        index: usize,
        since: Instant,
        connected: bool,
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

pub struct Link {
    target: RedisTarget,
    token: Token,
    worker: usize,
    state: State,
    /// Sentinel mode when not empty.
    sentinels: Sentinels,
    /// The primary a Sentinel named this round, picked up once the read loop is done with the Sentinel socket.
    found: Option<(String, u16)>,
    /// The address the link connects (or is connected) to, and the one it was last ready on.
    primary: Option<SocketAddr>,
    last_ready_on: Option<SocketAddr>,
    /// `WAIT <n> <timeout>`, built once; empty when `wait_replicas` is 0.
    wait: Vec<u8>,
    stream: Option<Stream>,
    /// `rediss://`: the verified client configuration, built at the first connect and again after a TLS fault.
    tls_config: Option<crate::sync::Arc<rustls::ClientConfig>>,
    /// Why the last fault happened, for its log line.
    cause: Option<String>,
    /// Redis Cluster: the node this link talks to and the batches a redirect sent elsewhere.
    cluster: Cluster,
    /// The batches re-sent on this connection follow an `-ASK`: each goes behind ASKING.
    asking: bool,
    /// Resolves host names off the loop; started at the first name to resolve (never for IP literals).
    resolver: Option<Resolver>,
    out: Vec<u8>,
    input: Box<[u8]>,
    input_len: usize,
    /// Every command written on this connection, waiting for its reply.
    replies: Replies,
    /// `EVALSHA` bytes carrying this connection's process identity, written until the script has run once on
    /// it (`checked`), and the lean ones without it (the script then skips the identity check: one GET less).
    evalsha: Vec<u8>,
    evalsha_lean: Vec<u8>,
    /// A script call carrying the identity ran on this connection: its process is checked, and every later
    /// call on the same connection runs after that one, on the same process.
    checked: bool,
    /// The Redis process this connection reaches (`script::PROBE`), carried by every script call.
    run: Vec<u8>,
    backoff: Backoff,
    /// The fault already logged, so a flapping Redis logs once per change, not per attempt.
    logged_down: Option<Fault>,
    /// The link has been ready before: becoming ready again is a reconnect.
    was_ready: bool,
    /// This worker's metrics slot: script calls, latency, faults, link state.
    stats: Slot,
}

impl Link {
    pub fn new(target: RedisTarget, token: Token, worker: usize, stats: Slot) -> Link {
        // The jitter's seed: std's per-process random hash keys, so no clock (and no wall clock) is involved.
        let seed = std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), worker);
        let sentinels =
            Sentinels::new(target.sentinels.clone(), &target.master_name, target.sentinel_password.as_deref());
        let mut wait = Vec::new();
        if target.wait_replicas > 0 {
            let n = itoa::Buffer::new().format(target.wait_replicas).as_bytes().to_vec();
            let timeout = itoa::Buffer::new().format(REDIS_WAIT_TIMEOUT_MILLIS).as_bytes().to_vec();
            script::command(&mut wait, &[b"WAIT", &n, &timeout]);
        }
        Link {
            replies: Replies::new(target.wait_replicas, target.start_above, worker, stats.clone()),
            target,
            token,
            worker,
            state: State::Down { retry_at: Instant::now() },
            sentinels,
            found: None,
            primary: None,
            last_ready_on: None,
            wait,
            stream: None,
            tls_config: None,
            cause: None,
            cluster: Cluster::new(),
            asking: false,
            resolver: None,
            out: Vec::with_capacity(REDIS_OUTPUT_BYTES),
            input: vec![0; REDIS_READ_BUFFER_BYTES].into_boxed_slice(),
            input_len: 0,
            evalsha: Vec::new(),
            evalsha_lean: Vec::new(),
            checked: false,
            run: Vec::new(),
            backoff: Backoff::new(seed),
            logged_down: None,
            was_ready: false,
            stats,
        }
    }

    /// Ready, or switching to the node a cluster redirect named (the waiting batches go there first).
    pub fn is_ready(&self) -> bool {
        self.state == State::Ready || self.cluster.waiting() > 0
    }

    /// Ready and with room for another batch in flight; none while a redirect moves the link.
    pub fn can_send(&self) -> bool {
        self.state == State::Ready
            && !self.cluster.is_pending()
            && self.cluster.waiting() == 0
            && self.replies.batches() < REDIS_BATCHES_IN_FLIGHT_MAX
    }

    /// How long the worker may sleep before `maintain` has something to do. Every state that waits on the
    /// network has a deadline, and so has every command written (the oldest one's is the earliest).
    pub fn next_wakeup(&self, now: Instant) -> Option<Duration> {
        let timeout = Duration::from_millis(REDIS_TIMEOUT_MILLIS);
        let at = match self.state {
            State::Down { retry_at } => retry_at,
            State::Asking { since, .. } => since + Duration::from_millis(REDIS_SENTINEL_TIMEOUT_MILLIS),
            State::Resolving { since, sentinel } => {
                (now + Duration::from_millis(REDIS_RESOLVE_POLL_MILLIS)).min(self.resolve_by(since, sentinel))
            }
            State::Connecting { since } | State::Handshake { since } => since + timeout,
            State::Ready => self.replies.deadline()?,
        };
        Some(at.saturating_duration_since(now))
    }

    /// Sends one script call for the `k` deferred requests of batch `batch`. The caller checked `can_send`.
    pub fn send_batch(&mut self, batch: BatchId, k: usize, now: Instant, registry: &Registry, done: &mut Vec<Done>) {
        debug_assert!(k > 0, "an empty batch");
        self.out.extend_from_slice(if self.checked { &self.evalsha_lean } else { &self.evalsha });
        let floor = self.floor(k);
        script::finish_batch(&mut self.out, floor, k);
        self.push_batch(batch, k, now);
        if let Err(fault) = self.write() {
            self.down(fault, now, registry, done);
        }
    }

    /// The script's floor for a batch of `k`: the smallest last value this worker may hand out (its mark + k).
    /// Below it, the script lifts the counter past the mark plus the gap. The mark is the one at send time; a
    /// batch in flight may raise it before this one's reply, and the tripwire checks the raised one.
    fn floor(&self, k: usize) -> u64 {
        self.replies.mark().saturating_add(k as u64)
    }

    /// Queues a batch already in `out`, and its `WAIT` in the same write: the acknowledgement covers exactly the
    /// writes this connection made up to and including the batch.
    fn push_batch(&mut self, batch: BatchId, k: usize, now: Instant) {
        self.replies.push(Cmd::Script { batch, k }, now);
        if !self.wait.is_empty() {
            self.out.extend_from_slice(&self.wait);
            self.replies.push(Cmd::Wait { batch, k, held: None }, now);
        }
        self.stats.redis_call(k);
    }

    /// Timers: reconnect when the backoff expired, pick up a resolved name, and fail everything when a connect,
    /// a handshake or any command's reply is overdue.
    pub fn maintain(&mut self, now: Instant, registry: &Registry, done: &mut Vec<Done>) {
        let expired = self.next_wakeup(now).is_some_and(|d| d.is_zero());
        match self.state {
            State::Down { .. } if expired => self.connect(now, registry, done),
            State::Asking { index, .. } if expired => self.sentinel_failed(index, Fault::Timeout, now, registry, done),
            State::Resolving { since, sentinel } => self.poll_resolver(since, sentinel, now, registry, done),
            State::Handshake { .. } if expired && self.stream.as_ref().is_some_and(Stream::is_handshaking) => {
                // A plain Redis reads a ClientHello as an unfinished inline command and never answers.
                let why = "no TLS handshake reply in time (does the server speak TLS on this port?)";
                self.cause = Some(why.to_string());
                self.down(Fault::Tls, now, registry, done)
            }
            State::Connecting { .. } | State::Handshake { .. } | State::Ready if expired => {
                if let Some(cmd) = self.replies.front() {
                    self.cause = Some(format!("no reply in time to {cmd:?}"));
                }
                self.down(Fault::Timeout, now, registry, done)
            }
            _ => {}
        }
    }

    /// A name lookup's answer, if there is one yet: connect to it, or count the failure.
    fn poll_resolver(
        &mut self,
        since: Instant,
        sentinel: Option<usize>,
        now: Instant,
        registry: &Registry,
        done: &mut Vec<Done>,
    ) {
        match self.resolver.as_mut().and_then(Resolver::answer) {
            Some(Some(addr)) => match sentinel {
                Some(index) => self.open_sentinel(index, addr, since, now, registry, done),
                None => self.connect_primary(addr, now, registry, done),
            },
            Some(None) => self.resolve_failed(sentinel, now, registry, done),
            None if now >= self.resolve_by(since, sentinel) => self.resolve_failed(sentinel, now, registry, done),
            None => {}
        }
    }

    /// Find the target: with Sentinels, ask them (the answer arrives as events); else the URL's host (or the
    /// node a cluster redirect named).
    fn connect(&mut self, now: Instant, registry: &Registry, done: &mut Vec<Done>) {
        if !self.sentinels.is_empty() && self.cluster.waiting() == 0 {
            self.sentinels.start_round();
            return self.ask_next_sentinel(now, registry, done);
        }
        let (host, port) = self.cluster.endpoint(&self.target);
        let host = host.to_string(); // once per reconnect
        self.resolve(&host, port, None, now, registry, done);
    }

    /// An IP literal is connected at once; a name is resolved on the helper thread, every time (never an address
    /// cached across reconnects), and `maintain` connects once it answers. `sentinel`: whose name it is (None: a
    /// data node's).
    fn resolve(
        &mut self,
        host: &str,
        port: u16,
        sentinel: Option<usize>,
        now: Instant,
        registry: &Registry,
        done: &mut Vec<Done>,
    ) {
        if let Ok(ip) = host.parse::<IpAddr>() {
            let addr = SocketAddr::new(ip, port);
            return match sentinel {
                Some(index) => self.open_sentinel(index, addr, now, now, registry, done),
                None => self.connect_primary(addr, now, registry, done),
            };
        }
        if self.resolver.is_none() {
            self.resolver = Resolver::start(self.worker).ok();
        }
        if self.resolver.as_mut().is_some_and(|resolver| resolver.ask(host, port)) {
            self.state = State::Resolving { since: now, sentinel };
        } else {
            self.resolver = None; // the thread could not start or is gone: a new one next time
            self.resolve_failed(sentinel, now, registry, done);
        }
    }

    fn resolve_failed(&mut self, sentinel: Option<usize>, now: Instant, registry: &Registry, done: &mut Vec<Done>) {
        match sentinel {
            Some(index) => self.sentinel_failed(index, Fault::Resolve, now, registry, done),
            None => self.down(Fault::Resolve, now, registry, done),
        }
    }

    /// When a resolution started at `since` counts as failed: a Sentinel's within its short timeout; a data
    /// node's within the resolve limit, or the round-trip limit when redirected batches wait on it (their
    /// requests are waiting, as on any round trip).
    fn resolve_by(&self, since: Instant, sentinel: Option<usize>) -> Instant {
        let limit = match sentinel {
            Some(_) => REDIS_SENTINEL_TIMEOUT_MILLIS,
            None if self.cluster.waiting() > 0 => REDIS_TIMEOUT_MILLIS,
            None => REDIS_RESOLVE_TIMEOUT_MILLIS,
        };
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

    /// Drops the socket (a Sentinel's, a node left after a redirect, or a failed one) and what was pending on it;
    /// the caller settled every batch on it first.
    fn close(&mut self, registry: &Registry) {
        if let Some(mut stream) = self.stream.take() {
            let _ = registry.deregister(stream.tcp());
        }
        self.out.clear();
        self.input_len = 0;
        self.replies.clear_setup();
    }

    fn connect_primary(&mut self, addr: SocketAddr, now: Instant, registry: &Registry, done: &mut Vec<Done>) {
        self.primary = Some(addr);
        match self.open(addr, registry, true) {
            Ok(()) => self.state = State::Connecting { since: now },
            Err(fault) => self.down(fault, now, registry, done),
        }
    }

    /// Guidelines step 1: the next Sentinel in turn, with a short timeout; none left this round: down, and the
    /// backoff decides when the next round starts.
    fn ask_next_sentinel(&mut self, now: Instant, registry: &Registry, done: &mut Vec<Done>) {
        let Some((index, addr)) = self.sentinels.next_to_ask() else {
            return self.down(Fault::NoSentinel, now, registry, done);
        };
        let (host, port) = (addr.host.clone(), addr.port);
        self.resolve(&host, port, Some(index), now, registry, done);
    }

    /// Sentinel `index`'s address is known (since `since`, when its turn began): connect and ask.
    fn open_sentinel(
        &mut self,
        index: usize,
        addr: SocketAddr,
        since: Instant,
        now: Instant,
        registry: &Registry,
        done: &mut Vec<Done>,
    ) {
        match self.open(addr, registry, false) {
            Ok(()) => self.state = State::Asking { index, since, connected: false },
            Err(fault) => self.sentinel_failed(index, fault, now, registry, done),
        }
    }

    /// Sentinel `index` failed to answer: count and log it (once per change), then ask the next one.
    fn sentinel_failed(&mut self, index: usize, fault: Fault, now: Instant, registry: &Registry, done: &mut Vec<Done>) {
        self.close(registry);
        self.sentinels.failed(index, fault, &self.stats, self.worker, &self.target.master_name);
        self.ask_next_sentinel(now, registry, done);
    }

    /// The handshake, pipelined in one write: AUTH, SELECT, ROLE, SCRIPT LOAD.
    fn start_handshake(&mut self, now: Instant) {
        self.out.clear();
        self.checked = false;
        if let Some(password) = &self.target.password {
            match &self.target.username {
                Some(user) => script::command(&mut self.out, &[b"AUTH", user.as_bytes(), password.as_bytes()]),
                None => script::command(&mut self.out, &[b"AUTH", password.as_bytes()]),
            }
            self.replies.push(Cmd::Auth, now);
        }
        if self.target.db != 0 {
            script::command(&mut self.out, &[b"SELECT", self.target.db.to_string().as_bytes()]);
            self.replies.push(Cmd::Select, now);
        }
        // Guidelines step 3: the node a Sentinel named may have been demoted since it answered.
        if !self.sentinels.is_empty() {
            script::command(&mut self.out, &[b"ROLE"]);
            self.replies.push(Cmd::Role, now);
        }
        // Which Redis process this is, before the script's bytes are built around it (skip-ahead).
        script::probe(&mut self.out);
        self.replies.push(Cmd::Probe, now);
        script::command(&mut self.out, &[b"SCRIPT", b"LOAD", script::SCRIPT.as_bytes()]);
        self.replies.push(Cmd::Load, now);
        self.state = State::Handshake { since: now };
    }

    /// A readiness event on the link's socket. Settled batches are appended to `done`.
    pub fn on_event(&mut self, now: Instant, registry: &Registry, done: &mut Vec<Done>) {
        let result = self.progress(now, done);
        match (result, self.state) {
            (Err(fault), State::Asking { index, .. }) => self.sentinel_failed(index, fault, now, registry, done),
            (Err(fault), _) => self.down(fault, now, registry, done),
            (Ok(()), State::Asking { index, .. }) => {
                // Guidelines step 2: connect to the address the Sentinel gave (a name goes to the resolver).
                if let Some((host, port)) = self.found.take() {
                    self.sentinels.answered(index);
                    self.close(registry);
                    self.resolve(&host, port, None, now, registry, done);
                }
            }
            (Ok(()), _) if self.cluster.should_switch(self.replies.batches()) => self.switch_node(now, registry, done),
            (Ok(()), _) => {}
        }
    }

    /// Redis Cluster: every batch in flight has answered and some were redirected. Leave this node (nothing is
    /// pending on it) and connect to the one named; the redirected batches go out once it is ready.
    fn switch_node(&mut self, now: Instant, registry: &Registry, done: &mut Vec<Done>) {
        self.close(registry);
        self.asking = self.cluster.switch();
        self.connect(now, registry, done);
    }

    /// The connection is ready: batches a redirect sent here go first, ASKING before each after an `-ASK`.
    fn resend_redirected(&mut self, now: Instant) {
        while let Some((batch, k)) = self.cluster.take_resend() {
            if self.asking {
                script::command(&mut self.out, &[b"ASKING"]);
                self.replies.push(Cmd::Asking, now);
            }
            self.out.extend_from_slice(if self.checked { &self.evalsha_lean } else { &self.evalsha });
            let floor = self.floor(k);
            script::finish_batch(&mut self.out, floor, k);
            self.push_batch(batch, k, now);
        }
        self.asking = false;
    }

    fn progress(&mut self, now: Instant, done: &mut Vec<Done>) -> Result<(), Fault> {
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
        if matches!(self.state, State::Down { .. } | State::Resolving { .. }) {
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
                    self.replies.push(Cmd::SentinelAuth, now);
                }
                self.replies.push(Cmd::SentinelAsk, now);
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

    /// Reads until the socket would block, settling every complete reply in the order it came.
    fn read(&mut self, now: Instant, done: &mut Vec<Done>) -> Result<(), Fault> {
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
                let Some((reply, consumed)) = self.parse_at(at)? else { break };
                at += consumed;
                self.on_reply(reply, now, done)?;
            }
            if self.found.is_some() {
                return Ok(()); // the Sentinel socket is done with; on_event moves to the primary
            }
            self.input.copy_within(at..self.input_len, 0);
            self.input_len -= at;
        }
    }

    /// The reply starting at `at`, read as the command at the queue's front expects. A framing error means the
    /// stream can no longer be split into replies: the connection goes.
    fn parse_at(&self, at: usize) -> Result<Option<(Owned, usize)>, Fault> {
        let buf = &self.input[at..self.input_len];
        let parsed = match self.replies.front() {
            Some(Cmd::SentinelAsk) => resp::parse_listing(buf).map(|l| l.map(|(l, n)| (own_answer(&l), n))),
            Some(Cmd::Role) => resp::parse_listing(buf).map(|l| l.map(|(l, n)| (own_role(&l), n))),
            _ => resp::parse(buf).map(|status| match status {
                Status::Complete { reply, consumed } => {
                    Some((own(reply, self.cluster.endpoint(&self.target).0), consumed))
                }
                Status::Partial => None,
            }),
        };
        parsed.map_err(|e| {
            log::warn(
                "redis sent bytes that are not a reply; dropping the connection",
                &[("worker", &self.worker), ("error", &format_args!("{e:?}"))],
            );
            Fault::Protocol
        })
    }

    /// One reply, for the command at the queue's front (a reply with nothing pending: the stream is out of step).
    fn on_reply(&mut self, reply: Owned, now: Instant, done: &mut Vec<Done>) -> Result<(), Fault> {
        let Some(Pending { cmd, sent }) = self.replies.pop() else { return Err(Fault::Protocol) };
        match cmd {
            Cmd::Script { batch, k } => {
                // The script ran to its end (any values reply): every call sent before this reply carried the
                // identity, so this one did, and the process is checked for this connection.
                self.checked |= matches!(reply, Owned::Array(_));
                if self.replies.on_script((batch, k, sent), reply, now, &mut self.cluster, done)? == After::Reload
                    && !self.replies.is_pending(Cmd::Load)
                {
                    // Behind everything already written: batches sent from now on find the script again.
                    script::command(&mut self.out, &[b"SCRIPT", b"LOAD", script::SCRIPT.as_bytes()]);
                    self.replies.push(Cmd::Load, now);
                }
                Ok(())
            }
            Cmd::Wait { batch, k, held } => self.replies.on_wait((batch, k, held), reply, done),
            cmd => self.on_setup_reply(cmd, reply, now),
        }
    }

    /// The probe's answer: this connection's Redis process identity, which every script call carries. A server
    /// that refuses the probe (INFO denied by an ACL, scripting restricted) gets an identity of this connection
    /// alone: every connect then skips a gap, more gaps but never a repeat.
    fn identify(&mut self, run: Option<&[u8]>) -> Result<(), Fault> {
        self.run.clear();
        match run.filter(|run| run.len() > 2) {
            Some(run) => self.run.extend_from_slice(run),
            None => {
                let nanos =
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
                self.run.extend_from_slice(format!("unidentified:{}:{nanos}", self.worker).as_bytes());
                log::warn(
                    "redis did not say which process it is (INFO refused?): every connect skips the gap",
                    &[("worker", &self.worker), ("redis", &self.target)],
                );
            }
        }
        self.replies.set_run(&self.run);
        Ok(())
    }

    /// A reply to a command that is not a batch's: the handshake, a Sentinel's, ASKING, a SCRIPT LOAD.
    fn on_setup_reply(&mut self, cmd: Cmd, reply: Owned, now: Instant) -> Result<(), Fault> {
        match (cmd, reply) {
            (Cmd::SentinelAuth, Owned::Ok) => Ok(()),
            (Cmd::SentinelAuth, Owned::Error(_)) => Err(Fault::SentinelAuth),
            (Cmd::SentinelAsk, Owned::Error(resp::RedisErrorKind::NoAuth | resp::RedisErrorKind::WrongPass)) => {
                Err(Fault::SentinelAuth)
            }
            (Cmd::SentinelAsk, Owned::Answer(Answer::Primary(host, port))) => {
                self.found = Some((host, port));
                Ok(())
            }
            (Cmd::SentinelAsk, Owned::Answer(Answer::Unknown)) => Err(Fault::UnknownMaster),
            (Cmd::SentinelAsk, _) => Err(Fault::Protocol),
            (Cmd::Auth | Cmd::Select | Cmd::Asking, Owned::Ok) => Ok(()),
            (Cmd::Auth, Owned::Error(_)) => Err(Fault::Auth),
            (Cmd::Role, Owned::Role { primary: true }) => Ok(()),
            (Cmd::Role, Owned::Role { primary: false }) => Err(Fault::NotPrimary),
            (Cmd::Probe, Owned::Run(run, len)) => self.identify(Some(&run[..len])),
            (Cmd::Probe, Owned::Sha(run, len)) => self.identify(Some(&run[..len])),
            (Cmd::Probe, Owned::Error(resp::RedisErrorKind::Other)) => self.identify(None),
            // Anything else but an error about the node's state (handled below): no identity either.
            (Cmd::Probe, reply) if !matches!(reply, Owned::Error(_)) => self.identify(None),
            (Cmd::Load, Owned::Sha(sha, len)) => {
                self.evalsha = script::evalsha_prefix(&sha[..len], &self.run, self.target.skip_gap);
                self.evalsha_lean = script::evalsha_prefix(&sha[..len], b"", self.target.skip_gap);
                if matches!(self.state, State::Handshake { .. }) {
                    self.ready(now);
                }
                Ok(())
            }
            (_, Owned::Error(kind)) => Err(fault::of_error(kind)),
            _ => Err(Fault::Protocol),
        }
    }

    /// The handshake finished: log the state change, once, and count a failover when the primary moved.
    fn ready(&mut self, now: Instant) {
        self.state = State::Ready;
        // A cluster redirect's node switch is routine, not news: no reconnect, no failover, no log line.
        if self.cluster.waiting() > 0 && self.backoff.failures == 0 {
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
                ("failed_attempts", &self.backoff.failures),
            ],
        );
        self.last_ready_on = self.primary;
        self.backoff.failures = 0;
        self.logged_down = None;
        self.resend_redirected(now);
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

    /// Fails every batch in flight, oldest first (503, never a guessed value), drops the socket, and schedules a
    /// reconnect.
    fn down(&mut self, fault: Fault, now: Instant, registry: &Registry, done: &mut Vec<Done>) {
        // Redirected batches are older than anything still queued; the next connect starts from the URL.
        for (batch, k) in self.cluster.reset() {
            done.push(Done { batch, k, result: BatchResult::Failed });
        }
        self.replies.fail_all(done);
        self.asking = false;
        self.found = None;
        if fault == Fault::Tls {
            self.tls_config = None; // read the CA and client files again: a fix or a rotation is picked up
        }
        self.close(registry);
        self.stats.redis_fault(fault);
        self.stats.redis_link(false, false);
        self.stats.redis_primary(None, false);
        self.log_down(fault);
        // With Sentinels, failing to reach the primary they named is a failover under way, too.
        let rediscover = fault::not_primary(fault) || (!self.sentinels.is_empty() && fault != Fault::NoSentinel);
        self.state = State::Down { retry_at: now + self.backoff.next(rediscover) };
    }

    /// One line per change of fault, so a flapping Redis does not flood the log.
    fn log_down(&mut self, fault: Fault) {
        let cause = self.cause.take();
        if self.logged_down == Some(fault) {
            return;
        }
        self.logged_down = Some(fault);
        let primary = self.primary.map_or_else(String::new, |a| a.to_string());
        let fields: [(&str, &dyn std::fmt::Display); 5] = [
            ("worker", &self.worker),
            ("redis", &self.target),
            ("primary", &primary),
            ("fault", &format_args!("{fault:?}")),
            ("failed_attempts", &self.backoff.failures),
        ];
        match &cause {
            Some(cause) => {
                fault::log_down(fault, &[&fields[..], &[("cause", cause as &dyn std::fmt::Display)]].concat())
            }
            None => fault::log_down(fault, &fields),
        }
    }
}

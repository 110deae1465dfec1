//! One worker thread: its own `mio::Poll`, its own SO_REUSEPORT listener, its own connection table, scratch
//! buffers, clock and Date cache, all allocated here at start (and, in redis mode, its own Redis link). The loop
//! owns every registration; connections only say `Keep` or `Close`.

use crate::sync::Arc;
use std::io;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};

use super::batches::Batches;
use super::clock::Clock;
use super::conn::{CloseReason, Conn, Ctx, Outcome, Readiness, Scratch};
use super::connections::Connections;
use crate::app::{App, Mode, SharedResult};
use crate::config::{RedisTarget, Timeouts};
use crate::http::date::DateCache;
use crate::lifecycle::Phase;
use crate::limits::{
    CONNECTIONS_PER_WORKER_MAX, EVENTS_PER_POLL, SHUTDOWN_DEADLINE_SECS, STATE_DEFER_MILLIS, STATE_RECHECK_MILLIS,
    TICK_MILLIS,
};
use crate::log;
use crate::metrics;

pub const LISTENER: Token = Token(usize::MAX - 1);
pub const WAKER: Token = Token(usize::MAX - 2);
pub const REDIS: Token = Token(usize::MAX - 3);

/// What a connection sees of its worker during one event. A macro rather than a method: it borrows the
/// worker's fields one by one, beside the borrow of `self.conns` that holds the connection.
macro_rules! ctx {
    ($worker:expr) => {
        Ctx {
            app: &$worker.app,
            stats: $worker.app.metrics.worker($worker.id),
            dates: &mut $worker.dates,
            scratch: &mut $worker.scratch,
            timeouts: $worker.timeouts,
            mode: mode(&$worker.batches, $worker.app.durable),
            now: $worker.clock.mono_secs(),
            waiting: &mut $worker.waiting,
        }
    };
}

pub struct Worker {
    id: usize,
    poll: Poll,
    listener: Option<TcpListener>,
    conns: Connections,
    scratch: Scratch,
    /// Monotonic time for deadlines, wall time for `dates`.
    clock: Clock,
    dates: DateCache,
    app: Arc<App>,
    timeouts: Timeouts,
    /// Redis mode: the link and the batches in flight. None in memory mode.
    batches: Option<Batches>,
    /// Connections with deferred requests not yet in a batch (stays empty in memory mode).
    waiting: Vec<usize>,
    /// `--state-file`: connections whose requests wait for a ceiling, oldest first: (slot, connection id, the
    /// instant their wait ends with 503). A connection stays on `waiting` (its flag set) until it leaves here,
    /// so it is never parked twice: the capacity of one slot per connection is never exceeded.
    parked: Vec<(usize, u64, Instant)>,
    /// The ceilings at the last retry of `parked`: a retry is due when one rose (or a wait ended).
    ceilings_seen: [u64; 2],
    next_conn_id: u64,
    /// accept(2) failed for lack of fds or memory: retry on the next tick or close, not in a busy loop.
    accept_paused: bool,
    /// Set once shutdown begins: the monotonic second at which remaining connections are dropped.
    stop_deadline: Option<u64>,
}

impl Worker {
    pub fn new(
        id: usize,
        poll: Poll,
        mut listener: TcpListener,
        app: Arc<App>,
        timeouts: Timeouts,
        redis: Option<RedisTarget>,
    ) -> io::Result<Worker> {
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        let clock = Clock::new();
        Ok(Worker {
            id,
            poll,
            listener: Some(listener),
            conns: Connections::with_capacity(CONNECTIONS_PER_WORKER_MAX),
            scratch: Scratch::new(),
            dates: DateCache::new(clock.wall_secs()),
            clock,
            timeouts,
            batches: redis.map(|target| Batches::new(target, REDIS, id, app.metrics.slot(id))),
            waiting: Vec::with_capacity(CONNECTIONS_PER_WORKER_MAX),
            parked: Vec::with_capacity(if app.durable { CONNECTIONS_PER_WORKER_MAX } else { 0 }),
            ceilings_seen: [0; 2],
            next_conn_id: 0,
            accept_paused: false,
            stop_deadline: None,
            app,
        })
    }

    pub fn run(mut self) {
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        let mut last_tick = self.clock.mono_secs();
        // The previous wakeup's time: the Redis link's next timer is measured from it, which at worst wakes the
        // worker a turn's length late, and spares a clock read.
        let mut now = Instant::now();
        loop {
            let mut timeout = Duration::from_millis(TICK_MILLIS);
            if let Some(wakeup) = self.batches.as_ref().and_then(|b| b.next_wakeup(now)) {
                timeout = timeout.min(wakeup);
            }
            if self.batches.is_none() && !(self.parked.is_empty() && self.waiting.is_empty()) {
                timeout = timeout.min(Duration::from_millis(STATE_RECHECK_MILLIS));
            }
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error("poll failed", &[("worker", &self.id), ("error", &e)]);
                return;
            }
            // The one clock read of this wakeup (monotonic); the wall clock only once a second boundary passed.
            let second;
            (now, second) = self.clock.read();
            if second {
                self.dates.refresh(self.clock.wall_secs());
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    WAKER => {} // the lifecycle moved; checked below
                    REDIS => {
                        if let Some(batches) = self.batches.as_mut() {
                            batches.on_link_event(now, self.poll.registry());
                        }
                    }
                    token => self.on_conn_event(token.0, event),
                }
            }
            if self.batches.is_some() {
                self.redis_turn(now);
            } else if !self.waiting.is_empty() || !self.parked.is_empty() {
                self.durable_turn(now);
            }
            if second && self.clock.mono_secs() != last_tick {
                last_tick = self.clock.mono_secs();
                self.tick();
            }
            if self.app.lifecycle.phase() == Phase::Stopping && self.stop() {
                return;
            }
        }
    }

    fn accept(&mut self) {
        let Some(listener) = self.listener.as_mut() else {
            return;
        };
        loop {
            let (mut stream, _) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_resource_exhausted(&e) => {
                    // The pending connection stays queued; an edge-triggered listener would not report it
                    // again, so the tick (or the next close) retries instead of spinning here.
                    self.accept_paused = true;
                    return;
                }
                Err(_) => continue, // ECONNABORTED and friends: that one client is gone
            };
            let stats = self.app.metrics.worker(self.id);
            stats.accepted();
            let Some(index) = self.conns.vacant() else {
                drop(stream); // table full: refuse cleanly (the client sees a close, not a hang)
                stats.closed(metrics::Close::Refused);
                continue;
            };
            // Responses go out in one write per batch; Nagle would only delay them.
            let _ = stream.set_nodelay(true);
            let interest = Interest::READABLE | Interest::WRITABLE;
            if self.poll.registry().register(&mut stream, Token(index), interest).is_err() {
                stats.closed(metrics::Close::Refused);
                continue;
            }
            self.next_conn_id += 1;
            let now = self.clock.mono_secs();
            self.conns.insert(index, Conn::new(stream, index, self.next_conn_id, now, self.timeouts));
        }
    }

    fn on_conn_event(&mut self, index: usize, event: &Event) {
        let Some(conn) = self.conns.get_mut(index) else {
            return; // closed earlier in this batch of events
        };
        let ready = Readiness {
            readable: event.is_readable() || event.is_error(),
            writable: event.is_writable(),
            read_closed: event.is_read_closed(),
        };
        let mut ctx = ctx!(self);
        if let Outcome::Close(reason) = conn.on_event(ready, &mut ctx) {
            self.close(index, reason);
        }
    }

    /// Redis mode, once per loop turn: timers, results back to their connections in order, and one script call
    /// for every /status request deferred since the last one.
    fn redis_turn(&mut self, now: Instant) {
        let Some(batches) = self.batches.as_mut() else { return };
        batches.maintain(now, self.poll.registry());
        loop {
            while let Some((index, id, result)) = self.batches.as_mut().and_then(Batches::next_delivery) {
                self.deliver(index, id, result);
            }
            let Some(batches) = self.batches.as_mut() else { return };
            if self.waiting.is_empty() {
                return;
            }
            if batches.can_send() {
                let conns = &mut self.conns;
                let take = |index| conns.get_mut(index).map(|c: &mut Conn| (c.id(), c.take_unsent()));
                batches.send_batch(&mut self.waiting, take, now, self.poll.registry());
            } else if !batches.is_ready() {
                // No link: every waiting request gets its 503 now rather than after a timeout.
                for index in std::mem::take(&mut self.waiting) {
                    if let Some(conn) = self.conns.get_mut(index) {
                        let (id, count) = (conn.id(), conn.take_unsent());
                        batches.fail_now(index, id, count);
                    }
                }
            } else {
                return; // a batch is in flight; the next one goes when its reply arrives
            }
        }
    }

    /// Durable mode, once per loop turn while requests wait for a ceiling: park newly waiting connections, and
    /// when a ceiling rose or the oldest wait ended, let each parked connection take values in order. Never
    /// blocks: the reserving thread raises the ceilings, this only looks at them.
    fn durable_turn(&mut self, now: Instant) {
        let wait = Duration::from_millis(STATE_DEFER_MILLIS);
        for index in self.waiting.drain(..) {
            if let Some(conn) = self.conns.get_mut(index) {
                self.parked.push((index, conn.id(), now + wait));
            }
        }
        let ceilings = [self.app.status.ceiling(), self.app.status_v2.ceiling()];
        let expired = self.parked.first().is_some_and(|&(_, _, until)| until <= now);
        if ceilings == self.ceilings_seen && !expired {
            return;
        }
        self.ceilings_seen = ceilings;
        let mut parked = std::mem::take(&mut self.parked);
        parked.retain(|&(index, id, until)| {
            let Some(conn) = self.conns.get_mut(index).filter(|c| c.id() == id) else {
                return false; // closed meanwhile
            };
            let mut ctx = ctx!(self);
            let outcome = conn.deliver(SharedResult::Retry { expired: until <= now }, 0, &mut ctx);
            if let Outcome::Close(reason) = outcome {
                self.close(index, reason);
                return false;
            }
            let conn = self.conns.get_mut(index);
            match conn {
                Some(conn) if !conn.has_deferred() => {
                    conn.take_unsent(); // off `waiting` for good: it may be parked again later
                    false
                }
                _ => true,
            }
        });
        self.parked = parked;
    }

    fn deliver(&mut self, index: usize, id: u64, (count, result): (usize, SharedResult)) {
        let Some(conn) = self.conns.get_mut(index).filter(|c| c.id() == id) else {
            return; // closed while waiting: its values are simply never shown (never reused)
        };
        let mut ctx = ctx!(self);
        if let Outcome::Close(reason) = conn.deliver(result, count, &mut ctx) {
            self.close(index, reason);
        }
    }

    fn close(&mut self, index: usize, reason: CloseReason) {
        if let Some(mut conn) = self.conns.remove(index) {
            let _ = self.poll.registry().deregister(conn.stream_mut());
            self.app.metrics.worker(self.id).closed(close_label(reason));
        }
        if self.accept_paused {
            self.accept_paused = false;
            self.accept();
        }
    }

    /// Once a (monotonic) second: expire deadlines, retry a paused accept.
    fn tick(&mut self) {
        let now = self.clock.mono_secs();
        for index in self.conns.indices() {
            if let Some(Outcome::Close(reason)) = self.conns.get_mut(index).map(|c| c.check_deadline(now)) {
                self.close(index, reason);
            }
        }
        if self.accept_paused {
            self.accept_paused = false;
            self.accept();
        }
    }

    /// Shutdown: stop accepting, close idle connections, let in-flight ones finish. True when done.
    fn stop(&mut self) -> bool {
        let now = self.clock.mono_secs();
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
            self.stop_deadline = Some(now + SHUTDOWN_DEADLINE_SECS);
        }
        for index in self.conns.indices() {
            if self.conns.get_mut(index).is_some_and(|c| c.is_idle()) {
                self.close(index, CloseReason::Shutdown);
            }
        }
        if self.conns.is_empty() {
            return true;
        }
        if self.stop_deadline.is_some_and(|d| now >= d) {
            let open = self.conns.len();
            log::warn("shutdown deadline passed, dropping connections", &[("worker", &self.id), ("open", &open)]);
            return true;
        }
        false
    }
}

fn mode(batches: &Option<Batches>, durable: bool) -> Mode {
    match batches {
        None if durable => Mode::Durable,
        None => Mode::Memory,
        Some(b) => Mode::Redis { ready: b.is_ready(), last: b.last_seen() },
    }
}

/// The `reason` label a closed connection is counted under.
fn close_label(reason: CloseReason) -> metrics::Close {
    match reason {
        CloseReason::PeerClosed => metrics::Close::ClientClose,
        CloseReason::Done => metrics::Close::CloseRequested,
        CloseReason::BadRequest => metrics::Close::BadRequest,
        CloseReason::IdleTimeout => metrics::Close::IdleTimeout,
        CloseReason::HeaderTimeout => metrics::Close::HeaderTimeout,
        CloseReason::SendTimeout => metrics::Close::SendTimeout,
        CloseReason::Shutdown => metrics::Close::Shutdown,
        CloseReason::Error => metrics::Close::Error,
    }
}

fn is_resource_exhausted(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}

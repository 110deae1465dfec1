//! The reply queue: one entry per command written on the link's current connection, in the order written, each
//! naming what its reply decides. Owns "one result per batch": every batch the link accepts gets exactly one
//! `Done`, carrying the batch's identity, from exactly one place (its script reply, its WAIT reply, a refusal,
//! or `fail_all` when the connection is dropped). Also owns what a batch's values must pass before they leave:
//! a counter value, a TIME in range, enough replica acknowledgements, and the tripwire. Not the socket, the
//! connection state or the handshake's meaning (`link.rs`), nor the redirect rules (`cluster.rs`).
//!
//! Why a queue and why it cannot reorder: Redis answers one connection's commands in the order it read them, so
//! the n-th reply is the n-th command's, and the queue's front is always the command the next reply answers.
//! Nothing is ever inserted in the middle, and a batch's script call is written once, never again on the same
//! connection (NOSCRIPT fails that batch, see `on_script`), so a batch's result is decided by its own reply and
//! handed back under its own `BatchId`: the caller pairs results with requests by identity, never by position.
//! A reply the queue cannot classify for the command at its front means Redis and the link disagree about
//! what was sent: that batch fails, and the link drops the connection (every other batch in flight fails, each
//! with its own result), so no later reply is ever read against the wrong command.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::cluster::{self, Cluster, Redirect, Verdict};
use super::fault::{self, Fault};
use super::resp::{error_kind, IntArray, Listing, RedisErrorKind, Reply};
use super::script::BatchReply;
use super::sentinel::{self, Answer};
use crate::counter::Snapshot;
use crate::limits::{
    REDIS_QUEUE_ENTRIES, REDIS_RUN_BYTES_MAX, REDIS_SHA_BYTES_MAX, REDIS_TIMEOUT_MILLIS, UNIX_SECS_MAX,
};
use crate::log;
use crate::metrics::Slot;

/// A batch's identity: given by the caller in the order batches are sent, unique for the link's lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BatchId(pub u64);

/// What one batch got from Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchResult {
    /// The batch's k increments hold the consecutive values `first ..= first + k - 1`, all changed at
    /// `last_changed` (Redis TIME, seconds).
    Values { first: u64, last_changed: u64 },
    /// Redis was unreachable, timed out, refused, or the values could not be handed out (a WAIT shortfall,
    /// the tripwire, a reply that is not a counter): no value, never a made-up or repeated one.
    Failed,
}

/// The one result of one batch: `k` is the batch size the link was given, so the caller can check it against
/// the requests it put in the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Done {
    pub batch: BatchId,
    pub k: usize,
    pub result: BatchResult,
}

/// What a pending command's reply answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmd {
    SentinelAuth,
    SentinelAsk,
    Auth,
    Select,
    Role,
    /// The run-id probe (`script::PROBE`): which Redis process this connection reaches.
    Probe,
    Load,
    /// Redis Cluster: the one-shot ASKING before a batch an `-ASK` sent here.
    Asking,
    /// A batch's script call. Its reply decides the batch, except that with WAIT good values are held by the
    /// WAIT entry behind it until that reply comes.
    Script {
        batch: BatchId,
        k: usize,
    },
    /// The WAIT written right behind a batch's script call. `held`: the batch's (first, seconds), waiting for
    /// this reply, which then decides the batch; None: the script reply decided it already.
    Wait {
        batch: BatchId,
        k: usize,
        held: Option<(u64, u64)>,
    },
}

impl Cmd {
    /// The entry that settles a batch last: its WAIT when WAIT is on, else its script call.
    fn ends_batch(self, with_wait: bool) -> bool {
        matches!(self, Cmd::Wait { .. }) || (matches!(self, Cmd::Script { .. }) && !with_wait)
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Pending {
    pub cmd: Cmd,
    /// When the command was written: its reply is due `REDIS_TIMEOUT_MILLIS` later, whatever the command.
    pub sent: Instant,
}

/// A reply reduced to what the link acts on, so it no longer borrows the read buffer.
#[derive(Debug)]
pub enum Owned {
    Ok,
    Sha([u8; REDIS_SHA_BYTES_MAX], usize),
    /// A bulk too long for a SHA: the probe's process identity.
    Run([u8; REDIS_RUN_BYTES_MAX], usize),
    /// An integer array: the script's reply, shaped by `script::BatchReply`.
    Array(IntArray),
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
    /// A well-framed reply no command of ours gets (a null, a bulk, an array of another shape).
    Other,
}

/// Why a batch's reply could not be handed out, though the connection stays in step: that batch alone fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    /// The script cache was emptied (restart, failover, SCRIPT FLUSH).
    NoScript,
    /// The script raised an error (the counter key holds another type or a non-integer, an overflow...).
    ScriptError,
    /// The value is not a counter: at or below zero once the batch is taken off (a key set negative).
    NotACounter,
    /// Redis TIME outside the years 1970-9999: nothing a response may carry as `lastChanged`.
    BadTime,
    /// One more increment would pass `i64::MAX` (`COUNTER_EXHAUSTED`): the counter is spent.
    Exhausted,
}

impl Refusal {
    fn message(self) -> &'static str {
        match self {
            Refusal::NoScript => "redis script cache is empty (NOSCRIPT): answering that batch 503, loading it again",
            Refusal::ScriptError => "redis script call failed: answering that batch 503",
            Refusal::NotACounter => "redis returned a value that cannot be a counter (<= 0): answering that batch 503",
            Refusal::BadTime => "redis TIME outside years 1970-9999: answering that batch 503",
            Refusal::Exhausted => {
                "redis counter exhausted: one more would pass 9223372036854775807; answering that batch 503"
            }
        }
    }
}

/// What the link must do after a script reply the queue handled.
#[derive(Debug, PartialEq, Eq)]
pub enum After {
    Nothing,
    /// NOSCRIPT: queue a SCRIPT LOAD (unless one is pending), so later batches find the script.
    Reload,
}

pub struct Replies {
    queue: VecDeque<Pending>,
    /// `--redis-wait-replicas`: each script call is followed by a WAIT; 0: none.
    wait_replicas: u32,
    /// The last WAIT came back short: logged once when it starts and once when it ends.
    short: bool,
    /// The tripwire: the highest value this worker handed out. A batch at or below it is never shown.
    highest: u64,
    /// The refusal last logged, so a run of them logs once; cleared by the next batch that gets values.
    refused: Option<Refusal>,
    /// The connection's Redis process identity, for the skip's log line (set at each handshake).
    run: Vec<u8>,
    worker: usize,
    stats: Slot,
}

impl Replies {
    /// `start_above`: the mark every worker starts with (`--redis-start-above`).
    pub fn new(wait_replicas: u32, start_above: u64, worker: usize, stats: Slot) -> Replies {
        let queue = VecDeque::with_capacity(REDIS_QUEUE_ENTRIES);
        let run = Vec::with_capacity(REDIS_RUN_BYTES_MAX);
        Replies { queue, wait_replicas, short: false, highest: start_above, refused: None, run, worker, stats }
    }

    /// The tripwire's mark: the highest value this worker handed out (or `--redis-start-above`). The script
    /// lifts a counter that answers at or below it.
    pub fn mark(&self) -> u64 {
        self.highest
    }

    /// The Redis process this connection reaches, named in the skip's log line.
    pub fn set_run(&mut self, run: &[u8]) {
        self.run.clear();
        self.run.extend_from_slice(run);
    }

    pub fn push(&mut self, cmd: Cmd, now: Instant) {
        self.queue.push_back(Pending { cmd, sent: now });
    }

    /// The command the next reply answers.
    pub fn front(&self) -> Option<Cmd> {
        self.queue.front().map(|p| p.cmd)
    }

    pub fn pop(&mut self) -> Option<Pending> {
        self.queue.pop_front()
    }

    /// When the oldest pending command's reply is overdue: every kind has the same deadline, and the front's
    /// is the earliest.
    pub fn deadline(&self) -> Option<Instant> {
        self.queue.front().map(|p| p.sent + Duration::from_millis(REDIS_TIMEOUT_MILLIS))
    }

    pub fn is_pending(&self, cmd: Cmd) -> bool {
        self.queue.iter().any(|p| p.cmd == cmd)
    }

    /// Batches not yet settled on this connection.
    pub fn batches(&self) -> usize {
        let with_wait = self.wait_replicas > 0;
        self.queue.iter().filter(|p| p.cmd.ends_batch(with_wait)).count()
    }

    /// Forgets the entries of a socket that is being dropped, which must owe no batch a result (a Sentinel's,
    /// or a node left after a redirect once everything on it was answered).
    pub fn clear_setup(&mut self) {
        debug_assert_eq!(self.batches(), 0, "a batch would lose its result");
        self.queue.clear();
    }

    /// The connection is dropped: every batch still owed a result fails, oldest first (a batch whose values wait
    /// for their WAIT is older than every script call behind it).
    pub fn fail_all(&mut self, done: &mut Vec<Done>) {
        for pending in self.queue.drain(..) {
            match pending.cmd {
                Cmd::Script { batch, k } | Cmd::Wait { batch, k, held: Some(_) } => {
                    done.push(Done { batch, k, result: BatchResult::Failed });
                }
                _ => {}
            }
        }
    }

    /// A script call's reply. `Ok`: the connection stays in step (the batch got its result, or waits for its
    /// WAIT, or was redirected). `Err`: the link must drop the connection; this batch has its result already.
    pub fn on_script(
        &mut self,
        (batch, k, sent): (BatchId, usize, Instant),
        reply: Owned,
        now: Instant,
        cluster: &mut Cluster,
        done: &mut Vec<Done>,
    ) -> Result<After, Fault> {
        let fail = Done { batch, k, result: BatchResult::Failed };
        match reply {
            Owned::Array(items) => {
                self.stats.redis_reply(now.saturating_duration_since(sent));
                match BatchReply::parse(items.as_slice(), k) {
                    Some(reply) => self.on_values(batch, k, reply, cluster, done),
                    None => {
                        done.push(fail);
                        self.refuse(batch, Refusal::NotACounter);
                    }
                }
                Ok(After::Nothing)
            }
            Owned::Redirect(redirect) => {
                // Not run, so safe to send again, on the node named (its WAIT, next, finds nothing held).
                self.stats.redis_reply(now.saturating_duration_since(sent));
                match cluster.redirected(batch, k, redirect) {
                    Verdict::Wait => Ok(After::Nothing),
                    Verdict::TooMany => Err(Fault::Cluster),
                }
            }
            Owned::Error(RedisErrorKind::NoScript) => {
                // Not run. Sending it again (as EVAL, at the back) would answer it after batches sent behind
                // it, out of the order its connections' requests were taken in: it fails instead, once.
                done.push(fail);
                self.refuse(batch, Refusal::NoScript);
                Ok(After::Reload)
            }
            Owned::Error(RedisErrorKind::Exhausted) => {
                // The script checked before it wrote: nothing changed, the connection is in step.
                done.push(fail);
                self.refuse(batch, Refusal::Exhausted);
                Ok(After::Nothing)
            }
            Owned::Error(RedisErrorKind::Other) => {
                // The script raised an error: Redis answered this call and reads the next one as usual.
                done.push(fail);
                self.refuse(batch, Refusal::ScriptError);
                Ok(After::Nothing)
            }
            Owned::Error(kind) => {
                // The node's state (a replica, loading, busy, not the slot's owner...): leave it.
                Self::fail_redirected_first(cluster, done);
                done.push(fail);
                Err(fault::of_error(kind))
            }
            other => {
                done.push(fail);
                log::warn(
                    "redis answered a script call with a reply it cannot return; answering that batch 503 and \
                     dropping the connection",
                    &[("worker", &self.worker), ("batch", &batch.0), ("reply", &format_args!("{other:?}"))],
                );
                Err(Fault::Protocol)
            }
        }
    }

    /// The script's values (`BatchReply::parse` checked `last >= k`, so `first >= 1`): the skip or lift it
    /// made is counted and logged, then the values are handed out, or held for the WAIT right behind them.
    fn on_values(&mut self, batch: BatchId, k: usize, reply: BatchReply, cluster: &mut Cluster, done: &mut Vec<Done>) {
        let fail = Done { batch, k, result: BatchResult::Failed };
        if reply.skipped > 0 || reply.lifted > 0 {
            self.skipped(&reply);
        }
        let (last, seconds) = (reply.last, reply.seconds);
        let Some(seconds) = Some(seconds).filter(|&s| s <= UNIX_SECS_MAX) else {
            done.push(fail);
            return self.refuse(batch, Refusal::BadTime);
        };
        // Batches redirected before this one ran here after all: they answer first, 503.
        Self::fail_redirected_first(cluster, done);
        cluster.served();
        self.refused = None;
        let first = last + 1 - k as u64;
        if self.wait_replicas == 0 {
            return self.hand_out(batch, k, first, seconds, done);
        }
        match self.queue.front_mut() {
            Some(Pending { cmd: Cmd::Wait { batch: waits_for, held, .. }, .. }) if *waits_for == batch => {
                *held = Some((first, seconds));
            }
            // Cannot happen: push_batch writes the WAIT right behind. Never hand out unacknowledged values.
            _ => {
                debug_assert!(false, "no WAIT behind batch {batch:?}");
                done.push(fail);
            }
        }
    }

    /// A WAIT's reply: `Ok` keeps the connection; an error or another type fails the held batch and drops it.
    pub fn on_wait(
        &mut self,
        (batch, k, held): (BatchId, usize, Option<(u64, u64)>),
        reply: Owned,
        done: &mut Vec<Done>,
    ) -> Result<(), Fault> {
        match (reply, held) {
            (Owned::Integer(acks), Some((first, seconds))) => {
                self.acknowledged(acks, batch, k, first, seconds, done);
                Ok(())
            }
            (Owned::Integer(_), None) => Ok(()),
            (reply, held) => {
                if held.is_some() {
                    done.push(Done { batch, k, result: BatchResult::Failed });
                }
                Err(match reply {
                    Owned::Error(kind) => fault::of_error(kind),
                    _ => Fault::Protocol,
                })
            }
        }
    }

    /// One log line per skip (a new Redis process) and per lift (an answer at or below this worker's mark).
    fn skipped(&mut self, reply: &BatchReply) {
        let run = String::from_utf8_lossy(&self.run);
        if reply.skipped > 0 {
            self.stats.redis_skip(reply.skipped);
            log::warn(
                "first write through this redis process: counter skipped ahead",
                &[("worker", &self.worker), ("run", &run), ("gap", &reply.skipped), ("value", &reply.last)],
            );
        }
        if reply.lifted > 0 {
            self.stats.redis_lift(reply.lifted);
            log::warn(
                "redis answered at or below a value this worker handed out: counter lifted past it",
                &[
                    ("worker", &self.worker),
                    ("run", &run),
                    ("mark", &self.highest),
                    ("lifted", &reply.lifted),
                    ("value", &reply.last),
                ],
            );
        }
    }

    /// Redirected batches are older than any still queued: once the node answered a later one, they fail first.
    fn fail_redirected_first(cluster: &mut Cluster, done: &mut Vec<Done>) {
        for (batch, k) in cluster.abandon() {
            done.push(Done { batch, k, result: BatchResult::Failed });
        }
    }

    /// Logs a run of the same refusal once.
    fn refuse(&mut self, batch: BatchId, refusal: Refusal) {
        if self.refused == Some(refusal) {
            return;
        }
        self.refused = Some(refusal);
        let fields: [(&str, &dyn std::fmt::Display); 2] = [("worker", &self.worker), ("batch", &batch.0)];
        match refusal {
            Refusal::NoScript => log::info(refusal.message(), &fields),
            _ => log::warn(refusal.message(), &fields),
        }
    }

    /// A batch's WAIT reply: its values go out only if enough replicas have them, so a replica promoted after a
    /// crash of this primary already holds the counter past them. Otherwise the whole batch answers 503: the
    /// values are skipped (a gap), never handed out unreplicated.
    fn acknowledged(&mut self, acks: i64, batch: BatchId, k: usize, first: u64, seconds: u64, done: &mut Vec<Done>) {
        let wanted = i64::from(self.wait_replicas);
        if acks >= wanted {
            if self.short {
                self.short = false;
                log::info("redis replicas acknowledge again", &[("worker", &self.worker), ("acks", &acks)]);
            }
            return self.hand_out(batch, k, first, seconds, done);
        }
        self.stats.redis_wait_shortfall();
        if !self.short {
            self.short = true;
            log::warn(
                "redis replicas did not acknowledge in time; answering 503",
                &[("worker", &self.worker), ("acks", &acks), ("wanted", &wanted)],
            );
        }
        done.push(Done { batch, k, result: BatchResult::Failed });
    }

    /// The tripwire, the last check before values leave: a batch at or below the highest value this worker
    /// handed out means Redis lost increments (a failover to a replica that lacked them, a restart from an old
    /// file, a key reset) and these values were handed out already. Never shown: 503, and Redis' counter, which
    /// this batch advanced, climbs past the mark as traffic continues.
    fn hand_out(&mut self, batch: BatchId, k: usize, first: u64, seconds: u64, done: &mut Vec<Done>) {
        if first <= self.highest {
            self.stats.redis_tripwire();
            log::error(
                "tripwire: redis returned values at or below one already handed out; answering 503",
                &[("worker", &self.worker), ("first", &first), ("highest", &self.highest)],
            );
            return done.push(Done { batch, k, result: BatchResult::Failed });
        }
        let last = first + k as u64 - 1;
        self.highest = last;
        self.stats.redis_value(Snapshot { counter: last, last_changed: seconds });
        done.push(Done { batch, k, result: BatchResult::Values { first, last_changed: seconds } });
    }
}

/// A Sentinel's reply to get-master-addr-by-name.
pub fn own_answer(listing: &Listing<'_>) -> Owned {
    match listing {
        Listing::Other(Reply::Error(message)) => Owned::Error(error_kind(message)),
        listing => Owned::Answer(sentinel::answer(listing)),
    }
}

/// ROLE's reply.
pub fn own_role(listing: &Listing<'_>) -> Owned {
    match listing {
        Listing::Items(items) => Owned::Role { primary: items.bulk(0) == Some(b"master") },
        Listing::Other(Reply::Error(message)) => Owned::Error(error_kind(message)),
        Listing::Other(_) => Owned::Other,
    }
}

/// Any other reply. `host` is the node the reply came from, for a redirect that names no host.
pub fn own(reply: Reply<'_>, host: &str) -> Owned {
    match reply {
        Reply::Simple(_) => Owned::Ok,
        Reply::Error(message) => match error_kind(message) {
            RedisErrorKind::Moved | RedisErrorKind::Ask => match cluster::parse_redirect(message, host) {
                Some(redirect) => Owned::Redirect(redirect),
                None => Owned::Error(RedisErrorKind::Other),
            },
            kind => Owned::Error(kind),
        },
        Reply::Bulk(Some(sha)) if sha.len() <= REDIS_SHA_BYTES_MAX => {
            let mut buf = [0u8; REDIS_SHA_BYTES_MAX];
            buf[..sha.len()].copy_from_slice(sha);
            Owned::Sha(buf, sha.len())
        }
        Reply::Bulk(Some(run)) if run.len() <= REDIS_RUN_BYTES_MAX => {
            let mut buf = [0u8; REDIS_RUN_BYTES_MAX];
            buf[..run.len()].copy_from_slice(run);
            Owned::Run(buf, run.len())
        }
        Reply::Integer(n) => Owned::Integer(n),
        Reply::Array(items) => Owned::Array(items),
        _ => Owned::Other,
    }
}

//! Redis mode inside one worker: which connections' deferred /status requests went into which batch, and the
//! results handed back to them in request order. The link to Redis itself is `redis::link`; this file turns
//! what a batch got (`BatchResult`) into each connection's share of it (`SharedResult`, which `app.rs` renders).
//!
//! A batch is one script call for the k requests this worker had in hand; its reply is the counter after
//! `INCRBY k`, so the batch's values are `last-k+1 ..= last`, given out in the order the requests were taken.
//! Each batch has an identity (`BatchId`); the link settles each exactly once under it, and a result is
//! matched to its batch by that identity, never by its position among results. Batches still answer their
//! connections oldest first: a settled batch waits for every older one, so a connection's responses keep the
//! order of its requests.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use mio::{Registry, Token};

use crate::app::SharedResult;
use crate::config::RedisTarget;
use crate::counter::Snapshot;
use crate::limits::CONNECTIONS_PER_WORKER_MAX;
use crate::metrics::Slot;
use crate::redis::link::{BatchId, BatchResult, Done, Link};

/// One connection's share of a batch: (slot, connection id, requests).
type Member = (usize, u64, usize);

/// A batch sent and not yet split among its members.
struct InFlight {
    id: BatchId,
    /// Its members are the next `members` entries of `Batches::members`.
    members: usize,
    /// The requests it carries: the sum of its members' counts.
    k: usize,
    /// Set once, by the link's one `Done` for this batch.
    result: Option<BatchResult>,
}

pub struct Batches {
    link: Link,
    /// Batches in flight, oldest first.
    batches: VecDeque<InFlight>,
    members: VecDeque<Member>,
    /// Results from the link, not yet recorded against their batches.
    done: Vec<Done>,
    /// Per-connection results ready to hand over: (slot, id, (count, result)).
    ready: VecDeque<(usize, u64, (usize, SharedResult))>,
    last_seen: Snapshot,
    /// The next batch's identity.
    next_id: u64,
}

impl Batches {
    pub fn new(target: RedisTarget, token: Token, worker: usize, stats: Slot) -> Batches {
        Batches {
            link: Link::new(target, token, worker, stats),
            batches: VecDeque::with_capacity(64),
            members: VecDeque::with_capacity(CONNECTIONS_PER_WORKER_MAX),
            done: Vec::with_capacity(64),
            ready: VecDeque::with_capacity(CONNECTIONS_PER_WORKER_MAX),
            last_seen: Snapshot::default(),
            next_id: 0,
        }
    }

    pub fn is_ready(&self) -> bool {
        self.link.is_ready()
    }

    pub fn can_send(&self) -> bool {
        self.link.can_send()
    }

    /// The latest value and change time this worker saw: answers HEAD /status without a round trip.
    pub fn last_seen(&self) -> Snapshot {
        self.last_seen
    }

    pub fn next_wakeup(&self, now: Instant) -> Option<Duration> {
        self.link.next_wakeup(now)
    }

    pub fn on_link_event(&mut self, now: Instant, registry: &Registry) {
        self.link.on_event(now, registry, &mut self.done);
    }

    pub fn maintain(&mut self, now: Instant, registry: &Registry) {
        self.link.maintain(now, registry, &mut self.done);
    }

    /// Takes every waiting connection's unsent requests (via `take`: slot -> (id, count)) into one batch.
    pub fn send_batch(
        &mut self,
        waiting: &mut Vec<usize>,
        mut take: impl FnMut(usize) -> Option<(u64, usize)>,
        now: Instant,
        registry: &Registry,
    ) {
        let (mut k, mut n) = (0, 0);
        for index in waiting.drain(..) {
            if let Some((id, count)) = take(index).filter(|&(_, count)| count > 0) {
                self.members.push_back((index, id, count));
                k += count;
                n += 1;
            }
        }
        if k > 0 {
            let id = BatchId(self.next_id);
            self.next_id += 1;
            self.batches.push_back(InFlight { id, members: n, k, result: None });
            self.link.send_batch(id, k, now, registry, &mut self.done);
        }
    }

    /// Answers a connection's requests with 503 without asking Redis (the link is down).
    pub fn fail_now(&mut self, index: usize, id: u64, count: usize) {
        if count > 0 {
            self.ready.push_back((index, id, (count, SharedResult::Unavailable)));
        }
    }

    /// The next connection's results: records the link's results against their batches, then splits every
    /// settled batch at the front among its members, oldest first.
    pub fn next_delivery(&mut self) -> Option<(usize, u64, (usize, SharedResult))> {
        if self.ready.is_empty() {
            let mut done = std::mem::take(&mut self.done);
            for result in done.drain(..) {
                self.record(result);
            }
            self.done = done; // put the capacity back: dropping it cost one allocation per batch
            while let Some(&InFlight { result: Some(result), members, k, .. }) = self.batches.front() {
                self.batches.pop_front();
                self.split(members, k, result);
            }
        }
        self.ready.pop_front()
    }

    /// One result from the link, kept with its batch (found by identity) until every older batch is settled.
    /// Exactly one per batch, of the batch's own size: anything else is a bug in the link, and in a release
    /// build the batch answers 503 rather than carry values that may not be its own.
    fn record(&mut self, done: Done) {
        let Some(batch) = self.batches.iter_mut().find(|b| b.id == done.batch) else {
            debug_assert!(false, "a result for {:?}, which is not in flight", done.batch);
            return;
        };
        debug_assert!(batch.result.is_none(), "a second result for {:?}", done.batch);
        debug_assert_eq!(batch.k, done.k, "{:?} settled with another size", done.batch);
        if batch.result.is_none() {
            batch.result = Some(if batch.k == done.k { done.result } else { BatchResult::Failed });
        }
    }

    /// Gives each of a batch's `members` its run of the batch's values (or its failure), in the order the
    /// requests were taken.
    fn split(&mut self, members: usize, k: usize, result: BatchResult) {
        let mut offset = 0u64;
        for _ in 0..members {
            let Some((index, id, count)) = self.members.pop_front() else { break };
            let share = match result {
                BatchResult::Values { first, last_changed } => {
                    SharedResult::Values { first: first + offset, last_changed }
                }
                BatchResult::Failed => SharedResult::Unavailable,
            };
            self.ready.push_back((index, id, (count, share)));
            offset += count as u64;
        }
        debug_assert_eq!(offset, k as u64, "a batch's members hold its k requests");
        if let BatchResult::Values { first, last_changed } = result {
            self.last_seen = Snapshot { counter: first + k as u64 - 1, last_changed };
        }
    }
}

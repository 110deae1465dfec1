//! Redis mode inside one worker: which connections' deferred /status requests went into which batch, and the
//! results handed back to them in request order. The link to Redis itself is `redis::link`; this file turns
//! what a batch got (`BatchResult`) into each connection's share of it (`SharedResult`, which `app.rs` renders).
//!
//! A batch is one script call for the k requests this worker had in hand; its reply is the counter after
//! `INCRBY k`, so the batch's values are `last-k+1 ..= last`, given out in the order the requests were taken.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use mio::{Registry, Token};

use crate::app::SharedResult;
use crate::config::RedisTarget;
use crate::counter::Snapshot;
use crate::limits::CONNECTIONS_PER_WORKER_MAX;
use crate::metrics::Slot;
use crate::redis::link::{BatchResult, Link};

/// One connection's share of a batch: (slot, connection id, requests).
type Member = (usize, u64, usize);

pub struct Batches {
    link: Link,
    /// Members per batch in flight, oldest first.
    batches: VecDeque<usize>,
    members: VecDeque<Member>,
    /// Batch results from the link, in order, not yet split among members.
    done: Vec<(usize, BatchResult)>,
    /// Per-connection results ready to hand over: (slot, id, (count, result)).
    ready: VecDeque<(usize, u64, (usize, SharedResult))>,
    last_seen: Snapshot,
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
            self.batches.push_back(n);
            self.link.send_batch(k, now, registry, &mut self.done);
        }
    }

    /// Answers a connection's requests with 503 without asking Redis (the link is down).
    pub fn fail_now(&mut self, index: usize, id: u64, count: usize) {
        if count > 0 {
            self.ready.push_back((index, id, (count, SharedResult::Unavailable)));
        }
    }

    /// The next connection's results, splitting finished batches among their members in order.
    pub fn next_delivery(&mut self) -> Option<(usize, u64, (usize, SharedResult))> {
        if self.ready.is_empty() {
            for (k, result) in std::mem::take(&mut self.done).drain(..) {
                self.split(k, result);
            }
        }
        self.ready.pop_front()
    }

    /// Gives each member of the oldest batch its run of the batch's values (or its failure), in the order the
    /// requests were taken.
    fn split(&mut self, k: usize, result: BatchResult) {
        let members = self.batches.pop_front().unwrap_or(0);
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
        if let BatchResult::Values { first, last_changed } = result {
            self.last_seen = Snapshot { counter: first + k as u64 - 1, last_changed };
        }
    }
}

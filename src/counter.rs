//! The two counters behind `/status` (atomics) and `/statusV2` (a mutex). Pure state: no I/O, no clock.
//!
//! The caller passes the current UTC second; `lastChanged` is the latest second any increment has seen, so it
//! never goes backwards even if a worker's clock reading is a second older than another's.
//!
//! With a state file each counter also has a *ceiling*: the highest value the file durably reserves.
//! `increment_within` never hands out a value above it (one atomic load and a compare); `state/` raises it,
//! only after the reservation is on disk. Without a state file the ceiling is never read (`increment`).

use crate::sync::{lock, AtomicU64, Mutex, Ordering};

/// What one increment (or a peek) observed: the counter after it, and when it last changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub counter: u64,
    /// Unix seconds (UTC) of the latest change.
    pub last_changed: u64,
}

impl Snapshot {
    /// `status` in the JSON: it flips on every increment, so it is the counter's parity.
    pub fn status(&self) -> bool {
        self.counter % 2 == 1
    }
}

/// `/status`: two independent atomics, no lock (a third, the ceiling, with a state file).
#[derive(Debug)]
pub struct AtomicCounter {
    value: AtomicU64,
    last_changed: AtomicU64,
    /// The durable ceiling `increment_within` checks: only ever raised (`raise_ceiling`).
    ceiling: AtomicU64,
}

impl AtomicCounter {
    pub fn new() -> AtomicCounter {
        AtomicCounter::resume(0, 0)
    }

    /// A counter that continues after `value`, with nothing reserved beyond it yet: `increment_within` hands
    /// out nothing until `raise_ceiling`.
    pub fn resume(value: u64, last_changed: u64) -> AtomicCounter {
        AtomicCounter {
            value: AtomicU64::new(value),
            last_changed: AtomicU64::new(last_changed),
            ceiling: AtomicU64::new(value),
        }
    }

    /// Adds one and returns the value after this increment with the latest change time.
    pub fn increment(&self, now_secs: u64) -> Snapshot {
        // ORDERING: Relaxed is enough for uniqueness: fetch_add is a read-modify-write, so all increments are
        // totally ordered on `value` and each returns a distinct predecessor. Nothing else is published
        // through this store.
        let counter = self.value.fetch_add(1, Ordering::Relaxed) + 1;
        // ORDERING: Relaxed throughout: no other memory is published with `last_changed`. It only ever grows
        // (its one writer is fetch_max), so by read-read and write-read coherence a thread's later load sees
        // at least what its earlier call loaded or stored. Within a second the clock is not ahead of the
        // stored value, and the plain load spares the second locked read-modify-write per request; only the
        // first increment of a new second pays for fetch_max.
        let seen = self.last_changed.load(Ordering::Relaxed);
        let last_changed =
            if now_secs > seen { self.last_changed.fetch_max(now_secs, Ordering::Relaxed).max(now_secs) } else { seen };
        Snapshot { counter, last_changed }
    }

    /// `increment` bounded by the durable ceiling: None when the value this call took is above it. That value
    /// is then never handed out (a gap, never a repeat); the caller defers the request and tries again once the
    /// ceiling is raised.
    pub fn increment_within(&self, now_secs: u64) -> Option<Snapshot> {
        // ORDERING: Relaxed, as in `increment`: the read-modify-write alone makes every value distinct.
        let counter = self.value.fetch_add(1, Ordering::Relaxed) + 1;
        // ORDERING: Acquire pairs with the Release in `raise_ceiling`: a ceiling seen here was stored after its
        // reservation reached the disk, and this thread sees everything the reserving thread did before the
        // store. Checking after the fetch_add (not before) is what makes the bound hold for racing threads: each
        // compares the value it alone owns. On x86 the Acquire load is a plain `mov`.
        if counter > self.ceiling.load(Ordering::Acquire) {
            return None;
        }
        // ORDERING: Relaxed, see `increment`.
        let seen = self.last_changed.load(Ordering::Relaxed);
        let last_changed =
            if now_secs > seen { self.last_changed.fetch_max(now_secs, Ordering::Relaxed).max(now_secs) } else { seen };
        Some(Snapshot { counter, last_changed })
    }

    /// The current state without changing it (HEAD requests, metrics).
    pub fn peek(&self) -> Snapshot {
        // ORDERING: Relaxed: a monitoring read; the two loads need not be from the same instant.
        Snapshot {
            counter: self.value.load(Ordering::Relaxed),
            last_changed: self.last_changed.load(Ordering::Relaxed),
        }
    }

    pub fn ceiling(&self) -> u64 {
        // ORDERING: Relaxed: the reserving thread (its only writer) and monitoring reads.
        self.ceiling.load(Ordering::Relaxed)
    }

    /// Lets `increment_within` hand out values up to `ceiling`. Call only once `ceiling` is durable.
    pub fn raise_ceiling(&self, ceiling: u64) {
        // ORDERING: Release pairs with the Acquire in `increment_within`; fetch_max keeps it from ever falling.
        self.ceiling.fetch_max(ceiling, Ordering::Release);
    }

    /// The highest value `increment_within` can have handed out: what a clean stop records. Values taken above
    /// the ceiling were never handed out. Exact once no thread increments any more.
    pub fn handed_out_max(&self) -> u64 {
        self.peek().counter.min(self.ceiling())
    }
}

/// `/statusV2`: the same contract with both fields behind one `Mutex`, kept for comparison with the original.
#[derive(Debug)]
pub struct MutexCounter {
    state: Mutex<Snapshot>,
    /// As in `AtomicCounter`; read under the lock, so no value above it is ever even taken.
    ceiling: AtomicU64,
}

impl MutexCounter {
    pub fn new() -> MutexCounter {
        MutexCounter::resume(0, 0)
    }

    /// See `AtomicCounter::resume`.
    pub fn resume(value: u64, last_changed: u64) -> MutexCounter {
        MutexCounter { state: Mutex::new(Snapshot { counter: value, last_changed }), ceiling: AtomicU64::new(value) }
    }

    /// Adds one and returns the value after this increment with the latest change time.
    pub fn increment(&self, now_secs: u64) -> Snapshot {
        let mut state = lock(&self.state);
        state.counter += 1;
        state.last_changed = state.last_changed.max(now_secs);
        *state
    }

    /// `increment` bounded by the durable ceiling: None (and nothing taken) when the counter is at it.
    pub fn increment_within(&self, now_secs: u64) -> Option<Snapshot> {
        let mut state = lock(&self.state);
        // ORDERING: Acquire, as in `AtomicCounter::increment_within`.
        if state.counter >= self.ceiling.load(Ordering::Acquire) {
            return None;
        }
        state.counter += 1;
        state.last_changed = state.last_changed.max(now_secs);
        Some(*state)
    }

    /// The current state without changing it.
    pub fn peek(&self) -> Snapshot {
        *lock(&self.state)
    }

    pub fn ceiling(&self) -> u64 {
        // ORDERING: Relaxed, as in `AtomicCounter::ceiling`.
        self.ceiling.load(Ordering::Relaxed)
    }

    /// See `AtomicCounter::raise_ceiling`.
    pub fn raise_ceiling(&self, ceiling: u64) {
        // ORDERING: as in `AtomicCounter::raise_ceiling`.
        self.ceiling.fetch_max(ceiling, Ordering::Release);
    }

    /// The highest value handed out: the counter never passes its ceiling.
    pub fn handed_out_max(&self) -> u64 {
        self.peek().counter
    }
}

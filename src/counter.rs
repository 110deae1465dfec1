//! The two counters behind `/status` (atomics) and `/statusV2` (a mutex). Pure state: no I/O, no clock.
//!
//! The caller passes the current UTC second; `lastChanged` is the latest second any increment has seen, so it
//! never goes backwards even if a worker's clock reading is a second older than another's.

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

/// `/status`: two independent atomics, no lock.
#[derive(Debug)]
pub struct AtomicCounter {
    value: AtomicU64,
    last_changed: AtomicU64,
}

impl AtomicCounter {
    pub fn new() -> AtomicCounter {
        AtomicCounter { value: AtomicU64::new(0), last_changed: AtomicU64::new(0) }
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

    /// The current state without changing it (HEAD requests, metrics).
    pub fn peek(&self) -> Snapshot {
        // ORDERING: Relaxed: a monitoring read; the two loads need not be from the same instant.
        Snapshot {
            counter: self.value.load(Ordering::Relaxed),
            last_changed: self.last_changed.load(Ordering::Relaxed),
        }
    }
}

/// `/statusV2`: the same contract with both fields behind one `Mutex`, kept for comparison with the original.
#[derive(Debug)]
pub struct MutexCounter {
    state: Mutex<Snapshot>,
}

impl MutexCounter {
    pub fn new() -> MutexCounter {
        MutexCounter { state: Mutex::new(Snapshot::default()) }
    }

    /// Adds one and returns the value after this increment with the latest change time.
    pub fn increment(&self, now_secs: u64) -> Snapshot {
        let mut state = lock(&self.state);
        state.counter += 1;
        state.last_changed = state.last_changed.max(now_secs);
        *state
    }

    /// The current state without changing it.
    pub fn peek(&self) -> Snapshot {
        *lock(&self.state)
    }
}

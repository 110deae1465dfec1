//! The process-wide lifecycle, shared by all workers: Serving -> Draining -> Stopping. Loom-modelled.
//!
//! Draining: `/ready` answers 503 so load balancers stop sending, but listeners stay open. Stopping: workers
//! close their listeners and idle connections, finish in-flight responses, and exit.
//!
//! Beside the phase, whether the state file keeps up (`--state-file`): a failing or stalled sync makes the
//! process not ready while it lasts, in any phase.

use crate::sync::{AtomicU8, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Serving = 0,
    Draining = 1,
    Stopping = 2,
}

#[derive(Debug)]
pub struct Lifecycle {
    phase: AtomicU8,
    /// 1 while the state file keeps up (always without one), 0 while its syncs fail or stall.
    store_ok: AtomicU8,
}

impl Lifecycle {
    pub fn new() -> Lifecycle {
        Lifecycle { phase: AtomicU8::new(Phase::Serving as u8), store_ok: AtomicU8::new(1) }
    }

    pub fn phase(&self) -> Phase {
        // ORDERING: Acquire pairs with the Release in `advance`: a worker that sees Stopping also sees
        // everything the signal thread did before advancing (nothing today, but it keeps the order obvious).
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Serving,
            1 => Phase::Draining,
            _ => Phase::Stopping,
        }
    }

    /// Moves forward to `to`; never backwards, whatever order concurrent callers arrive in.
    pub fn advance(&self, to: Phase) {
        // ORDERING: fetch_max is one read-modify-write, so the phase only grows even when two signals race.
        self.phase.fetch_max(to as u8, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.phase() == Phase::Serving && self.store_ok()
    }

    /// Whether the state file keeps up: set false by a failed sync or a request that waited out its deadline,
    /// true again by the reserving thread once a sync succeeds and every counter has room.
    pub fn set_store_ok(&self, ok: bool) {
        // ORDERING: Relaxed: a readiness hint, not a guard; no value depends on it (the ceiling is the guard).
        self.store_ok.store(u8::from(ok), Ordering::Relaxed);
    }

    pub fn store_ok(&self) -> bool {
        // ORDERING: Relaxed, see `set_store_ok`.
        self.store_ok.load(Ordering::Relaxed) == 1
    }
}

//! The process-wide lifecycle, shared by all workers: Serving -> Draining -> Stopping. Loom-modelled.
//!
//! Draining: `/ready` answers 503 so load balancers stop sending, but listeners stay open. Stopping: workers
//! close their listeners and idle connections, finish in-flight responses, and exit.

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
}

impl Lifecycle {
    pub fn new() -> Lifecycle {
        Lifecycle { phase: AtomicU8::new(Phase::Serving as u8) }
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
        self.phase() == Phase::Serving
    }
}

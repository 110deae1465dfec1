//! The std side of the std/loom switch: the only file that names `std::sync` primitives (atomics, locks,
//! channels, `Arc`).
//!
//! `loom-tests/` compiles `counter.rs` and `lifecycle.rs` by `#[path]` next to its own `sync.rs` that maps the
//! same names to loom's types, so the code the model checker explores is the code the server runs.

pub use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
pub use std::sync::mpsc;
pub use std::sync::Arc;
pub use std::sync::{Mutex, MutexGuard};

/// Locks a mutex, recovering the data if another thread panicked while holding it: every critical section in
/// this crate leaves its data consistent at each step, so a poisoned lock holds valid data.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

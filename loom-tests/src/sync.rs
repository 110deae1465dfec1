//! The loom side of the std/loom switch: the same names as `src/sync.rs`, backed by loom's types, so the
//! `#[path]`-included `counter.rs` and `lifecycle.rs` run under the model checker unchanged.

pub use loom::sync::atomic::{AtomicU64, AtomicU8, Ordering};
pub use loom::sync::{Mutex, MutexGuard};

/// Same contract as `src/sync.rs::lock`.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

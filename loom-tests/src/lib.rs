//! Loom models of counter's shared state. The modules below are the server's own source files, included by
//! path next to a loom-backed `sync` shim: one copy of the code, checked under every interleaving.

// Each shared type has one constructor, `new()`; a `Default` impl beside it would be dead code nobody calls.
#![allow(clippy::new_without_default)]

pub mod sync;

#[path = "../../src/counter.rs"]
pub mod counter;

#[path = "../../src/lifecycle.rs"]
pub mod lifecycle;

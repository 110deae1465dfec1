//! counter: a tiny HTTP/1.1 counter service on a hand-rolled mio event loop. See ARCHITECTURE.md.
//!
//! The modules below are listed by layer, top down. A module imports only from layers below its own (never
//! sideways, never up), so there are no circles; `scripts/check-layers.sh` enforces it in CI.

// Each shared type has one constructor, `new()`; a `Default` impl beside it would be dead code nobody calls.
#![allow(clippy::new_without_default)]

// The server: workers, their poll loops, connections, Redis mode's batches. (`main.rs` sits above it.)
pub mod server;

// What each endpoint answers; the Redis client (which knows no endpoint); the state file (which knows neither).
pub mod app;
pub mod redis;
pub mod state;

// HTTP parsing, routing and formatting; the metrics registry (which owns its own labels).
pub mod http;
pub mod metrics;

// Leaves: one concept each, knowing nothing of the layers above. Among themselves they point down too:
// configuration names a log format, the log writes calendar timestamps.
pub mod config;
pub mod counter;
pub mod cpu;
pub mod lifecycle;

pub mod log;

pub mod calendar;
pub mod limits;
pub mod sync;

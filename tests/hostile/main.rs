//! Hostile clients against the real binary, in a test binary of their own: the 10,000-connection flood and the
//! attacks load the whole machine, so they never run beside the rest of the suite (`cargo test` runs test
//! binaries one after another) and, inside this binary, one at a time (`attacks::serial`).
//!
//! These tests assert what happened, never how fast; `figures` (ignored, run by `scripts/hostile-figures.sh`)
//! prints the rates and latencies the README's Robustness table quotes, and asserts nothing.

mod attacks;
mod figures;
#[path = "../support/mod.rs"]
mod support;

//! The test support every test binary shares (tests/it, tests/ha, tests/hostile, tests/nemesis include it with
//! `#[path = "../support/mod.rs"] mod support;`): starting the real `counter` binary and talking HTTP to it
//! (`server`, re-exported here), load that records a history (`load`) and the history checker (`history`); real Redis, Sentinel and
//! Cluster processes (`redis`), a scripted hostile Redis (`hostile_redis`) and private networks for partitions
//! (`netns`).

#![allow(dead_code, unused_imports)]

pub mod history;
pub mod hostile_redis;
pub mod load;
pub mod netns;
pub mod redis;
mod server;

pub use server::*;

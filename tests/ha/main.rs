//! Redis high availability against real processes on free 127.0.0.1 ports: redis-server data nodes and
//! Sentinels (Debian's redis-server runs as one with `--sentinel`), all started from the repository's
//! deploy/redis/redis.conf and sentinel.conf, the files the deployments ship. A binary of its own because each
//! scenario runs six Redis processes and a real failover: the scenarios take turns (`serial`). Test names start
//! with `redis_` so builds without Redis (the nix sandbox) can `--skip redis_`; they never skip here.

#[path = "../support/mod.rs"]
mod support;

mod scenarios;

use std::sync::{Mutex, MutexGuard};

/// One scenario at a time: a failover's timing must not depend on another scenario's load.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

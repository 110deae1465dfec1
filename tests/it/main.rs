//! Integration tests: the real `counter` binary over TCP on 127.0.0.1. One scenario family per file.

mod cases;
mod clock;
mod cluster;
mod concurrency;
mod curl;
mod endpoints;
mod expect;
mod failover;
mod framing;
mod history;
mod hostile_redis_link;
mod metrics;
mod os;
mod pipelining;
mod prometheus;
mod redis;
mod redis_link;
mod shutdown;
mod skip_ahead;
#[path = "../support/mod.rs"]
mod support;
mod timeouts;
mod tls;

//! Integration tests: the real `counter` binary over TCP on 127.0.0.1. One scenario family per file.

mod cases;
mod concurrency;
mod curl;
mod endpoints;
mod framing;
mod metrics;
mod os;
mod pipelining;
mod prometheus;
mod redis;
mod shutdown;
mod support;
mod timeouts;

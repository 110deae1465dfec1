//! counter: a tiny HTTP/1.1 counter service on a hand-rolled mio event loop. See ARCHITECTURE.md.

pub mod app;
pub mod config;
pub mod counter;
pub mod cpu;
pub mod http;
pub mod lifecycle;
pub mod limits;
pub mod log;
pub mod metrics;
pub mod redis;
pub mod server;
pub mod sync;

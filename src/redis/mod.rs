//! Redis mode: the cluster-wide counter. Each worker owns one non-blocking connection (`link.rs`) registered in
//! its own `mio::Poll`; each command written waits in the reply queue (`replies.rs`), which settles every batch
//! exactly once under its identity; replies are parsed by `resp.rs` without allocation; faults and backoff are
//! `fault.rs`. The commands are in `script.rs`.

pub mod cluster;
pub mod fault;
pub mod link;
pub mod replies;
pub mod resolve;
pub mod resp;
pub mod script;
pub mod sentinel;
pub mod tls;

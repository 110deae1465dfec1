//! Redis mode: the cluster-wide counter. Each worker owns one non-blocking connection (`link.rs`) registered in
//! its own `mio::Poll`; replies are parsed by `resp.rs` without allocation. The commands are in `script.rs`.

pub mod cluster;
pub mod link;
pub mod resolve;
pub mod resp;
pub mod script;
pub mod sentinel;
pub mod tls;

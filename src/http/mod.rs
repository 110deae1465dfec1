//! HTTP/1.1 as this server speaks it: pure parsing, routing and formatting. No I/O lives under `http/`.

pub mod date;
pub mod request;
pub mod response;
pub mod route;
pub mod scan;

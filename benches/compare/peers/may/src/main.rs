//! Counter peer on may_minihttp (stackful coroutines, TechEmpower style).
//!
//! env: PORT (default 8082), WORKERS (default 1: may scheduler worker threads).

use std::io;

use may_minihttp::{HttpService, HttpServiceFactory, Request, Response};

struct Counter;

impl HttpService for Counter {
    fn call(&mut self, req: Request, rsp: &mut Response) -> io::Result<()> {
        if req.path() == "/status" && req.method() == "GET" {
            let (buf, len) = peer_common::next_body();
            rsp.header("Content-Type: application/json");
            rsp.body_mut().extend_from_slice(&buf[..len]);
        } else {
            rsp.status_code(404, "Not Found");
            rsp.body("not found");
        }
        Ok(())
    }
}

struct Factory;

impl HttpServiceFactory for Factory {
    type Service = Counter;
    fn new_service(&self, _id: usize) -> Counter {
        Counter
    }
}

fn main() {
    let port = peer_common::port_from_env(8082);
    let workers = peer_common::workers_from_env();
    may::config().set_workers(workers).set_pool_capacity(1000).set_stack_size(0x1000);
    eprintln!("peer-may listening on 127.0.0.1:{port} workers={workers}");
    let server = Factory.start(("127.0.0.1", port)).expect("bind");
    server.join().unwrap();
}

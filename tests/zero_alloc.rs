//! Zero heap allocations per request in steady state, proven with a counting global allocator over a real
//! socket: the server runs in this process (one worker), a client on 127.0.0.1 drives /status, /statusV2,
//! /health, /ready and a pipelined batch with preallocated buffers, and the allocation count must not move; in
//! memory mode and again with a state file (`--state-file`), reserving thread included.
//!
//! This binary holds one test on purpose: the allocator counts every thread, so nothing else may run here.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use counter::app::App;
use counter::config::Timeouts;
use counter::counter::{AtomicCounter, MutexCounter};
use counter::lifecycle::Phase;
use counter::limits::STATE_BLOCK_MIN;
use counter::metrics::{Info, Metrics};
use counter::server::Server;
use counter::state::{self, Shared, Stop};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{allocations, complete_responses};

/// Reads exactly `n` complete responses into `buf` without allocating; returns the bytes read.
fn read_responses(s: &mut TcpStream, buf: &mut [u8], n: usize) -> usize {
    let mut len = 0;
    loop {
        if complete_responses(&buf[..len]) >= n {
            return len;
        }
        let got = s.read(&mut buf[len..]).expect("read");
        assert!(got > 0, "server closed early");
        len += got;
    }
}

fn round(s: &mut TcpStream, req: &[u8], n: usize, buf: &mut [u8]) {
    s.write_all(req).expect("write");
    let len = read_responses(s, buf, n);
    assert!(buf[..len].starts_with(b"HTTP/1.1 200 OK\r\n"), "{}", String::from_utf8_lossy(&buf[..len]));
}

#[test]
fn steady_state_requests_allocate_nothing() {
    // Memory mode, then `--state-file` mode: the same requests, with the reserving thread syncing the file
    // (every few hundred requests at these block sizes) and counted too, since the allocator sees every thread.
    let app = Arc::new(App::new());
    exercise(&app);
    assert_eq!(app.status.peek().counter, (200 + ROUNDS as u64) * 17);

    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("zero-alloc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("test dir");
    let (mut state, resume) = state::open(&dir.join("counter.state")).expect("state file");
    let [a, b] = resume.counters;
    let durable = Arc::new(App::durable(
        Metrics::new(1, Info::default()),
        AtomicCounter::resume(a.ceiling, a.last_changed),
        MutexCounter::resume(b.ceiling, b.last_changed),
    ));
    let shared = Shared {
        status: &durable.status,
        status_v2: &durable.status_v2,
        lifecycle: &durable.lifecycle,
        stats: &durable.metrics.state,
    };
    state.start(shared).expect("first reservation");
    let stop = Stop::new();
    std::thread::scope(|scope| {
        scope.spawn(|| state.run(shared, &stop));
        exercise(&durable);
        stop.request();
    });
    // At least every request's value; a few more when a burst found the ceiling and waited (the deferral path
    // is then covered too, since a wait takes a value it does not hand out).
    assert!(durable.status.peek().counter >= (200 + ROUNDS as u64) * 17);
    assert!(durable.status.ceiling() > 10 * STATE_BLOCK_MIN, "the reserving thread raised the ceiling many times");
    let _ = std::fs::remove_dir_all(&dir);
}

const ROUNDS: usize = 2_000;

/// Warms up, then counts allocations over `ROUNDS` rounds of every request kind against one worker serving `app`.
fn exercise(app: &Arc<App>) {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = Server::start(addr, 1, &[], Timeouts::default(), None, Arc::clone(app)).expect("start");
    let mut s = TcpStream::connect(server.addr).expect("connect");
    s.set_nodelay(true).unwrap();
    let mut buf = vec![0u8; 1 << 16];

    let one: [(&[u8], usize); 4] = [
        (b"GET /status HTTP/1.1\r\nHost: a\r\n\r\n", 1),
        (b"GET /statusV2 HTTP/1.1\r\nHost: a\r\n\r\n", 1),
        (b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n", 1),
        (b"GET /ready HTTP/1.1\r\nHost: a\r\n\r\n", 1),
    ];
    let pipelined = b"GET /status HTTP/1.1\r\nHost: a\r\n\r\n".repeat(16);
    let mixed =
        [&b"GET /statusV2 HTTP/1.1\r\nHost: a\r\n\r\n"[..], b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n"].concat();

    // Warm-up: first-use allocations (thread-locals, lazily sized buffers) happen here.
    for _ in 0..200 {
        for (req, n) in one {
            round(&mut s, req, n, &mut buf);
        }
        round(&mut s, &pipelined, 16, &mut buf);
        round(&mut s, &mixed, 2, &mut buf);
    }

    let before = allocations();
    for _ in 0..ROUNDS {
        for (req, n) in one {
            round(&mut s, req, n, &mut buf);
        }
        round(&mut s, &pipelined, 16, &mut buf);
        round(&mut s, &mixed, 2, &mut buf);
    }
    let after = allocations();
    let requests = ROUNDS * (4 + 16 + 2);
    assert_eq!(after - before, 0, "{} allocations over {requests} requests", after - before);
    app.lifecycle.advance(Phase::Stopping);
    server.wake_all();
    server.join();
}

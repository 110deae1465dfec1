//! Graceful shutdown: SIGTERM turns /ready to 503 at once while listeners stay open for the drain, then the
//! process finishes in-flight work and exits 0. A second signal cuts the drain short.
//!
//! No check here races the drain: the test that looks inside the drain gives it 60 s and ends it with a second
//! signal; the test that times the drain only bounds it from below strictly and from above generously.

use std::io::{BufReader, Write};
use std::time::{Duration, Instant};

use crate::support::{eventually, get, read_response, sees_eof, Server};

const READY: &[u8] = b"GET /ready HTTP/1.1\r\nHost: a\r\n\r\n";

/// What a generous upper bound adds: seconds a loaded machine may not schedule the server for.
const SLACK: Duration = Duration::from_secs(10);

#[test]
fn sigterm_turns_ready_503_and_keeps_serving_until_a_second_signal() {
    let mut server = Server::start_with(&["--drain-seconds", "60"], &[]);
    let mut idle = BufReader::new(server.connect());
    idle.get_mut().write_all(READY).unwrap();
    assert_eq!(read_response(&mut idle, false).unwrap().status, 200);

    server.signal(libc::SIGTERM);
    // /ready turns 503 on the already-open connection and on new ones; the counter keeps serving.
    let saw_503 = eventually(SLACK, || {
        idle.get_mut().write_all(READY).unwrap();
        read_response(&mut idle, false).expect("open during the drain").status == 503
    });
    assert!(saw_503, "/ready never turned 503");
    let ready = get(&server, "/ready");
    assert_eq!((ready.status, ready.json()["ready"].as_bool()), (503, Some(false)));
    assert_eq!(get(&server, "/status").status, 200, "still serving during the drain");

    // A second signal ends the drain: the idle connection is closed and the process exits 0.
    server.signal(libc::SIGTERM);
    assert!(sees_eof(&mut idle), "idle connection closed at stop");
    assert_eq!(server.wait_exit(SLACK), Some(0));
    let logs = server.log_text();
    assert!(logs.contains("msg=\"drain begins\" signal=SIGTERM"), "{logs}");
    assert!(logs.contains("msg=\"drain cut short\" signal=SIGTERM") && logs.contains("msg=stopped"), "{logs}");
}

#[test]
fn sigterm_drains_for_the_drain_seconds_then_exits_zero() {
    const DRAIN: Duration = Duration::from_secs(2);
    let mut server = Server::start_with(&["--drain-seconds", "2"], &[]);
    let mut idle = BufReader::new(server.connect());
    idle.get_mut().write_all(READY).unwrap();
    assert_eq!(read_response(&mut idle, false).unwrap().status, 200);

    let signalled = Instant::now();
    server.signal(libc::SIGTERM);
    // After the drain the idle connection is closed and the process exits 0; never before the drain is over.
    assert!(sees_eof(&mut idle), "idle connection closed at stop");
    let closed = signalled.elapsed();
    assert_eq!(server.wait_exit(DRAIN + SLACK), Some(0));
    assert!(closed >= DRAIN, "the idle connection was closed {closed:?} after SIGTERM, inside the {DRAIN:?} drain");
    let logs = server.log_text();
    assert!(logs.contains("msg=\"drain begins\" signal=SIGTERM") && logs.contains("msg=stopped"), "{logs}");
    assert!(!logs.contains("drain cut short"), "{logs}");
}

#[test]
fn sigint_without_drain_exits_zero_promptly() {
    let mut server = Server::start();
    assert_eq!(get(&server, "/health").status, 200);
    server.signal(libc::SIGINT);
    assert_eq!(server.wait_exit(SLACK), Some(0));
}

//! Graceful shutdown: SIGTERM turns /ready to 503 at once while listeners stay open for the drain, then the
//! process finishes in-flight work and exits 0.

use std::io::{BufReader, Write};
use std::time::Duration;

use crate::support::{get, read_response, sees_eof, Server};

#[test]
fn sigterm_drains_then_exits_zero() {
    let mut server = Server::start_with(&["--drain-seconds", "2"], &[]);
    let mut idle = BufReader::new(server.connect());
    idle.get_mut().write_all(b"GET /ready HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut idle, false).unwrap().status, 200);

    server.signal(libc::SIGTERM);
    // /ready turns 503 on the already-open connection and on new ones; the counter keeps serving.
    let mut saw_503 = false;
    for _ in 0..50 {
        idle.get_mut().write_all(b"GET /ready HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        if read_response(&mut idle, false).unwrap().status == 503 {
            saw_503 = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(saw_503, "/ready never turned 503");
    let ready = get(&server, "/ready");
    assert_eq!((ready.status, ready.json()["ready"].as_bool()), (503, Some(false)));
    assert_eq!(get(&server, "/status").status, 200, "still serving during the drain");

    // After the drain the idle connection is closed and the process exits 0.
    assert!(sees_eof(&mut idle), "idle connection closed at stop");
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
    let logs = server.log_text();
    assert!(logs.contains("msg=\"drain begins\" signal=SIGTERM") && logs.contains("msg=stopped"), "{logs}");
}

#[test]
fn sigint_without_drain_exits_zero_promptly() {
    let mut server = Server::start();
    assert_eq!(get(&server, "/health").status, 200);
    server.signal(libc::SIGINT);
    assert_eq!(server.wait_exit(Duration::from_secs(5)), Some(0));
}

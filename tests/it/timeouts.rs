//! Connection timeouts: silent connections and trickled heads are cut at the header timeout, idle keep-alive
//! connections at the idle timeout. Shortened here with the flags; defaults are in limits.rs.
//!
//! The server keeps deadlines in whole monotonic seconds (`now + timeout`, checked once a second), so a connection
//! lives more than `timeout - 1 s`, measured from before the client's first action: that lower bound is strict.
//! The upper bound is the timeout plus `SLACK`: it catches a timeout that never fires, not a slow machine.
//! The same bounds under wall-clock steps: clock.rs.

use std::io::{BufReader, Write};
use std::time::{Duration, Instant};

use crate::support::{get, read_response, sees_eof, Server};

const SLACK: Duration = Duration::from_secs(10);
const GRANULARITY: Duration = Duration::from_secs(1);

#[test]
fn silent_connection_is_closed_after_the_header_timeout() {
    const TIMEOUT: Duration = Duration::from_secs(2);
    let server = Server::start_with(&["--header-timeout", "2", "--idle-timeout", "30"], &[]);
    let start = Instant::now();
    let mut s = server.connect();
    assert!(sees_eof(&mut s), "still open after {:?}", start.elapsed());
    let lived = start.elapsed();
    assert!(lived > TIMEOUT - GRANULARITY, "closed after {lived:?}, before the header timeout");
    assert!(lived < TIMEOUT + GRANULARITY + SLACK, "closed after {lived:?}");
}

#[test]
fn trickled_head_is_closed_after_the_header_timeout() {
    const TIMEOUT: Duration = Duration::from_secs(2);
    let server = Server::start_with(&["--header-timeout", "2", "--idle-timeout", "30"], &[]);
    let start = Instant::now();
    let mut s = server.connect();
    let give_up = TIMEOUT + GRANULARITY + SLACK;
    // One byte every 200 ms of a never-ending header (the attacker's pacing): the server must cut us off. A
    // write fails once the server's close has come back as a reset.
    let mut cut = None;
    for b in b"GET /health HTTP/1.1\r\nX-Slow: ".iter().chain(std::iter::repeat(&b'a')) {
        if s.write_all(&[*b]).is_err() {
            cut = Some(start.elapsed());
            break;
        }
        if start.elapsed() > give_up {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let cut = cut.unwrap_or_else(|| panic!("slow client still connected after {:?}", start.elapsed()));
    assert!(cut > TIMEOUT - GRANULARITY, "cut after {cut:?}, before the header timeout");
    assert_eq!(get(&server, "/health").status, 200);
}

#[test]
fn idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    const TIMEOUT: Duration = Duration::from_secs(2);
    let server = Server::start_with(&["--idle-timeout", "2"], &[]);
    let mut r = BufReader::new(server.connect());
    // The idle clock starts when the server answers, which is after this instant.
    let start = Instant::now();
    r.get_mut().write_all(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    assert!(sees_eof(&mut r), "still open after {:?}", start.elapsed());
    let waited = start.elapsed();
    assert!(waited > TIMEOUT - GRANULARITY, "closed after {waited:?}, before the idle timeout");
    assert!(waited < TIMEOUT + GRANULARITY + SLACK, "closed after {waited:?}");
}

//! Connection timeouts: silent connections and trickled heads are cut at the header timeout, idle keep-alive
//! connections at the idle timeout. Shortened here with the flags; defaults are in limits.rs.

use std::io::{BufReader, Write};
use std::time::{Duration, Instant};

use crate::support::{get, read_response, sees_eof, Server};

#[test]
fn silent_connection_is_closed_after_the_header_timeout() {
    let server = Server::start_with(&["--header-timeout", "1", "--idle-timeout", "30"], &[]);
    let mut s = server.connect();
    let start = Instant::now();
    assert!(sees_eof(&mut s));
    assert!(start.elapsed() < Duration::from_secs(4), "closed after {:?}", start.elapsed());
}

#[test]
fn trickled_head_is_closed_after_the_header_timeout() {
    let server = Server::start_with(&["--header-timeout", "2", "--idle-timeout", "30"], &[]);
    let mut s = server.connect();
    let start = Instant::now();
    let mut closed = false;
    // One byte every 200 ms of a never-ending header: the server must cut us off.
    for b in b"GET /health HTTP/1.1\r\nX-Slow: ".iter().chain(std::iter::repeat(&b'a')) {
        if s.write_all(&[*b]).is_err() || start.elapsed() > Duration::from_secs(8) {
            closed = s.write_all(b"a").is_err() || sees_eof(&mut s);
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(closed, "slow client still connected after {:?}", start.elapsed());
    assert!(start.elapsed() < Duration::from_secs(6));
    assert_eq!(get(&server, "/health").status, 200);
}

#[test]
fn idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let server = Server::start_with(&["--idle-timeout", "2"], &[]);
    let mut r = BufReader::new(server.connect());
    r.get_mut().write_all(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    let start = Instant::now();
    assert!(sees_eof(&mut r));
    let waited = start.elapsed();
    assert!(waited >= Duration::from_secs(1) && waited < Duration::from_secs(5), "closed after {waited:?}");
}

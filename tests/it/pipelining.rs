//! Keep-alive, pipelining, and requests split across many TCP segments.

use std::io::{BufReader, Write};

use crate::support::{read_response, sees_eof, Server};

#[test]
fn hundred_pipelined_requests_in_one_write_answer_in_order() {
    let server = Server::start();
    let batch = b"GET /status HTTP/1.1\r\nHost: a\r\n\r\n".repeat(100);
    let mut s = server.connect();
    s.write_all(&batch).unwrap();
    let mut r = BufReader::new(s);
    for n in 1..=100u64 {
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!(resp.json()["counter"].as_u64(), Some(n), "response {n} out of order");
    }
}

#[test]
fn mixed_endpoints_pipelined_keep_their_order() {
    let server = Server::start();
    let mut s = server.connect();
    s.write_all(
        b"GET /status HTTP/1.1\r\nHost: a\r\n\r\nGET /nope HTTP/1.1\r\nHost: a\r\n\r\nHEAD /statusV2 HTTP/1.1\r\nHost: a\r\n\r\n\
GET /ready HTTP/1.1\r\nHost: a\r\n\r\nGET /statusV2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let statuses: Vec<u16> =
        [false, false, true, false, false].iter().map(|&head| read_response(&mut r, head).unwrap().status).collect();
    assert_eq!(statuses, [200, 404, 200, 200, 200]);
    assert!(sees_eof(&mut r));
}

#[test]
fn request_split_byte_by_byte_is_answered() {
    let server = Server::start();
    let mut s = server.connect();
    for b in b"GET /status HTTP/1.1\r\nHost: a\r\n\r\n" {
        s.write_all(&[*b]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2)); // separate segments, not test pacing
    }
    let resp = read_response(&mut BufReader::new(s), false).unwrap();
    assert_eq!(resp.json()["counter"].as_u64(), Some(1));
}

#[test]
fn keep_alive_reuses_one_connection() {
    let server = Server::start();
    let mut r = BufReader::new(server.connect());
    for n in 1..=20u64 {
        r.get_mut().write_all(b"GET /statusV2 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let resp = read_response(&mut r, false).unwrap();
        assert!(!resp.closes());
        assert_eq!(resp.json()["counter"].as_u64(), Some(n));
    }
}

#[test]
fn connection_close_and_http10() {
    let server = Server::start();
    let mut s = server.connect();
    s.write_all(b"GET /status HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    assert!(read_response(&mut r, false).unwrap().closes());
    assert!(sees_eof(&mut r));

    let mut s = server.connect();
    s.write_all(b"GET /status HTTP/1.0\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    assert!(read_response(&mut r, false).unwrap().closes());
    assert!(sees_eof(&mut r));

    let mut s = server.connect();
    s.write_all(b"GET /status HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /status HTTP/1.0\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    let first = read_response(&mut r, false).unwrap();
    assert_eq!(first.header("connection"), Some("keep-alive"));
    assert!(read_response(&mut r, false).unwrap().closes());
    assert!(sees_eof(&mut r));
}

#[test]
fn half_close_after_request_still_gets_the_response() {
    let server = Server::start();
    let mut s = server.connect();
    s.write_all(b"GET /status HTTP/1.1\r\nHost: a\r\n\r\nGET /status HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut r = BufReader::new(s);
    assert_eq!(read_response(&mut r, false).unwrap().json()["counter"].as_u64(), Some(1));
    assert_eq!(read_response(&mut r, false).unwrap().json()["counter"].as_u64(), Some(2));
    assert!(sees_eof(&mut r));
}

// 1 MiB of pipelined requests in one write: hostile.rs checks order and the memory bound together.

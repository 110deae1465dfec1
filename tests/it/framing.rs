//! The request table (cases.rs) against the parser and the live server: whole, split at every byte, and
//! pipelined between good requests. Every closing case must also leave the server serving the next client.

use std::io::{BufReader, Cursor, Write};

use counter::app::App;
use counter::http::date::DateCache;

use crate::cases::{large_cases, Case, CASES};
use crate::support::{get, read_response, sees_eof, Response, Server};

fn check(case: &Case, r: &Response) {
    assert_eq!(r.status, case.status, "{}: status", case.name);
    assert_eq!(r.closes(), case.closes, "{}: Connection: close header", case.name);
    if !case.head {
        assert_eq!(r.header("content-length").unwrap(), r.body.len().to_string(), "{}", case.name);
        if !r.body.is_empty() {
            assert!(r.header("content-type").unwrap().starts_with("application/json"), "{}", case.name);
        }
    }
}

#[test]
fn table_against_the_parser() {
    let app = App::new();
    let mut dates = DateCache::new(1_700_000_000);
    for case in CASES {
        let mut out = Vec::new();
        let answered = app.answer(case.raw, &mut dates, &mut out);
        assert_eq!(answered.requests, 1, "{}", case.name);
        assert_eq!(answered.close, case.closes, "{}", case.name);
        // A request that expected 100-continue is answered on its head: a body sent anyway is left unread,
        // for the linger to discard.
        let expects = case.closes && case.raw.windows(13).any(|w| w.eq_ignore_ascii_case(b"expect: 100-c"));
        let head = case.raw.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |at| at + 4);
        let consumed = if expects { head } else { case.raw.len() };
        assert_eq!(answered.consumed, consumed, "{}", case.name);
        let r = read_response(&mut Cursor::new(&out), case.head).expect(case.name);
        check(case, &r);
        if !case.closes {
            // Every strict prefix of a good request is Partial: nothing answered, nothing consumed.
            for cut in 0..case.raw.len() {
                let mut out = Vec::new();
                let answered = app.answer(&case.raw[..cut], &mut dates, &mut out);
                assert_eq!((answered.requests, answered.consumed), (0, 0), "{} cut at {cut}", case.name);
                assert!(out.is_empty());
            }
        }
    }
    for (name, raw, status) in large_cases() {
        let mut out = Vec::new();
        let answered = app.answer(&raw, &mut dates, &mut out);
        assert!(answered.close, "{name}");
        assert_eq!(read_response(&mut Cursor::new(&out), false).unwrap().status, status, "{name}");
    }
}

#[test]
fn table_against_the_server_whole() {
    let server = Server::start();
    for case in CASES {
        let mut s = server.connect();
        s.write_all(case.raw).unwrap();
        let mut r = BufReader::new(s);
        check(case, &read_response(&mut r, case.head).expect(case.name));
        if case.closes {
            assert!(sees_eof(&mut r), "{}: server must close", case.name);
        } else {
            r.get_mut().write_all(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
            assert_eq!(read_response(&mut r, false).unwrap().status, 200, "{}: connection reusable", case.name);
        }
        assert_eq!(get(&server, "/health").status, 200, "{}: server still serves", case.name);
    }
    for (name, raw, status) in large_cases() {
        let mut s = server.connect();
        s.write_all(&raw).unwrap();
        let mut r = BufReader::new(s);
        let resp = read_response(&mut r, false).expect(name);
        assert_eq!(resp.status, status, "{name}");
        assert!(resp.closes() && sees_eof(&mut r), "{name}: server must close");
        assert_eq!(get(&server, "/health").status, 200, "{name}: server still serves");
    }
}

#[test]
fn table_against_the_server_split_at_every_byte() {
    let server = Server::start();
    for case in CASES {
        let mut s = server.connect();
        for byte in case.raw {
            s.write_all(std::slice::from_ref(byte)).unwrap();
        }
        let mut r = BufReader::new(s);
        check(case, &read_response(&mut r, case.head).expect(case.name));
        if case.closes {
            assert!(sees_eof(&mut r), "{}: server must close", case.name);
        }
    }
    assert_eq!(get(&server, "/health").status, 200);
}

#[test]
fn table_against_the_server_pipelined_between_good_requests() {
    let server = Server::start();
    let good = b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n";
    for case in CASES {
        let mut batch = good.to_vec();
        batch.extend_from_slice(case.raw);
        batch.extend_from_slice(good);
        let mut s = server.connect();
        s.write_all(&batch).unwrap();
        let mut r = BufReader::new(s);
        assert_eq!(read_response(&mut r, false).unwrap().status, 200, "{}: first", case.name);
        check(case, &read_response(&mut r, case.head).expect(case.name));
        if case.closes {
            assert!(sees_eof(&mut r), "{}: nothing after a final response", case.name);
        } else {
            assert_eq!(read_response(&mut r, false).unwrap().status, 200, "{}: third", case.name);
        }
    }
}

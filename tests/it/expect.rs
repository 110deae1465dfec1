//! `Expect: 100-continue` (RFC 9110 §10.1.1): no endpoint takes a body, so the head decides and the final status
//! goes out at once, without waiting for the body; the connection then closes, since the client may or may not
//! send the body after a final status. Answers keep request order in a pipeline (redis mode: redis.rs).

use std::io::{BufReader, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{read_response, sees_eof, Server};

/// curl waits this long for a 100 before it sends the body anyway: a server that ignored the expectation would
/// answer only after it.
const CURL_WAIT: &str = "30";
const PATIENCE: Duration = Duration::from_secs(20);

fn curl_expecting(url: &str, method: &str) -> (String, Duration) {
    let start = Instant::now();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "60", "--expect100-timeout", CURL_WAIT, "-o", "/dev/null", "-w", "%{http_code}"])
        .args(["-X", method, "-H", "Expect: 100-continue", "--data-binary", "hello", url])
        .output()
        .expect("curl is installed");
    assert!(out.status.success(), "curl: {}", String::from_utf8_lossy(&out.stderr));
    (String::from_utf8(out.stdout).unwrap(), start.elapsed())
}

#[test]
fn curl_gets_the_final_status_without_waiting_to_send_its_body() {
    let server = Server::start();
    for (method, path, code) in [("POST", "/status", "405"), ("PUT", "/nope", "404"), ("GET", "/health", "200")] {
        let (got, took) = curl_expecting(&format!("http://{}{path}", server.addr), method);
        assert_eq!(got, code, "{method} {path}");
        assert!(took < PATIENCE, "{method} {path}: answered after {took:?}: curl waited for a 100");
    }
}

#[test]
fn raw_socket_gets_the_final_status_then_the_connection_closes() {
    let server = Server::start();
    let mut r = BufReader::new(server.connect());
    r.get_mut()
        .write_all(b"POST /status HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        .unwrap();
    // The body is never sent: the answer must come anyway, say that the connection closes, and the server must
    // close it (its FIN arrives, the linger then waits for ours).
    let resp = read_response(&mut r, false).expect("a final status without the body");
    assert_eq!((resp.status, resp.closes()), (405, true));
    assert!(sees_eof(&mut r), "the server half-closes after the final answer");
}

#[test]
fn pipelined_answers_stay_in_order_and_stop_at_the_expectation() {
    let server = Server::start();
    let mut r = BufReader::new(server.connect());
    let raw = [
        &b"GET /status HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /status HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        b"GET /status HTTP/1.1\r\nHost: a\r\n\r\n", // the held-back body's place: never read as a request
    ]
    .concat();
    r.get_mut().write_all(&raw).unwrap();
    let first = read_response(&mut r, false).unwrap();
    let health = read_response(&mut r, false).unwrap();
    let expecting = read_response(&mut r, false).unwrap();
    assert_eq!((first.status, first.json()["counter"].as_u64(), first.closes()), (200, Some(1), false));
    assert_eq!((health.status, health.closes()), (200, false));
    assert_eq!((expecting.status, expecting.json()["counter"].as_u64(), expecting.closes()), (200, Some(2), true));
    assert!(read_response(&mut r, false).is_none(), "nothing answered after the final response");
}

//! The endpoint contract: JSON shape, counter +1 per call, parity, lastChanged, headers, HEAD, 404, 405.

use std::io::{BufReader, Write};

use crate::support::{exchange, get, parse_rfc3339, read_response, unix_now, Server};

fn check_counter_response(r: &crate::support::Response, expected: u64) {
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("content-length").unwrap(), r.body.len().to_string());
    let date = r.header("date").expect("Date header");
    assert_eq!(date.len(), 29, "IMF-fixdate {date}");
    assert!(date.ends_with(" GMT") && date.as_bytes()[3] == b',', "IMF-fixdate {date}");
    let json = r.json();
    let obj = json.as_object().unwrap();
    assert_eq!(obj.len(), 3, "exactly counter, status, lastChanged: {json}");
    assert_eq!(json["counter"].as_u64(), Some(expected));
    assert_eq!(json["status"].as_bool(), Some(expected % 2 == 1));
    let changed = parse_rfc3339(json["lastChanged"].as_str().unwrap());
    assert!(unix_now().abs_diff(changed) <= 1, "lastChanged {changed} vs now {}", unix_now());
}

#[test]
fn status_counts_from_one_with_parity() {
    let server = Server::start();
    for n in 1..=5 {
        check_counter_response(&get(&server, "/status"), n);
    }
}

#[test]
fn status_v2_has_its_own_counter() {
    let server = Server::start();
    check_counter_response(&get(&server, "/status"), 1);
    check_counter_response(&get(&server, "/statusV2"), 1);
    check_counter_response(&get(&server, "/statusV2"), 2);
    check_counter_response(&get(&server, "/status"), 2);
}

#[test]
fn head_has_get_headers_no_body_and_does_not_increment() {
    let server = Server::start();
    for path in ["/status", "/statusV2"] {
        check_counter_response(&get(&server, path), 1);
        let mut s = server.connect();
        s.write_all(
            format!("HEAD {path} HTTP/1.1\r\nHost: a\r\n\r\nGET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
        )
        .unwrap();
        let mut r = BufReader::new(s);
        let head = read_response(&mut r, true).unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.header("cache-control"), Some("no-store"));
        // The body a GET would carry now: counter 1, 64 bytes.
        assert_eq!(head.header("content-length"), Some("64"));
        // The next bytes on the wire are the GET's response, so HEAD sent no body; and HEAD did not count.
        check_counter_response(&read_response(&mut r, false).unwrap(), 2);
    }
}

#[test]
fn health_and_ready() {
    let server = Server::start();
    let h = get(&server, "/health");
    assert_eq!((h.status, h.json()["status"].as_str()), (200, Some("ok")));
    let r = get(&server, "/ready");
    assert_eq!((r.status, r.json()["ready"].as_bool()), (200, Some(true)));
}

#[test]
fn unknown_paths_and_methods() {
    let server = Server::start();
    let r = get(&server, "/nope");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "not found");
    let r = exchange(&server, b"PUT /status HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", 1).remove(0);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    // Neither touched the counter.
    check_counter_response(&get(&server, "/status"), 1);
}

#[test]
fn help_lists_every_option_with_env_and_default() {
    let out = std::process::Command::new(crate::support::BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in ["--port", "PORT", "8080", "--bind", "BIND", "0.0.0.0", "--workers", "WORKERS", "--drain-seconds"] {
        assert!(text.contains(needle), "--help lacks {needle}:\n{text}");
    }
    let bad = std::process::Command::new(crate::support::BIN).args(["--port", "x"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// A number outside its documented range stops the start (exit 2, the option named), flag or environment.
#[test]
fn numbers_outside_their_range_exit_2() {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(crate::support::BIN);
        cmd.args(args).envs(env.iter().copied());
        let out = cmd.output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = run(&["--drain-seconds", "18446744073709551615"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--drain-seconds") && err.contains("0 to 3600"), "{err}");
    let (code, err) = run(&[], &[("HEADER_TIMEOUT_SECS", "0")]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("HEADER_TIMEOUT_SECS"), "{err}");
}

#[test]
fn startup_logs_cores_cpu_limit_workers_and_address() {
    let server = Server::start_with(&["--workers", "3"], &[]);
    let logs = server.log_text();
    for needle in ["msg=\"cores on the node\" cores=", "msg=\"cgroup cpu limit\" limit=", "workers=3", "msg=listening"]
    {
        assert!(logs.contains(needle), "missing {needle} in\n{logs}");
    }
    assert_eq!(get(&server, "/health").status, 200);
}

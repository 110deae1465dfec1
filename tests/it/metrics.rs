//! Observability against the real binary: `/metrics` scrapes parsed with a real Prometheus text-format parser
//! (`prometheus-parse`), values that move as requests are made, the HTTP rules /metrics shares with the other
//! endpoints (HEAD, 405, pipelining), redis mode's round-trip series, and `LOG_FORMAT=json` lifecycle lines.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use prometheus_parse::{Scrape, Value};

use crate::support::{eventually, exchange, get, read_response, sees_eof, Server, BIN};

/// GET /metrics on a fresh connection, checked for the exposition format's headers, and parsed.
fn scrape(server: &Server) -> Scrape {
    let r = get(server, "/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let text = String::from_utf8(r.body).expect("UTF-8 scrape");
    assert!(text.ends_with('\n'), "a scrape ends with a newline");
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("a valid Prometheus text exposition")
}

/// The value of the one sample `name{labels…}` (other labels may be present).
fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut found =
        s.samples.iter().filter(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)));
    let sample = found.next().unwrap_or_else(|| panic!("no sample {name}{labels:?}"));
    assert!(found.next().is_none(), "more than one sample {name}{labels:?}");
    match sample.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
        _ => panic!("{name} is a histogram or summary"),
    }
}

/// A histogram's cumulative buckets as (upper bound, count).
fn buckets(s: &Scrape, name: &str) -> Vec<(f64, f64)> {
    let sample = s.samples.iter().find(|x| x.metric == name).unwrap_or_else(|| panic!("no histogram {name}"));
    match &sample.value {
        Value::Histogram(b) => b.iter().map(|h| (h.less_than, h.count)).collect(),
        _ => panic!("{name} is not a histogram"),
    }
}

fn requests(s: &Scrape, endpoint: &str, code: &str) -> f64 {
    let labels = [("endpoint", endpoint), ("code", code)];
    let present = s
        .samples
        .iter()
        .any(|x| x.metric == "counter_http_requests_total" && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)));
    if present {
        value(s, "counter_http_requests_total", &labels)
    } else {
        0.0
    }
}

fn closed(s: &Scrape, reason: &str) -> f64 {
    value(s, "counter_connections_closed_total", &[("reason", reason)])
}

#[test]
fn metrics_move_as_requests_are_made() {
    let server = Server::start_with(&["--workers", "2"], &[]);
    let before = scrape(&server);
    assert_eq!(value(&before, "counter_workers", &[]), 2.0);
    assert!(value(&before, "process_start_time_seconds", &[]) > 1.6e9);
    assert_eq!(value(&before, "counter_build_info", &[("backend", "memory")]), 1.0);
    assert_eq!(requests(&before, "/status", "200"), 0.0, "the 200 of every endpoint is there from the start");

    for _ in 0..3 {
        assert_eq!(get(&server, "/status").status, 200);
    }
    let after = scrape(&server);
    assert_eq!(requests(&after, "/status", "200") - requests(&before, "/status", "200"), 3.0);
    assert_eq!(value(&after, "counter_value", &[("endpoint", "/status")]), 3.0);
    assert!(value(&after, "counter_last_changed_timestamp_seconds", &[("endpoint", "/status")]) > 1.6e9);
    assert_eq!(requests(&after, "/metrics", "200"), 1.0, "the first scrape, counted once answered");
    for name in ["counter_http_received_bytes_total", "counter_http_sent_bytes_total"] {
        // Three requests of 35 bytes and three responses of over 100 bytes.
        assert!(value(&after, name, &[]) >= value(&before, name, &[]) + 3.0 * 35.0, "{name} did not grow");
    }
    assert!(value(&after, "counter_connections_accepted_total", &[]) >= 5.0);

    // Connection: close: the server closes after the response.
    let closes = closed(&after, "close_requested");
    let r = exchange(&server, b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 1);
    assert!(r[0].closes());
    assert!(eventually(Duration::from_secs(10), || closed(&scrape(&server), "close_requested") == closes + 1.0));

    // A bad request is a 400 from "other", and its connection closes for that reason.
    let bad = closed(&after, "bad_request");
    let mut s = server.connect();
    s.write_all(b"GARBAGE\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    assert_eq!(read_response(&mut r, false).unwrap().status, 400);
    assert!(sees_eof(&mut r));
    drop(r);
    let now = scrape(&server);
    assert_eq!(requests(&now, "other", "400"), 1.0);
    assert_eq!(requests(&now, "other", "404"), 0.0);
    assert!(eventually(Duration::from_secs(10), || closed(&scrape(&server), "bad_request") == bad + 1.0));
    assert_eq!(get(&server, "/nope").status, 404);
    assert_eq!(requests(&scrape(&server), "other", "404"), 1.0);

    // Closed connections move out of the open gauge: only the scrape's own connection (and perhaps the
    // previous scrapes', whose close the server may not have read yet) is open.
    assert!(eventually(Duration::from_secs(10), || value(&scrape(&server), "counter_connections_open", &[]) == 1.0));
}

#[test]
fn metrics_counts_pipelined_batches_per_read() {
    let server = Server::start_with(&["--workers", "1"], &[]);
    let before = scrape(&server);
    let batch = b"GET /statusV2 HTTP/1.1\r\nHost: t\r\n\r\n".repeat(5);
    let mut s = server.connect();
    s.write_all(&batch).unwrap();
    let mut r = BufReader::new(s);
    for _ in 0..5 {
        assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    }
    let after = scrape(&server);
    assert_eq!(requests(&after, "/statusV2", "200"), 5.0);
    assert_eq!(value(&after, "counter_value", &[("endpoint", "/statusV2")]), 5.0);
    let grew = |name: &str| value(&after, name, &[]) - value(&before, name, &[]);
    // Loopback delivers one small write in one read, but do not depend on it: 5 requests in 1 to 5 reads.
    assert!(grew("counter_http_requests_per_read_sum") >= 5.0);
    let reads = grew("counter_http_requests_per_read_count");
    assert!((1.0..=6.0).contains(&reads), "{reads} reads");
    let b = buckets(&after, "counter_http_requests_per_read");
    assert_eq!(b.iter().map(|(le, _)| *le).collect::<Vec<_>>(), [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, f64::INFINITY]);
    assert!(b.windows(2).all(|w| w[0].1 <= w[1].1), "cumulative buckets");
    assert_eq!(b.last().unwrap().1, value(&after, "counter_http_requests_per_read_count", &[]));
}

#[test]
fn metrics_obeys_the_http_rules_of_every_endpoint() {
    let server = Server::start();
    // HEAD: the GET's headers, no body; the next pipelined response follows at once.
    let raw = b"HEAD /metrics HTTP/1.1\r\nHost: t\r\n\r\nGET /metrics HTTP/1.1\r\nHost: t\r\n\r\nGET /health HTTP/1.1\r\nHost: t\r\n\r\n";
    let mut s = server.connect();
    s.write_all(raw).unwrap();
    let mut r = BufReader::new(s);
    let head = read_response(&mut r, true).unwrap();
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let length: usize = head.header("content-length").unwrap().parse().unwrap();
    assert!(length > 1000, "HEAD announces the body GET would send ({length})");
    let get = read_response(&mut r, false).unwrap();
    assert_eq!(get.status, 200);
    assert!(String::from_utf8(get.body).unwrap().contains("counter_http_requests_total"));
    assert_eq!(read_response(&mut r, false).unwrap().json()["status"], "ok", "pipelined after /metrics");

    let post = exchange(&server, b"POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 1).remove(0);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    let now = scrape(&server);
    assert_eq!(requests(&now, "/metrics", "405"), 1.0);
    assert_eq!(requests(&now, "/metrics", "200"), 2.0, "HEAD and GET");
}

#[test]
fn redis_metrics_show_round_trips_and_requests_per_round_trip() {
    let redis = crate::support::redis::Redis::start(&["--appendonly", "no"]);
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let server = Server::start_with(&["--backend", "redis", "--redis-url", &url, "--workers", "1"], &[]);
    assert!(eventually(Duration::from_secs(10), || get(&server, "/ready").status == 200), "link never up");
    let responses = exchange(&server, &b"GET /status HTTP/1.1\r\nHost: t\r\n\r\n".repeat(10), 10);
    assert!(responses.iter().all(|r| r.status == 200));

    let s = scrape(&server);
    assert_eq!(value(&s, "counter_build_info", &[("backend", "redis")]), 1.0);
    assert_eq!(value(&s, "counter_redis_links_up", &[]), 1.0);
    assert_eq!(requests(&s, "/status", "200"), 10.0);
    let latest = (counter::limits::REDIS_SKIP_GAP + 10) as f64; // past the first call's skip
    assert_eq!(value(&s, "counter_value", &[("endpoint", "/status")]), latest, "the latest value Redis returned");
    let calls = value(&s, "counter_redis_round_trips_total", &[]);
    assert!((1.0..=10.0).contains(&calls), "{calls} script calls for 10 requests");
    assert_eq!(value(&s, "counter_redis_requests_per_round_trip_count", &[]), calls);
    assert_eq!(value(&s, "counter_redis_requests_per_round_trip_sum", &[]), 10.0);
    assert_eq!(value(&s, "counter_redis_round_trip_seconds_count", &[]), calls, "every call answered");
    let latency = buckets(&s, "counter_redis_round_trip_seconds");
    assert_eq!(latency.last().unwrap(), &(f64::INFINITY, calls));
    assert!(value(&s, "counter_redis_round_trip_seconds_sum", &[]) < calls, "each well under a second");
    for kind in ["connect", "timeout", "protocol", "closed"] {
        assert_eq!(value(&s, "counter_redis_errors_total", &[("kind", kind)]), 0.0);
    }
    assert_eq!(value(&s, "counter_redis_reconnects_total", &[]), 0.0);
}

/// `LOG_FORMAT=json`: every lifecycle line is one JSON object with ts (RFC 3339), level and msg.
#[test]
fn json_logs_are_one_object_per_lifecycle_line() {
    let mut child: Child = Command::new(BIN)
        .args(["--bind", "127.0.0.1", "--port", "0", "--workers", "2"])
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn counter");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen: Vec<serde_json::Value> = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line {line:?}: {e}"));
        let listening = json["msg"] == "listening";
        seen.push(json);
        if listening {
            break;
        }
    }
    let addr = seen.last().unwrap()["addr"].as_str().expect("listening addr").to_string();
    let r = exchange_addr(&addr);
    assert!(r.starts_with("HTTP/1.1 200 OK"), "{r}");
    // SAFETY: kill(2) on our own child's pid; no memory is involved.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    for line in lines {
        let line = line.unwrap();
        seen.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line {line:?}: {e}")));
    }
    assert!(child.wait().unwrap().success());
    for json in &seen {
        let ts = json["ts"].as_str().expect("ts");
        assert!(ts.len() == 20 && ts.ends_with('Z') && &ts[10..11] == "T", "RFC 3339 UTC: {ts}");
        assert!(["info", "warn", "error"].contains(&json["level"].as_str().expect("level")), "{json}");
        assert!(json["msg"].is_string(), "{json}");
    }
    let msgs: Vec<&str> = seen.iter().map(|j| j["msg"].as_str().unwrap()).collect();
    for event in ["starting", "cgroup cpu limit", "workers started", "listening", "drain begins", "stopping", "stopped"]
    {
        assert!(msgs.contains(&event), "no {event:?} line in {msgs:?}");
    }
    let stopped = seen.iter().find(|j| j["msg"] == "stopped").unwrap();
    assert_eq!(stopped["requests"], "1", "the one request served");
    let workers = seen.iter().find(|j| j["msg"] == "workers started").unwrap();
    assert_eq!(workers["workers"], "2");
}

fn exchange_addr(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text
}

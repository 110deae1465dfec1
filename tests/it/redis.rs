//! Redis mode against a real redis-server started by the test on a free port (installed by .ci/run /
//! `make test`; these tests never skip). Test names start with `redis_` so builds without Redis (the nix
//! sandbox) can `--skip redis_`.

use std::collections::BTreeSet;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{eventually, get, read_response, Server};

pub use crate::support::redis::{free_port, Redis};

pub fn pod(redis: &Redis, extra: &[&str]) -> Server {
    let url = redis.url();
    let mut args = vec!["--backend", "redis", "--redis-url", &url];
    args.extend_from_slice(extra);
    let server = Server::start_with(&args, &[]);
    // Each worker has its own link: wait until every one of them is connected.
    assert!(server.wait_redis_connected(Duration::from_secs(10)), "pod never ready");
    server
}

/// One keep-alive client: `n` GET /status, returning (status code, counter if 200) per request.
pub fn client(addr: std::net::SocketAddr, n: usize, pipeline: usize) -> Vec<(u16, Option<u64>)> {
    let mut seen = Vec::with_capacity(n);
    let mut r = BufReader::new(TcpStream::connect(addr).unwrap());
    r.get_mut().set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    while seen.len() < n {
        let burst = pipeline.min(n - seen.len());
        r.get_mut().write_all(b"GET /status HTTP/1.1\r\nHost: a\r\n\r\n".repeat(burst).as_slice()).unwrap();
        for _ in 0..burst {
            let resp = read_response(&mut r, false).expect("response");
            let value = (resp.status == 200).then(|| {
                let json = resp.json();
                let v = json["counter"].as_u64().unwrap();
                assert_eq!(json["status"].as_bool(), Some(v % 2 == 1), "status is the parity");
                v
            });
            if resp.status == 503 {
                assert_eq!(resp.header("retry-after"), Some("1"));
            }
            seen.push((resp.status, value));
        }
    }
    seen
}

/// The next /status value, retrying 503s (a worker whose link is still reconnecting) for up to 10 s.
pub fn next_value(server: &Server) -> u64 {
    let mut value = None;
    let ok = eventually(Duration::from_secs(10), || {
        let r = get(server, "/status");
        value = r.json()["counter"].as_u64();
        r.status == 200
    });
    assert!(ok, "no 200 from /status within 10 s");
    value.unwrap()
}

pub fn assert_distinct(values: &[u64]) -> BTreeSet<u64> {
    let set: BTreeSet<u64> = values.iter().copied().collect();
    assert_eq!(set.len(), values.len(), "duplicate counter values across pods");
    set
}

#[test]
fn redis_three_pods_share_one_counter() {
    let redis = Redis::start(&[]);
    let pods: Vec<Server> = (0..3).map(|_| pod(&redis, &["--workers", "2"])).collect();
    let threads: Vec<_> = (0..12)
        .map(|i| {
            let addr = pods[i % 3].addr;
            std::thread::spawn(move || client(addr, 150, 1 + i % 4))
        })
        .collect();
    let all: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .map(|(s, v)| {
            assert_eq!(s, 200);
            v.unwrap()
        })
        .collect();
    let set = assert_distinct(&all);
    // A Redis never written through before: the first call skipped the gap (docs/redis-ha.md), then 1..N.
    let gap = counter::limits::REDIS_SKIP_GAP;
    assert_eq!(set, (gap + 1..=gap + all.len() as u64).collect::<BTreeSet<_>>(), "exactly 1..N past the gap");
    // /statusV2 stays each pod's own mutex counter.
    assert_eq!(get(&pods[0], "/statusV2").json()["counter"], 1);
    assert_eq!(get(&pods[1], "/statusV2").json()["counter"], 1);
}

/// A batch carries every /status a worker read in one loop turn: 16 requests pipelined in one write reach the
/// worker in one read (at most two, should the kernel split a 600-byte loopback write), so each round of 16 costs
/// one script call, never one per request. Counted, not timed: how many requests a call carries under load is
/// a figure (benches/load-redis.sh, `counter_redis_requests_per_round_trip`), not a test.
#[test]
fn redis_batching_one_script_call_per_pipelined_read() {
    const ROUNDS: usize = 50;
    let redis = Redis::start(&[]);
    let server = pod(&redis, &["--workers", "1"]);
    let before = redis.script_calls();
    let seen = client(server.addr, ROUNDS * 16, 16);
    let calls = redis.script_calls() - before;
    let values: Vec<u64> = seen.iter().map(|&(s, v)| v.unwrap_or_else(|| panic!("status {s}"))).collect();
    assert_eq!(assert_distinct(&values).len(), ROUNDS * 16);
    println!("batching: {} /status responses, {calls} script calls", values.len());
    assert!(calls >= 1 && calls <= 2 * ROUNDS as u64, "{calls} script calls for {ROUNDS} pipelined rounds of 16");
}

/// `Expect: 100-continue` in redis mode: the deferred GET /status requests before it and the expecting one are
/// answered in order from their batch, the expecting one closes the connection, and nothing after it is read.
#[test]
fn redis_expect_100_continue_answers_in_order_then_closes() {
    let redis = Redis::start(&[]);
    let server = pod(&redis, &["--workers", "1"]);
    let mut r = BufReader::new(TcpStream::connect(server.addr).unwrap());
    r.get_mut().set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let raw = [
        &b"GET /status HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /status HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /status HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        b"GET /status HTTP/1.1\r\nHost: a\r\n\r\n",
    ]
    .concat();
    r.get_mut().write_all(&raw).unwrap();
    let mut values = Vec::new();
    for (i, expect_close) in [false, false, false, true].into_iter().enumerate() {
        let resp = read_response(&mut r, false).expect("response");
        assert_eq!((resp.status, resp.closes()), (200, expect_close), "response {i}");
        if i != 1 {
            values.push(resp.json()["counter"].as_u64().unwrap());
        }
    }
    let gap = counter::limits::REDIS_SKIP_GAP; // the first write through a fresh Redis skips it
    assert_eq!(values, [gap + 1, gap + 2, gap + 3], "in request order");
    assert!(read_response(&mut r, false).is_none(), "nothing answered after the final response");
}

#[test]
fn redis_kill_under_load_gives_503s_then_recovers_without_duplicates() {
    let mut redis = Redis::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let server = pod(&redis, &["--workers", "2"]);
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (addr, stop) = (server.addr, Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let start = Instant::now();
                    seen.extend(client(addr, 20, 2));
                    // A hang, not a slow round: the Redis timeout and the longest backoff are seconds, this is more.
                    assert!(start.elapsed() < Duration::from_secs(30), "a round of requests hung");
                }
                seen
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    redis.kill();
    assert!(eventually(Duration::from_secs(10), || get(&server, "/status").status == 503));
    assert_eq!(get(&server, "/ready").status, 503, "not ready while Redis is down");
    std::thread::sleep(Duration::from_millis(500));
    redis.spawn();
    let start = Instant::now();
    assert!(eventually(Duration::from_secs(10), || get(&server, "/status").status == 200), "no recovery");
    println!("recovered {:?} after the restart", start.elapsed());
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let results: Vec<(u16, Option<u64>)> = load.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert!(results.iter().all(|(s, _)| *s == 200 || *s == 503), "only 200s and 503s");
    let values: Vec<u64> = results.iter().filter_map(|(_, v)| *v).collect();
    assert!(results.iter().any(|(s, _)| *s == 503), "the fault was seen");
    assert_distinct(&values);
    // Values continue after the restart (AOF): the next one is above everything served before.
    let next = next_value(&server);
    assert!(next > *values.iter().max().unwrap());
    // Both workers logged the outage and their reconnection (each once, not per request).
    let reconnected = || server.log_text().matches("msg=\"redis connected\"").count() >= 4;
    assert!(eventually(Duration::from_secs(10), reconnected), "{}", server.log_text());
    assert!(server.log_text().contains("msg=\"redis unavailable\""));
}

#[test]
fn redis_graceful_restart_with_aof_continues_the_count() {
    let mut redis = Redis::start(&["--appendonly", "yes"]);
    let server = pod(&redis, &["--workers", "1"]);
    let before: Vec<u64> = client(server.addr, 50, 5).into_iter().map(|(_, v)| v.unwrap()).collect();
    redis.stop_with(libc::SIGTERM);
    redis.spawn();
    assert!(eventually(Duration::from_secs(10), || get(&server, "/ready").status == 200));
    let after: Vec<u64> = client(server.addr, 50, 5).into_iter().map(|(_, v)| v.unwrap()).collect();
    assert!(after.iter().min() > before.iter().max(), "values continue after a Redis restart");
}

#[test]
fn redis_script_flush_fails_only_the_batch_that_met_it_then_serves() {
    let redis = Redis::start(&[]);
    let server = pod(&redis, &["--workers", "1"]);
    assert!(client(server.addr, 10, 1).iter().all(|(s, _)| *s == 200));
    assert_eq!(redis.cli(&["SCRIPT", "FLUSH"]).trim(), "OK");
    // One batch in flight at a time (4 pipelined requests): NOSCRIPT fails that batch (it is never sent again,
    // so nothing answers out of order), SCRIPT LOAD goes behind it, and every later batch finds the script.
    let after = client(server.addr, 40, 4);
    let failed = after.iter().filter(|(s, _)| *s == 503).count();
    assert!(failed <= 4, "{failed} 503s: only the batch that met NOSCRIPT may fail");
    let values: Vec<u64> = after.iter().filter_map(|(_, v)| *v).collect();
    assert!(values.windows(2).all(|w| w[0] < w[1]), "one connection's values increase: {values:?}");
    assert!(values.first() > Some(&(counter::limits::REDIS_SKIP_GAP + 10)), "no value handed out twice");
    assert_eq!(after.last().unwrap().0, 200);
    assert!(server.log_text().contains("NOSCRIPT"), "the refusal is logged");
}

#[test]
fn redis_hung_server_times_out_to_503_not_a_hang() {
    let mut redis = Redis::start(&[]);
    let server = pod(&redis, &["--workers", "1"]);
    redis.signal(libc::SIGSTOP);
    let start = Instant::now();
    let r = get(&server, "/status");
    let waited = start.elapsed();
    redis.signal(libc::SIGCONT);
    assert_eq!(r.status, 503);
    // A hang, not a slow answer: the Redis timeout plus 10 s of slack for a loaded machine.
    let bound = Duration::from_millis(counter::limits::REDIS_TIMEOUT_MILLIS) + Duration::from_secs(10);
    assert!(waited < bound, "answered after {waited:?}");
    assert!(eventually(Duration::from_secs(10), || get(&server, "/status").status == 200));
    redis.kill();
}

#[test]
fn redis_down_at_start_is_not_ready_then_recovers() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let server = Server::start_with(&["--backend", "redis", "--redis-url", &url], &[]);
    assert_eq!(get(&server, "/ready").status, 503);
    let r = get(&server, "/status");
    assert_eq!((r.status, r.header("retry-after")), (503, Some("1")));
    assert_eq!(r.json()["error"], "counter backend unavailable");
    assert_eq!(get(&server, "/health").status, 200, "alive, just not ready");
    let _redis = Redis::start_at(port, &[]);
    assert!(eventually(Duration::from_secs(10), || get(&server, "/ready").status == 200), "never recovered");
    assert_eq!(next_value(&server), counter::limits::REDIS_SKIP_GAP + 1, "503s never consumed a value");
}

#[test]
fn redis_auth_right_password_works_wrong_one_is_503_and_logged() {
    let redis = Redis::start(&["--requirepass", "s3cret"]);
    let url = redis.url();
    let good = Server::start_with(&["--backend", "redis", "--redis-url", &url], &[("REDIS_PASSWORD", "s3cret")]);
    assert!(eventually(Duration::from_secs(10), || get(&good, "/status").status == 200));
    let file = redis.dir.join("password");
    std::fs::write(&file, "s3cret\n").unwrap();
    let from_file = Server::start_with(
        &["--backend", "redis", "--redis-url", &url],
        &[("REDIS_PASSWORD_FILE", file.to_str().unwrap())],
    );
    assert!(eventually(Duration::from_secs(10), || get(&from_file, "/status").status == 200));
    let bad = Server::start_with(
        &["--backend", "redis", "--redis-url", &format!("redis://:wrong@127.0.0.1:{}", redis.port)],
        &[],
    );
    assert!(eventually(Duration::from_secs(10), || bad.log_text().contains("redis refused our credentials")));
    assert_eq!(get(&bad, "/status").status, 503);
    assert_eq!(get(&bad, "/ready").status, 503);
    // Logged once per state change, not per attempt or request.
    std::thread::sleep(Duration::from_millis(1500));
    let lines = bad.log_text().matches("redis refused our credentials").count();
    assert!(lines <= 2, "{lines} auth log lines: one per worker expected");
}

//! Figures, not tests: the rates and latencies the README's Robustness table quotes. Ignored by `cargo test`
//! (a rate on a shared machine is a coin toss); `scripts/hostile-figures.sh` runs them with `--ignored` and
//! prints what they measure. They assert nothing about speed: only that the server answered at all.

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::attacks::{serial, Slowloris, HEALTH, SLACK};
use crate::support::{eventually, get, read_response, Server};

/// Requests per second one keep-alive client gets from `addr` over `span`.
fn keep_alive_rate(addr: SocketAddr, span: Duration) -> f64 {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    stream.set_read_timeout(Some(SLACK)).unwrap();
    let mut r = BufReader::new(stream);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < span {
        r.get_mut().write_all(HEALTH).unwrap();
        assert_eq!(read_response(&mut r, false).expect("response").status, 200);
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

#[test]
#[ignore = "a figure, not a test: scripts/hostile-figures.sh"]
fn figure_normal_client_rate_alone_and_under_slowloris() {
    const ATTACKERS: usize = 300;
    let _serial = serial();
    let server = Server::start_with(&["--header-timeout", "2", "--idle-timeout", "30"], &[]);
    let span = Duration::from_secs(2);
    keep_alive_rate(server.addr, span / 4); // warm-up: first connections, page faults, the date cache
    let quiet = keep_alive_rate(server.addr, span);
    let attack = Slowloris::start(server.addr, ATTACKERS);
    // Two windows: the first while the first wave trickles, the second while it is cut and replaced.
    let under_attack = (keep_alive_rate(server.addr, span) + keep_alive_rate(server.addr, span)) / 2.0;
    eventually(SLACK + SLACK, || attack.cut().len() >= ATTACKERS);
    let lifetimes = attack.stop();
    let longest = lifetimes.iter().max().copied().unwrap_or_default();
    println!(
        "FIGURE slowloris: {ATTACKERS} slow connections at a time, {} cut, longest lived {longest:?}; normal client \
         {quiet:.0} req/s alone, {under_attack:.0} req/s under attack, ratio {:.2}",
        lifetimes.len(),
        under_attack / quiet
    );
}

#[test]
#[ignore = "a figure, not a test: scripts/hostile-figures.sh"]
fn figure_health_latency_beside_a_never_reading_pipeliner() {
    let _serial = serial();
    let server = Server::start();
    let idle = (0..5).map(|_| timed_health(&server)).min().unwrap_or_default();
    let mut hog = server.connect();
    hog.set_nonblocking(true).unwrap();
    let batch = b"GET /statusV2 HTTP/1.1\r\nHost: a\r\n\r\n".repeat(2000);
    let (mut written, mut last_progress) = (0usize, Instant::now());
    while last_progress.elapsed() < Duration::from_secs(1) {
        match hog.write(&batch) {
            Ok(n) => (written, last_progress) = (written + n, Instant::now()),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    let held = (0..5).map(|_| timed_health(&server)).min().unwrap_or_default();
    println!(
        "FIGURE never-reading pipeliner: wrote {written} bytes; /health took {idle:?} alone, {held:?} beside it \
         (best of 5)"
    );
}

fn timed_health(server: &Server) -> Duration {
    let start = Instant::now();
    assert_eq!(get(server, "/health").status, 200);
    start.elapsed()
}

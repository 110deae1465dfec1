//! Redis mode's allocations per request, plain and over TLS, with a counting global allocator over real sockets:
//! the server runs in this process (one worker) against a real redis-server on 127.0.0.1 that listens both plain
//! and TLS, and a client drives /status (alone and pipelined) with preallocated buffers.
//!
//! Plain `redis://`: zero allocations, as in memory mode. `rediss://`: rustls 0.23 allocates one buffer per
//! TLS record it seals (`MessageEncrypter::encrypt` returns an owned record) and per record it opens (received
//! plaintext is queued as a `Vec`), in its buffered and unbuffered APIs alike, so zero cannot be reached with it.
//! A record is one script call or one reply, shared by every request of a batch: this test proves the
//! allocations are bounded by the script calls Redis executed, never by the requests (16 pipelined requests
//! cost what one does).
//!
//! This binary holds one test on purpose: the allocator counts every thread, so nothing else may run here.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use counter::app::App;
use counter::config::{parse_redis_url, Timeouts, TlsFiles};
use counter::lifecycle::Phase;
use counter::metrics::{Info, Metrics};
use counter::server::Server;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{allocations, complete_responses};

/// Sends `req` and reads `n` responses into `buf`, all 200, without allocating.
fn round(s: &mut TcpStream, req: &[u8], n: usize, buf: &mut [u8]) {
    s.write_all(req).expect("write");
    let mut len = 0;
    while complete_responses(&buf[..len]) < n {
        let got = s.read(&mut buf[len..]).expect("read");
        assert!(got > 0, "server closed early");
        len += got;
    }
    assert!(buf[..len].starts_with(b"HTTP/1.1 200 OK\r\n"), "{}", String::from_utf8_lossy(&buf[..len]));
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl is installed");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// redis-server with a plain port and a TLS port (CA and server certificate made here), killed on drop.
struct Redis {
    child: Child,
    plain: u16,
    tls: u16,
    dir: PathBuf,
}

impl Redis {
    fn start() -> Redis {
        let (plain, tls) = (free_port(), free_port());
        let dir = std::env::temp_dir().join(format!("counter-zero-alloc-tls-{}-{tls}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        openssl(
            &dir,
            &[&["req", "-x509"][..], &ec, &["-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=ca"]].concat(),
        );
        openssl(&dir, &[&["req"][..], &ec, &["-keyout", "s.key", "-out", "s.csr", "-subj", "/CN=localhost"]].concat());
        std::fs::write(dir.join("ext"), "subjectAltName=DNS:localhost\n").unwrap();
        let sign = ["x509", "-req", "-in", "s.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial"];
        openssl(&dir, &[&sign[..], &["-out", "s.crt", "-days", "2", "-extfile", "ext"]].concat());
        let path = |f: &str| dir.join(f).to_str().unwrap().to_string();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &plain.to_string(), "--tls-port", &tls.to_string()])
            .args(["--tls-cert-file", &path("s.crt"), "--tls-key-file", &path("s.key")])
            .args(["--tls-ca-cert-file", &path("ca.crt"), "--tls-auth-clients", "no", "--save", ""])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        let redis = Redis { child, plain, tls, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis.cli(&["PING"]).trim() != "PONG" {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    fn cli(&self, args: &[&str]) -> String {
        let out =
            Command::new("redis-cli").args(["-h", "127.0.0.1", "-p", &self.plain.to_string()]).args(args).output();
        String::from_utf8_lossy(&out.expect("redis-cli").stdout).to_string()
    }

    fn script_calls(&self) -> usize {
        let stats = self.cli(&["INFO", "commandstats"]);
        stats
            .lines()
            .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
            .filter_map(|l| l.split("calls=").nth(1)?.split(',').next()?.parse::<usize>().ok())
            .sum()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// (allocations, script calls) over `rounds` rounds of one /status and 16 pipelined /status.
fn measure(redis: &Redis, url: &str, tls: Option<TlsFiles>, rounds: usize) -> (usize, usize) {
    let mut target = parse_redis_url(url).expect("url");
    target.tls = tls;
    let app = Arc::new(App::with_metrics(Metrics::new(1, Info::default())));
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = Server::start(addr, 1, &[], Timeouts::default(), Some(target), Arc::clone(&app)).expect("start");
    let mut buf = vec![0u8; 1 << 16];
    let one = b"GET /status HTTP/1.1\r\nHost: a\r\n\r\n";
    let pipelined = one.repeat(16);
    // The link connects in the background: wait for the first 200 (a 503 closes nothing, so retry).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut s = loop {
        let mut s = TcpStream::connect(server.addr).expect("connect");
        s.set_nodelay(true).unwrap();
        s.write_all(one).unwrap();
        let n = s.read(&mut buf).unwrap();
        if buf[..n].starts_with(b"HTTP/1.1 200") {
            break s;
        }
        assert!(Instant::now() < deadline, "redis link never ready");
        std::thread::sleep(Duration::from_millis(20));
    };
    // Warm-up: first-use allocations (thread-locals, lazily sized buffers, rustls' queues) happen here.
    for _ in 0..200 {
        round(&mut s, one, 1, &mut buf);
        round(&mut s, &pipelined, 16, &mut buf);
    }
    let calls_before = redis.script_calls();
    let before = allocations();
    for _ in 0..rounds {
        round(&mut s, one, 1, &mut buf);
        round(&mut s, &pipelined, 16, &mut buf);
    }
    let after = allocations();
    let calls = redis.script_calls() - calls_before;
    // Stop this server's worker, so it is idle for no one else's measurement.
    app.lifecycle.advance(Phase::Stopping);
    server.wake_all();
    drop(s);
    server.join();
    (after - before, calls)
}

#[test]
fn redis_mode_allocations_plain_none_tls_bounded_by_script_calls() {
    let redis = Redis::start();
    const ROUNDS: usize = 1_000;
    let requests = ROUNDS * 17;

    let (plain, plain_calls) = measure(&redis, &format!("redis://127.0.0.1:{}", redis.plain), None, ROUNDS);
    println!("plain: {plain} allocations over {requests} requests, {plain_calls} script calls");
    assert_eq!(plain, 0, "plain redis mode: {plain} allocations over {requests} requests");

    let ca = TlsFiles { ca_file: Some(redis.dir.join("ca.crt")), ..TlsFiles::default() };
    let (tls, calls) = measure(&redis, &format!("rediss://localhost:{}", redis.tls), Some(ca), ROUNDS);
    println!("tls: {tls} allocations over {requests} requests, {calls} script calls");
    assert!(calls >= 2 * ROUNDS, "each round is at least two batches: {calls}");
    // At most one sealed and one opened record per script call; never one per request.
    assert!(tls <= 2 * calls, "{tls} allocations for {calls} script calls ({requests} requests)");
}

//! Hostile clients against the real binary: a 10,000-connection flood, slowloris, a pipeliner that never reads,
//! resets, half-closes and vanishing clients, silent connections. Each proves the server keeps serving everyone
//! else, keeps memory bounded and leaks no fd. Every wait is a poll with a deadline; the only other sleep is the
//! attackers' own pacing (one byte per second is what a slowloris is).
//!
//! The tests run one at a time (`serial`): each one loads the machine, and the throughput ratio and the RSS
//! figures mean nothing while another flood runs beside them.

use std::io::{BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use counter::app::App;
use counter::http::date::DateCache;

use crate::support::{eventually, get, read_response, Server};

const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n";

/// One hostile test at a time: they measure the machine they load.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Raises this process' soft fd limit to its hard limit and returns the new soft limit.
fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit read and write the rlimit struct we own; results are checked.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        // RLIM_INFINITY is not a valid fd limit; the kernel's own ceiling (fs.nr_open) defaults to 2^20.
        lim.rlim_cur = lim.rlim_max.min(1 << 20);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    lim.rlim_cur
}

/// The server's resident set in KiB (VmRSS).
fn rss_kib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Polls until the server holds `baseline` fds again (or fewer); returns the last count seen.
fn fds_return_to(server: &Server, baseline: usize, timeout: Duration) -> usize {
    let mut last = 0;
    eventually(timeout, || {
        last = server.fd_count();
        last <= baseline
    });
    last
}

/// Closing with SO_LINGER 0 sends an RST instead of a FIN: an abortive close (RFC 9293 §3.10.5, ABORT).
fn reset(stream: TcpStream) {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: setsockopt on a socket fd we own, with a pointer to a live `linger` and its exact size.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER: {}", std::io::Error::last_os_error());
    drop(stream);
}

/// The peer closed (EOF or reset), without blocking: what a nonblocking read says right now.
fn closed_by_peer(stream: &mut TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 256];
    let closed = loop {
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break true,
        }
    };
    stream.set_nonblocking(false).unwrap();
    closed
}

/// Requests per second one keep-alive client gets from `addr` over `span`.
fn keep_alive_rate(addr: SocketAddr, span: Duration) -> f64 {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
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
fn ten_thousand_concurrent_connections_are_served_or_refused_cleanly() {
    const CLIENTS: usize = 10_000;
    let _serial = serial();
    assert!(raise_fd_limit() as usize > CLIENTS + 100, "the test needs an fd limit above {CLIENTS}");
    let server = Server::start_with(&["--workers", "2"], &[]);
    let baseline = server.fd_count();
    let deadline = Duration::from_secs(5);

    // Open all of them first, so all 10,000 are connected at once.
    let mut open = Vec::with_capacity(CLIENTS);
    let mut refused = 0;
    for _ in 0..CLIENTS {
        match TcpStream::connect_timeout(&server.addr, deadline) {
            Ok(s) => open.push(s),
            Err(e) => {
                assert_ne!(e.kind(), ErrorKind::TimedOut, "connect hung past {deadline:?}");
                refused += 1;
            }
        }
    }
    let mut peak = 0;
    eventually(Duration::from_secs(10), || {
        peak = server.fd_count();
        peak >= baseline + open.len()
    });
    for s in &mut open {
        s.set_read_timeout(Some(deadline)).unwrap();
        // A refused connection shows up here or at the read as a reset or EOF; both are clean.
        let _ = s.write_all(HEALTH);
    }
    let (mut served, mut hung) = (0, 0);
    for s in open.iter_mut() {
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            Ok(0) => refused += 1,
            Ok(n) if buf[..n].starts_with(b"HTTP/1.1 200 ") => served += 1,
            Ok(n) => panic!("unexpected answer {:?}", String::from_utf8_lossy(&buf[..n])),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => hung += 1,
            Err(_) => refused += 1,
        }
    }
    println!("{CLIENTS} connections: {served} served, {refused} refused, {hung} hung; server fds {baseline} -> {peak}");
    assert_eq!(hung, 0, "connections neither served nor refused within {deadline:?}");
    assert_eq!(served + refused, CLIENTS);
    // Two workers hold 2 x 16384 slots: nothing needs refusing here.
    assert_eq!(served, CLIENTS, "{refused} refused although the table has room");

    drop(open);
    let left = fds_return_to(&server, baseline, Duration::from_secs(10));
    assert!(left <= baseline, "server holds {left} fds after every client closed, baseline {baseline}");
    assert_eq!(get(&server, "/health").status, 200);
}

/// Slow connections that keep one header byte per second coming, replaced as the server cuts them.
struct Slowloris {
    stop: Arc<AtomicBool>,
    /// Lifetimes of the connections the server closed, from the first byte to the moment we saw the close.
    cut: Arc<Mutex<Vec<Duration>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Slowloris {
    /// Starts `n` connections; each sends one byte of a never-ending head per second.
    fn start(addr: SocketAddr, n: usize) -> Slowloris {
        let stop = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(Mutex::new(Vec::new()));
        let (flag, lifetimes) = (Arc::clone(&stop), Arc::clone(&cut));
        let thread = std::thread::spawn(move || {
            const HEAD: &[u8] = b"GET /health HTTP/1.1\r\nHost: a\r\nX-Slow: ";
            // (stream, first byte sent at, bytes sent)
            let open = || (TcpStream::connect(addr).unwrap(), Instant::now(), 0usize);
            let mut conns: Vec<(TcpStream, Instant, usize)> = (0..n).map(|_| open()).collect();
            while !flag.load(Ordering::Relaxed) {
                let tick = Instant::now();
                for slot in conns.iter_mut() {
                    if slot.2 > 0 && closed_by_peer(&mut slot.0) {
                        lifetimes.lock().unwrap().push(slot.1.elapsed());
                        *slot = open();
                    }
                    if slot.2 == 0 {
                        slot.1 = Instant::now();
                    }
                    let byte = HEAD.get(slot.2).copied().unwrap_or(b'a');
                    if slot.0.write_all(&[byte]).is_ok() {
                        slot.2 += 1;
                    }
                }
                // The attack's own pacing: one byte per connection per second.
                while tick.elapsed() < Duration::from_secs(1) && !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        });
        Slowloris { stop, cut, thread }
    }

    fn cut(&self) -> Vec<Duration> {
        self.cut.lock().unwrap().clone()
    }

    fn stop(self) -> Vec<Duration> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        let cut = self.cut.lock().unwrap();
        cut.clone()
    }
}

#[test]
fn slowloris_is_cut_at_the_header_timeout_while_a_normal_client_keeps_its_throughput() {
    const ATTACKERS: usize = 300;
    const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
    let _serial = serial();
    let server = Server::start_with(&["--header-timeout", "2", "--idle-timeout", "30"], &[]);
    let span = Duration::from_secs(2);
    let quiet = keep_alive_rate(server.addr, span);

    let attack = Slowloris::start(server.addr, ATTACKERS);
    // Two windows: the first while the first wave trickles, the second while it is cut and replaced.
    let under_attack = (keep_alive_rate(server.addr, span) + keep_alive_rate(server.addr, span)) / 2.0;
    let first_wave_cut = eventually(Duration::from_secs(8), || attack.cut().len() >= ATTACKERS);
    let lifetimes = attack.stop();

    let ratio = under_attack / quiet;
    let longest = lifetimes.iter().max().copied().unwrap_or_default();
    println!(
        "slowloris: {ATTACKERS} slow connections at a time, {} cut by the server, longest lived {longest:?}; \
         normal client {quiet:.0} req/s alone, {under_attack:.0} req/s under attack, ratio {ratio:.2}",
        lifetimes.len()
    );
    assert!(first_wave_cut, "only {} slow connections were cut", lifetimes.len());
    // Cut at the deadline: the header timeout, plus up to one tick of the worker's once-a-second sweep, plus
    // up to one second until our once-a-second check sees it, plus slack for a loaded machine.
    let bound = HEADER_TIMEOUT + Duration::from_millis(2500);
    assert!(longest <= bound, "a slow connection lived {longest:?} > {bound:?}");
    // Two noisy cores: a conservative bound that still catches a server serialised behind slow clients.
    assert!(ratio >= 0.3, "normal client throughput fell to {ratio:.2} of its quiet rate");
}

/// Writes pipelined requests without ever reading until the kernel refuses more for `settle`; returns the bytes
/// written.
fn write_until_blocked(stream: &mut TcpStream, request: &[u8], settle: Duration, deadline: Duration) -> usize {
    let batch = request.repeat(2000);
    stream.set_nonblocking(true).unwrap();
    let start = Instant::now();
    let (mut written, mut at, mut last_progress) = (0, 0, Instant::now());
    while last_progress.elapsed() < settle {
        assert!(start.elapsed() < deadline, "the server kept reading for {deadline:?}: no backpressure");
        match stream.write(&batch[at..]) {
            Ok(n) => {
                written += n;
                at = (at + n) % batch.len();
                last_progress = Instant::now();
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("write: {e}"),
        }
    }
    stream.set_nonblocking(false).unwrap();
    written
}

/// GET /statusV2 on a fresh connection: its counter value.
fn status_v2(server: &Server) -> u64 {
    get(server, "/statusV2").json()["counter"].as_u64().unwrap()
}

#[test]
fn pipeliner_that_never_reads_is_held_back_and_others_are_unaffected() {
    let _serial = serial();
    let server = Server::start();
    let rss_before = rss_kib(&server);
    const REQUEST: &[u8] = b"GET /statusV2 HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut hog = server.connect();
    let written = write_until_blocked(&mut hog, REQUEST, Duration::from_secs(1), Duration::from_secs(20));
    let sent = written / REQUEST.len();
    let rss_blocked = rss_kib(&server);

    // Backpressure: the server stopped answering the hog. Our own probes are the only increments now.
    let first = status_v2(&server);
    let start = Instant::now();
    let health = get(&server, "/health");
    let latency = start.elapsed();
    let second = status_v2(&server);
    let answered = first - 1;
    println!(
        "never-reading pipeliner: wrote {written} bytes ({sent} requests), server answered {answered}; RSS \
         {rss_before} -> {rss_blocked} KiB; /health took {latency:?} meanwhile"
    );
    assert_eq!(second, first + 1, "the server kept answering the hog's requests while it did not read");
    assert!((answered as usize) < sent, "everything was answered: the test did not reach backpressure");
    assert_eq!(health.status, 200);
    assert!(latency < Duration::from_secs(1), "another client waited {latency:?}");
    let growth = rss_blocked.saturating_sub(rss_before);
    assert!(growth < 64 * 1024, "RSS grew by {growth} KiB for one client that never reads");

    // What happens when it reads again: `pipeliner_that_resumes_reading_fast_gets_every_answer`.
    drop(hog);
}

/// A pipeliner that stopped reading until the server held back, then reads as fast as it can: the server's
/// writes now never block, so no WRITABLE edge comes, and the requests still queued in the socket must be read
/// without a new EPOLLIN edge (they arrived long ago).
#[test]
fn pipeliner_that_resumes_reading_fast_gets_every_answer() {
    let _serial = serial();
    let server = Server::start();
    let mut raw = Vec::new();
    let mut s = server.connect();
    s.write_all(HEALTH).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    s.read_to_end(&mut raw).unwrap();
    let one = raw.len(); // every /health response has this length: only the Date's digits change

    let mut hog = TcpStream::connect(server.addr).unwrap();
    let written = write_until_blocked(&mut hog, HEALTH, Duration::from_secs(1), Duration::from_secs(20));
    let sent = written / HEALTH.len(); // a torn last request is never answered
    hog.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut received = 0;
    while received < sent * one {
        match hog.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => received += n,
        }
    }
    println!("resumed pipeliner: {sent} requests sent, {} answered", received / one);
    assert_eq!(received / one, sent, "the server stopped answering with requests still in its socket");
}

#[test]
fn megabyte_pipelined_in_one_write_is_answered_in_order_with_bounded_memory() {
    let _serial = serial();
    let server = Server::start();
    let rss_before = rss_kib(&server);
    let one = b"GET /status HTTP/1.1\r\nHost: a\r\n\r\n";
    let n = (1 << 20) / one.len();
    let batch = one.repeat(n);
    let s = server.connect();
    let mut writer = s.try_clone().unwrap();
    let w = std::thread::spawn(move || writer.write_all(&batch).unwrap());
    let mut r = BufReader::new(s);
    let mut rss_peak = rss_before;
    for i in 1..=n as u64 {
        let resp = read_response(&mut r, false).expect("response");
        assert_eq!(resp.json()["counter"].as_u64(), Some(i), "out of order");
        if i % 4096 == 0 {
            rss_peak = rss_peak.max(rss_kib(&server));
        }
    }
    w.join().unwrap();
    println!("1 MiB pipelined: {n} requests answered in order; RSS {rss_before} -> peak {rss_peak} KiB");
    assert!(rss_peak - rss_before < 16 * 1024, "RSS grew by {} KiB", rss_peak - rss_before);
}

#[test]
fn resets_half_closes_and_vanishing_clients_leak_no_fd() {
    const EACH: usize = 100;
    let _serial = serial();
    let server = Server::start_with(&["--header-timeout", "2"], &[]);
    assert_eq!(get(&server, "/health").status, 200);
    let baseline = server.fd_count();
    let burst = b"GET /status HTTP/1.1\r\nHost: a\r\n\r\n".repeat(2000);
    for _ in 0..EACH {
        // Reset mid-response: a large pipelined burst, one read, then an abortive close.
        let mut s = server.connect();
        s.write_all(&burst).unwrap();
        let mut buf = [0u8; 64];
        let _ = s.read(&mut buf);
        reset(s);
        // Half-close after sending: the response still comes, then EOF.
        let mut s = server.connect();
        s.write_all(HEALTH).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        assert!(all.starts_with(b"HTTP/1.1 200 "), "half-closed client got {:?}", String::from_utf8_lossy(&all));
        // Send a request and vanish: closed without reading; the kernel answers the response with an RST.
        let mut s = server.connect();
        s.write_all(HEALTH).unwrap();
        drop(s);
        // Half a request, then vanish.
        let mut s = server.connect();
        s.write_all(&HEALTH[..10]).unwrap();
        drop(s);
        // Half a request, then reset.
        let mut s = server.connect();
        s.write_all(&HEALTH[..10]).unwrap();
        reset(s);
    }
    let left = fds_return_to(&server, baseline, Duration::from_secs(10));
    println!("{} hostile closes: server fds {baseline} before, {left} after", 5 * EACH);
    assert!(left <= baseline, "server holds {left} fds, {baseline} before: leaked {}", left - baseline);
    assert_eq!(get(&server, "/health").status, 200);
}

/// A client that sends a request and aborts at once: its data and its RST reach the socket before the worker
/// looks, so the request is read and answered and the write fails. Its response must die with it, never reach
/// the next client served by the same worker.
#[test]
fn responses_of_a_reset_client_never_reach_another_client() {
    const ROUNDS: usize = 300;
    let _serial = serial();
    let server = Server::start_with(&["--workers", "1"], &[]);
    let mut leaked = 0;
    for _ in 0..ROUNDS {
        let mut aborting = TcpStream::connect(server.addr).unwrap();
        aborting.write_all(b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        reset(aborting);
        let mut next = BufReader::new(server.connect());
        next.get_mut().write_all(HEALTH).unwrap();
        let first = read_response(&mut next, false).expect("response");
        leaked += usize::from(first.status != 200);
    }
    println!("reset clients: {leaked} of {ROUNDS} next clients got the reset client's 404 first");
    assert_eq!(leaked, 0, "{leaked} of {ROUNDS} clients received another client's response");
}

#[test]
fn silent_connections_are_closed_after_the_header_timeout() {
    const SILENT: usize = 200;
    let _serial = serial();
    let server = Server::start_with(&["--header-timeout", "1", "--idle-timeout", "30"], &[]);
    let baseline = server.fd_count();
    let start = Instant::now();
    let mut conns: Vec<TcpStream> = (0..SILENT).map(|_| server.connect()).collect();
    assert!(eventually(Duration::from_secs(5), || server.fd_count() >= baseline + SILENT));
    // Closed at the deadline: 1 s, plus up to a second of sweep granularity, plus slack for a busy machine.
    let all_closed = eventually(Duration::from_secs(4), || conns.iter_mut().all(closed_by_peer));
    let took = start.elapsed();
    println!("{SILENT} silent connections closed after {took:?}");
    assert!(all_closed, "silent connections still open after {took:?}");
    let left = fds_return_to(&server, baseline, Duration::from_secs(5));
    assert!(left <= baseline, "server holds {left} fds, baseline {baseline}");
}

/// The verdict on a byte stream must not depend on how TCP split it: every prefix of a request is either
/// Partial or already the same answer the whole request gets. Otherwise a client's segmentation (or an
/// attacker's) decides between a 405 that keeps the connection and a 414 that closes it.
#[test]
fn verdicts_do_not_depend_on_segmentation() {
    let long_method = [&[b'A'; 2100][..], b" /health HTTP/1.1\r\nHost: a\r\n\r\n"].concat();
    let long_method_old_version = [&[b'A'; 2100][..], b" /health HTTP/0.1\r\nHost: a\r\n\r\n"].concat();
    let long_target = [&b"GET /"[..], &[b'a'; 9000], b" HTTP/1.1\r\nHost: a\r\n\r\n"].concat();
    let long_target_bad_byte = [&b"GET /"[..], &[b'a'; 100], b"\x7f", &[b'a'; 3000], b" HTTP/1.1\r\n\r\n"].concat();
    let long_head_bad_field = [&b"GET / HTTP/1.1\r\nX: "[..], &[b'a'; 9000], b"\r\nBad Name: b\r\n\r\n"].concat();
    let cases: [&[u8]; 8] = [
        &long_method,
        &long_method_old_version,
        &long_target,
        &long_target_bad_byte,
        &long_head_bad_field,
        b"GET /health HTTP/2.0\r\nHost: a\r\n\r\n",
        b"GET /health HTTP/T /health HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /health HTTP/0.1\r\xa7Host: a\r\n\r\n",
    ];
    let app = App::new();
    let mut dates = DateCache::new(1_700_000_000);
    let status = |out: &[u8]| String::from_utf8_lossy(&out[..out.len().min(12)]).into_owned();
    for raw in cases {
        let mut whole = Vec::new();
        app.answer(raw, &mut dates, &mut whole);
        for cut in 1..raw.len() {
            let mut out = Vec::new();
            let answered = app.answer(&raw[..cut], &mut dates, &mut out);
            if answered.requests > 0 {
                assert_eq!(status(&out), status(&whole), "{:?} cut at {cut}", String::from_utf8_lossy(&raw[..40]));
            }
        }
    }
}

/// RFC 9112 §3.2: a server MUST answer 400 to a request whose Host field value is invalid. Host = uri-host
/// [ ":" port ] (RFC 9110 §7.2), uri-host a reg-name, IPv4 address or IP-literal (RFC 3986 §3.2.2), port *DIGIT.
/// A front proxy and this server must never disagree on whether a request is well-formed.
#[test]
fn invalid_host_values_are_rejected() {
    let _serial = serial();
    let server = Server::start();
    let ask = |host: &str| {
        let raw = format!("GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n");
        crate::support::exchange(&server, raw.as_bytes(), 1).remove(0).status
    };
    for valid in ["a", "a:80", "a:", "a,b", "[::1]:8080", "10.0.0.1", "xn--bcher-kva.example"] {
        assert_eq!(ask(valid), 200, "Host: {valid}");
    }
    for invalid in ["a, b", "a b", "a/b", "a@b", "a:x", "a\"b", "a?b", "[::1"] {
        assert_eq!(ask(invalid), 400, "Host: {invalid}");
    }
}

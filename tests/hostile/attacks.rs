//! Hostile clients against the real binary: a 10,000-connection flood, slowloris, a pipeliner that never reads,
//! resets, half-closes and vanishing clients, silent connections. Each proves the server keeps serving everyone
//! else, keeps memory bounded and leaks no fd. Every wait is a poll with a deadline; the only other sleep is the
//! attackers' own pacing (one byte per second is what a slowloris is).
//!
//! Time bounds: the server keeps deadlines in whole Unix seconds (`now + timeout`, checked once a second), so a
//! connection lives MORE than `timeout - 1 s`: that lower bound is strict. Upper bounds are generous (the timeout
//! plus `SLACK`): they catch a timeout that never fires, not a slow machine.
//!
//! The tests run one at a time (`serial`): each one loads the machine, and the RSS figures mean nothing while
//! another flood runs beside them.

use std::io::{BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use counter::app::App;
use counter::http::date::DateCache;

use crate::support::{eventually, get, read_response, Server};

pub const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n";

/// What a generous upper bound adds to the behaviour's own time: a loaded machine may not schedule the server
/// (or this test) for seconds, and a bound that fires then proves nothing.
pub const SLACK: Duration = Duration::from_secs(10);

/// The server's deadlines are whole seconds: a connection may be cut up to this much before its timeout.
const DEADLINE_GRANULARITY: Duration = Duration::from_secs(1);

/// One hostile test at a time: they measure the machine they load.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Raises this process' soft fd limit to its hard limit and returns the new soft limit.
pub fn raise_fd_limit() -> u64 {
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
pub fn rss_kib(server: &Server) -> u64 {
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
pub fn closed_by_peer(stream: &mut TcpStream) -> bool {
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

#[test]
fn ten_thousand_concurrent_connections_are_served_or_refused_cleanly() {
    const CLIENTS: usize = 10_000;
    let _serial = serial();
    assert!(raise_fd_limit() as usize > CLIENTS + 100, "the test needs an fd limit above {CLIENTS}");
    let server = Server::start_with(&["--workers", "2"], &[]);
    let baseline = server.fd_count();
    // A connect or a first answer that takes longer than this hung: no working server needs it on any machine.
    let deadline = SLACK + SLACK;

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
    eventually(SLACK, || {
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
    assert_eq!(hung, 0, "connections neither served nor refused within {deadline:?}");
    assert_eq!(served + refused, CLIENTS);
    // Two workers hold 2 x 16384 slots: nothing needs refusing here.
    assert_eq!(served, CLIENTS, "{refused} refused although the table has room");

    drop(open);
    let left = fds_return_to(&server, baseline, SLACK);
    println!(
        "{CLIENTS} connections: {served} served, {refused} refused, {hung} hung; server fds {baseline} -> {peak} -> \
         {left}"
    );
    assert!(left <= baseline, "server holds {left} fds after every client closed, baseline {baseline}");
    assert_eq!(get(&server, "/health").status, 200);
}

/// Slow connections that keep one header byte per second coming, replaced as the server cuts them.
pub struct Slowloris {
    stop: Arc<AtomicBool>,
    /// Lifetimes of the connections the server closed, from just before `connect` to the moment we saw the
    /// close: never shorter than the server's own view of them.
    cut: Arc<Mutex<Vec<Duration>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Slowloris {
    /// Opens `n` connections (all of them are connected when this returns), then sends each one byte of a
    /// never-ending head per second from a thread of its own.
    pub fn start(addr: SocketAddr, n: usize) -> Slowloris {
        const HEAD: &[u8] = b"GET /health HTTP/1.1\r\nHost: a\r\nX-Slow: ";
        // (stream, connect began at, bytes sent)
        let open = move || {
            let at = Instant::now();
            (TcpStream::connect(addr).unwrap(), at, 0usize)
        };
        let mut conns: Vec<(TcpStream, Instant, usize)> = (0..n).map(|_| open()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(Mutex::new(Vec::new()));
        let (flag, lifetimes) = (Arc::clone(&stop), Arc::clone(&cut));
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let tick = Instant::now();
                for slot in conns.iter_mut() {
                    if slot.2 > 0 && closed_by_peer(&mut slot.0) {
                        lifetimes.lock().unwrap().push(slot.1.elapsed());
                        *slot = open();
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

    pub fn cut(&self) -> Vec<Duration> {
        self.cut.lock().unwrap().clone()
    }

    pub fn stop(self) -> Vec<Duration> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        let cut = self.cut.lock().unwrap();
        cut.clone()
    }
}

/// `n` GET /status requests on one keep-alive connection, each awaited before the next: every answer must be
/// a 200 whose counter is the next value after `first`, within `patience`. Returns the last value.
pub fn counts_in_order(addr: SocketAddr, first: u64, n: u64, patience: Duration) -> u64 {
    const STATUS: &[u8] = b"GET /status HTTP/1.1\r\nHost: a\r\n\r\n";
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    stream.set_read_timeout(Some(patience)).unwrap();
    let mut r = BufReader::new(stream);
    for expected in first + 1..=first + n {
        r.get_mut().write_all(STATUS).unwrap();
        let resp = read_response(&mut r, false).expect("an answer, not a close");
        assert_eq!(resp.status, 200);
        assert_eq!(resp.json()["counter"].as_u64(), Some(expected), "answers out of order or miscounted");
    }
    first + n
}

#[test]
fn slowloris_is_cut_at_the_header_timeout_while_a_normal_client_is_served() {
    const ATTACKERS: usize = 300;
    const ANSWERS: u64 = 2000;
    const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
    let _serial = serial();
    let server = Server::start_with(&["--header-timeout", "2", "--idle-timeout", "30"], &[]);
    let quiet = counts_in_order(server.addr, 0, 10, SLACK);

    // All 300 slow connections are open before the normal client starts, and stay (or are replaced) until it ends.
    let attack = Slowloris::start(server.addr, ATTACKERS);
    let last = counts_in_order(server.addr, quiet, ANSWERS, SLACK);
    // Cut at the deadline: the header timeout, plus one tick of the worker's once-a-second sweep, plus one second
    // until our once-a-second check sees it, plus the slack a loaded machine needs.
    let bound = HEADER_TIMEOUT + Duration::from_secs(2) + SLACK;
    let first_wave_cut = eventually(bound + SLACK, || attack.cut().len() >= ATTACKERS);
    let lifetimes = attack.stop();

    let shortest = lifetimes.iter().min().copied().unwrap_or_default();
    let longest = lifetimes.iter().max().copied().unwrap_or_default();
    println!(
        "slowloris: {ATTACKERS} slow connections at a time, {} cut by the server, lived {shortest:?} to \
         {longest:?}; a normal client got {ANSWERS} answers in order meanwhile",
        lifetimes.len()
    );
    assert_eq!(last, quiet + ANSWERS);
    assert!(first_wave_cut, "only {} slow connections were cut", lifetimes.len());
    let floor = HEADER_TIMEOUT - DEADLINE_GRANULARITY;
    assert!(shortest > floor, "a slow connection was cut after {shortest:?}, before its header timeout");
    assert!(longest <= bound, "a slow connection lived {longest:?} > {bound:?}");
    assert_eq!(get(&server, "/health").status, 200);
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

    // Backpressure: the server stops answering the hog, so our own probes become the only increments. On a
    // loaded machine the server may still be catching up with what it already read: wait for that, no longer.
    let (mut first, mut second) = (0, 0);
    let held_back = eventually(SLACK + SLACK, || {
        first = status_v2(&server);
        second = status_v2(&server);
        second == first + 1
    });
    let rss_blocked = rss_kib(&server);
    let start = Instant::now();
    let health = get(&server, "/health");
    let latency = start.elapsed();
    let answered = first - 1;
    println!(
        "never-reading pipeliner: wrote {written} bytes ({sent} requests), server answered {answered}; RSS \
         {rss_before} -> {rss_blocked} KiB; /health took {latency:?} meanwhile"
    );
    assert!(held_back, "the server kept answering the hog's requests while it did not read");
    assert!((answered as usize) < sent, "everything was answered: the test did not reach backpressure");
    assert_eq!(health.status, 200);
    // Not a latency figure (that is scripts/hostile-figures.sh): a server serialised behind the hog never answers.
    assert!(latency < SLACK, "another client waited {latency:?}");
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
                                       // A server that stopped answering leaves this read waiting: the timeout only bounds how long a failure takes.
    hog.set_read_timeout(Some(SLACK)).unwrap();
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
    // The 2 s header timeout (and the 2 s linger) are the longest anything here may take to close.
    let left = fds_return_to(&server, baseline, Duration::from_secs(2) + SLACK);
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
    const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
    let _serial = serial();
    let server = Server::start_with(&["--header-timeout", "2", "--idle-timeout", "30"], &[]);
    let baseline = server.fd_count();
    // Each connection's clock starts before its own connect, and each close is seen from the client side: however
    // long opening all 200 takes, every lifetime is measured against its own timeout.
    let mut conns: Vec<(TcpStream, Instant, Option<Duration>)> = (0..SILENT)
        .map(|_| {
            let at = Instant::now();
            (server.connect(), at, None)
        })
        .collect();
    let bound = HEADER_TIMEOUT + DEADLINE_GRANULARITY + SLACK;
    let all_closed = eventually(bound + SLACK, || {
        for (stream, at, closed) in conns.iter_mut().filter(|c| c.2.is_none()) {
            if closed_by_peer(stream) {
                *closed = Some(at.elapsed());
            }
        }
        conns.iter().all(|c| c.2.is_some())
    });
    let lifetimes: Vec<Duration> = conns.iter().filter_map(|c| c.2).collect();
    let shortest = lifetimes.iter().min().copied().unwrap_or_default();
    let longest = lifetimes.iter().max().copied().unwrap_or_default();
    println!("{SILENT} silent connections closed after {shortest:?} to {longest:?}");
    assert!(all_closed, "{} of {SILENT} silent connections still open", SILENT - lifetimes.len());
    let floor = HEADER_TIMEOUT - DEADLINE_GRANULARITY;
    assert!(shortest > floor, "a silent connection was closed after {shortest:?}, before its header timeout");
    assert!(longest <= bound, "a silent connection lived {longest:?} > {bound:?}");
    let left = fds_return_to(&server, baseline, SLACK);
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

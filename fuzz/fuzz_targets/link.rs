//! Fuzzes the whole Redis link under `server::batches::Batches` with arbitrary reply bytes, over a real loopback
//! socket: the harness plays Redis (it answers the handshake's probe and SCRIPT LOAD, then writes the fuzz bytes as the replies to the
//! batches in flight, then resets the connection), and checks on every input:
//! - every request gets exactly one answer, with its own count, and every batch's members are answered;
//! - a value handed out came from the reply to that request's own batch: the reply at the batch's position is
//!   a script reply (`{last, seconds}` or `{hi, lo, seconds, skipped, lifted}`) the link may accept (last >= k,
//!   seconds within 1970-9999; with WAIT, its WAIT reply an integer >= 1), and the member gets
//!   `last - k + 1 + (requests before it in the batch)`;
//! - no value is handed out twice.
//!
//! Positions: the link writes every batch's command(s) before the harness writes any reply, so batch i's script
//! reply is reply number i (i * 2 with WAIT, its WAIT reply right after). Commands the link adds later (SCRIPT
//! LOAD after NOSCRIPT) come after all of them.
//!
//! # Input layout
//! `[flags][n][k_1 .. k_n][reply bytes]`: `flags & 1` turns WAIT on (`--redis-wait-replicas 1`); `n % 4 + 1`
//! batches (the link keeps at most 4 in flight); batch i has `k_i % 8 + 1` requests, split into two members
//! when `k_i & 0x80`. Inputs whose bytes could redirect the link (`-MOVED`, `-ASK`) are skipped: a redirect
//! would connect to whatever address the bytes name, and test traffic stays on 127.0.0.1.
#![no_main]

use std::collections::HashSet;
use std::io::{ErrorKind, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use counter::app::SharedResult;
use counter::config::parse_redis_url;
use counter::limits::UNIX_SECS_MAX;
use counter::metrics::{Info, Metrics};
use counter::redis::resp::{parse, Reply, Status};
use counter::server::batches::Batches;
use libfuzzer_sys::fuzz_target;
use mio::{Events, Poll, Token};

const LINK: Token = Token(0);
/// The handshake's answers, in the order the link asks: the process-identity probe (`run_id:master_replid`),
/// then SCRIPT LOAD's SHA.
const HANDSHAKE_REPLIES: &[u8] =
    b"$81\r\n0123456789abcdef0123456789abcdef01234567:0123456789abcdef0123456789abcdef01234567\r\n\
$40\r\n0123456789abcdef0123456789abcdef01234567\r\n";
/// How long an input may take before the harness calls it a hang (the link's own deadlines are 1 s).
const PATIENCE: Duration = Duration::from_secs(5);

struct Batch {
    /// (member slot, requests) in the order the link got them.
    members: Vec<(usize, usize)>,
}

impl Batch {
    fn k(&self) -> usize {
        self.members.iter().map(|m| m.1).sum()
    }
}

thread_local! {
    static LISTENER: TcpListener = {
        // libFuzzer's C++ main runs instead of Rust's, which would have ignored SIGPIPE: a write to a socket the
        // peer reset must be an EPIPE error here too, as in the service, not the end of the process.
        // SAFETY: setting a signal's disposition to SIG_IGN, before any other thread of this target exists.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.set_nonblocking(true).unwrap();
        l
    };
}

fuzz_target!(|data: &[u8]| {
    let Some((&[flags, n], rest)) = data.split_first_chunk::<2>() else { return };
    let n = usize::from(n % 4 + 1);
    let Some((ks, replies)) = rest.split_at_checked(n) else { return };
    if contains(replies, b"-MOVED") || contains(replies, b"-ASK") || replies.len() > 8192 {
        return;
    }
    let wait = flags & 1 == 1;
    let mut slot = 0;
    let batches: Vec<Batch> = ks
        .iter()
        .map(|&b| {
            let k = usize::from(b % 8 + 1);
            let split = if b & 0x80 != 0 && k > 1 { vec![k / 2, k - k / 2] } else { vec![k] };
            let members = split.into_iter().map(|c| (post_inc(&mut slot), c)).collect();
            Batch { members }
        })
        .collect();
    LISTENER.with(|listener| run(listener, &batches, wait, replies));
});

fn post_inc(x: &mut usize) -> usize {
    *x += 1;
    *x - 1
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn run(listener: &TcpListener, batches: &[Batch], wait: bool, replies: &[u8]) {
    while listener.accept().is_ok() {} // a connection a previous input's link left in the backlog
    let port = listener.local_addr().unwrap().port();
    let mut target = parse_redis_url(&format!("redis://127.0.0.1:{port}")).unwrap();
    target.wait_replicas = u32::from(wait);
    let mut poll = Poll::new().unwrap();
    let metrics = Metrics::new(1, Info::default());
    let mut link = Batches::new(target, LINK, 0, metrics.slot(0));
    link.maintain(Instant::now(), poll.registry());
    let mut redis = accept(listener);
    redis.write_all(HANDSHAKE_REPLIES).unwrap();
    let deadline = Instant::now() + PATIENCE;
    let mut events = Events::with_capacity(16);
    while !link.can_send() {
        turn(&mut poll, &mut events, &mut link, Duration::from_millis(1));
        assert!(Instant::now() < deadline, "the link never became ready");
    }
    for batch in batches {
        assert!(link.can_send());
        let mut waiting: Vec<usize> = batch.members.iter().map(|m| m.0).collect();
        let take = |slot: usize| batch.members.iter().find(|m| m.0 == slot).map(|m| (slot as u64 + 1000, m.1));
        link.send_batch(&mut waiting, take, Instant::now(), poll.registry());
    }
    let _ = redis.write_all(replies); // fits the socket buffer (<= 8 KiB); the link may have reset already
                                      // Let the link read everything that arrived, then reset: whatever is still unanswered fails.
    for _ in 0..4 {
        turn(&mut poll, &mut events, &mut link, Duration::ZERO);
    }
    reset(redis);
    let answers = collect(&mut poll, &mut events, &mut link, batches, deadline);
    check(batches, wait, replies, &answers);
}

fn accept(listener: &TcpListener) -> TcpStream {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                s.set_nodelay(true).unwrap();
                return s;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_micros(50))
            }
            Err(e) => panic!("the link never connected: {e}"),
        }
    }
}

/// Closes with RST (SO_LINGER 0): no TIME_WAIT left behind per input, and the link sees the end at once.
fn reset(s: TcpStream) {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: setsockopt on a socket this function owns, with a pointer to a live `linger` of the size given.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(s);
}

/// One loop turn of a worker: events, timers.
fn turn(poll: &mut Poll, events: &mut Events, link: &mut Batches, timeout: Duration) {
    poll.poll(events, Some(timeout)).unwrap();
    if events.iter().any(|e| e.token() == LINK) {
        link.on_link_event(Instant::now(), poll.registry());
    }
    link.maintain(Instant::now(), poll.registry());
}

/// Every member's answers: (slot, connection id, count, result).
fn collect(
    poll: &mut Poll,
    events: &mut Events,
    link: &mut Batches,
    batches: &[Batch],
    deadline: Instant,
) -> Vec<(usize, u64, usize, SharedResult)> {
    let members: usize = batches.iter().map(|b| b.members.len()).sum();
    let mut answers = Vec::new();
    loop {
        while let Some((slot, id, (count, result))) = link.next_delivery() {
            answers.push((slot, id, count, result));
        }
        if answers.len() >= members {
            return answers;
        }
        assert!(Instant::now() < deadline, "a request hangs: {} of {members} answered", answers.len());
        turn(poll, events, link, Duration::from_millis(1));
    }
}

/// The replies the harness wrote, as the link reads them, up to the first that does not parse.
fn reply_list(bytes: &[u8]) -> Vec<Reply<'_>> {
    let mut list = Vec::new();
    let mut at = 0;
    while let Ok(Status::Complete { reply, consumed }) = parse(&bytes[at..]) {
        list.push(reply);
        at += consumed;
    }
    list
}

/// The first value batch `k` may hand out given its replies, if any.
fn allowed_first(script: Option<&Reply<'_>>, wait: Option<Option<&Reply<'_>>>, k: usize) -> Option<u64> {
    let Some(Reply::Array(items)) = script else { return None };
    // The script's two reply shapes (src/redis/script.rs): `{last, seconds}`, or `{hi, lo, seconds, skipped,
    // lifted}` with last = hi * 10^9 + lo, every figure non-negative.
    let (last, seconds) = match *items.as_slice() {
        [last, seconds] => (last, seconds),
        [hi, lo, seconds, skipped, lifted] if skipped >= 0 && lifted >= 0 => {
            (hi.checked_mul(1_000_000_000)?.checked_add(lo)?, seconds)
        }
        _ => return None,
    };
    let last = u64::try_from(last).ok().filter(|&l| l >= k as u64)?;
    u64::try_from(seconds).ok().filter(|&s| s <= UNIX_SECS_MAX)?;
    match wait {
        Some(Some(Reply::Integer(acks))) if *acks >= 1 => {}
        Some(_) => return None,
        None => {}
    }
    Some(last - k as u64 + 1)
}

fn check(batches: &[Batch], wait: bool, replies: &[u8], answers: &[(usize, u64, usize, SharedResult)]) {
    let list = reply_list(replies);
    let step = if wait { 2 } else { 1 };
    let mut seen = HashSet::new();
    let mut answered = HashSet::new();
    for (i, batch) in batches.iter().enumerate() {
        let wait_reply = wait.then(|| list.get(i * step + 1));
        let first = allowed_first(list.get(i * step), wait_reply, batch.k());
        let mut offset = 0;
        for &(slot, count) in &batch.members {
            let got: Vec<_> = answers.iter().filter(|a| a.0 == slot).collect();
            assert_eq!(got.len(), 1, "member {slot} answered {} times", got.len());
            let &(_, id, got_count, result) = got[0];
            assert_eq!((id, got_count), (slot as u64 + 1000, count), "member {slot}: another's answer");
            answered.insert(slot);
            if let SharedResult::Values { first: value, .. } = result {
                let Some(first) = first else { panic!("batch {i} handed out {value} from a reply it cannot use") };
                assert_eq!(value, first + offset, "batch {i}, member {slot}: not its own reply's value");
                for v in value..value + count as u64 {
                    assert!(seen.insert(v), "value {v} handed out twice");
                }
            }
            offset += count as u64;
        }
    }
    assert_eq!(answered.len(), answers.len(), "an answer for a request nobody sent");
}

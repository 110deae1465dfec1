//! Load that produces a history: client threads sending GET /status over keep-alive connections (some
//! pipelining), recording every request as a [`Record`] for the checker in `history.rs`. A client survives
//! whatever the server does: a close or reset ends that connection's outstanding requests as `Closed` and it
//! reconnects (a new connection id); a refused connect is retried; a response that never comes is `NoAnswer`
//! after [`LoadSpec::give_up`]. Nothing here asserts: the checker decides.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::history::{History, Outcome, Record};

const REQUEST: &[u8] = b"GET /status HTTP/1.1\r\nHost: load\r\n\r\n";

/// How the clients behave.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub clients: usize,
    /// The deepest pipeline: even-numbered clients send one request at a time, odd ones 2..=pipeline.
    pub pipeline: usize,
    /// Pause after a burst, so that the load leaves the machine some CPU (0: as fast as answers come).
    pub pace: Duration,
    /// Pause after a burst that got a 503 (what a client does after `Retry-After`, shortened).
    pub backoff: Duration,
    /// How long a client waits for a response before it records `NoAnswer` (a hang) and reconnects.
    pub give_up: Duration,
}

impl Default for LoadSpec {
    fn default() -> LoadSpec {
        LoadSpec {
            clients: 8,
            pipeline: 8,
            pace: Duration::from_millis(2),
            backoff: Duration::from_millis(20),
            give_up: Duration::from_secs(30),
        }
    }
}

impl LoadSpec {
    /// Requests client `i` sends per burst.
    fn depth(&self, i: usize) -> usize {
        if i.is_multiple_of(2) || self.pipeline <= 1 {
            1
        } else {
            2 + (i / 2) % (self.pipeline - 1)
        }
    }
}

/// Running clients; `finish` stops them and returns the history.
pub struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    threads: Vec<JoinHandle<Vec<Record>>>,
}

impl Load {
    /// `spec.clients` clients spread over `addrs` round-robin.
    pub fn start(addrs: &[SocketAddr], spec: LoadSpec) -> Load {
        assert!(!addrs.is_empty());
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let conns = Arc::new(AtomicU64::new(0));
        let threads = (0..spec.clients)
            .map(|i| {
                let client = Client {
                    id: i,
                    addr: addrs[i % addrs.len()],
                    depth: spec.depth(i),
                    spec: spec.clone(),
                    stop: Arc::clone(&stop),
                    ok: Arc::clone(&ok),
                    conns: Arc::clone(&conns),
                    records: Vec::new(),
                };
                std::thread::spawn(move || client.run())
            })
            .collect();
        Load { stop, ok, threads }
    }

    /// 200s seen so far.
    pub fn ok(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }

    /// Waits until the clients saw `n` more 200s than now, up to `timeout`.
    pub fn wait_for_200s(&self, n: u64, timeout: Duration) -> bool {
        let target = self.ok() + n;
        let deadline = Instant::now() + timeout;
        while self.ok() < target {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// Stops sending, waits for every outstanding answer (at most `give_up`), returns every record.
    pub fn finish(self) -> History {
        self.stop.store(true, Ordering::Relaxed);
        let mut history = History::new();
        for t in self.threads {
            history.extend(t.join().expect("a load client panicked"));
        }
        history
    }
}

struct Client {
    id: usize,
    addr: SocketAddr,
    depth: usize,
    spec: LoadSpec,
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    conns: Arc<AtomicU64>,
    records: Vec<Record>,
}

/// Why a response did not come.
enum Miss {
    Closed,
    NoAnswer,
    /// Not HTTP/1.1 with a Content-Length: recorded as status 0, which the checker reports.
    Garbled,
}

impl Client {
    fn run(mut self) -> Vec<Record> {
        let burst = REQUEST.repeat(self.depth);
        let mut conn: Option<(BufReader<TcpStream>, u64)> = None;
        while !self.stop.load(Ordering::Relaxed) {
            let Some((reader, id)) = conn.as_mut() else {
                conn = self.connect();
                continue;
            };
            let id = *id;
            let sent = Instant::now();
            if reader.get_mut().write_all(&burst).is_err() {
                self.end(id, sent, self.depth, Outcome::Closed);
                conn = None;
                continue;
            }
            let (alive, unavailable) = self.read_burst(reader, id, sent);
            if !alive {
                conn = None;
            }
            let pause = if unavailable { self.spec.backoff } else { self.spec.pace };
            if !pause.is_zero() {
                std::thread::sleep(pause);
            }
        }
        self.records
    }

    /// A new connection, or None after a short wait when the server refuses (it is down or restarting).
    fn connect(&self) -> Option<(BufReader<TcpStream>, u64)> {
        match TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                let _ = s.set_read_timeout(Some(self.spec.give_up));
                Some((BufReader::new(s), self.conns.fetch_add(1, Ordering::Relaxed)))
            }
            Err(_) => {
                std::thread::sleep(Duration::from_millis(20));
                None
            }
        }
    }

    /// Reads the burst's responses: (the connection is still usable, a 503 was among them).
    fn read_burst(&mut self, reader: &mut BufReader<TcpStream>, id: u64, sent: Instant) -> (bool, bool) {
        let mut unavailable = false;
        for i in 0..self.depth {
            match read_response(reader) {
                Ok((status, value, closes)) => {
                    let now = Instant::now();
                    let record = match (status, value) {
                        (200, Some(v)) => {
                            self.ok.fetch_add(1, Ordering::Relaxed);
                            Record::ok(self.id, id, sent, now, v)
                        }
                        _ => Record::other(self.id, id, sent, now, Outcome::Status(status)),
                    };
                    unavailable |= status == 503;
                    self.records.push(record);
                    if closes {
                        self.end(id, sent, self.depth - i - 1, Outcome::Closed);
                        return (false, unavailable);
                    }
                }
                Err(miss) => {
                    let outcome = match miss {
                        Miss::Closed => Outcome::Closed,
                        Miss::NoAnswer => Outcome::NoAnswer,
                        Miss::Garbled => Outcome::Status(0),
                    };
                    self.end(id, sent, self.depth - i, outcome);
                    return (false, unavailable);
                }
            }
        }
        (true, unavailable)
    }

    /// Records `n` requests sent at `sent` that end now with `outcome`.
    fn end(&mut self, conn: u64, sent: Instant, n: usize, outcome: Outcome) {
        let now = Instant::now();
        for _ in 0..n {
            self.records.push(Record::other(self.id, conn, sent, now, outcome));
        }
    }
}

/// One response: (status, the counter of a 200's JSON body, the server said `Connection: close`).
fn read_response(r: &mut BufReader<TcpStream>) -> Result<(u16, Option<u64>, bool), Miss> {
    let line = read_line(r)?;
    let status =
        line.strip_prefix("HTTP/1.1 ").and_then(|rest| rest.get(..3)?.parse::<u16>().ok()).ok_or(Miss::Garbled)?;
    let (mut length, mut closes) = (None, false);
    loop {
        let header = read_line(r)?;
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').ok_or(Miss::Garbled)?;
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.trim().parse::<usize>().map_err(|_| Miss::Garbled)?);
        } else if name.eq_ignore_ascii_case("connection") {
            closes = value.trim().eq_ignore_ascii_case("close");
        }
    }
    let mut body = vec![0; length.ok_or(Miss::Garbled)?];
    r.read_exact(&mut body).map_err(miss)?;
    let value = if status == 200 {
        let json: serde_json::Value = serde_json::from_slice(&body).map_err(|_| Miss::Garbled)?;
        Some(json["counter"].as_u64().ok_or(Miss::Garbled)?)
    } else {
        None
    };
    Ok((status, value, closes))
}

/// One CRLF-terminated line without its CRLF; EOF is a close.
fn read_line(r: &mut BufReader<TcpStream>) -> Result<String, Miss> {
    let mut line = String::new();
    match r.read_line(&mut line) {
        Ok(0) => Err(Miss::Closed),
        Ok(_) => line.strip_suffix("\r\n").map(str::to_string).ok_or(Miss::Closed),
        Err(e) => Err(miss(e)),
    }
}

fn miss(e: std::io::Error) -> Miss {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => Miss::NoAnswer,
        ErrorKind::InvalidData => Miss::Garbled,
        _ => Miss::Closed,
    }
}

//! What the durable tests share: a state file in a fresh directory, starting the binary on it, a load of
//! keep-alive clients recording every value they were handed, and a refused start's exit code and message.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{Server, BIN, PATIENCE};

/// A fresh directory under the target dir's tmp, removed on drop.
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(name: &str) -> Dir {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let dir = base.join(format!("durable-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create test dir");
        Dir(dir)
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `counter --workers 2 --state-file PATH` (two workers: requests race on both counters).
pub fn start(path: &Path) -> Server {
    Server::start_with(&["--workers", "2", "--state-file", path.to_str().expect("utf-8 path")], &[])
}

/// Runs the binary on `path` expecting it to refuse to start: returns its exit code and stderr.
pub fn refused(path: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(BIN)
        .args(["--bind", "127.0.0.1", "--port", "0", "--state-file", path.to_str().expect("utf-8 path")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn counter");
    let deadline = Instant::now() + PATIENCE;
    let code = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    let _ = child.stderr.take().expect("stderr").read_to_string(&mut stderr);
    (code, stderr)
}

/// The values one client saw, per counter (0 `/status`, 1 `/statusV2`), and the 503s it got.
#[derive(Default, Debug)]
pub struct Seen {
    pub values: [Vec<u64>; 2],
    pub unavailable: usize,
    answered: usize,
}

/// `clients` keep-alive connections sending pipelined GETs of both counters until `stop` is set or the server
/// goes away; each returns what it saw. Only complete responses count: a value cut off by a kill was never
/// handed out as far as any client knows.
pub fn load(addr: SocketAddr, clients: usize, stop: &Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<Seen>> {
    (0..clients)
        .map(|_| {
            let stop = Arc::clone(stop);
            std::thread::spawn(move || {
                let mut seen = Seen::default();
                let Ok(mut s) = std::net::TcpStream::connect(addr) else { return seen };
                let _ = s.set_read_timeout(Some(PATIENCE));
                let batch =
                    b"GET /status HTTP/1.1\r\nHost: t\r\n\r\nGET /statusV2 HTTP/1.1\r\nHost: t\r\n\r\n".repeat(8);
                let mut buf = Vec::with_capacity(1 << 16);
                while !stop.load(Ordering::Relaxed) {
                    if s.write_all(&batch).is_err() || !read_answers(&mut s, &mut buf, 16, &mut seen) {
                        break;
                    }
                }
                seen
            })
        })
        .collect()
}

/// Reads `n` responses; false when the connection ended first (what arrived complete is recorded).
fn read_answers(s: &mut std::net::TcpStream, buf: &mut Vec<u8>, n: usize, seen: &mut Seen) -> bool {
    let mut got = 0;
    let mut chunk = [0u8; 16 * 1024];
    loop {
        while let Some((len, status, value)) = parse_one(buf) {
            buf.drain(..len);
            // Responses come back in request order, and every batch alternates /status, /statusV2.
            let which = seen.answered % 2;
            seen.answered += 1;
            got += 1;
            match (status, value) {
                (200, Some(v)) => seen.values[which].push(v),
                (503, _) => seen.unavailable += 1,
                other => panic!("unexpected answer {other:?}"),
            }
        }
        if got >= n {
            return true;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
}

/// One complete response at the front of `b`: (bytes, status, counter value).
fn parse_one(b: &[u8]) -> Option<(usize, u16, Option<u64>)> {
    let head_end = b.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&b[..head_end]).expect("ASCII head");
    let status: u16 = head[9..12].parse().expect("status code");
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("Content-Length");
    let total = head_end + 4 + len;
    if b.len() < total {
        return None;
    }
    let body = std::str::from_utf8(&b[head_end + 4..total]).expect("UTF-8 body");
    let value = body.split("\"counter\":").nth(1).and_then(|r| r.split(',').next()).and_then(|v| v.parse().ok());
    Some((total, status, value))
}

/// Joins the load threads and merges what they saw.
pub fn collect(handles: Vec<std::thread::JoinHandle<Seen>>) -> Seen {
    let mut all = Seen::default();
    for h in handles {
        let seen = h.join().expect("load thread");
        for c in 0..2 {
            all.values[c].extend(&seen.values[c]);
        }
        all.unavailable += seen.unavailable;
    }
    all
}

/// GETs `path` once and returns its counter value.
pub fn value(server: &Server, path: &str) -> u64 {
    let r = crate::support::get(server, path);
    assert_eq!(r.status, 200, "{path}: {}", String::from_utf8_lossy(&r.body));
    r.json()["counter"].as_u64().expect("counter")
}

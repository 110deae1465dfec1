//! Start the real `counter` binary on a free port, talk raw HTTP/1.1 to it over
//! 127.0.0.1, and read responses framed by Content-Length. Waiting is always polling with a deadline.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_counter");

/// How long a read may wait before the test calls it a hang, and how long a start may take. Generous on
/// purpose: a loaded machine can stall a process for seconds, and a passing test never waits for it.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A running server process; killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub logs: Arc<Mutex<Vec<String>>>,
    /// The thread copying stderr into `logs`; it ends at EOF, once the process has exited.
    log_reader: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(&[], &[])
    }

    /// Starts `counter --bind 127.0.0.1 --port 0 ARGS` and waits for its "listening" line.
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.args(["--bind", "127.0.0.1", "--port", "0"]).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Server::start_command(cmd)
    }

    /// Starts `cmd`, which must end up exec'ing the binary with `--bind 127.0.0.1 --port 0` (e.g. through
    /// `unshare`), and waits for its "listening" line.
    pub fn start_command(mut cmd: Command) -> Server {
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn counter");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&logs);
        let log_reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let addr = line.split("addr=").nth(1).filter(|_| line.contains("msg=listening")).map(str::to_string);
                sink.lock().unwrap().push(line);
                if let Some(addr) = addr {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let Ok(addr) = rx.recv_timeout(PATIENCE) else {
            let _ = child.kill();
            let _ = child.wait();
            let _ = log_reader.join();
            let logs = logs.lock().unwrap().join("\n");
            panic!("server did not log its address:\n{logs}");
        };
        Server { child, addr: addr.parse().expect("address"), logs, log_reader: Some(log_reader) }
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        s.set_nodelay(true).unwrap();
        s
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Waits for the process to exit, up to `timeout`; returns its exit code. Once it returns Some, `logs`
    /// holds every line the process wrote: the copy has reached EOF.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                if let Some(reader) = self.log_reader.take() {
                    let _ = reader.join();
                }
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Worker threads, from the start-up log line.
    pub fn workers(&self) -> usize {
        let logs = self.log_text();
        logs.split("workers=").nth(1).and_then(|s| s.split(' ').next()?.trim().parse().ok()).unwrap_or(1)
    }

    /// Waits up to `timeout` until every worker logged its Redis link connected (since the process started).
    pub fn wait_redis_connected(&self, timeout: Duration) -> bool {
        let workers = self.workers();
        eventually(timeout, || self.log_text().matches("msg=\"redis connected\"").count() >= workers)
    }

    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Open file descriptors of the server process.
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map(|d| d.count()).unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("bad JSON {:?}: {e}", String::from_utf8_lossy(&self.body)))
    }

    pub fn closes(&self) -> bool {
        self.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Reads one response from a buffered reader; `head_request` means no body follows regardless of
/// Content-Length. Returns None on a clean EOF before any byte.
pub fn read_response<R: BufRead>(r: &mut R, head_request: bool) -> Option<Response> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    assert!(line.starts_with("HTTP/1.1 "), "bad status line {line:?}");
    assert!(line.ends_with("\r\n"), "status line without CRLF {line:?}");
    let status: u16 = line[9..12].parse().expect("status code");
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).expect("header line");
        assert!(h.ends_with("\r\n"), "header without CRLF {h:?}");
        if h == "\r\n" {
            break;
        }
        let (n, v) = h.trim_end().split_once(':').expect("header colon");
        headers.push((n.to_string(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().expect("content-length"))
        .expect("every response has Content-Length");
    let mut body = vec![0; if head_request { 0 } else { len }];
    r.read_exact(&mut body).expect("body");
    Some(Response { status, headers, body })
}

/// Sends `raw` on a new connection and reads `n` responses.
pub fn exchange(server: &Server, raw: &[u8], n: usize) -> Vec<Response> {
    let mut s = server.connect();
    s.write_all(raw).unwrap();
    let mut r = BufReader::new(s);
    (0..n).map(|_| read_response(&mut r, false).expect("response")).collect()
}

/// GET `path` on a fresh connection.
pub fn get(server: &Server, path: &str) -> Response {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
    exchange(server, raw.as_bytes(), 1).remove(0)
}

/// True when the peer closed the connection (EOF) within the read timeout (`PATIENCE` for `Server::connect`).
pub fn sees_eof<R: Read>(r: &mut R) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes. Give it 10 s or more: it returns as soon as
/// `cond` holds, so a generous deadline costs a quiet machine nothing.
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Parses `2023-12-11T04:45:08Z` to Unix seconds (days-from-civil), to compare lastChanged with the clock.
pub fn parse_rfc3339(s: &str) -> u64 {
    let n = |a: usize, b: usize| -> i64 { s[a..b].parse().unwrap() };
    assert_eq!(s.len(), 20, "{s}");
    assert!(s.ends_with('Z'));
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19)) as u64
}

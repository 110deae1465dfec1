//! Wall-clock steps: the counter processes and Redis run under libfaketime with only CLOCK_REALTIME faked
//! (`FAKETIME_DONT_FAKE_MONOTONIC=1`), their offset read from a file the scenario rewrites: an hour forward, an
//! hour back, at random moments, during load, during Redis round-trip timeouts (Redis stopped), and while a
//! half-sent request head and an idle connection wait for their (monotonic) timeouts.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::pod::Pod;
use crate::support::history::History;
use crate::support::load::{Load, LoadSpec};
use crate::support::redis::{scratch, Host, Redis};
use crate::{Ctx, Needs, Scenario, FAULT_WINDOW};

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        name: "wall-clock-steps-an-hour-both-ways",
        needs: Needs::Nothing,
        run: clock_steps,
        pending: None,
    }]
}

const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
/// The pods' header timeout: a half-sent head must be closed after this much monotonic time, whatever the
/// wall clock does.
const HEADER_TIMEOUT_SECS: u64 = 3;
const IDLE_TIMEOUT_SECS: u64 = 6;

/// The offset file and the environment that makes a process read it.
struct FakeClock {
    dir: PathBuf,
}

impl FakeClock {
    fn new() -> FakeClock {
        let clock = FakeClock { dir: scratch("faketime") };
        clock.set("+0");
        clock
    }

    fn file(&self) -> String {
        self.dir.join("offset").to_str().unwrap().to_string()
    }

    /// A libfaketime offset ("+3600", "-3600"); processes see it within a second (the cache duration).
    fn set(&self, offset: &str) {
        std::fs::write(self.file(), format!("{offset}\n")).unwrap();
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LD_PRELOAD", LIBFAKETIME.to_string()),
            ("FAKETIME_TIMESTAMP_FILE", self.file()),
            ("FAKETIME_CACHE_DURATION", "1".to_string()),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_string()),
        ]
    }
}

impl Drop for FakeClock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A connection that sent half a request head: must be closed no sooner than the header timeout allows (whole
/// seconds, so more than timeout - 1 s) and within it + 10 s.
fn half_head(addr: SocketAddr) -> std::thread::JoinHandle<Result<(), String>> {
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(HEADER_TIMEOUT_SECS + 10))).unwrap();
        let start = Instant::now();
        s.write_all(b"GET /status HTTP/1.1\r\nHost: a\r\n").map_err(|e| e.to_string())?;
        closed_between(&mut s, start, HEADER_TIMEOUT_SECS, "half-sent head")
    })
}

/// An idle keep-alive connection after one request: closed after the idle timeout, not before.
fn idle(addr: SocketAddr) -> std::thread::JoinHandle<Result<(), String>> {
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(IDLE_TIMEOUT_SECS + 10))).unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n").map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).map_err(|e| e.to_string())?;
        let start = Instant::now();
        closed_between(&mut s, start, IDLE_TIMEOUT_SECS, "idle connection")
    })
}

fn closed_between(s: &mut TcpStream, start: Instant, timeout: u64, what: &str) -> Result<(), String> {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(format!("{what}: not closed within {timeout} s + 10 s ({e})")),
        }
    }
    let took = start.elapsed();
    if took < Duration::from_secs(timeout - 1) {
        return Err(format!("{what}: closed after {took:?}, before its {timeout} s timeout"));
    }
    Ok(())
}

fn clock_steps(ctx: &mut Ctx) -> Result<History, String> {
    if !std::path::Path::new(LIBFAKETIME).exists() {
        return Err(format!("{LIBFAKETIME} is missing: install faketime (scripts/install-deps.sh)"));
    }
    let clock = FakeClock::new();
    let env = clock.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let redis = Redis::start(&["--appendonly", "yes"]);
    let url = redis.url();
    let header = HEADER_TIMEOUT_SECS.to_string();
    let idle_secs = IDLE_TIMEOUT_SECS.to_string();
    let args = [
        "--workers",
        "2",
        "--backend",
        "redis",
        "--redis-url",
        &url,
        "--header-timeout",
        &header,
        "--idle-timeout",
        &idle_secs,
    ];
    let pods: Vec<Pod> = (0..2).map(|_| Pod::start(Host::local(), &args, &env)).collect();
    let addrs: Vec<_> = pods.iter().map(Pod::addr).collect();
    let load = Load::start(&addrs, LoadSpec::default());
    if !load.wait_for_200s(500, Duration::from_secs(20)) {
        return Err("no load before the first step".into());
    }
    let offsets = ["+3600", "-3600", "+0", "-3600", "+3600"];
    let end = Instant::now() + FAULT_WINDOW;
    let mut step = 0;
    let mut watchers = Vec::new();
    while Instant::now() < end {
        watchers.push(half_head(addrs[step % 2]));
        watchers.push(idle(addrs[(step + 1) % 2]));
        ctx.sleep(300, 2500);
        clock.set(offsets[step % offsets.len()]);
        step += 1;
        if ctx.rng.range(0, 1) == 1 {
            // A round-trip timeout across the step: Redis stopped past the 1 s timeout.
            redis.signal(libc::SIGSTOP);
            ctx.sleep(1200, 2500);
            redis.signal(libc::SIGCONT);
        }
        ctx.healed();
        if !load.wait_for_200s(100, Duration::from_secs(10)) {
            return Err(format!("no 200s within 10 s of step {step}:\n{}", pods[0].log_text()));
        }
    }
    clock.set("+0");
    for w in watchers {
        w.join().map_err(|_| "a timeout watcher panicked".to_string())??;
    }
    println!("{step} wall-clock steps of an hour");
    Ok(load.finish())
}

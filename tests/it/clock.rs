//! Wall-clock steps (an NTP step, a VM resume) under libfaketime: only CLOCK_REALTIME is faked
//! (`FAKETIME_DONT_FAKE_MONOTONIC=1`), and the offset is read from a file the test rewrites mid-run
//! (`FAKETIME_TIMESTAMP_FILE`, `FAKETIME_NO_CACHE=1`). Deadlines follow the monotonic clock, so an hour's step
//! either way moves none of them: each timeout still fires after its strict lower bound (`timeout - 1 s`: the
//! worker counts deadlines in whole seconds) and within a generous upper one. `Date` follows the step;
//! `lastChanged` never goes back.
//!
//! Needs Debian's libfaketime (scripts/install-deps.sh); skipped by the Nix sandbox build (nix/package.nix).

use std::io::{BufReader, Write};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{eventually, get, parse_rfc3339, read_response, sees_eof, unix_now, Server, BIN};

const SLACK: Duration = Duration::from_secs(10);
const GRANULARITY: Duration = Duration::from_secs(1);
const HOUR: i64 = 3600;

/// A server whose wall clock the test can step.
struct Stepped {
    server: Server,
    offset_file: PathBuf,
}

impl Stepped {
    fn start(args: &[&str]) -> Stepped {
        let lib = ["x86_64-linux-gnu", "aarch64-linux-gnu"]
            .iter()
            .map(|arch| PathBuf::from(format!("/usr/lib/{arch}/faketime/libfaketimeMT.so.1")))
            .find(|p| p.exists())
            .expect("libfaketime (apt-get install faketime; scripts/install-deps.sh does)");
        let offset_file = std::env::temp_dir().join(format!("counter-faketime-{}-{}", std::process::id(), unique()));
        std::fs::write(&offset_file, "+0\n").unwrap();
        let mut cmd = Command::new(BIN);
        cmd.args(["--bind", "127.0.0.1", "--port", "0", "--workers", "1"]).args(args);
        cmd.env("LD_PRELOAD", lib)
            .env("FAKETIME_TIMESTAMP_FILE", &offset_file)
            .env("FAKETIME_NO_CACHE", "1")
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            .env_remove("FAKETIME");
        Stepped { server: Server::start_command(cmd), offset_file }
    }

    /// Steps the server's wall clock to `seconds` from the real one; it sees the step within a second.
    fn step(&self, seconds: i64) {
        std::fs::write(&self.offset_file, format!("{seconds:+}\n")).unwrap();
    }

    /// The server's `Date` as Unix seconds.
    fn date(&self) -> u64 {
        let r = get(&self.server, "/health");
        let date = r.header("date").expect("Date").to_string();
        httpdate(&date)
    }

    /// Waits until the server's `Date` shows the step (it takes the wall clock at second boundaries).
    fn wait_for_step(&self, seconds: i64) {
        let shows = || (self.date() as i64 - unix_now() as i64 - seconds).abs() <= 2;
        assert!(eventually(SLACK, shows), "Date never showed the {seconds:+} s step");
    }
}

impl Drop for Stepped {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.offset_file);
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// IMF-fixdate ("Sat, 05 Dec 2026 09:28:35 GMT") to Unix seconds, through the RFC 3339 parser.
fn httpdate(s: &str) -> u64 {
    let f: Vec<&str> = s.split([' ', ':']).collect();
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = months.iter().position(|m| *m == f[2]).expect("month") + 1;
    parse_rfc3339(&format!("{}-{month:02}-{}T{}:{}:{}Z", f[3], f[1], f[4], f[5], f[6]))
}

/// A silent connection, with the wall clock stepped `step` seconds right after it connected.
fn header_timeout_under_step(step: i64) {
    const TIMEOUT: Duration = Duration::from_secs(3);
    let s = Stepped::start(&["--header-timeout", "3", "--idle-timeout", "60"]);
    let start = Instant::now();
    let mut c = s.server.connect();
    // The one worker accepts in order: once a later connection is answered, this one has its deadline, and the
    // step comes after it.
    assert_eq!(get(&s.server, "/health").status, 200);
    s.step(step);
    assert!(sees_eof(&mut c), "still open after {:?}", start.elapsed());
    let lived = start.elapsed();
    assert!(lived > TIMEOUT - GRANULARITY, "step {step:+}: closed after {lived:?}, before the header timeout");
    assert!(lived < TIMEOUT + GRANULARITY + SLACK, "step {step:+}: closed after {lived:?}");
}

#[test]
fn faketime_header_timeout_holds_across_a_step_back() {
    header_timeout_under_step(-HOUR);
}

#[test]
fn faketime_header_timeout_holds_across_a_step_forward() {
    header_timeout_under_step(HOUR);
}

/// An idle keep-alive connection, with the wall clock stepped `step` seconds right after its response.
fn idle_timeout_under_step(step: i64) {
    const TIMEOUT: Duration = Duration::from_secs(3);
    let s = Stepped::start(&["--idle-timeout", "3"]);
    let mut r = BufReader::new(s.server.connect());
    let start = Instant::now();
    r.get_mut().write_all(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    s.step(step);
    assert!(sees_eof(&mut r), "still open after {:?}", start.elapsed());
    let waited = start.elapsed();
    assert!(waited > TIMEOUT - GRANULARITY, "step {step:+}: closed after {waited:?}, before the idle timeout");
    assert!(waited < TIMEOUT + GRANULARITY + SLACK, "step {step:+}: closed after {waited:?}");
}

#[test]
fn faketime_idle_timeout_holds_across_a_step_back() {
    idle_timeout_under_step(-HOUR);
}

#[test]
fn faketime_idle_timeout_holds_across_a_step_forward() {
    idle_timeout_under_step(HOUR);
}

/// The stop deadline (`SHUTDOWN_DEADLINE_SECS`): a connection with half a request holds the stop until the
/// deadline, which an hour's step either way neither skips nor stretches.
fn stop_deadline_under_step(step: i64) {
    let deadline = Duration::from_secs(counter::limits::SHUTDOWN_DEADLINE_SECS);
    let mut s = Stepped::start(&["--header-timeout", "60", "--idle-timeout", "60"]);
    let mut busy = s.server.connect();
    busy.write_all(b"GET /health HTTP/1.1\r\nHo").unwrap();
    assert_eq!(get(&s.server, "/health").status, 200, "the half request is in");
    let signalled = Instant::now();
    s.server.signal(libc::SIGTERM);
    assert!(eventually(SLACK, || s.server.log_text().contains("msg=stopping")), "{}", s.server.log_text());
    s.step(step);
    assert_eq!(s.server.wait_exit(deadline + GRANULARITY + SLACK), Some(0), "step {step:+}: no exit");
    let took = signalled.elapsed();
    assert!(took > deadline - GRANULARITY, "step {step:+}: exited after {took:?}, before the stop deadline");
    assert!(s.server.log_text().contains("shutdown deadline passed"), "{}", s.server.log_text());
}

#[test]
fn faketime_stop_deadline_holds_across_a_step_back() {
    stop_deadline_under_step(-HOUR);
}

#[test]
fn faketime_stop_deadline_holds_across_a_step_forward() {
    stop_deadline_under_step(HOUR);
}

/// `Date` follows the wall clock both ways; `lastChanged` (memory mode) stays at the latest second it showed
/// until the clock catches up, and moves on with a step forward.
#[test]
fn faketime_date_follows_the_step_and_last_changed_never_goes_back() {
    let s = Stepped::start(&[]);
    let last_changed = |path| parse_rfc3339(get(&s.server, path).json()["lastChanged"].as_str().unwrap());
    let before = (last_changed("/status"), last_changed("/statusV2"));
    s.step(-HOUR);
    s.wait_for_step(-HOUR);
    let back = (last_changed("/status"), last_changed("/statusV2"));
    assert!(back.0 >= before.0 && back.1 >= before.1, "lastChanged went back: {before:?} -> {back:?}");
    assert!(back.0 < before.0 + 60, "lastChanged follows no step back: {before:?} -> {back:?}");
    s.step(HOUR);
    s.wait_for_step(HOUR);
    let forward = (last_changed("/status"), last_changed("/statusV2"));
    let later = before.0 + HOUR as u64 - 2;
    assert!(forward.0 >= later && forward.1 >= later, "lastChanged after a step forward: {forward:?}");
}

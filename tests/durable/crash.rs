//! Crashes and clean stops under load: SIGKILL at random moments never makes a value come back, and a clean
//! stop continues exactly where it left off.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::history::{collect, load, start, value, Dir, Seen};
use crate::support::{eventually, PATIENCE};

/// A small xorshift generator: the kill moments vary from run to run, and the seed is printed to replay one.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

/// Starts the server on `path`, loads it until values flow, lets the load run `extra`, then SIGKILLs it (or,
/// with `clean`, stops the load and sends SIGTERM). Returns what the clients saw.
fn run_once(path: &std::path::Path, extra: Duration, clean: bool) -> Seen {
    let mut server = start(path);
    let stop = Arc::new(AtomicBool::new(false));
    let handles = load(server.addr, 4, &stop);
    // Watched on /metrics, which takes no value: the clients' values are all the values there are.
    let flowing = eventually(PATIENCE, || taken(&server, "/statusV2") > 0);
    assert!(flowing, "no values handed out");
    std::thread::sleep(extra); // the random moment of the kill is the point of the test, not pacing
    if clean {
        stop.store(true, Ordering::Relaxed);
        let seen = collect(handles);
        server.signal(libc::SIGTERM);
        assert_eq!(server.wait_exit(PATIENCE), Some(0), "{}", server.log_text());
        return seen;
    }
    server.signal(libc::SIGKILL);
    server.wait_exit(PATIENCE); // None either way: a process killed by a signal has no exit code
    stop.store(true, Ordering::Relaxed);
    collect(handles)
}

/// The value a counter has taken so far, from /metrics (`counter_value`), without taking one.
pub fn taken(server: &crate::support::Server, endpoint: &str) -> u64 {
    let page = crate::support::get(server, "/metrics");
    let text = String::from_utf8_lossy(&page.body).into_owned();
    let key = format!("counter_value{{endpoint=\"{endpoint}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(key.as_str())).and_then(|v| v.parse().ok()).expect("counter_value")
}

#[test]
fn sigkill_under_load_a_dozen_times_never_hands_out_a_value_twice() {
    let dir = Dir::new("sigkill");
    let path = dir.file("counter.state");
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    eprintln!("kill moments from seed {seed}");
    let mut rng = Rng(seed);
    let mut all: [Vec<u64>; 2] = Default::default();
    for run in 0..12 {
        let seen = run_once(&path, Duration::from_millis(rng.next(400)), false);
        for (c, (all, values)) in all.iter_mut().zip(&seen.values).enumerate() {
            let before = all.iter().copied().max().unwrap_or(0);
            if let Some(&lowest) = values.iter().min() {
                assert!(lowest > before, "run {run}, counter {c}: {lowest} handed out again (had {before})");
            }
            all.extend(values);
        }
    }
    for (c, values) in all.iter_mut().enumerate() {
        let n = values.len();
        values.sort_unstable();
        values.dedup();
        assert_eq!(values.len(), n, "counter {c}: a value was handed out twice");
        eprintln!("counter {c}: {n} values over 12 runs, none twice");
        assert!(n > 12, "counter {c}: too few values to mean anything ({n})");
    }
}

#[test]
fn a_clean_stop_continues_exactly_on_both_counters() {
    let dir = Dir::new("clean");
    let path = dir.file("counter.state");
    for _ in 0..2 {
        let seen = run_once(&path, Duration::from_millis(300), true);
        let server = start(&path);
        assert!(server.log_text().contains("after a clean stop"), "{}", server.log_text());
        // The clients stopped before SIGTERM and read every answer: the last value they saw is the last one
        // handed out, and the next comes right after it.
        for (c, path) in ["/status", "/statusV2"].iter().enumerate() {
            let max = seen.values[c].iter().copied().max().expect("values");
            assert_eq!(value(&server, path), max + 1, "{path}: {}", server.log_text());
        }
        drop(server);
    }
}

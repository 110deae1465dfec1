//! startup-time: time from exec to the first `200` from `GET /ready`, over several starts of one server.
//!
//! Each run: note the time, spawn the command, poll 127.0.0.1:PORT (connect + `GET /ready`) every
//! POLL_MICROS until a 200 arrives, note the time, close that connection, send SIGTERM and wait for the
//! exit. Prints one line per run, then `STARTUP runs=.. median_ms=.. min_ms=.. max_ms=.. bad_exits=..`.
//! A run that is not ready within READY_DEADLINE_SECS, or a server that exits early, aborts the whole
//! measurement (exit 1).
//!
//! usage: startup-time RUNS PORT -- COMMAND [ARGS...]

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use compare_tools::{arg, get, loopback};

/// Between two readiness probes. Short against a start-up of milliseconds; longer would blur the median.
const POLL_MICROS: u64 = 100;
/// A server not ready by then is broken, not slow.
const READY_DEADLINE_SECS: u64 = 5;
/// After SIGTERM the server must be gone by then, or it is killed and the run counts as a bad exit.
const EXIT_DEADLINE_SECS: u64 = 5;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(sep) = args.iter().position(|a| a == "--").filter(|&i| i == 3 && args.len() > 4) else {
        eprintln!("usage: startup-time RUNS PORT -- COMMAND [ARGS...]");
        std::process::exit(2);
    };
    let runs: usize = arg(&args, 1, 20);
    if runs == 0 {
        abort("RUNS must be at least 1");
    }
    let port: u16 = arg(&args, 2, 0);
    let cmd = &args[sep + 1..];

    let mut times_ms = Vec::with_capacity(runs);
    let mut bad_exits = 0;
    for run in 1..=runs {
        let t0 = Instant::now();
        let mut child = Command::new(&cmd[0])
            .args(&cmd[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| abort(&format!("cannot start {}: {e}", cmd[0])));
        let ready = wait_ready(&mut child, port, t0);
        let ms = ready.as_secs_f64() * 1e3;
        let clean = stop(&mut child);
        if !clean {
            bad_exits += 1;
        }
        println!("run {run}: ready after {ms:.3} ms, clean exit: {clean}");
        times_ms.push(ms);
    }
    times_ms.sort_by(f64::total_cmp);
    let median = if runs % 2 == 1 { times_ms[runs / 2] } else { (times_ms[runs / 2 - 1] + times_ms[runs / 2]) / 2.0 };
    println!(
        "STARTUP runs={runs} median_ms={median:.3} min_ms={:.3} max_ms={:.3} bad_exits={bad_exits}",
        times_ms[0],
        times_ms[runs - 1]
    );
}

/// Polls until `GET /ready` answers 200; returns the time since `t0`.
fn wait_ready(child: &mut Child, port: u16, t0: Instant) -> Duration {
    let deadline = t0 + Duration::from_secs(READY_DEADLINE_SECS);
    loop {
        if let Ok(mut s) = TcpStream::connect(loopback(port)) {
            if let Ok(200) = get(&mut s, "/ready") {
                return t0.elapsed();
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            abort(&format!("server exited during start-up: {status}"));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            abort("server not ready within READY_DEADLINE_SECS");
        }
        std::thread::sleep(Duration::from_micros(POLL_MICROS));
    }
}

/// SIGTERM, then wait for the exit. True when the server exited by itself with status 0.
fn stop(child: &mut Child) -> bool {
    // SAFETY: kill(2) on the pid of a child we spawned and have not yet reaped, so the pid is still ours.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(EXIT_DEADLINE_SECS);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

fn abort(msg: &str) -> ! {
    eprintln!("startup-time: {msg}");
    std::process::exit(1)
}

//! One counter process with `--state-file` (issue 23): SIGKILL at random moments and restart on the same port;
//! SIGSTOP / SIGCONT at random moments (the pauses are given to the checker: a stopped server's requests may
//! wait the pause plus 10 s).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::pod::Pod;
use crate::support::history::History;
use crate::support::load::{Load, LoadSpec};
use crate::support::redis::scratch;
use crate::{Ctx, Needs, Scenario, FAULT_WINDOW};

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario { name: "memory-state-file-sigkill-loop", needs: Needs::Nothing, run: sigkill_loop, pending: None },
        Scenario { name: "memory-state-file-sigstop", needs: Needs::Nothing, run: sigstop, pending: None },
    ]
}

/// The state file in a directory removed when the scenario ends.
struct StateDir(PathBuf);

impl StateDir {
    fn new() -> StateDir {
        StateDir(scratch("state"))
    }

    fn file(&self) -> String {
        self.0.join("counter.state").to_str().unwrap().to_string()
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sigkill_loop(ctx: &mut Ctx) -> Result<History, String> {
    let dir = StateDir::new();
    let file = dir.file();
    let mut pod = Pod::local(&["--workers", "2", "--state-file", &file]);
    let load = Load::start(&[pod.addr()], LoadSpec::default());
    if !load.wait_for_200s(500, Duration::from_secs(20)) {
        return Err(format!("no load before the first kill:\n{}", pod.log_text()));
    }
    let end = Instant::now() + FAULT_WINDOW;
    let mut kills = 0;
    while Instant::now() < end {
        ctx.sleep(200, 2500);
        pod.kill();
        kills += 1;
        ctx.sleep(0, 300);
        ctx.healed();
        pod.spawn();
        if !load.wait_for_200s(100, Duration::from_secs(10)) {
            return Err(format!("no 200s within 10 s of restart {kills}:\n{}", pod.log_text()));
        }
    }
    println!("{kills} SIGKILLs");
    Ok(load.finish())
}

fn sigstop(ctx: &mut Ctx) -> Result<History, String> {
    let dir = StateDir::new();
    let file = dir.file();
    let pod = Pod::local(&["--workers", "2", "--state-file", &file]);
    let load = Load::start(&[pod.addr()], LoadSpec::default());
    if !load.wait_for_200s(500, Duration::from_secs(20)) {
        return Err(format!("no load before the first stop:\n{}", pod.log_text()));
    }
    let end = Instant::now() + FAULT_WINDOW;
    let mut stops = 0;
    while Instant::now() < end {
        ctx.sleep(200, 2000);
        let how_long = ctx.rng.millis(100, 4000);
        let from = pod.pause(how_long);
        ctx.paused(from);
        stops += 1;
        if !load.wait_for_200s(100, Duration::from_secs(10)) {
            return Err(format!("no 200s within 10 s of SIGCONT {stops}:\n{}", pod.log_text()));
        }
    }
    println!("{stops} SIGSTOP/SIGCONT");
    Ok(load.finish())
}

//! The process and the OS: fd limit raised at start, workers sized and pinned from the affinity mask, and
//! accept(2) running out of fds does not spin the CPU.

use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use crate::support::{eventually, get, Server, BIN};

fn limits_line(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap().to_string();
    let f: Vec<&str> = line.split_whitespace().collect();
    (f[3].to_string(), f[4].to_string())
}

#[test]
fn soft_fd_limit_is_raised_to_the_hard_limit() {
    let server = Server::start();
    let (soft, hard) = limits_line(server.pid());
    assert_eq!(soft, hard);
}

#[test]
fn affinity_mask_sizes_and_pins_the_workers() {
    // Under `taskset -c 0` only CPU 0 is allowed: one worker, pinned (when the node has more than one CPU).
    let out = Command::new("taskset")
        .args(["-c", "0", BIN, "--bind", "127.0.0.1", "--port", "0", "--help"])
        .output()
        .expect("taskset (util-linux)");
    assert!(out.status.success());
    let mut child = Command::new("taskset")
        .args(["-c", "0", BIN, "--bind", "127.0.0.1", "--port", "0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut text = String::new();
    let ok = eventually(Duration::from_secs(10), || {
        let mut buf = [0u8; 4096];
        if let Ok(n) = std::io::Read::read(&mut stderr, &mut buf) {
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        text.contains("msg=listening")
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(ok, "{text}");
    assert!(text.contains("allowed=1"), "{text}");
    assert!(text.contains("workers=1"), "{text}");
    let node_cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if node_cores > 1 {
        assert!(text.contains("pinned=true"), "{text}");
    }
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn running_out_of_fds_does_not_spin_and_recovers() {
    let server = Server::start_with(&["--workers", "1"], &[]);
    let pid = server.pid();
    // Lower the server's fd limit so accept(2) hits EMFILE after a few connections.
    let (soft, hard) = limits_line(pid);
    let st = Command::new("prlimit").args([&format!("--pid={pid}"), &format!("--nofile=32:{hard}")]).status();
    assert!(st.expect("prlimit (util-linux)").success());
    let mut held = Vec::new();
    for _ in 0..60 {
        if let Ok(s) = TcpStream::connect(server.addr) {
            held.push(s);
        }
    }
    // Connections beyond the limit wait in the backlog; the worker must not busy-loop on EMFILE.
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(pid) - before;
    assert!(used < 50, "server burned {used} ticks in 2 s while out of fds");
    drop(held);
    let st =
        Command::new("prlimit").args([&format!("--pid={pid}"), &format!("--nofile={soft}:{hard}")]).status().unwrap();
    assert!(st.success());
    assert!(eventually(Duration::from_secs(10), || get(&server, "/health").status == 200));
}

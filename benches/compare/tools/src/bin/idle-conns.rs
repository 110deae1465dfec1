//! idle-conns: holds many idle keep-alive connections open to one loopback server, so the caller can read
//! the server's memory with them in place.
//!
//! Opens COUNT connections one after another, sends one `GET PATH` on each and reads its response (so the
//! server has accepted and served every one), prints `open COUNT` on stdout, then keeps them all open and
//! idle for at most HOLD_SECS (the caller normally kills it sooner) and exits.
//!
//! usage: idle-conns PORT [COUNT=10000] [PATH=/health] [HOLD_SECS=60]

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use compare_tools::{arg, get, loopback};

/// File descriptors kept free beyond the connections: stdio and whatever the runtime opens.
const SPARE_FDS: u64 = 64;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 {
        eprintln!("usage: idle-conns PORT [COUNT=10000] [PATH=/health] [HOLD_SECS=60]");
        std::process::exit(2);
    }
    let port: u16 = arg(&args, 1, 0);
    let count: usize = arg(&args, 2, 10_000);
    let path: String = arg(&args, 3, "/health".to_string());
    let hold_secs: u64 = arg(&args, 4, 60);

    let limit = raise_fd_limit();
    if limit < count as u64 + SPARE_FDS {
        eprintln!("idle-conns: open-files limit {limit} is too low for {count} connections");
        std::process::exit(1);
    }
    let mut conns = Vec::with_capacity(count);
    for i in 0..count {
        let mut s = match TcpStream::connect(loopback(port)) {
            Ok(s) => s,
            Err(e) => fail(i, "connect", e),
        };
        match get(&mut s, &path) {
            Ok(_) => conns.push(s),
            Err(e) => fail(i, "request", e),
        }
    }
    println!("open {}", conns.len());
    let _ = std::io::stdout().flush();
    std::thread::sleep(Duration::from_secs(hold_secs));
}

fn fail(i: usize, what: &str, e: std::io::Error) -> ! {
    eprintln!("idle-conns: {what} failed on connection {i}: {e}");
    std::process::exit(1)
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit in force afterwards.
fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the rlimit struct we own; results are checked.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        let soft = lim.rlim_cur;
        lim.rlim_cur = lim.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            return soft;
        }
    }
    lim.rlim_cur
}

//! The `counter` binary: configuration, startup log, the server, and the signal-driven shutdown. The only
//! place that turns errors into exit codes.

use counter::sync::Arc;
use std::process::ExitCode;
use std::time::Duration;

use counter::app::App;
use counter::config::{self, Command};
use counter::cpu::Cpus;
use counter::lifecycle::Phase;
use counter::limits::SHUTDOWN_DEADLINE_SECS;
use counter::log;
use counter::metrics::{Info, Metrics};
use counter::redis;
use counter::server::{signals, Server};

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return healthcheck(std::env::args().nth(2).as_deref().unwrap_or("/ready"));
    }
    let config = match config::parse(std::env::args().skip(1), |k| std::env::var(k).ok()) {
        Ok(Command::Run(config)) => config,
        Ok(Command::Help) => {
            print!("{}", config::help());
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("counter {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("counter: {e}\n\n{}", config::help());
            return ExitCode::from(2);
        }
    };
    log::set_format(config.log_format);
    let start_time_secs = counter::server::clock::unix_now();
    let started = std::time::Instant::now();
    log::info("starting", &[("version", &env!("CARGO_PKG_VERSION")), ("pid", &std::process::id())]);

    match raise_fd_limit() {
        Ok(n) => log::info("file descriptor limit", &[("nofile", &n)]),
        Err(e) => log::warn("could not raise the file descriptor limit", &[("error", &e)]),
    }
    let cpus = Cpus::detect();
    let workers = config.workers.unwrap_or_else(|| cpus.workers());
    log::info("cores on the node", &[("cores", &cpus.node_cores), ("allowed", &cpus.allowed.len())]);
    log::info("cgroup cpu limit", &[("limit", &cpus.quota_label())]);

    // Before any thread starts, so every worker inherits the blocked mask.
    let termination = match signals::block_termination() {
        Ok(t) => t,
        Err(e) => {
            log::error("cannot block signals", &[("error", &e)]);
            return ExitCode::FAILURE;
        }
    };
    // rediss://: unreadable or malformed PEM files are a configuration error, said once at start, not a
    // reconnect loop. The link reads them again when it connects, so a later rotation is still picked up.
    if let Some(tls) = config.redis.as_ref().and_then(|r| r.tls.as_ref().map(|tls| (tls, &r.host))) {
        if let Err(e) = redis::tls::client_config(tls.0).and_then(|_| redis::tls::server_name(tls.1)) {
            log::error("invalid TLS configuration for Redis", &[("error", &e)]);
            return ExitCode::from(2);
        }
    }
    let redis_sentinels = config.redis.as_ref().map_or(0, |r| r.sentinels.len());
    let metrics = Metrics::new(workers, Info { start_time_secs, cpu_limit_cores: cpus.quota_cores, redis_sentinels });
    let app = Arc::new(App::with_metrics(metrics));
    let server = match Server::start(
        config.addr,
        workers,
        &cpus.pin_list(),
        config.timeouts,
        config.redis.clone(),
        Arc::clone(&app),
    ) {
        Ok(s) => s,
        Err(e) => {
            log::error("cannot listen", &[("addr", &config.addr), ("error", &e)]);
            return ExitCode::FAILURE;
        }
    };
    log::info("workers started", &[("workers", &workers), ("pinned", &!cpus.pin_list().is_empty())]);
    match &config.redis {
        None => log::info("backend", &[("backend", &"memory")]),
        Some(target) => log::info("backend", &[("backend", &"redis"), ("redis", target)]),
    }
    log::info("listening", &[("addr", &server.addr)]);

    // The signal path reacts first and reports second: each phase change happens before its log line, because
    // a write to stderr can block (a full pipe, a slow log collector) and /ready must turn 503 at once.
    let Some(signal) = termination.wait(None) else {
        return ExitCode::FAILURE;
    };
    let signalled = std::time::Instant::now();
    app.lifecycle.advance(Phase::Draining);
    log::info("drain begins", &[("signal", &signal), ("drain_seconds", &config.drain_seconds)]);
    if config.drain_seconds > 0 {
        // A second signal cuts the drain short. The wait is measured from the signal, not from the log line:
        // a blocked stderr write must not lengthen the drain.
        let drain = Duration::from_secs(config.drain_seconds);
        if let Some(again) = termination.wait(Some(drain.saturating_sub(signalled.elapsed()))) {
            log::info("drain cut short", &[("signal", &again)]);
        }
    }
    let open = app.metrics.totals().connections_open();
    app.lifecycle.advance(Phase::Stopping);
    server.wake_all();
    log::info("stopping", &[("open_connections", &open), ("deadline_seconds", &SHUTDOWN_DEADLINE_SECS)]);
    server.join();
    let totals = app.metrics.totals();
    let uptime = started.elapsed().as_secs();
    log::info("stopped", &[("requests", &totals.requests()), ("uptime_seconds", &uptime)]);
    ExitCode::SUCCESS
}

/// `counter healthcheck [PATH]`: GET PATH (default /ready) from the server on 127.0.0.1:$PORT; exit 0 on 200.
/// For container healthchecks in an image that has no shell or curl.
fn healthcheck(path: &str) -> ExitCode {
    use std::io::{Read, Write};
    let port = std::env::var("PORT").ok().and_then(|p| p.parse::<u16>().ok()).unwrap_or(8080);
    let timeout = Duration::from_secs(2);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let ok = std::net::TcpStream::connect_timeout(&addr, timeout).and_then(|mut s| {
        s.set_read_timeout(Some(timeout))?;
        write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head)?;
        Ok(&head[9..12] == b"200")
    });
    if matches!(ok, Ok(true)) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Raises the soft limit on open files to the hard limit: each connection is one fd.
fn raise_fd_limit() -> std::io::Result<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit read and write the rlimit struct we own; return values are checked.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        lim.rlim_cur = lim.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(lim.rlim_cur)
}

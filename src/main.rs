//! The `counter` binary: configuration, startup log, the server, and the signal-driven shutdown. The only
//! place that turns errors into exit codes.

use counter::sync::Arc;
use std::process::ExitCode;
use std::time::Duration;

use counter::app::App;
use counter::config::{self, Command, Config};
use counter::counter::{AtomicCounter, MutexCounter};
use counter::cpu::Cpus;
use counter::lifecycle::Phase;
use counter::limits::SHUTDOWN_DEADLINE_SECS;
use counter::log;
use counter::metrics::{Info, Metrics};
use counter::redis;
use counter::server::signals::Termination;
use counter::server::{signals, Server};
use counter::state::{self, Resume, Shared, State, Stop};

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
    let (app, mut state) = match open_state(&config, metrics) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    // The reserving thread borrows the counters for as long as the server runs, and hands the state back for
    // the clean stop once every worker is done.
    let stop = Stop::new();
    let code = std::thread::scope(|scope| {
        let reserver = state.take().map(|mut state| {
            let (app, stop) = (&app, &stop);
            scope.spawn(move || {
                state.run(shared(app), stop);
                state
            })
        });
        let code = serve(&config, &cpus, workers, &app, &termination, started);
        stop.request();
        match reserver.map(|r| r.join()) {
            Some(Ok(state)) => close_state(state, &app, code),
            Some(Err(_)) => ExitCode::FAILURE, // the reserving thread panicked: the file still bounds every value
            None => code,
        }
    });
    code
}

fn shared(app: &App) -> Shared<'_> {
    Shared { status: &app.status, status_v2: &app.status_v2, lifecycle: &app.lifecycle, stats: &app.metrics.state }
}

/// Without `--state-file`: the counters in memory, said in the log. With it: the file opened, locked and read,
/// the first reservation synced, and where each counter resumes logged. Any problem with the file exits 2.
fn open_state(config: &Config, metrics: Metrics) -> Result<(Arc<App>, Option<State>), ExitCode> {
    let Some(path) = &config.state_file else {
        if config.redis.is_none() {
            log::info("counters in memory only: a restart starts again at 0 (set --state-file to keep them)", &[]);
        }
        return Ok((Arc::new(App::with_metrics(metrics)), None));
    };
    let file = path.display();
    let (mut state, resume) = state::open(path).map_err(|problem| {
        log::error("state file unusable", &[("file", &file), ("problem", &problem)]);
        ExitCode::from(2)
    })?;
    let [status, status_v2] = resume.counters;
    let app = Arc::new(App::durable(
        metrics,
        AtomicCounter::resume(status.ceiling, status.last_changed),
        MutexCounter::resume(status_v2.ceiling, status_v2.last_changed),
    ));
    if let Err(e) = state.start(shared(&app)) {
        log::error("state file unusable", &[("file", &file), ("problem", &format!("cannot be written: {e}"))]);
        return Err(ExitCode::from(2));
    }
    log_resume(&file, &resume, &app);
    Ok((app, Some(state)))
}

fn log_resume(file: &dyn std::fmt::Display, resume: &Resume, app: &App) {
    if let Some((slot, why)) = resume.damaged.filter(|_| !resume.created) {
        let why = why.to_string();
        log::warn(
            "state file slot unusable, resuming from the other",
            &[("file", file), ("slot", &slot), ("why", &why)],
        );
    }
    let how = if resume.created {
        "new file: counting from 0"
    } else if resume.clean {
        "after a clean stop: no value skipped"
    } else {
        "after a crash: values up to the reserved ceiling are skipped, none repeated"
    };
    log::info("state file", &[("file", file), ("resume", &how)]);
    for (c, endpoint) in ["/status", "/statusV2"].iter().enumerate() {
        let next = resume.counters[c].ceiling + 1;
        let ceiling = if c == 0 { app.status.ceiling() } else { app.status_v2.ceiling() };
        let fields: [(&str, &dyn std::fmt::Display); 4] =
            [("endpoint", endpoint), ("next", &next), ("gap_max", &resume.gap_max(c)), ("ceiling", &ceiling)];
        log::info("counter resumes", &fields);
    }
}

/// The clean stop's last step: the exact values recorded, so a restart continues with no gap. A failure here
/// loses nothing (the file still bounds every value handed out): it is logged and the exit code says so.
fn close_state(state: State, app: &App, code: ExitCode) -> ExitCode {
    match state.close(shared(app)) {
        Ok([status, status_v2]) => {
            log::info("state file recorded the exact values", &[("status", &status), ("status_v2", &status_v2)]);
            code
        }
        Err(e) => {
            log::error("state file: the exact values could not be recorded; a restart skips ahead", &[("error", &e)]);
            ExitCode::FAILURE
        }
    }
}

/// Starts the workers, waits for a signal, drains and stops them.
fn serve(
    config: &Config,
    cpus: &Cpus,
    workers: usize,
    app: &Arc<App>,
    termination: &Termination,
    started: std::time::Instant,
) -> ExitCode {
    let server = match Server::start(
        config.addr,
        workers,
        &cpus.pin_list(),
        config.timeouts,
        config.redis.clone(),
        Arc::clone(app),
    ) {
        Ok(s) => s,
        Err(e) => {
            log::error("cannot listen", &[("addr", &config.addr), ("error", &e)]);
            return ExitCode::FAILURE;
        }
    };
    log::info("workers started", &[("workers", &workers), ("pinned", &!cpus.pin_list().is_empty())]);
    match &config.redis {
        None if config.state_file.is_some() => log::info("backend", &[("backend", &"memory+state-file")]),
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

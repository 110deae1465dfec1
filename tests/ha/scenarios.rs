//! The failure scenarios of issue 14, each against a fresh cluster. Every assertion is about what clients saw,
//! checked over the whole history: only 200s and 503s, no value twice across every process, real-time order.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::serial;
use crate::support::history::{History, Report};
use crate::support::load::{self, LoadSpec};
use crate::support::redis::{info_field, Ha, Redis, DOWN_AFTER_MILLIS};
use crate::support::{eventually, get, Server};

/// A failover: down-after, the election (a few hundred ms, or a retry after a split vote) and the
/// reconfiguration. Generous: this is a deadline, not the figure (which is printed). On a machine so loaded
/// that a Sentinel's timer stalls for 2 s, the Sentinel enters TILT mode for 30 s and takes no action.
const FAILOVER_DEADLINE: Duration = Duration::from_secs(90);

/// What a client does after a 503 with `Retry-After`: wait a little instead of spinning, so that thousands of
/// instant 503s a second do not starve the Sentinels (and the counters) of the CPU the failover needs. Load
/// shaping, not a wait for an assertion.
const BACKOFF_AFTER_503: Duration = Duration::from_millis(20);

/// A counter process in Sentinel mode, every worker's link ready.
fn pod(cluster: &Ha, extra: &[&str], env: &[(&str, &str)]) -> Server {
    let sentinels = cluster.sentinel_list();
    let mut args = vec!["--backend", "redis", "--redis-sentinels", &sentinels, "--redis-master-name", "counter"];
    args.extend_from_slice(extra);
    let server = Server::start_with(&args, env);
    wait_connected(&server);
    server
}

fn wait_connected(server: &Server) {
    assert!(server.wait_redis_connected(Duration::from_secs(20)), "pod never ready:\n{}", server.log_text());
}

/// The sum of every sample of a metric whose line starts with `series` (name, optionally with labels).
fn metric(server: &Server, series: &str) -> u64 {
    let body = get(server, "/metrics").body;
    String::from_utf8_lossy(&body)
        .lines()
        .filter(|l| l.starts_with(series) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Keep-alive clients (tests/support/load.rs: some pipelining, reconnecting after a close, backing off after a
/// 503) sending GET /status to `addrs`, with this file's deadline.
struct Load(load::Load);

impl Load {
    fn start(addrs: &[SocketAddr], clients: usize) -> Load {
        let spec =
            LoadSpec { clients, pipeline: 4, pace: Duration::ZERO, backoff: BACKOFF_AFTER_503, ..LoadSpec::default() };
        Load(load::Load::start(addrs, spec))
    }

    /// Waits until clients saw `n` more 200s than now.
    fn wait_for_200s(&self, n: u64) -> bool {
        self.0.wait_for_200s(n, FAILOVER_DEADLINE)
    }

    fn finish(self) -> History {
        self.0.finish()
    }
}

/// The whole history checked (tests/support/history.rs): no value twice across all processes, real-time order,
/// each connection's values rising, every request answered or closed within 10 s, only 200s and 503s.
fn assert_no_value_twice(history: &History) -> Report {
    let report = history.check();
    report.assert_clean();
    assert_eq!(report.closed, 0, "the counter processes stay up: no connection closes\n{report}");
    report
}

#[test]
fn redis_ha_primary_sigkill_under_load_is_followed_and_no_value_is_handed_out_twice() {
    let _turn = serial();
    let mut cluster = Ha::start(2, 3, None);
    let pods: Vec<Server> = (0..3).map(|_| pod(&cluster, &["--workers", "2"], &[])).collect();
    assert!(pods[0].log_text().contains("wait=1"), "N = 1 by default with Sentinels");
    let addrs: Vec<SocketAddr> = pods.iter().map(|p| p.addr).collect();
    let load = Load::start(&addrs, 9);
    assert!(load.wait_for_200s(300), "no load before the kill");

    let killed = Instant::now();
    cluster.nodes[0].kill();
    let promoted = || cluster.agreed_primary().filter(|&i| i != 0);
    assert!(eventually(FAILOVER_DEADLINE, || promoted().is_some()), "no failover\n{}", cluster.logs());
    let elected = killed.elapsed();
    let serving = || pods.iter().all(|p| get(p, "/status").status == 200);
    assert!(eventually(FAILOVER_DEADLINE, serving), "the new primary was not followed");
    let followed = killed.elapsed();
    println!("primary SIGKILL: Sentinels agreed on a new primary after {elected:?}, every pod served 200 after {followed:?} (down-after {DOWN_AFTER_MILLIS} ms)");
    assert!(load.wait_for_200s(300), "no load after the failover");
    let seen = load.finish();

    let report = assert_no_value_twice(&seen);
    let primary = &cluster.nodes[promoted().unwrap()];
    let highest = report.highest.unwrap();
    println!(
        "{} values handed out, {} 503s; highest {highest}, new primary at {}",
        report.values,
        report.unavailable,
        primary.counter()
    );
    assert!(primary.counter() >= highest, "the new primary holds every value handed out");
    let failovers = || pods.iter().map(|p| metric(p, "counter_redis_failovers_total")).sum::<u64>();
    assert!(
        eventually(FAILOVER_DEADLINE, || failovers() == 6),
        "every worker of every pod followed the failover once ({})",
        failovers()
    );
    let port = primary.port.to_string();
    for p in &pods {
        let series = format!("counter_redis_primary_info{{address=\"127.0.0.1:{port}\"}}");
        let both = eventually(Duration::from_secs(10), || metric(p, &series) == 2);
        assert!(both, "both workers on the new primary:\n{}", String::from_utf8_lossy(&get(p, "/metrics").body));
    }
    for p in &pods {
        let changes = p.log_text().matches("msg=\"redis primary changed\"").count();
        assert_eq!(changes, 2, "one log line per worker and state change:\n{}", p.log_text());
    }
}

#[test]
fn redis_ha_lagging_replicas_then_primary_sigkill_with_wait_hands_nothing_out_twice() {
    let _turn = serial();
    let mut cluster = Ha::start(2, 3, None);
    let pods: Vec<Server> =
        (0..2).map(|_| pod(&cluster, &["--workers", "2", "--redis-wait-replicas", "1"], &[])).collect();
    let addrs: Vec<SocketAddr> = pods.iter().map(|p| p.addr).collect();
    let load = Load::start(&addrs, 6);
    assert!(load.wait_for_200s(300), "no load before the lag");

    // Both replicas stop taking the replication stream (and a large value makes it longer): every increment
    // from now on is on the primary alone.
    for r in &cluster.nodes[1..] {
        r.signal(libc::SIGSTOP);
    }
    // 24 MB of writes: more than the loopback socket buffers hold, so the increments behind them stay in the
    // primary's own output buffer and die with it.
    let big = "x".repeat(100_000);
    let commands: String = (0..240).map(|i| format!("SET lag{i} {big}\n")).collect();
    cluster.nodes[0].pipe(&commands);
    let short = || pods.iter().map(|p| metric(p, "counter_redis_wait_shortfalls_total")).sum::<u64>() >= 2;
    assert!(eventually(Duration::from_secs(20), short), "WAIT never came back short");
    let before_kill = cluster.nodes[0].counter();

    cluster.nodes[0].kill();
    for r in &cluster.nodes[1..] {
        r.signal(libc::SIGCONT);
    }
    assert!(
        eventually(FAILOVER_DEADLINE, || cluster.agreed_primary().is_some_and(|i| i != 0)),
        "no failover\n{}",
        cluster.logs()
    );
    assert!(load.wait_for_200s(200), "not serving after the failover");
    let seen = load.finish();
    let report = assert_no_value_twice(&seen);
    let primary = &cluster.nodes[cluster.agreed_primary().unwrap()];
    println!(
        "lagging replicas: old primary reached {before_kill}, {} values handed out, {} 503s, new primary at {}",
        report.values,
        report.unavailable,
        primary.counter()
    );
    assert!(report.unavailable > 0, "unacknowledged batches answered 503");
}

#[test]
fn redis_ha_old_primary_restarted_is_demoted_and_never_used() {
    let _turn = serial();
    let mut cluster = Ha::start(2, 3, None);
    let server = pod(&cluster, &["--workers", "2"], &[]);
    let load = Load::start(&[server.addr], 4);
    assert!(load.wait_for_200s(200));
    cluster.nodes[0].kill();
    assert!(
        eventually(FAILOVER_DEADLINE, || cluster.agreed_primary().is_some_and(|i| i != 0)),
        "no failover\n{}",
        cluster.logs()
    );
    assert!(load.wait_for_200s(200), "not serving after the failover");

    // It comes back with its AOF and the shipped configuration, which starts it as a primary.
    cluster.nodes[0].spawn();
    let demoted = || cluster.nodes[0].role() == "slave";
    assert!(eventually(FAILOVER_DEADLINE, demoted), "the old primary was never demoted");
    assert!(load.wait_for_200s(200), "not serving after the old primary returned");
    let seen = load.finish();
    assert_no_value_twice(&seen);
    assert_eq!(cluster.nodes[0].script_calls(), 0, "no value was ever taken from the old primary");
    assert_ne!(cluster.agreed_primary(), Some(0));
}

#[test]
fn redis_ha_replicaof_on_the_primary_is_readonly_then_the_link_reconnects_and_continues() {
    let _turn = serial();
    // A plain URL, as a managed service's endpoint: the node behind it stops being the primary and becomes
    // one again, and the client only sees errors and closed connections.
    let a = Redis::shipped(None, &[]);
    let b = Redis::shipped(Some(&a), &[]);
    let synced = || info_field(&b.cli(&["INFO", "replication"]), "master_link_status").as_deref() == Some("up");
    assert!(eventually(Duration::from_secs(20), synced));
    let url = format!("redis://127.0.0.1:{}", a.port);
    // WAIT 1: what was handed out is on the replica, whatever the switch loses.
    let args = ["--backend", "redis", "--redis-url", &url, "--workers", "2", "--redis-wait-replicas", "1"];
    let server = Server::start_with(&args, &[]);
    wait_connected(&server);
    let load = Load::start(&[server.addr], 4);
    assert!(load.wait_for_200s(200));
    let before = load.finish();

    // The switch, as a managed failover does it: the replica caught up, then the roles swap.
    assert!(eventually(Duration::from_secs(20), || caught_up(&a, &b)), "the replica never caught up");
    assert_eq!(b.cli(&["REPLICAOF", "NO", "ONE"]).trim(), "OK");
    assert_eq!(a.cli(&["REPLICAOF", "127.0.0.1", &b.port.to_string()]).trim(), "OK");
    let load = Load::start(&[server.addr], 4);
    let readonly = || metric(&server, "counter_redis_errors_total{kind=\"readonly\"}") > 0;
    assert!(eventually(Duration::from_secs(20), readonly), "READONLY never seen:\n{}", server.log_text());
    assert!(server.log_text().contains("not the primary"), "{}", server.log_text());

    // The endpoint is the primary again (with the other node's data, which is everything).
    assert!(eventually(Duration::from_secs(20), || caught_up(&b, &a)), "the old primary never caught up");
    assert_eq!(a.cli(&["REPLICAOF", "NO", "ONE"]).trim(), "OK");
    assert_eq!(b.cli(&["REPLICAOF", "127.0.0.1", &a.port.to_string()]).trim(), "OK");
    assert!(load.wait_for_200s(200), "the link never continued:\n{}", server.log_text());
    let after = load.finish();
    let mut all = before;
    all.extend(after.records);
    let report = assert_no_value_twice(&all);
    assert!(report.unavailable > 0, "the READONLY batches answered 503");
}

/// The replica's replication offset reached the primary's (`WAIT` from a client that wrote nothing proves
/// nothing: it waits only for that client's own writes).
fn caught_up(primary: &Redis, replica: &Redis) -> bool {
    let offset = |n: &Redis, field| info_field(&n.cli(&["INFO", "replication"]), field);
    let target = offset(primary, "master_repl_offset");
    target.is_some() && offset(replica, "slave_repl_offset") == target
}

#[test]
fn redis_ha_all_sentinels_down_is_503_and_not_ready_until_one_returns() {
    let _turn = serial();
    let mut cluster = Ha::start(2, 3, None);
    let server = pod(&cluster, &["--workers", "2"], &[]);
    assert_eq!(get(&server, "/status").status, 200);
    for s in &mut cluster.sentinels {
        s.kill();
    }
    // The links keep working while the primary does; drop them so that every worker must ask again.
    cluster.nodes[0].cli(&["CLIENT", "KILL", "TYPE", "normal"]);
    // Every worker: a fresh connection may land on either.
    let down = || (0..8).all(|_| get(&server, "/ready").status == 503 && get(&server, "/status").status == 503);
    assert!(eventually(Duration::from_secs(10), down), "still ready");
    let logged = || server.log_text().contains("no sentinel named a primary");
    assert!(eventually(Duration::from_secs(10), logged), "{}", server.log_text());
    assert!(metric(&server, "counter_redis_sentinel_errors_total{sentinel=\"1\",kind=\"connect\"}") > 0);

    cluster.sentinels[1].spawn();
    let up = || (0..8).all(|_| get(&server, "/ready").status == 200 && get(&server, "/status").status == 200);
    assert!(eventually(Duration::from_secs(20), up), "never recovered:\n{}", server.log_text());
}

#[test]
fn redis_ha_sentinel_password_right_one_works_wrong_one_is_503_and_logged() {
    let _turn = serial();
    let cluster = Ha::start(2, 3, Some("s3ntinel"));
    let good = pod(&cluster, &["--workers", "1"], &[("REDIS_SENTINEL_PASSWORD", "s3ntinel")]);
    assert_eq!(get(&good, "/status").status, 200);
    let sentinels = cluster.sentinel_list();
    let bad = Server::start_with(
        &["--backend", "redis", "--redis-sentinels", &sentinels, "--workers", "1"],
        &[("REDIS_SENTINEL_PASSWORD", "wrong")],
    );
    let refused = || bad.log_text().contains("sentinel refused our credentials");
    assert!(eventually(Duration::from_secs(10), refused), "{}", bad.log_text());
    assert_eq!(get(&bad, "/status").status, 503);
    assert_eq!(get(&bad, "/ready").status, 503);
    assert!(metric(&bad, "counter_redis_sentinel_errors_total{sentinel=\"0\",kind=\"auth\"}") > 0);
    // Once per Sentinel and state change, not per attempt.
    std::thread::sleep(Duration::from_millis(1500));
    let lines = bad.log_text().matches("sentinel refused our credentials").count();
    assert_eq!(lines, 3, "one line per Sentinel:\n{}", bad.log_text());
}

#[test]
fn redis_ha_restart_empty_skips_ahead_and_resumes_above_every_value_without_the_tripwire() {
    let _turn = serial();
    // No AOF and no replica: a restart empties the counter, the way a failover to a replica that lacked the
    // increments, or a restore from an old file, would set it back. The first write through the new process
    // skips the gap, so the worker resumes above its mark at once and its tripwire (the last line of
    // defence) never fires.
    let mut node = Redis::shipped(None, &["--appendonly", "no", "--min-replicas-to-write", "0"]);
    let url = format!("redis://127.0.0.1:{}", node.port);
    let server = Server::start_with(&["--backend", "redis", "--redis-url", &url, "--workers", "1"], &[]);
    wait_connected(&server);
    let values: Vec<u64> = (0..50).map(|_| get(&server, "/status").json()["counter"].as_u64().unwrap()).collect();
    let before = *values.last().unwrap();
    node.kill();
    node.spawn();
    let mut next = None;
    let resumed = eventually(Duration::from_secs(20), || {
        let r = get(&server, "/status");
        next = r.json()["counter"].as_u64();
        r.status == 200
    });
    assert!(resumed, "never resumed:\n{}", server.log_text());
    assert!(next.unwrap() > before, "resumed above every value handed out, at {next:?}");
    assert_eq!(metric(&server, "counter_redis_tripwire_total"), 0, "{}", server.log_text());
    let skips = server.log_text().matches("counter skipped ahead").count();
    assert_eq!(skips, 2, "one skip per Redis process: {}", server.log_text());
}

#[test]
fn redis_ha_primary_and_acknowledging_replica_die_together_the_lagging_one_skips_ahead() {
    let _turn = serial();
    let mut cluster = Ha::start(2, 3, None);
    let gap = ["--workers", "2", "--redis-skip-gap", "1000000"];
    let pods: Vec<Server> = (0..3).map(|_| pod(&cluster, &gap, &[])).collect();
    assert!(pods[0].log_text().contains("wait=1"), "N = 1 by default with Sentinels");
    let addrs: Vec<SocketAddr> = pods.iter().map(|p| p.addr).collect();
    let spec = LoadSpec { clients: 6, pipeline: 4, backoff: BACKOFF_AFTER_503, ..LoadSpec::default() };
    let load = load::Load::start(&addrs, spec);
    assert!(load.wait_for_200s(300, FAILOVER_DEADLINE), "no load before the lag");

    // nodes[2] stops taking the stream (24 MB behind it so the increments stay in the primary's buffer);
    // nodes[1] acknowledges every batch, so WAIT 1 is met and values keep flowing.
    cluster.nodes[2].signal(libc::SIGSTOP);
    let big = "x".repeat(100_000);
    cluster.nodes[0].pipe(&(0..240).map(|i| format!("SET lag{i} {big}\n")).collect::<String>());
    assert!(load.wait_for_200s(1000, FAILOVER_DEADLINE), "WAIT 1 not met by the up-to-date replica");
    let acknowledged = cluster.nodes[1].counter();

    // The primary and the acknowledging replica die together; the lagging one is all that is left.
    cluster.nodes[0].kill();
    cluster.nodes[1].kill();
    cluster.nodes[2].signal(libc::SIGCONT);
    let killed = Instant::now();
    let promoted = || cluster.agreed_primary() == Some(2);
    assert!(eventually(FAILOVER_DEADLINE, promoted), "the lagging replica was not promoted\n{}", cluster.logs());
    let lagging = cluster.nodes[2].counter();
    // min-replicas-to-write 1: the new primary writes once a replica is back (the dead one, resynced from it).
    cluster.nodes[1].spawn();
    assert!(load.wait_for_200s(300, FAILOVER_DEADLINE), "not serving after the failover");
    let flowed = killed.elapsed();
    let history = load.finish();
    let report = history.check();
    let skips: usize = pods.iter().map(|p| p.log_text().matches("counter skipped ahead").count()).sum();
    let tripwires: u64 = pods.iter().map(|p| metric(p, "counter_redis_tripwire_total")).sum();
    println!(
        "primary + acknowledging replica killed: acknowledged {acknowledged}, the promoted replica had {lagging} \
         ({} behind); {} violations, 200s again {flowed:?} after the kill, skips {skips}, tripwires {tripwires}",
        acknowledged.saturating_sub(lagging),
        report.violation_count()
    );
    report.assert_clean();
    assert!(skips >= 2, "a skip on the first primary and one on the promoted replica");
}

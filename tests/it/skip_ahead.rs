//! Skip-ahead (issue 22) against real redis-server processes: Redis loses increments (a restart from an older
//! snapshot, a failover to a lagging replica, the key deleted) and the counter skips ahead once per Redis
//! process, or lifts past a worker's mark, so no value is handed out twice and values flow again at once.
//! Histories are checked by `support::history` (unique, real-time order, per-connection order, liveness).
//! Names start with `redis_` like the other Redis tests (skipped in the nix sandbox).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::redis::Redis;
use crate::support::history::{History, Outcome};
use crate::support::load::{Load, LoadSpec};
use crate::support::{eventually, get, Server};

/// The deadline for values to flow again once Redis is back (the figure itself is printed).
const FLOW_DEADLINE: Duration = Duration::from_secs(10);

/// A small gap, so that the arithmetic the tests check stays readable; the default's reasoning is in limits.rs.
const GAP: u64 = 1_000_000;

/// A redis-server on 127.0.0.1 that can be killed and started again on the same port and directory (so it
/// loads the `dump.rdb` left there), with no automatic snapshots and no AOF: the only file is the one the test
/// asks for (SAVE).
fn node() -> Redis {
    Redis::start(&["--appendonly", "no", "--repl-diskless-sync-delay", "0"])
}

/// A counter process with `workers` workers on `url`; waits until every link is connected when `ready`.
fn pod(url: &str, workers: usize, extra: &[&str], ready: bool) -> Server {
    let workers = workers.to_string();
    let gap = GAP.to_string();
    let mut args = vec!["--backend", "redis", "--redis-url", url, "--workers", &workers, "--redis-skip-gap", &gap];
    args.extend_from_slice(extra);
    let server = Server::start_with(&args, &[]);
    if ready {
        wait_connected(&server);
    }
    server
}

fn wait_connected(server: &Server) {
    let logs = server.log_text();
    let workers: usize = logs.split("workers=").nth(1).and_then(|s| s.split(' ').next()?.parse().ok()).unwrap();
    let connected = || server.log_text().matches("msg=\"redis connected\"").count() >= workers;
    assert!(eventually(Duration::from_secs(20), connected), "pod never ready:\n{}", server.log_text());
}

fn spec() -> LoadSpec {
    LoadSpec { clients: 6, pipeline: 4, ..LoadSpec::default() }
}

/// The history's first 200 sent after `at`: how long after `at` it was received.
fn first_value_after(history: &History, at: Instant) -> Option<Duration> {
    history
        .records
        .iter()
        .filter(|r| r.sent >= at && r.outcome == Outcome::Status(200))
        .map(|r| r.received.saturating_duration_since(at))
        .min()
}

/// Sorted distinct values of a history, and the largest difference between neighbours (the gaps seen).
fn values_and_widest_gap(history: &History) -> (usize, u64) {
    let mut values: Vec<u64> = history.records.iter().filter_map(|r| r.value).collect();
    values.sort_unstable();
    let widest = values.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    (values.len(), widest)
}

fn count(servers: &[&Server], needle: &str) -> usize {
    servers.iter().map(|s| s.log_text().matches(needle).count()).sum()
}

const SKIPPED: &str = "counter skipped ahead";
const LIFTED: &str = "counter lifted past it";
const TRIPWIRE: &str = "tripwire";

/// Restart from an older snapshot: SAVE under load, more load, SIGKILL, (optionally one pod restarted while
/// Redis is down), Redis started again from the dump. Returns the history and the time to the first value.
fn restart_from_older_snapshot(restart_a_pod: bool) {
    let mut redis = node();
    let url = redis.url();
    let mut pods: Vec<Server> = (0..3).map(|_| pod(&url, 2, &[], true)).collect();
    let addrs: Vec<SocketAddr> = pods.iter().map(|p| p.addr).collect();
    let load = Load::start(&addrs[..2], spec());
    // The third pod gets its own load, so that it can be restarted (its clients simply reconnect to nothing).
    let mut third = Load::start(&addrs[2..], LoadSpec { clients: 2, ..spec() });
    assert!(load.wait_for_200s(500, FLOW_DEADLINE), "no load before the snapshot");
    assert_eq!(redis.cli(&["SAVE"]).trim(), "OK");
    let at_snapshot = redis.counter();
    // Values handed out after the snapshot: what the restarted Redis has lost.
    assert!(load.wait_for_200s(2000, FLOW_DEADLINE * 3), "no load after the snapshot");
    let at_kill = redis.counter();
    redis.kill();
    let mut histories = vec![];
    if restart_a_pod {
        histories.push(third.finish());
        pods.pop();
        // The new process has no mark: only the skip keeps it from handing out the lost values again.
        pods.push(pod(&url, 2, &[], false));
        third = Load::start(&[pods[2].addr], LoadSpec { clients: 2, ..spec() });
    }
    redis.spawn();
    let back = Instant::now();
    assert!(load.wait_for_200s(1000, FLOW_DEADLINE), "values did not flow again within {FLOW_DEADLINE:?}");
    let mut history = load.finish();
    histories.push(third.finish());
    // Each load numbers its clients and connections from 0: keep them apart.
    for (i, h) in histories.into_iter().enumerate() {
        let offset = (i as u64 + 1) * 1_000_000;
        history.extend(h.records.into_iter().map(|mut r| {
            r.conn += offset;
            r.client += offset as usize;
            r
        }));
    }
    let report = history.check();
    let flowed = first_value_after(&history, back);
    let (values, widest) = values_and_widest_gap(&history);
    let servers: Vec<&Server> = pods.iter().collect();
    println!(
        "restart from a snapshot {} increments old (lost), pod restarted: {restart_a_pod}: {values} values, {} \
         violations, first value {flowed:?} after Redis was back, widest gap {widest}, skips {}, lifts {}, tripwires {}",
        at_kill - at_snapshot,
        report.violation_count(),
        count(&servers, SKIPPED),
        count(&servers, LIFTED),
        count(&servers, TRIPWIRE),
    );
    report.assert_clean();
    assert!(flowed.is_some_and(|d| d < FLOW_DEADLINE), "no value within {FLOW_DEADLINE:?} of Redis being back");
    assert_eq!(count(&servers, TRIPWIRE), 0, "the tripwire fired: the skip should have come first");
    assert!(count(&servers, SKIPPED) >= 1, "no skip logged");
}

#[test]
fn redis_skip_restart_from_an_older_snapshot_with_a_pod_restarted_while_down() {
    restart_from_older_snapshot(true);
}

#[test]
fn redis_skip_restart_from_an_older_snapshot_flows_again_without_the_tripwire() {
    restart_from_older_snapshot(false);
}

/// The skip is once per Redis process for the whole fleet: 3 pods x 2 workers, all writing through a new
/// process, advance the counter by exactly one gap plus the values served.
#[test]
fn redis_skip_once_per_process_for_three_pods_of_two_workers() {
    let mut redis = node();
    let url = redis.url();
    redis.cli(&["SET", "{counter}:n", "5000"]);
    let pods: Vec<Server> = (0..3).map(|_| pod(&url, 2, &[], true)).collect();
    let servers: Vec<&Server> = pods.iter().collect();
    for round in 0..2 {
        let before = redis.counter();
        let served = serve_on_every_worker(&pods);
        let after = redis.counter();
        println!("round {round}: counter {before} -> {after}, {served} values served");
        assert_eq!(after, before + GAP + served, "one gap for the whole fleet, not one per worker");
        assert_eq!(count(&servers, SKIPPED), round + 1, "one skip line per Redis process");
        // A new process: SHUTDOWN SAVE keeps every increment, so the next round's arithmetic is exact.
        let _ = redis.cli(&["SHUTDOWN", "SAVE"]);
        redis.kill();
        redis.spawn();
        // Every worker of every pod reconnected (one "redis connected" line per worker and connect).
        for p in &pods {
            let connected = || p.log_text().matches("msg=\"redis connected\"").count() >= 2 * (round + 2);
            assert!(eventually(FLOW_DEADLINE, connected), "{}", p.log_text());
        }
    }
}

/// Sends requests over many connections to every pod until each worker of each pod has served some (so every
/// link has written through the current process); all must be 200. Returns the values served.
fn serve_on_every_worker(pods: &[Server]) -> u64 {
    let mut served = 0;
    for p in pods {
        // SO_REUSEPORT spreads connections by hash: 32 connections reach both workers (each misses with 2^-32).
        for _ in 0..32 {
            let r = get(p, "/status");
            assert_eq!(r.status, 200, "{}", p.log_text());
            served += 1;
        }
    }
    served
}

/// The counter key deleted on the same process (no new run id, so no skip): the lift puts each worker's next
/// values above its mark at once; values keep flowing and nothing repeats.
#[test]
fn redis_skip_deleted_key_on_the_same_process_lifts_past_every_mark() {
    let redis = node();
    let url = redis.url();
    let pods: Vec<Server> = (0..3).map(|_| pod(&url, 2, &[], true)).collect();
    let addrs: Vec<SocketAddr> = pods.iter().map(|p| p.addr).collect();
    let load = Load::start(&addrs, spec());
    assert!(load.wait_for_200s(1000, FLOW_DEADLINE), "no load");
    assert_eq!(redis.cli(&["DEL", "{counter}:n"]).trim(), "1");
    let deleted = Instant::now();
    assert!(load.wait_for_200s(1000, FLOW_DEADLINE), "values did not flow again after the delete");
    let history = load.finish();
    let report = history.check();
    let servers: Vec<&Server> = pods.iter().collect();
    let (values, widest) = values_and_widest_gap(&history);
    println!(
        "key deleted: {values} values, {} violations, first value {:?} after, widest gap {widest}, lifts {}, \
         tripwires {}",
        report.violation_count(),
        first_value_after(&history, deleted),
        count(&servers, LIFTED),
        count(&servers, TRIPWIRE)
    );
    report.assert_clean();
    assert!(count(&servers, LIFTED) >= 1, "no lift logged");
}

/// `--redis-start-above`: a counter below the value is raised past it at the first call; one above it is
/// never moved back.
#[test]
fn redis_skip_start_above_raises_and_never_moves_back() {
    let redis = node();
    let url = redis.url();
    let high = pod(&url, 1, &["--redis-start-above", "7000000000"], true);
    let first = crate::redis::next_value(&high);
    assert!(first > 7_000_000_000, "{first}");
    let low = pod(&url, 1, &["--redis-start-above", "5"], true);
    let next = crate::redis::next_value(&low);
    assert!(next > first, "moved back: {next} after {first}");
    assert_eq!(next, first + 1, "a start value below the counter changes nothing");
}

/// Near `i64::MAX` (and past 2^53, where Lua's doubles are no longer exact): values stay exact and distinct
/// up to the last one, then every /status answers 503 while the link stays up and the rest of the service
/// keeps answering.
#[test]
fn redis_skip_near_i64_max_hands_out_exact_values_then_answers_503() {
    let redis = node();
    let url = redis.url();
    // Past 2^53: consecutive values, exactly (the old script rounded 2^53 + 1 down to 2^53).
    redis.cli(&["SET", "{counter}:n", &(9_007_199_254_740_990u64 - GAP).to_string()]);
    let server = pod(&url, 1, &[], true);
    let values: Vec<u64> = (0..6).map(|_| crate::redis::next_value(&server)).collect();
    assert_eq!(values, (9_007_199_254_740_991..9_007_199_254_740_997).collect::<Vec<_>>());

    let near = i64::MAX as u64 - 20;
    redis.cli(&["SET", "{counter}:n", &near.to_string()]);
    let mut seen = Vec::new();
    let mut refused = 0;
    let deadline = Instant::now() + FLOW_DEADLINE;
    while refused < 20 && Instant::now() < deadline {
        let r = get(&server, "/status");
        match r.status {
            200 => seen.push(r.json()["counter"].as_u64().unwrap()),
            503 => refused += 1,
            s => panic!("status {s}"),
        }
    }
    assert_eq!(seen, (near + 1..=i64::MAX as u64).collect::<Vec<_>>(), "every value up to i64::MAX, once");
    assert_eq!(refused, 20, "then 503s");
    assert_eq!(redis.counter(), i64::MAX as u64, "Redis' counter stays at the maximum");
    assert_eq!(get(&server, "/health").status, 200);
    let logs = server.log_text();
    assert!(logs.contains("counter exhausted"), "{logs}");
    assert!(!logs.contains("redis unavailable"), "the link stays up: {logs}");
}

/// The script the service ran before skip-ahead (main at 6ca7622), as an old pod still runs it during a
/// rolling update.
const OLD_SCRIPT: &str = "\
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
local now = tonumber(redis.call('TIME')[1])
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
if now > last then redis.call('SET', KEYS[2], now) else now = last end
return {n, now}
";

/// An old pod's script calls over one connection: each returns the batch's last value.
fn old_pod_calls(port: u16, calls: usize, k: usize) -> Vec<u64> {
    let mut stream = BufReader::new(TcpStream::connect(("127.0.0.1", port)).unwrap());
    let mut values = Vec::new();
    for _ in 0..calls {
        let k = k.to_string();
        let args = ["EVAL", OLD_SCRIPT, "2", "{counter}:n", "{counter}:ts", &k];
        let mut command = format!("*{}\r\n", args.len());
        for a in args {
            command.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        stream.get_mut().write_all(command.as_bytes()).unwrap();
        let mut line = String::new();
        let mut items = Vec::new();
        stream.read_line(&mut line).unwrap();
        assert!(line.starts_with("*2"), "{line}");
        for _ in 0..2 {
            line.clear();
            stream.read_line(&mut line).unwrap();
            items.push(line.trim_start_matches(':').trim().parse::<u64>().unwrap());
        }
        let last = items[0];
        values.extend(last + 1 - k.parse::<u64>().unwrap()..=last);
    }
    values
}

/// A rolling update: old pods (the old script, which knows nothing of `{counter}:run`) and new pods side by
/// side on one Redis. Every increment is one INCRBY on the same key, so nothing repeats; the new pods' skip
/// moves the old pods along too; the old pods never touch the run key.
#[test]
fn redis_skip_rolling_update_old_and_new_pods_side_by_side() {
    let redis = node();
    let url = redis.url();
    let before: Vec<u64> = old_pod_calls(redis.port, 50, 4);
    let new = pod(&url, 2, &[], true);
    let load = Load::start(&[new.addr], spec());
    let port = redis.port;
    let old = std::thread::spawn(move || old_pod_calls(port, 400, 4));
    let old_values = old.join().unwrap();
    assert!(load.wait_for_200s(200, FLOW_DEADLINE));
    let history = load.finish();
    history.check().assert_clean();
    let mut all: Vec<u64> = history.records.iter().filter_map(|r| r.value).collect();
    let new_count = all.len();
    all.extend(&before);
    all.extend(&old_values);
    let distinct: std::collections::BTreeSet<u64> = all.iter().copied().collect();
    assert_eq!(distinct.len(), all.len(), "a value handed out twice between old and new pods");
    let run = redis.cli(&["GET", "{counter}:run"]);
    println!(
        "rolling update: {} old-pod values, {new_count} new-pod values, run key {run:?}",
        before.len() + old_values.len()
    );
    assert!(run.trim().len() > 40, "the new pods stored the process identity: {run:?}");
    assert!(history.records.iter().filter_map(|r| r.value).all(|v| v > GAP), "the new pods skipped on first write");
}

/// N = 0 failover to a lagging replica behind a moving endpoint (the managed-service case, as in failover.rs):
/// the replica stops replicating, the old primary serves on, then dies; the name moves to the replica, which
/// lacks every increment since. Its first write skips ahead, so nothing repeats.
#[test]
fn redis_skip_failover_to_a_lagging_replica_behind_a_moving_endpoint() {
    use crate::failover::{pod_behind_name, port_free_on_both, Node as Loopback, NAME};
    let port = port_free_on_both();
    let mut old = Some(Loopback::start("127.0.0.1", port, &[]));
    let new = Loopback::start("::1", port, &["--replicaof", "127.0.0.1", &port.to_string()]);
    assert!(eventually(FLOW_DEADLINE, || new.info("master_link_status").as_deref() == Some("up")));
    let scratch = std::env::temp_dir().join(format!("counter-skip-hosts-{}-{port}", std::process::id()));
    std::fs::write(&scratch, format!("127.0.0.1 {NAME}\n")).unwrap();
    let server = pod_behind_name(scratch.to_str().unwrap(), port);
    assert!(eventually(FLOW_DEADLINE, || get(&server, "/ready").status == 200), "{}", server.log_text());
    let load = Load::start(&[server.addr], spec());
    assert!(load.wait_for_200s(500, FLOW_DEADLINE));
    let counter_on = |node: &Loopback| node.cli(&["GET", "{counter}:n"]).trim().parse::<u64>().unwrap_or(0);
    assert!(eventually(FLOW_DEADLINE, || counter_on(&new) > 0), "the replica never had the counter");
    // The replica falls behind: it stops taking the stream, and the old primary serves on without it.
    assert_eq!(new.cli(&["REPLICAOF", "NO", "ONE"]).trim(), "OK");
    let at_promotion = counter_on(&new);
    assert!(load.wait_for_200s(2000, FLOW_DEADLINE * 3));
    let at_kill = old.as_ref().map_or(0, counter_on);
    drop(old.take()); // SIGKILL
    std::fs::write(&scratch, format!("::1 {NAME}\n")).unwrap();
    let moved = Instant::now();
    assert!(load.wait_for_200s(500, FLOW_DEADLINE * 2), "never followed the name: {}", server.log_text());
    let history = load.finish();
    let report = history.check();
    let (values, widest) = values_and_widest_gap(&history);
    println!(
        "lagging replica (N = 0): {} increments behind, {values} values, {} violations, first value {:?} after the \
         name moved, widest gap {widest}, skips {}, tripwires {}",
        at_kill.saturating_sub(at_promotion),
        report.violation_count(),
        first_value_after(&history, moved),
        count(&[&server], SKIPPED),
        count(&[&server], TRIPWIRE)
    );
    report.assert_clean();
    assert!(count(&[&server], SKIPPED) >= 2, "a skip on the first process and one on the promoted replica");
    let _ = std::fs::remove_file(&scratch);
}

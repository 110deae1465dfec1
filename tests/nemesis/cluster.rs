//! Redis Cluster: the `{counter}` slot migrated back and forth under load (-ASK, then -MOVED), and the master
//! owning it killed when it has a replica to fail over to (`--redis-wait-replicas 1`: what was handed out is on
//! the replica).

use std::time::{Duration, Instant};

use crate::pod::Pod;
use crate::support::eventually;
use crate::support::history::History;
use crate::support::load::{Load, LoadSpec};
use crate::support::redis::RedisCluster;
use crate::{Ctx, Needs, Scenario, FAULT_WINDOW};

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "cluster-slot-migrated-under-load",
            needs: Needs::Nothing,
            run: slot_migration,
            pending: None,
        },
        Scenario {
            name: "cluster-master-killed-replica-takes-over",
            needs: Needs::Nothing,
            run: master_killed,
            pending: None,
        },
    ]
}

const DEADLINE: Duration = Duration::from_secs(30);

fn pods(url: &str, extra: &[&str]) -> (Vec<Pod>, Load) {
    let mut args = vec!["--workers", "2", "--backend", "redis", "--redis-url", url];
    args.extend_from_slice(extra);
    let pods: Vec<Pod> = (0..2).map(|_| Pod::local(&args)).collect();
    let addrs: Vec<_> = pods.iter().map(Pod::addr).collect();
    let load = Load::start(&addrs, LoadSpec::default());
    (pods, load)
}

fn serving(load: &Load, what: &str) -> Result<(), String> {
    if load.wait_for_200s(200, DEADLINE) {
        Ok(())
    } else {
        Err(format!("no 200s within {DEADLINE:?} {what}"))
    }
}

/// Moves the counter's slot from `from` to `to` as redis-cli --cluster reshard does, one step at a time, with
/// random pauses between the steps (the load meets -ASK between MIGRATE and the final SETSLOT).
fn migrate(cluster: &RedisCluster, from: usize, to: usize, ctx: &mut Ctx) -> Result<(), String> {
    let (source, target) = (&cluster.nodes[from], &cluster.nodes[to]);
    let (slot, source_id, target_id) = (cluster.slot(), source.id(), target.id());
    let ok = |reply: String, what: &str| if reply == "OK" { Ok(()) } else { Err(format!("{what}: {reply}")) };
    ok(target.cli(&["CLUSTER", "SETSLOT", &slot, "IMPORTING", &source_id]), "IMPORTING")?;
    ok(source.cli(&["CLUSTER", "SETSLOT", &slot, "MIGRATING", &target_id]), "MIGRATING")?;
    ctx.sleep(0, 500);
    let port = target.port.to_string();
    // Every key the slot holds (the counter, its second, the process identity: whatever the script keeps), as
    // redis-cli --cluster reshard moves them: asked for by slot, not named here.
    let listed = source.cli(&["CLUSTER", "GETKEYSINSLOT", &slot, "100"]);
    let keys: Vec<&str> = listed.lines().map(str::trim).filter(|k| !k.is_empty()).collect();
    if !keys.is_empty() {
        let mut migrate = vec!["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS"];
        migrate.extend(keys.iter().copied());
        let reply = source.cli(&migrate);
        if reply != "OK" && reply != "NOKEY" {
            return Err(format!("MIGRATE: {reply}"));
        }
    }
    ctx.sleep(0, 1000);
    for node in &cluster.nodes {
        ok(node.cli(&["CLUSTER", "SETSLOT", &slot, "NODE", &target_id]), "SETSLOT NODE")?;
    }
    Ok(())
}

fn slot_migration(ctx: &mut Ctx) -> Result<History, String> {
    let cluster = RedisCluster::start(3, 0, 5000);
    let mut owner = cluster.owner().ok_or("no owner")?;
    // Pointed at a node that does not own the slot: the first batch already meets -MOVED.
    let url = format!("redis://127.0.0.1:{}", cluster.nodes[(owner + 1) % 3].port);
    let (_pods, load) = pods(&url, &[]);
    serving(&load, "before the migration")?;
    let end = Instant::now() + FAULT_WINDOW;
    let mut moves = 0;
    while Instant::now() < end {
        ctx.sleep(500, 3000);
        let to = (owner + ctx.rng.range(1, 2) as usize) % 3;
        migrate(&cluster, owner, to, ctx)?;
        ctx.healed();
        owner = to;
        moves += 1;
        serving(&load, "after a migration")?;
    }
    println!("{moves} slot migrations");
    Ok(load.finish())
}

fn master_killed(ctx: &mut Ctx) -> Result<History, String> {
    let mut cluster = RedisCluster::start(3, 1, 2000);
    let owner = cluster.owner().ok_or("no owner")?;
    let entry = (0..cluster.nodes.len()).find(|&i| i != owner).unwrap();
    let url = format!("redis://127.0.0.1:{}", cluster.nodes[entry].port);
    let (_pods, load) = pods(&url, &["--redis-wait-replicas", "1"]);
    serving(&load, "before the kill")?;
    ctx.sleep(500, 4000);
    cluster.nodes[owner].kill();
    let mut promoted = None;
    let took_over = eventually(Duration::from_secs(60), || {
        promoted = cluster.owner().filter(|&i| i != owner);
        promoted.is_some()
    });
    if !took_over {
        return Err("no replica took over the slot".into());
    }
    // With WAIT 1 the promoted replica has no replica of its own: 503s (never a value Redis did not
    // replicate) until the old master returns and rejoins as its replica.
    ctx.sleep(0, 2000);
    cluster.nodes[owner].spawn();
    ctx.healed();
    let rejoined = || cluster.nodes[owner].cli(&["ROLE"]).starts_with("slave");
    if !eventually(Duration::from_secs(30), rejoined) {
        return Err("the old master never rejoined as a replica".into());
    }
    serving(&load, "after the old master returned")?;
    println!("node {owner} killed, node {promoted:?} took over");
    Ok(load.finish())
}

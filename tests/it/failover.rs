//! Endpoint failover as managed Redis services do it: one primary endpoint name whose address moves to the
//! promoted replica. The counter runs in a private mount namespace (`unshare -m`) whose /etc/hosts is a file the
//! test rewrites, so the test controls the name without touching the host's resolver. Both Redis servers are
//! loopback and share one port, 127.0.0.1 and ::1, because a name maps to an address, never a port.
//! Names start with `redis_` like the other Redis tests.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::redis::{assert_distinct, client, next_value};
use crate::support::{eventually, get, Server, BIN};

pub const NAME: &str = "redis-primary.counter.test";

/// A redis-server bound to one loopback address; killed on drop.
pub struct Node {
    child: Child,
    host: &'static str,
    port: u16,
    dir: PathBuf,
}

impl Node {
    pub fn start(host: &'static str, port: u16, extra: &[&str]) -> Node {
        let dir = std::env::temp_dir().join(format!("counter-failover-{}-{port}-{}", std::process::id(), host.len()));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new("redis-server")
            .args(["--bind", host, "--port", &port.to_string(), "--save", "", "--dir", dir.to_str().unwrap()])
            // A replica's first sync starts at once (the default waits 5 s for more replicas to share it).
            .args(["--repl-diskless-sync-delay", "0"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        let node = Node { child, host, port, dir };
        assert!(eventually(Duration::from_secs(10), || node.cli(&["PING"]).trim() == "PONG"), "redis on {host}");
        node
    }

    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli").args(["-h", self.host, "-p", &self.port.to_string()]).args(args).output();
        String::from_utf8_lossy(&out.expect("redis-cli").stdout).to_string()
    }

    pub fn info(&self, field: &str) -> Option<String> {
        let info = self.cli(&["INFO", "replication"]);
        let line = info.lines().find(|l| l.starts_with(&format!("{field}:")))?;
        Some(line.split_once(':')?.1.trim().to_string())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port free on both 127.0.0.1 and ::1.
pub fn port_free_on_both() -> u16 {
    loop {
        let v4 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = v4.local_addr().unwrap().port();
        if std::net::TcpListener::bind(SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], port))).is_ok() {
            return port;
        }
    }
}

/// The counter in its own mount namespace, with `hosts` bind-mounted over /etc/hosts.
pub fn pod_behind_name(hosts: &str, port: u16) -> Server {
    let url = format!("redis://{NAME}:{port}");
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", "mount --bind \"$0\" /etc/hosts && exec \"$@\""])
        .args([hosts, BIN, "--bind", "127.0.0.1", "--port", "0", "--workers", "2"])
        .args(["--backend", "redis", "--redis-url", &url]);
    Server::start_command(cmd)
}

#[test]
fn redis_failover_by_name_follows_the_promoted_replica_without_repeating_a_value() {
    let port = port_free_on_both();
    let old = Node::start("127.0.0.1", port, &[]);
    let new = Node::start("::1", port, &["--replicaof", "127.0.0.1", &port.to_string()]);
    assert!(eventually(Duration::from_secs(10), || new.info("master_link_status").as_deref() == Some("up")));
    let scratch = std::env::temp_dir().join(format!("counter-failover-hosts-{}-{port}", std::process::id()));
    std::fs::write(&scratch, format!("127.0.0.1 {NAME}\n")).unwrap();
    let hosts = scratch.to_str().unwrap().to_string();
    let server = pod_behind_name(&hosts, port);
    assert!(eventually(Duration::from_secs(10), || get(&server, "/ready").status == 200), "{}", server.log_text());

    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (addr, stop) = (server.addr, Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    seen.extend(client(addr, 20, 2));
                }
                seen
            })
        })
        .collect();
    assert!(eventually(Duration::from_secs(10), || old.cli(&["GET", "{counter}:n"]).trim().parse().unwrap_or(0) > 200));

    // The managed-service failover: writes paused on the old primary, the replica caught up and promoted, the
    // name moved, the old primary demoted (now it answers READONLY), writes resumed.
    assert_eq!(old.cli(&["CLIENT", "PAUSE", "10000", "WRITE"]).trim(), "OK");
    let caught_up =
        || old.info("master_repl_offset").is_some() && old.info("master_repl_offset") == new.info("slave_repl_offset");
    assert!(eventually(Duration::from_secs(10), caught_up), "replica never caught up");
    assert_eq!(new.cli(&["REPLICAOF", "NO", "ONE"]).trim(), "OK");
    let at_failover: u64 = new.cli(&["GET", "{counter}:n"]).trim().parse().unwrap();
    std::fs::write(&scratch, format!("::1 {NAME}\n")).unwrap();
    assert_eq!(old.cli(&["REPLICAOF", "::1", &port.to_string()]).trim(), "OK");
    let _ = old.cli(&["CLIENT", "UNPAUSE"]);

    // The workers notice (READONLY from the old primary, or a timeout while it was paused), drop the link,
    // resolve the name again and count on at the new primary.
    let start = Instant::now();
    let moved = || new.cli(&["GET", "{counter}:n"]).trim().parse::<u64>().unwrap_or(0) > at_failover + 100;
    assert!(eventually(Duration::from_secs(20), moved), "never followed the name: {}", server.log_text());
    println!("followed the name in {:?}", start.elapsed());
    let logs = server.log_text();
    assert!(logs.contains("fault=ReadOnly") || logs.contains("fault=Timeout"), "{logs}");
    println!("{}", logs.lines().filter(|l| l.contains("redis")).collect::<Vec<_>>().join("\n"));
    stop.store(true, Ordering::Relaxed);
    let results: Vec<(u16, Option<u64>)> = load.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert!(results.iter().all(|(s, _)| *s == 200 || *s == 503), "only 200s and 503s");
    let values: Vec<u64> = results.iter().filter_map(|(_, v)| *v).collect();
    let set: BTreeSet<u64> = assert_distinct(&values);
    assert!(set.iter().any(|&v| v > at_failover), "values from the new primary were served");
    assert!(next_value(&server) > *set.iter().max().unwrap());
    assert_eq!(old.info("role").as_deref(), Some("slave"), "the old primary stayed a replica");
    let _ = std::fs::remove_file(&scratch);
}

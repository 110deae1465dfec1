//! Real Redis processes for tests: one redis-server (`Redis`, plain or from the shipped deploy/redis/redis.conf),
//! Sentinels from deploy/redis/sentinel.conf, a Sentinel-watched primary with replicas (`Ha`) and a Redis
//! Cluster (`RedisCluster`). Every process runs on a `Host`: 127.0.0.1 on a free port, or an address inside a
//! network namespace a test made (`support::netns`). Waiting is always a deadline (`eventually`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::eventually;

/// The Sentinels' name for the primary.
pub const MASTER: &str = "counter";
/// Sentinel's down-after in the tests: a failover starts about this long after the primary dies.
pub const DOWN_AFTER_MILLIS: u64 = 1000;

/// The shipped files, compiled in: a copy of the tree that built the test binary (scripts/check-nix.sh builds
/// from one, in the same target directory) may be gone by the time it runs, so no path to it is kept.
pub const REDIS_CONF: &str = include_str!("../../deploy/redis/redis.conf");
pub const SENTINEL_CONF: &str = include_str!("../../deploy/redis/sentinel.conf");

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Where a process runs and is reached: an IP address, and the network namespace it exists in (None: this
/// process's own, with 127.0.0.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub ip: String,
    pub netns: Option<String>,
}

impl Host {
    pub fn local() -> Host {
        Host { ip: "127.0.0.1".to_string(), netns: None }
    }

    /// `program` to be run on this host (through `ip netns exec`, which execs it: the child's pid is the
    /// program's own, so signals reach it).
    pub fn command(&self, program: &str) -> Command {
        match &self.netns {
            None => Command::new(program),
            Some(ns) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", ns, program]);
                cmd
            }
        }
    }

    /// A port to listen on: a free one on 127.0.0.1; in a namespace of its own every port is free.
    fn port(&self, fixed: u16) -> u16 {
        if self.netns.is_some() {
            fixed
        } else {
            free_port()
        }
    }
}

/// A fresh scratch directory, removed by its owner's Drop.
pub fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("counter-{tag}-{}-{}", std::process::id(), free_port()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `redis-cli -h host -p port ARGS` on `host`; stdout, trimmed of nothing (multi-line replies stay).
pub fn cli_at(host: &Host, port: u16, password: Option<&str>, args: &[&str]) -> String {
    let mut cmd = host.command("redis-cli");
    cmd.args(["-h", &host.ip, "-p", &port.to_string()]);
    if let Some(pw) = password {
        cmd.args(["--no-auth-warning", "-a", pw]);
    }
    let out = cmd.args(args).stderr(Stdio::null()).output().expect("redis-cli is installed");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `field:value` from INFO-style text.
pub fn info_field(text: &str, field: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':').map(|v| v.trim().to_string()))
}

/// A child process killed (SIGKILL) and reaped on `kill` and on drop.
fn kill_child(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

fn signal_child(child: &Option<Child>, signal: i32) {
    if let Some(c) = child {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        unsafe { libc::kill(c.id() as i32, signal) };
    }
}

/// One redis-server; killed and its directory removed on drop.
pub struct Redis {
    child: Option<Child>,
    pub host: Host,
    pub port: u16,
    pub dir: PathBuf,
    args: Vec<String>,
    password: Option<String>,
}

impl Redis {
    /// No config file, no persistence (`--save ""`), `extra` appended: the plain server most tests want.
    pub fn start(extra: &[&str]) -> Redis {
        Redis::start_at(free_port(), extra)
    }

    /// The same on a port chosen by the caller (a server that must come up where a client already looks).
    pub fn start_at(port: u16, extra: &[&str]) -> Redis {
        let host = Host::local();
        let dir = scratch("redis");
        let mut args: Vec<String> =
            ["--bind", &host.ip, "--port", &port.to_string(), "--save", ""].iter().map(|s| s.to_string()).collect();
        args.extend(["--dir".to_string(), dir.to_str().unwrap().to_string()]);
        args.extend(extra.iter().map(|s| s.to_string()));
        Redis::launch(host, port, dir, args)
    }

    /// From the shipped deploy/redis/redis.conf (AOF everysec, min-replicas-to-write 1), its own writable copy
    /// (Sentinel's reconfiguration rewrites it), on 127.0.0.1.
    pub fn shipped(replica_of: Option<&Redis>, extra: &[&str]) -> Redis {
        Redis::shipped_on(Host::local(), replica_of.map(|r| (r.host.ip.as_str(), r.port)), extra)
    }

    /// The same on `host`, replicating `replica_of` (ip, port).
    pub fn shipped_on(host: Host, replica_of: Option<(&str, u16)>, extra: &[&str]) -> Redis {
        let port = host.port(6379);
        let dir = scratch("redis");
        let copy = dir.join("redis.conf");
        std::fs::write(&copy, REDIS_CONF).unwrap();
        let mut args: Vec<String> = vec![copy.to_str().unwrap().to_string()];
        for a in ["--port", &port.to_string(), "--bind", &host.ip, "--dir", dir.to_str().unwrap()] {
            args.push(a.to_string());
        }
        if let Some((ip, primary)) = replica_of {
            args.extend(["--replicaof".to_string(), ip.to_string(), primary.to_string()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        Redis::launch(host, port, dir, args)
    }

    fn launch(host: Host, port: u16, dir: PathBuf, args: Vec<String>) -> Redis {
        let password = args.iter().position(|a| a == "--requirepass").and_then(|i| args.get(i + 1)).cloned();
        let mut r = Redis { child: None, host, port, dir, args, password };
        r.spawn();
        r
    }

    /// Starts (or restarts) the process with the same arguments, directory and data files; waits for PONG.
    pub fn spawn(&mut self) {
        let child = self
            .host
            .command("redis-server")
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (make test / .ci/run install it)");
        self.child = Some(child);
        let port = self.port;
        assert!(eventually(Duration::from_secs(10), || self.cli(&["PING"]).trim() == "PONG"), "redis on {port}");
    }

    pub fn url(&self) -> String {
        format!("redis://{}:{}", self.host.ip, self.port)
    }

    pub fn addr(&self) -> String {
        format!("{}:{}", self.host.ip, self.port)
    }

    pub fn cli(&self, args: &[&str]) -> String {
        cli_at(&self.host, self.port, self.password.as_deref(), args)
    }

    /// Sends newline-separated commands through one redis-cli on its stdin.
    pub fn pipe(&self, commands: &str) {
        use std::io::Write;
        let mut child = self
            .host
            .command("redis-cli")
            .args(["-h", &self.host.ip, "-p", &self.port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-cli");
        child.stdin.take().unwrap().write_all(commands.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
    }

    pub fn info(&self, section: &str, field: &str) -> Option<String> {
        info_field(&self.cli(&["INFO", section]), field)
    }

    pub fn role(&self) -> String {
        self.cli(&["ROLE"]).lines().next().unwrap_or("").trim().to_string()
    }

    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn signal(&self, signal: i32) {
        signal_child(&self.child, signal);
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        kill_child(&mut self.child);
    }

    /// `signal` (SIGTERM: a clean shutdown that writes its files), then reap.
    pub fn stop_with(&mut self, signal: i32) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(c.id() as i32, signal) };
            let _ = c.wait();
        }
    }

    /// The counter's value in this node, 0 before the first increment.
    pub fn counter(&self) -> u64 {
        self.cli(&["GET", "{counter}:n"]).trim().parse().unwrap_or(0)
    }

    /// Script calls this process executed since it started (EVALSHA + EVAL).
    pub fn script_calls(&self) -> u64 {
        self.cli(&["INFO", "commandstats"])
            .lines()
            .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
            .filter_map(|l| l.split("calls=").nth(1)?.split(',').next()?.parse::<u64>().ok())
            .sum()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One Sentinel: deploy/redis/sentinel.conf copied into its own directory (Sentinel rewrites it) with the port,
/// the monitored primary, the directory and the timings substituted.
pub struct Sentinel {
    child: Option<Child>,
    pub host: Host,
    pub port: u16,
    dir: PathBuf,
    pub password: Option<String>,
}

impl Sentinel {
    pub fn start(primary: u16, password: Option<&str>) -> Sentinel {
        Sentinel::start_on(Host::local(), ("127.0.0.1", primary), password)
    }

    pub fn start_on(host: Host, primary: (&str, u16), password: Option<&str>) -> Sentinel {
        let port = host.port(26379);
        let dir = scratch("sentinel");
        let mut text = String::new();
        for line in SENTINEL_CONF.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let line = match words.as_slice() {
                ["port", _] => format!("port {port}\nbind {}", host.ip),
                ["dir", _] => format!("dir {}", dir.display()),
                ["sentinel", "monitor", name, _, _, quorum] => {
                    format!("sentinel monitor {name} {} {} {quorum}", primary.0, primary.1)
                }
                ["sentinel", "down-after-milliseconds", name, _] => {
                    format!("sentinel down-after-milliseconds {name} {DOWN_AFTER_MILLIS}")
                }
                // A failed election is retried after twice this: keep it to seconds, not minutes.
                ["sentinel", "failover-timeout", name, _] => format!("sentinel failover-timeout {name} 5000"),
                _ => line.to_string(),
            };
            text.push_str(&line);
            text.push('\n');
        }
        if let Some(pw) = password {
            text.push_str(&format!("requirepass {pw}\nsentinel sentinel-pass {pw}\n"));
        }
        std::fs::write(dir.join("sentinel.conf"), text).unwrap();
        let mut s = Sentinel { child: None, host, port, dir, password: password.map(str::to_string) };
        s.spawn();
        s
    }

    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("log")).unwrap();
        let child = self
            .host
            .command("redis-server")
            .arg(self.dir.join("sentinel.conf"))
            .arg("--sentinel")
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs as a Sentinel with --sentinel");
        self.child = Some(child);
        let port = self.port;
        assert!(eventually(Duration::from_secs(10), || self.cli(&["PING"]).trim() == "PONG"), "sentinel {port}");
    }

    pub fn cli(&self, args: &[&str]) -> String {
        cli_at(&self.host, self.port, self.password.as_deref(), args)
    }

    /// The (ip, port) of the primary this Sentinel names.
    pub fn primary(&self) -> Option<(String, u16)> {
        let text = self.cli(&["SENTINEL", "get-master-addr-by-name", MASTER]);
        let mut lines = text.lines();
        let ip = lines.next()?.trim().to_string();
        Some((ip, lines.next()?.trim().parse().ok()?))
    }

    /// The port of the primary this Sentinel names.
    pub fn primary_port(&self) -> Option<u16> {
        self.primary().map(|(_, port)| port)
    }

    /// A field of `SENTINEL master counter` (alternating name and value lines).
    pub fn master_field(&self, field: &str) -> Option<String> {
        let text = self.cli(&["SENTINEL", "master", MASTER]);
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        lines.chunks(2).find(|kv| kv.first() == Some(&field)).and_then(|kv| kv.get(1)).map(|v| v.to_string())
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn signal(&self, signal: i32) {
        signal_child(&self.child, signal);
    }

    pub fn kill(&mut self) {
        kill_child(&mut self.child);
    }

    pub fn addr(&self) -> String {
        format!("{}:{}", self.host.ip, self.port)
    }

    /// The Sentinel's own log: what it saw and decided (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A primary (`nodes[0]` at start), replicas and Sentinels from the shipped files, each Sentinel aware of every
/// replica and every other Sentinel before `start` returns, so a failover can be elected.
pub struct Ha {
    pub nodes: Vec<Redis>,
    pub sentinels: Vec<Sentinel>,
}

impl Ha {
    pub fn start(replicas: usize, sentinels: usize, sentinel_password: Option<&str>) -> Ha {
        let nodes = vec![Host::local(); replicas + 1];
        Ha::start_on(&nodes, &vec![Host::local(); sentinels], sentinel_password)
    }

    /// Data nodes on `nodes` (the first is the primary), Sentinels on `sentinels`.
    pub fn start_on(nodes: &[Host], sentinels: &[Host], sentinel_password: Option<&str>) -> Ha {
        let primary = Redis::shipped_on(nodes[0].clone(), None, &[]);
        let at = (primary.host.ip.clone(), primary.port);
        let mut all = vec![primary];
        for host in &nodes[1..] {
            all.push(Redis::shipped_on(host.clone(), Some((&at.0, at.1)), &[]));
        }
        let replicas = nodes.len() - 1;
        let synced = || {
            all[0].info("replication", "connected_slaves").and_then(|n| n.parse::<usize>().ok()) == Some(replicas)
                && all[1..].iter().all(|r| r.info("replication", "master_link_status").as_deref() == Some("up"))
        };
        assert!(eventually(Duration::from_secs(20), synced), "replicas never synced");
        let sentinels: Vec<Sentinel> =
            sentinels.iter().map(|h| Sentinel::start_on(h.clone(), (&at.0, at.1), sentinel_password)).collect();
        let n = sentinels.len();
        let aware = || {
            sentinels.iter().all(|s| {
                s.master_field("num-slaves").as_deref() == Some(&replicas.to_string())
                    && s.master_field("num-other-sentinels").as_deref() == Some(&(n - 1).to_string())
            })
        };
        // Sentinels find each other through hello messages every 2 s, and replicas through INFO every 10 s.
        assert!(eventually(Duration::from_secs(40), aware), "sentinels never saw each other and every replica");
        Ha { nodes: all, sentinels }
    }

    /// `--redis-sentinels` for these Sentinels.
    pub fn sentinel_list(&self) -> String {
        self.sentinels.iter().map(Sentinel::addr).collect::<Vec<_>>().join(",")
    }

    /// Every Sentinel's log, for a failure message.
    pub fn logs(&self) -> String {
        let addrs: Vec<String> = self.nodes.iter().map(Redis::addr).collect();
        let mut out = format!("data nodes {addrs:?}\n");
        for s in &self.sentinels {
            out.push_str(&format!("--- sentinel {}\n{}", s.addr(), s.log()));
        }
        out
    }

    /// The node every live Sentinel names as the primary, once they agree.
    pub fn agreed_primary(&self) -> Option<usize> {
        let mut named = self.sentinels.iter().filter(|s| s.is_running()).map(Sentinel::primary);
        let first = named.next()??;
        if named.all(|p| p.as_ref() == Some(&first)) {
            self.nodes.iter().position(|n| n.host.ip == first.0 && n.port == first.1)
        } else {
            None
        }
    }
}

/// A Redis Cluster node: a redis-server with `cluster-enabled yes`, restartable with its nodes.conf.
pub struct ClusterNode {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    args: Vec<String>,
    /// redis-cli's TLS arguments for a TLS cluster; empty for plain.
    tls: Vec<String>,
}

/// A TLS cluster's files: (server certificate, key, CA). Its nodes listen on TLS only and their bus is TLS too
/// (`tls-cluster yes`), so the redirects name their TLS ports.
pub type ClusterTls<'a> = Option<(&'a str, &'a str, &'a str)>;

impl ClusterNode {
    /// A node on free ports, answering PING. A free port can be taken between the probe and the server's bind,
    /// so a node that exits at start is tried again on new ports.
    fn start(dir: &Path, timeout_millis: u64, tls: ClusterTls, cli_tls: &[String]) -> ClusterNode {
        std::fs::create_dir_all(dir).unwrap();
        for _ in 0..3 {
            let (port, bus) = (free_port(), free_port());
            let port_text = port.to_string();
            let mut args: Vec<String> = match tls {
                Some((cert, key, ca)) => vec![
                    "--port",
                    "0",
                    "--tls-port",
                    &port_text,
                    "--tls-cluster",
                    "yes",
                    "--tls-cert-file",
                    cert,
                    "--tls-key-file",
                    key,
                    "--tls-ca-cert-file",
                    ca,
                    "--tls-auth-clients",
                    "no",
                ],
                None => vec!["--port", &port_text],
            }
            .into_iter()
            .map(str::to_string)
            .collect();
            let bus = bus.to_string();
            let timeout = timeout_millis.to_string();
            let rest = [
                "--bind",
                "127.0.0.1",
                "--cluster-port",
                &bus,
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                &timeout,
                "--appendonly",
                "yes",
                "--save",
                "",
                "--dir",
                dir.to_str().unwrap(),
            ];
            args.extend(rest.iter().map(|s| s.to_string()));
            let mut node = ClusterNode { child: None, port, dir: dir.to_path_buf(), args, tls: cli_tls.to_vec() };
            if node.try_spawn() {
                return node;
            }
            let _ = std::fs::remove_file(dir.join("nodes.conf"));
        }
        panic!("no cluster node could start in three tries");
    }

    fn try_spawn(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        self.child = Some(child);
        let mut exited = false;
        let up = eventually(Duration::from_secs(20), || {
            exited = matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(Some(_))));
            exited || self.cli(&["PING"]) == "PONG"
        });
        assert!(up, "cluster node on port {} never answered PING", self.port);
        !exited
    }

    /// Restarts the process with its nodes.conf and AOF.
    pub fn spawn(&mut self) {
        assert!(self.try_spawn(), "cluster node on {} did not restart", self.port);
    }

    pub fn cli(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]).args(&self.tls);
        let out = cmd.args(args).stderr(Stdio::null()).output().expect("redis-cli is installed");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn id(&self) -> String {
        self.cli(&["CLUSTER", "MYID"])
    }

    pub fn kill(&mut self) {
        kill_child(&mut self.child);
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn calls(&self, command: &str) -> u64 {
        let prefix = format!("cmdstat_{command}:");
        self.cli(&["INFO", "commandstats"])
            .lines()
            .find(|l| l.starts_with(&prefix))
            .and_then(|l| l.split("calls=").nth(1)?.split(',').next()?.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for ClusterNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `masters` masters with `replicas` replicas each, every slot assigned; killed and removed on drop.
pub struct RedisCluster {
    pub nodes: Vec<ClusterNode>,
    dir: PathBuf,
}

impl RedisCluster {
    /// `node_timeout_millis`: how long a master may be unreachable before its replica takes over.
    pub fn start(masters: usize, replicas: usize, node_timeout_millis: u64) -> RedisCluster {
        RedisCluster::start_with(masters, replicas, node_timeout_millis, None)
    }

    pub fn start_with(masters: usize, replicas: usize, node_timeout_millis: u64, tls: ClusterTls) -> RedisCluster {
        let dir = scratch("cluster");
        let cli_tls: Vec<String> = match tls {
            Some((_, _, ca)) => vec!["--tls".into(), "--cacert".into(), ca.into()],
            None => Vec::new(),
        };
        let count = masters * (1 + replicas);
        let nodes: Vec<ClusterNode> = (0..count)
            .map(|i| ClusterNode::start(&dir.join(i.to_string()), node_timeout_millis, tls, &cli_tls))
            .collect();
        let addrs: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .args(&cli_tls)
            .output()
            .expect("redis-cli --cluster create");
        assert!(out.status.success(), "cluster create: {}", String::from_utf8_lossy(&out.stdout));
        let cluster = RedisCluster { nodes, dir };
        let ok = || cluster.nodes.iter().all(|n| n.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok"));
        assert!(eventually(Duration::from_secs(30), ok), "cluster never became ok");
        if replicas > 0 {
            let linked = || {
                cluster.nodes.iter().filter(|n| n.cli(&["ROLE"]).starts_with("slave")).count() == masters * replicas
                    && cluster.nodes.iter().all(|n| !n.cli(&["INFO", "replication"]).contains("link_status:down"))
            };
            assert!(eventually(Duration::from_secs(30), linked), "cluster replicas never linked");
        }
        cluster
    }

    pub fn slot(&self) -> String {
        self.live().cli(&["CLUSTER", "KEYSLOT", "{counter}"])
    }

    fn live(&self) -> &ClusterNode {
        self.nodes.iter().find(|n| n.is_running()).expect("a live cluster node")
    }

    /// Index of the master that owns the counter's slot, as a live node sees it.
    pub fn owner(&self) -> Option<usize> {
        let slot: u16 = self.slot().parse().ok()?;
        let shards = self.live().cli(&["CLUSTER", "NODES"]);
        for line in shards.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            if !fields.get(2).is_some_and(|flags| flags.contains("master") && !flags.contains("fail")) {
                continue;
            }
            let owns = fields.iter().skip(8).any(|range| match range.split_once('-') {
                Some((a, b)) => a.parse::<u16>().is_ok_and(|a| a <= slot) && b.parse::<u16>().is_ok_and(|b| slot <= b),
                None => range.parse::<u16>() == Ok(slot),
            });
            if owns {
                let port: u16 = fields[1].split(['@', ':']).nth(1)?.parse().ok()?;
                return self.nodes.iter().position(|n| n.port == port);
            }
        }
        None
    }

    pub fn value_on(&self, node: usize) -> u64 {
        self.nodes[node].cli(&["GET", "{counter}:n"]).parse().unwrap_or(0)
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

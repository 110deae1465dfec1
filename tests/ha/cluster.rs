//! A primary, its replicas and Sentinels as child processes, from deploy/redis/*.conf with only ports, paths
//! and timings substituted. Waiting is always a deadline (`eventually`), never a sleep.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::eventually;

pub const MASTER: &str = "counter";
/// Sentinel's down-after in the tests: a failover starts about this long after the primary dies.
pub const DOWN_AFTER_MILLIS: u64 = 1000;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The shipped files, compiled in: a copy of the tree that built this binary (scripts/check-nix.sh builds from
/// one, in the same target directory) may be gone by the time it runs, so no path to it is kept.
const REDIS_CONF: &str = include_str!("../../deploy/redis/redis.conf");
const SENTINEL_CONF: &str = include_str!("../../deploy/redis/sentinel.conf");

fn scratch(tag: &str, port: u16) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("counter-ha-{}-{tag}-{port}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn cli(port: u16, password: Option<&str>, args: &[&str]) -> String {
    let mut cmd = Command::new("redis-cli");
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string()]);
    if let Some(pw) = password {
        cmd.args(["--no-auth-warning", "-a", pw]);
    }
    let out = cmd.args(args).stderr(Stdio::null()).output().expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `field:value` from INFO-style text.
pub fn info_field(text: &str, field: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':').map(|v| v.trim().to_string()))
}

/// One redis-server from deploy/redis/redis.conf.
pub struct Node {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    args: Vec<String>,
}

impl Node {
    pub fn start(replica_of: Option<u16>, extra: &[&str]) -> Node {
        let port = free_port();
        let dir = scratch("node", port);
        // Its own copy: Sentinel's reconfiguration rewrites the file (CONFIG REWRITE).
        let copy = dir.join("redis.conf");
        std::fs::write(&copy, REDIS_CONF).unwrap();
        let mut args: Vec<String> = vec![copy.to_str().unwrap().to_string()];
        for a in ["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir", dir.to_str().unwrap()] {
            args.push(a.to_string());
        }
        if let Some(primary) = replica_of {
            args.extend(["--replicaof".to_string(), "127.0.0.1".to_string(), primary.to_string()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut node = Node { child: None, port, dir, args };
        node.spawn();
        node
    }

    /// Starts (or restarts) the process with the same arguments, directory and AOF.
    pub fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (make test / .ci/run install it)");
        self.child = Some(child);
        let port = self.port;
        assert!(eventually(Duration::from_secs(10), || self.cli(&["PING"]).trim() == "PONG"), "redis on {port}");
    }

    pub fn cli(&self, args: &[&str]) -> String {
        cli(self.port, None, args)
    }

    /// Sends newline-separated commands through one redis-cli on its stdin.
    pub fn pipe(&self, commands: &str) {
        use std::io::Write;
        let mut child = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-cli");
        child.stdin.take().unwrap().write_all(commands.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
    }

    pub fn role(&self) -> String {
        self.cli(&["ROLE"]).lines().next().unwrap_or("").trim().to_string()
    }

    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    pub fn signal(&self, signal: i32) {
        if let Some(pid) = self.pid() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid, signal) };
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The counter's value in this node, 0 before the first increment.
    pub fn counter(&self) -> u64 {
        self.cli(&["GET", "{counter}:n"]).trim().parse().unwrap_or(0)
    }

    /// Script calls this process executed since it started.
    pub fn script_calls(&self) -> u64 {
        self.cli(&["INFO", "commandstats"])
            .lines()
            .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
            .filter_map(|l| l.split("calls=").nth(1)?.split(',').next()?.parse::<u64>().ok())
            .sum()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One Sentinel: deploy/redis/sentinel.conf copied into its own directory (Sentinel rewrites it) with the
/// port, the monitored primary, the directory and the timings substituted.
pub struct Sentinel {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    pub password: Option<String>,
}

impl Sentinel {
    pub fn start(primary: u16, password: Option<&str>) -> Sentinel {
        let port = free_port();
        let dir = scratch("sentinel", port);
        let mut text = String::new();
        for line in SENTINEL_CONF.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let line = match words.as_slice() {
                ["port", _] => format!("port {port}\nbind 127.0.0.1"),
                ["dir", _] => format!("dir {}", dir.display()),
                ["sentinel", "monitor", name, _, _, quorum] => {
                    format!("sentinel monitor {name} 127.0.0.1 {primary} {quorum}")
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
        let mut s = Sentinel { child: None, port, dir, password: password.map(str::to_string) };
        s.spawn();
        s
    }

    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("log")).unwrap();
        let child = Command::new("redis-server")
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
        cli(self.port, self.password.as_deref(), args)
    }

    /// The port of the primary this Sentinel names.
    pub fn primary_port(&self) -> Option<u16> {
        self.cli(&["SENTINEL", "get-master-addr-by-name", MASTER]).lines().nth(1)?.trim().parse().ok()
    }

    /// A field of `SENTINEL master counter` (alternating name and value lines).
    pub fn master_field(&self, field: &str) -> Option<String> {
        let text = self.cli(&["SENTINEL", "master", MASTER]);
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        lines.chunks(2).find(|kv| kv.first() == Some(&field)).and_then(|kv| kv.get(1)).map(|v| v.to_string())
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
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

/// A primary (`nodes[0]` at start), replicas and Sentinels, each Sentinel aware of every replica and every
/// other Sentinel before `start` returns, so a failover can be elected.
pub struct Cluster {
    pub nodes: Vec<Node>,
    pub sentinels: Vec<Sentinel>,
}

impl Cluster {
    pub fn start(replicas: usize, sentinels: usize, sentinel_password: Option<&str>) -> Cluster {
        let primary = Node::start(None, &[]);
        let mut nodes = vec![primary];
        for _ in 0..replicas {
            nodes.push(Node::start(Some(nodes[0].port), &[]));
        }
        let synced = || {
            let info = nodes[0].cli(&["INFO", "replication"]);
            info_field(&info, "connected_slaves").and_then(|n| n.parse::<usize>().ok()) == Some(replicas)
                && nodes[1..].iter().all(|r| {
                    info_field(&r.cli(&["INFO", "replication"]), "master_link_status").as_deref() == Some("up")
                })
        };
        assert!(eventually(Duration::from_secs(20), synced), "replicas never synced");
        let sentinels: Vec<Sentinel> =
            (0..sentinels).map(|_| Sentinel::start(nodes[0].port, sentinel_password)).collect();
        let n = sentinels.len();
        let aware = || {
            sentinels.iter().all(|s| {
                s.master_field("num-slaves").as_deref() == Some(&replicas.to_string())
                    && s.master_field("num-other-sentinels").as_deref() == Some(&(n - 1).to_string())
            })
        };
        // Sentinels find each other through hello messages every 2 s, and replicas through INFO every 10 s.
        assert!(eventually(Duration::from_secs(40), aware), "sentinels never saw each other and every replica");
        Cluster { nodes, sentinels }
    }

    /// `--redis-sentinels` for these Sentinels.
    pub fn sentinel_list(&self) -> String {
        self.sentinels.iter().map(Sentinel::addr).collect::<Vec<_>>().join(",")
    }

    /// Every Sentinel's log, for a failure message.
    pub fn logs(&self) -> String {
        let ports: Vec<String> = self.nodes.iter().map(|n| n.port.to_string()).collect();
        let mut out = format!("data nodes on ports {ports:?}\n");
        for s in &self.sentinels {
            out.push_str(&format!("--- sentinel {}\n{}", s.port, s.log()));
        }
        out
    }

    /// The node every live Sentinel names as the primary, once they agree.
    pub fn agreed_primary(&self) -> Option<usize> {
        let mut ports = self.sentinels.iter().filter(|s| s.child.is_some()).map(Sentinel::primary_port);
        let first = ports.next()??;
        if ports.all(|p| p == Some(first)) {
            self.nodes.iter().position(|n| n.port == first)
        } else {
            None
        }
    }
}

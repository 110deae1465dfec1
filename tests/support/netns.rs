//! A private network for partition tests: one network namespace per member (a Redis node, a Sentinel, a counter
//! process, the clients), each with one veth link to a bridge that lives in a hub namespace of its own, and
//! 10.77.0.0/24 addresses that exist only inside these namespaces. A partition is an nftables table of DROP rules
//! in a member's namespace (dropped, not refused: established connections see silence, as in a real partition);
//! healing deletes the table. Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN), `ip` and `nft`; everything is removed on
//! drop.

#![allow(dead_code)]

use std::process::Command;

use super::redis::Host;

const TABLE: &str = "nemesis";

/// Why namespaces cannot be made here, or None when they can.
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid(2) has no preconditions and touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root: network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN".to_string());
    }
    for tool in ["ip", "nft"] {
        if Command::new(tool).arg("-V").output().is_err() {
            return Some(format!("`{tool}` is not installed (iproute2, nftables)"));
        }
    }
    None
}

fn run(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().expect("ip/nft");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The namespaces and their addresses; `members[i]` has 10.77.0.(i + 1).
pub struct Net {
    prefix: String,
    hub: String,
    members: Vec<String>,
}

impl Net {
    /// Namespaces named `<pid>-<tag>-<member>` for each member, linked through one bridge.
    pub fn new(tag: &str, members: &[&str]) -> Net {
        let prefix = format!("c{}-{tag}", std::process::id());
        let hub = format!("{prefix}-hub");
        run(&["ip", "netns", "add", &hub]);
        let mut net = Net { prefix, hub: hub.clone(), members: Vec::new() };
        run(&["ip", "-n", &hub, "link", "add", "br0", "type", "bridge"]);
        run(&["ip", "-n", &hub, "link", "set", "br0", "up"]);
        for (i, m) in members.iter().enumerate() {
            let ns = format!("{}-{m}", net.prefix);
            run(&["ip", "netns", "add", &ns]);
            net.members.push(m.to_string());
            let leg = format!("v{i}");
            run(&["ip", "-n", &hub, "link", "add", &leg, "type", "veth", "peer", "name", "eth0", "netns", &ns]);
            run(&["ip", "-n", &hub, "link", "set", &leg, "master", "br0"]);
            run(&["ip", "-n", &hub, "link", "set", &leg, "up"]);
            run(&["ip", "-n", &ns, "addr", "add", &format!("10.77.0.{}/24", i + 1), "dev", "eth0"]);
            run(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
            run(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        }
        net
    }

    fn index(&self, member: &str) -> usize {
        self.members.iter().position(|m| m == member).unwrap_or_else(|| panic!("no member {member}"))
    }

    pub fn netns(&self, member: &str) -> String {
        format!("{}-{}", self.prefix, self.members[self.index(member)])
    }

    pub fn ip(&self, member: &str) -> String {
        format!("10.77.0.{}", self.index(member) + 1)
    }

    /// Where a process on `member` runs and is reached.
    pub fn host(&self, member: &str) -> Host {
        Host { ip: self.ip(member), netns: Some(self.netns(member)) }
    }

    /// Drops every packet between `member` and each of `others` (both directions, filtered in `member`'s
    /// namespace). Replaces an earlier cut of `member`.
    pub fn cut(&self, member: &str, others: &[&str]) {
        let ips: Vec<String> = others.iter().map(|o| self.ip(o)).collect();
        let set = ips.join(", ");
        let rules = format!(
            "table inet {TABLE} {{\n  chain input {{ type filter hook input priority 0; policy accept; ip saddr {{ {set} }} drop; }}\n  chain output {{ type filter hook output priority 0; policy accept; ip daddr {{ {set} }} drop; }}\n}}\n"
        );
        self.heal(member);
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.netns(member), "nft", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("nft");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(rules.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success(), "nft rules for {member}: {rules}");
    }

    /// Drops every packet between `member` and every other member except `keep`.
    pub fn cut_all_but(&self, member: &str, keep: &[&str]) {
        let others: Vec<&str> =
            self.members.iter().map(String::as_str).filter(|m| *m != member && !keep.contains(m)).collect();
        self.cut(member, &others);
    }

    /// Removes `member`'s DROP rules.
    pub fn heal(&self, member: &str) {
        let _ = Command::new("ip")
            .args(["netns", "exec", &self.netns(member), "nft", "delete", "table", "inet", TABLE])
            .output();
    }

    /// Moves the calling thread (only it: network namespaces are per thread) into `member`'s namespace, so its
    /// sockets and the processes it spawns are there.
    pub fn enter(&self, member: &str) {
        let path = format!("/run/netns/{}", self.netns(member));
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        use std::os::fd::AsRawFd;
        // SAFETY: setns(2) with a namespace file descriptor we hold open; it changes only this thread's network
        // namespace and touches no memory of ours.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for m in &self.members {
            let _ = Command::new("ip").args(["netns", "del", &format!("{}-{m}", self.prefix)]).output();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.hub]).output();
    }
}

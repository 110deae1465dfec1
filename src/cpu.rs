//! How many workers to run, and on which CPUs: the cgroup CPU quota (v2 `cpu.max`, v1
//! `cpu.cfs_quota_us`/`cpu.cfs_period_us`) and the affinity mask.
//!
//! Why this module exists next to `std::thread::available_parallelism`: std already returns
//! min(affinity CPUs, cgroup quota) on Linux, and its rounding is the same (down, at least 1). But the
//! service must also *log* the node's cores and the exact quota as Kubernetes set it (`1.50 cores`, or
//! `none`), which std does not expose, and it needs the affinity list itself to pin workers when the kubelet's
//! static CPU manager hands a pod exclusive CPUs. Parsing is pure and unit-tested on fixture files.

use std::fs;
use std::path::{Path, PathBuf};

/// What the node and the cgroup allow this process.
#[derive(Clone, Debug, PartialEq)]
pub struct Cpus {
    /// CPUs online on the node.
    pub node_cores: usize,
    /// CPU limit in cores from the cgroup quota; None when unlimited.
    pub quota_cores: Option<f64>,
    /// CPUs in this process' affinity mask.
    pub allowed: Vec<usize>,
}

impl Cpus {
    pub fn detect() -> Cpus {
        let allowed = affinity();
        let node_cores = online_cpus().unwrap_or(allowed.len()).max(1);
        let cgroup = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        Cpus { node_cores, quota_cores: quota_from_cgroup(&cgroup, Path::new("/sys/fs/cgroup")), allowed }
    }

    /// Worker threads: the quota in whole cores rounded down (more runnable threads than the quota only buys
    /// CFS throttling stalls), capped by the allowed CPUs, at least one.
    pub fn workers(&self) -> usize {
        let allowed = self.allowed.len().max(1);
        match self.quota_cores {
            Some(q) => (q.floor() as usize).clamp(1, allowed),
            None => allowed,
        }
    }

    /// CPUs to pin workers to: the affinity list when it restricts us to fewer CPUs than the node has (an
    /// exclusive cpuset), else none, leaving placement to the scheduler.
    pub fn pin_list(&self) -> Vec<usize> {
        if self.allowed.len() < self.node_cores {
            self.allowed.clone()
        } else {
            Vec::new()
        }
    }

    /// `4.00 cores` or `none`, as logged at start.
    pub fn quota_label(&self) -> String {
        match self.quota_cores {
            Some(q) => format!("{q:.2} cores"),
            None => "none".to_string(),
        }
    }
}

/// cgroup v2 `cpu.max`: `"max 100000"` (no limit) or `"150000 100000"` (1.5 cores).
pub fn parse_cpu_max(contents: &str) -> Option<f64> {
    let mut fields = contents.split_whitespace();
    let quota = fields.next()?;
    let period: f64 = fields.next().map_or(Some(100_000.0), |p| p.parse().ok())?;
    if quota == "max" || period <= 0.0 {
        return None;
    }
    let quota: f64 = quota.parse().ok()?;
    (quota > 0.0).then(|| quota / period)
}

/// cgroup v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us`: quota `-1` means no limit.
pub fn parse_cfs(quota_us: &str, period_us: &str) -> Option<f64> {
    let quota: i64 = quota_us.trim().parse().ok()?;
    let period: i64 = period_us.trim().parse().ok()?;
    (quota > 0 && period > 0).then(|| quota as f64 / period as f64)
}

/// Finds the tightest CPU quota on the path from this process' cgroup to the root (a parent's limit binds the
/// child too). `proc_self_cgroup` is `/proc/self/cgroup`; `root` is where cgroupfs is mounted.
pub fn quota_from_cgroup(proc_self_cgroup: &str, root: &Path) -> Option<f64> {
    let mut tightest: Option<f64> = None;
    let mut keep = |q: Option<f64>| {
        if let Some(q) = q {
            tightest = Some(tightest.map_or(q, |t: f64| t.min(q)));
        }
    };
    for line in proc_self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let relative = path.trim_start_matches('/');
        if controllers.is_empty() {
            // v2: `0::/kubepods/...`
            for dir in ancestors(&root.join(relative), root) {
                keep(fs::read_to_string(dir.join("cpu.max")).ok().as_deref().and_then(parse_cpu_max));
            }
        } else if controllers.split(',').any(|c| c == "cpu") {
            // v1: the cpu controller is mounted at cpu,cpuacct (or cpu); inside a container the mount's root is
            // the container's own cgroup, so try the full path and the mount point itself.
            for mount in ["cpu,cpuacct", "cpu"] {
                let base = root.join(mount);
                for dir in ancestors(&base.join(relative), &base) {
                    let quota = fs::read_to_string(dir.join("cpu.cfs_quota_us"));
                    let period = fs::read_to_string(dir.join("cpu.cfs_period_us"));
                    if let (Ok(q), Ok(p)) = (quota, period) {
                        keep(parse_cfs(&q, &p));
                    }
                }
            }
        }
    }
    tightest
}

/// `dir` and each of its parents down to and including `root`.
fn ancestors(dir: &Path, root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        out.push(d.to_path_buf());
        if d == root {
            break;
        }
        cur = d.parent().filter(|p| p.starts_with(root));
    }
    out
}

fn online_cpus() -> Option<usize> {
    // SAFETY: sysconf reads a system constant; no pointers are involved.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).ok().filter(|&n| n > 0)
}

/// The CPUs this process may run on (sched_getaffinity); falls back to std's count when the call fails.
fn affinity() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data, valid when zeroed; sched_getaffinity writes at most
    // size_of::<cpu_set_t>() bytes into it, and CPU_ISSET only reads it for indices below CPU_SETSIZE.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize).filter(|&c| libc::CPU_ISSET(c, &set)).collect();
            if !cpus.is_empty() {
                return cpus;
            }
        }
    }
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    (0..n).collect()
}

/// Pins the calling thread to one CPU. Best effort: failing to pin only costs locality.
pub fn pin_current_thread(cpu: usize) {
    if cpu >= libc::CPU_SETSIZE as usize {
        return;
    }
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET writes bit `cpu` (< CPU_SETSIZE, checked above);
    // sched_setaffinity(0, ..) applies to the calling thread and only reads the set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_max_fixtures() {
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        assert_eq!(parse_cpu_max("200000 100000\n"), Some(2.0));
        assert_eq!(parse_cpu_max("150000 100000\n"), Some(1.5));
        assert_eq!(parse_cpu_max("50000 100000"), Some(0.5));
        assert_eq!(parse_cpu_max("max"), None);
        assert_eq!(parse_cpu_max("garbage"), None);
        assert_eq!(parse_cpu_max(""), None);
    }

    #[test]
    fn cfs_fixtures() {
        assert_eq!(parse_cfs("-1\n", "100000\n"), None);
        assert_eq!(parse_cfs("400000\n", "100000\n"), Some(4.0));
        assert_eq!(parse_cfs("250000", "100000"), Some(2.5));
        assert_eq!(parse_cfs("x", "100000"), None);
        assert_eq!(parse_cfs("100000", "0"), None);
    }

    #[test]
    fn workers_round_down_and_cap() {
        let cpus = |quota_cores, allowed: usize| Cpus { node_cores: 8, quota_cores, allowed: (0..allowed).collect() };
        assert_eq!(cpus(None, 8).workers(), 8);
        assert_eq!(cpus(Some(1.5), 8).workers(), 1);
        assert_eq!(cpus(Some(0.5), 8).workers(), 1);
        assert_eq!(cpus(Some(4.0), 2).workers(), 2);
        assert_eq!(cpus(Some(2.99), 8).workers(), 2);
        assert_eq!(cpus(Some(2.0), 8).quota_label(), "2.00 cores");
        assert_eq!(cpus(None, 8).quota_label(), "none");
        assert!(cpus(None, 8).pin_list().is_empty());
        assert_eq!(cpus(None, 2).pin_list(), vec![0, 1]);
    }

    fn fixture(name: &str, files: &[(&str, &str)]) -> PathBuf {
        let root = std::env::temp_dir().join(format!("counter-cgroup-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for (path, contents) in files {
            let p = root.join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, contents).unwrap();
        }
        root
    }

    #[test]
    fn v2_tree_takes_the_tightest_ancestor() {
        let root = fixture(
            "v2",
            &[
                ("kubepods/cpu.max", "400000 100000\n"),
                ("kubepods/pod1/cpu.max", "150000 100000\n"),
                ("kubepods/pod1/ctr/cpu.max", "max 100000\n"),
            ],
        );
        assert_eq!(quota_from_cgroup("0::/kubepods/pod1/ctr\n", &root), Some(1.5));
        assert_eq!(quota_from_cgroup("0::/kubepods\n", &root), Some(4.0));
        assert_eq!(quota_from_cgroup("0::/elsewhere\n", &root), None);
        let _ = fs::remove_dir_all(root);
    }

    #[test]
    fn v1_inside_a_container_reads_the_mount_root() {
        let root = fixture(
            "v1",
            &[
                ("cpu,cpuacct/cpu.cfs_quota_us", "200000\n"),
                ("cpu,cpuacct/cpu.cfs_period_us", "100000\n"),
                ("memory/x", ""),
            ],
        );
        let proc_cgroup = "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n";
        assert_eq!(quota_from_cgroup(proc_cgroup, &root), Some(2.0));
        assert_eq!(quota_from_cgroup("4:cpuacct,cpu:/\n", &root), Some(2.0));
        let _ = fs::remove_dir_all(root);
    }
}

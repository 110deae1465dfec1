//! The file system under the state file failing for real: full at creation (a small tmpfs), and a write that
//! cannot reach the disk at run time. The run-time failure is a real `fdatasync` error, not a test seam: the
//! state file lives on ext4 on a loop device whose backing file sits on a tmpfs; the page of the slot the next
//! reservation writes is punched out of the backing file and the tmpfs filled, so the kernel's writeback of
//! that page fails (ENOSPC from the loop device) and `fdatasync` reports it, while every other block stays
//! writable. These tests mount, so they need root: without it they say SKIPPED and pass (the Nix sandbox skips
//! them by name, `root_`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::crash::taken;
use crate::history::{collect, load, refused, start, value, Dir};
use crate::support::{eventually, get, PATIENCE};

fn root() -> bool {
    // SAFETY: geteuid(2) has no preconditions and touches no memory.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        eprintln!("SKIPPED: this test mounts file systems and needs root");
    }
    euid == 0
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd} {args:?}: {text}");
    text
}

/// Something mounted (a tmpfs, or ext4 on a loop device), undone on drop in reverse order.
struct Mounted {
    points: Vec<PathBuf>,
    loop_device: Option<String>,
}

impl Mounted {
    fn tmpfs(at: &Path, size: &str) -> Mounted {
        std::fs::create_dir_all(at).unwrap();
        run("mount", &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", at.to_str().unwrap()]);
        Mounted { points: vec![at.to_path_buf()], loop_device: None }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        for (i, point) in self.points.iter().enumerate().rev() {
            if i == 0 {
                // The loop device holds the backing file open: detach it before the tmpfs under it.
                if let Some(dev) = self.loop_device.take() {
                    let _ = Command::new("losetup").args(["-d", &dev]).status();
                }
            }
            let _ = Command::new("umount").arg(point).status();
        }
    }
}

#[test]
fn root_full_filesystem_at_creation_exits_2_and_leaves_nothing() {
    if !root() {
        return;
    }
    let dir = Dir::new("full");
    let mount = Mounted::tmpfs(&dir.file("fs"), "4k"); // one page: the 8 KiB file does not fit
    let path = dir.file("fs/counter.state");
    let (code, stderr) = refused(&path);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("No space left on device") && stderr.contains(path.to_str().unwrap()), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(dir.file("fs")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "nothing half-written is left behind: {left:?}");
    drop(mount);
}

/// The physical block (4 KiB) where the state file's slot `slot` lives, from `filefrag -v`.
fn physical_block(path: &Path, slot: u64) -> u64 {
    let text = run("filefrag", &["-v", path.to_str().unwrap()]);
    // "   0:        0..       1:       1549..      1550:      2:   last,eof"
    let line = text.lines().find(|l| l.trim_start().starts_with("0:")).expect("an extent");
    let start = line.split(':').nth(2).and_then(|f| f.split("..").next()).expect("physical offset");
    start.trim().parse::<u64>().expect("block") + slot
}

/// The slot the next reservation overwrites: the one holding the lower sequence.
fn older_slot(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    let seq = |slot: usize| {
        let at = slot * counter::state::format::SLOT_BYTES;
        counter::state::format::decode(slot, &bytes[at..]).map(|r| r.sequence).unwrap_or(0)
    };
    u64::from(seq(1) < seq(0))
}

#[test]
fn root_sync_failure_at_run_time_is_503_not_ready_logged_counted_and_never_repeats() {
    if !root() {
        return;
    }
    let dir = Dir::new("syncfail");
    let (backing, fs) = (dir.file("backing"), dir.file("ext4"));
    let mut mounts = Mounted::tmpfs(&backing, "48M");
    let image = backing.join("disk.img");
    run("truncate", &["-s", "32M", image.to_str().unwrap()]);
    run(
        "mkfs.ext4",
        &["-q", "-F", "-b", "4096", "-E", "lazy_itable_init=0,lazy_journal_init=0", image.to_str().unwrap()],
    );
    let device = run("losetup", &["--find", "--show", image.to_str().unwrap()]).trim().to_string();
    mounts.loop_device = Some(device.clone());
    std::fs::create_dir_all(&fs).unwrap();
    run("mount", &[&device, fs.to_str().unwrap()]);
    mounts.points.push(fs.clone());
    let path = fs.join("counter.state");

    let mut server = start(&path);
    let first = value(&server, "/status");
    // The disk loses the page the next reservation writes, and has no room to get it back.
    let block = physical_block(&path, older_slot(&path));
    let (offset, page) = ((block * 4096).to_string(), "4096".to_string());
    run("fallocate", &["--punch-hole", "--offset", &offset, "--length", &page, image.to_str().unwrap()]);
    let avail = run("df", &["-k", "--output=avail", backing.to_str().unwrap()]);
    let avail_kib: u64 = avail.lines().last().unwrap().trim().parse().unwrap();
    let fill = backing.join("fill");
    run("fallocate", &["-l", &format!("{}k", avail_kib), fill.to_str().unwrap()]);

    // Load until requests run into the ceiling the failed sync could not raise.
    let stop = Arc::new(AtomicBool::new(false));
    let handles = load(server.addr, 2, &stop);
    let failed = eventually(PATIENCE, || server.log_text().contains("state file sync failed"));
    assert!(failed, "no sync failure: {}", server.log_text());
    let not_ready = eventually(PATIENCE, || get(&server, "/ready").status == 503);
    assert!(not_ready, "/ready stays 200 while syncs fail");
    let metrics = String::from_utf8_lossy(&get(&server, "/metrics").body).into_owned();
    let errors = metrics.lines().find_map(|l| l.strip_prefix("counter_state_sync_errors_total ")).unwrap_or("0");
    assert!(errors.parse::<u64>().unwrap() >= 1, "{metrics}");
    std::thread::sleep(Duration::from_millis(1500)); // a retry or two fails too; logged once
    stop.store(true, Ordering::Relaxed);
    let seen = collect(handles);
    assert!(seen.unavailable > 0, "requests beyond the ceiling get 503");
    assert_eq!(server.log_text().matches("state file sync failed").count(), 1, "{}", server.log_text());
    let taken_before = [taken(&server, "/status"), taken(&server, "/statusV2")];
    server.signal(libc::SIGKILL);
    server.wait_exit(PATIENCE);

    // The disk as it really is: room again, the file system mounted afresh (no page cache from before).
    std::fs::remove_file(&fill).unwrap();
    run("umount", &[fs.to_str().unwrap()]);
    run("mount", &[&device, fs.to_str().unwrap()]);
    let server = start(&path);
    for (c, endpoint) in ["/status", "/statusV2"].iter().enumerate() {
        let max = seen.values[c].iter().copied().max().unwrap_or(0).max(if c == 0 { first } else { 0 });
        let next = value(&server, endpoint);
        assert!(next > max, "{endpoint}: {next} after {max} (taken {:?}): {}", taken_before, server.log_text());
        eprintln!("{endpoint}: handed out up to {max} before the failure, resumes at {next}");
    }
}

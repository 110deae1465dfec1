//! Every way the state file can be bad, and every way it can be unavailable: each either resumes above every
//! value handed out before, or refuses to start with exit code 2 and a message naming the file and the problem.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::crash::taken;
use crate::history::{collect, load, refused, start, value, Dir};
use crate::support::{eventually, PATIENCE};

const SLOT: usize = 4096;

/// Runs the server on `path` under load until both counters passed `at_least` (several reservations, so the
/// two slots hold different ceilings), then stops it (SIGKILL or SIGTERM). Returns the highest value each
/// counter handed out.
fn fill(path: &Path, at_least: u64, clean: bool) -> [u64; 2] {
    let mut server = start(path);
    let stop = Arc::new(AtomicBool::new(false));
    let handles = load(server.addr, 2, &stop);
    let passed =
        eventually(PATIENCE, || taken(&server, "/status") > at_least && taken(&server, "/statusV2") > at_least);
    assert!(passed, "load did not pass {at_least}");
    if clean {
        stop.store(true, Ordering::Relaxed);
    }
    server.signal(if clean { libc::SIGTERM } else { libc::SIGKILL });
    server.wait_exit(PATIENCE);
    stop.store(true, Ordering::Relaxed);
    let seen = collect(handles);
    [0, 1].map(|c| seen.values[c].iter().copied().max().unwrap_or(0))
}

/// A copy of `base` with `damage` done to its bytes.
fn damaged(dir: &Dir, name: &str, base: &[u8], damage: impl Fn(&mut Vec<u8>)) -> std::path::PathBuf {
    let mut bytes = base.to_vec();
    damage(&mut bytes);
    let path = dir.file(name);
    std::fs::write(&path, &bytes).expect("write copy");
    path
}

fn assert_refused(path: &Path, problem: &str) {
    let (code, stderr) = refused(path);
    assert_eq!(code, Some(2), "{}: {stderr}", path.display());
    assert!(stderr.contains(&path.display().to_string()), "the message names the file: {stderr}");
    assert!(stderr.contains(problem), "expected {problem:?} in: {stderr}");
}

fn assert_resumes_above(path: &Path, max: [u64; 2], why: &str) {
    let server = start(path);
    let log = server.log_text();
    assert!(log.contains("slot unusable") && log.contains(why), "{why}: {log}");
    for (c, endpoint) in ["/status", "/statusV2"].iter().enumerate() {
        let next = value(&server, endpoint);
        assert!(next > max[c], "{endpoint}: {next} after {} with {why}: {log}", max[c]);
    }
}

#[test]
fn damage_to_either_slot_resumes_above_every_value_and_both_refuse() {
    let dir = Dir::new("damage");
    for clean in [false, true] {
        let path = dir.file("base.state");
        let _ = std::fs::remove_file(&path);
        let max = fill(&path, 5000, clean);
        let base = std::fs::read(&path).expect("read base");
        assert_eq!(base.len(), 2 * SLOT);
        for slot in 0..2 {
            let at = slot * SLOT;
            let torn = damaged(&dir, "torn.state", &base, |b| b[at + 30..at + 50].fill(0xA5));
            assert_resumes_above(&torn, max, "checksum");
            let zeroed = damaged(&dir, "zeroed.state", &base, |b| b[at..at + SLOT].fill(0));
            assert_resumes_above(&zeroed, max, "all zero");
            let other = (1 - slot) * SLOT;
            let moved = damaged(&dir, "moved.state", &base, |b| b.copy_within(other..other + 80, at));
            assert_resumes_above(&moved, max, "inconsistent");
        }
        let cut = damaged(&dir, "cut1.state", &base, |b| b.truncate(SLOT + 40));
        assert_resumes_above(&cut, max, "truncated");
        let cut = damaged(&dir, "cut0.state", &base, |b| b.truncate(40));
        assert_refused(&cut, "no usable slot");
        let both = damaged(&dir, "both.state", &base, |b| {
            b[30] ^= 1;
            b[SLOT + 30] ^= 1;
        });
        assert_refused(&both, "checksum");
        let zero = damaged(&dir, "zero.state", &base, |b| b.fill(0));
        assert_refused(&zero, "all zero");
    }
}

#[test]
fn foreign_empty_newer_and_unopenable_files_refuse_with_exit_2() {
    let dir = Dir::new("refuse");
    let foreign = dir.file("foreign.state");
    std::fs::write(&foreign, "user=alice\n".repeat(1000)).unwrap();
    assert_refused(&foreign, "not a counter state file");
    let empty = dir.file("empty.state");
    std::fs::write(&empty, "").unwrap();
    assert_refused(&empty, "empty");
    // A file from a later format: this build cannot know what its records promise.
    let newer = dir.file("newer.state");
    let _ = fill(&newer, 10, true);
    let mut bytes = std::fs::read(&newer).unwrap();
    for slot in [0, SLOT] {
        bytes[slot + 8] = 2;
        let crc = counter::state::format::crc32c(&bytes[slot..slot + 76]);
        bytes[slot + 76..slot + 80].copy_from_slice(&crc.to_le_bytes());
    }
    std::fs::write(&newer, &bytes).unwrap();
    assert_refused(&newer, "format version 2");
    assert_refused(&dir.0, "cannot open");
}

#[test]
fn a_missing_file_is_a_new_count_and_uncreatable_paths_refuse() {
    let dir = Dir::new("create");
    let path = dir.file("new.state");
    let server = start(&path);
    assert!(server.log_text().contains("new file: counting from 0"), "{}", server.log_text());
    assert_eq!((value(&server, "/status"), value(&server, "/statusV2")), (1, 1));
    drop(server);
    assert_refused(&dir.file("no/such/dir/counter.state"), "cannot be created");
    std::fs::write(dir.file("plain"), "x").unwrap();
    assert_refused(&dir.file("plain/counter.state"), "Not a directory");
}

#[test]
fn a_second_process_on_the_same_file_hands_out_nothing() {
    let dir = Dir::new("twice");
    let path = dir.file("counter.state");
    let mut first = start(&path);
    assert_eq!(value(&first, "/status"), 1);
    assert_refused(&path, "locked by another process");
    assert_eq!(value(&first, "/status"), 2, "the first one carries on");
    first.signal(libc::SIGTERM);
    assert_eq!(first.wait_exit(PATIENCE), Some(0));
    let second = start(&path);
    assert_eq!(value(&second, "/status"), 3, "once the first is gone, the next continues exactly");
}

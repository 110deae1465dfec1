//! The state file on disk: open it or create it, lock it for this process alone, read it, write one slot and
//! sync it. No format knowledge beyond offsets (`format.rs` owns the bytes).
//!
//! Creation never leaves a half-written file at PATH: the initial bytes go to `PATH.new`, are synced, renamed
//! over PATH, and the directory is synced (without that, a crash can forget the rename). So an empty or
//! short PATH was never written by this program, and recovery refuses it.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::format::{FILE_BYTES, SLOT_BYTES};

pub struct StateFile {
    file: File,
}

impl StateFile {
    /// Writes `record` at the start of slot `slot` and waits for it to reach the disk (`fdatasync`: the data,
    /// and the metadata needed to read it back; the size never changes after creation).
    pub fn write_slot(&self, slot: usize, record: &[u8]) -> io::Result<()> {
        self.file.write_all_at(record, (slot * SLOT_BYTES) as u64)?;
        self.file.sync_data()
    }
}

/// Opens PATH and locks it. Returns the file and its bytes (at most one more than a state file holds), or None
/// for the bytes when PATH did not exist and was created with `initial`. Errors say what went wrong, for a
/// message that names the file.
pub fn open(path: &Path, initial: &[u8]) -> Result<(StateFile, Option<Vec<u8>>), String> {
    // Twice: another process may create PATH between our attempt to open it and our attempt to create it.
    for _ in 0..2 {
        match OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => {
                lock(&file)?;
                let mut bytes = Vec::with_capacity(FILE_BYTES + 1);
                (&file).take(FILE_BYTES as u64 + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read: {e}"))?;
                return Ok((StateFile { file }, Some(bytes)));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot open: {e}")),
        }
        if let Some(file) = create(path, initial)? {
            return Ok((StateFile { file }, None));
        }
    }
    Err("appeared and disappeared while being opened: is another process replacing it?".to_string())
}

/// Takes the exclusive lock, without waiting. It lasts as long as this open file (the process), and the kernel
/// drops it when the process dies, however it dies.
fn lock(file: &File) -> Result<(), String> {
    // SAFETY: flock(2) on a descriptor this `File` owns for the duration of the call; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.kind() == io::ErrorKind::WouldBlock {
        Err("locked by another process: one counter process per state file".to_string())
    } else {
        Err(format!("cannot lock: {e}"))
    }
}

fn temporary(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".new");
    path.with_file_name(name)
}

/// Creates PATH holding `initial`, as described at the top. None: PATH appeared meanwhile (created by another
/// process, which holds the lock of the temporary file until it has renamed it).
fn create(path: &Path, initial: &[u8]) -> Result<Option<File>, String> {
    let tmp = temporary(path);
    let cannot = |e: io::Error| format!("does not exist and cannot be created ({}): {e}", tmp.display());
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o644).open(&tmp);
    let file = file.map_err(cannot)?;
    lock(&file).map_err(|e| format!("is being created by another process ({}): {e}", tmp.display()))?;
    if path.exists() {
        // Ours to remove: whoever created PATH has renamed their temporary file, and we hold this one's lock.
        let _ = std::fs::remove_file(&tmp);
        return Ok(None);
    }
    let written = file.set_len(0).and_then(|()| file.write_all_at(initial, 0)).and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(cannot(e));
    }
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot be created (rename from {}): {e}", tmp.display()))?;
    sync_dir(path).map_err(|e| format!("created, but its directory cannot be synced: {e}"))?;
    Ok(Some(file))
}

/// fsync of PATH's directory, so the new name survives a crash.
fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

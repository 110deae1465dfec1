//! `--state-file`: both counters survive restarts. The file durably reserves a ceiling per counter; workers hand
//! out values only up to the ceiling in memory (`counter.rs`), and the reserving thread here raises it, ahead of
//! need and off the request path, only once the reservation is on disk. A clean stop records the exact values.
//!
//! The one rule that makes it safe: **the ceiling in use is never above what either slot on disk says.** Writes
//! alternate between the two slots (the older one is overwritten), and the ceiling in use becomes the *lower*
//! of the two slots' ceilings after each sync. So whichever slot a crash tears, or a bad sector damages, the
//! other one bounds every value handed out, and recovery takes the highest valid ceiling (`format::recover`).
//! The cost is that the ceiling in use trails by one write; blocks are sized for it (`limits.rs`).

pub mod file;
pub mod format;

use std::path::Path;
use std::time::{Duration, Instant};

use crate::counter::{AtomicCounter, MutexCounter};
use crate::lifecycle::Lifecycle;
use crate::limits::{
    STATE_AHEAD_MILLIS, STATE_BLOCK_MAX, STATE_BLOCK_MIN, STATE_POLL_MAX_MILLIS, STATE_POLL_MILLIS, STATE_RETRY_MILLIS,
};
use crate::log;
use crate::metrics::StateMetrics;
use crate::sync::{AtomicU8, Ordering};
use file::StateFile;
use format::{Mark, Record, Recovered, FILE_BYTES, RECORD_BYTES, SLOT_BYTES};

/// What the reserving thread works on: the counters (index 0 `/status`, 1 `/statusV2`), the readiness flag, and
/// its metrics.
#[derive(Clone, Copy)]
pub struct Shared<'a> {
    pub status: &'a AtomicCounter,
    pub status_v2: &'a MutexCounter,
    pub lifecycle: &'a Lifecycle,
    pub stats: &'a StateMetrics,
}

impl Shared<'_> {
    /// (value taken so far, last change) per counter. `/status`'s value includes values taken above the
    /// ceiling and never handed out: new reservations start above them.
    fn values(&self) -> [(u64, u64); 2] {
        let (a, b) = (self.status.peek(), self.status_v2.peek());
        [(a.counter, a.last_changed), (b.counter, b.last_changed)]
    }

    fn ceilings(&self) -> [u64; 2] {
        [self.status.ceiling(), self.status_v2.ceiling()]
    }

    fn raise(&self, ceilings: [u64; 2]) {
        self.status.raise_ceiling(ceilings[0]);
        self.status_v2.raise_ceiling(ceilings[1]);
    }
}

/// Where the counters resume, as found in the file.
#[derive(Clone, Copy, Debug)]
pub struct Resume {
    /// Per counter: `ceiling` is the last value that may have been handed out; counting resumes above it.
    pub counters: [Mark; 2],
    /// The file did not exist: a new count from 0.
    pub created: bool,
    /// The last run stopped cleanly: no value was skipped.
    pub clean: bool,
    /// A slot that could not be used, and why.
    pub damaged: Option<(usize, format::SlotError)>,
}

impl Resume {
    /// The most values a crash of the last run can have skipped, per counter (0 after a clean stop).
    pub fn gap_max(&self, counter: usize) -> u64 {
        let m = self.counters[counter];
        if self.clean {
            0
        } else {
            m.ceiling - m.floor
        }
    }
}

/// The open, locked state file and what is on disk in each slot.
pub struct State {
    file: StateFile,
    /// The record each slot holds, as far as this process knows (a slot found damaged holds its neighbour's
    /// marks until overwritten, which the first write does).
    slots: [Record; 2],
    /// The sequence of the next write; it goes to slot `next % 2`, the older one.
    next: u64,
    /// Per counter: the value and time at the latest successful write, for the rate.
    since: [(u64, Instant); 2],
    /// Per counter: the value and time at the reserving thread's previous look, for a recent rate.
    look: [(u64, Instant); 2],
}

/// Opens (or creates) and locks the state file, and reads where to resume. An error names what is wrong.
pub fn open(path: &Path) -> Result<(State, Resume), String> {
    let initial = initial_file();
    let (file, bytes) = file::open(path, &initial)?;
    let created = bytes.is_none();
    let recovered = format::recover(bytes.as_deref().unwrap_or(&initial))?;
    let Recovered { counters, clean, sequence, damaged } = recovered;
    let older = Record { sequence: sequence.saturating_sub(1), clean, counters };
    let newer = Record { sequence, clean, counters };
    let mut slots = [older, newer];
    if sequence % 2 == 0 {
        slots.swap(0, 1);
    }
    let now = Instant::now();
    let since = [(counters[0].ceiling, now), (counters[1].ceiling, now)];
    let state = State { file, slots, next: sequence + 1, since, look: since };
    Ok((state, Resume { counters, created, clean, damaged }))
}

/// A new file: both slots hold a clean stop at 0.
fn initial_file() -> Vec<u8> {
    let mut bytes = vec![0u8; FILE_BYTES];
    for slot in 0..format::SLOTS {
        let record = Record { sequence: slot as u64, clean: true, counters: [Mark::default(); 2] };
        bytes[slot * SLOT_BYTES..slot * SLOT_BYTES + RECORD_BYTES].copy_from_slice(&format::encode(&record));
    }
    bytes
}

/// How the reserving thread is told to stop.
pub struct Stop(AtomicU8);

impl Stop {
    pub fn new() -> Stop {
        Stop(AtomicU8::new(0))
    }

    pub fn request(&self) {
        // ORDERING: Relaxed: a flag polled by one thread; the join that follows synchronises everything else.
        self.0.store(1, Ordering::Relaxed);
    }

    fn requested(&self) -> bool {
        // ORDERING: Relaxed, see `request`.
        self.0.load(Ordering::Relaxed) == 1
    }
}

impl Default for Stop {
    fn default() -> Stop {
        Stop::new()
    }
}

impl State {
    /// The first reservation, before any request: both slots get a block above where the counters resume
    /// (two syncs, since the ceiling in use is the lower slot's). An error means the file cannot be written.
    pub fn start(&mut self, shared: Shared<'_>) -> std::io::Result<()> {
        for _ in 0..format::SLOTS {
            let took = self.reserve(shared, Instant::now())?;
            shared.stats.synced(took);
        }
        Ok(())
    }

    /// One write: the older slot gets a ceiling a block above each counter's value (never below the newer
    /// slot's), it is synced, and the ceiling in use rises to the lower of the two slots. Returns the time the
    /// write and sync took. On an error the ceiling in use stays where it was: the slot being written may hold
    /// anything now, but the other slot still bounds every value handed out.
    fn reserve(&mut self, shared: Shared<'_>, now: Instant) -> std::io::Result<Duration> {
        let slot = (self.next % 2) as usize;
        let newer = self.slots[1 - slot];
        let values = shared.values();
        let mut record = Record { sequence: self.next, clean: false, counters: [Mark::default(); 2] };
        for (c, mark) in record.counters.iter_mut().enumerate() {
            let (value, last_changed) = values[c];
            let block = self.block(c, value, now);
            let ceiling = value.saturating_add(block).max(newer.counters[c].ceiling);
            *mark = Mark { floor: value.min(ceiling), ceiling, last_changed };
        }
        let started = Instant::now();
        self.file.write_slot(slot, &format::encode(&record))?;
        let took = started.elapsed();
        self.slots[slot] = record;
        self.next += 1;
        for (c, since) in self.since.iter_mut().enumerate() {
            *since = (values[c].0, now);
        }
        shared.raise(self.in_use());
        Ok(took)
    }

    /// The ceiling the workers may use: per counter, the lower of the two slots.
    fn in_use(&self) -> [u64; 2] {
        let [a, b] = self.slots;
        [0, 1].map(|c| a.counters[c].ceiling.min(b.counters[c].ceiling))
    }

    /// The block for counter `c`: the traffic of `STATE_AHEAD_MILLIS` at the higher of the rate since the last
    /// write and the rate since the previous look (a burst shows there first).
    fn block(&self, c: usize, value: u64, now: Instant) -> u64 {
        let rate = |(then, at): (u64, Instant)| {
            let secs = now.saturating_duration_since(at).as_secs_f64();
            if secs > 0.0 {
                value.saturating_sub(then) as f64 / secs
            } else {
                0.0
            }
        };
        let per_sec = rate(self.since[c]).max(rate(self.look[c]));
        let block = (per_sec * STATE_AHEAD_MILLIS as f64 / 1000.0) as u64;
        block.clamp(STATE_BLOCK_MIN, STATE_BLOCK_MAX)
    }

    /// None when a counter's headroom (ceiling in use minus value) is under half a block: time to write. Else
    /// how long until the next look: half the time the smallest headroom above that mark lasts at the block's
    /// rate (the block is `STATE_AHEAD_MILLIS` of traffic), between `STATE_POLL_MILLIS` and
    /// `STATE_POLL_MAX_MILLIS`.
    fn next_look(&mut self, shared: Shared<'_>, now: Instant) -> Option<Duration> {
        let values = shared.values();
        let in_use = self.in_use();
        let mut quiet_millis = STATE_POLL_MAX_MILLIS;
        let mut need = false;
        for c in 0..2 {
            let value = values[c].0;
            let (headroom, block) = (in_use[c].saturating_sub(value), self.block(c, value, now));
            need |= headroom < block / 2;
            let lasts_millis = (headroom - headroom.min(block / 2)).saturating_mul(STATE_AHEAD_MILLIS) / block;
            quiet_millis = quiet_millis.min(lasts_millis / 2);
        }
        for (c, look) in self.look.iter_mut().enumerate() {
            *look = (values[c].0, now);
        }
        (!need).then(|| Duration::from_millis(quiet_millis.max(STATE_POLL_MILLIS)))
    }

    /// The reserving thread's loop, until `stop`: look every `STATE_POLL_MILLIS` to `STATE_POLL_MAX_MILLIS`
    /// (`next_look`), write when a counter runs low.
    /// A failed sync makes the process not ready, is logged once, and is retried every `STATE_RETRY_MILLIS`
    /// (each retry rewrites the whole record, so a page the kernel dropped after the error is written again).
    pub fn run(&mut self, shared: Shared<'_>, stop: &Stop) {
        let mut failing: Option<Instant> = None;
        while !stop.requested() {
            let now = Instant::now();
            let due = failing.is_none_or(|retry_at| now >= retry_at);
            let next_look = self.next_look(shared, now);
            if due && next_look.is_none() {
                match self.reserve(shared, now) {
                    Ok(took) => {
                        shared.stats.synced(took);
                        if failing.take().is_some() {
                            log::info("state file syncs again", &[]);
                        }
                    }
                    Err(e) => {
                        shared.stats.sync_failed();
                        shared.lifecycle.set_store_ok(false);
                        if failing.is_none() {
                            log::error("state file sync failed; requests beyond the ceiling get 503", &[("error", &e)]);
                        }
                        failing = Some(now + Duration::from_millis(STATE_RETRY_MILLIS));
                    }
                }
                continue;
            }
            let values = shared.values();
            let room = shared.ceilings().iter().zip(values).all(|(ceiling, (value, _))| *ceiling > value);
            if failing.is_none() && room {
                shared.lifecycle.set_store_ok(true);
            }
            let failing_poll = Duration::from_millis(STATE_POLL_MILLIS);
            std::thread::sleep(if failing.is_some() { failing_poll } else { next_look.unwrap_or(failing_poll) });
        }
    }

    /// A clean stop, once no worker runs: both slots get the exact values (the older first, so a crash between
    /// the two leaves a gap, never a repeat), and a restart continues right after them.
    pub fn close(mut self, shared: Shared<'_>) -> std::io::Result<[u64; 2]> {
        let exact = [shared.status.handed_out_max(), shared.status_v2.handed_out_max()];
        let values = shared.values();
        for _ in 0..format::SLOTS {
            let slot = (self.next % 2) as usize;
            let mark = |c: usize| Mark { floor: exact[c], ceiling: exact[c], last_changed: values[c].1 };
            let record = Record { sequence: self.next, clean: true, counters: [mark(0), mark(1)] };
            self.file.write_slot(slot, &format::encode(&record))?;
            self.slots[slot] = record;
            self.next += 1;
        }
        Ok(exact)
    }
}

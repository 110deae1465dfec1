//! Scenario tests, named after the interleaving they explore. Each runs `loom::model`, which executes the
//! closure under every interleaving of its threads (bounded by `LOOM_MAX_PREEMPTIONS`, see `model`).

use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;

use loom_tests::counter::{AtomicCounter, MutexCounter, Snapshot};
use loom_tests::lifecycle::{Lifecycle, Phase};

/// Runs `f` under loom with a preemption bound. Three preemptions reach every ordering of the few atomic
/// operations these scenarios have (each thread does at most two increments = four atomic RMWs); the loom
/// authors note most bugs need at most two. Override with LOOM_MAX_PREEMPTIONS.
fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

/// What every scenario asserts about the snapshots each thread saw, in the order it saw them.
fn check_histories(per_thread: &[Vec<Snapshot>], clocks: &[Vec<u64>]) {
    let mut all: Vec<u64> = per_thread.iter().flatten().map(|s| s.counter).collect();
    all.sort_unstable();
    let n = all.len() as u64;
    assert_eq!(all, (1..=n).collect::<Vec<_>>(), "values must be exactly 1..n, all distinct");
    for (history, clock) in per_thread.iter().zip(clocks) {
        for (s, now) in history.iter().zip(clock) {
            assert_eq!(s.status(), s.counter % 2 == 1, "status is the parity of its own counter");
            assert!(s.last_changed >= *now, "lastChanged is at least the caller's clock");
        }
        for w in history.windows(2) {
            assert!(w[1].counter > w[0].counter, "a thread's later increment has a larger counter");
            assert!(w[1].last_changed >= w[0].last_changed, "and never an earlier lastChanged");
        }
    }
}

/// `threads` threads, each incrementing once per clock value it is given.
macro_rules! race {
    ($counter:expr, $clocks:expr) => {{
        let counter = Arc::new($counter);
        let clocks: Vec<Vec<u64>> = $clocks;
        let handles: Vec<_> = clocks
            .iter()
            .cloned()
            .map(|clock| {
                let counter = Arc::clone(&counter);
                thread::spawn(move || clock.iter().map(|&now| counter.increment(now)).collect::<Vec<_>>())
            })
            .collect();
        let histories: Vec<Vec<Snapshot>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        check_histories(&histories, &clocks);
        let total: usize = clocks.iter().map(Vec::len).sum();
        let latest = clocks.iter().flatten().copied().max().unwrap_or(0);
        let end = counter.peek();
        assert_eq!(end.counter, total as u64, "no increment lost");
        assert_eq!(end.last_changed, latest, "lastChanged ends at the latest clock any increment saw");
    }};
}

#[test]
fn atomic_two_threads_two_increments_each_with_clocks_out_of_order() {
    // Thread 0's clock is ahead of thread 1's: lastChanged must still never go backwards for anyone.
    model(|| race!(AtomicCounter::new(), vec![vec![10, 11], vec![9, 10]]));
}

#[test]
fn atomic_three_threads_one_increment_each() {
    model(|| race!(AtomicCounter::new(), vec![vec![5], vec![7], vec![6]]));
}

#[test]
fn mutex_two_threads_two_increments_each_with_clocks_out_of_order() {
    model(|| race!(MutexCounter::new(), vec![vec![10, 11], vec![9, 10]]));
}

#[test]
fn mutex_three_threads_one_increment_each() {
    model(|| race!(MutexCounter::new(), vec![vec![5], vec![7], vec![6]]));
}

#[test]
fn lifecycle_drain_and_stop_racing_never_go_backwards() {
    model(|| {
        let life = Arc::new(Lifecycle::new());
        let stopper = {
            let life = Arc::clone(&life);
            thread::spawn(move || life.advance(Phase::Stopping))
        };
        let drainer = {
            let life = Arc::clone(&life);
            thread::spawn(move || life.advance(Phase::Draining))
        };
        // A worker watching the phase sees it only move forward, and readiness only ever turns off.
        let first = life.phase();
        let ready = life.is_ready();
        let second = life.phase();
        let ready_again = life.is_ready();
        assert!(second >= first, "the phase only moves forward");
        assert!(ready || !ready_again, "once not ready, never ready again");
        stopper.join().unwrap();
        drainer.join().unwrap();
        assert_eq!(life.phase(), Phase::Stopping, "Stopping wins whatever order the signals arrive in");
        assert!(!life.is_ready());
    });
}

/// A deliberately broken counter: load then store instead of one read-modify-write. Loom must find the
/// interleaving where both threads read the same value and one increment is lost.
struct RacyCounter {
    value: AtomicU64,
}

impl RacyCounter {
    fn increment(&self) -> u64 {
        // ORDERING: SeqCst does not help: the bug is the gap between the load and the store.
        let n = self.value.load(Ordering::SeqCst) + 1;
        self.value.store(n, Ordering::SeqCst);
        n
    }
}

#[test]
#[should_panic(expected = "values must be exactly 1..n")]
fn racy_load_then_store_counter_is_caught() {
    model(|| {
        let counter = Arc::new(RacyCounter { value: AtomicU64::new(0) });
        let other = {
            let counter = Arc::clone(&counter);
            thread::spawn(move || counter.increment())
        };
        let mine = counter.increment();
        let theirs = other.join().unwrap();
        let snapshots =
            [vec![Snapshot { counter: mine, last_changed: 0 }], vec![Snapshot { counter: theirs, last_changed: 0 }]];
        check_histories(&snapshots, &[vec![0], vec![0]]);
    });
}

/// `--state-file`'s ceiling, modelled: `disk` stands for what the file durably reserves. The reserving thread
/// writes it, then raises the counter's ceiling (as `state::State::reserve` does after its sync); two workers
/// hand out only what `increment_within` grants. Every value handed out must already be on the disk when it is
/// handed out, values stay distinct, and none passes the final ceiling. `raise_first` is the bug the negative
/// model plants: the ceiling raised before the reservation is durable.
trait Bounded: Send + Sync + 'static {
    fn take(&self, now: u64) -> Option<Snapshot>;
    fn value(&self) -> u64;
    fn raise(&self, ceiling: u64);
    fn bound(&self) -> (u64, u64);
}

impl Bounded for AtomicCounter {
    fn take(&self, now: u64) -> Option<Snapshot> {
        self.increment_within(now)
    }
    fn value(&self) -> u64 {
        self.peek().counter
    }
    fn raise(&self, ceiling: u64) {
        self.raise_ceiling(ceiling)
    }
    fn bound(&self) -> (u64, u64) {
        (self.handed_out_max(), self.ceiling())
    }
}

impl Bounded for MutexCounter {
    fn take(&self, now: u64) -> Option<Snapshot> {
        self.increment_within(now)
    }
    fn value(&self) -> u64 {
        self.peek().counter
    }
    fn raise(&self, ceiling: u64) {
        self.raise_ceiling(ceiling)
    }
    fn bound(&self) -> (u64, u64) {
        (self.handed_out_max(), self.ceiling())
    }
}

fn durable_scenario<C: Bounded>(counter: C, raise_first: bool) {
    let counter = Arc::new(counter);
    let disk = Arc::new(AtomicU64::new(0));
    let reserver = {
        let (counter, disk) = (Arc::clone(&counter), Arc::clone(&disk));
        thread::spawn(move || {
            let ceiling = counter.value() + 2;
            if raise_first {
                counter.raise(ceiling);
            }
            // ORDERING: Relaxed: the model's sync; the Release in raise_ceiling publishes it to the workers.
            disk.store(ceiling, Ordering::Relaxed);
            if !raise_first {
                counter.raise(ceiling);
            }
        })
    };
    let worker = |counter: Arc<C>, disk: Arc<AtomicU64>| {
        move || {
            let snapshot = counter.take(1)?;
            // ORDERING: Relaxed: the Acquire in increment_within already ordered this after the disk store.
            let durable = disk.load(Ordering::Relaxed);
            assert!(snapshot.counter <= durable, "value {} handed out above the durable {durable}", snapshot.counter);
            Some(snapshot.counter)
        }
    };
    let other = thread::spawn(worker(Arc::clone(&counter), Arc::clone(&disk)));
    let mine = worker(Arc::clone(&counter), Arc::clone(&disk))();
    let theirs = other.join().unwrap();
    reserver.join().unwrap();
    assert!(mine.is_none() || mine != theirs, "a value handed out twice");
    let (handed, ceiling) = counter.bound();
    assert!(handed <= ceiling && ceiling <= disk.load(Ordering::Relaxed), "nothing above the durable ceiling");
}

#[test]
fn durable_atomic_ceiling_raised_while_two_workers_take_values_never_outruns_the_disk() {
    model(|| durable_scenario(AtomicCounter::resume(0, 0), false));
}

#[test]
fn durable_mutex_ceiling_raised_while_two_workers_take_values_never_outruns_the_disk() {
    model(|| durable_scenario(MutexCounter::resume(0, 0), false));
}

#[test]
#[should_panic(expected = "handed out above the durable")]
fn durable_ceiling_raised_before_the_sync_is_caught() {
    model(|| durable_scenario(AtomicCounter::resume(0, 0), true));
}

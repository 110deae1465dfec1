//! Sequential contract of the counters (the concurrent one is model-checked in loom-tests/).

use counter::counter::{AtomicCounter, MutexCounter, Snapshot};

#[test]
fn first_increment_is_one_and_odd() {
    let a = AtomicCounter::new();
    let m = MutexCounter::new();
    for s in [a.increment(100), m.increment(100)] {
        assert_eq!(s, Snapshot { counter: 1, last_changed: 100 });
        assert!(s.status());
    }
    assert!(!a.increment(100).status());
    assert_eq!(a.peek().counter, 2);
}

#[test]
fn last_changed_never_goes_back() {
    let a = AtomicCounter::new();
    let m = MutexCounter::new();
    assert_eq!(a.increment(200).last_changed, 200);
    assert_eq!(a.increment(199).last_changed, 200);
    assert_eq!(m.increment(200).last_changed, 200);
    assert_eq!(m.increment(199).last_changed, 200);
    assert_eq!(m.increment(201).last_changed, 201);
}

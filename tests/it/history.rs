//! The history checker's own tests (tests/support/history.rs): a violation of each kind planted in an otherwise
//! clean history is found, with its records; a clean history passes; and the load driver's history of the real
//! server (memory mode, pipelining clients) passes every check.

use std::time::{Duration, Instant};

use crate::support::history::{check, History, Outcome, Record, Violation, ANSWER_DEADLINE};
use crate::support::load::{Load, LoadSpec};
use crate::support::Server;

fn ms(origin: Instant, n: u64) -> Instant {
    origin + Duration::from_millis(n)
}

/// Three clients, each on its own connection, taking turns: value v sent at 10v ms, answered 5 ms later.
fn clean(origin: Instant) -> Vec<Record> {
    (1..=30).map(|v| Record::ok(v as usize % 3, v % 3, ms(origin, 10 * v), ms(origin, 10 * v + 5), v)).collect()
}

#[test]
fn a_clean_history_passes_with_its_counts() {
    let origin = Instant::now();
    let mut records = clean(origin);
    records.push(Record::other(0, 0, ms(origin, 400), ms(origin, 401), Outcome::Status(503)));
    records.push(Record::other(1, 1, ms(origin, 400), ms(origin, 402), Outcome::Closed));
    // Concurrent requests may take values in either order: 100 was sent first but got the larger value.
    records.push(Record::ok(0, 7, ms(origin, 500), ms(origin, 600), 101));
    records.push(Record::ok(1, 8, ms(origin, 510), ms(origin, 520), 100));
    let report = check(&records);
    report.assert_clean();
    assert_eq!((report.requests, report.values, report.unavailable, report.closed), (34, 32, 1, 1));
    assert_eq!(report.highest, Some(101));
}

#[test]
fn a_value_handed_out_twice_is_a_duplicate_with_both_records() {
    let origin = Instant::now();
    let mut records = clean(origin);
    // Concurrent with value 20's request, so only the uniqueness check can see it.
    let twice = Record::ok(5, 50, ms(origin, 199), ms(origin, 206), 20);
    records.push(twice);
    let report = check(&records);
    assert_eq!((report.duplicates, report.real_time, report.connection, report.unanswered), (1, 0, 0, 0), "{report}");
    let Violation::Duplicate { first, second } = report.violations[0] else { panic!("{report}") };
    assert_eq!([first.value, second.value], [Some(20), Some(20)]);
    assert!(first == twice || second == twice, "{report}");
}

#[test]
fn a_value_below_one_already_received_is_a_real_time_violation() {
    let origin = Instant::now();
    let mut records = clean(origin);
    // Sent after 30 was received (at 305 ms), on a new connection, with a value never handed out: smaller.
    let stale = Record::ok(4, 40, ms(origin, 400), ms(origin, 401), 25);
    records.retain(|r| r.value != Some(25));
    records.push(stale);
    let report = check(&records);
    assert_eq!((report.duplicates, report.real_time, report.connection), (0, 1, 0), "{report}");
    let Violation::RealTime { before, after } = report.violations[0] else { panic!("{report}") };
    assert_eq!((before.value, after), (Some(30), stale));
}

#[test]
fn a_connection_whose_values_fall_is_a_per_connection_violation() {
    let origin = Instant::now();
    // Two pipelined requests on one connection, sent together and answered together (so real time orders
    // nothing between them), the second with the smaller value: one batch's values delivered out of order.
    let records =
        vec![Record::ok(0, 9, ms(origin, 0), ms(origin, 10), 2), Record::ok(0, 9, ms(origin, 0), ms(origin, 10), 1)];
    let report = check(&records);
    assert_eq!((report.duplicates, report.real_time, report.connection), (0, 0, 1), "{report}");
    let Violation::Connection { earlier, later } = report.violations[0] else { panic!("{report}") };
    assert_eq!((earlier.value, later.value), (Some(2), Some(1)));
}

#[test]
fn a_request_answered_late_or_never_is_unanswered_unless_the_server_was_paused() {
    let origin = Instant::now();
    let slow = ANSWER_DEADLINE + Duration::from_millis(1);
    let late = Record::ok(0, 1, origin, origin + slow, 1);
    let hung = Record::other(1, 2, origin, origin + Duration::from_secs(1), Outcome::NoAnswer);
    let in_time = Record::other(2, 3, origin, origin + ANSWER_DEADLINE, Outcome::Closed);
    let report = check(&[late, hung, in_time]);
    assert_eq!((report.unanswered, report.no_answer), (2, 1), "{report}");
    assert!(matches!(report.violations[0], Violation::Unanswered { record, .. } if record == late));
    assert!(matches!(report.violations[1], Violation::Unanswered { record, .. } if record == hung));

    // The server stopped for 2 s (in two overlapping windows) while `late` waited: within its deadline now.
    let mut history = History::new();
    history.push(late);
    history.pause(ms(origin, 1000), ms(origin, 2000));
    history.pause(ms(origin, 1500), ms(origin, 3000));
    history.check().assert_clean();
    // A pause before the request was sent buys it nothing.
    let mut history = History::new();
    history.push(Record::ok(0, 1, ms(origin, 5000), ms(origin, 5000) + slow, 1));
    history.pause(origin, ms(origin, 4000));
    assert_eq!(history.check().unanswered, 1);
}

#[test]
fn a_status_other_than_200_and_503_is_reported() {
    let origin = Instant::now();
    let report = check(&[Record::other(0, 1, origin, ms(origin, 1), Outcome::Status(500))]);
    assert_eq!(report.statuses, 1, "{report}");
    assert!(!report.is_clean());
}

#[test]
fn violations_are_counted_all_but_kept_first_ten() {
    let origin = Instant::now();
    let records: Vec<Record> = (0..50).map(|i| Record::ok(0, i, ms(origin, i), ms(origin, i + 1), 7)).collect();
    let report = check(&records);
    assert_eq!(report.duplicates, 49);
    assert!(report.violations.iter().filter(|v| matches!(v, Violation::Duplicate { .. })).count() == 10);
    assert!(History { records, pauses: vec![] }.dump().lines().count() == 51);
}

#[test]
fn the_real_server_under_pipelined_load_gives_a_clean_history() {
    let server = Server::start_with(&["--workers", "2"], &[]);
    let load = Load::start(&[server.addr], LoadSpec { clients: 6, pipeline: 8, ..LoadSpec::default() });
    assert!(load.wait_for_200s(3000, Duration::from_secs(30)), "no load");
    let history = load.finish();
    let report = history.check();
    report.assert_clean();
    assert!(report.values >= 3000 && report.unavailable == 0, "{report}");
    // Memory mode hands out 1, 2, 3, ... with no gap while the process lives.
    assert_eq!(report.highest, Some(report.values as u64), "{report}");
}

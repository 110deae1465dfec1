//! Redis mode against a hostile Redis (`tests/support/hostile_redis.rs`): a scripted RESP server that answers a
//! chosen command with the wrong reply type, a value that cannot be a counter, NOSCRIPT, a stall, a late reply,
//! a close, or its reply one byte at a time. Under pipelined load, each case must end in 200s with values the
//! server handed out for them, or 503s: the history checker finds no value twice, every connection's values
//! increasing and every request answered; and 200s come back once the server behaves. No redis-server needed.

use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::hostile_redis::{now_secs, pair, Action, Command, HostileRedis, Script};
use crate::support::load::{Load, LoadSpec};
use crate::support::{eventually, Server};

const NOSCRIPT: &[u8] = b"-NOSCRIPT No matching script. Please use EVAL.\r\n";

/// What one case expects beyond a clean history.
struct Expect {
    /// Scripted actions that must have happened before the run ends.
    fired: usize,
    /// Some request must have been answered 503 (the case hits a batch).
    some_503: bool,
    /// Also wait for this before counting the 200s after the faults.
    until: Option<Arc<AtomicBool>>,
}

/// Starts the hostile server with `script`, a counter process with 2 workers on it (`url` from the server's
/// port, `extra` flags), pipelined load until the script fired and 100 more 200s came, then checks.
/// Returns the counter's log.
fn run(url: impl Fn(u16) -> String, extra: &[&str], script: Script, expect: Expect) -> String {
    let redis = HostileRedis::start(script);
    let url = url(redis.port);
    let mut args = vec!["--backend", "redis", "--redis-url", &url, "--workers", "2"];
    args.extend_from_slice(extra);
    let server = Server::start_with(&args, &[]);
    let spec = LoadSpec { clients: 4, pipeline: 4, give_up: Duration::from_secs(30), ..LoadSpec::default() };
    let load = Load::start(&[server.addr], spec);
    let until = || expect.until.as_ref().is_none_or(|flag| flag.load(Ordering::Relaxed));
    let fired = eventually(Duration::from_secs(30), || redis.fired() >= expect.fired && until());
    let recovered = load.wait_for_200s(100, Duration::from_secs(30));
    let history = load.finish();
    let report = history.check();
    report.assert_clean();
    assert!(fired, "the script fired {} of {} times\n{}", redis.fired(), expect.fired, server.log_text());
    assert!(recovered, "no 200s after the faults:\n{report}\n{}", server.log_text());
    for r in &history.records {
        if let Some(v) = r.value {
            assert!(redis.was_issued(v), "value {v} was never handed out by the server for a script call");
        }
    }
    if expect.some_503 {
        assert!(report.unavailable > 0, "the hit batch must answer 503:\n{report}");
    }
    server.log_text()
}

fn plain(port: u16) -> String {
    format!("redis://127.0.0.1:{port}")
}

/// The `nth` script call of the run (counting every connection) gets `action`; everything else is normal.
fn at_call(nth: usize, action: impl Fn(&Command) -> Action + Send + 'static) -> Script {
    Box::new(move |c: &Command, n| if c.name() == "EVALSHA" && n == nth { action(c) } else { Action::Normal })
}

#[test]
fn hostile_redis_wrong_reply_types_where_a_pair_is_expected() {
    let replies: [&[u8]; 10] = [
        b":5\r\n",
        b"+OK\r\n",
        b"$-1\r\n",
        b"*-1\r\n",
        b"$3\r\nabc\r\n",
        b"*2\r\n*1\r\n:1\r\n:2\r\n",
        b"*3\r\n:1\r\n:2\r\n:3\r\n",
        b"*4\r\n:0\r\n:1000\r\n:1700000000\r\n:0\r\n", // neither the common nor the full shape
        b"-ERR Error running script: boom\r\n",
        b"%1\r\n", // not RESP2 at all
    ];
    for reply in replies {
        let bytes = reply.to_vec();
        run(
            plain,
            &[],
            at_call(5, move |_| Action::Reply(bytes.clone())),
            Expect { fired: 1, some_503: true, until: None },
        );
    }
}

#[test]
fn hostile_redis_values_that_cannot_be_counters_and_times_out_of_range() {
    let cases: [fn(&Command) -> Vec<u8>; 8] = [
        |_| pair(0, now_secs()),
        |_| pair(-5, now_secs()),
        |c| pair(c.batch_size().unwrap_or(1) as i64 - 1, now_secs()), // first value would be 0
        |_| b"*5\r\n:0\r\n:99999999999999999999\r\n:1700000000\r\n:0\r\n:0\r\n".to_vec(), // past i64
        |_| b"*5\r\n:9223372037\r\n:0\r\n:1700000000\r\n:0\r\n:0\r\n".to_vec(), // hi * 10^9 past i64
        |_| pair(1 << 40, 253_402_300_800),                           // year 10000
        |_| pair(1 << 40, -1),                                        // before 1970
        |_| pair(1 << 40, i64::MAX),
    ];
    for reply in cases {
        // The hit batch fails; a bogus TIME or value must not poison the batches after it.
        run(plain, &[], at_call(5, move |c| Action::Reply(reply(c))), Expect { fired: 1, some_503: true, until: None });
    }
}

#[test]
fn hostile_redis_noscript_for_some_batches_in_flight() {
    let script: Script = Box::new(|c: &Command, n| match c.name().as_str() {
        "EVALSHA" if n % 3 == 1 && n < 60 => Action::Reply(NOSCRIPT.to_vec()),
        _ => Action::Normal,
    });
    let log = run(plain, &[], script, Expect { fired: 10, some_503: true, until: None });
    // (A timeout on a loaded machine may still drop a link; a protocol fault would mean NOSCRIPT did.)
    assert!(!log.contains("fault=Protocol"), "NOSCRIPT keeps the connection:\n{log}");
}

#[test]
fn hostile_redis_replies_after_their_deadline() {
    run(
        plain,
        &[],
        at_call(5, |_| Action::Delay(Duration::from_millis(1500))),
        Expect { fired: 1, some_503: true, until: None },
    );
    let late_load: Script = Box::new(|c: &Command, n| match c.name().as_str() {
        "SCRIPT LOAD" if n == 0 => Action::Delay(Duration::from_millis(1500)),
        _ => Action::Normal,
    });
    run(plain, &[], late_load, Expect { fired: 1, some_503: false, until: None });
}

#[test]
fn hostile_redis_close_mid_pipeline_and_bytewise_replies() {
    run(plain, &[], at_call(5, |_| Action::Close), Expect { fired: 1, some_503: true, until: None });
    let bytewise: Script = Box::new(|_: &Command, n| if n < 40 { Action::Bytewise } else { Action::Normal });
    let log = run(plain, &[], bytewise, Expect { fired: 40, some_503: false, until: None });
    assert!(!log.contains("fault=Protocol"), "replies split into single bytes are read whole:\n{log}");
}

/// A stall (the connection never answers again) at `command`'s `nth` occurrence: the link's deadline for that
/// command fires, the requests waiting get 503, and the link reconnects.
fn stall_at(command: &'static str, nth: usize) -> Script {
    Box::new(move |c: &Command, n| if c.name() == command && n == nth { Action::Stall } else { Action::Normal })
}

#[test]
fn hostile_redis_stall_at_every_kind_of_command() {
    let with_password = |port| format!("redis://:pw@127.0.0.1:{port}");
    let with_db = |port| format!("redis://127.0.0.1:{port}/3");
    let hit = Expect { fired: 1, some_503: true, until: None };
    let setup = || Expect { fired: 1, some_503: false, until: None };
    run(with_password, &[], stall_at("AUTH", 0), setup());
    run(with_db, &[], stall_at("SELECT", 0), setup());
    run(plain, &[], stall_at("SCRIPT LOAD", 0), setup());
    run(plain, &[], stall_at("EVAL", 0), setup()); // the handshake's process-identity probe
    run(plain, &[], stall_at("EVALSHA", 5), hit);
    run(plain, &["--redis-wait-replicas", "1"], stall_at("WAIT", 5), Expect { fired: 1, some_503: true, until: None });
    // SCRIPT LOAD after a NOSCRIPT, behind batches in flight.
    let reload: Script = Box::new(|c: &Command, n| match c.name().as_str() {
        "EVALSHA" if n == 5 => Action::Reply(NOSCRIPT.to_vec()),
        "SCRIPT LOAD" if n == 2 => Action::Stall,
        _ => Action::Normal,
    });
    run(plain, &[], reload, Expect { fired: 2, some_503: true, until: None });
}

#[test]
fn hostile_redis_stall_at_asking_after_an_ask_redirect() {
    let port = Arc::new(AtomicU16::new(0));
    let asked = Arc::new(AtomicBool::new(false));
    let (p, a) = (Arc::clone(&port), Arc::clone(&asked));
    // From the 6th script call on, every call is redirected until the first ASKING arrives: were one batch
    // behind the redirected one answered normally, the redirect would be void (its node served the slot after
    // all) and no ASKING would ever come. At most 4 batches are in flight, below the redirect bound.
    let script: Script = Box::new(move |c: &Command, n| match c.name().as_str() {
        "EVALSHA" if n >= 5 && !a.load(Ordering::Relaxed) => {
            Action::Reply(format!("-ASK 1 127.0.0.1:{}\r\n", p.load(Ordering::Relaxed)).into_bytes())
        }
        "ASKING" if n == 0 => {
            a.store(true, Ordering::Relaxed);
            Action::Stall
        }
        _ => Action::Normal,
    });
    let url = move |p: u16| {
        port.store(p, Ordering::Relaxed);
        plain(p)
    };
    run(url, &[], script, Expect { fired: 2, some_503: true, until: Some(asked) });
}

#[test]
fn hostile_redis_stall_at_sentinel_and_role() {
    // The server answers as a Sentinel too, naming itself as the primary.
    for kind in ["SENTINEL GET-MASTER-ADDR-BY-NAME", "ROLE"] {
        run_sentinel(kind);
    }
}

/// Sentinel mode against the hostile server as both Sentinel and primary, stalling at `kind` once.
fn run_sentinel(kind: &'static str) {
    let redis = HostileRedis::start(stall_at(kind, 0));
    let sentinels = format!("127.0.0.1:{}", redis.port);
    let url = plain(redis.port);
    let args = ["--backend", "redis", "--redis-url", &url, "--workers", "2", "--redis-sentinels", &sentinels];
    let server = Server::start_with(&args, &[]);
    let spec = LoadSpec { clients: 4, pipeline: 4, give_up: Duration::from_secs(30), ..LoadSpec::default() };
    let load = Load::start(&[server.addr], spec);
    let fired = eventually(Duration::from_secs(30), || redis.fired() >= 1);
    let recovered = load.wait_for_200s(100, Duration::from_secs(30));
    let history = load.finish();
    history.check().assert_clean();
    assert!(fired && recovered, "{kind}: fired {fired}, recovered {recovered}\n{}", server.log_text());
    assert!(history.records.iter().filter_map(|r| r.value).all(|v| redis.was_issued(v)));
}

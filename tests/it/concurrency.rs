//! The original service's concurrency test, over TCP: many clients at once, the set of returned counters is
//! exactly 1..N with no duplicates, and every status matches its counter's parity.

use std::collections::BTreeSet;
use std::io::{BufReader, Write};

use crate::support::{read_response, Server};

fn hammer(path: &'static str) {
    const CLIENTS: usize = 16;
    const REQUESTS: usize = 250;
    let server = Server::start_with(&["--workers", "2"], &[]);
    let threads: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let mut r = BufReader::new(server.connect());
            std::thread::spawn(move || {
                let mut seen = Vec::with_capacity(REQUESTS);
                for j in 0..REQUESTS {
                    // Alternate single requests and small pipelined bursts.
                    let burst = if (i + j) % 5 == 0 { 3 } else { 1 };
                    let req = format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").repeat(burst);
                    r.get_mut().write_all(req.as_bytes()).unwrap();
                    for _ in 0..burst {
                        let json = read_response(&mut r, false).unwrap().json();
                        let n = json["counter"].as_u64().unwrap();
                        assert_eq!(json["status"].as_bool(), Some(n % 2 == 1));
                        seen.push(n);
                    }
                }
                seen
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        let seen = t.join().unwrap();
        // Each client sees its own values strictly increasing.
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
        all.extend(seen);
    }
    let set: BTreeSet<u64> = all.iter().copied().collect();
    assert_eq!(set.len(), all.len(), "duplicate counter values");
    assert_eq!(set, (1..=all.len() as u64).collect::<BTreeSet<_>>(), "values are not exactly 1..N");
}

#[test]
fn concurrent_clients_get_exactly_one_to_n_atomic() {
    hammer("/status");
}

#[test]
fn concurrent_clients_get_exactly_one_to_n_mutex() {
    hammer("/statusV2");
}

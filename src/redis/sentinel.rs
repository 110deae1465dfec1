//! Sentinel discovery, as the Redis Sentinel client guidelines describe it: ask each Sentinel in turn for the
//! primary's address (`SENTINEL get-master-addr-by-name`), the one that answered first next time. Owns the list,
//! its order, the query bytes, reading the answer and the per-Sentinel fault log; not the sockets or the name
//! lookups, which `link.rs` drives in the worker's Poll (names through `resolve.rs`, never on the worker thread).
//! https://redis.io/docs/latest/develop/reference/sentinel-clients/

use super::fault::{self, Fault};
use super::resp::Listing;
use super::script;
use crate::config::SentinelAddr;
use crate::limits::SENTINELS_MAX;
use crate::log;
use crate::metrics::Slot;

pub struct Sentinels {
    addrs: Vec<SentinelAddr>,
    /// Indices into `addrs`, the one to ask first at the head. Guidelines: the Sentinel that answered moves to
    /// the head, so a dead one costs a timeout once, not on every discovery.
    order: Vec<usize>,
    /// How many of `order` this round has tried.
    tried: usize,
    /// AUTH (if the Sentinels have a password) and the question, built once.
    query: Vec<u8>,
    authenticates: bool,
    /// The last fault logged per Sentinel, so a dead Sentinel is logged once per change, not per discovery.
    logged: [Option<Fault>; SENTINELS_MAX],
}

/// What a Sentinel's answer means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The primary's announced host (an IP address, or a name with `announce-hostnames yes`) and port.
    Primary(String, u16),
    /// A null reply: this Sentinel does not monitor a primary under that name.
    Unknown,
    /// Not an address pair: a Sentinel out of step, or not a Sentinel.
    Garbled,
}

impl Sentinels {
    pub fn new(addrs: Vec<SentinelAddr>, master_name: &str, password: Option<&str>) -> Sentinels {
        let mut query = Vec::new(); // built once per link
        if let Some(password) = password {
            script::command(&mut query, &[b"AUTH", password.as_bytes()]);
        }
        script::command(&mut query, &[b"SENTINEL", b"get-master-addr-by-name", master_name.as_bytes()]);
        let order = (0..addrs.len()).collect();
        Sentinels { addrs, order, tried: 0, query, authenticates: password.is_some(), logged: [None; SENTINELS_MAX] }
    }

    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }

    /// A new discovery round: every Sentinel may be asked once, the last one that answered first.
    pub fn start_round(&mut self) {
        self.tried = 0;
    }

    /// The next Sentinel to ask this round: (index in the configured list, its address). None: all were tried.
    pub fn next_to_ask(&mut self) -> Option<(usize, &SentinelAddr)> {
        let index = *self.order.get(self.tried)?;
        self.tried += 1;
        Some((index, &self.addrs[index]))
    }

    /// Sentinel `index` failed to name the primary: count it, and log it once per change of fault.
    pub fn failed(&mut self, index: usize, fault: Fault, stats: &Slot, worker: usize, master_name: &str) {
        stats.redis_sentinel_fault(index, fault::sentinel_label(fault));
        if self.logged[index] == Some(fault) {
            return;
        }
        self.logged[index] = Some(fault);
        let fields: [(&str, &dyn std::fmt::Display); 4] = [
            ("worker", &worker),
            ("sentinel", &self.addrs[index]),
            ("master_name", &master_name),
            ("fault", &format_args!("{fault:?}")),
        ];
        match fault {
            Fault::SentinelAuth => {
                log::error("sentinel refused our credentials (check REDIS_SENTINEL_PASSWORD)", &fields)
            }
            Fault::UnknownMaster => log::error("sentinel does not monitor this master name", &fields),
            _ => log::warn("sentinel unavailable", &fields),
        }
    }

    /// Sentinel `index` answered: ask it first from now on.
    pub fn answered(&mut self, index: usize) {
        self.logged[index] = None;
        if let Some(at) = self.order.iter().position(|&i| i == index) {
            self.order[..=at].rotate_right(1);
        }
    }

    pub fn query(&self) -> &[u8] {
        &self.query
    }

    pub fn authenticates(&self) -> bool {
        self.authenticates
    }
}

/// Reads `SENTINEL get-master-addr-by-name`'s reply: `[host, port]`, or null for a name the Sentinel does not
/// know. Sentinels announce IP addresses unless `announce-hostnames yes`; a name is resolved by the link's
/// resolver thread, like the URL's host. Allocates the host: once per discovery, never per request.
pub fn answer(listing: &Listing<'_>) -> Answer {
    let Listing::Items(items) = listing else {
        return if matches!(listing, Listing::Other(super::resp::Reply::NullArray)) {
            Answer::Unknown
        } else {
            Answer::Garbled
        };
    };
    let (Some(host), Some(port)) = (items.bulk(0), items.bulk(1)) else { return Answer::Garbled };
    let (Ok(host), Some(port)) =
        (std::str::from_utf8(host), std::str::from_utf8(port).ok().and_then(|p| p.parse::<u16>().ok()))
    else {
        return Answer::Garbled;
    };
    if host.is_empty() {
        return Answer::Garbled;
    }
    Answer::Primary(host.to_string(), port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::resp::parse_listing;

    fn sentinels(n: usize) -> Sentinels {
        let addrs = (0..n).map(|i| SentinelAddr { host: format!("s{i}"), port: 26379 }).collect();
        Sentinels::new(addrs, "m", None)
    }

    #[test]
    fn each_sentinel_once_per_round_and_the_one_that_answered_first() {
        let mut s = sentinels(3);
        s.start_round();
        let round: Vec<usize> = std::iter::from_fn(|| s.next_to_ask().map(|(i, _)| i)).collect();
        assert_eq!(round, [0, 1, 2]);
        s.answered(2);
        s.start_round();
        let round: Vec<usize> = std::iter::from_fn(|| s.next_to_ask().map(|(i, _)| i)).collect();
        assert_eq!(round, [2, 0, 1]);
        s.answered(1);
        s.start_round();
        assert_eq!(s.next_to_ask().map(|(i, _)| i), Some(1));
    }

    #[test]
    fn answers() {
        let parse = |raw: &'static [u8]| parse_listing(raw).unwrap().unwrap().0;
        assert_eq!(
            answer(&parse(b"*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n")),
            Answer::Primary("127.0.0.1".into(), 6380)
        );
        assert_eq!(
            answer(&parse(b"*2\r\n$11\r\nredis-0.svc\r\n$4\r\n6379\r\n")),
            Answer::Primary("redis-0.svc".into(), 6379),
            "a name is handed on, not resolved here"
        );
        assert_eq!(answer(&parse(b"*-1\r\n")), Answer::Unknown);
        assert_eq!(answer(&parse(b"*2\r\n$9\r\n127.0.0.1\r\n$2\r\nxx\r\n")), Answer::Garbled);
        assert_eq!(answer(&parse(b"-ERR no\r\n")), Answer::Garbled);
        let s = Sentinels::new(vec![], "m", Some("pw"));
        assert!(s.query().starts_with(b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*3\r\n$8\r\nSENTINEL\r\n"));
    }
}

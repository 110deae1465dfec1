//! Sentinel discovery, as the Redis Sentinel client guidelines describe it: ask each Sentinel in turn for the
//! primary's address (`SENTINEL get-master-addr-by-name`), the one that answered first next time. Owns the list,
//! its order and the query bytes; not the sockets, which `link.rs` drives in the worker's Poll.
//! https://redis.io/docs/latest/develop/reference/sentinel-clients/

use std::net::{IpAddr, SocketAddr};

use super::resp::Listing;
use super::script;
use crate::config::SentinelAddr;

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
}

/// What a Sentinel's answer means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Primary(SocketAddr),
    /// A null reply: this Sentinel does not monitor a primary under that name.
    Unknown,
    /// Not an address pair: a Sentinel out of step, or not a Sentinel.
    Garbled,
}

impl Sentinels {
    pub fn new(addrs: Vec<SentinelAddr>, master_name: &str, password: Option<&str>) -> Sentinels {
        let mut query = Vec::with_capacity(128);
        if let Some(password) = password {
            script::command(&mut query, &[b"AUTH", password.as_bytes()]);
        }
        script::command(&mut query, &[b"SENTINEL", b"get-master-addr-by-name", master_name.as_bytes()]);
        let order = (0..addrs.len()).collect();
        Sentinels { addrs, order, tried: 0, query, authenticates: password.is_some() }
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

    /// Sentinel `index` answered: ask it first from now on.
    pub fn answered(&mut self, index: usize) {
        if let Some(at) = self.order.iter().position(|&i| i == index) {
            self.order[..=at].rotate_right(1);
        }
    }

    pub fn addr(&self, index: usize) -> &SentinelAddr {
        &self.addrs[index]
    }

    pub fn query(&self) -> &[u8] {
        &self.query
    }

    pub fn authenticates(&self) -> bool {
        self.authenticates
    }
}

/// Reads `SENTINEL get-master-addr-by-name`'s reply: `[ip, port]`, or null for a name the Sentinel does not know.
/// Sentinels announce IP addresses unless `announce-hostnames yes`; then the name is resolved here, at discovery
/// time (see `link.rs` on blocking resolution).
pub fn answer(listing: &Listing<'_>) -> Answer {
    use std::net::ToSocketAddrs;
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
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Answer::Primary(SocketAddr::new(ip, port));
    }
    match (host, port).to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(addr)) => Answer::Primary(addr),
        _ => Answer::Garbled,
    }
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
            Answer::Primary("127.0.0.1:6380".parse().unwrap())
        );
        assert_eq!(answer(&parse(b"*-1\r\n")), Answer::Unknown);
        assert_eq!(answer(&parse(b"*2\r\n$9\r\n127.0.0.1\r\n$2\r\nxx\r\n")), Answer::Garbled);
        assert_eq!(answer(&parse(b"-ERR no\r\n")), Answer::Garbled);
        let s = Sentinels::new(vec![], "m", Some("pw"));
        assert!(s.query().starts_with(b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*3\r\n$8\r\nSENTINEL\r\n"));
    }
}

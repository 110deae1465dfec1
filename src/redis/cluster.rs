//! Redis Cluster redirects for the link: which node the link talks to, the batches a `-MOVED` or `-ASK` sent
//! elsewhere, and the bound on redirect loops. Owns the redirect rules; not the socket, the reply queue or the timers
//! (`link.rs`, `replies.rs`), nor the reply framing (`resp.rs`).
//!
//! Cluster mode is detected, not configured: a server that is not a cluster never answers `-MOVED`, so a plain
//! or managed single-endpoint Redis pays nothing, and a cluster endpoint works without a flag. The counter's
//! keys share the `{counter}` hash tag, so every batch lives in one slot and one node serves them all.
//!
//! - `-MOVED slot host:port`: the batch was not run. The link reconnects to that node, remembers it while the
//!   connection lives, and sends the batch there: re-sending is safe because Redis said it did not run it.
//! - `-ASK slot host:port`: the slot is migrating; the batch goes to that node behind `ASKING`, once. The link
//!   stays there: the next batch without ASKING runs if the node owns the slot by then, or is MOVED back.
//! - After any fault the link starts again from the URL's endpoint, resolved again: a node's address learnt from
//!   a redirect is never reused across a reconnect (a failover may have moved it), the cluster tells us anew.

use std::collections::VecDeque;

use super::replies::BatchId;
use crate::config::RedisTarget;
use crate::limits::{REDIS_REDIRECTED_BATCHES, REDIS_REDIRECTS_MAX};

/// A redirect's destination and kind, parsed from the error text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    pub ask: bool,
    pub host: String,
    pub port: u16,
}

/// Parses `MOVED 3999 127.0.0.1:6381` / `ASK 3999 host:6381`. An empty host (`:6381`, a node that does not know
/// its own address) means the host the link is connected to. IPv6 hosts come unbracketed (`::1:6381`), so the
/// port is after the last colon. Runs only when a redirect arrives, never per request.
pub fn parse_redirect(message: &[u8], current_host: &str) -> Option<Redirect> {
    let text = std::str::from_utf8(message).ok()?;
    let mut words = text.split(' ');
    let ask = match words.next()? {
        "MOVED" => false,
        "ASK" => true,
        _ => return None,
    };
    let _slot: u16 = words.next()?.parse().ok()?;
    let (host, port) = words.next()?.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = if host.is_empty() { current_host } else { host };
    Some(Redirect { ask, host: host.to_string(), port: port.parse().ok()? })
}

/// What the link must do after a redirect reply.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Keep reading: other batches in flight still answer on this connection.
    Wait,
    /// Too many redirects without a value: fail what waits and back off.
    TooMany,
}

pub struct Cluster {
    /// The node the link connects to: None is the URL's host and port.
    node: Option<(String, u16)>,
    /// The batches (identity, size) a redirect turned away, oldest first, to send on the next connection.
    resend: VecDeque<(BatchId, usize)>,
    /// Where they go, and whether behind ASKING. The last redirect wins: they all name the slot's new home.
    pending: Option<Redirect>,
    /// Redirects since the last batch that returned a value.
    hops: u32,
}

impl Cluster {
    pub fn new() -> Cluster {
        Cluster { node: None, resend: VecDeque::with_capacity(REDIS_REDIRECTED_BATCHES), pending: None, hops: 0 }
    }

    /// Host and port to connect to now.
    pub fn endpoint<'a>(&'a self, target: &'a RedisTarget) -> (&'a str, u16) {
        match &self.node {
            Some((host, port)) => (host.as_str(), *port),
            None => (target.host.as_str(), target.port),
        }
    }

    /// The name a TLS certificate must carry on the current node: the redirect's host name, or the URL's host
    /// when the cluster names its nodes by IP address (managed clusters' certificates name the endpoint).
    pub fn tls_name<'a>(&'a self, target: &'a RedisTarget) -> &'a str {
        match &self.node {
            Some((host, _)) if host.parse::<std::net::IpAddr>().is_err() => host.as_str(),
            _ => target.host.as_str(),
        }
    }

    /// Batch `batch` of `k` was redirected: it waits for the next connection.
    pub fn redirected(&mut self, batch: BatchId, k: usize, redirect: Redirect) -> Verdict {
        self.hops = self.hops.saturating_add(1);
        self.resend.push_back((batch, k));
        self.pending = Some(redirect);
        if self.hops > REDIS_REDIRECTS_MAX {
            Verdict::TooMany
        } else {
            Verdict::Wait
        }
    }

    /// A batch returned a value: the redirect chain ended.
    pub fn served(&mut self) {
        self.hops = 0;
    }

    /// Batches waiting to be re-sent on the next connection: the link counts as ready meanwhile, so requests
    /// wait for the node switch (a few milliseconds) instead of failing.
    pub fn waiting(&self) -> usize {
        self.resend.len()
    }

    /// A redirect is pending: no new batch goes to this connection, which is about to be replaced.
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// A later batch ran on this node after all (the slot came back): the redirect is void. Hands back the
    /// batches that waited, so the caller answers them 503 before the later batch's value, in order.
    pub fn abandon(&mut self) -> impl Iterator<Item = (BatchId, usize)> + '_ {
        self.pending = None;
        self.resend.drain(..)
    }

    /// True once a redirect is pending and nothing else is in flight on this connection: time to switch nodes.
    pub fn should_switch(&self, batches_in_flight: usize) -> bool {
        self.pending.is_some() && batches_in_flight == 0
    }

    /// Points the link at the pending redirect's node; returns whether the re-sent batches need ASKING.
    pub fn switch(&mut self) -> bool {
        match self.pending.take() {
            Some(Redirect { ask, host, port }) => {
                self.node = Some((host, port));
                ask
            }
            None => false,
        }
    }

    /// The batches to re-send now that the new connection is ready.
    pub fn take_resend(&mut self) -> Option<(BatchId, usize)> {
        self.resend.pop_front()
    }

    /// The link failed: forget the node (the URL is resolved again) and hand back every batch that waited, so
    /// the caller answers them 503 in order.
    pub fn reset(&mut self) -> impl Iterator<Item = (BatchId, usize)> + '_ {
        self.node = None;
        self.pending = None;
        self.hops = 0;
        self.resend.drain(..)
    }
}

impl Default for Cluster {
    fn default() -> Cluster {
        Cluster::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_texts() {
        let r = parse_redirect(b"MOVED 3999 127.0.0.1:6381", "h").unwrap();
        assert_eq!(r, Redirect { ask: false, host: "127.0.0.1".into(), port: 6381 });
        let r = parse_redirect(b"ASK 1 node-2.cache.example:6379", "h").unwrap();
        assert_eq!((r.ask, r.host.as_str(), r.port), (true, "node-2.cache.example", 6379));
        assert_eq!(parse_redirect(b"MOVED 7 :7000", "seed").unwrap().host, "seed");
        assert_eq!(parse_redirect(b"MOVED 7 ::1:7000", "seed").unwrap().host, "::1");
        for bad in [&b"MOVED"[..], b"MOVED x 1.2.3.4:1", b"MOVED 1 1.2.3.4", b"MOVED 1 h:99999", b"ERR x", b"\xff"] {
            assert_eq!(parse_redirect(bad, "h"), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn redirects_are_bounded_and_reset() {
        let mut c = Cluster::new();
        let target = crate::config::parse_redis_url("redis://seed:1").unwrap();
        for i in 0..REDIS_REDIRECTS_MAX {
            let r = Redirect { ask: i % 2 == 1, host: "10.0.0.2".into(), port: 2 };
            assert_eq!(c.redirected(BatchId(u64::from(i)), 1, r), Verdict::Wait);
            assert!(c.should_switch(0) && !c.should_switch(1));
            c.switch();
            assert_eq!(c.endpoint(&target), ("10.0.0.2", 2));
            assert_eq!(c.tls_name(&target), "seed", "an IP node is verified as the URL's host");
        }
        let r = Redirect { ask: false, host: "n".into(), port: 3 };
        assert_eq!(c.redirected(BatchId(99), 1, r), Verdict::TooMany);
        assert_eq!(c.reset().count(), REDIS_REDIRECTS_MAX as usize + 1);
        assert_eq!(c.endpoint(&target), ("seed", 1), "after a fault, back to the URL");
    }
}

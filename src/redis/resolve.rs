//! Host name resolution for the Redis link, off the worker's loop: one helper thread per link runs the blocking
//! getaddrinfo (std's `ToSocketAddrs`: /etc/hosts, then DNS) and posts the answer; the link polls for it. Owns
//! the thread and the request/answer pairing; not when to resolve (every reconnect, `link.rs`).
//!
//! Why a thread: getaddrinfo blocks, and with an unreachable DNS server it blocks for resolv.conf's
//! `timeout × attempts` (10 s by default), during which a worker resolving inline would answer nobody, /health
//! included. Nothing is cached here: each reconnect asks again, so a managed endpoint whose name moved to a
//! promoted replica is followed, and glibc without nscd caches nothing either.

use std::net::SocketAddr;
use std::net::ToSocketAddrs;

use crate::sync::mpsc;

/// One request: (sequence, host, port).
type Request = (u64, String, u16);

pub struct Resolver {
    requests: mpsc::Sender<Request>,
    answers: mpsc::Receiver<(u64, Option<SocketAddr>)>,
    /// The latest request; older answers (a slow lookup the link stopped waiting for) are dropped.
    seq: u64,
}

impl Resolver {
    /// Starts the helper thread; it ends when the Resolver is dropped (its request channel closes).
    pub fn start(worker: usize) -> std::io::Result<Resolver> {
        let (requests, inbox) = mpsc::channel::<Request>();
        let (outbox, answers) = mpsc::channel();
        std::thread::Builder::new().name(format!("redis-resolve-{worker}")).spawn(move || {
            for (seq, host, port) in inbox {
                let addr = (host.as_str(), port).to_socket_addrs().ok().and_then(|mut addrs| addrs.next());
                if outbox.send((seq, addr)).is_err() {
                    return;
                }
            }
        })?;
        Ok(Resolver { requests, answers, seq: 0 })
    }

    /// Asks for `host:port`; the answer is collected with `answer`. Returns false if the thread is gone.
    pub fn ask(&mut self, host: &str, port: u16) -> bool {
        self.seq += 1;
        self.requests.send((self.seq, host.to_string(), port)).is_ok()
    }

    /// The latest request's answer: None while it is pending, `Some(None)` when the name did not resolve (or
    /// the thread is gone), `Some(Some(addr))` with the first address.
    pub fn answer(&mut self) -> Option<Option<SocketAddr>> {
        loop {
            match self.answers.try_recv() {
                Ok((seq, addr)) if seq == self.seq => return Some(addr),
                Ok(_) => continue, // an answer to a request we gave up on
                Err(mpsc::TryRecvError::Empty) => return None,
                Err(mpsc::TryRecvError::Disconnected) => return Some(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn wait(r: &mut Resolver) -> Option<SocketAddr> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(answer) = r.answer() {
                return answer;
            }
            assert!(Instant::now() < deadline, "no answer");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn resolves_off_thread_and_keeps_only_the_latest_answer() {
        let mut r = Resolver::start(0).unwrap();
        assert!(r.ask("localhost", 7));
        assert!(r.ask("127.0.0.1", 8));
        assert_eq!(wait(&mut r), Some("127.0.0.1:8".parse().unwrap()), "the first answer is stale");
        // (No failing lookup here: any name outside /etc/hosts would send a DNS query off this machine.)
    }
}

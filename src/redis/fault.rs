//! Why the Redis link failed, and what follows from it: which faults mean "not the primary (any more)", the
//! one log line per change of fault, and the reconnect backoff. Owns fault classification and backoff; not the
//! socket or the state machine (`link.rs`), nor the replies' pairing with batches (`replies.rs`).
//!
//! A fault *is* its metrics label: `metrics::RedisFault` sits below `redis/` and names every kind, so the link
//! counts what it logs without a translation table.

use std::time::Duration;

use super::resp::RedisErrorKind;
use crate::limits::{REDIS_BACKOFF_FIRST_MILLIS, REDIS_BACKOFF_MAX_MILLIS, REDIS_REDISCOVER_MAX_MILLIS};
use crate::log;
pub use crate::metrics::RedisFault as Fault;
use crate::metrics::SentinelFault;

/// The fault an error reply means when it ends the connection (`Other` and unparsable redirects: `Protocol`).
pub fn of_error(kind: RedisErrorKind) -> Fault {
    match kind {
        RedisErrorKind::Loading => Fault::Loading,
        RedisErrorKind::Busy => Fault::Busy,
        RedisErrorKind::ReadOnly => Fault::ReadOnly,
        RedisErrorKind::NoReplicas => Fault::NoReplicas,
        RedisErrorKind::MasterDown => Fault::MasterDown,
        RedisErrorKind::TryAgain | RedisErrorKind::ClusterDown => Fault::Cluster,
        RedisErrorKind::NoAuth | RedisErrorKind::WrongPass => Fault::Auth,
        RedisErrorKind::NoScript
        | RedisErrorKind::Moved
        | RedisErrorKind::Ask
        | RedisErrorKind::Exhausted
        | RedisErrorKind::Other => Fault::Protocol,
    }
}

/// Means "this node is not the primary (any more)": find the primary again soon, not at the backoff's pace.
pub fn not_primary(fault: Fault) -> bool {
    matches!(fault, Fault::NotPrimary | Fault::ReadOnly | Fault::NoReplicas | Fault::MasterDown | Fault::Loading)
}

/// The `kind` label of one Sentinel's failure to name the primary.
pub fn sentinel_label(fault: Fault) -> SentinelFault {
    match fault {
        Fault::Resolve | Fault::Connect => SentinelFault::Connect,
        Fault::Timeout => SentinelFault::Timeout,
        Fault::SentinelAuth | Fault::Auth => SentinelFault::Auth,
        Fault::UnknownMaster => SentinelFault::UnknownMaster,
        _ => SentinelFault::Other,
    }
}

/// The log line for the link going down with `fault`: an operator's mistake is an error, the rest warnings.
pub fn log_down(fault: Fault, fields: &[(&str, &dyn std::fmt::Display)]) {
    let message = match fault {
        Fault::Auth => "redis refused our credentials (check REDIS_PASSWORD / the URL)",
        Fault::Tls => "redis TLS failed",
        Fault::NoSentinel => "no sentinel named a primary",
        f if not_primary(f) => "redis node is not the primary (any more); finding it again",
        _ => "redis unavailable",
    };
    if matches!(fault, Fault::Auth | Fault::NoSentinel | Fault::Tls) {
        log::error(message, fields)
    } else {
        log::warn(message, fields)
    }
}

/// Consecutive failed attempts and the reconnect delay they earn.
pub struct Backoff {
    /// Consecutive failed attempts since the link was last ready.
    pub failures: u32,
    rng: u64,
}

impl Backoff {
    pub fn new(seed: u64) -> Backoff {
        Backoff { failures: 0, rng: seed | 1 }
    }

    /// One more failure: the delay before the next attempt. Capped exponential backoff with jitter in [50%, 100%]
    /// of the step, so workers and pods that lost Redis together do not reconnect in lockstep. `rediscover`: a
    /// failover is under way and the new primary is usually named within a second, so look again at least that
    /// often; everything else backs off to the cap, so a Redis down for long is not hammered by every worker.
    pub fn next(&mut self, rediscover: bool) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let step = REDIS_BACKOFF_FIRST_MILLIS.saturating_mul(1 << self.failures.min(16)).min(REDIS_BACKOFF_MAX_MILLIS);
        // xorshift64: plenty for jitter.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let delay = Duration::from_millis(step / 2 + self.rng % (step / 2 + 1));
        if rediscover {
            delay.min(Duration::from_millis(REDIS_REDISCOVER_MAX_MILLIS))
        } else {
            delay
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_cap_with_jitter_and_rediscovery_is_quick() {
        let mut b = Backoff::new(7);
        let first = b.next(false);
        assert!(first >= Duration::from_millis(REDIS_BACKOFF_FIRST_MILLIS) && first <= Duration::from_millis(200));
        for _ in 0..40 {
            assert!(b.next(false) <= Duration::from_millis(REDIS_BACKOFF_MAX_MILLIS));
        }
        assert!(b.next(false) >= Duration::from_millis(REDIS_BACKOFF_MAX_MILLIS / 2));
        assert!(b.next(true) <= Duration::from_millis(REDIS_REDISCOVER_MAX_MILLIS));
    }
}

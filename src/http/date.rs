//! The dates one worker's responses carry: a `DateCache` that formats the `Date` header once a second and
//! `lastChanged` once per distinct second. The worker passes the clock in, once per loop iteration; the
//! formatting itself is `calendar.rs`.
//!
//! Each worker owns its cache, so no two threads ever share a buffer.

use crate::calendar::{imf_fixdate, rfc3339};
/// The lengths of what the cache hands out, so response rendering can size its fields by them.
pub use crate::calendar::{IMF_FIXDATE_LEN, RFC3339_LEN};

/// One worker's formatted dates. Refreshed by the worker loop; read by response rendering.
#[derive(Clone, Debug)]
pub struct DateCache {
    now_secs: u64,
    imf: [u8; IMF_FIXDATE_LEN],
    stamp_secs: u64,
    stamp: [u8; RFC3339_LEN],
}

impl DateCache {
    pub fn new(now_secs: u64) -> DateCache {
        DateCache { now_secs, imf: imf_fixdate(now_secs), stamp_secs: now_secs, stamp: rfc3339(now_secs) }
    }

    /// Moves the cache to `now_secs`; reformats only when the second changed.
    pub fn refresh(&mut self, now_secs: u64) {
        if now_secs != self.now_secs {
            self.now_secs = now_secs;
            self.imf = imf_fixdate(now_secs);
        }
    }

    pub fn now_secs(&self) -> u64 {
        self.now_secs
    }

    /// The `Date` header value for the current second.
    pub fn imf(&self) -> &[u8; IMF_FIXDATE_LEN] {
        &self.imf
    }

    /// The RFC 3339 form of `unix_secs`, formatted only when it differs from the last one asked for.
    pub fn rfc3339(&mut self, unix_secs: u64) -> &[u8; RFC3339_LEN] {
        if unix_secs != self.stamp_secs {
            self.stamp_secs = unix_secs;
            self.stamp = rfc3339(unix_secs);
        }
        &self.stamp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_reformats_only_on_change() {
        let mut d = DateCache::new(784_111_777);
        d.refresh(784_111_778);
        assert_eq!(d.imf(), b"Sun, 06 Nov 1994 08:49:38 GMT");
        assert_eq!(d.rfc3339(1_702_269_908), b"2023-12-11T04:45:08Z");
        assert_eq!(d.now_secs(), 784_111_778);
    }
}

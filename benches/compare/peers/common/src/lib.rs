//! Shared logic for the Rust counter peers.
//!
//! Every GET /status increments one process-wide counter and answers
//! `{"counter":N,"status":B,"lastChanged":"YYYY-MM-DDTHH:MM:SSZ"}` where
//! `B = N is odd` (the status toggles on every increment, starting from
//! `false` at counter 0) and `lastChanged` is the current UTC time with
//! seconds precision.
//!
//! The body is rendered into a small stack buffer with hand-written integer
//! formatting; the RFC3339 timestamp is cached per thread and rebuilt only
//! when the wall-clock second changes.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The one global counter.
pub static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Largest possible body: 11 + 20 + 10 + 5 + 16 + 20 + 2 = 84 bytes.
pub const MAX_BODY: usize = 96;

/// Increment the counter and return the new value.
#[inline]
pub fn next_count() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed) + 1
}

/// Convert days since 1970-01-01 to a (year, month, day) civil date
/// (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = (z - era * 146_097) as u64; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe as i64 + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[inline]
fn two(buf: &mut [u8], at: usize, v: u32) {
    buf[at] = b'0' + (v / 10) as u8;
    buf[at + 1] = b'0' + (v % 10) as u8;
}

/// Format unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (20 bytes).
pub fn rfc3339_utc(secs: u64) -> [u8; 20] {
    let days = (secs / 86_400) as i64;
    let sod = (secs % 86_400) as u32;
    let (y, m, d) = civil_from_days(days);
    let mut b = *b"0000-00-00T00:00:00Z";
    let y = y as u32;
    b[0] = b'0' + (y / 1000 % 10) as u8;
    b[1] = b'0' + (y / 100 % 10) as u8;
    b[2] = b'0' + (y / 10 % 10) as u8;
    b[3] = b'0' + (y % 10) as u8;
    two(&mut b, 5, m);
    two(&mut b, 8, d);
    two(&mut b, 11, sod / 3600);
    two(&mut b, 14, sod / 60 % 60);
    two(&mut b, 17, sod % 60);
    b
}

thread_local! {
    static TS_CACHE: Cell<(u64, [u8; 20])> = const { Cell::new((u64::MAX, [0u8; 20])) };
}

/// Current UTC time as RFC3339 with seconds precision, cached per thread.
#[inline]
pub fn now_rfc3339() -> [u8; 20] {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    TS_CACHE.with(|c| {
        let (cached_secs, cached) = c.get();
        if cached_secs == secs {
            cached
        } else {
            let s = rfc3339_utc(secs);
            c.set((secs, s));
            s
        }
    })
}

/// Write the decimal digits of `n` into `out` starting at `at`; returns the new end.
#[inline]
fn put_u64(out: &mut [u8; MAX_BODY], mut at: usize, mut n: u64) -> usize {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let digits = &tmp[i..];
    out[at..at + digits.len()].copy_from_slice(digits);
    at += digits.len();
    at
}

#[inline]
fn put(out: &mut [u8; MAX_BODY], at: usize, s: &[u8]) -> usize {
    out[at..at + s.len()].copy_from_slice(s);
    at + s.len()
}

/// Render the JSON body for counter value `n` into `out`; returns its length.
#[inline]
pub fn render_body(n: u64, out: &mut [u8; MAX_BODY]) -> usize {
    let mut at = put(out, 0, b"{\"counter\":");
    at = put_u64(out, at, n);
    at = put(
        out,
        at,
        if n & 1 == 1 { b",\"status\":true,\"lastChanged\":\"" } else { b",\"status\":false,\"lastChanged\":\"" },
    );
    at = put(out, at, &now_rfc3339());
    put(out, at, b"\"}")
}

/// Increment the counter and render the body; returns (buffer, length).
#[inline]
pub fn next_body() -> ([u8; MAX_BODY], usize) {
    let mut out = [0u8; MAX_BODY];
    let n = next_count();
    let len = render_body(n, &mut out);
    (out, len)
}

/// Port from env var PORT, else the given default.
pub fn port_from_env(default: u16) -> u16 {
    std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(default)
}

/// Worker count from env var WORKERS, else 1.
pub fn workers_from_env() -> usize {
    std::env::var("WORKERS").ok().and_then(|p| p.parse().ok()).filter(|&w: &usize| w >= 1).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(&rfc3339_utc(0), b"1970-01-01T00:00:00Z");
        assert_eq!(&rfc3339_utc(1_702_269_908), b"2023-12-11T04:45:08Z");
        assert_eq!(&rfc3339_utc(951_782_400), b"2000-02-29T00:00:00Z");
        assert_eq!(&rfc3339_utc(4_102_444_799), b"2099-12-31T23:59:59Z");
    }

    #[test]
    fn body() {
        let mut out = [0u8; MAX_BODY];
        let n = render_body(305_689, &mut out);
        let s = std::str::from_utf8(&out[..n]).unwrap();
        assert!(s.starts_with("{\"counter\":305689,\"status\":true,\"lastChanged\":\""));
        assert!(s.ends_with("Z\"}"));
        let n = render_body(u64::MAX - 1, &mut out);
        let s = std::str::from_utf8(&out[..n]).unwrap();
        assert!(s.starts_with("{\"counter\":18446744073709551614,\"status\":false,"));
        assert_eq!(s.len(), 84);
    }
}

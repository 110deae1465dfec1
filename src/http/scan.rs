//! The one-pass head scanner of the hot path: it walks a request head once, eight bytes at a time where it
//! can, validating every byte while it looks for the line ends, and hands each header field to the caller as
//! it passes (so nothing is stored and nothing is walked twice).
//!
//! It accepts only the strict form every real client sends: no empty lines before the request line, single
//! spaces, a visible-ASCII target, `HTTP/1.0` or `HTTP/1.1`, CRLF line ends, visible ASCII (and tabs) in field
//! values, and every limit respected. For anything else it answers `None`, and `request.rs` hands the bytes to
//! httparse, which reaches every verdict off the fast path. So the scanner never has to be right about an
//! error; it only has to agree with httparse on what it accepts: `tests/http_oracle.rs` and the `http_oracle`
//! fuzz target check exactly that.
//!
//! Why not httparse on the hot path: it validates the head, then the caller walks the fields again to find
//! Host and Content-Length, and its `&str` results cost a UTF-8 validation of bytes that are only compared.
//! Here the one walk does all three. It owns no framing rule: those stay in `request.rs`.

use crate::limits::{HEADERS_MAX, HEADER_BYTES_MAX, METHOD_BYTES_MAX, TARGET_BYTES_MAX};

/// A request head the scanner accepted, its fields already handed to the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head<'b> {
    pub method: &'b [u8],
    pub target: &'b [u8],
    /// An origin-form target (`/...`): where its query or fragment begins (or its length), found on the way.
    pub query_at: Option<usize>,
    /// `HTTP/1.<minor>`: 0 or 1.
    pub minor: u8,
    /// Bytes of the head, the blank line included.
    pub len: usize,
}

/// Scans the head at the front of `buf`, calling `field(name, value)` for each header field in order (the
/// value without surrounding whitespace, as httparse gives it). `None`: not the strict common form, not all
/// there yet, or `field` said stop (returned false); the caller then takes the general path.
pub fn head<'b>(buf: &'b [u8], mut field: impl FnMut(&'b [u8], &'b [u8]) -> bool) -> Option<Head<'b>> {
    // A head over the limit is not the common form: only the first HEADER_BYTES_MAX bytes are ever looked at.
    let buf = &buf[..buf.len().min(HEADER_BYTES_MAX)];
    let method_len = method_len(buf)?;
    let target_at = method_len + 1;
    // The target's bytes, stopping once at the first '?' or '#': the routing path ends there.
    let mut version_at = first_outside::<true>(buf, target_at, b'!');
    let query = matches!(buf.get(version_at), Some(b'?' | b'#')).then_some(version_at - target_at);
    if query.is_some() {
        version_at = first_outside::<false>(buf, version_at + 1, b'!');
    }
    let target_len = version_at - target_at;
    if target_len == 0 || target_len > TARGET_BYTES_MAX {
        return None;
    }
    let origin_form = buf[target_at] == b'/';
    let query_at = origin_form.then_some(query.unwrap_or(target_len));
    let minor = match buf.get(version_at..version_at + 11)? {
        b" HTTP/1.1\r\n" => 1,
        b" HTTP/1.0\r\n" => 0,
        _ => return None,
    };
    let mut at = version_at + 11;
    let mut fields = 0;
    loop {
        let line = buf.get(at..)?;
        if line.starts_with(b"\r\n") {
            let method = &buf[..method_len];
            let target = &buf[target_at..version_at];
            return Some(Head { method, target, query_at, minor, len: at + 2 });
        }
        fields += 1;
        if fields > HEADERS_MAX {
            return None;
        }
        let name_len = line.iter().position(|&b| !TCHAR[usize::from(b)])?;
        if name_len == 0 || line[name_len] != b':' {
            return None;
        }
        let mut value_at = at + name_len + 1;
        while matches!(buf.get(value_at), Some(b' ' | b'\t')) {
            value_at += 1;
        }
        let cr = value_end(buf, value_at)?;
        let value = buf[value_at..cr].trim_ascii_end(); // only SP and HTAB can be there
        if !field(&line[..name_len], value) {
            return None;
        }
        at = cr + 2;
    }
}

/// The method's length, if a token of at most `METHOD_BYTES_MAX` bytes followed by a space starts `buf`.
fn method_len(buf: &[u8]) -> Option<usize> {
    if buf.starts_with(b"GET ") {
        return Some(3);
    }
    let len = buf.iter().take(METHOD_BYTES_MAX + 1).position(|&b| !TCHAR[usize::from(b)])?;
    (len > 0 && buf[len] == b' ').then_some(len)
}

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// The high bit of every byte of `word` (little-endian) that is below `low` or above `~` (0x7E): DEL, controls,
/// obs-text. Borrows and carries only ever flag bytes above a truly flagged one, so the lowest flag is exact.
/// `low` must be at most 0x80.
fn outside(word: u64, low: u8) -> u64 {
    let below = word.wrapping_sub(ONES * u64::from(low)) & !word;
    let del_or_high = word.wrapping_add(ONES) | word;
    (below | del_or_high) & HIGHS
}

/// The high bit of every byte of `word` equal to `byte` (exact at the lowest flag, like `outside`).
fn equal(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Index of the first byte at or after `from` that `outside(_, low)` flags (with `QUERY`: or that is '?' or
/// '#'), or `buf.len()`.
fn first_outside<const QUERY: bool>(buf: &[u8], from: usize, low: u8) -> usize {
    let mut i = from;
    while let Some(word) = buf.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        let word = u64::from_le_bytes(*word);
        let mut flags = outside(word, low);
        if QUERY {
            flags |= equal(word, b'?') | equal(word, b'#');
        }
        if flags != 0 {
            return i + (flags.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    let stop = |b: u8| b < low || b > b'~' || (QUERY && (b == b'?' || b == b'#'));
    match buf.get(i..).and_then(|tail| tail.iter().position(|&b| stop(b))) {
        Some(j) => i + j,
        None => buf.len(),
    }
}

/// The index of the CR of the CRLF ending the field value that starts at `from`, if every byte before it is
/// visible ASCII, a space or a tab (httparse also takes obs-text, which the general path handles).
fn value_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        let stop = first_outside::<false>(buf, i, b' ');
        match (buf.get(stop)?, buf.get(stop + 1)) {
            (b'\r', Some(b'\n')) => return Some(stop),
            (b'\t', _) => i = stop + 1,
            _ => return None,
        }
    }
}

/// RFC 9110 §5.6.2 tchar, the bytes of a method or a field name (httparse's table).
const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let extra = b"!#$%&'*+-.^_`|~";
    let mut i = 0;
    while i < extra.len() {
        table[extra[i] as usize] = true;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_flags_exactly_the_first_byte_out_of_range() {
        for low in [b' ', b'!'] {
            for first in 0..8 {
                for bad in [0u8, b'\t', b'\r', low - 1, 0x7f, 0x80, 0xff] {
                    // Everything before `first` in range, anything at all after it.
                    let mut word = [b'a'; 8];
                    word[first] = bad;
                    for (k, w) in word.iter_mut().enumerate().skip(first + 1) {
                        *w = [0u8, 0xff, b' ', 0x7f][k % 4];
                    }
                    let flags = outside(u64::from_le_bytes(word), low);
                    assert_eq!(flags.trailing_zeros() / 8, first as u32, "{word:?} low {low}");
                }
            }
            for b in low..=b'~' {
                assert_eq!(outside(u64::from_le_bytes([b; 8]), low), 0, "{b}");
            }
        }
    }

    #[test]
    fn scans_a_common_head_once() {
        let raw = b"GET /status?x=1 HTTP/1.1\r\nHost: a:1\r\nUser-Agent:  wrk \t\r\nAccept:\r\n\r\nNEXT";
        let mut seen = Vec::new();
        let head = head(raw, |n, v| {
            seen.push((n, v));
            true
        });
        let len = raw.len() - 4;
        let target = b"/status?x=1";
        assert_eq!(head, Some(Head { method: b"GET", target, query_at: Some(7), minor: 1, len }));
        assert_eq!(seen, [(&b"Host"[..], &b"a:1"[..]), (b"User-Agent", b"wrk"), (b"Accept", b"")]);
    }

    #[test]
    fn leaves_the_rest_to_the_general_path() {
        for raw in [
            &b"GET /a HTTP/1.1\r\nHost: a\r\n"[..],       // not all there
            b"\r\nGET /a HTTP/1.1\r\nHost: a\r\n\r\n",    // empty line first
            b"GET /a HTTP/1.1\nHost: a\n\n",              // bare LF
            b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", // non-ASCII target
            b"GET /a HTTP/1.1\r\nX: \xc3\xa9\r\n\r\n",    // obs-text value
            b"GET /a HTTP/2.0\r\nHost: a\r\n\r\n",        // another version
            b"GET /a HTTP/1.1\r\nHost : a\r\n\r\n",       // space before colon
            b"GET  /a HTTP/1.1\r\nHost: a\r\n\r\n",       // two spaces
            b"GET /a HTTP/1.1\r\nX: a\rb\r\n\r\n",        // bare CR in a value
        ] {
            assert_eq!(head(raw, |_, _| true), None, "{:?}", String::from_utf8_lossy(raw));
        }
        assert_eq!(head(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n", |_, _| false), None);
    }
}

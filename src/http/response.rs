//! Preformatted responses. The static bytes are named constants; per response only the Content-Length and
//! counter digits (itoa), the 29-byte Date and the 20-byte lastChanged change. Rendering appends to a buffer
//! whose capacity the caller reserved at start, so it never allocates in steady state.

use crate::counter::Snapshot;
use crate::http::date::{IMF_FIXDATE_LEN, RFC3339_LEN};

/// How the response ends the exchange (RFC 9112 §9.3, §9.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persist {
    /// HTTP/1.1 default: no Connection header needed.
    KeepAlive,
    /// HTTP/1.0 client that asked for keep-alive: must be told it got it.
    KeepAlive10,
    /// The last response on this connection.
    Close,
}

/// A status line plus the header fields that never change for it.
#[derive(Clone, Copy, Debug)]
pub struct Kind {
    /// The status code, for metrics (the same digits are in `head`).
    pub code: u16,
    pub head: &'static [u8],
    pub body: &'static [u8],
}

macro_rules! kind {
    ($code:literal $reason:literal, $extra:expr, $body:literal) => {
        Kind {
            code: $code,
            head: concat!("HTTP/1.1 ", $code, " ", $reason, "\r\n", $extra).as_bytes(),
            body: $body.as_bytes(),
        }
    };
}

pub const HEALTH: Kind = kind!(200 "OK", "Content-Type: application/json\r\n", r#"{"status":"ok"}"#);
pub const READY: Kind =
    kind!(200 "OK", "Content-Type: application/json\r\nCache-Control: no-store\r\n", r#"{"ready":true}"#);
pub const NOT_READY: Kind = kind!(503 "Service Unavailable",
    "Content-Type: application/json\r\nCache-Control: no-store\r\n",
    r#"{"ready":false}"#
);
pub const NOT_FOUND: Kind = kind!(404 "Not Found", "Content-Type: application/json\r\n", r#"{"error":"not found"}"#);
pub const METHOD_NOT_ALLOWED: Kind = kind!(405 "Method Not Allowed",
    "Content-Type: application/json\r\nAllow: GET, HEAD\r\n",
    r#"{"error":"method not allowed"}"#
);
/// `OPTIONS *` (RFC 9110 §9.3.7): what the server supports, no content.
pub const SERVER_OPTIONS: Kind = kind!(200 "OK", "Allow: GET, HEAD\r\n", "");
/// A method the server does not recognise (RFC 9110 §15.6.2); the request was well framed, so the
/// connection lives on.
pub const NOT_IMPLEMENTED: Kind =
    kind!(501 "Not Implemented", "Content-Type: application/json\r\n", r#"{"error":"method not implemented"}"#);
pub const BAD_REQUEST: Kind =
    kind!(400 "Bad Request", "Content-Type: application/json\r\n", r#"{"error":"bad request"}"#);
pub const PAYLOAD_TOO_LARGE: Kind =
    kind!(413 "Content Too Large", "Content-Type: application/json\r\n", r#"{"error":"content too large"}"#);
pub const URI_TOO_LONG: Kind =
    kind!(414 "URI Too Long", "Content-Type: application/json\r\n", r#"{"error":"uri too long"}"#);
pub const HEADERS_TOO_LARGE: Kind = kind!(431 "Request Header Fields Too Large",
    "Content-Type: application/json\r\n",
    r#"{"error":"request header fields too large"}"#
);
/// Redis mode, backend unreachable: retry soon (RFC 9110 §10.2.3).
pub const BACKEND_UNAVAILABLE: Kind = kind!(503 "Service Unavailable",
    "Content-Type: application/json\r\nCache-Control: no-store\r\nRetry-After: 1\r\n",
    r#"{"error":"counter backend unavailable"}"#
);
pub const VERSION_NOT_SUPPORTED: Kind = kind!(505 "HTTP Version Not Supported",
    "Content-Type: application/json\r\n",
    r#"{"error":"http version not supported"}"#
);

const COUNTER_HEAD: &[u8] =
    concat!("HTTP/1.1 200 OK\r\n", "Content-Type: application/json\r\n", "Cache-Control: no-store\r\n").as_bytes();

/// `/metrics`: Prometheus text exposition format 0.0.4; never cached (every scrape is a new reading).
pub const METRICS_HEAD: &[u8] = concat!(
    "HTTP/1.1 200 OK\r\n",
    "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n",
    "Cache-Control: no-store\r\n"
)
.as_bytes();

const BODY_COUNTER: &[u8] = br#"{"counter":"#;
const BODY_STATUS_TRUE: &[u8] = br#","status":true,"lastChanged":""#;
const BODY_STATUS_FALSE: &[u8] = br#","status":false,"lastChanged":""#;
const BODY_END: &[u8] = br#""}"#;

/// Appends `Content-Length`, `Date`, the Connection field if any, and the blank line.
fn finish_head(out: &mut Vec<u8>, content_length: usize, date: &[u8; IMF_FIXDATE_LEN], persist: Persist) {
    out.extend_from_slice(b"Content-Length: ");
    out.extend_from_slice(itoa::Buffer::new().format(content_length).as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(date);
    out.extend_from_slice(persist_end(persist));
}

/// The head of a response whose body the caller appends (`HEAD`: not at all): `head` is the status line and
/// the fixed fields.
pub fn head(out: &mut Vec<u8>, head: &[u8], content_length: usize, date: &[u8; IMF_FIXDATE_LEN], persist: Persist) {
    out.extend_from_slice(head);
    finish_head(out, content_length, date, persist);
}

/// A response with a fixed body.
pub fn fixed(out: &mut Vec<u8>, kind: Kind, date: &[u8; IMF_FIXDATE_LEN], persist: Persist, head_only: bool) {
    out.extend_from_slice(kind.head);
    finish_head(out, kind.body.len(), date, persist);
    if !head_only {
        out.extend_from_slice(kind.body);
    }
}

/// The longest counter response: its fixed parts, the longest Connection field, the widest counter (20 digits)
/// and Content-Length (2 digits, see `counter`).
const COUNTER_RESPONSE_MAX: usize = COUNTER_HEAD.len()
    + b"Content-Length: 00\r\nDate: ".len()
    + IMF_FIXDATE_LEN
    + b"\r\nConnection: keep-alive\r\n\r\n".len()
    + BODY_COUNTER.len()
    + 20
    + BODY_STATUS_FALSE.len()
    + RFC3339_LEN
    + BODY_END.len();
const _: () = assert!(COUNTER_RESPONSE_MAX <= crate::limits::RESPONSE_HEAD_BYTES_MAX);

/// A response assembled on the stack and appended to the output in one copy: every piece but the digits has a
/// length known at compile time, so each `put` is a few moves, not a call.
struct Assembled<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Assembled<N> {
    fn new() -> Self {
        Assembled { bytes: [0; N], len: 0 }
    }

    /// Appends `piece`; `N` is the proven maximum, so it always fits (a piece that would not is dropped rather
    /// than panicking, and the tests on the longest counter value would see it).
    fn put(&mut self, piece: &[u8]) {
        if let Some(dst) = self.bytes.get_mut(self.len..self.len + piece.len()) {
            dst.copy_from_slice(piece);
            self.len += piece.len();
        }
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// `{"counter":N,"status":B,"lastChanged":"…Z"}` with its headers, assembled on the stack and appended in one
/// copy (the hot path of every GET /status).
pub fn counter(
    out: &mut Vec<u8>,
    snapshot: Snapshot,
    last_changed: &[u8; RFC3339_LEN],
    date: &[u8; IMF_FIXDATE_LEN],
    persist: Persist,
    head_only: bool,
) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(snapshot.counter).as_bytes();
    let middle = if snapshot.status() { BODY_STATUS_TRUE } else { BODY_STATUS_FALSE };
    // Always two digits: 63 + 1 ..= 64 + 20 (a u64 has at most 20), so it is written as a pair.
    let body_len = BODY_COUNTER.len() + digits.len() + middle.len() + RFC3339_LEN + BODY_END.len();
    const _: () = assert!(BODY_COUNTER.len() + 1 + BODY_STATUS_TRUE.len() + RFC3339_LEN + BODY_END.len() >= 10);
    const _: () = assert!(BODY_COUNTER.len() + 20 + BODY_STATUS_FALSE.len() + RFC3339_LEN + BODY_END.len() < 100);
    let mut r = Assembled::<COUNTER_RESPONSE_MAX>::new();
    r.put(COUNTER_HEAD);
    r.put(b"Content-Length: ");
    r.put(&[b'0' + (body_len / 10) as u8, b'0' + (body_len % 10) as u8]);
    r.put(b"\r\nDate: ");
    r.put(date);
    r.put(persist_end(persist));
    if !head_only {
        r.put(BODY_COUNTER);
        r.put(digits);
        r.put(middle);
        r.put(last_changed);
        r.put(BODY_END);
    }
    out.extend_from_slice(r.as_slice());
}

/// The end of a head after the Date value: the Connection field if any, and the blank line.
fn persist_end(persist: Persist) -> &'static [u8] {
    match persist {
        Persist::KeepAlive => b"\r\n\r\n",
        Persist::KeepAlive10 => b"\r\nConnection: keep-alive\r\n\r\n",
        Persist::Close => b"\r\nConnection: close\r\n\r\n",
    }
}

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
    out.extend_from_slice(match persist {
        Persist::KeepAlive => b"\r\n\r\n",
        Persist::KeepAlive10 => b"\r\nConnection: keep-alive\r\n\r\n",
        Persist::Close => b"\r\nConnection: close\r\n\r\n",
    });
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

/// `{"counter":N,"status":B,"lastChanged":"…Z"}` with its headers.
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
    let body_len = BODY_COUNTER.len() + digits.len() + middle.len() + RFC3339_LEN + BODY_END.len();
    out.extend_from_slice(COUNTER_HEAD);
    finish_head(out, body_len, date, persist);
    if !head_only {
        out.extend_from_slice(BODY_COUNTER);
        out.extend_from_slice(digits);
        out.extend_from_slice(middle);
        out.extend_from_slice(last_changed);
        out.extend_from_slice(BODY_END);
    }
}

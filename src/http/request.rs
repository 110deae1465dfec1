//! Request parsing and the RFC 9112 framing rules. Zero-copy, allocation-free: `parse` borrows the buffer,
//! returns `Partial` (a state, not an error) until a whole request is there, then the request plus the bytes
//! it consumed, so a pipelined buffer is walked with `while let Complete`.
//!
//! The head is parsed by httparse; this file adds what httparse leaves to the caller: Host, Content-Length,
//! Transfer-Encoding and Connection semantics, and the size limits.

use std::mem::MaybeUninit;

use crate::limits::{BODY_BYTES_MAX, HEADERS_MAX, HEADER_BYTES_MAX, TARGET_BYTES_MAX};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// A client mistake, mapped to exactly one status code. `Copy` and allocation-free: the error path costs what
/// the success path costs. Every error closes the connection, since we no longer know where the next request
/// begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// 400: malformed request line or header field, missing or repeated Host, bad or conflicting
    /// Content-Length, any Transfer-Encoding.
    BadRequest,
    /// 413: declared body over `BODY_BYTES_MAX`.
    PayloadTooLarge,
    /// 414: request-target over `TARGET_BYTES_MAX`.
    UriTooLong,
    /// 431: header section over `HEADER_BYTES_MAX` or more than `HEADERS_MAX` fields.
    HeadersTooLarge,
    /// 505: a well-formed HTTP version other than 1.0 and 1.1.
    VersionNotSupported,
}

/// What the server needs to know about one request. `path` is the routing path: absolute-form reduced to its
/// path, query and fragment removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'b> {
    pub method: Method,
    pub path: &'b [u8],
    pub version: Version,
    /// The connection stays open after the response (RFC 9112 §9.3).
    pub keep_alive: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed<'b> {
    /// A whole request (head and any body) of `consumed` bytes is at the front of the buffer.
    Complete { request: Request<'b>, consumed: usize },
    /// More bytes are needed; nothing was consumed.
    Partial,
}

/// Parses the request at the front of `buf`.
pub fn parse(buf: &[u8]) -> Result<Parsed<'_>, HttpError> {
    let mut headers = [MaybeUninit::<httparse::Header<'_>>::uninit(); HEADERS_MAX];
    let mut req = httparse::Request::new(&mut []);
    let head_len = match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return partial(buf),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::HeadersTooLarge),
        Err(httparse::Error::Version) => return Err(version_error(buf)),
        Err(_) => return Err(HttpError::BadRequest),
    };
    if head_len > HEADER_BYTES_MAX {
        return Err(HttpError::HeadersTooLarge);
    }
    // httparse only returns Complete with all three set; treat anything else as malformed, never panic.
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(HttpError::BadRequest);
    };
    if target.len() > TARGET_BYTES_MAX {
        return Err(HttpError::UriTooLong);
    }
    let version = if minor == 0 { Version::Http10 } else { Version::Http11 };
    let fields = Fields::read(req.headers)?;
    // RFC 9112 §3.2: a server MUST respond 400 to an HTTP/1.1 request that lacks Host or has more than one.
    if fields.hosts > 1 || (version == Version::Http11 && fields.hosts == 0) {
        return Err(HttpError::BadRequest);
    }
    let consumed = head_len + fields.content_length;
    if buf.len() < consumed {
        return Ok(Parsed::Partial);
    }
    let keep_alive = match version {
        // RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive".
        Version::Http11 => !fields.close,
        Version::Http10 => fields.keep_alive && !fields.close,
    };
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        _ => Method::Other, // methods are case-sensitive (RFC 9110 §9.1)
    };
    let request = Request { method, path: routing_path(target.as_bytes()), version, keep_alive };
    Ok(Parsed::Complete { request, consumed })
}

/// A head that is not complete yet: fine while it is within the limits.
fn partial(buf: &[u8]) -> Result<Parsed<'_>, HttpError> {
    let line_end = buf.iter().position(|&b| b == b'\n');
    // "GET " + target + " HTTP/1.1\r\n": allow the method and version around the longest target.
    if line_end.is_none() && buf.len() > TARGET_BYTES_MAX + 32 {
        return Err(HttpError::UriTooLong);
    }
    if buf.len() > HEADER_BYTES_MAX {
        return Err(HttpError::HeadersTooLarge);
    }
    Ok(Parsed::Partial)
}

/// httparse says "Version" for anything but HTTP/1.0 and HTTP/1.1. A well-formed `HTTP/x.y` we do not speak is
/// 505 (RFC 9110 §15.6.6); anything else in that place is a malformed request line.
fn version_error(buf: &[u8]) -> HttpError {
    let line = buf.split(|&b| b == b'\n').next().unwrap_or(buf);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or(line);
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] if major.is_ascii_digit() && minor.is_ascii_digit() => {
            HttpError::VersionNotSupported
        }
        _ => HttpError::BadRequest,
    }
}

/// The header fields that change framing or connection handling.
#[derive(Default)]
struct Fields {
    hosts: usize,
    content_length: usize,
    close: bool,
    keep_alive: bool,
}

impl Fields {
    fn read(headers: &[httparse::Header<'_>]) -> Result<Fields, HttpError> {
        let mut fields = Fields::default();
        let mut seen_length: Option<usize> = None;
        for h in headers {
            let name = h.name.as_bytes();
            if name.eq_ignore_ascii_case(b"host") {
                fields.hosts += 1;
            } else if name.eq_ignore_ascii_case(b"content-length") {
                let n = content_length(h.value)?;
                // RFC 9112 §6.3: differing Content-Length values are unrecoverable framing errors.
                if seen_length.is_some_and(|prev| prev != n) {
                    return Err(HttpError::BadRequest);
                }
                seen_length = Some(n);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                // No endpoint takes a body, so we do not decode chunked. Rejecting every Transfer-Encoding
                // (alone or beside Content-Length, RFC 9112 §6.1) closes the request-smuggling door.
                return Err(HttpError::BadRequest);
            } else if name.eq_ignore_ascii_case(b"connection") {
                for token in h.value.split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    fields.close |= token.eq_ignore_ascii_case(b"close");
                    fields.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
        }
        fields.content_length = seen_length.unwrap_or(0);
        Ok(fields)
    }
}

/// RFC 9110 §8.6: `Content-Length = 1*DIGIT`. No sign, no list, no spaces inside (httparse trims the ends);
/// leading zeros are digits and allowed.
fn content_length(value: &[u8]) -> Result<usize, HttpError> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(HttpError::BadRequest);
    }
    let mut n: usize = 0;
    for &d in value {
        n = n * 10 + usize::from(d - b'0');
        if n > BODY_BYTES_MAX {
            return Err(HttpError::PayloadTooLarge);
        }
    }
    Ok(n)
}

/// Reduces a request-target to the path used for routing: absolute-form (RFC 9112 §3.2.2) loses its scheme
/// and authority, and the query (and a fragment, which clients should not send) is ignored.
pub fn routing_path(target: &[u8]) -> &[u8] {
    let mut path = target;
    for scheme in [&b"http://"[..], b"https://"] {
        if path.len() >= scheme.len() && path[..scheme.len()].eq_ignore_ascii_case(scheme) {
            let rest = &path[scheme.len()..];
            path = match rest.iter().position(|&b| b == b'/' || b == b'?') {
                Some(i) if rest[i] == b'/' => &rest[i..],
                _ => b"/",
            };
            break;
        }
    }
    let end = path.iter().position(|&b| b == b'?' || b == b'#').unwrap_or(path.len());
    &path[..end]
}

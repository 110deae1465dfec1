//! Request parsing and the RFC 9112 framing rules. Zero-copy, allocation-free: `parse` borrows the buffer,
//! returns `Partial` (a state, not an error) until a whole request is there, then the request plus the bytes
//! it consumed, so a pipelined buffer is walked with `while let Complete`.
//!
//! The head is read by one of two parsers that agree on every head the first accepts: `scan` (one pass, the
//! strict common form, the hot path) and httparse (everything else: partial heads, errors, the rare legal
//! forms). This file adds what both leave to the caller: Host, Content-Length, Transfer-Encoding and
//! Connection semantics, and the size limits.

use std::mem::MaybeUninit;

use super::scan;
use crate::limits::{
    BODY_BYTES_MAX, HEADERS_MAX, HEADER_BYTES_MAX, METHOD_BYTES_MAX, REPEAT_HEAD_BYTES_MAX, TARGET_BYTES_MAX,
};

/// The request method as routing sees it. Methods are case-sensitive (RFC 9110 §9.1): `get` is not GET.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    /// OPTIONS: like `Other`, except for the server-wide `OPTIONS *` (RFC 9110 §9.3.7).
    Options,
    /// Another method RFC 9110 §9 or RFC 5789 (PATCH) defines: recognised, not allowed here (405 or 404).
    Other,
    /// A method this server does not recognise, lowercase `get` included: 501 (RFC 9110 §15.6.2).
    Unknown,
}

impl Method {
    /// Classifies a method token. GET and HEAD first: everything after them is the rare path.
    fn of(token: &[u8]) -> Method {
        match token {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"OPTIONS" => Method::Options,
            b"POST" | b"PUT" | b"DELETE" | b"CONNECT" | b"TRACE" | b"PATCH" => Method::Other,
            _ => Method::Unknown,
        }
    }
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

/// Parses the request at the front of `buf`. `Parser::parse` is the same, faster for a repeated head.
pub fn parse(buf: &[u8]) -> Result<Parsed<'_>, HttpError> {
    parse_fresh(buf).0
}

/// `parse`, and the length of the head when the strict scanner read it and the request has no body (which makes
/// it one `Parser` may remember).
fn parse_fresh(buf: &[u8]) -> (Result<Parsed<'_>, HttpError>, Option<usize>) {
    // The hot path: one walk over a strict head, each field dispatched as it passes. A field that breaks a
    // framing rule stops the walk: the general path then decides, so that error verdicts (which also depend
    // on the bytes after that field) stay exactly httparse's.
    let mut fields = Fields::default();
    if let Some(head) = scan::head(buf, |name, value| fields.add(name, value).is_ok()) {
        let parsed = finish(head.method, head.target, head.query_at, head.minor, head.len, &fields, buf);
        let bodiless = fields.content_length.unwrap_or(0) == 0;
        return (parsed, bodiless.then_some(head.len));
    }
    (parse_with_httparse(buf), None)
}

/// `parse` for the requests of one worker, which remembers the last head it parsed and the request it made of
/// it. Clients repeat their heads byte for byte (a pipelining benchmark, a prober, a browser's polling): a
/// head equal to the remembered one gets the remembered request after one comparison.
///
/// Correct because the verdict on a complete bodiless head is a function of the head's bytes alone: the scanner
/// reads nothing past the blank line it returns, `finish` only compares the body length (zero) with the
/// buffer, and the path is taken from the new bytes at the remembered offset. tests/http_oracle.rs checks it.
#[derive(Clone, Debug)]
pub struct Parser {
    head: [u8; REPEAT_HEAD_BYTES_MAX],
    /// 0: nothing remembered.
    len: usize,
    /// The request made of it, its routing path as a range of the head.
    method: Method,
    version: Version,
    keep_alive: bool,
    path: (usize, usize),
}

impl Parser {
    pub fn new() -> Parser {
        let (method, version) = (Method::Get, Version::Http11);
        Parser { head: [0; REPEAT_HEAD_BYTES_MAX], len: 0, method, version, keep_alive: true, path: (0, 0) }
    }

    pub fn parse<'b>(&mut self, buf: &'b [u8]) -> Result<Parsed<'b>, HttpError> {
        let len = self.len;
        if len > 0 && buf.get(..len) == Some(&self.head[..len]) {
            let (method, version, keep_alive) = (self.method, self.version, self.keep_alive);
            let request = Request { method, path: &buf[self.path.0..self.path.1], version, keep_alive };
            return Ok(Parsed::Complete { request, consumed: len });
        }
        let (parsed, head_len) = parse_fresh(buf);
        if let (Ok(Parsed::Complete { request, consumed }), Some(head_len)) = (parsed, head_len) {
            self.remember(&buf[..consumed.min(head_len)], request);
        }
        parsed
    }

    fn remember(&mut self, head: &[u8], request: Request<'_>) {
        // The path's offset in the head. A path that is not a slice of it (absolute-form without a path routes
        // as the static "/") is not remembered.
        let path_at = (request.path.as_ptr() as usize).wrapping_sub(head.as_ptr() as usize);
        let path_end = path_at.checked_add(request.path.len()).filter(|&end| end <= head.len());
        let (Some(path_end), Some(copy)) = (path_end, self.head.get_mut(..head.len())) else {
            self.len = 0;
            return;
        };
        copy.copy_from_slice(head);
        self.len = head.len();
        self.path = (path_at, path_end);
        (self.method, self.version, self.keep_alive) = (request.method, request.version, request.keep_alive);
    }
}

/// The general path: httparse, then the same framing rules. Every verdict but the common success is reached
/// here; it is also the oracle `scan` is tested against (tests/http_oracle.rs), which is why it is public.
pub fn parse_with_httparse(buf: &[u8]) -> Result<Parsed<'_>, HttpError> {
    let mut headers = [MaybeUninit::<httparse::Header<'_>>::uninit(); HEADERS_MAX];
    let mut req = httparse::Request::new(&mut []);
    // Fast path: a whole head within every limit. Then no prefix of it tripped a limit either, so the verdict
    // is the one any segmentation would get, and the bounded re-parse below is not needed.
    match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(head_len))
            if head_len <= HEADER_BYTES_MAX
                && req.method.is_some_and(|m| m.len() <= METHOD_BYTES_MAX)
                && req.path.is_some_and(|t| t.len() <= TARGET_BYTES_MAX) =>
        {
            complete(&req, head_len, buf)
        }
        _ => parse_within_limits(buf),
    }
}

/// The slow path: anything partial, malformed or over a limit.
fn parse_within_limits(buf: &[u8]) -> Result<Parsed<'_>, HttpError> {
    let mut headers = [MaybeUninit::<httparse::Header<'_>>::uninit(); HEADERS_MAX];
    let mut req = httparse::Request::new(&mut []);
    // Only the bytes up to the one at which a limit trips count: a shorter read would have stopped there, so
    // nothing after it may change the verdict.
    let buf_seen = &buf[..within_limits(buf)];
    let head_len = match req.parse_with_uninit_headers(buf_seen, &mut headers) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return partial(buf_seen),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::HeadersTooLarge),
        Err(httparse::Error::Version) => return version_error(buf_seen),
        Err(_) => return Err(HttpError::BadRequest),
    };
    complete(&req, head_len, buf)
}

/// A complete head of `head_len` bytes: the limits, then the framing and connection rules.
fn complete<'b>(req: &httparse::Request<'_, 'b>, head_len: usize, buf: &'b [u8]) -> Result<Parsed<'b>, HttpError> {
    // httparse only returns Complete with all three set; treat anything else as malformed, never panic.
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(HttpError::BadRequest);
    };
    // The same checks, in the same order, as `partial` makes on an incomplete head, so the verdict never
    // depends on how TCP split the bytes.
    if method.len() > METHOD_BYTES_MAX {
        return Err(HttpError::BadRequest);
    }
    if target.len() > TARGET_BYTES_MAX {
        return Err(HttpError::UriTooLong);
    }
    if head_len > HEADER_BYTES_MAX {
        return Err(HttpError::HeadersTooLarge);
    }
    let mut fields = Fields::default();
    for h in req.headers.iter() {
        fields.add(h.name.as_bytes(), h.value)?;
    }
    finish(method.as_bytes(), target.as_bytes(), None, minor, head_len, &fields, buf)
}

/// A complete head within the limits, its fields read: Host, the body's length, persistence, the method.
fn finish<'b>(
    method: &[u8],
    target: &'b [u8],
    query_at: Option<usize>,
    minor: u8,
    head_len: usize,
    fields: &Fields,
    buf: &'b [u8],
) -> Result<Parsed<'b>, HttpError> {
    let version = if minor == 0 { Version::Http10 } else { Version::Http11 };
    // RFC 9112 §3.2: a server MUST respond 400 to an HTTP/1.1 request that lacks Host or has more than one.
    if fields.hosts > 1 || (version == Version::Http11 && fields.hosts == 0) {
        return Err(HttpError::BadRequest);
    }
    let body = fields.content_length.unwrap_or(0);
    // RFC 9110 §10.1.1: a client that sent `Expect: 100-continue` waits for a 100 before it sends the body. No
    // endpoint takes a body, so the head alone decides the answer: the final status goes out at once, without
    // the body. Whether the client then sends the body anyway is its choice, so the server can no longer tell
    // where the next request begins: the connection closes after the answer (§9.6: it says so), and the linger
    // discards whatever body follows. Decided on the head alone, the same whether the body arrived or not.
    // HTTP/1.0 clients cannot expect 100 (§10.1.1: ignore it); a bodiless request has nothing to wait for.
    let expects_100 = fields.expect_continue && body > 0 && version == Version::Http11;
    let consumed = if expects_100 { head_len } else { head_len + body };
    if buf.len() < consumed {
        return Ok(Parsed::Partial);
    }
    let keep_alive = match version {
        _ if expects_100 => false,
        // RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive".
        Version::Http11 => !fields.close,
        Version::Http10 => fields.keep_alive && !fields.close,
    };
    let method = Method::of(method);
    // The scanner found where an origin-form target's query begins as it passed.
    let path = match query_at {
        Some(at) => &target[..at],
        None => routing_path(target),
    };
    let request = Request { method, path, version, keep_alive };
    Ok(Parsed::Complete { request, consumed })
}

/// A head that is not complete yet: fine while it is within the limits. A verdict reached here must be the one the
/// whole head would get (see `parse`), whatever the segmentation.
fn partial(buf: &[u8]) -> Result<Parsed<'_>, HttpError> {
    let (line, _) = request_line(buf);
    let mut fields = line.splitn(3, |&b| b == b' ');
    if fields.next().is_some_and(|method| method.len() > METHOD_BYTES_MAX) {
        return Err(HttpError::BadRequest);
    }
    if fields.next().is_some_and(|target| target.len() > TARGET_BYTES_MAX) {
        return Err(HttpError::UriTooLong);
    }
    if buf.len() > HEADER_BYTES_MAX {
        return Err(HttpError::HeadersTooLarge);
    }
    Ok(Parsed::Partial)
}

/// How much of `buf` a verdict may depend on: everything, or up to the first byte past a limit (the method,
/// the target, the head).
fn within_limits(buf: &[u8]) -> usize {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
    let line = &buf[start..];
    let token_end = |from: usize, max: usize| -> Result<usize, usize> {
        let field = &line[from.min(line.len())..];
        match field.iter().take(max + 1).position(|&b| b == b' ' || b == b'\r' || b == b'\n') {
            Some(i) => Ok(from + i),
            None if field.len() > max => Err(start + from + max + 1),
            None => Err(buf.len()),
        }
    };
    let mut seen = buf.len().min(HEADER_BYTES_MAX + 1);
    match token_end(0, METHOD_BYTES_MAX) {
        Err(at) => seen = seen.min(at),
        Ok(method_end) => {
            if let Err(at) = token_end(method_end + 1, TARGET_BYTES_MAX) {
                seen = seen.min(at);
            }
        }
    }
    seen
}

/// The request line (after the empty lines RFC 9112 §2.2 lets a server skip), without its line ending, and
/// whether its end has arrived.
fn request_line(buf: &[u8]) -> (&[u8], bool) {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
    let rest = &buf[start..];
    match rest.iter().position(|&b| b == b'\n') {
        Some(end) => (rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]), true),
        None => (rest.strip_suffix(b"\r").unwrap_or(rest), false),
    }
}

const VERSION_SHAPE: &[u8; 8] = b"HTTP/0.0"; // '0' stands for any digit

fn fits_version_shape(token: &[u8]) -> bool {
    token.len() <= VERSION_SHAPE.len()
        && token
            .iter()
            .zip(VERSION_SHAPE)
            .all(|(&b, &shape)| if shape == b'0' { b.is_ascii_digit() } else { b == shape })
}

/// httparse says "Version" for anything but HTTP/1.0 and HTTP/1.1, as soon as a byte differs. A well-formed
/// `HTTP/x.y` we do not speak is 505 (RFC 9110 §15.6.6); anything else in that place is a malformed request
/// line (400). While the line is incomplete and could still become `HTTP/x.y`, wait for it.
fn version_error(buf: &[u8]) -> Result<Parsed<'_>, HttpError> {
    let (line, line_complete) = request_line(buf);
    let mut fields = line.split(|&b| b == b' ');
    let version = fields.nth(2).unwrap_or_default();
    let single = fields.next().is_none();
    if single && line_complete && version.len() == VERSION_SHAPE.len() && fits_version_shape(version) {
        Err(HttpError::VersionNotSupported)
    } else if single && !line_complete && fits_version_shape(version) {
        Ok(Parsed::Partial)
    } else {
        Err(HttpError::BadRequest)
    }
}

/// Bytes allowed in a reg-name or IPv4 address: unreserved, sub-delims and `%` of pct-encoded (RFC 3986).
/// A table, because every request's Host is checked byte by byte.
const REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric();
        b += 1;
    }
    let extra = b"-._~!$&'()*+,;=%";
    let mut i = 0;
    while i < extra.len() {
        table[extra[i] as usize] = true;
        i += 1;
    }
    table
};

/// RFC 9110 §7.2: Host = uri-host [ ":" port ]; uri-host is a reg-name, an IPv4 address or an IP-literal in
/// brackets (RFC 3986 §3.2.2), port is *DIGIT. An empty value is allowed (empty authority).
fn valid_host(value: &[u8]) -> bool {
    if let Some(rest) = value.strip_prefix(b"[") {
        let Some(end) = rest.iter().position(|&b| b == b']') else {
            return false;
        };
        let literal = &rest[..end];
        let ok = !literal.is_empty() && literal.iter().all(|&b| b.is_ascii_hexdigit() || b":.vV".contains(&b));
        return ok && port_ok(&rest[end + 1..]);
    }
    // One pass: reg-name bytes, and at most one ':' (the port's, since a reg-name has none).
    let mut colon = None;
    for (i, &b) in value.iter().enumerate() {
        if b == b':' {
            if colon.is_some() {
                return false;
            }
            colon = Some(i);
        } else if !REG_NAME[usize::from(b)] {
            return false;
        }
    }
    colon.is_none_or(|at| port_ok(&value[at..]))
}

/// `[ ":" port ]`, port = *DIGIT.
fn port_ok(port: &[u8]) -> bool {
    match port {
        [] => true,
        [b':', digits @ ..] => digits.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// The header fields that change framing or connection handling, read one field at a time in order.
#[derive(Default)]
struct Fields {
    hosts: usize,
    content_length: Option<usize>,
    close: bool,
    keep_alive: bool,
    /// `Expect: 100-continue` (RFC 9110 §10.1.1; the token is case-insensitive).
    expect_continue: bool,
}

impl Fields {
    fn add(&mut self, name: &[u8], value: &[u8]) -> Result<(), HttpError> {
        // Dispatch on length first: most fields (User-Agent, Accept...) match none of these four.
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => {
                // RFC 9112 §3.2: an invalid Host field value MUST get a 400.
                if !valid_host(value) {
                    return Err(HttpError::BadRequest);
                }
                self.hosts += 1;
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                let n = content_length(value)?;
                // RFC 9112 §6.3: differing Content-Length values are unrecoverable framing errors.
                if self.content_length.is_some_and(|prev| prev != n) {
                    return Err(HttpError::BadRequest);
                }
                self.content_length = Some(n);
            }
            // No endpoint takes a body, so we do not decode chunked. Rejecting every Transfer-Encoding (alone
            // or beside Content-Length, RFC 9112 §6.1) closes the request-smuggling door.
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => return Err(HttpError::BadRequest),
            // Any other expectation is ignored, as nginx does (RFC 9110 §10.1.1 allows a 417, not requires it).
            6 if name.eq_ignore_ascii_case(b"expect") => {
                self.expect_continue |= value.eq_ignore_ascii_case(b"100-continue")
            }
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for token in value.split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    self.close |= token.eq_ignore_ascii_case(b"close");
                    self.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            _ => {}
        }
        Ok(())
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
    if target.first() == Some(&b'/') {
        // origin-form, what every client but a proxy sends
        let end = target.iter().position(|&b| b == b'?' || b == b'#').unwrap_or(target.len());
        return &target[..end];
    }
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

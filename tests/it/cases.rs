//! The request table: raw bytes, the status the server must answer, and whether it must close the
//! connection afterwards. The same table runs against the parser (`App::answer`, no I/O) and against the live
//! server, whole, split at every byte, and pipelined between two good requests (see framing.rs).
//!
//! Each framing decision cites RFC 9112 / RFC 9110.

pub struct Case {
    pub name: &'static str,
    pub raw: &'static [u8],
    pub status: u16,
    /// The connection is closed after the response.
    pub closes: bool,
    /// HEAD request: the response has no body.
    pub head: bool,
}

const fn ok(name: &'static str, raw: &'static [u8], status: u16) -> Case {
    Case { name, raw, status, closes: false, head: false }
}

const fn closes(name: &'static str, raw: &'static [u8], status: u16) -> Case {
    Case { name, raw, status, closes: true, head: false }
}

pub const CASES: &[Case] = &[
    ok("health", b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n", 200),
    ok("ready", b"GET /ready HTTP/1.1\r\nHost: a\r\n\r\n", 200),
    ok("query string is ignored for routing", b"GET /health?probe=1 HTTP/1.1\r\nHost: a\r\n\r\n", 200),
    // RFC 9112 §3.2.2: a server MUST accept the absolute-form.
    ok("absolute-form", b"GET http://example.com/health HTTP/1.1\r\nHost: example.com\r\n\r\n", 200),
    ok("absolute-form with query", b"GET HTTP://h:80/ready?x HTTP/1.1\r\nHost: h\r\n\r\n", 200),
    Case { name: "head", raw: b"HEAD /health HTTP/1.1\r\nHost: a\r\n\r\n", status: 200, closes: false, head: true },
    ok("unknown path", b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n", 404),
    ok("case matters in paths", b"GET /Health HTTP/1.1\r\nHost: a\r\n\r\n", 404),
    ok("other method", b"DELETE /health HTTP/1.1\r\nHost: a\r\n\r\n", 405),
    // RFC 9110 §9.1: method names are case-sensitive, so `get` is a method this server does not recognise: 501
    // (§15.6.2), on any path; the request is well framed, so the connection lives on.
    ok("lowercase method", b"get /health HTTP/1.1\r\nHost: a\r\n\r\n", 501),
    ok("unknown method", b"BREW /health HTTP/1.1\r\nHost: a\r\n\r\n", 501),
    ok("unknown method on an unknown path", b"BREW /nope HTTP/1.1\r\nHost: a\r\n\r\n", 501),
    // Methods RFC 9110 defines (and PATCH) are recognised: 405 on an endpoint, 404 elsewhere.
    ok("patch", b"PATCH /health HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", 405),
    ok("options on an endpoint", b"OPTIONS /health HTTP/1.1\r\nHost: a\r\n\r\n", 405),
    ok("options on an unknown path", b"OPTIONS /nope HTTP/1.1\r\nHost: a\r\n\r\n", 404),
    // RFC 9110 §9.3.7: OPTIONS * asks about the server as a whole: 200, Allow, no content (as Go's net/http,
    // under Traefik, answers it).
    ok("options asterisk", b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 200),
    ok("asterisk with another method", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 404),
    // RFC 3986 §6.2.2 normalization before routing, as Traefik v3 and nginx do: unreserved escapes decoded, dot
    // segments removed, repeated slashes merged. Reserved escapes stay: %2F is not a slash.
    ok("percent-encoded unreserved", b"GET /%68ealth HTTP/1.1\r\nHost: a\r\n\r\n", 200),
    ok("double slash", b"GET //health HTTP/1.1\r\nHost: a\r\n\r\n", 200),
    ok("dot segment", b"GET /./health HTTP/1.1\r\nHost: a\r\n\r\n", 200),
    ok("dot-dot segment", b"GET /x/../health HTTP/1.1\r\nHost: a\r\n\r\n", 200),
    ok("dot-dot above the root", b"GET /../health HTTP/1.1\r\nHost: a\r\n\r\n", 200),
    ok("encoded dot-dot", b"GET /x/%2e%2E/health HTTP/1.1\r\nHost: a\r\n\r\n", 200),
    ok("encoded slash stays encoded", b"GET /%2Fhealth HTTP/1.1\r\nHost: a\r\n\r\n", 404),
    ok("trailing slash", b"GET /health/ HTTP/1.1\r\nHost: a\r\n\r\n", 404),
    ok("malformed escape", b"GET /%zzhealth HTTP/1.1\r\nHost: a\r\n\r\n", 404),
    // RFC 9110 §10.1.1: with `Expect: 100-continue` the client waits for a 100 before its body. No endpoint
    // takes a body, so the final status goes out at once; the client may or may not send the body after it, so
    // the connection closes (the linger discards the body). The same whether the body came along or not.
    closes(
        "expect 100-continue, body held back",
        b"POST /health HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        405,
    ),
    closes(
        "expect 100-continue, body sent anyway",
        b"POST /health HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\nhello",
        405,
    ),
    closes(
        "expect 100-continue on an endpoint that answers",
        b"GET /health HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        200,
    ),
    closes(
        "expect 100-continue on an unknown path",
        b"PUT /nope HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
        404,
    ),
    // Nothing to wait for without a body; HTTP/1.0 cannot expect a 100 (§10.1.1): both are ordinary requests.
    ok("expect 100-continue without a body", b"GET /health HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", 200),
    ok(
        "expect 100-continue from http/1.0",
        b"POST /health HTTP/1.0\r\nConnection: keep-alive\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
        405,
    ),
    // Any other expectation is ignored (RFC 9110 §10.1.1 allows, not requires, a 417), as nginx does.
    ok("other expectation", b"GET /health HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n", 200),
    // A small body is read and discarded; the request is well framed, so the connection lives on.
    ok("post with small body", b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", 405),
    // RFC 9110 §8.6: Content-Length = 1*DIGIT, so leading zeros are digits.
    ok("content-length leading zeros", b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 005\r\n\r\nhello", 405),
    // RFC 9112 §6.3: repeated identical Content-Length values may be accepted.
    ok(
        "identical content-lengths",
        b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi",
        405,
    ),
    ok("http/1.0 keep-alive", b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200),
    // RFC 9112 §2.2: a recipient MAY recognise a bare LF as a line terminator; httparse does.
    ok("bare LF line endings", b"GET /health HTTP/1.1\nHost: a\n\n", 200),
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request-line.
    ok("leading empty line", b"\r\nGET /health HTTP/1.1\r\nHost: a\r\n\r\n", 200),
    closes("connection close", b"GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 200),
    closes("connection close among tokens", b"GET /health HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n", 200),
    // RFC 9112 §9.3: HTTP/1.0 closes unless it asked for keep-alive.
    closes("http/1.0 default", b"GET /health HTTP/1.0\r\n\r\n", 200),
    closes("garbage", b"GARBAGE\r\n\r\n", 400),
    closes("missing target", b"GET HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    // RFC 9112 §3.2: 400 for an HTTP/1.1 request without exactly one Host.
    closes("missing host", b"GET /health HTTP/1.1\r\n\r\n", 400),
    closes("two hosts", b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    // RFC 9112 §6.1/§6.3: we take no chunked bodies; rejecting Transfer-Encoding outright rules out smuggling.
    closes(
        "transfer-encoding",
        b"POST /health HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    closes(
        "transfer-encoding and content-length",
        b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    closes(
        "conflicting content-lengths",
        b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        400,
    ),
    closes("content-length with sign", b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", 400),
    // RFC 9110 §8.6 allows a recipient to accept "5, 5"; we reject any list: simpler and never ambiguous.
    closes("content-length list", b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello", 400),
    closes("content-length not a number", b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", 400),
    closes("body too large", b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n", 413),
    // RFC 9112 §5.2: obs-fold in a request MUST be rejected with 400 (or replaced); we reject.
    closes("obs-fold", b"GET /health HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400),
    // RFC 9112 §5.1: whitespace between field name and colon MUST be rejected with 400.
    closes("space before colon", b"GET /health HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    closes("invalid header name byte", b"GET /health HTTP/1.1\r\nHost: a\r\nX(y): 1\r\n\r\n", 400),
    closes("NUL in target", b"GET /hea\0lth HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    // Smuggling variants (issue 7). RFC 9112 §6.1: Transfer-Encoding in either order beside Content-Length, and any
    // coding at all (identity, an unknown token), is rejected: we decode none.
    closes(
        "transfer-encoding before content-length",
        b"POST /health HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        400,
    ),
    closes(
        "transfer-encoding identity",
        b"POST /health HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
        400,
    ),
    closes(
        "transfer-encoding obfuscated",
        b"POST /health HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
        400,
    ),
    // RFC 9112 §5.1: no whitespace between a field name and its colon, Transfer-Encoding included.
    closes(
        "space before colon on transfer-encoding",
        b"POST /health HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    // RFC 9110 §8.6: Content-Length = 1*DIGIT; no inner space, sign, hex or empty value.
    closes(
        "content-length with inner space",
        b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\nhi",
        400,
    ),
    closes("content-length negative", b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
    closes("content-length hex", b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello", 400),
    closes("content-length empty", b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400),
    // RFC 9110 §5.5: whitespace around a field value is not part of it, so a trailing tab is fine; any number of
    // leading zeros is still 1*DIGIT.
    ok("content-length trailing tab", b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 5\t\r\n\r\nhello", 405),
    ok(
        "content-length many leading zeros",
        b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 0000000000000000000000005\r\n\r\nhello",
        405,
    ),
    // RFC 9112 §2.2: a bare CR is invalid; RFC 9110 §5.5: CR or NUL inside a field value MUST be rejected (or
    // replaced with SP; we reject).
    closes("bare CR line endings", b"GET /health HTTP/1.1\rHost: a\r\r", 400),
    closes("bare CR in a field value", b"GET /health HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", 400),
    closes("NUL in a field value", b"GET /health HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n", 400),
    // RFC 9112 §2.2: whitespace between the start-line and the first field line: reject (or skip those lines).
    closes("whitespace before the first field", b"GET /health HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    // RFC 9112 §3: request-line = method SP request-target SP HTTP-version, single spaces; HTTP/0.9's version-less
    // line is not HTTP/1.x; §2.3: "HTTP" is case-sensitive.
    closes("two spaces in the request line", b"GET  /health HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    closes("http/0.9 request line", b"GET /health\r\n\r\n", 400),
    closes("lowercase http version", b"GET /health http/1.1\r\nHost: a\r\n\r\n", 400),
    // RFC 9112 §3.2.2: with an absolute-form target the Host field is ignored, even when it disagrees.
    ok("absolute-form ignores a different host", b"GET http://example.com/health HTTP/1.1\r\nHost: other\r\n\r\n", 200),
    // RFC 9112 §3.2: an empty Host is what a client sends when the target has no authority: valid.
    ok("empty host", b"GET /health HTTP/1.1\r\nHost:\r\n\r\n", 200),
    // RFC 9112 §3.2: "more than one Host header field line" is 400 for any version, HTTP/1.0 too.
    closes("http/1.0 with two hosts", b"GET /health HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    closes("http/2.0", b"GET /health HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    closes("http/1.2", b"GET /health HTTP/1.2\r\nHost: a\r\n\r\n", 505),
    closes("bad version token", b"GET /health FOO/1.1\r\nHost: a\r\n\r\n", 400),
];

/// A header section over 8 KiB: 431.
pub fn huge_header() -> Vec<u8> {
    let mut r = b"GET /health HTTP/1.1\r\nHost: a\r\nX-Big: ".to_vec();
    r.extend(std::iter::repeat_n(b'a', 9000));
    r.extend_from_slice(b"\r\n\r\n");
    r
}

/// More header fields than the parser's fixed array: 431.
pub fn many_headers() -> Vec<u8> {
    let mut r = b"GET /health HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..60 {
        r.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    r.extend_from_slice(b"\r\n");
    r
}

/// A request-target over 2 KiB: 414.
pub fn long_target() -> Vec<u8> {
    let mut r = b"GET /".to_vec();
    r.extend(std::iter::repeat_n(b'a', 3000));
    r.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
    r
}

/// The generated cases: (name, raw, status). All close the connection.
pub fn large_cases() -> Vec<(&'static str, Vec<u8>, u16)> {
    vec![
        ("huge header", huge_header(), 431),
        ("many headers", many_headers(), 431),
        ("long target", long_target(), 414),
    ]
}

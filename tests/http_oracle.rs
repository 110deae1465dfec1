//! The hot-path parser against httparse as an oracle. `request::parse` reads strict heads with the one-pass
//! scanner (`http/scan.rs`) and everything else with httparse; `request::parse_with_httparse` reads every
//! head with httparse. Random heads (built from the pieces real clients and attackers send), their mutations,
//! every prefix of them (any TCP split) and heads repeated through one `Parser` (the repeat cache) must get the
//! same verdict, request and byte count from both.

use counter::http::request::{parse, parse_with_httparse, Parser};
use proptest::prelude::*;

fn pick(options: &'static [&'static [u8]]) -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(options).prop_map(<[u8]>::to_vec)
}

/// Bytes that stress the scanner's classes: tchar, visible, space, tab, CR, LF, NUL, DEL, obs-text, and
/// the bytes its word tricks treat specially.
fn nasty_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        8 => prop::sample::select(&b"abcXYZ019-_.~!#$%&'*+^`|/?=:;,@[]()<>\"\\{}"[..]),
        1 => prop::sample::select(&b" \t\r\n\0\x7f\x80\xff\xc3\xa9\x1f\x21\x20?#"[..]),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..max)
}

fn method() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => pick(&[b"GET", b"HEAD", b"POST", b"DELETE", b"get", b"OPTIONS", b"UPDATEREDIRECTREF"]),
        1 => nasty_bytes(40),
        1 => Just(vec![b'M'; 33]),
    ]
}

fn target() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        60 => pick(&[
            b"/status",
            b"/statusV2",
            b"/health?probe=1",
            b"/ready#x",
            b"/metrics",
            b"/",
            b"*",
            b"/a?b#c",
            b"/?",
            b"http://example.com/health",
            b"HTTPS://h:80/ready?x",
            b"http://h",
            b"http://h?q",
            b"/\xc3\xa9",
        ]),
        20 => nasty_bytes(24).prop_map(|t| [&b"/"[..], &t].concat()),
        10 => nasty_bytes(12),
        // Around TARGET_BYTES_MAX: rare, since every prefix of it is checked too.
        1 => (2040usize..2060).prop_map(|n| [&b"/"[..], &vec![b'a'; n]].concat()),
    ]
}

fn version() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => pick(&[b"HTTP/1.1", b"HTTP/1.0"]),
        1 => pick(&[b"HTTP/1.2", b"HTTP/2.0", b"HTTP/1.", b"http/1.1", b"HTTP/1.1 ", b"FOO/1.1", b""]),
    ]
}

fn eol() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![12 => Just(b"\r\n".to_vec()), 1 => pick(&[b"\n", b"\r", b"\r\r\n", b" \r\n"])]
}

fn field() -> impl Strategy<Value = Vec<u8>> {
    let name = prop_oneof![
        8 => pick(&[
            b"Host",
            b"host",
            b"HOST",
            b"Content-Length",
            b"content-length",
            b"Transfer-Encoding",
            b"Connection",
            b"connection",
            b"User-Agent",
            b"Accept",
            b"Accept-Encoding",
            b"X-Forwarded-For",
            b"Cookie",
        ]),
        1 => nasty_bytes(12),
    ];
    let value = prop_oneof![
        8 => pick(&[
            b"a",
            b"127.0.0.1:8080",
            b"[::1]:80",
            b"counter.local",
            b"h:",
            b"a:b:c",
            b"0",
            b"5",
            b"005",
            b"99999999",
            b"5, 5",
            b"+5",
            b"close",
            b"keep-alive",
            b"Keep-Alive, Upgrade",
            b"foo, Close",
            b"chunked",
            b"curl/8.5.0",
            b"h2load nghttp2/1.52.0",
            b"text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
            b"",
        ]),
        2 => nasty_bytes(30),
    ];
    let space = pick(&[b": ", b":", b":  ", b":\t", b" : ", b": \t"]);
    let trailing = pick(&[b"", b"", b"", b" ", b"\t", b" \t "]);
    (name, space, value, trailing, eol()).prop_map(|(n, s, v, t, e)| [n, s, v, t, e].concat())
}

/// A request: line, fields, blank line, a body of its own choosing, and the start of whatever follows.
fn request() -> impl Strategy<Value = Vec<u8>> {
    let leading = prop_oneof![10 => Just(vec![]), 1 => pick(&[b"\r\n", b"\n", b"\r\n\r\n"])];
    let sep = prop_oneof![12 => Just(b" ".to_vec()), 1 => pick(&[b"  ", b"\t", b""])];
    let fields = prop::collection::vec(field(), 0..6);
    let many = prop_oneof![20 => Just(0usize), 1 => 44usize..52];
    let body = prop_oneof![4 => Just(vec![]), 1 => nasty_bytes(12)];
    let next = pick(&[b"", b"GET /status HTTP/1.1\r\nHost: a\r\n\r\n", b"G", b"\r\n"]);
    (leading, method(), sep.clone(), target(), sep, version(), eol(), fields, many, eol(), body, next).prop_map(
        |(leading, m, s1, t, s2, v, e1, fields, many, e2, body, next)| {
            let mut r = [leading, m, s1, t, s2, v, e1].concat();
            for f in fields {
                r.extend_from_slice(&f);
            }
            for i in 0..many {
                r.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
            }
            r.extend_from_slice(&e2);
            r.extend_from_slice(&body);
            r.extend_from_slice(&next);
            r
        },
    )
}

/// Visible ASCII, spaces and tabs: what the scanner takes in a field value.
fn visible(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![20 => 0x21u8..0x7f, 2 => Just(b' '), 1 => Just(b'\t')], 0..max)
}

/// A well-formed head in the strict form, as real clients send it, with random but valid names and values:
/// where the scanner must take the head and agree on every field.
fn good_request() -> impl Strategy<Value = Vec<u8>> {
    let method = pick(&[b"GET", b"GET", b"HEAD", b"POST", b"DELETE", b"M-SEARCH"]);
    let target = prop_oneof![
        pick(&[b"/status", b"/statusV2", b"/health?x=1", b"/ready#f", b"/metrics", b"http://h/ready", b"*"]),
        visible(20).prop_map(|t| [&b"/"[..], &t].concat().into_iter().filter(|&b| b > b' ').collect()),
    ];
    let version = pick(&[b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0"]);
    let name = prop_oneof![
        pick(&[b"Host", b"host", b"User-Agent", b"Accept", b"Connection", b"Content-Length", b"X-Id"]),
        prop::collection::vec(prop::sample::select(&b"abcXYZ09-_.!#$%&'*+^`|~"[..]), 1..12),
    ];
    let value = prop_oneof![
        pick(&[b"a", b"127.0.0.1:8080", b"close", b"keep-alive", b"0", b"3", b"h2load nghttp2/1.52.0"]),
        visible(40),
    ];
    let field = (name, pick(&[b": ", b":", b":\t"]), value).prop_map(|(n, s, v)| [n, s, v, b"\r\n".to_vec()].concat());
    let host = pick(&[b"Host: a\r\n", b"host: 127.0.0.1:1\r\n", b""]);
    // The fields that decide framing and persistence, often, beside a body that may or may not fit.
    let framing = pick(&[b"", b"Content-Length: 0\r\n", b"Content-Length: 3\r\n", b"Connection: close\r\n"]);
    let body = prop_oneof![Just(vec![]), visible(6)];
    (method, target, version, host, framing, prop::collection::vec(field, 0..8), body).prop_map(
        |(m, t, v, host, framing, fields, body)| {
            let mut r = [m, b" ".to_vec(), t, b" ".to_vec(), v, b"\r\n".to_vec(), host, framing].concat();
            fields.iter().for_each(|f| r.extend_from_slice(f));
            r.extend_from_slice(b"\r\n");
            r.extend_from_slice(&body);
            r
        },
    )
}

fn any_request() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![good_request(), request()]
}

/// A request with a few bytes changed, inserted or removed.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let edit = (any::<prop::sample::Index>(), 0u8..3, prop::sample::select(&b"\r\n \t:\0\x7f\x80aZ/?#"[..]));
    (any_request(), prop::collection::vec(edit, 1..4)).prop_map(|(mut r, edits)| {
        for (at, kind, byte) in edits {
            if r.is_empty() {
                break;
            }
            let i = at.index(r.len());
            match kind {
                0 => r[i] = byte,
                1 => r.insert(i, byte),
                _ => {
                    r.remove(i);
                }
            }
        }
        r
    })
}

fn agree(raw: &[u8]) -> Result<(), TestCaseError> {
    prop_assert_eq!(parse(raw), parse_with_httparse(raw), "{:?}", String::from_utf8_lossy(raw));
    Ok(())
}

/// Cases per property: whole heads are cheap, every prefix of one costs a parse per byte.
const WHOLE_CASES: u32 = 8192;
const PREFIX_CASES: u32 = 512;

proptest! {
    #![proptest_config(ProptestConfig { cases: WHOLE_CASES, ..ProptestConfig::default() })]

    #[test]
    fn random_heads_get_httparse_verdicts(raw in any_request()) {
        agree(&raw)?;
    }

    #[test]
    fn mutated_heads_get_httparse_verdicts(raw in mutated()) {
        agree(&raw)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: PREFIX_CASES, ..ProptestConfig::default() })]

    #[test]
    fn every_prefix_gets_httparse_verdicts(raw in prop_oneof![any_request(), mutated()]) {
        for cut in 0..=raw.len() {
            agree(&raw[..cut])?;
        }
    }

    /// The repeat cache: whatever a `Parser` remembered, its verdict on the next bytes is `parse`'s.
    #[test]
    fn a_parser_that_remembers_agrees(
        first in any_request(),
        second in prop_oneof![any_request(), mutated()],
        repeats in 1usize..4,
    ) {
        let mut parser = Parser::new();
        prop_assert_eq!(parser.parse(&first), parse(&first));
        // The same bytes again (what the cache is for), then other bytes, then every prefix of the first
        // (a cached head must never make a partial one look complete).
        for _ in 0..repeats {
            prop_assert_eq!(parser.parse(&first), parse(&first));
        }
        prop_assert_eq!(parser.parse(&second), parse(&second));
        prop_assert_eq!(parser.parse(&first), parse(&first));
        for cut in 0..first.len() {
            prop_assert_eq!(parser.parse(&first[..cut]), parse(&first[..cut]));
        }
        let twice = [&first[..], &first[..]].concat();
        prop_assert_eq!(parser.parse(&twice), parse(&twice));
    }
}

/// The generators must reach the scanner's acceptances, not only its refusals (else the properties above
/// would compare httparse with itself): a good share of random heads is taken by the scanner.
#[test]
fn the_generators_exercise_the_scanner() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = any_request();
    let (mut scanned, total) = (0, 2000);
    for _ in 0..total {
        let raw = strategy.new_tree(&mut runner).expect("a value").current();
        scanned += usize::from(counter::http::scan::head(&raw, |_, _| true).is_some());
    }
    eprintln!("scanner took {scanned} of {total} random heads");
    assert!(scanned * 5 > total, "only {scanned} of {total}");
}

/// The heads real clients send are the ones the scanner must take (else the fast path is never used): they
/// parse, and identically.
#[test]
fn real_client_heads_agree() {
    for raw in [
        &b"GET /status HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"[..],
        b"GET /status HTTP/1.1\r\nHost: 127.0.0.1:35771\r\nuser-agent: h2load nghttp2/1.52.0\r\n\r\n",
        b"GET /status HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
        BROWSER,
    ] {
        assert!(matches!(parse(raw), Ok(counter::http::request::Parsed::Complete { .. })));
        assert_eq!(parse(raw), parse_with_httparse(raw));
    }
}

/// A browser's head: 12 fields.
pub const BROWSER: &[u8] = b"GET /status HTTP/1.1\r\n\
Host: counter.example.com\r\n\
Connection: keep-alive\r\n\
Cache-Control: max-age=0\r\n\
sec-ch-ua: \"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\"\r\n\
sec-ch-ua-mobile: ?0\r\n\
sec-ch-ua-platform: \"Linux\"\r\n\
Upgrade-Insecure-Requests: 1\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n\
Sec-Fetch-Site: none\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9\r\n\r\n";

//! Differential fuzzing of the hot-path request parser against httparse: `request::parse` (the one-pass scanner,
//! falling back to httparse) and `request::parse_with_httparse` must agree on every input, whole and at every
//! split, and a `request::Parser` (which remembers a head to recognise its repeat) must agree with `parse` on a
//! buffer walked request by request, as `App::answer` walks a pipelined read.
#![no_main]

use counter::http::request::{parse, parse_with_httparse, Parsed, Parser};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    assert_eq!(parse(data), parse_with_httparse(data), "whole input");
    // A split anywhere: what a shorter read would have seen.
    for cut in [data.len() / 2, data.len().saturating_sub(1), data.len() * 3 / 4] {
        assert_eq!(parse(&data[..cut]), parse_with_httparse(&data[..cut]), "cut at {cut}");
    }
    // The input as pipelined requests through one Parser, then once more from the top with what it remembers.
    let mut parser = Parser::new();
    for _ in 0..2 {
        let mut at = 0;
        while let Some(rest) = data.get(at..).filter(|r| !r.is_empty()) {
            let verdict = parser.parse(rest);
            assert_eq!(verdict, parse(rest), "request at {at}");
            match verdict {
                Ok(Parsed::Complete { consumed, .. }) if consumed > 0 => at += consumed,
                _ => break,
            }
        }
    }
});

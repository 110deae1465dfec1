//! Fuzzes the RESP2 reply parser with arbitrary bytes: it must never panic, and what it reports must hold together
//! (consumed within the buffer, the reply found in the consumed prefix alone, verdicts stable as bytes arrive).
#![no_main]

#[allow(dead_code)]
#[path = "../../src/redis/resp.rs"]
mod resp;

use libfuzzer_sys::fuzz_target;
use resp::{error_kind, parse, parse_listing, Reply, Status, LISTING_BYTES_MAX, REPLY_BYTES_MAX};

fuzz_target!(|data: &[u8]| {
    check_listing(data);
    // Drain the input as the client's read loop would: pipelined replies back to back.
    let mut at = 0;
    while let Some(rest) = data.get(at..) {
        let verdict = parse(rest);
        check(rest, verdict);
        match verdict {
            Ok(Status::Complete { consumed, .. }) => at += consumed,
            _ => break,
        }
    }
});

fn check(buf: &[u8], verdict: Result<Status<'_>, resp::ParseError>) {
    match verdict {
        Ok(Status::Complete { reply, consumed }) => {
            assert!(consumed > 0 && consumed <= buf.len(), "consumed {consumed} of {}", buf.len());
            assert!(consumed <= REPLY_BYTES_MAX, "consumed {consumed} > REPLY_BYTES_MAX");
            let prefix = &buf[..consumed];
            // The reply is all in the consumed prefix, and one byte less is not yet a reply.
            assert_eq!(parse(prefix), verdict);
            assert_eq!(parse(&prefix[..consumed - 1]), Ok(Status::Partial));
            if let Reply::Simple(text) | Reply::Error(text) | Reply::Bulk(Some(text)) = reply {
                assert!(within(prefix, text), "payload outside the consumed bytes");
            }
            if let Reply::Error(text) = reply {
                let _ = error_kind(text);
            }
        }
        // Partial means every byte so far is a valid start: so is every shorter prefix.
        Ok(Status::Partial) => {
            assert!(buf.len() < REPLY_BYTES_MAX, "Partial past REPLY_BYTES_MAX ({} bytes)", buf.len());
            assert_eq!(parse(&buf[..buf.len() / 2]), Ok(Status::Partial));
        }
        // An error depends only on bytes already seen: more bytes do not change it.
        Err(_) => assert_eq!(parse(&[buf, b"\r\n"].concat()), verdict),
    }
}

fn within(outer: &[u8], inner: &[u8]) -> bool {
    let outer = outer.as_ptr_range();
    let inner = inner.as_ptr_range();
    outer.start <= inner.start && inner.end <= outer.end
}

/// The listing parser (ROLE, SENTINEL replies) under the same contract: bounded, prefix-stable, never a panic.
fn check_listing(buf: &[u8]) {
    match parse_listing(buf) {
        Ok(Some((_, consumed))) => {
            assert!(consumed > 0 && consumed <= buf.len() && consumed <= LISTING_BYTES_MAX.max(REPLY_BYTES_MAX));
            assert_eq!(parse_listing(&buf[..consumed]).map(|l| l.map(|(_, n)| n)), Ok(Some(consumed)));
            assert_eq!(parse_listing(&buf[..consumed - 1]).map(|l| l.is_none()), Ok(true));
        }
        Ok(None) => assert!(buf.len() <= LISTING_BYTES_MAX.max(REPLY_BYTES_MAX), "None past the bound"),
        Err(e) => assert_eq!(parse_listing(&[buf, b"\r\n"].concat()).err(), Some(e)),
    }
}

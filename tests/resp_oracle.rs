//! Property tests of src/redis/resp.rs against redis-protocol's RESP2 decoder as an oracle: same reply, same bytes
//! consumed, `Partial` exactly when the oracle says incomplete. Hand-picked cases live beside the parser.
//! Includes the parser by `#[path]`, so this binary does not depend on the crate's module layout.

#[allow(dead_code)]
#[path = "../src/redis/resp.rs"]
mod resp;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use redis_protocol::resp2::decode::decode_range;
use redis_protocol::resp2::encode::encode;
use redis_protocol::resp2::types::{OwnedFrame, RangeFrame, Resp2Frame};
use resp::{
    parse, parse_listing, Item, Listing, ParseError, Reply, Status, ARRAY_ITEMS_MAX, BULK_BYTES_MAX, LINE_BYTES_MAX,
    LISTING_ITEMS_MAX,
};

/// A reply both parsers can be mapped onto. `None` is the null bulk or null array; the oracle folds both into one
/// `Null`, so its type byte tells them apart.
#[derive(Clone, Debug, PartialEq)]
enum Model {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Model>>),
}

fn from_ours(reply: Reply<'_>) -> Model {
    match reply {
        Reply::Simple(text) => Model::Simple(text.to_vec()),
        Reply::Error(text) => Model::Error(text.to_vec()),
        Reply::Integer(value) => Model::Integer(value),
        Reply::Bulk(payload) => Model::Bulk(payload.map(<[u8]>::to_vec)),
        Reply::Array(items) => Model::Array(Some(items.as_slice().iter().copied().map(Model::Integer).collect())),
        Reply::NullArray => Model::Array(None),
    }
}

fn from_oracle(buf: &[u8], at: usize, frame: &RangeFrame) -> Model {
    let bytes = |(start, end): (usize, usize)| buf[start..end].to_vec();
    match frame {
        RangeFrame::SimpleString(range) => Model::Simple(bytes(*range)),
        RangeFrame::Error(range) => Model::Error(bytes(*range)),
        RangeFrame::Integer(value) => Model::Integer(*value),
        RangeFrame::BulkString(range) => Model::Bulk(Some(bytes(*range))),
        // Item positions are not reported; we accept no null item, so calling it a null bulk loses nothing.
        RangeFrame::Array(items) => Model::Array(Some(items.iter().map(|item| from_oracle(buf, 1, item)).collect())),
        RangeFrame::Null if buf.get(at) == Some(&b'*') => Model::Array(None),
        RangeFrame::Null => Model::Bulk(None),
    }
}

/// The oracle's verdict: `Ok(None)` is incomplete, `Err(())` is refused.
fn oracle(buf: &[u8]) -> Result<Option<(Model, usize)>, ()> {
    match decode_range(buf) {
        Ok(Some((frame, consumed))) => Ok(Some((from_oracle(buf, 0, &frame), consumed))),
        Ok(None) => Ok(None),
        Err(_) => Err(()),
    }
}

fn ours(buf: &[u8]) -> Result<Option<(Model, usize)>, ParseError> {
    Ok(match parse(buf)? {
        Status::Complete { reply, consumed } => Some((from_ours(reply), consumed)),
        Status::Partial => None,
    })
}

/// Wire bytes: the oracle's encoder, except for the null array it cannot express (and so the array header around
/// one, in the refused cases).
fn encode_model(model: &Model) -> Vec<u8> {
    let frame = match model {
        Model::Array(None) => return b"*-1\r\n".to_vec(),
        Model::Array(Some(items)) if items.contains(&Model::Array(None)) => {
            let header = format!("*{}\r\n", items.len()).into_bytes();
            return header.into_iter().chain(items.iter().flat_map(encode_model)).collect();
        }
        other => to_frame(other),
    };
    let mut buf = vec![0; frame.encode_len(false)];
    let len = encode(&mut buf, &frame, false).expect("oracle encodes");
    buf.truncate(len);
    buf
}

fn to_frame(model: &Model) -> OwnedFrame {
    match model {
        Model::Simple(text) => OwnedFrame::SimpleString(text.clone()),
        Model::Error(text) => {
            OwnedFrame::Error(String::from_utf8(text.clone()).expect("errors are generated as UTF-8"))
        }
        Model::Integer(value) => OwnedFrame::Integer(*value),
        Model::Bulk(Some(payload)) => OwnedFrame::BulkString(payload.clone()),
        Model::Bulk(None) | Model::Array(None) => OwnedFrame::Null,
        Model::Array(Some(items)) => OwnedFrame::Array(items.iter().map(to_frame).collect()),
    }
}

/// Mostly short, sometimes right at the limit.
fn sized(max: usize) -> impl Strategy<Value = usize> {
    prop_oneof![4 => 0..=16usize, 1 => 0..=max, 1 => Just(max)]
}

fn line_text() -> impl Strategy<Value = Vec<u8>> {
    // Any byte but CR and LF, which the spec forbids inside a line.
    let allowed: Vec<u8> = (0..=u8::MAX).filter(|b| *b != b'\r' && *b != b'\n').collect();
    sized(LINE_BYTES_MAX).prop_flat_map(move |len| prop::collection::vec(prop::sample::select(allowed.clone()), len))
}

fn error_text() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"NOSCRIPT No matching script. Please use EVAL.".to_vec()),
        Just(b"LOADING Redis is loading the dataset in memory".to_vec()),
        Just(b"NOAUTH Authentication required.".to_vec()),
        Just(b"WRONGPASS invalid username-password pair or user is disabled.".to_vec()),
        Just(b"BUSY Redis is busy running a script.".to_vec()),
        Just(b"READONLY You can't write against a read only replica.".to_vec()),
        "[^\r\n]{0,200}".prop_map(String::into_bytes),
    ]
}

fn integer() -> impl Strategy<Value = i64> {
    prop_oneof![any::<i64>(), -2i64..=2, Just(i64::MIN), Just(i64::MAX), 1_600_000_000i64..=2_000_000_000]
}

/// A reply our client can receive, as far as the parser accepts.
fn accepted() -> impl Strategy<Value = Model> {
    prop_oneof![
        line_text().prop_map(Model::Simple),
        error_text().prop_map(Model::Error),
        integer().prop_map(Model::Integer),
        sized(BULK_BYTES_MAX)
            .prop_flat_map(|len| prop::collection::vec(any::<u8>(), len))
            .prop_map(|b| Model::Bulk(Some(b))),
        "[0-9a-f]{40}".prop_map(|sha| Model::Bulk(Some(sha.into_bytes()))),
        Just(Model::Bulk(None)),
        prop::collection::vec(integer().prop_map(Model::Integer), 0..=ARRAY_ITEMS_MAX)
            .prop_map(|i| Model::Array(Some(i))),
        Just(Model::Array(None)),
    ]
}

/// Valid RESP that the oracle decodes and we refuse, with our error.
fn refused() -> impl Strategy<Value = (Vec<u8>, ParseError)> {
    let ints = || prop::collection::vec(integer().prop_map(Model::Integer), 0..3);
    let item = |error| (ints(), Just(error));
    let in_array = |(mut items, error): (Vec<Model>, ParseError), odd: Model| {
        items.push(odd);
        (encode_model(&Model::Array(Some(items))), error)
    };
    prop_oneof![
        (item(ParseError::Nested), ints()).prop_map(move |(i, n)| in_array(i, Model::Array(Some(n)))),
        item(ParseError::Nested).prop_map(move |i| in_array(i, Model::Array(None))),
        (item(ParseError::NotInteger), line_text()).prop_map(move |(i, t)| in_array(i, Model::Simple(t))),
        (item(ParseError::NotInteger), error_text()).prop_map(move |(i, t)| in_array(i, Model::Error(t))),
        item(ParseError::NotInteger).prop_map(move |i| in_array(i, Model::Bulk(None))),
        (BULK_BYTES_MAX + 1..=4 * BULK_BYTES_MAX)
            .prop_map(|len| (encode_model(&Model::Bulk(Some(vec![b'a'; len]))), ParseError::TooLong)),
        (LINE_BYTES_MAX + 1..=2 * LINE_BYTES_MAX)
            .prop_map(|len| (encode_model(&Model::Simple(vec![b'a'; len])), ParseError::TooLong)),
        prop::collection::vec(integer().prop_map(Model::Integer), ARRAY_ITEMS_MAX + 1..=4 * ARRAY_ITEMS_MAX)
            .prop_map(|items| (encode_model(&Model::Array(Some(items))), ParseError::TooLong)),
        // Rust's integer parsing, which the oracle uses, takes a `+` and any number of leading zeros; Redis sends
        // neither.
        (0..=i64::MAX).prop_map(|n| (format!(":+{n}\r\n").into_bytes(), ParseError::BadInteger)),
        (1..=8usize, 0..=i64::MAX)
            .prop_map(|(z, n)| (format!(":{}{n:019}\r\n", "0".repeat(z)).into_bytes(), ParseError::BadInteger)),
        // The oracle only looks for CRLF; a bare CR or LF inside a line is out of step for us.
        (line_text(), prop_oneof![Just(b'\r'), Just(b'\n')], line_text()).prop_map(|(mut a, bare, b)| {
            a.truncate(LINE_BYTES_MAX / 2);
            a.push(bare);
            a.extend(b.into_iter().take(LINE_BYTES_MAX / 2 - 1));
            (encode_model(&Model::Simple(a)), ParseError::BadLine)
        }),
    ]
}

/// Feeds `stream` in the chunks that `cuts` mark, draining replies like the client's read loop, and at every state
/// of the buffer asks both parsers. Returns the replies in order.
fn feed(stream: &[u8], cuts: &[usize]) -> Result<Vec<Model>, TestCaseError> {
    let mut bounds: Vec<usize> = cuts.iter().map(|cut| cut % (stream.len() + 1)).collect();
    bounds.push(stream.len());
    bounds.sort_unstable();
    let (mut pending, mut replies, mut start) = (Vec::new(), Vec::new(), 0);
    for end in bounds {
        pending.extend_from_slice(&stream[start..end]);
        start = end;
        loop {
            let got = ours(&pending);
            prop_assert_eq!(got.clone().map_err(|_| ()), oracle(&pending), "buffer {:?}", pending);
            let Ok(Some((model, consumed))) = got else {
                break;
            };
            replies.push(model);
            pending.drain(..consumed);
        }
    }
    prop_assert!(pending.is_empty(), "{} bytes left", pending.len());
    Ok(replies)
}

fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![prop::sample::select(b"+-:$*\r\n0123456789 x".to_vec()), any::<u8>()]
}

/// Pieces of RESP, so that random sequences often frame correctly and land near the edge cases.
fn token() -> impl Strategy<Value = Vec<u8>> {
    let pieces: &[&[u8]] = &[
        b"+",
        b"-",
        b":",
        b"$",
        b"*",
        b"\r\n",
        b"\r\n",
        b"\r",
        b"\n",
        b"-1",
        b"0",
        b"1",
        b"2",
        b"3",
        b"9",
        b"OK",
        b"ERR x",
        b"NOSCRIPT",
        b"abc",
        b" ",
    ];
    prop_oneof![
        4 => prop::sample::select(pieces.iter().map(|p| p.to_vec()).collect::<Vec<_>>()),
        1 => any::<u8>().prop_map(|b| vec![b]),
    ]
}

#[derive(Clone, Debug)]
enum Edit {
    Replace(usize, u8),
    Insert(usize, u8),
    Remove(usize),
}

fn mutate(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let len = bytes.len();
        match *edit {
            Edit::Replace(at, byte) if len > 0 => bytes[at % len] = byte,
            Edit::Insert(at, byte) => bytes.insert(at % (len + 1), byte),
            Edit::Remove(at) if len > 0 => {
                bytes.remove(at % len);
            }
            _ => {}
        }
    }
    bytes
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), interesting_byte()).prop_map(|(at, b)| Edit::Replace(at, b)),
        (any::<usize>(), interesting_byte()).prop_map(|(at, b)| Edit::Insert(at, b)),
        any::<usize>().prop_map(Edit::Remove),
    ]
}

/// Wherever we do not refuse, we must say what the oracle says. Where we refuse, the oracle may accept: we are
/// stricter (limits, integer items only, no bare CR/LF, no `+` on integers).
fn agree_unless_refused(buf: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(got) = ours(buf) {
        prop_assert_eq!(Ok(got), oracle(buf), "buffer {:?}", String::from_utf8_lossy(buf));
    }
    Ok(())
}

/// What a listing keeps of a model: top-level integers and bulks, nested arrays as a marker.
fn listing_of(model: &Model) -> Vec<Model> {
    let Model::Array(Some(items)) = model else { return vec![] };
    items.iter().map(|item| if let Model::Array(_) = item { Model::Array(None) } else { item.clone() }).collect()
}

fn from_listing(listing: &Listing<'_>) -> Option<Vec<Model>> {
    let Listing::Items(items) = listing else { return None };
    Some(
        items
            .as_slice()
            .iter()
            .map(|item| match item {
                Item::Integer(v) => Model::Integer(*v),
                Item::Bulk(b) => Model::Bulk(b.map(<[u8]>::to_vec)),
                Item::Array => Model::Array(None),
            })
            .collect(),
    )
}

/// ROLE- and SENTINEL-shaped replies: integers and bulks, arrays of them nested up to two deep.
fn listing_model() -> impl Strategy<Value = Model> {
    let scalar = prop_oneof![
        integer().prop_map(Model::Integer),
        "[a-z0-9.:]{0,20}".prop_map(|s| Model::Bulk(Some(s.into_bytes()))),
    ];
    let inner = prop::collection::vec(scalar.clone(), 0..4).prop_map(|i| Model::Array(Some(i)));
    let middle = prop::collection::vec(prop_oneof![scalar.clone(), inner], 0..4).prop_map(|i| Model::Array(Some(i)));
    prop::collection::vec(prop_oneof![3 => scalar, 1 => middle], 0..=LISTING_ITEMS_MAX)
        .prop_map(|items| Model::Array(Some(items)))
}

proptest! {
    // Failures are saved beside this file (the default looks for lib.rs, which a tests/ binary lacks) and replayed
    // first on the next run; case count follows PROPTEST_CASES (default 256).
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn pipelined_stream_matches_oracle_at_random_splits(
        models in prop::collection::vec(accepted(), 1..6),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let stream: Vec<u8> = models.iter().flat_map(encode_model).collect();
        prop_assert_eq!(feed(&stream, &cuts)?, models);
    }

    #[test]
    fn every_prefix_of_an_accepted_reply_is_partial_for_both(model in accepted()) {
        let wire = encode_model(&model);
        for cut in 0..wire.len() {
            prop_assert_eq!(ours(&wire[..cut]), Ok(None), "cut {}", cut);
            prop_assert_eq!(oracle(&wire[..cut]), Ok(None), "cut {}", cut);
        }
        prop_assert_eq!(ours(&wire), Ok(Some((model, wire.len()))));
    }

    #[test]
    fn refused_replies_fail_with_one_error_from_the_first_offending_byte((wire, error) in refused()) {
        prop_assert!(matches!(oracle(&wire), Ok(Some((_, n))) if n == wire.len()), "oracle refuses {:?}", wire);
        prop_assert_eq!(ours(&wire), Err(error));
        let mut failed = false;
        for cut in 0..wire.len() {
            let got = ours(&wire[..cut]);
            match got {
                Ok(None) => {
                    prop_assert!(!failed, "cut {}: Partial after an error", cut);
                    prop_assert_eq!(oracle(&wire[..cut]), Ok(None), "cut {}", cut);
                }
                Err(e) => { prop_assert_eq!(e, error, "cut {}", cut); failed = true; }
                Ok(Some(_)) => prop_assert!(false, "cut {}: complete {:?}", cut, got),
            }
        }
    }

    #[test]
    fn mutated_replies_never_disagree_unless_refused(
        models in prop::collection::vec(accepted(), 1..3),
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let stream: Vec<u8> = models.iter().flat_map(encode_model).collect();
        let mutant = mutate(stream, &edits);
        for cut in 0..=mutant.len().min(64) {
            agree_unless_refused(&mutant[..cut])?;
        }
        agree_unless_refused(&mutant)?;
    }

    #[test]
    fn token_soup_never_disagrees_unless_refused(tokens in prop::collection::vec(token(), 0..24)) {
        let bytes = tokens.concat();
        for cut in 0..=bytes.len() {
            agree_unless_refused(&bytes[..cut])?;
        }
    }

    #[test]
    fn listings_match_the_oracle_at_every_cut(model in listing_model()) {
        let wire = encode_model(&model);
        prop_assert!(matches!(oracle(&wire), Ok(Some((_, n))) if n == wire.len()));
        let Ok(Some((listing, consumed))) = parse_listing(&wire) else {
            return Err(TestCaseError::fail(format!("refused {:?}", String::from_utf8_lossy(&wire))));
        };
        prop_assert_eq!(consumed, wire.len());
        prop_assert_eq!(from_listing(&listing), Some(listing_of(&model)));
        for cut in 0..wire.len() {
            prop_assert!(matches!(parse_listing(&wire[..cut]), Ok(None)), "cut {}", cut);
        }
    }
}

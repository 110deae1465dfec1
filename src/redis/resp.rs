//! RESP2 replies, exactly as far as our Redis client can receive them: parsed zero-copy, without allocation.
//! Owns reply framing, its limits and the error-code classifier; not the connection, the commands or what a reply
//! means to the counter. Self-contained (no `crate::` paths) so tests/resp_oracle.rs and fuzz/ include it by `#[path]`.

// Spec: https://redis.io/docs/latest/develop/reference/protocol-spec/ (RESP2 section). RESP3 types (`_`, `%`, `#`...)
// arrive only after `HELLO 3`, which the client never sends, so they are `BadType` here.

/// Longest simple-string or error text, CRLF excluded. Our simple replies are `OK` and `PONG`; Redis's error texts
/// for our commands, a Lua runtime error quoting the script's line included, stay in the low hundreds of bytes. 1 KiB
/// leaves headroom, and a line that never ends cannot hold the read buffer hostage.
pub const LINE_BYTES_MAX: usize = 1024;

/// Longest bulk payload. Our only bulk reply is SCRIPT LOAD's 40-hex-digit SHA1; anything much bigger is a reply to
/// a command we did not send, refused by its length prefix before it is buffered.
pub const BULK_BYTES_MAX: usize = 512;

/// Most items in an array reply. Our script returns two (value, lastChanged seconds) or five (the value in two
/// parts, lastChanged seconds, the gap skipped, the values lifted past); the room to grow is cheap because items
/// live in a fixed array inside the reply.
pub const ARRAY_ITEMS_MAX: usize = 8;

/// Most digits in an integer or a length, sign excluded: `i64::MAX` has 19 and Redis never pads with zeros, so a
/// 20th digit is garbage; the cap also bounds how long a digit run is scanned.
pub const INTEGER_DIGITS_MAX: usize = 19;

/// Longest complete reply `parse` accepts, CRLFs included: a read buffer at least this large never stalls with a
/// valid reply half in it. Bounds: a `:`/`$`/`*` line is at most 1 + sign + 19 digits + CRLF.
pub const REPLY_BYTES_MAX: usize = {
    let number_line = 1 + 1 + INTEGER_DIGITS_MAX + 2;
    let text_line = 1 + LINE_BYTES_MAX + 2;
    let bulk = number_line + BULK_BYTES_MAX + 2;
    let array = number_line + ARRAY_ITEMS_MAX * number_line;
    max(text_line, max(bulk, array))
};

// The replies we rely on must fit the limits: a SHA1 in hex, the run-id probe's two 40-digit ids, and our script's
// five-integer array.
const _: () = assert!(BULK_BYTES_MAX >= 81);
const _: () = assert!(ARRAY_ITEMS_MAX >= 5);

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// One reply. Byte slices borrow the caller's buffer and exclude the type byte and the CRLF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    /// `+OK`, `+PONG`.
    Simple(&'a [u8]),
    /// `-NOSCRIPT No matching script...`; classify with [`error_kind`].
    Error(&'a [u8]),
    /// `:42`.
    Integer(i64),
    /// `$40\r\n<sha>`; `None` is the null bulk `$-1`.
    Bulk(Option<&'a [u8]>),
    /// `*2\r\n:7\r\n:1700000000`: integer items only, the one array shape our script returns.
    Array(IntArray),
    /// `*-1`. Kept apart from the null bulk: RESP2 gives them different meanings (no array vs no value), and
    /// neither is expected from our commands, so the client should see which one surprised it.
    NullArray,
}

/// The items of an array reply, stored inline so a reply needs no allocation.
#[derive(Clone, Copy, Debug)]
pub struct IntArray {
    // INVARIANT: len <= ARRAY_ITEMS_MAX; only `array` builds one.
    len: usize,
    items: [i64; ARRAY_ITEMS_MAX],
}

impl IntArray {
    pub fn as_slice(&self) -> &[i64] {
        self.items.get(..self.len).unwrap_or(&[])
    }

    /// The shape of our script's reply: exactly two integers.
    pub fn as_pair(&self) -> Option<(i64, i64)> {
        match *self.as_slice() {
            [first, second] => Some((first, second)),
            _ => None,
        }
    }
}

// Items past `len` are not part of the value.
impl PartialEq for IntArray {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for IntArray {}

/// What `parse` found at the start of the buffer. `Partial` is a state, not an error: read more and parse again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<'a> {
    /// One whole reply; `consumed` bytes of the buffer hold it, and the next reply (if any) starts there.
    Complete { reply: Reply<'a>, consumed: usize },
    /// Everything so far is a valid start of a reply.
    Partial,
}

/// Why the buffer cannot start with a reply we accept. Any of them means the stream is out of step (or not Redis),
/// so the client drops the connection; they are precise only to make the log useful.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The type byte is none of `+ - : $ *`.
    BadType,
    /// An integer or length is empty, holds a byte other than an optional leading `-` and digits, has more than
    /// [`INTEGER_DIGITS_MAX`] digits, or overflows `i64`.
    BadInteger,
    /// A length below -1, the null marker.
    BadLength,
    /// A CR not followed by LF, an LF inside a line, or a bulk payload not followed by CRLF.
    BadLine,
    /// A line, bulk payload or array longer than its limit above.
    TooLong,
    /// An array inside an array: our script never nests.
    Nested,
    /// An array item that is not an integer: our script returns integers only.
    NotInteger,
}

/// Parses the one reply at the start of `buf`. Bytes after it are left alone, so pipelined replies are parsed by
/// calling again at `consumed`. An error depends only on the bytes before the offending one, so it never turns
/// into `Partial` or `Complete` as more bytes arrive.
pub fn parse(buf: &[u8]) -> Result<Status<'_>, ParseError> {
    Ok(match reply(buf)? {
        Some((reply, consumed)) => Status::Complete { reply, consumed },
        None => Status::Partial,
    })
}

/// The code Redis puts as the first word of an error reply, for the few the client reacts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedisErrorKind {
    /// The script cache lacks our SHA (restart, SCRIPT FLUSH, failover): SCRIPT LOAD again, or EVAL.
    NoScript,
    /// Redis is loading its dataset after a start: retry later.
    Loading,
    /// AUTH is required and was not sent (or the connection was reset behind our back).
    NoAuth,
    /// AUTH was refused (Redis 6+; older servers say `ERR invalid password`, which lands in `Other`).
    WrongPass,
    /// Another script is running past lua-time-limit: retry later.
    Busy,
    /// We are talking to a replica, e.g. after a failover: reconnect to find the primary.
    ReadOnly,
    /// The primary refuses writes: fewer replicas than `min-replicas-to-write` are connected.
    NoReplicas,
    /// A replica lost its primary (`replica-serve-stale-data no`): find the primary again.
    MasterDown,
    /// Redis Cluster: `MOVED <slot> <host>:<port>`, the slot lives on another node; the command was not run.
    Moved,
    /// Redis Cluster: `ASK <slot> <host>:<port>`, the slot is migrating; send ASKING + this command there.
    Ask,
    /// Redis Cluster: a multi-key command during a slot migration, or a cluster that cannot serve the slot.
    TryAgain,
    ClusterDown,
    /// Our script: one more increment would pass `i64::MAX`. Nothing was handed out; the counter is spent.
    Exhausted,
    /// `ERR ...` and every other code.
    Other,
}

/// Classifies an error reply's text (the payload of [`Reply::Error`]) by its first word. The whole word must
/// match, not a prefix: `BUSYKEY` (from RESTORE) is not `BUSY`. Codes are upper case, so case is compared exactly.
pub fn error_kind(message: &[u8]) -> RedisErrorKind {
    let code = message.split(|&byte| byte == b' ').next().unwrap_or(message);
    match code {
        b"NOSCRIPT" => RedisErrorKind::NoScript,
        b"LOADING" => RedisErrorKind::Loading,
        b"NOAUTH" => RedisErrorKind::NoAuth,
        b"WRONGPASS" => RedisErrorKind::WrongPass,
        b"BUSY" => RedisErrorKind::Busy,
        b"READONLY" => RedisErrorKind::ReadOnly,
        b"NOREPLICAS" => RedisErrorKind::NoReplicas,
        b"MASTERDOWN" => RedisErrorKind::MasterDown,
        b"MOVED" => RedisErrorKind::Moved,
        b"COUNTER_EXHAUSTED" => RedisErrorKind::Exhausted,
        b"ASK" => RedisErrorKind::Ask,
        b"TRYAGAIN" => RedisErrorKind::TryAgain,
        b"CLUSTERDOWN" => RedisErrorKind::ClusterDown,
        _ => RedisErrorKind::Other,
    }
}

/// One parsing step. `Ok(None)`: the bytes so far are a valid start and more are needed. `Ok(Some((value, end)))`:
/// `end` is the index just past the value.
type Step<T> = Result<Option<(T, usize)>, ParseError>;

/// Unwraps a step's value, or returns `Ok(None)` (need more bytes) from the enclosing function.
macro_rules! need {
    ($step:expr) => {
        match $step? {
            Some(done) => done,
            None => return Ok(None),
        }
    };
}

fn reply(buf: &[u8]) -> Step<Reply<'_>> {
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    let done = match kind {
        b'+' => {
            let (text, end) = need!(line(buf, 1));
            (Reply::Simple(text), end)
        }
        b'-' => {
            let (text, end) = need!(line(buf, 1));
            (Reply::Error(text), end)
        }
        b':' => {
            let (value, end) = need!(decimal(buf, 1));
            (Reply::Integer(value), end)
        }
        b'$' => need!(bulk(buf)),
        b'*' => need!(array(buf)),
        _ => return Err(ParseError::BadType),
    };
    Ok(Some(done))
}

/// A simple-string or error text from `start` to its CRLF. The spec forbids CR and LF inside such a line, so the
/// first of either must be the CRLF.
fn line(buf: &[u8], start: usize) -> Step<&[u8]> {
    let rest = buf.get(start..).unwrap_or_default();
    // One byte past the limit, where the CR of a line of exactly LINE_BYTES_MAX sits.
    let window = rest.get(..LINE_BYTES_MAX + 1).unwrap_or(rest);
    match window.iter().position(|&byte| byte == b'\r' || byte == b'\n') {
        Some(len) => {
            let end = need!(crlf(buf, start + len));
            Ok(Some((window.get(..len).unwrap_or_default(), end)))
        }
        None if window.len() > LINE_BYTES_MAX => Err(ParseError::TooLong),
        None => Ok(None),
    }
}

/// Checks for CRLF at `at` and returns the index past it.
fn crlf(buf: &[u8], at: usize) -> Result<Option<usize>, ParseError> {
    match (buf.get(at), buf.get(at + 1)) {
        (None, _) | (Some(b'\r'), None) => Ok(None),
        (Some(b'\r'), Some(b'\n')) => Ok(Some(at + 2)),
        _ => Err(ParseError::BadLine),
    }
}

/// `-?[0-9]{1,19}` from `start`, then CRLF. Strict where Redis is: no `+`, no spaces, no empty number.
fn decimal(buf: &[u8], start: usize) -> Step<i64> {
    let negative = buf.get(start) == Some(&b'-');
    let digits_start = start + usize::from(negative);
    let mut value: i64 = 0;
    let mut at = digits_start;
    loop {
        match buf.get(at) {
            None => return Ok(None),
            Some(&digit @ b'0'..=b'9') if at - digits_start < INTEGER_DIGITS_MAX => {
                let digit = i64::from(digit - b'0');
                // Accumulate toward the sign: i64::MIN has no positive counterpart to negate at the end.
                let shifted = value.checked_mul(10);
                let next = if negative {
                    shifted.and_then(|v| v.checked_sub(digit))
                } else {
                    shifted.and_then(|v| v.checked_add(digit))
                };
                value = next.ok_or(ParseError::BadInteger)?;
                at += 1;
            }
            Some(b'\r') if at > digits_start => {
                let end = need!(crlf(buf, at));
                return Ok(Some((value, end)));
            }
            Some(_) => return Err(ParseError::BadInteger),
        }
    }
}

/// The length after a `$` or `*`: `None` for the null marker -1, at most `limit` otherwise.
fn length(buf: &[u8], limit: usize) -> Step<Option<usize>> {
    let (value, end) = need!(decimal(buf, 1));
    if value == -1 {
        return Ok(Some((None, end)));
    }
    let len = usize::try_from(value).map_err(|_| ParseError::BadLength)?;
    if len > limit {
        return Err(ParseError::TooLong);
    }
    Ok(Some((Some(len), end)))
}

/// `$<len>\r\n<payload>\r\n`. The payload is binary and may hold CRLF; only the length says where it ends.
fn bulk(buf: &[u8]) -> Step<Reply<'_>> {
    let (len, start) = need!(length(buf, BULK_BYTES_MAX));
    let Some(len) = len else {
        return Ok(Some((Reply::Bulk(None), start)));
    };
    let Some(payload) = buf.get(start..start + len) else {
        return Ok(None);
    };
    let end = need!(crlf(buf, start + len));
    Ok(Some((Reply::Bulk(Some(payload)), end)))
}

/// `*<len>\r\n` then `len` integer replies. Other items are refused at their type byte, before they are buffered.
fn array(buf: &[u8]) -> Step<Reply<'_>> {
    let (len, mut at) = need!(length(buf, ARRAY_ITEMS_MAX));
    let Some(len) = len else {
        return Ok(Some((Reply::NullArray, at)));
    };
    let mut items = [0; ARRAY_ITEMS_MAX];
    for item in items.iter_mut().take(len) {
        match buf.get(at) {
            None => return Ok(None),
            Some(b':') => {}
            Some(b'*') => return Err(ParseError::Nested),
            Some(b'+' | b'-' | b'$') => return Err(ParseError::NotInteger),
            Some(_) => return Err(ParseError::BadType),
        }
        let (value, end) = need!(decimal(buf, at + 1));
        *item = value;
        at = end;
    }
    Ok(Some((Reply::Array(IntArray { len, items }), at)))
}

/// Most top-level items of a listing: `ROLE` sends 3 (primary) or 5 (replica), `SENTINEL get-master-addr-by-name`
/// 2; room to spare is cheap because items live in a fixed array.
pub const LISTING_ITEMS_MAX: usize = 8;

/// Longest complete listing, CRLFs included. A primary's `ROLE` lists every replica (about 60 bytes each), so 8 KiB
/// holds over a hundred; a listing still growing past it is refused, so it cannot hold the read buffer hostage.
pub const LISTING_BYTES_MAX: usize = 8 * 1024;

/// How deep arrays nest below a listing's own: `ROLE` on a primary holds an array of per-replica arrays.
const LISTING_DEPTH_MAX: usize = 2;

/// One top-level item of a listing. Nested arrays are checked for framing and skipped: nothing we act on is in them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    Integer(i64),
    /// `None` is the null bulk.
    Bulk(Option<&'a [u8]>),
    /// A nested array (possibly the null array), contents skipped.
    Array,
}

/// A reply to `ROLE` or `SENTINEL ...`: an array of bulk strings, integers and nested arrays, or anything else
/// `parse` accepts (an error, most usefully).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing<'a> {
    Items(Items<'a>),
    Other(Reply<'a>),
}

/// The items of a listing, stored inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Items<'a> {
    // INVARIANT: len <= LISTING_ITEMS_MAX; only `listing` builds one.
    len: usize,
    items: [Item<'a>; LISTING_ITEMS_MAX],
}

impl<'a> Items<'a> {
    pub fn as_slice(&self) -> &[Item<'a>] {
        self.items.get(..self.len).unwrap_or(&[])
    }

    /// Item `i` as a bulk string's payload.
    pub fn bulk(&self, i: usize) -> Option<&'a [u8]> {
        match self.as_slice().get(i) {
            Some(Item::Bulk(Some(payload))) => Some(payload),
            _ => None,
        }
    }
}

/// Parses one listing at the start of `buf`, with the same contract as [`parse`]: `Ok(None)` (need more bytes) is a
/// state, and an error never turns back into `Ok(None)` or a listing as more bytes arrive.
pub fn parse_listing(buf: &[u8]) -> Result<Option<(Listing<'_>, usize)>, ParseError> {
    if buf.first() != Some(&b'*') {
        return Ok(match parse(buf)? {
            Status::Complete { reply, consumed } => Some((Listing::Other(reply), consumed)),
            Status::Partial => None,
        });
    }
    match listing(buf) {
        // Past the bound, incomplete or not, the listing is too long.
        Ok(None) if buf.len() > LISTING_BYTES_MAX => Err(ParseError::TooLong),
        Ok(Some((_, consumed))) if consumed > LISTING_BYTES_MAX => Err(ParseError::TooLong),
        other => other,
    }
}

fn listing(buf: &[u8]) -> Step<Listing<'_>> {
    let (len, mut at) = need!(length(buf, LISTING_ITEMS_MAX));
    let Some(len) = len else {
        return Ok(Some((Listing::Other(Reply::NullArray), at)));
    };
    let mut items = [Item::Array; LISTING_ITEMS_MAX];
    for item in items.iter_mut().take(len) {
        let (found, end) = need!(listing_item(buf, at, 1));
        *item = found;
        at = end;
    }
    Ok(Some((Listing::Items(Items { len, items }), at)))
}

/// One item of a listing at `at`, inside `depth` arrays; nested arrays are walked to their end and skipped.
fn listing_item(buf: &[u8], at: usize, depth: usize) -> Step<Item<'_>> {
    let rest = buf.get(at..).unwrap_or_default();
    let (item, consumed) = match rest.first() {
        None => return Ok(None),
        Some(b':') => {
            let (value, end) = need!(decimal(rest, 1));
            (Item::Integer(value), end)
        }
        Some(b'$') => match need!(bulk(rest)) {
            (Reply::Bulk(payload), end) => (Item::Bulk(payload), end),
            _ => return Err(ParseError::BadType),
        },
        Some(b'*') if depth <= LISTING_DEPTH_MAX => {
            let (len, mut end) = need!(length(rest, LISTING_BYTES_MAX));
            for _ in 0..len.unwrap_or(0) {
                let (_, next) = need!(listing_item(rest, end, depth + 1));
                end = next;
            }
            (Item::Array, end)
        }
        Some(b'*') => return Err(ParseError::Nested),
        Some(b'+' | b'-') => return Err(ParseError::NotInteger),
        Some(_) => return Err(ParseError::BadType),
    };
    Ok(Some((item, at + consumed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &[u8] = b"e0e1f9fabfc9d4800c877a703b823ac0578ff8db";
    static LONG_LINE: [u8; LINE_BYTES_MAX] = [b'x'; LINE_BYTES_MAX];
    // CRs inside the payload: only the length ends a bulk.
    static LONG_BULK: [u8; BULK_BYTES_MAX] = [b'\r'; BULK_BYTES_MAX];

    fn ints(items: &[i64]) -> Reply<'static> {
        let mut array = IntArray { len: items.len(), items: [0; ARRAY_ITEMS_MAX] };
        array.items[..items.len()].copy_from_slice(items);
        Reply::Array(array)
    }

    /// Every reply kind we accept: (wire bytes, the reply they hold).
    fn accepted() -> Vec<(Vec<u8>, Reply<'static>)> {
        let mut cases: Vec<(Vec<u8>, Reply<'static>)> = vec![
            (b"+OK\r\n".to_vec(), Reply::Simple(b"OK")),
            (b"+PONG\r\n".to_vec(), Reply::Simple(b"PONG")),
            (b"+\r\n".to_vec(), Reply::Simple(b"")),
            (b":0\r\n".to_vec(), Reply::Integer(0)),
            (b":42\r\n".to_vec(), Reply::Integer(42)),
            (b":-7\r\n".to_vec(), Reply::Integer(-7)),
            (b":-0\r\n".to_vec(), Reply::Integer(0)),
            (b":9223372036854775807\r\n".to_vec(), Reply::Integer(i64::MAX)),
            (b":-9223372036854775808\r\n".to_vec(), Reply::Integer(i64::MIN)),
            (b"$0\r\n\r\n".to_vec(), Reply::Bulk(Some(b""))),
            (b"$4\r\na\r\nb\r\n".to_vec(), Reply::Bulk(Some(b"a\r\nb"))),
            (b"$-1\r\n".to_vec(), Reply::Bulk(None)),
            (b"*2\r\n:7\r\n:1700000000\r\n".to_vec(), ints(&[7, 1_700_000_000])),
            (b"*0\r\n".to_vec(), ints(&[])),
            (b"*1\r\n:-1\r\n".to_vec(), ints(&[-1])),
            (b"*8\r\n:1\r\n:2\r\n:3\r\n:4\r\n:5\r\n:6\r\n:7\r\n:8\r\n".to_vec(), ints(&[1, 2, 3, 4, 5, 6, 7, 8])),
            (b"*-1\r\n".to_vec(), Reply::NullArray),
        ];
        for text in [
            &b"NOSCRIPT No matching script. Please use EVAL."[..],
            b"LOADING Redis is loading the dataset in memory",
            b"NOAUTH Authentication required.",
            b"WRONGPASS invalid username-password pair or user is disabled.",
            b"BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
            b"READONLY You can't write against a read only replica.",
            b"ERR unknown command 'FOO', with args beginning with: ",
        ] {
            cases.push(([b"-", text, b"\r\n"].concat(), Reply::Error(text)));
        }
        cases.push(([&b"$40\r\n"[..], SHA, b"\r\n"].concat(), Reply::Bulk(Some(SHA))));
        cases.push(([&b"+"[..], &LONG_LINE, b"\r\n"].concat(), Reply::Simple(&LONG_LINE)));
        cases.push(([&b"$512\r\n"[..], &LONG_BULK, b"\r\n"].concat(), Reply::Bulk(Some(&LONG_BULK))));
        cases
    }

    /// Everything we refuse, even where the bytes are valid RESP: (wire bytes, the error).
    fn refused() -> Vec<(Vec<u8>, ParseError)> {
        use ParseError::*;
        let too_long_line = [&b"+"[..], &[b'x'; LINE_BYTES_MAX + 1], b"\r\n"].concat();
        vec![
            (b"!x\r\n".to_vec(), BadType),
            (b"\r\n".to_vec(), BadType),
            (b"_\r\n".to_vec(), BadType),
            (b"%1\r\n".to_vec(), BadType),
            (b" +OK\r\n".to_vec(), BadType),
            (b":\r\n".to_vec(), BadInteger),
            (b":-\r\n".to_vec(), BadInteger),
            (b":+1\r\n".to_vec(), BadInteger),
            (b": 1\r\n".to_vec(), BadInteger),
            (b":1 \r\n".to_vec(), BadInteger),
            (b":1a\r\n".to_vec(), BadInteger),
            (b":--1\r\n".to_vec(), BadInteger),
            (b":1\n".to_vec(), BadInteger),
            (b":9223372036854775808\r\n".to_vec(), BadInteger),
            (b":-9223372036854775809\r\n".to_vec(), BadInteger),
            (b":99999999999999999999\r\n".to_vec(), BadInteger),
            (b":00000000000000000001\r\n".to_vec(), BadInteger),
            (b"$x\r\n".to_vec(), BadInteger),
            (b"$\r\n".to_vec(), BadInteger),
            (b":1\rx".to_vec(), BadLine),
            (b"+OK\rX".to_vec(), BadLine),
            (b"+OK\r\r\n".to_vec(), BadLine),
            (b"+O\nK\r\n".to_vec(), BadLine),
            (b"+OK\n".to_vec(), BadLine),
            (b"-ERR\n".to_vec(), BadLine),
            (b"$3\r\nabcd\r\n".to_vec(), BadLine),
            (b"$3\r\nab\r\n".to_vec(), BadLine),
            (b"$3\r\nabc\rx".to_vec(), BadLine),
            (b"$-2\r\n".to_vec(), BadLength),
            (b"*-2\r\n".to_vec(), BadLength),
            (b"$-9223372036854775808\r\n".to_vec(), BadLength),
            (too_long_line, TooLong),
            (b"$513\r\n".to_vec(), TooLong),
            (b"$9223372036854775807\r\n".to_vec(), TooLong),
            (b"*9\r\n".to_vec(), TooLong),
            (b"*1\r\n*1\r\n:1\r\n".to_vec(), Nested),
            (b"*1\r\n*-1\r\n".to_vec(), Nested),
            (b"*2\r\n:1\r\n*0\r\n".to_vec(), Nested),
            (b"*1\r\n$1\r\na\r\n".to_vec(), NotInteger),
            (b"*1\r\n$-1\r\n".to_vec(), NotInteger),
            (b"*2\r\n:1\r\n+OK\r\n".to_vec(), NotInteger),
            (b"*1\r\n-ERR x\r\n".to_vec(), NotInteger),
            (b"*1\r\n!\r\n".to_vec(), BadType),
            (b"*1\r\n:x\r\n".to_vec(), BadInteger),
        ]
    }

    /// Parses `raw` whole, cut at every byte, and followed by another reply. `expected` is the outcome for the whole;
    /// a `Complete` must consume all of `raw`.
    fn check(raw: &[u8], expected: Result<Reply<'_>, ParseError>) {
        let whole = expected.map(|reply| Status::Complete { reply, consumed: raw.len() });
        assert_eq!(parse(raw), whole, "whole {:?}", String::from_utf8_lossy(raw));

        // Partial until complete; an error, once seen, stays the same error.
        let mut failed = false;
        for cut in 0..raw.len() {
            let got = parse(&raw[..cut]);
            let allowed = match expected {
                Ok(_) => got == Ok(Status::Partial),
                Err(error) if failed => got == Err(error),
                Err(error) => got == Ok(Status::Partial) || got == Err(error),
            };
            assert!(allowed, "cut {cut} of {:?}: {got:?}", String::from_utf8_lossy(raw));
            failed = got.is_err();
        }

        // Bytes after a reply are the next reply's, and never change this one.
        let followed = [raw, b"+NEXT\r\n"].concat();
        assert_eq!(parse(&followed), whole, "followed {:?}", String::from_utf8_lossy(raw));
    }

    #[test]
    fn accepted_replies_parse_at_every_split() {
        for (raw, reply) in accepted() {
            check(&raw, Ok(reply));
        }
    }

    #[test]
    fn refused_replies_fail_at_every_split() {
        for (raw, error) in refused() {
            check(&raw, Err(error));
        }
    }

    #[test]
    fn empty_buffer_is_partial() {
        assert_eq!(parse(b""), Ok(Status::Partial));
    }

    /// Drains every complete reply from `pending`, as the client's read loop does, and compacts once.
    fn drain(pending: &mut Vec<u8>, out: &mut Vec<String>) {
        let mut at = 0;
        while let Ok(Status::Complete { reply, consumed }) = parse(&pending[at..]) {
            out.push(format!("{reply:?}"));
            at += consumed;
        }
        pending.drain(..at);
    }

    #[test]
    fn pipelined_replies_parse_back_to_back_at_every_split() {
        let cases = accepted();
        let stream: Vec<u8> = cases.iter().flat_map(|(raw, _)| raw.iter().copied()).collect();
        let expected: Vec<String> = cases.iter().map(|(_, reply)| format!("{reply:?}")).collect();
        for cut in 0..=stream.len() {
            let (mut pending, mut out) = (Vec::new(), Vec::new());
            for chunk in [&stream[..cut], &stream[cut..]] {
                pending.extend_from_slice(chunk);
                drain(&mut pending, &mut out);
            }
            assert_eq!(out, expected, "cut {cut}");
            assert!(pending.is_empty(), "cut {cut}: {} bytes left", pending.len());
        }
    }

    #[test]
    fn pipelined_replies_arrive_a_byte_at_a_time() {
        let cases = accepted();
        let (mut pending, mut out) = (Vec::new(), Vec::new());
        for (raw, _) in &cases {
            for &byte in raw {
                pending.push(byte);
                drain(&mut pending, &mut out);
            }
        }
        let expected: Vec<String> = cases.iter().map(|(_, reply)| format!("{reply:?}")).collect();
        assert_eq!(out, expected);
        assert!(pending.is_empty());
    }

    #[test]
    fn no_accepted_reply_exceeds_reply_bytes_max() {
        for (raw, _) in accepted() {
            assert!(raw.len() <= REPLY_BYTES_MAX, "{} bytes", raw.len());
        }
        assert_eq!(REPLY_BYTES_MAX, 1 + LINE_BYTES_MAX + 2);
    }

    #[test]
    fn error_kind_matches_the_whole_first_word() {
        use RedisErrorKind::*;
        for (message, kind) in [
            (&b"NOSCRIPT No matching script. Please use EVAL."[..], NoScript),
            (b"NOSCRIPT", NoScript),
            (b"LOADING Redis is loading the dataset in memory", Loading),
            (b"NOAUTH Authentication required.", NoAuth),
            (b"WRONGPASS invalid username-password pair or user is disabled.", WrongPass),
            (b"BUSY Redis is busy running a script.", Busy),
            (b"READONLY You can't write against a read only replica.", ReadOnly),
            (b"NOREPLICAS Not enough good replicas to write.", NoReplicas),
            (b"MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", MasterDown),
            (b"ERR invalid password", Other),
            (b"BUSYKEY Target key name already exists.", Other),
            (b"MOVED 3999 127.0.0.1:6381", Moved),
            (b"ASK 3999 127.0.0.1:6381", Ask),
            (b"ASKING", Other),
            (b"TRYAGAIN Multiple keys request during rehashing of slot", TryAgain),
            (b"CLUSTERDOWN The cluster is down", ClusterDown),
            (b"COUNTER_EXHAUSTED past 9223372036854775807 script: 1f0e, on @user_script:5.", Exhausted),
            (b"NOSCRIPTS x", Other),
            (b"noscript No matching script.", Other),
            (b" NOSCRIPT", Other),
            (b"", Other),
        ] {
            assert_eq!(error_kind(message), kind, "{:?}", String::from_utf8_lossy(message));
        }
    }

    #[test]
    fn script_reply_is_a_pair() {
        let Ok(Status::Complete { reply: Reply::Array(items), .. }) = parse(b"*2\r\n:3\r\n:1700000000\r\n") else {
            panic!("not an array");
        };
        assert_eq!(items.as_pair(), Some((3, 1_700_000_000)));
        assert_eq!(items.as_slice(), &[3, 1_700_000_000]);
        let Ok(Status::Complete { reply: Reply::Array(items), .. }) = parse(b"*1\r\n:3\r\n") else {
            panic!("not an array");
        };
        assert_eq!(items.as_pair(), None);
    }

    /// Parses `raw` whole and cut at every byte, like `check` for `parse`.
    fn listing_of(raw: &[u8]) -> Result<Listing<'_>, ParseError> {
        let whole = parse_listing(raw);
        for cut in 0..raw.len() {
            let got = parse_listing(&raw[..cut]);
            assert!(got == Ok(None) || (got.is_err() && got == whole), "cut {cut}: {got:?}");
        }
        let followed = [raw, b"+NEXT\r\n"].concat();
        assert_eq!(parse_listing(&followed).map(|l| l.map(|(_, n)| n)), whole.map(|l| l.map(|(_, n)| n)));
        match whole? {
            Some((listing, consumed)) => {
                assert_eq!(consumed, raw.len());
                Ok(listing)
            }
            None => panic!("incomplete {:?}", String::from_utf8_lossy(raw)),
        }
    }

    #[test]
    fn listings_of_role_and_sentinel_replies() {
        let primary =
            b"*3\r\n$6\r\nmaster\r\n:3129659\r\n*2\r\n*3\r\n$9\r\n127.0.0.1\r\n$4\r\n9001\r\n$7\r\n3129242\r\n\
*3\r\n$9\r\n127.0.0.1\r\n$4\r\n9002\r\n$7\r\n3129543\r\n";
        let Listing::Items(items) = listing_of(primary).unwrap() else { panic!() };
        assert_eq!(items.as_slice(), &[Item::Bulk(Some(b"master")), Item::Integer(3129659), Item::Array]);
        let replica = b"*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:9000\r\n$9\r\nconnected\r\n:3167038\r\n";
        let Listing::Items(items) = listing_of(replica).unwrap() else { panic!() };
        assert_eq!(
            (items.bulk(0), items.bulk(1), items.as_slice().len()),
            (Some(&b"slave"[..]), Some(&b"127.0.0.1"[..]), 5)
        );
        let addr = b"*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6379\r\n";
        let Listing::Items(items) = listing_of(addr).unwrap() else { panic!() };
        assert_eq!((items.bulk(0), items.bulk(1)), (Some(&b"127.0.0.1"[..]), Some(&b"6379"[..])));
        assert_eq!(listing_of(b"*-1\r\n"), Ok(Listing::Other(Reply::NullArray)));
        assert_eq!(listing_of(b"-NOAUTH x\r\n"), Ok(Listing::Other(Reply::Error(b"NOAUTH x"))));
        assert_eq!(
            listing_of(b"*1\r\n*0\r\n"),
            Ok(Listing::Items(Items { len: 1, items: [Item::Array; LISTING_ITEMS_MAX] }))
        );
    }

    #[test]
    fn listings_refused() {
        use ParseError::*;
        for (raw, error) in [
            (&b"*9\r\n"[..], TooLong),
            (b"*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", Nested),
            (b"*1\r\n+OK\r\n", NotInteger),
            (b"*1\r\n!\r\n", BadType),
            (b"*1\r\n$2\r\nabc\r\n", BadLine),
        ] {
            assert_eq!(listing_of(raw), Err(error), "{:?}", String::from_utf8_lossy(raw));
        }
        // Growing past the bound is refused before the reply ends.
        let mut long = b"*1\r\n*3000\r\n".to_vec();
        long.extend(b":1\r\n".repeat(3000));
        assert_eq!(parse_listing(&long), Err(TooLong));
        assert_eq!(parse_listing(&long[..LISTING_BYTES_MAX + 1]), Err(TooLong));
        assert_eq!(parse_listing(&long[..LISTING_BYTES_MAX]), Ok(None));
    }
}

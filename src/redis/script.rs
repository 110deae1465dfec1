//! The Lua scripts and the precomputed command bytes. The hot-path command is static but for two numbers:
//! `EVALSHA <sha> 3 {counter}:n {counter}:ts {counter}:run <run id> <gap> <floor> <k>`; everything up to the
//! gap is built once per connection (the run id is the connection's, see `PROBE`, or empty once checked, in a
//! second copy), `floor` and `k` are appended
//! with itoa. Also the reply's shape (`BatchReply`), which this file's script decides.

/// All three keys share the `{counter}` hash tag, so the script also runs on Redis Cluster (one slot).
pub const KEY_VALUE: &str = "{counter}:n";
pub const KEY_CHANGED: &str = "{counter}:ts";
/// The identity of the Redis process the service last wrote through (see `PROBE`).
pub const KEY_RUN: &str = "{counter}:run";

/// Asked once per connection, in the handshake: which Redis process (and replication history) this connection
/// reaches. `run_id` changes with every start of redis-server; `master_replid` changes whenever a node becomes
/// a primary (a promotion) and when a demoted node resyncs from another, so a node that lost its own writes
/// to a resync and was promoted again is new, too. INFO is allowed in scripts since Redis 5 (effects
/// replication); it goes through EVAL, not INFO itself, because the reply is 40 bytes instead of ~1.5 KiB.
pub const PROBE: &str = "\
local s = redis.call('INFO', 'server') .. redis.call('INFO', 'replication')
return (string.match(s, 'run_id:(%x+)') or '') .. ':' .. (string.match(s, 'master_replid:(%x+)') or '')
";

/// The batch script. ARGV: the connection's run id (empty once the connection's process is checked: see
/// `Link::checked`), the gap, the floor (this worker's mark + k: the smallest last value it may hand out), k.
///
/// 1. **Skip**: the first call through a Redis process the service has not written through before (the run
///    key holds another identity, or none) adds the gap before anything else. Scripts run one at a time, so of
///    two workers racing onto a new process exactly one sees the old identity: it skips and stores the new
///    one, and the other then finds it stored. Neither both skip nor both miss.
/// 2. **Lift**: a last value below the floor (Redis lost increments this worker saw, or the key was deleted)
///    sets the counter to floor + gap, so this worker's values are above its mark at once.
/// 3. lastChanged from Redis TIME, kept monotonic (a clock step back, or a failover to a host with a slower
///    clock, never makes a later value look older). Only a second inside 1970–9999 (≤ 253402300799) is ever
///    stored or taken from the key: an out-of-range TIME is returned as it is (the link fails that batch) but
///    never stored, and a stored one out of range (tampered with) is ignored, so one bogus second cannot
///    poison later batches.
///
/// Exact to `i64::MAX`: Lua numbers are doubles, exact only below 2^53, so past it the value is compared as a
/// decimal string and returned split. Reply: `{value, seconds}` in the common case (below 2^53, nothing
/// skipped or lifted: the cheapest to send and parse), else `{hi, lo, seconds, skipped, lifted}`, value =
/// hi * 10^9 + lo. Past `i64::MAX` it answers `COUNTER_EXHAUSTED` and changes nothing it has not already
/// raised. `lifted` is approximate past 2^52 (it is only counted).
pub const SCRIPT: &str = "\
local function add(by)
  local n = redis.pcall('INCRBY', KEYS[1], by)
  if type(n) == 'table' then
    if string.find(n.err, 'overflow', 1, true) then n.err = 'COUNTER_EXHAUSTED past 9223372036854775807' end
    error(n)
  end
  return n
end
local skipped, lifted = 0, 0
if ARGV[1] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[1] then
  add(ARGV[2])
  redis.call('SET', KEYS[3], ARGV[1])
  skipped = tonumber(ARGV[2])
end
local n = add(ARGV[4])
local floor = ARGV[3]
local exact = n < 9007199254740992 and n > -9007199254740992 and #floor < 16
local below
if exact then
  below = n < tonumber(floor)
else
  local s = redis.call('GET', KEYS[1])
  if string.sub(s, 1, 1) == '-' then below = true
  elseif #s ~= #floor then below = #s < #floor
  else below = s < floor end
end
if below then
  if #floor > 19 or (#floor == 19 and floor > '9223372036854775807') then
    error({err = 'COUNTER_EXHAUSTED past 9223372036854775807'})
  end
  lifted = math.min(tonumber(floor) + tonumber(ARGV[2]) - n, 4503599627370496)
  redis.call('SET', KEYS[1], floor)
  n = add(ARGV[2])
  exact = n < 9007199254740992
end
local now = tonumber(redis.call('TIME')[1])
local last = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
if last > 253402300799 or last < 0 then last = 0 end
if now > last and now <= 253402300799 then redis.call('SET', KEYS[2], now) elseif now <= 253402300799 then now = last end
if exact and skipped == 0 and lifted == 0 then return {n, now} end
if exact then return {0, n, now, skipped, lifted} end
local s = redis.call('GET', KEYS[1])
return {tonumber(string.sub(s, 1, -10)), tonumber(string.sub(s, -9)), now, skipped, lifted}
";

/// What one script call answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchReply {
    /// The batch's last value: it holds `last - k + 1 ..= last`.
    pub last: u64,
    /// Redis TIME (seconds), monotonic per counter.
    pub seconds: u64,
    /// The gap this call skipped for a new Redis process, or 0.
    pub skipped: u64,
    /// The values this call lifted past (approximate when huge), or 0.
    pub lifted: u64,
}

impl BatchReply {
    /// The script's two or five integers, checked: `None` for any other shape or a value no script of ours
    /// returns (negative, past `i64::MAX`, below k).
    pub fn parse(items: &[i64], k: usize) -> Option<BatchReply> {
        let [hi, lo, seconds, skipped, lifted] = match *items {
            [value, seconds] => [0, value, seconds, 0, 0],
            [hi, lo, seconds, skipped, lifted] => [hi, lo, seconds, skipped, lifted],
            _ => return None,
        };
        let last = hi.checked_mul(1_000_000_000)?.checked_add(lo)?;
        let last = u64::try_from(last).ok().filter(|&last| last >= k as u64)?;
        Some(BatchReply {
            last,
            seconds: u64::try_from(seconds).ok()?,
            skipped: u64::try_from(skipped).ok()?,
            lifted: u64::try_from(lifted).ok()?,
        })
    }
}

/// Appends one RESP bulk string.
pub fn bulk(out: &mut Vec<u8>, arg: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(itoa::Buffer::new().format(arg.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(arg);
    out.extend_from_slice(b"\r\n");
}

/// Appends a whole command (connection set-up only; allocation there is fine).
pub fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        bulk(out, a);
    }
}

/// `EVAL <PROBE> 0`: the handshake's question for the run id.
pub fn probe(out: &mut Vec<u8>) {
    command(out, &[b"EVAL", PROBE.as_bytes(), b"0"]);
}

/// The bytes of `EVALSHA <sha> 3 <keys> <run id> <gap>` with the array header for all 10 arguments; the floor
/// and the batch size are appended per call by `finish_batch`.
pub fn evalsha_prefix(sha: &[u8], run: &[u8], gap: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"*10\r\n");
    let gap = itoa::Buffer::new().format(gap).as_bytes().to_vec();
    let keys = [KEY_VALUE.as_bytes(), KEY_CHANGED.as_bytes(), KEY_RUN.as_bytes()];
    for a in [b"EVALSHA".as_slice(), sha, b"3"].into_iter().chain(keys).chain([run, &gap]) {
        bulk(&mut out, a);
    }
    out
}

/// Appends the floor (the worker's mark + k) and the batch size, the two per-call arguments.
pub fn finish_batch(out: &mut Vec<u8>, floor: u64, k: usize) {
    bulk(out, itoa::Buffer::new().format(floor).as_bytes());
    bulk(out, itoa::Buffer::new().format(k).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_bytes() {
        let mut out = evalsha_prefix(b"abc", b"r1:x", 1000);
        finish_batch(&mut out, 41, 16);
        let want: &[u8] =
            b"*10\r\n$7\r\nEVALSHA\r\n$3\r\nabc\r\n$1\r\n3\r\n$11\r\n{counter}:n\r\n$12\r\n{counter}:ts\r\n\
$13\r\n{counter}:run\r\n$4\r\nr1:x\r\n$4\r\n1000\r\n$2\r\n41\r\n$2\r\n16\r\n";
        assert_eq!(out, want);
        let mut out = Vec::new();
        command(&mut out, &[b"AUTH", b"pw"]);
        assert_eq!(out, b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n");
    }

    #[test]
    fn reply_shape_and_exact_values() {
        let parse = |items: &[i64]| BatchReply::parse(items, 4);
        assert_eq!(parse(&[0, 42, 7, 0, 0]), Some(BatchReply { last: 42, seconds: 7, skipped: 0, lifted: 0 }));
        // Past 2^53 the value arrives split and is put together exactly: i64::MAX.
        let max = parse(&[9_223_372_036, 854_775_807, 7, 1, 2]).map(|r| r.last);
        assert_eq!(max, Some(i64::MAX as u64));
        assert_eq!(parse(&[9_223_372_037, 0, 7, 0, 0]), None, "past i64::MAX");
        assert_eq!(parse(&[0, 3, 7, 0, 0]), None, "below k");
        assert_eq!(parse(&[0, -1, 7, 0, 0]), None);
        assert_eq!(parse(&[42, 7]), Some(BatchReply { last: 42, seconds: 7, skipped: 0, lifted: 0 }), "common case");
        assert_eq!(parse(&[42, 7, 0]), None);
        assert_eq!(parse(&[0, 42, -7, 0, 0]), None);
    }
}

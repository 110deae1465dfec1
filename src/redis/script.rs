//! The Lua script and the precomputed command bytes. The hot-path command is static but for the batch size:
//! `EVALSHA <sha> 2 {counter}:n {counter}:ts <k>`, its prefix built once per connection, `k` appended with itoa.

/// Both keys share the `{counter}` hash tag, so the script also runs on Redis Cluster (one slot).
pub const KEY_VALUE: &str = "{counter}:n";
pub const KEY_CHANGED: &str = "{counter}:ts";

/// Adds k, reads Redis' clock, and keeps lastChanged monotonic: a clock step back on the Redis host (or a
/// failover to a replica with a slower clock) never makes a later value look older. Returns {value, seconds}.
pub const SCRIPT: &str = "\
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
local now = tonumber(redis.call('TIME')[1])
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
if now > last then redis.call('SET', KEYS[2], now) else now = last end
return {n, now}
";

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

/// The bytes of `EVALSHA <sha> 2 {counter}:n {counter}:ts` with the array header for 6 arguments; the batch
/// size is appended per call by `finish_batch`.
pub fn evalsha_prefix(sha: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"*6\r\n");
    for a in [b"EVALSHA".as_slice(), sha, b"2", KEY_VALUE.as_bytes(), KEY_CHANGED.as_bytes()] {
        bulk(&mut out, a);
    }
    out
}

/// `EVAL <script> 2 {counter}:n {counter}:ts` without the count: the fallback after NOSCRIPT.
pub fn eval_prefix() -> Vec<u8> {
    let mut out = Vec::with_capacity(SCRIPT.len() + 64);
    out.extend_from_slice(b"*6\r\n");
    for a in [b"EVAL".as_slice(), SCRIPT.as_bytes(), b"2", KEY_VALUE.as_bytes(), KEY_CHANGED.as_bytes()] {
        bulk(&mut out, a);
    }
    out
}

/// Appends the batch size as the last argument.
pub fn finish_batch(out: &mut Vec<u8>, k: usize) {
    bulk(out, itoa::Buffer::new().format(k).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_bytes() {
        let mut out = evalsha_prefix(b"abc");
        finish_batch(&mut out, 16);
        assert_eq!(
            out,
            b"*6\r\n$7\r\nEVALSHA\r\n$3\r\nabc\r\n$1\r\n2\r\n$11\r\n{counter}:n\r\n$12\r\n{counter}:ts\r\n$2\r\n16\r\n"
        );
        let mut out = Vec::new();
        command(&mut out, &[b"AUTH", b"pw"]);
        assert_eq!(out, b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n");
    }
}

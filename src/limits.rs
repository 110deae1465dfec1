//! Every size, time and count limit of the server, in one place.
//!
//! Each constant carries its unit last and says why it has the value it has. Relationships between limits
//! are checked at compile time at the bottom of the file.

/// Largest request head (request line + header fields) we buffer. Real clients send a few hundred bytes;
/// nginx's default `large_client_header_buffers` is 8 KiB too. Beyond it: 431 (RFC 6585 §5).
pub const HEADER_BYTES_MAX: usize = 8 * 1024;

/// Longest request-target. Our targets are short paths; a long one is a scanner. Beyond it: 414
/// (RFC 9110 §15.5.15).
pub const TARGET_BYTES_MAX: usize = 2 * 1024;

/// Longest method token. Registered methods are at most 17 bytes (UPDATEREDIRECTREF); a longer one is
/// garbage: 400, decided the same way whether the line is complete or still arriving.
pub const METHOD_BYTES_MAX: usize = 32;

/// Most header fields in one request. httparse needs a fixed array; more fields than this: 431.
pub const HEADERS_MAX: usize = 48;

/// Largest request body we read and discard (no endpoint takes a body). Beyond it: 413 (RFC 9110 §15.5.14).
pub const BODY_BYTES_MAX: usize = 16 * 1024;

/// One request as buffered on a connection: head plus a discarded body.
pub const REQUEST_BYTES_MAX: usize = HEADER_BYTES_MAX + BODY_BYTES_MAX;

/// Longest request head a worker remembers to recognise its repeat (`http::request::Parser`): a client's heads
/// on one connection are usually byte-identical (curl's and wrk's are about 80 bytes, a browser's 500), and a
/// repeat is answered by one comparison instead of a parse. Longer heads are simply parsed every time.
pub const REPEAT_HEAD_BYTES_MAX: usize = 1024;

/// Per-worker read buffer: one `read(2)` fills at most this much. 64 KiB holds hundreds of pipelined
/// requests, so a pipelining client is answered in one write per read.
pub const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Output high-water mark per connection: once this many response bytes wait to be written, the
/// connection stops parsing (and so reading) until the client drains them. Bounds memory per connection
/// against clients that pipeline but never read.
pub const OUTPUT_HIGH_WATER_BYTES: usize = 64 * 1024;

/// Largest response head, and largest JSON response (headers + body). Checked by tests on the longest counter
/// value.
pub const RESPONSE_HEAD_BYTES_MAX: usize = 512;

/// Largest `/metrics` body. The set of series is fixed, so the page is bounded: a unit test in metrics.rs renders
/// the worst case (every series present, every value at its widest) and checks it against this (20.3 KiB with
/// the state-file and skip-ahead series).
pub const METRICS_BODY_BYTES_MAX: usize = 24 * 1024;

/// Largest single response we render: a `/metrics` page. The worker's scratch output reserves room for one
/// more response past the high-water mark, so answering a scrape never grows it.
pub const RESPONSE_BYTES_MAX: usize = RESPONSE_HEAD_BYTES_MAX + METRICS_BODY_BYTES_MAX;

/// Redis mode: GET /status requests one connection may have waiting for the shared counter. Pipelining
/// clients (wrk sends 16) fit; beyond it the connection's remaining requests wait in its input.
pub const DEFERRED_PER_CONNECTION_MAX: usize = 64;

/// Redis mode: a round trip to Redis that takes longer than this fails its requests with 503 and drops the
/// link (replies after it could no longer be matched to requests).
pub const REDIS_TIMEOUT_MILLIS: u64 = 1000;

/// Redis mode: how long a reconnect waits for its host name to resolve (on the link's helper thread) before it
/// counts as a `resolve` fault and backs off. Cluster DNS answers in about a millisecond; a name outside the
/// cluster with `ndots:5` search domains takes a few queries; an unreachable DNS server takes resolv.conf's
/// `timeout × attempts` (10 s). Requests get 503 meanwhile either way: this only bounds one attempt.
pub const REDIS_RESOLVE_TIMEOUT_MILLIS: u64 = 5000;

/// Redis mode: how often the worker looks for the helper thread's answer while a resolution is pending. Only
/// during a reconnect; small against the first backoff step.
pub const REDIS_RESOLVE_POLL_MILLIS: u64 = 5;

/// Redis mode: reconnect backoff, doubling from the first to the cap, with jitter.
pub const REDIS_BACKOFF_FIRST_MILLIS: u64 = 100;
pub const REDIS_BACKOFF_MAX_MILLIS: u64 = 5000;

/// Redis mode: the backoff's cap after a "not the primary (any more)" error (READONLY, NOREPLICAS, MASTERDOWN,
/// LOADING, ROLE not master). A failover is under way and Sentinel names the new primary within about a second
/// of its election; waiting the full cap would add seconds of 503s after it.
pub const REDIS_REDISCOVER_MAX_MILLIS: u64 = 1000;

/// Redis mode: script calls one worker keeps in flight on its connection (replies come back in order). Measured
/// with benches/load-redis.sh (1 pod, 64 connections): 4 in flight served ~156k req/s at p99 1.8 ms against
/// ~105k req/s at p99 2.4 ms with 1, still at ~12 requests per script call.
pub const REDIS_BATCHES_IN_FLIGHT_MAX: usize = 4;

/// Redis mode: the link's read buffer; holds many replies (each at most `resp::REPLY_BYTES_MAX`).
pub const REDIS_READ_BUFFER_BYTES: usize = 16 * 1024;

/// Redis mode: room reserved at link start for pending commands (the handshake's few, then per batch its script
/// call, its WAIT and an ASKING); the queue grows past it only if a burst of redirects needs it.
pub const REDIS_QUEUE_ENTRIES: usize = 64;

/// Redis Cluster: room reserved for batches a redirect turned away, waiting for the node switch; at most the
/// batches in flight when the redirects came.
pub const REDIS_REDIRECTED_BATCHES: usize = 8;

/// Redis mode: longest script SHA the link keeps from SCRIPT LOAD's reply (SHA1 in hex is 40).
pub const REDIS_SHA_BYTES_MAX: usize = 64;

/// Redis mode: longest process identity the link keeps from the handshake's probe (`script::PROBE`): a 40-hex
/// run id, a colon and a 40-hex replication id.
pub const REDIS_RUN_BYTES_MAX: usize = 96;

/// Redis mode: the link's output buffer, reserved at start: a batch's script call and WAIT are ~100 bytes, the
/// handshake (with the script body) a few hundred; it grows only if the socket stops taking bytes.
pub const REDIS_OUTPUT_BYTES: usize = 64 * 1024;

/// The last Unix second a response can carry as a 4-digit-year date, 9999-12-31T23:59:59Z. A Redis TIME after
/// it (or before 1970) is a fault: that batch answers 503.
pub const UNIX_SECS_MAX: u64 = 253_402_300_799;

/// Redis mode over TLS: ciphertext rustls may queue for the socket before `write` reports `WouldBlock`. Above
/// the link's own 64 KiB output buffer plus TLS record overhead (about 22 bytes per 16 KiB record), so a full
/// output buffer is sealed in one go; below it only if the socket stalls, and then the link's timeout decides.
pub const REDIS_TLS_BUFFER_BYTES: usize = 96 * 1024;

/// Redis Cluster: redirects (`-MOVED`, `-ASK`) followed without a batch returning a value, before the batches
/// waiting are answered 503 and the link backs off. A healthy cluster needs at most three (MOVED to the owner,
/// ASK during a migration, MOVED once it finishes); more is a loop (a misconfigured or flapping cluster).
pub const REDIS_REDIRECTS_MAX: u32 = 5;
/// Redis Sentinel mode: how long one Sentinel gets to connect and name the primary before the next one is asked.
/// The client guidelines ask for a short timeout ("a few hundreds of milliseconds"): a Sentinel on the loopback
/// or in the cluster answers in about a millisecond, and a dead one must not hold up discovery.
pub const REDIS_SENTINEL_TIMEOUT_MILLIS: u64 = 300;

/// Most Sentinels in `--redis-sentinels`: the per-Sentinel error metric has a slot for each. Deployments run 3 or
/// 5; a quorum of more than 8 buys nothing.
pub const SENTINELS_MAX: usize = 8;

/// `WAIT`'s timeout: how long Redis may hold a batch's reply for replica acknowledgements. A healthy replica on
/// the same network acknowledges in well under a millisecond. Redis answers a connection's WAITs one after the
/// other, so with every batch in flight waiting out its WAIT the last reply comes after all of them: their sum
/// stays below the round-trip timeout (asserted below), so a missing replica shows as short counts (503, link
/// kept), not as a dropped link.
pub const REDIS_WAIT_TIMEOUT_MILLIS: u64 = 200;

/// Default for `--redis-skip-gap`: how far the counter skips ahead the first time the service writes through a
/// Redis process (a restart, a failover, a slot moved), and how far past a worker's mark a lift lands. It must
/// exceed the increments Redis can lose: `appendfsync everysec` loses up to 2 s, a restore from a snapshot or a
/// failover to a lagging replica seconds more. At the highest rate one Redis can serve (about 200,000 script
/// calls/s at the 5 us each measured, times ~16 increments per call: ~3.2 million/s) 10^8 covers 30 s of loss;
/// at the 92,000/s three pods reached here (benches/record/load-redis-20261202T022121Z.md), 18 minutes.
/// JavaScript reads integers exactly up to 2^53: about 90 million skips fit below it (docs/redis-ha.md).
pub const REDIS_SKIP_GAP: u64 = 100_000_000;

/// Largest `--redis-skip-gap`: 10^12 still leaves 9,007 skips below 2^53, and keeps floor + gap far from
/// `i64::MAX`, which the counter (a Redis integer) cannot pass.
pub const REDIS_SKIP_GAP_MAX: u64 = 1_000_000_000_000;

/// Largest `--redis-start-above`: half of `i64::MAX` (the counter is a Redis integer), so a start there still
/// leaves room for a practically endless count above it.
pub const REDIS_START_ABOVE_MAX: u64 = (i64::MAX / 2) as u64;
/// `--state-file`: how long a request waits for the durable ceiling to be raised (a slow or failing disk) before
/// it is answered 503 with `Retry-After`. A healthy sync takes milliseconds and starts long before the ceiling
/// is reached (`STATE_AHEAD_MILLIS`); a second is what a client of a counter will wait before retrying anyway,
/// and matches Redis mode's round-trip timeout.
pub const STATE_DEFER_MILLIS: u64 = 1000;

/// `--state-file`: each reservation covers this much traffic at the rate observed, so a crash skips at most this
/// much (one block). Writes alternate between two slots and the ceiling in use trails by one write, so at a
/// steady rate a sync happens every quarter block: 4 / 0.5 s = 8 syncs a second at any load (at most about 10).
pub const STATE_AHEAD_MILLIS: u64 = 500;

/// `--state-file`: the smallest block, so a slow trickle of requests does not sync on every few, and the
/// startup reservation before any rate is known. A crash at low load skips at most this many values.
pub const STATE_BLOCK_MIN: u64 = 1024;

/// `--state-file`: the largest block: far above any rate one process reaches (2^32 values in half a second),
/// and it keeps `value + block` clear of overflow.
pub const STATE_BLOCK_MAX: u64 = 1 << 32;

/// `--state-file`: how often the reserving thread looks at the counters' headroom. A sync is started when less
/// than half a block is left, i.e. about a quarter of a second ahead at a steady rate: ten looks fit in it.
pub const STATE_POLL_MILLIS: u64 = 10;

/// `--state-file`: the longest the reserving thread sleeps between looks, when the headroom is far from the
/// point where a write starts (idle, or a block that lasts): a slower look costs nothing then. It sleeps half
/// the time the headroom is predicted to last at the block's rate, within these bounds; a sudden burst that
/// outruns the prediction makes requests wait (never fail) for at most this plus one sync.
pub const STATE_POLL_MAX_MILLIS: u64 = 50;

/// `--state-file`: after a failed sync, the wait before the slot is written and synced again.
pub const STATE_RETRY_MILLIS: u64 = 1000;

/// `--state-file`: how often a worker with deferred requests looks whether the ceiling was raised (it does not
/// block on the reserving thread). Only while requests wait.
pub const STATE_RECHECK_MILLIS: u64 = 2;

/// Connection slots per worker, allocated at worker start. 10,000 connections spread over workers fit in
/// one worker even when SO_REUSEPORT hashes unevenly.
pub const CONNECTIONS_PER_WORKER_MAX: usize = 16 * 1024;

/// mio events drained per `epoll_wait`.
pub const EVENTS_PER_POLL: usize = 1024;

/// Default for `--idle-timeout`: close a keep-alive connection after this long with no request. Longer than common proxies' backend idle
/// timeouts (Traefik: 90 s), so the proxy closes first and never reuses a connection we just closed.
pub const IDLE_TIMEOUT_SECS: u64 = 120;

/// Default for `--header-timeout`: a request head (or a new connection's first byte) must arrive completely within this long: cuts off
/// silent connections and slowloris clients that trickle a header.
pub const HEADER_TIMEOUT_SECS: u64 = 10;

/// A client that stops reading its responses is closed once no write progress happened for this long.
pub const SEND_TIMEOUT_SECS: u64 = 30;

/// After a final response (`Connection: close`, or an error) we half-close and read until the client closes,
/// at most this long, so unread request bytes do not turn our FIN into an RST that destroys the response.
pub const LINGER_SECS: u64 = 2;

/// Once shutdown begins, in-flight responses get this long to finish before the process exits anyway.
pub const SHUTDOWN_DEADLINE_SECS: u64 = 5;

/// How often a worker wakes with nothing to do, to expire timeouts and refresh its Date cache.
pub const TICK_MILLIS: u64 = 1000;

/// Most `--workers`. Each worker allocates its connection table (`CONNECTIONS_PER_WORKER_MAX` slots) and its
/// buffers at start; more workers than the largest machine has cores only add memory and contention.
pub const WORKERS_MAX: usize = 1024;

/// Longest `--drain-seconds`. A drain lasts as long as the load balancer needs to notice `/ready` = 503 (a
/// few probe periods: seconds); the kubelet kills the pod after `terminationGracePeriodSeconds` anyway. An hour
/// is far beyond any sane drain and keeps the signal wait's `timespec` in range.
pub const DRAIN_SECONDS_MAX: u64 = 3600;

/// Longest `--idle-timeout` and `--header-timeout`: an hour. Longer only holds sockets of clients that left.
pub const CLIENT_TIMEOUT_SECS_MAX: u64 = 3600;

/// Largest `--redis-wait-replicas`: a batch waits for this many replicas. Redis deployments run a handful; WAIT
/// for more than exist only times out (503 for every batch).
pub const REDIS_WAIT_REPLICAS_MAX: u32 = 64;

/// Largest database number in a Redis URL: `SELECT` takes a C `int`.
pub const REDIS_DB_MAX: u32 = i32::MAX as u32;

/// A connection's pending output: rendering stops at the high-water mark, after at most one more response.
pub const OUTPUT_BYTES_MAX: usize = OUTPUT_HIGH_WATER_BYTES + RESPONSE_BYTES_MAX;

/// A connection's buffer that grew past this is freed once empty, so an idle connection holds no memory after
/// a burst; smaller ones are kept, since a client that splits every request reuses them.
pub const CONN_BUFFER_KEEP_BYTES: usize = 4 * 1024;

/// `listen(2)` backlog per worker socket; the kernel caps it at `net.core.somaxconn`.
pub const LISTEN_BACKLOG: i32 = 4096;

const _: () = assert!(TARGET_BYTES_MAX < HEADER_BYTES_MAX);
const _: () = assert!(REPEAT_HEAD_BYTES_MAX <= HEADER_BYTES_MAX);
const _: () = assert!(REQUEST_BYTES_MAX <= READ_BUFFER_BYTES);
const _: () = assert!(RESPONSE_BYTES_MAX < OUTPUT_HIGH_WATER_BYTES);
const _: () = assert!(RESPONSE_HEAD_BYTES_MAX + METRICS_BODY_BYTES_MAX <= RESPONSE_BYTES_MAX);
const _: () = assert!(HEADER_TIMEOUT_SECS < IDLE_TIMEOUT_SECS);
const _: () = assert!(IDLE_TIMEOUT_SECS <= CLIENT_TIMEOUT_SECS_MAX);
const _: () = assert!(CONN_BUFFER_KEEP_BYTES < OUTPUT_BYTES_MAX);
const _: () = assert!(LINGER_SECS < SHUTDOWN_DEADLINE_SECS);
const _: () = assert!(REDIS_RESOLVE_POLL_MILLIS < REDIS_BACKOFF_FIRST_MILLIS);
const _: () = assert!(REDIS_WAIT_TIMEOUT_MILLIS * (REDIS_BATCHES_IN_FLIGHT_MAX as u64) < REDIS_TIMEOUT_MILLIS);
const _: () = assert!(REDIS_BACKOFF_FIRST_MILLIS <= REDIS_REDISCOVER_MAX_MILLIS);
const _: () = assert!(REDIS_SENTINEL_TIMEOUT_MILLIS < REDIS_TIMEOUT_MILLIS);
const _: () = assert!(REDIS_QUEUE_ENTRIES >= 3 * REDIS_BATCHES_IN_FLIGHT_MAX + 8);
const _: () = assert!(REDIS_REDIRECTED_BATCHES >= REDIS_BATCHES_IN_FLIGHT_MAX);
const _: () = assert!(REDIS_SHA_BYTES_MAX >= 40);
const _: () = assert!(REDIS_RUN_BYTES_MAX >= 81 && REDIS_RUN_BYTES_MAX > REDIS_SHA_BYTES_MAX);
const _: () = assert!(STATE_POLL_MILLIS * 10 <= STATE_AHEAD_MILLIS / 2);
const _: () = assert!(STATE_POLL_MILLIS <= STATE_POLL_MAX_MILLIS && STATE_POLL_MAX_MILLIS < STATE_DEFER_MILLIS);
const _: () = assert!(STATE_RECHECK_MILLIS < STATE_DEFER_MILLIS && STATE_RETRY_MILLIS <= STATE_DEFER_MILLIS);
const _: () = assert!(STATE_BLOCK_MIN < STATE_BLOCK_MAX);

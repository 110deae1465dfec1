//! What each endpoint answers: a parsed request goes to the counters or the lifecycle and comes back as
//! response bytes. Pure: no I/O, no clock reads (the worker's `DateCache` carries the time).

use crate::counter::{AtomicCounter, MutexCounter, Snapshot};
use crate::http::date::DateCache;
use crate::http::request::{HttpError, Method, Parsed, Parser, Request, Version};
use crate::http::response::{self, Kind, Persist};
use crate::http::route::{route, Endpoint, Route};
use crate::lifecycle::Lifecycle;
use crate::limits::{DEFERRED_PER_CONNECTION_MAX, OUTPUT_HIGH_WATER_BYTES};
use crate::metrics::{self, Info, Metrics, WorkerMetrics};

/// How this worker answers `/status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The in-process atomic counter.
    Memory,
    /// The cluster-wide counter in Redis: GET /status is deferred until the worker's batch comes back.
    /// `ready`: the worker's Redis link is up. `last`: the latest value this worker saw (answers HEAD without a
    /// round trip).
    Redis { ready: bool, last: Snapshot },
    /// The in-process counters bounded by the state file's ceilings (`--state-file`): a GET of either counter
    /// is answered at once while there is room; one that finds its counter at the ceiling is deferred (like
    /// redis mode's) until the ceiling is raised, and the connection's later requests wait behind it.
    Durable,
}

/// Which counter a deferred request waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    Status,
    StatusV2,
}

/// The `/status` requests of one connection that wait for the shared counter, in request order: only how each
/// response must end the exchange is kept. A fixed ring: no allocation, and a bound on what one client can
/// have in flight.
#[derive(Clone, Debug)]
pub struct Deferred {
    persists: [(Persist, Which); DEFERRED_PER_CONNECTION_MAX],
    head: usize,
    len: usize,
}

impl Default for Deferred {
    fn default() -> Deferred {
        Deferred { persists: [(Persist::KeepAlive, Which::Status); DEFERRED_PER_CONNECTION_MAX], head: 0, len: 0 }
    }
}

impl Deferred {
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn push(&mut self, persist: (Persist, Which)) -> bool {
        if self.len == DEFERRED_PER_CONNECTION_MAX {
            return false;
        }
        self.persists[(self.head + self.len) % DEFERRED_PER_CONNECTION_MAX] = persist;
        self.len += 1;
        true
    }

    fn front(&self) -> Option<(Persist, Which)> {
        (self.len > 0).then(|| self.persists[self.head])
    }

    fn pop(&mut self) -> Option<(Persist, Which)> {
        if self.len == 0 {
            return None;
        }
        let p = self.persists[self.head];
        self.head = (self.head + 1) % DEFERRED_PER_CONNECTION_MAX;
        self.len -= 1;
        Some(p)
    }
}

/// What the shared counter answered for a run of deferred requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SharedResult {
    /// Consecutive values starting at `first`, all changed at `last_changed` (Redis TIME, seconds).
    Values { first: u64, last_changed: u64 },
    /// Redis was unreachable, timed out or refused: 503, never a made-up value.
    Unavailable,
    /// `--state-file`: take each waiting request's value from its counter now, in order, while the ceiling
    /// allows; `expired`: the wait is over, so those still beyond the ceiling are answered 503.
    Retry { expired: bool },
}

/// What answering one request did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Keep,
    Close,
    /// `--state-file`: the counter is at its ceiling; nothing was written, the request must wait for it.
    Exhausted(Which),
    /// Redis mode: put on the connection's `Deferred` ring for the worker's next batch.
    Deferred,
}

/// The `endpoint` label a response is counted under; `None` (a path outside the route table) is "other".
fn endpoint_label(endpoint: Option<Endpoint>) -> metrics::Endpoint {
    match endpoint {
        Some(Endpoint::Status) => metrics::Endpoint::Status,
        Some(Endpoint::StatusV2) => metrics::Endpoint::StatusV2,
        Some(Endpoint::Health) => metrics::Endpoint::Health,
        Some(Endpoint::Ready) => metrics::Endpoint::Ready,
        Some(Endpoint::Metrics) => metrics::Endpoint::Metrics,
        None => metrics::Endpoint::Other,
    }
}

fn persist_of(request: &Request<'_>) -> Persist {
    match (request.keep_alive, request.version) {
        (false, _) => Persist::Close,
        (true, Version::Http11) => Persist::KeepAlive,
        (true, Version::Http10) => Persist::KeepAlive10,
    }
}

/// The state shared by every worker.
#[derive(Debug)]
pub struct App {
    pub status: AtomicCounter,
    pub status_v2: MutexCounter,
    pub lifecycle: Lifecycle,
    /// One slot per worker; the calls below that record take the caller's slot (`stats`).
    pub metrics: Metrics,
    /// `--state-file`: the counters hand out values only up to their ceilings (`Mode::Durable`).
    pub durable: bool,
}

impl App {
    /// An app for one worker (tests, benches, fuzzing): `answer` and `respond` record into slot 0.
    pub fn new() -> App {
        App::with_metrics(Metrics::new(1, Info::default()))
    }

    /// An app whose metrics have a slot for every worker that will serve it.
    pub fn with_metrics(metrics: Metrics) -> App {
        let (status, status_v2) = (AtomicCounter::new(), MutexCounter::new());
        App { status, status_v2, lifecycle: Lifecycle::new(), metrics, durable: false }
    }

    /// `--state-file`: counters resumed from the file, handing out nothing until their ceilings are raised.
    pub fn durable(metrics: Metrics, status: AtomicCounter, status_v2: MutexCounter) -> App {
        App { status, status_v2, lifecycle: Lifecycle::new(), metrics, durable: true }
    }

    /// Appends the response to `request` to `out`; returns whether the connection stays open after it.
    pub fn respond(&self, request: &Request<'_>, dates: &mut DateCache, out: &mut Vec<u8>) -> bool {
        self.respond_in(Mode::Memory, self.metrics.worker(0), request, dates, out) == Answer::Keep
    }

    fn respond_in(
        &self,
        mode: Mode,
        stats: &WorkerMetrics,
        request: &Request<'_>,
        dates: &mut DateCache,
        out: &mut Vec<u8>,
    ) -> Answer {
        let persist = persist_of(request);
        let fixed = |out: &mut Vec<u8>, kind: Kind, dates: &DateCache, head_only| {
            response::fixed(out, kind, dates.imf(), persist, head_only);
            kind.code
        };
        let (endpoint, code) = match route(request.method, request.path) {
            Route::Endpoint { endpoint, head_only } => (
                Some(endpoint),
                match endpoint {
                    Endpoint::Status => {
                        let snapshot = match mode {
                            // Only HEAD gets here in redis mode (GET is deferred): no round trip, no increment.
                            Mode::Redis { last, .. } => last,
                            Mode::Memory | Mode::Durable if head_only => self.status.peek(),
                            Mode::Memory => self.status.increment(dates.now_secs()),
                            Mode::Durable => match self.status.increment_within(dates.now_secs()) {
                                Some(snapshot) => snapshot,
                                None => return Answer::Exhausted(Which::Status),
                            },
                        };
                        counter(out, dates, snapshot, persist, head_only);
                        200
                    }
                    Endpoint::StatusV2 => {
                        let snapshot = if head_only {
                            self.status_v2.peek()
                        } else if mode == Mode::Durable {
                            match self.status_v2.increment_within(dates.now_secs()) {
                                Some(snapshot) => snapshot,
                                None => return Answer::Exhausted(Which::StatusV2),
                            }
                        } else {
                            self.status_v2.increment(dates.now_secs())
                        };
                        counter(out, dates, snapshot, persist, head_only);
                        200
                    }
                    Endpoint::Health => fixed(out, response::HEALTH, dates, head_only),
                    // In redis mode a worker whose link is down is not ready: its /status would only answer 503.
                    Endpoint::Ready
                        if self.lifecycle.is_ready() && !matches!(mode, Mode::Redis { ready: false, .. }) =>
                    {
                        fixed(out, response::READY, dates, head_only)
                    }
                    Endpoint::Ready => fixed(out, response::NOT_READY, dates, head_only),
                    Endpoint::Metrics => {
                        self.scrape(mode, dates, out, persist, head_only);
                        200
                    }
                },
            ),
            Route::MethodNotAllowed { endpoint, head_only } => {
                (Some(endpoint), fixed(out, response::METHOD_NOT_ALLOWED, dates, head_only))
            }
            Route::NotFound { head_only } => (None, fixed(out, response::NOT_FOUND, dates, head_only)),
            rare @ (Route::ServerOptions | Route::NotImplemented) => (None, rare_route(rare, out, dates, persist)),
        };
        stats.request(endpoint_label(endpoint), code);
        if persist == Persist::Close {
            Answer::Close
        } else {
            Answer::Keep
        }
    }

    /// `/metrics`: every worker's counters summed once, measured for Content-Length, then written (HEAD: not).
    /// The page is at most `METRICS_BODY_BYTES_MAX`, within the room `out` keeps for one response.
    fn scrape(&self, mode: Mode, dates: &DateCache, out: &mut Vec<u8>, persist: Persist, head_only: bool) {
        let redis = matches!(mode, Mode::Redis { .. });
        let ceilings = self.durable.then(|| [self.status.ceiling(), self.status_v2.ceiling()]);
        let page = self.metrics.page(self.status.peek(), self.status_v2.peek(), redis, ceilings);
        response::head(out, response::METRICS_HEAD, page.body_len(), dates.imf(), persist);
        if !head_only {
            page.write(out);
        }
    }

    /// Appends the error response for a request we could not parse; the connection always closes after it.
    pub fn respond_error(&self, stats: &WorkerMetrics, error: HttpError, dates: &DateCache, out: &mut Vec<u8>) {
        let kind = match error {
            HttpError::BadRequest => response::BAD_REQUEST,
            HttpError::PayloadTooLarge => response::PAYLOAD_TOO_LARGE,
            HttpError::UriTooLong => response::URI_TOO_LONG,
            HttpError::HeadersTooLarge => response::HEADERS_TOO_LARGE,
            HttpError::VersionNotSupported => response::VERSION_NOT_SUPPORTED,
        };
        response::fixed(out, kind, dates.imf(), Persist::Close, false);
        stats.request(metrics::Endpoint::Other, kind.code);
    }
}

/// What `App::answer` did with a buffer of request bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answered {
    /// Bytes of whole requests answered (or, after an error, all of them: nothing after it is read).
    pub consumed: usize,
    /// Requests answered or deferred.
    pub requests: usize,
    /// Of those, GET /status requests deferred to the shared counter (redis mode).
    pub deferred: usize,
    /// The last response was final: the connection closes once it is written.
    pub close: bool,
    /// That final response answered a request that could not be parsed (4xx/505).
    pub error: bool,
}

impl App {
    /// Answers every complete request at the front of `input`, in order, appending the responses to `out`.
    /// Stops at a partial request, after a final response, or once `out` holds `OUTPUT_HIGH_WATER_BYTES`
    /// (backpressure: the rest stays buffered until the client reads). Memory mode.
    pub fn answer(&self, input: &[u8], dates: &mut DateCache, out: &mut Vec<u8>) -> Answered {
        let (stats, deferred) = (self.metrics.worker(0), &mut Deferred::default());
        self.answer_in(Mode::Memory, stats, input, dates, &mut Parser::new(), out, deferred)
    }

    /// `answer` in either mode. In redis mode a GET /status is not answered here: it is pushed onto `deferred`
    /// (counted in `Answered::deferred`) for the worker's next batch. Responses must leave in request order,
    /// so once one request is deferred only further GET /status requests are taken; anything else waits in
    /// the input until `deliver` has answered those before it. Responses are counted in `stats`, the calling
    /// worker's metrics slot; `parser` is the worker's, which recognises a head it parsed before.
    #[allow(clippy::too_many_arguments)] // each is a different piece of the worker's state, lent for one call
    pub fn answer_in(
        &self,
        mode: Mode,
        stats: &WorkerMetrics,
        input: &[u8],
        dates: &mut DateCache,
        parser: &mut Parser,
        out: &mut Vec<u8>,
        deferred: &mut Deferred,
    ) -> Answered {
        let mut answered = Answered { consumed: 0, requests: 0, deferred: 0, close: false, error: false };
        while answered.consumed < input.len() && out.len() < OUTPUT_HIGH_WATER_BYTES {
            match parser.parse(&input[answered.consumed..]) {
                Ok(Parsed::Complete { request, consumed }) => {
                    // Redis mode defers every GET /status. Durable mode defers only the request that found its
                    // counter at the ceiling (`Answer::Exhausted` below); whatever follows it waits in the input,
                    // unparsed, like anything behind a deferred request.
                    let defer = matches!(mode, Mode::Redis { .. })
                        && request.method == Method::Get
                        && route(request.method, request.path)
                            == (Route::Endpoint { endpoint: Endpoint::Status, head_only: false });
                    let answer = if defer {
                        if !deferred.push((persist_of(&request), Which::Status)) {
                            break; // this client has enough in flight: the rest waits in its input
                        }
                        Answer::Deferred
                    } else if !deferred.is_empty() {
                        break; // behind a deferred response: wait, to keep responses in order
                    } else {
                        self.respond_in(mode, stats, &request, dates, out)
                    };
                    answered.consumed += consumed;
                    answered.requests += 1;
                    match answer {
                        Answer::Keep => {}
                        Answer::Close => {
                            answered.close = true;
                            break;
                        }
                        Answer::Deferred | Answer::Exhausted(_) => {
                            if let Answer::Exhausted(which) = answer {
                                // The only one waiting on this connection: the ring was empty, so there is room.
                                let pushed = deferred.push((persist_of(&request), which));
                                debug_assert!(pushed);
                            }
                            answered.deferred += 1;
                            if !request.keep_alive {
                                answered.close = true;
                                break;
                            }
                        }
                    }
                }
                Ok(Parsed::Partial) => break,
                Err(_) if !deferred.is_empty() => break, // answer the error after those before it
                Err(error) => {
                    self.respond_error(stats, error, dates, out);
                    answered.consumed = input.len();
                    answered.requests += 1;
                    answered.close = true;
                    answered.error = true;
                    break;
                }
            }
        }
        answered
    }

    /// Answers the `count` oldest deferred requests with the shared counter's `result`; returns whether the last
    /// of them was a final response (the connection closes after it).
    pub fn deliver(
        &self,
        stats: &WorkerMetrics,
        result: SharedResult,
        count: usize,
        deferred: &mut Deferred,
        dates: &mut DateCache,
        out: &mut Vec<u8>,
    ) -> bool {
        if let SharedResult::Retry { expired } = result {
            return self.retry(stats, expired, deferred, dates, out);
        }
        let mut close = false;
        for i in 0..count {
            let Some((persist, _)) = deferred.pop() else { break };
            match result {
                SharedResult::Values { first, last_changed } => {
                    let snapshot = Snapshot { counter: first + i as u64, last_changed };
                    counter(out, dates, snapshot, persist, false);
                    stats.request(metrics::Endpoint::Status, 200);
                }
                SharedResult::Unavailable | SharedResult::Retry { .. } => {
                    response::fixed(out, response::BACKEND_UNAVAILABLE, dates.imf(), persist, false);
                    stats.request(metrics::Endpoint::Status, response::BACKEND_UNAVAILABLE.code);
                }
            }
            close = persist == Persist::Close;
        }
        close
    }

    /// `--state-file`: answers the deferred requests from the front while their counters have room. Once one
    /// finds its counter at the ceiling it waits (and those behind it) unless `expired`: then it and every one
    /// behind it get 503 with `Retry-After`, and the process reports not ready until the reserving thread
    /// catches up. Returns whether the last answer was final.
    fn retry(
        &self,
        stats: &WorkerMetrics,
        expired: bool,
        deferred: &mut Deferred,
        dates: &mut DateCache,
        out: &mut Vec<u8>,
    ) -> bool {
        let mut close = false;
        let mut give_up = false;
        while let Some((persist, which)) = deferred.front() {
            let now = dates.now_secs();
            let taken = match which {
                _ if give_up => None,
                Which::Status => self.status.increment_within(now),
                Which::StatusV2 => self.status_v2.increment_within(now),
            };
            let endpoint = match which {
                Which::Status => metrics::Endpoint::Status,
                Which::StatusV2 => metrics::Endpoint::StatusV2,
            };
            match taken {
                Some(snapshot) => {
                    counter(out, dates, snapshot, persist, false);
                    stats.request(endpoint, 200);
                }
                None if !expired => break,
                None => {
                    give_up = true;
                    self.lifecycle.set_store_ok(false);
                    response::fixed(out, response::BACKEND_UNAVAILABLE, dates.imf(), persist, false);
                    stats.request(endpoint, response::BACKEND_UNAVAILABLE.code);
                }
            }
            deferred.pop();
            close = persist == Persist::Close;
        }
        close
    }
}

/// `OPTIONS *` and unrecognised methods: out of line, so the hot path's match stays as small as it was.
#[cold]
#[inline(never)]
fn rare_route(route: Route, out: &mut Vec<u8>, dates: &DateCache, persist: Persist) -> u16 {
    let kind = if route == Route::ServerOptions { response::SERVER_OPTIONS } else { response::NOT_IMPLEMENTED };
    response::fixed(out, kind, dates.imf(), persist, false);
    kind.code
}

fn counter(out: &mut Vec<u8>, dates: &mut DateCache, snapshot: Snapshot, persist: Persist, head_only: bool) {
    let last_changed = *dates.rfc3339(snapshot.last_changed);
    response::counter(out, snapshot, &last_changed, dates.imf(), persist, head_only);
}

//! What each endpoint answers: a parsed request goes to the counters or the lifecycle and comes back as
//! response bytes. Pure: no I/O, no clock reads (the worker's `DateCache` carries the time).

use crate::counter::{AtomicCounter, MutexCounter, Snapshot};
use crate::http::date::DateCache;
use crate::http::request::{parse, HttpError, Parsed, Request, Version};
use crate::http::response::{self, Kind, Persist};
use crate::http::route::{route, Endpoint, Route};
use crate::lifecycle::Lifecycle;
use crate::limits::OUTPUT_HIGH_WATER_BYTES;

/// The state shared by every worker.
#[derive(Debug)]
pub struct App {
    pub status: AtomicCounter,
    pub status_v2: MutexCounter,
    pub lifecycle: Lifecycle,
}

impl Default for App {
    fn default() -> App {
        App::new()
    }
}

impl App {
    pub fn new() -> App {
        App { status: AtomicCounter::new(), status_v2: MutexCounter::new(), lifecycle: Lifecycle::new() }
    }

    /// Appends the response to `request` to `out`; returns whether the connection stays open after it.
    pub fn respond(&self, request: &Request<'_>, dates: &mut DateCache, out: &mut Vec<u8>) -> bool {
        let persist = match (request.keep_alive, request.version) {
            (false, _) => Persist::Close,
            (true, Version::Http11) => Persist::KeepAlive,
            (true, Version::Http10) => Persist::KeepAlive10,
        };
        let fixed = |out: &mut Vec<u8>, kind: Kind, dates: &DateCache, head_only| {
            response::fixed(out, kind, dates.imf(), persist, head_only)
        };
        match route(request.method, request.path) {
            Route::Endpoint { endpoint, head_only } => match endpoint {
                Endpoint::Status => {
                    let snapshot = if head_only { self.status.peek() } else { self.status.increment(dates.now_secs()) };
                    counter(out, dates, snapshot, persist, head_only);
                }
                Endpoint::StatusV2 => {
                    let snapshot =
                        if head_only { self.status_v2.peek() } else { self.status_v2.increment(dates.now_secs()) };
                    counter(out, dates, snapshot, persist, head_only);
                }
                Endpoint::Health => fixed(out, response::HEALTH, dates, head_only),
                Endpoint::Ready if self.lifecycle.is_ready() => fixed(out, response::READY, dates, head_only),
                Endpoint::Ready => fixed(out, response::NOT_READY, dates, head_only),
            },
            Route::MethodNotAllowed { head_only } => fixed(out, response::METHOD_NOT_ALLOWED, dates, head_only),
            Route::NotFound { head_only } => fixed(out, response::NOT_FOUND, dates, head_only),
        }
        persist != Persist::Close
    }

    /// Appends the error response for a request we could not parse; the connection always closes after it.
    pub fn respond_error(&self, error: HttpError, dates: &DateCache, out: &mut Vec<u8>) {
        let kind = match error {
            HttpError::BadRequest => response::BAD_REQUEST,
            HttpError::PayloadTooLarge => response::PAYLOAD_TOO_LARGE,
            HttpError::UriTooLong => response::URI_TOO_LONG,
            HttpError::HeadersTooLarge => response::HEADERS_TOO_LARGE,
            HttpError::VersionNotSupported => response::VERSION_NOT_SUPPORTED,
        };
        response::fixed(out, kind, dates.imf(), Persist::Close, false);
    }
}

/// What `App::answer` did with a buffer of request bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answered {
    /// Bytes of whole requests answered (or, after an error, all of them: nothing after it is read).
    pub consumed: usize,
    /// Requests answered.
    pub requests: usize,
    /// The last response was final: the connection closes once it is written.
    pub close: bool,
}

impl App {
    /// Answers every complete request at the front of `input`, in order, appending the responses to `out`.
    /// Stops at a partial request, after a final response, or once `out` holds `OUTPUT_HIGH_WATER_BYTES`
    /// (backpressure: the rest stays buffered until the client reads).
    pub fn answer(&self, input: &[u8], dates: &mut DateCache, out: &mut Vec<u8>) -> Answered {
        let mut answered = Answered { consumed: 0, requests: 0, close: false };
        while answered.consumed < input.len() && out.len() < OUTPUT_HIGH_WATER_BYTES {
            match parse(&input[answered.consumed..]) {
                Ok(Parsed::Complete { request, consumed }) => {
                    answered.consumed += consumed;
                    answered.requests += 1;
                    if !self.respond(&request, dates, out) {
                        answered.close = true;
                        break;
                    }
                }
                Ok(Parsed::Partial) => break,
                Err(error) => {
                    self.respond_error(error, dates, out);
                    answered.consumed = input.len();
                    answered.requests += 1;
                    answered.close = true;
                    break;
                }
            }
        }
        answered
    }
}

fn counter(out: &mut Vec<u8>, dates: &mut DateCache, snapshot: Snapshot, persist: Persist, head_only: bool) {
    let last_changed = *dates.rfc3339(snapshot.last_changed);
    response::counter(out, snapshot, &last_changed, dates.imf(), persist, head_only);
}

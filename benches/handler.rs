//! Criterion benchmarks mirroring the original Go benchmark table: the handler (counter + response bytes)
//! for /status (atomic) and /statusV2 (mutex), single-threaded and parallel (one thread per core on one shared
//! counter), the parse of realistic heads alone (wrk's, curl's, a browser's with 12 fields; fresh, through
//! httparse, and repeated through a `Parser`), the whole request path (parse + route + respond) for one request
//! of each and a pipelined batch of 16, and response formatting alone. Run: `cargo bench --bench handler` (or
//! `make bench`).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use counter::app::{App, Deferred, Mode};
use counter::counter::Snapshot;
use counter::http::date::DateCache;
use counter::http::request::{parse, parse_with_httparse, Parsed, Parser};
use counter::http::response::{self, Persist};

const REQ_STATUS: &[u8] = b"GET /status HTTP/1.1\r\nHost: counter.local\r\nUser-Agent: wrk\r\n\r\n";
const REQ_STATUS_V2: &[u8] = b"GET /statusV2 HTTP/1.1\r\nHost: counter.local\r\nUser-Agent: wrk\r\n\r\n";
const NOW: u64 = 1_702_269_908;

/// What wrk sends (its default Lua-less request), curl's, and a browser's navigation with 12 fields.
const HEAD_WRK: &[u8] = b"GET /status HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
const HEAD_CURL: &[u8] =
    b"GET /status HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";
const HEAD_BROWSER: &[u8] = b"GET /status HTTP/1.1\r\n\
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
const HEADS: [(&str, &[u8]); 3] = [("wrk", HEAD_WRK), ("curl", HEAD_CURL), ("browser", HEAD_BROWSER)];

/// The parse of one head alone: fresh (the scanner), through httparse (the general path), and a repeat of the
/// head a `Parser` remembers (one comparison).
fn parse_heads(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(1));
    for (name, raw) in HEADS {
        assert!(matches!(parse(raw), Ok(Parsed::Complete { .. })), "{name} parses");
        g.bench_function(format!("{name}/scan"), |b| b.iter(|| black_box(parse(black_box(raw)))));
        g.bench_function(format!("{name}/httparse"), |b| b.iter(|| black_box(parse_with_httparse(black_box(raw)))));
        let mut parser = Parser::new();
        g.bench_function(format!("{name}/repeat"), |b| b.iter(|| black_box(parser.parse(black_box(raw)).is_ok())));
    }
    g.finish();
}

fn pipeline_16() -> Vec<u8> {
    REQ_STATUS.repeat(16)
}

/// The handler alone: the request is already parsed, as in the Go benchmark of the fasthttp handler.
fn handler(c: &mut Criterion) {
    let mut g = c.benchmark_group("handler");
    g.throughput(Throughput::Elements(1));
    for (name, raw) in [("status_atomic", REQ_STATUS), ("statusV2_mutex", REQ_STATUS_V2)] {
        let app = App::new();
        let mut dates = DateCache::new(NOW);
        let mut out = Vec::with_capacity(4096);
        let Ok(Parsed::Complete { request, .. }) = parse(raw) else { unreachable!("benchmark input parses") };
        g.bench_function(format!("{name}/single"), |b| {
            b.iter(|| {
                out.clear();
                black_box(app.respond(black_box(&request), &mut dates, &mut out));
            })
        });
    }
    g.finish();
}

/// One thread per core hammering one shared counter, like Go's `b.RunParallel`: ns/op is wall time divided by
/// all operations across threads.
fn handler_parallel(c: &mut Criterion) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut g = c.benchmark_group("handler");
    g.throughput(Throughput::Elements(1));
    for (name, raw) in [("status_atomic", REQ_STATUS), ("statusV2_mutex", REQ_STATUS_V2)] {
        let app = Arc::new(App::new());
        g.bench_function(format!("{name}/parallel_{threads}"), |b| {
            b.iter_custom(|iters| {
                let per_thread = iters.div_ceil(threads as u64);
                let start = Instant::now();
                std::thread::scope(|s| {
                    for _ in 0..threads {
                        let app = Arc::clone(&app);
                        s.spawn(move || {
                            let mut dates = DateCache::new(NOW);
                            let mut out = Vec::with_capacity(4096);
                            let Ok(Parsed::Complete { request, .. }) = parse(raw) else { unreachable!() };
                            for _ in 0..per_thread {
                                out.clear();
                                black_box(app.respond(&request, &mut dates, &mut out));
                            }
                        });
                    }
                });
                // Wall time for `threads * per_thread` operations, reported per `iters` operations.
                let elapsed = start.elapsed();
                Duration::from_secs_f64(elapsed.as_secs_f64() * iters as f64 / (per_thread * threads as u64) as f64)
            })
        });
    }
    g.finish();
}

/// Bytes in, bytes out: parse + route + counter + format, for one request and a pipelined batch of 16.
fn request_path(c: &mut Criterion) {
    let app = App::new();
    let mut dates = DateCache::new(NOW);
    let mut out = Vec::with_capacity(1 << 16);
    let mut g = c.benchmark_group("request_path");
    g.throughput(Throughput::Elements(1));
    g.bench_function("one_request", |b| {
        b.iter(|| {
            out.clear();
            black_box(app.answer(black_box(REQ_STATUS), &mut dates, &mut out));
        })
    });
    // `answer` starts from a fresh Parser on every call (what "before" measured); a worker keeps its Parser, so a
    // client's repeated head is recognised: `_repeat` measures that, through `answer_in` as the worker calls it.
    let mut parser = Parser::new();
    let mut deferred = Deferred::default();
    for (name, raw) in HEADS {
        g.bench_function(format!("one_request_{name}"), |b| {
            b.iter(|| {
                out.clear();
                black_box(app.answer(black_box(raw), &mut dates, &mut out));
            })
        });
        g.bench_function(format!("one_request_{name}_repeat"), |b| {
            b.iter(|| {
                out.clear();
                let stats = app.metrics.worker(0);
                let input = black_box(raw);
                black_box(app.answer_in(Mode::Memory, stats, input, &mut dates, &mut parser, &mut out, &mut deferred));
            })
        });
    }
    let batch = pipeline_16();
    g.throughput(Throughput::Elements(16));
    g.bench_function("pipelined_16", |b| {
        b.iter(|| {
            out.clear();
            black_box(app.answer(black_box(&batch), &mut dates, &mut out));
        })
    });
    g.finish();
}

/// Formatting a counter response alone (no counter, no parse).
fn format_only(c: &mut Criterion) {
    let mut dates = DateCache::new(NOW);
    let mut out = Vec::with_capacity(4096);
    let snapshot = Snapshot { counter: 305_689, last_changed: NOW };
    let mut g = c.benchmark_group("format");
    g.throughput(Throughput::Elements(1));
    g.bench_function("counter_response", |b| {
        b.iter(|| {
            out.clear();
            let stamp = *dates.rfc3339(snapshot.last_changed);
            response::counter(&mut out, black_box(snapshot), &stamp, dates.imf(), Persist::KeepAlive, false);
            black_box(&out);
        })
    });
    g.finish();
}

criterion_group!(benches, handler, handler_parallel, parse_heads, request_path, format_only);
criterion_main!(benches);

//! Counter peer on hyper 1.x + hyper-util + tokio (HTTP/1.1 only, keep-alive).
//!
//! env: PORT (default 8081), WORKERS (default 1: tokio current_thread runtime;
//! >1: multi_thread runtime with that many workers), HYPER_RUNTIME=multi
//! (use the multi_thread runtime even for WORKERS=1), HYPER_PIPELINE_FLUSH
//! (default 1: hyper's http1 `pipeline_flush(true)`; 0 to disable).

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

static JSON: HeaderValue = HeaderValue::from_static("application/json");

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() == Method::GET && req.uri().path() == "/status" {
        let (buf, len) = peer_common::next_body();
        let mut rsp = Response::new(Full::new(Bytes::copy_from_slice(&buf[..len])));
        rsp.headers_mut().insert(CONTENT_TYPE, JSON.clone());
        Ok(rsp)
    } else {
        let mut rsp = Response::new(Full::new(Bytes::from_static(b"not found")));
        *rsp.status_mut() = StatusCode::NOT_FOUND;
        Ok(rsp)
    }
}

async fn serve(addr: SocketAddr, pipeline_flush: bool) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    let mut builder = http1::Builder::new();
    builder.keep_alive(true).pipeline_flush(pipeline_flush);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("accept error: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let conn = builder.serve_connection(TokioIo::new(stream), service_fn(handle));
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}

fn main() -> std::io::Result<()> {
    let port = peer_common::port_from_env(8081);
    let workers = peer_common::workers_from_env();
    let pipeline_flush = std::env::var("HYPER_PIPELINE_FLUSH").map(|v| v != "0").unwrap_or(true);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let force_multi = std::env::var("HYPER_RUNTIME").map(|v| v == "multi").unwrap_or(false);
    let rt = if workers == 1 && !force_multi {
        tokio::runtime::Builder::new_current_thread().enable_io().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_io().build()?
    };
    eprintln!(
        "peer-hyper listening on {addr} workers={workers} multi_thread={} pipeline_flush={pipeline_flush}",
        workers > 1 || force_multi
    );
    rt.block_on(serve(addr, pipeline_flush))
}

//! Counter peer on actix-web 4.
//!
//! env: PORT (default 8083), WORKERS (default 1: actix HttpServer workers).

use actix_web::{http::header::ContentType, web, App, HttpResponse, HttpServer};

async fn status() -> HttpResponse {
    let (buf, len) = peer_common::next_body();
    HttpResponse::Ok().insert_header(ContentType::json()).body(web::Bytes::copy_from_slice(&buf[..len]))
}

fn main() -> std::io::Result<()> {
    let port = peer_common::port_from_env(8083);
    let workers = peer_common::workers_from_env();
    eprintln!("peer-actix listening on 127.0.0.1:{port} workers={workers}");
    actix_web::rt::System::new().block_on(
        HttpServer::new(|| App::new().route("/status", web::get().to(status)))
            .workers(workers)
            .backlog(1024)
            .bind(("127.0.0.1", port))?
            .run(),
    )
}

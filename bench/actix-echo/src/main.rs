//! Peer of the benchmark: the echo target's behaviour on actix-web 4. `POST
//! /api/v0/echo/read` does `echo_work::echo` (parse the body as a JSON object, insert
//! `"server": "myproduct"`, serialize). actix's default worker count (the available
//! cores). Usage: `actix-echo [HOST:PORT]` (default 127.0.0.1:8080).

use actix_web::http::header::ContentType;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpResponse, HttpServer};

async fn echo(body: Bytes) -> HttpResponse {
    let mut out = Vec::with_capacity(128);
    match echo_work::echo(&body, &mut out) {
        Ok(()) => HttpResponse::Ok()
            .content_type(ContentType::json())
            .body(out),
        Err(_) => HttpResponse::BadRequest()
            .content_type(ContentType::json())
            .body(echo_work::BAD_BODY),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let server = HttpServer::new(|| App::new().route("/api/v0/echo/read", web::post().to(echo)))
        .bind(addr.as_str())?;
    eprintln!("actix-echo serving at http://{addr}/");
    server.run().await
}

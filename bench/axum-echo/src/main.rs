//! Peer of the benchmark: the echo target's behaviour on axum 0.8. `POST /api/v0/echo/read`
//! does `echo_work::echo` (parse the body as a JSON object, insert `"server": "myproduct"`,
//! serialize). Tokio's multi-thread runtime with its default worker count (the available
//! cores). Usage: `axum-echo [HOST:PORT]` (default 127.0.0.1:8080).

use axum::body::Bytes;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

async fn echo(body: Bytes) -> Response {
    let json = [(header::CONTENT_TYPE, "application/json")];
    let mut out = Vec::with_capacity(128);
    match echo_work::echo(&body, &mut out) {
        Ok(()) => (json, out).into_response(),
        Err(_) => (StatusCode::BAD_REQUEST, json, echo_work::BAD_BODY).into_response(),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let app = Router::new().route("/api/v0/echo/read", post(echo));
    let listener = tokio::net::TcpListener::bind(addr.as_str()).await?;
    eprintln!("axum-echo serving at http://{addr}/");
    axum::serve(listener, app).await
}

//! Peer of the benchmark: the echo target's behaviour on axum 0.8. `POST /api/v0/echo/read`
//! does `echo_work::echo` (parse the body as a JSON object, insert `"server": "myproduct"`,
//! serialize); `POST /api/v0/echo/typed/read` does the same JSON work typed, with axum's
//! `Json<T>` in and out over serde-derived structs, as apiphant's `plugins/typedecho`.
//! Tokio's multi-thread runtime with its default worker count (the available cores).
//! Usage: `axum-echo [HOST:PORT]` (default 127.0.0.1:8080).

use axum::body::Bytes;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

async fn echo(body: Bytes) -> Response {
    let json = [(header::CONTENT_TYPE, "application/json")];
    let mut out = Vec::with_capacity(128);
    match echo_work::echo(&body, &mut out) {
        Ok(()) => (json, out).into_response(),
        Err(_) => (StatusCode::BAD_REQUEST, json, echo_work::BAD_BODY).into_response(),
    }
}

/// The typed echo's request: one string (plugins/typedecho's `Hello`).
#[derive(Deserialize)]
struct Hello {
    hello: String,
}

/// The typed echo's response: the string and who answered (plugins/typedecho's `Echo`).
#[derive(Serialize)]
struct Echo {
    hello: String,
    server: &'static str,
}

/// The typed echo: axum's `Json<T>` extractor (which needs `Content-Type: application/json`)
/// and `Json<U>` response.
async fn typed_echo(Json(request): Json<Hello>) -> Json<Echo> {
    Json(Echo {
        hello: request.hello,
        server: "myproduct",
    })
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let app = Router::new()
        .route("/api/v0/echo/read", post(echo))
        .route("/api/v0/echo/typed/read", post(typed_echo));
    let listener = tokio::net::TcpListener::bind(addr.as_str()).await?;
    eprintln!("axum-echo serving at http://{addr}/");
    axum::serve(listener, app).await
}

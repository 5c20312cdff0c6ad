//! The baseline of the benchmark: a bare may_minihttp 0.1.11 server doing the echo
//! target's JSON work (`echo_work::echo`: parse the body as a JSON object, insert
//! `"server": "myproduct"`, serialize) on every request, whatever the path: no routing, no
//! plugins, no limits.
//!
//! Same settings as apiphant where they matter: one may worker per available core, and a
//! 256 KiB coroutine stack (apiphant's automatic size for release plugins, which deep JSON
//! needs). Usage: `may-echo [HOST:PORT]` (default 127.0.0.1:8080).

use bytes::BufMut;
use may_minihttp::{HttpServer, HttpService, Request, Response};
use std::io::{self, BufRead};

const STACK_BYTES: usize = 256 * 1024;

#[derive(Clone)]
struct Echo;

impl HttpService for Echo {
    fn call(&mut self, req: Request<'_, '_, '_>, rsp: &mut Response<'_>) -> io::Result<()> {
        let mut body = req.body();
        // may_minihttp hands over what is buffered; the bench's 18-byte body always is.
        let bytes = body.fill_buf()?;
        rsp.header("Content-Type: application/json");
        if echo_work::echo(bytes, rsp.body_mut().writer()).is_err() {
            rsp.body_mut().clear();
            rsp.status_code(400, "Bad Request");
            rsp.body(echo_work::BAD_BODY);
        }
        Ok(())
    }
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    may::config()
        .set_workers(workers)
        .set_stack_size(STACK_BYTES / std::mem::size_of::<usize>());
    let server = HttpServer(Echo).start(addr.as_str())?;
    eprintln!("may-echo serving at http://{addr}/ ({workers} worker(s))");
    server
        .join()
        .map_err(|_| io::Error::other("server thread panicked"))
}

//! apiphant's own HTTP/1.1 connection loop on `may` coroutines and `httparse`. It knows
//! bytes, heads, bodies and limits; the application behind it is an [`App`] (`app.rs`).
//!
//! Why not may_minihttp's loop: in 0.1.11 (the same as its repository head) the loop is
//! private and fixes 16 headers, `Server: M` and `200 Ok`, takes only `&'static str`
//! headers, unwraps `Content-Length` (a malformed one panics the connection), cannot close
//! a connection, drops pipelined responses on a parse error and has no timeouts. This
//! module keeps its techniques (reused per-connection buffers, all pipelined responses
//! batched into one write, no allocation per request on the JSON path) and adds limits,
//! timeouts, chunked bodies, `Connection: close` and graceful shutdown.

mod app;
mod budget;
mod chunked;
mod conn;
mod deadline;
pub(crate) mod head;
mod request_id;
mod response;
mod shared;

pub use app::{App, Headers, Reply, Request, RequestHead};
pub(crate) use conn::serve;
pub(crate) use deadline::Deadlines;
pub use request_id::RequestId;
pub(crate) use shared::Shared;

use std::time::Duration;

/// Every limit and timeout of the connection loop (docs/operations.md, "Limits and timeouts").
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most request headers (431 beyond).
    pub max_headers: usize,
    /// Most bytes of request line and headers (431 beyond).
    pub max_header_bytes: usize,
    /// Most body bytes (413 beyond).
    pub max_body_bytes: u64,
    /// Most body bytes all connections together hold while receiving bodies (503 with
    /// `Retry-After` beyond, before reading).
    pub memory_budget_bytes: u64,
    /// Time to receive a whole head (408 beyond).
    pub header_timeout: Duration,
    /// Time to receive a whole body once its head is in (408 beyond).
    pub body_timeout: Duration,
    /// Time a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
}

/// Fuzzing and property-test entry points for the request parsers (not a stable API).
#[doc(hidden)]
pub mod fuzzing {
    /// Parses a head the way the connection loop does; returns the status it would answer
    /// with on error, or `None` (incomplete) / `Some(0)` (complete).
    pub fn parse_head(data: &[u8]) -> Option<u16> {
        let mut head = super::head::Head::default();
        match super::head::parse(data, 64, &mut head) {
            Ok(true) => {
                assert!(head.len <= data.len());
                assert!(head.method.end <= head.len && head.target.end <= head.len);
                Some(0)
            }
            Ok(false) => None,
            Err(error) => Some(error.status()),
        }
    }

    /// Parses growing prefixes of `data` (`piece` bytes more each time), as the loop does
    /// while a head arrives; returns the first decisive result. A head that is complete
    /// in `data` must never be refused on one of its prefixes, and a prefix that completes
    /// must give what the whole gives.
    pub fn parse_head_in_pieces(data: &[u8], piece: usize) -> Option<u16> {
        let whole = parse_head(data);
        let mut end = 0;
        while end < data.len() {
            end = (end + piece.max(1)).min(data.len());
            if let Some(status) = parse_head(&data[..end]) {
                if status == 0 || whole == Some(0) {
                    assert_eq!(Some(status), whole, "a prefix decided otherwise");
                }
                return Some(status);
            }
        }
        None
    }

    /// Feeds a chunked body in pieces of `piece` bytes; returns the decoded bytes.
    pub fn decode_chunked(data: &[u8], piece: usize) -> Option<Vec<u8>> {
        let mut decoder = super::chunked::Chunked::new();
        let mut out = Vec::new();
        let (mut consumed, mut available) = (0, 0);
        while !decoder.is_done() && available < data.len() {
            available = (available + piece.max(1)).min(data.len());
            consumed += decoder
                .feed(&data[consumed..available], &mut out, 1 << 20)
                .ok()?;
            assert!(consumed <= available);
        }
        Some(out)
    }
}

//! Response encoding into the connection's write buffer: status line, then
//! `Content-Type: application/json` (or a raw response's own headers), `Connection: close`
//! when closing, `Date`, `Content-Length` (none on a 204), then the lines the loop adds
//! (`X-Request-Id`, the application's CORS or `WWW-Authenticate` lines), body. No `Server` header, never chunked
//! (the original's header order, docs/protocol.md#responses). `Date` is formatted once a
//! second per worker thread, from a second counter a ticker thread keeps: no clock read
//! per response.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Once;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Appends one response to `out`; `more` are header lines (pieces of them, each line
/// ending with CRLF) after `Content-Length`.
pub(crate) fn encode(
    out: &mut Vec<u8>,
    status: u16,
    raw_headers: Option<&[u8]>,
    more: &[&[u8]],
    body: &[u8],
    close: bool,
    head_only: bool,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    let line = apiphant_sdk::status_line(status);
    if line
        .as_bytes()
        .starts_with(itoa::Buffer::new().format(status).as_bytes())
    {
        out.extend_from_slice(line.as_bytes());
    } else {
        out.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
        out.extend_from_slice(b" Unknown");
    }
    out.extend_from_slice(b"\r\n");
    match raw_headers {
        None => out.extend_from_slice(b"Content-Type: application/json\r\n"),
        Some(lines) => out.extend_from_slice(lines),
    }
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"Date: ");
    append_date(out);
    // RFC 9110 §8.6: no Content-Length in a 204 (it has no body).
    if status != 204 {
        out.extend_from_slice(b"\r\nContent-Length: ");
        out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    for line in more {
        out.extend_from_slice(line);
    }
    out.extend_from_slice(b"\r\n");
    if !head_only {
        out.extend_from_slice(body);
    }
}

/// A JSON error body for a status, `{"error":"413 Content Too Large"}` (the SDK's wire
/// module spells every error body).
pub(crate) use apiphant_sdk::wire::error_body;

thread_local! {
    // (unix second, IMF-fixdate): formatted once per second per worker thread.
    static DATE: RefCell<(u64, [u8; 29])> = const { RefCell::new((0, [b' '; 29])) };
}

/// The current unix second, kept by a ticker thread so that a response reads no clock
/// (hot path; may_minihttp does the same). Read only while `TICKING`.
static SECOND: AtomicU64 = AtomicU64::new(0);
static TICKING: AtomicBool = AtomicBool::new(false);
static TICKER: Once = Once::new();

fn unix_second(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

/// The current second: from the ticker, or from the clock if it could not start.
fn current_second() -> u64 {
    TICKER.call_once(|| {
        SECOND.store(unix_second(SystemTime::now()), Ordering::Relaxed);
        let ticker = std::thread::Builder::new()
            .name("date".to_owned())
            .spawn(|| loop {
                // Wake just after each second boundary.
                let now = SystemTime::now();
                let into = now
                    .duration_since(UNIX_EPOCH)
                    .map(|elapsed| elapsed.subsec_nanos())
                    .unwrap_or(0);
                let left = Duration::from_nanos(1_000_000_000 - u64::from(into.min(999_999_999)));
                std::thread::sleep(left + Duration::from_millis(1));
                SECOND.store(unix_second(SystemTime::now()), Ordering::Relaxed);
            });
        TICKING.store(ticker.is_ok(), Ordering::Relaxed);
    });
    if TICKING.load(Ordering::Relaxed) {
        SECOND.load(Ordering::Relaxed)
    } else {
        unix_second(SystemTime::now())
    }
}

fn append_date(out: &mut Vec<u8>) {
    let second = current_second();
    DATE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != second {
            let text = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(second));
            if text.len() == 29 {
                cache.1.copy_from_slice(text.as_bytes());
                cache.0 = second;
            }
        }
        out.extend_from_slice(&cache.1);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_of_the_original() {
        let mut out = Vec::new();
        encode(
            &mut out,
            404,
            None,
            &[b"X-Request-Id: ", b"ab-1", b"\r\n"],
            br#"{"error":"404 Not Found"}"#,
            true,
            false,
        );
        let text = String::from_utf8(out).unwrap_or_default();
        assert!(text.starts_with(
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nConnection: close\r\nDate: "
        ));
        assert!(text.ends_with(
            "GMT\r\nContent-Length: 25\r\nX-Request-Id: ab-1\r\n\r\n{\"error\":\"404 Not Found\"}"
        ));
        assert_eq!(error_body(413), br#"{"error":"413 Content Too Large"}"#);
    }
}

//! The seam between the connection loop and the application: the loop parses a head, asks
//! the [`App`] to route it, reads the body, asks the app to call the route with it, and
//! writes the [`Reply`]. The loop knows bytes, heads, bodies and limits; what a route is,
//! and what runs it, only the app knows. The order of checks: docs/protocol.md.

use std::ops::Range;

/// The application behind the connection loop (apiphant's: `crate::app::Application`).
pub trait App: Sync + 'static {
    /// What [`App::route`] found, handed back to [`App::call`] with the body.
    type Route;
    /// What the loop writes back.
    type Reply: Reply;

    /// Decides from the head alone, before any byte of the body is read: the route to
    /// call, or the answer (404, 501, ...). docs/protocol.md, "Order of checks".
    fn route(&self, head: &RequestHead<'_>) -> Result<Self::Route, Self::Reply>;

    /// Runs a route with the whole body (de-chunked).
    fn call(&self, route: Self::Route, request: &Request<'_>) -> Self::Reply;

    /// The request target as the access log writes it: the application may hide a secret
    /// a client put in it (the loop escapes what this returns).
    fn loggable_target<'t>(&self, target: &'t str) -> std::borrow::Cow<'t, str> {
        std::borrow::Cow::Borrowed(target)
    }
}

/// What the loop writes for a request: status, header lines, body.
pub trait Reply {
    /// The status code.
    fn status(&self) -> u16;
    /// `None`: `Content-Type: application/json`; `Some`: the header lines instead, each
    /// ending with CRLF (the loop adds `Connection`, `Date`, `Content-Length` and
    /// `X-Request-Id`).
    fn header_lines(&self) -> Option<&[u8]>;
    /// The body bytes.
    fn body(&self) -> &[u8];
    /// Header lines the application adds to any response (CORS, `WWW-Authenticate`),
    /// each ending with CRLF; written last, after `X-Request-Id`.
    fn extra_header_lines(&self) -> [&[u8]; 2] {
        [b"", b""]
    }
    /// Who called, for the access log (a token's name; empty when unknown).
    fn identity(&self) -> &str {
        ""
    }
}

/// A parsed request head, borrowed from the connection's read buffer.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    /// The method as received (`""` if it is not UTF-8).
    pub method: &'a str,
    /// The request target as received: percent-encoded, query included, not checked to be
    /// UTF-8 (see [`RequestHead::target_text`]).
    pub target: &'a [u8],
    /// The headers, in order.
    pub headers: Headers<'a>,
    /// The request id: the client's `X-Request-Id` if valid, else generated
    /// ([`super::RequestId`]).
    pub request_id: &'a [u8],
    /// The body length the head announced (`Content-Length`, 0 when absent); `None` for a
    /// chunked body (its length is known once it is read).
    pub content_length: Option<u64>,
}

impl<'a> RequestHead<'a> {
    /// The request target as text; `""` if it is not UTF-8.
    pub fn target_text(&self) -> &'a str {
        std::str::from_utf8(self.target).unwrap_or("")
    }
}

/// A whole request: its head and its body.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The head, as [`App::route`] saw it.
    pub head: RequestHead<'a>,
    /// The whole body (de-chunked).
    pub body: &'a [u8],
}

/// A head's headers, read on demand from the connection's read buffer.
#[derive(Clone, Copy)]
pub struct Headers<'a> {
    buf: &'a [u8],
    ranges: &'a [(Range<usize>, Range<usize>)],
}

impl<'a> Headers<'a> {
    /// Headers whose (name, value) ranges index `buf`.
    pub(crate) fn new(buf: &'a [u8], ranges: &'a [(Range<usize>, Range<usize>)]) -> Self {
        Headers { buf, ranges }
    }

    /// Each header as (name, value), in order; a name is a token (`""` if not UTF-8, which
    /// the parser does not let through).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&'a str, &'a [u8])> + 'a {
        let buf = self.buf;
        self.ranges.iter().map(move |(name, value)| {
            let name = std::str::from_utf8(&buf[name.clone()]).unwrap_or("");
            (name, &buf[value.clone()])
        })
    }

    /// Each header as (name, value) bytes, in order: for a search by name, with no UTF-8
    /// check per name (the parser lets only token names through).
    pub fn raw(&self) -> impl ExactSizeIterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let buf = self.buf;
        self.ranges
            .iter()
            .map(move |(name, value)| (&buf[name.clone()], &buf[value.clone()]))
    }

    /// How many headers the head has.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether the head has no header.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

impl std::fmt::Debug for Headers<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|(name, value)| (name, String::from_utf8_lossy(value))),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_reads_the_buffer_it_was_parsed_from() {
        let buf = b"POST /a%20b?q HTTP/1.1\r\nX-One: 1\r\nx-two: \xff\r\n\r\n";
        let ranges = [(24..29, 31..32), (34..39, 41..42)];
        let head = RequestHead {
            method: "POST",
            target: &buf[5..13],
            headers: Headers::new(buf, &ranges),
            request_id: b"ab-1",
            content_length: Some(0),
        };
        assert_eq!(head.target_text(), "/a%20b?q");
        let headers: Vec<_> = head.headers.iter().collect();
        assert_eq!(headers, [("X-One", &b"1"[..]), ("x-two", &b"\xff"[..])]);
        assert_eq!(head.headers.len(), 2);
        let binary = RequestHead {
            target: b"/\xff",
            ..head
        };
        assert_eq!(binary.target_text(), "");
    }
}

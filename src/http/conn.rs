//! One connection's loop: read, parse every complete request in the buffer, hand each to
//! the [`App`] (route, then call), batch the responses, write them in one go, repeat.
//! Bounded everywhere: head bytes and count, body bytes, header / body / idle timeouts,
//! buffers shrunk back after big requests.
//!
//! A request whose framing is lost (bad head, bad length, oversized body) is answered
//! after every response already produced for earlier pipelined requests, then the
//! connection is closed with a lingering close so the answer is not destroyed by a reset.

use super::app::{App, Headers, Reply, Request, RequestHead};
use super::buffers;
use super::chunked::{ChunkError, Chunked};
use super::deadline::Registration;
use super::head::{self, Framing, Head};
use super::{response, RequestId, Shared};
use crate::logging::escape;
use may::net::TcpStream;
use std::io::{self, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::ops::Range;
use std::time::{Duration, Instant};

/// Read buffer size of a fresh connection (pooled while it waits idle, `buffers`).
const BUF_START: usize = buffers::SIZE;
/// Buffers grown past this by a big request are shrunk back once it is answered.
const BUF_KEEP: usize = 64 * 1024;
/// Idle connections wake this often to notice a shutdown.
const SHUTDOWN_POLL: Duration = Duration::from_secs(1);
/// Sent with a 503 for a full memory budget: bodies held now are answered within seconds.
const RETRY_AFTER: &[u8] = b"Retry-After: 1\r\n";
/// How long a closing connection drains unread input so its last answer is not reset.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

/// What to do after looking at the buffer.
enum Next {
    /// A request was answered; look for the next one.
    Continue,
    /// The buffer holds no complete head: flush, then read.
    NeedMore,
    /// Answered (or hopeless): flush, then close.
    Close,
}

/// One step of a request: `Ok(Ok(value))` goes on to the next step; `Ok(Err(next))` ends
/// the request here (answered, hopeless, or its head incomplete).
type Step<T> = io::Result<Result<T, Next>>;

/// Why a read did not add bytes.
enum Stall {
    Eof,
    Timeout,
}

/// Where a received body is.
enum Body {
    /// In the read buffer (`Content-Length`).
    Buffered(Range<usize>),
    /// De-chunked into `Conn::chunked_body`.
    Decoded,
}

struct Conn<A: 'static> {
    stream: TcpStream,
    app: &'static A,
    shared: &'static Shared,
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    out: Vec<u8>,
    head: Head,
    /// The current request's id (`X-Request-Id`).
    request_id: RequestId,
    chunked_body: Vec<u8>,
    /// Requests read whose answers are not yet written (the shutdown waits for them).
    unanswered: usize,
    /// When the head being received started to arrive.
    head_started: Option<Instant>,
    /// When the current request's head was complete (for the access log).
    request_started: Instant,
    served: u64,
    peer: String,
    /// Read and write deadlines (the server's reaper wakes a wait that outlives them), and
    /// whether the socket is known empty.
    watch: Registration,
    /// Bytes this connection took from the memory budget for the current body (given back
    /// once its buffers are shrunk after the answer is written).
    reserved: u64,
}

/// Serves one accepted connection until it closes: its requests go to `app`, under the
/// limits and shutdown state in `shared`.
pub(crate) fn serve<A: App>(stream: TcpStream, app: &'static A, shared: &'static Shared) {
    let _ = stream.set_nodelay(true);
    let peer = stream
        .peer_addr()
        .map(|addr| addr.ip().to_string())
        .unwrap_or_default();
    let watch = shared.deadlines.register(&stream);
    let mut conn = Conn {
        stream,
        app,
        shared,
        // Taken when the first bytes arrive (`read_some`).
        buf: Vec::new(),
        start: 0,
        filled: 0,
        out: Vec::new(),
        head: Head::default(),
        request_id: RequestId::next(),
        chunked_body: Vec::new(),
        unanswered: 0,
        head_started: Some(Instant::now()),
        request_started: Instant::now(),
        served: 0,
        peer,
        watch,
        reserved: 0,
    };
    match conn.run() {
        Ok(true) => conn.linger(),
        Ok(false) => {}
        Err(error) => log::debug!("connection from {} ended: {error}", conn.peer),
    }
    shared.answered(conn.unanswered);
}

impl<A> Drop for Conn<A> {
    /// A connection that ends holding budget (closed mid-body, refused) gives it back.
    fn drop(&mut self) {
        self.shared.budget.give(self.reserved);
    }
}

impl<A: App> Conn<A> {
    /// Returns whether to close with a linger (we answered and stop reading).
    fn run(&mut self) -> io::Result<bool> {
        loop {
            match self.next()? {
                Next::Continue => {}
                Next::Close => {
                    self.flush()?;
                    return Ok(true);
                }
                Next::NeedMore => {
                    self.flush()?;
                    self.compact();
                    self.release_buffers();
                    // Shutting down, a kept-alive connection still gets one idle wait (at
                    // most SHUTDOWN_POLL): a client that sent its next request right after
                    // our last answer is answered, not reset.
                    match self.fill_head()? {
                        None => {}
                        Some(Stall::Eof) => return Ok(false),
                        Some(Stall::Timeout) if self.start == self.filled => return Ok(false),
                        Some(Stall::Timeout) => {
                            self.request_id = RequestId::next();
                            self.fail(408);
                            self.flush()?;
                            return Ok(true);
                        }
                    }
                }
            }
        }
    }

    /// Answers the request at the start of the buffer, if its head is complete.
    ///
    /// The one place that orders the checks (docs/protocol.md, "Order of checks"): each
    /// step below runs only if the one before let the request through.
    fn next(&mut self) -> io::Result<Next> {
        if self.start == self.filled {
            return Ok(Next::NeedMore);
        }
        // 1. Framing, from the head (400, 431, 505).
        if let Err(next) = self.parse_head() {
            return Ok(next);
        }
        // `OPTIONS *` asks about the server, not a route: what it allows (RFC 9110 §9.3.7).
        if self.head.asterisk {
            return Ok(self.refuse(&ServerOptions));
        }
        // 2. The application's route step, from the head alone (404, 501 for a method, and
        //    the slots later issues fill): refused here, the body is never read.
        let route = match self.app.route(&self.request_head()) {
            Ok(route) => route,
            Err(reply) => return Ok(self.refuse(&reply)),
        };
        // 3. The memory budget (the application's step 6 of docs/protocol.md, run here where
        //    the bytes are held): 503 with `Retry-After`, the body never read.
        if let Err(next) = self.reserve_body() {
            return Ok(next);
        }
        // 4. The body: 413 from `Content-Length`, then read (408, 400, 413 while de-chunking).
        let body = match self.read_body()? {
            Ok(body) => body,
            Err(next) => return Ok(next),
        };
        // 5. The application's call with the whole body (503, 400, the action).
        let reply = self.call(route, body);
        Ok(self.respond(&reply, self.head.close))
    }

    /// Parses the head at the start of the buffer and counts the request as read.
    fn parse_head(&mut self) -> Result<(), Next> {
        let limits = &self.shared.limits;
        let max_head = limits.max_header_bytes;
        let data = &self.buf[self.start..self.filled];
        let refused = match head::parse(data, limits.max_headers, &mut self.head) {
            Ok(true) if self.head.len <= max_head => None,
            Ok(true) => Some(431),
            Ok(false) if data.len() > max_head => Some(431),
            Ok(false) => {
                self.head_started.get_or_insert_with(Instant::now);
                return Err(Next::NeedMore);
            }
            Err(error) => Some(error.status()),
        };
        if let Some(status) = refused {
            // A head refused for its framing: its headers are not read, its id is ours.
            self.request_id = RequestId::next();
            return Err(self.fail(status));
        }
        // The head was parsed from `buf[start..]`: make its ranges index `buf`.
        self.head.shift(self.start);
        self.request_id = RequestId::of(Headers::new(&self.buf, &self.head.headers));
        self.head_started = None;
        if access_log() {
            self.request_started = Instant::now();
        }
        self.unanswered += 1;
        self.shared.request_read();
        Ok(())
    }

    /// The current head as the application sees it.
    fn request_head(&self) -> RequestHead<'_> {
        RequestHead {
            method: self.method(),
            target: &self.buf[self.head.target.clone()],
            headers: Headers::new(&self.buf, &self.head.headers),
            request_id: self.request_id.as_bytes(),
            content_length: match self.head.framing {
                Some(Framing::Length(length)) => Some(length),
                _ => None,
            },
        }
    }

    /// Answers a request the route step refused, without reading its body. The connection
    /// stays open only if the whole body is already here to skip.
    fn refuse(&mut self, reply: &impl Reply) -> Next {
        let body_start = self.start + self.head.len;
        let close = match self.head.framing {
            Some(Framing::Length(n))
                if (body_start as u64).saturating_add(n) <= self.filled as u64 =>
            {
                self.start = body_start + n as usize;
                self.head.close
            }
            _ => true,
        };
        self.respond(reply, close)
    }

    /// Takes a `Content-Length` body's bytes from the server's memory budget before any of
    /// it is read, unless the body fits the buffer the connection already has (the usual
    /// small request: no atomic operation) or is over the body limit (413 next). A body
    /// the budget cannot hold now is answered 503 with `Retry-After`, and the connection
    /// closed (its body is not read).
    fn reserve_body(&mut self) -> Result<(), Next> {
        let Some(Framing::Length(length)) = self.head.framing else {
            return Ok(());
        };
        let end = (self.start + self.head.len) as u64 + length;
        if end <= self.buf.len() as u64 || length > self.shared.limits.max_body_bytes {
            return Ok(());
        }
        self.take(length)
    }

    /// Takes `bytes` more from the memory budget for the current body; 503 if it is full.
    fn take(&mut self, bytes: u64) -> Result<(), Next> {
        if self.shared.budget.take(bytes) {
            self.reserved += bytes;
            crate::memory::note_large();
            Ok(())
        } else {
            log::warn!(
                "memory budget full ({} of {} body bytes held): 503 to {} req={}",
                self.shared.body_bytes_held(),
                self.shared.limits.memory_budget_bytes,
                self.peer,
                self.request_id
            );
            Err(self.fail(503))
        }
    }

    /// Gives the current body's bytes back to the budget (its buffers are shrunk).
    fn give_back(&mut self) {
        self.shared.budget.give(std::mem::take(&mut self.reserved));
    }

    /// Receives the body under the body limit and the body timeout.
    fn read_body(&mut self) -> Step<Body> {
        let body_start = self.start + self.head.len;
        match self.head.framing {
            Some(Framing::Length(n)) if n > self.shared.limits.max_body_bytes => {
                Ok(Err(self.fail(413)))
            }
            Some(Framing::Length(n)) => self.read_length(body_start, n as usize),
            Some(Framing::Chunked) => self.read_chunked(body_start),
            None => Ok(Err(self.fail(400))),
        }
    }

    /// A `Content-Length` body: already buffered, or read now under the body timeout (the
    /// clock is read only then: a buffered body costs no time call).
    fn read_length(&mut self, body_start: usize, length: usize) -> Step<Body> {
        let end = body_start + length;
        if end > self.filled {
            self.expect_continue()?;
            let deadline = Instant::now() + self.shared.limits.body_timeout;
            if let Some(stall) = self.fill_to(end, deadline)? {
                return Ok(Err(self.stalled(stall)));
            }
        }
        self.start = end;
        Ok(Ok(Body::Buffered(body_start..end)))
    }

    /// A chunked body, de-chunked into `chunked_body` as it arrives (400 for bad framing,
    /// 413 once over the body limit).
    fn read_chunked(&mut self, body_start: usize) -> Step<Body> {
        let limits = &self.shared.limits;
        let mut body_deadline = None;
        let mut decoder = Chunked::new();
        let mut decoded = std::mem::take(&mut self.chunked_body);
        decoded.clear();
        let mut pos = body_start;
        loop {
            match decoder.feed(
                &self.buf[pos..self.filled],
                &mut decoded,
                limits.max_body_bytes,
            ) {
                Ok(consumed) => pos += consumed,
                Err(ChunkError::Bad) => return Ok(Err(self.fail(400))),
                Err(ChunkError::TooLarge) => return Ok(Err(self.fail(413))),
            }
            // The decoded body reserves its memory as it grows (its capacity past the
            // size a connection keeps anyway).
            let grown = (decoded.capacity() as u64).saturating_sub(BUF_START as u64);
            if grown > self.reserved {
                if let Err(next) = self.take(grown - self.reserved) {
                    return Ok(Err(next));
                }
            }
            if decoder.is_done() {
                break;
            }
            // Decoded bytes leave the read buffer: it holds the head and at most one
            // unfinished chunk line, however the body is cut into chunks.
            if pos > body_start {
                self.buf.copy_within(pos..self.filled, body_start);
                self.filled -= pos - body_start;
                pos = body_start;
            }
            self.expect_continue()?;
            let deadline =
                *body_deadline.get_or_insert_with(|| Instant::now() + limits.body_timeout);
            if let Some(stall) = self.fill_to(self.filled + 1, deadline)? {
                return Ok(Err(self.stalled(stall)));
            }
        }
        self.start = pos;
        self.chunked_body = decoded;
        Ok(Ok(Body::Decoded))
    }

    /// Hands the whole request to the application.
    fn call(&mut self, route: A::Route, body: Body) -> A::Reply {
        let reply = {
            let body = match body {
                Body::Buffered(range) => &self.buf[range],
                Body::Decoded => &self.chunked_body[..],
            };
            let request = Request {
                head: self.request_head(),
                body,
            };
            self.app.call(route, &request)
        };
        if self.chunked_body.capacity() > BUF_KEEP || self.reserved > 0 {
            self.chunked_body = Vec::new();
        }
        reply
    }

    fn method(&self) -> &str {
        let method = &self.buf[self.head.method.clone()];
        // The common methods need no UTF-8 check (hot path).
        match method {
            b"POST" => "POST",
            b"GET" => "GET",
            _ => std::str::from_utf8(method).unwrap_or(""),
        }
    }

    /// Encodes a reply for the current head: what to do next (close or go on).
    fn respond(&mut self, reply: &impl Reply, close: bool) -> Next {
        // Shutting down: answer every request already in the buffer, close after the last.
        let close = close || (self.shared.is_shutting_down() && self.start == self.filled);
        let head_only = &self.buf[self.head.method.clone()] == b"HEAD";
        let [extra, more] = reply.extra_header_lines();
        response::encode(
            &mut self.out,
            reply.status(),
            reply.header_lines(),
            &[
                b"X-Request-Id: ",
                self.request_id.as_bytes(),
                b"\r\n",
                extra,
                more,
            ],
            reply.body(),
            close,
            head_only,
        );
        self.served += 1;
        if access_log() {
            let head = self.request_head();
            let identity = reply.identity();
            log::info!(
                target: "apiphant::access",
                "{} \"{} {} HTTP/1.{}\" {} {} {:.6} req={} user={}",
                self.peer,
                escape(head.method.as_bytes()),
                escape(self.app.loggable_target(head.target_text()).as_bytes()),
                self.head.minor_version,
                reply.status(),
                reply.body().len(),
                self.request_started.elapsed().as_secs_f64(),
                self.request_id,
                if identity.is_empty() { "-" } else { identity }
            );
        }
        if close {
            Next::Close
        } else {
            Next::Continue
        }
    }

    /// Answers a transport-level error (framing lost, or the memory budget full: 503 with
    /// `Retry-After`) and asks to close.
    fn fail(&mut self, status: u16) -> Next {
        let body = response::error_body(status);
        let retry: &[u8] = if status == 503 { RETRY_AFTER } else { b"" };
        let id: [&[u8]; 4] = [
            b"X-Request-Id: ",
            self.request_id.as_bytes(),
            b"\r\n",
            retry,
        ];
        response::encode(&mut self.out, status, None, &id, &body, true, false);
        log::info!(
            target: "apiphant::access",
            "{} transport error {status} after {} request(s) on this connection req={}",
            self.peer,
            self.served,
            self.request_id
        );
        Next::Close
    }

    /// A body stalled: a timeout is answered 408; a client that closed early loses the
    /// request (a truncated body is never processed).
    fn stalled(&mut self, stall: Stall) -> Next {
        if let Stall::Timeout = stall {
            self.fail(408);
        }
        Next::Close
    }

    /// `Expect: 100-continue`: the client waits for this before sending the body.
    fn expect_continue(&mut self) -> io::Result<()> {
        if std::mem::take(&mut self.head.expect_continue) {
            self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            self.flush()?;
        }
        Ok(())
    }

    /// Writes every batched response. A client that does not read them within the body
    /// timeout is dropped.
    ///
    /// Writes go to the socket directly, like reads (`read_some`): may's own `write` would
    /// clear the readiness flag that lets the next read start with the wait.
    fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            let deadline = self.watch.deadline(self.shared.limits.body_timeout);
            let mut written = 0;
            while written < self.out.len() {
                let out = &self.out[written..];
                match self
                    .watch
                    .io_until(&mut self.stream, deadline, |s| s.write(out))?
                {
                    None => return Err(ErrorKind::TimedOut.into()),
                    Some(0) => return Err(ErrorKind::WriteZero.into()),
                    Some(n) => written += n,
                }
            }
            self.out.clear();
            if self.out.capacity() > BUF_KEEP {
                self.out = Vec::with_capacity(BUF_START);
            }
        }
        if self.unanswered > 0 {
            self.shared.answered(std::mem::take(&mut self.unanswered));
        }
        Ok(())
    }

    /// Hands both buffers back to the pool when nothing is left in them: a connection
    /// waiting for its next request holds none (`read_some` takes them again).
    fn release_buffers(&mut self) {
        if self.start == self.filled && self.buf.len() == BUF_START {
            self.start = 0;
            self.filled = 0;
            buffers::give_read(std::mem::take(&mut self.buf));
        }
        if self.out.is_empty() && self.out.capacity() == BUF_START {
            buffers::give_write(std::mem::take(&mut self.out));
        }
    }

    /// Moves unparsed bytes to the front; shrinks a buffer a big request grew.
    fn compact(&mut self) {
        if self.start == self.filled {
            self.start = 0;
            self.filled = 0;
        } else if self.start > 0 {
            self.buf.copy_within(self.start..self.filled, 0);
            self.filled -= self.start;
            self.start = 0;
        }
        // A buffer a budgeted body grew is shrunk at once (its bytes go back to the
        // budget): the memory is the system's again, not held by a waiting connection.
        let keep = if self.reserved > 0 {
            BUF_START
        } else {
            BUF_KEEP
        };
        if self.buf.len() > keep && self.filled <= BUF_START {
            let mut small = vec![0; BUF_START];
            small[..self.filled].copy_from_slice(&self.buf[..self.filled]);
            self.buf = small;
        }
        if self.reserved > 0 && self.buf.len() <= BUF_KEEP {
            self.give_back();
        }
    }

    /// Reads more of a head (or waits, idle, for the next request). A head is bounded by
    /// the header timeout since its first byte (for a fresh connection, since it was
    /// accepted); an idle keep-alive connection by the idle timeout. Both wake at least
    /// every [`SHUTDOWN_POLL`]: once a shutdown started, a connection with no complete
    /// request (nothing was read to answer) closes. An idle one also closes when shed at
    /// the open-file limit (`Deadlines::shed_idle`).
    fn fill_head(&mut self) -> io::Result<Option<Stall>> {
        let idle = self.start == self.filled && self.served > 0;
        if !idle {
            return self.wait_head(false);
        }
        self.watch.set_idle(true);
        let stall = self.wait_head(true);
        self.watch.set_idle(false);
        stall
    }

    /// [`Conn::fill_head`]'s waits; `idle`: for the next request of a kept-alive connection.
    fn wait_head(&mut self, idle: bool) -> io::Result<Option<Stall>> {
        let limits = &self.shared.limits;
        if idle {
            // The first wait needs no clock read (hot path: every keep-alive request
            // passes here); the idle deadline is counted from when it ends empty.
            let first = limits.idle_timeout.min(SHUTDOWN_POLL);
            match self.read_some(first, self.filled + 1)? {
                None => return Ok(None),
                Some(Stall::Eof) => return Ok(Some(Stall::Eof)),
                Some(Stall::Timeout) if self.shared.is_shutting_down() || self.watch.is_shed() => {
                    return Ok(Some(Stall::Eof))
                }
                // Idle a while: the pages its last request touched go back (`call_stack`).
                Some(Stall::Timeout) => crate::call_stack::release_idle(),
            }
        }
        let mut now = Instant::now();
        let deadline = if idle {
            // The first slice of the idle wait has passed already.
            now + limits.idle_timeout.saturating_sub(SHUTDOWN_POLL)
        } else {
            *self.head_started.get_or_insert(now) + limits.header_timeout
        };
        loop {
            let slice = deadline.saturating_duration_since(now).min(SHUTDOWN_POLL);
            if slice.is_zero() {
                return Ok(Some(Stall::Timeout));
            }
            match self.read_some(slice, self.filled + 1)? {
                Some(Stall::Timeout) if self.shared.is_shutting_down() || self.watch.is_shed() => {
                    return Ok(Some(Stall::Eof))
                }
                Some(Stall::Timeout) => now = Instant::now(),
                Some(Stall::Eof) => return Ok(Some(Stall::Eof)),
                // After an idle wait `head_started` is None: `next` starts the header
                // timeout if the bytes that came are not a whole head yet (a whole head,
                // the usual case, costs no clock read).
                None => return Ok(None),
            }
        }
    }

    /// Reads until `filled >= want` or the deadline passes.
    fn fill_to(&mut self, want: usize, deadline: Instant) -> io::Result<Option<Stall>> {
        while self.filled < want {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Some(Stall::Timeout));
            }
            if let Some(stall) = self.read_some(left, want)? {
                return Ok(Some(stall));
            }
        }
        Ok(None)
    }

    /// One read into the free part of the buffer, waiting at most `timeout`. A full
    /// buffer grows by doubling, never past what `want` needs (plus one start size): its
    /// size follows the bytes that arrived, not the `Content-Length` a client announced.
    ///
    /// The socket is read directly (non-blocking); only when it is empty does the
    /// coroutine wait, with may's `wait_io` and a deadline on the server's coarse clock
    /// (`deadline.rs`): no timer per wait, and a connection goes back in line only when
    /// it has something to read, so every connection gets its turn in epoll order.
    fn read_some(&mut self, timeout: Duration, want: usize) -> io::Result<Option<Stall>> {
        let deadline = self.watch.deadline(timeout);
        // Known empty (after a short read): wait first, which saves a read that finds
        // nothing on every keep-alive request; and waits without buffers (until a read
        // can find something: a fresh socket's first event may say only "writable").
        while self.watch.known_empty() {
            if self.watch.wait(&self.stream, deadline) {
                return Ok(Some(Stall::Timeout));
            }
        }
        if self.buf.is_empty() {
            self.buf = buffers::take_read();
        }
        if self.out.capacity() == 0 {
            self.out = buffers::take_write();
        }
        if self.filled == self.buf.len() {
            let grown = (self.buf.len() * 2).min(want.max(self.buf.len() + BUF_START));
            self.buf.resize(grown, 0);
        }
        let buf = &mut self.buf[self.filled..];
        let free = buf.len();
        match self
            .watch
            .io_until(&mut self.stream, deadline, |s| s.read(buf))?
        {
            None => Ok(Some(Stall::Timeout)),
            Some(0) => Ok(Some(Stall::Eof)),
            Some(n) => {
                self.filled += n;
                self.watch.note_read(n < free);
                Ok(None)
            }
        }
    }

    /// Lingering close: stop writing, then drain (bounded) what the client still sends,
    /// so the kernel does not reset the connection before the client reads our answer.
    fn linger(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let deadline = self.watch.deadline(LINGER);
        let mut drained = 0;
        let mut scratch = [0u8; 4096];
        while drained < LINGER_BYTES {
            match self
                .watch
                .io_until(&mut self.stream, deadline, |s| s.read(&mut scratch))
            {
                Ok(Some(n)) if n > 0 => drained += n,
                _ => break,
            }
        }
    }
}

/// Whether the access log (`apiphant::access`, info) is on; off, a request reads the
/// clock once less.
fn access_log() -> bool {
    log::log_enabled!(target: "apiphant::access", log::Level::Info)
}

/// The answer to `OPTIONS *`: 200, `Allow: POST` (every route takes POST only), `{}`.
struct ServerOptions;

impl Reply for ServerOptions {
    fn status(&self) -> u16 {
        200
    }

    fn header_lines(&self) -> Option<&[u8]> {
        Some(b"Content-Type: application/json\r\nAllow: POST\r\n")
    }

    fn body(&self) -> &[u8] {
        b"{}"
    }
}

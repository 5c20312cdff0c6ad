//! Request head parsing with `httparse`, and the framing decisions taken from it:
//! body length, chunked, keep-alive, `Expect: 100-continue`. (Whether the body is over the
//! limit is decided later, in its place in the order of checks: docs/protocol.md.) Strict,
//! RFC 9112 to the letter, where a lenient reading could be smuggled past a proxy or
//! misread: the request line's grammar (one space between method, target and version; a
//! target of visible ASCII; `*` only with `OPTIONS`; `HTTP/` DIGIT `.` DIGIT), CRLF line
//! ends, exactly one valid `Host` in HTTP/1.1, conflicting, malformed or overflowing
//! `Content-Length`, both `Content-Length` and `Transfer-Encoding`, and any
//! `Transfer-Encoding` but one field of exactly `chunked` (§3, §3.2, §6.1, §6.3).

use std::mem::MaybeUninit;
use std::ops::Range;

/// Hard cap on the configurable header count (the parse array lives on the stack).
pub(crate) const MAX_HEADERS_CAP: usize = 512;

/// How the body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Content-Length: n` (0 when absent).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed request head; ranges index the connection's read buffer.
#[derive(Debug, Default)]
pub(crate) struct Head {
    pub(crate) method: Range<usize>,
    pub(crate) target: Range<usize>,
    pub(crate) minor_version: u8,
    pub(crate) headers: Vec<(Range<usize>, Range<usize>)>,
    pub(crate) len: usize,
    pub(crate) framing: Option<Framing>,
    pub(crate) close: bool,
    pub(crate) expect_continue: bool,
    /// `OPTIONS *`: a question to the server, answered by the loop (`Allow: POST`).
    pub(crate) asterisk: bool,
}

/// Why a head is refused; each maps to one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// 400: not HTTP/1.x by its grammar, a bad `Host`, or malformed or unknowable framing.
    Bad,
    /// 431: more headers than allowed, or a head larger than allowed.
    TooLarge,
    /// 505: a well-formed HTTP version other than 1.0 / 1.1.
    Version,
}

impl HeadError {
    pub(crate) fn status(self) -> u16 {
        match self {
            HeadError::Bad => 400,
            HeadError::TooLarge => 431,
            HeadError::Version => 505,
        }
    }
}

impl Head {
    /// Moves every range by `by`: the head was parsed from `buf[by..]`.
    pub(crate) fn shift(&mut self, by: usize) {
        let shift = |range: &mut Range<usize>| *range = range.start + by..range.end + by;
        shift(&mut self.method);
        shift(&mut self.target);
        for (name, value) in &mut self.headers {
            shift(name);
            shift(value);
        }
    }
}

/// Parses a head at the start of `buf`; its ranges index `buf` (see [`Head::shift`]). `Ok(false)`: incomplete, read more.
pub(crate) fn parse(buf: &[u8], max_headers: usize, head: &mut Head) -> Result<bool, HeadError> {
    let max_headers = max_headers.clamp(1, MAX_HEADERS_CAP);
    if max_headers <= STACK_HEADERS {
        let mut storage = [const { MaybeUninit::uninit() }; STACK_HEADERS];
        parse_into(buf, &mut storage[..max_headers], head)
    } else {
        // Above the default: the array on the heap (one allocation per head parsed with
        // such a setting) rather than a 16 KiB stack frame in every connection.
        let mut storage: Vec<_> = (0..max_headers).map(|_| MaybeUninit::uninit()).collect();
        parse_into(buf, &mut storage, head)
    }
}

/// Most headers parsed into an array on the coroutine's stack (2 KiB). A bigger array
/// would cost every connection its pages: Rust probes each page of a frame over 4 KiB,
/// so a 512-header array made 16 KiB of each connection's stack resident.
const STACK_HEADERS: usize = 64;

fn parse_into<'b>(
    buf: &'b [u8],
    storage: &mut [MaybeUninit<httparse::Header<'b>>],
    head: &mut Head,
) -> Result<bool, HeadError> {
    let mut request = httparse::Request::new(&mut []);
    // The request line's own grammar (`check_request_line`) is checked in full only when
    // httparse has not taken the whole head: to tell a 505 from a 400, and to refuse a bad
    // line before the rest of the head arrives. A head httparse took whole met most of it
    // already (one SP each, a token method, `HTTP/1.0` or `HTTP/1.1`, line ends checked
    // below); what it lets through is checked after (`check_parsed_line`).
    let len = match request.parse_with_uninit_headers(buf, storage) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            check_request_line(buf)?;
            return Ok(false);
        }
        Err(httparse::Error::TooManyHeaders) => {
            check_request_line(buf)?;
            return Err(HeadError::TooLarge);
        }
        Err(_) => {
            check_request_line(buf)?;
            return Err(HeadError::Bad);
        }
    };
    let offset = |part: &[u8]| {
        let start = part.as_ptr() as usize - buf.as_ptr() as usize;
        start..start + part.len()
    };
    let (Some(method), Some(target), Some(minor_version)) =
        (request.method, request.path, request.version)
    else {
        return Err(HeadError::Bad);
    };
    head.method = offset(method.as_bytes());
    head.target = offset(target.as_bytes());
    check_parsed_line(buf, head.method.start, method, target)?;
    head.minor_version = minor_version;
    head.len = len;
    head.headers.clear();
    head.close = minor_version == 0;
    head.expect_continue = false;
    head.asterisk = target == "*";
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut coded = false;
    let mut hosts = 0;
    for header in request.headers.iter() {
        head.headers
            .push((offset(header.name.as_bytes()), offset(header.value)));
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            let value = parse_length(header.value)?;
            if length.is_some_and(|seen| seen != value) {
                return Err(HeadError::Bad);
            }
            length = Some(value);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // One field, of exactly `chunked`: chunked not final, repeated, another coding
            // or a second field make the framing unknowable (RFC 9112 §6.1, §6.3).
            if coded {
                return Err(HeadError::Bad);
            }
            coded = true;
            chunked = header.value.trim_ascii().eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case("host") {
            hosts += 1;
            if hosts > 1 || !is_host(header.value) {
                return Err(HeadError::Bad);
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|&b| b == b',') {
                if token.trim_ascii().eq_ignore_ascii_case(b"close") {
                    head.close = true;
                }
            }
        } else if name.eq_ignore_ascii_case("expect")
            && header
                .value
                .trim_ascii()
                .eq_ignore_ascii_case(b"100-continue")
        {
            head.expect_continue = minor_version == 1;
        }
    }
    // Every line of the head ends with CRLF (httparse also takes a bare LF).
    if !ends_lines_with_crlf(buf, len, &head.headers) {
        return Err(HeadError::Bad);
    }
    // RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host (HTTP/1.0 may omit it).
    if hosts == 0 && minor_version == 1 {
        return Err(HeadError::Bad);
    }
    head.framing = match (length, coded) {
        (Some(_), true) => return Err(HeadError::Bad),
        // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means the framing is faulty.
        (None, true) if minor_version == 0 => return Err(HeadError::Bad),
        (None, true) if chunked => Some(Framing::Chunked),
        (None, true) => return Err(HeadError::Bad),
        (Some(length), false) => Some(Framing::Length(length)),
        (None, false) => Some(Framing::Length(0)),
    };
    Ok(true)
}

/// `1*DIGIT`, nothing else; a number too big for u64 is an invalid field (400).
fn parse_length(value: &[u8]) -> Result<u64, HeadError> {
    let value = value.trim_ascii();
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(HeadError::Bad);
    }
    value
        .iter()
        .try_fold(0u64, |n, &digit| {
            n.checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(digit - b'0')))
        })
        .ok_or(HeadError::Bad)
}

/// The request line, once it is complete (RFC 9112 §3): `method SP request-target SP
/// HTTP-version CRLF`, one space each, a target of visible ASCII (`*` only with
/// `OPTIONS`), a version `HTTP/` DIGIT `.` DIGIT (505 for one other than 1.0 and 1.1).
/// Leading empty lines are skipped, as httparse does (§2.2). The method's grammar is
/// httparse's to check.
fn check_request_line(buf: &[u8]) -> Result<(), HeadError> {
    let mut rest = buf;
    while let Some(after) = rest.strip_prefix(b"\r\n") {
        rest = after;
    }
    let Some(end) = rest.iter().position(|&b| b == b'\n') else {
        return Ok(());
    };
    let Some(line) = rest[..end].strip_suffix(b"\r") else {
        return Err(HeadError::Bad);
    };
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Bad);
    };
    let visible =
        |bytes: &[u8]| !bytes.is_empty() && bytes.iter().all(|b| (0x21..0x7f).contains(b));
    if !visible(method) || !visible(target) {
        return Err(HeadError::Bad);
    }
    match version {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', b'0' | b'1'] => {}
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            return Err(HeadError::Version)
        }
        _ => return Err(HeadError::Bad),
    }
    if target == b"*" && method != b"OPTIONS" {
        return Err(HeadError::Bad);
    }
    Ok(())
}

/// What [`check_request_line`] refuses and httparse takes, for a head httparse took whole:
/// anything but CRLFs before the method (a bare LF), a request target that is not visible
/// ASCII, and `*` with another method than `OPTIONS`.
fn check_parsed_line(
    buf: &[u8],
    method_start: usize,
    method: &str,
    target: &str,
) -> Result<(), HeadError> {
    let before = &buf[..method_start];
    if !before.len().is_multiple_of(2) || before.chunks(2).any(|pair| pair != b"\r\n") {
        return Err(HeadError::Bad);
    }
    if !target.bytes().all(|b| (0x21..0x7f).contains(&b)) || (target == "*" && method != "OPTIONS")
    {
        return Err(HeadError::Bad);
    }
    Ok(())
}

/// Whether every line of the head `buf[..len]` ends with CRLF, httparse having taken a bare
/// LF too: the two bytes before each header's name (the end of the line before it) and the
/// four that end the head. A few comparisons per header, no pass over the bytes (the hot
/// path: every request). A bare LF before the request line is refused by
/// [`check_request_line`].
fn ends_lines_with_crlf(buf: &[u8], len: usize, names: &[(Range<usize>, Range<usize>)]) -> bool {
    buf[..len].ends_with(b"\r\n\r\n")
        && names
            .iter()
            .all(|(name, _)| name.start >= 2 && buf[name.start - 2..name.start] == *b"\r\n")
}

/// A `Host` value (RFC 9110 §7.2, RFC 3986 §3.2.2): `uri-host [ ":" port ]`, not empty, no
/// userinfo, path or list: unreserved characters, percent-encodings, sub-delimiters but
/// the comma, and the brackets and colons of an IPv6 literal.
fn is_host(value: &[u8]) -> bool {
    let value = value.trim_ascii();
    !value.is_empty() && value.iter().all(|&b| HOST_BYTES[usize::from(b)])
}

/// The bytes of a `Host` value ([`is_host`]), as a table: one lookup per byte.
const HOST_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric();
        byte += 1;
    }
    let others = b"-._~%!$&'()*+;=:[]";
    let mut at = 0;
    while at < others.len() {
        table[others[at] as usize] = true;
        at += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &[u8]) -> Result<Head, HeadError> {
        let mut head = Head::default();
        match parse(raw, 64, &mut head)? {
            true => Ok(head),
            false => Err(HeadError::Bad),
        }
    }

    /// `POST / HTTP/1.1`, a Host, then `fields`.
    fn post(fields: &str) -> Vec<u8> {
        format!("POST / HTTP/1.1\r\nHost: x\r\n{fields}\r\n").into_bytes()
    }

    #[test]
    fn framing() {
        let head = parsed(&post("Content-Length: 5\r\n")).ok();
        assert_eq!(head.and_then(|h| h.framing), Some(Framing::Length(5)));
        let head = parsed(&post("Transfer-Encoding: chunked\r\n")).ok();
        assert_eq!(head.and_then(|h| h.framing), Some(Framing::Chunked));
        for fields in [
            "Content-Length: abc\r\n",
            "Content-Length: -1\r\n",
            "Content-Length: 1\r\nContent-Length: 2\r\n",
            "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n",
            // Overflowing u64: an invalid field, not a length over the limit.
            "Content-Length: 99999999999999999999999\r\n",
            // Chunked not final, repeated, another coding, a second field.
            "Transfer-Encoding: chunked, gzip\r\n",
            "Transfer-Encoding: chunked, chunked\r\n",
            "Transfer-Encoding: gzip, chunked\r\n",
            "Transfer-Encoding: gzip\r\n",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        ] {
            assert_eq!(
                parsed(&post(fields)).err(),
                Some(HeadError::Bad),
                "{fields:?}"
            );
        }
        let old = parsed(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(old.err(), Some(HeadError::Bad));
        assert_eq!(parsed(b"HELLO\r\n\r\n").err(), Some(HeadError::Bad));
    }

    #[test]
    fn host_rules() {
        assert!(parsed(b"POST / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n").is_ok());
        assert!(parsed(b"POST / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n").is_ok());
        // HTTP/1.0 may omit it.
        assert!(parsed(b"POST / HTTP/1.0\r\n\r\n").is_ok());
        for raw in [
            &b"POST / HTTP/1.1\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a, b\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: user@a\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a/path\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: \r\n\r\n",
            b"POST / HTTP/1.0\r\nHost: a b\r\n\r\n",
        ] {
            assert_eq!(parsed(raw).err(), Some(HeadError::Bad), "{raw:?}");
        }
    }

    #[test]
    fn request_line_grammar() {
        for line in [
            "POST /a b HTTP/1.1",
            "POST / HTTP/1",
            "POST / HTTP/01.1",
            "POST / http/1.1",
            "POST / HTTP/1.1 ",
            "POST /\u{85} HTTP/1.1",
            "GET * HTTP/1.1",
        ] {
            let raw = format!("{line}\r\nHost: x\r\n\r\n");
            assert_eq!(
                parsed(raw.as_bytes()).err(),
                Some(HeadError::Bad),
                "{line:?}"
            );
        }
        let version = parsed(b"POST / HTTP/2.0\r\nHost: x\r\n\r\n");
        assert_eq!(version.err(), Some(HeadError::Version));
        assert_eq!(
            parsed(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").err(),
            Some(HeadError::Version)
        );
        let options = parsed(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(options.is_ok_and(|head| head.asterisk));
        // Bare LF line ends.
        let bare = parsed(b"POST / HTTP/1.1\nHost: x\r\n\r\n");
        assert_eq!(bare.err(), Some(HeadError::Bad));
        let bare = parsed(b"POST / HTTP/1.1\r\nHost: x\n\r\n");
        assert_eq!(bare.err(), Some(HeadError::Bad));
    }

    #[test]
    fn keep_alive_rules() {
        let close = |raw: &[u8]| parsed(raw).map(|h| h.close).ok();
        assert_eq!(close(&post("")), Some(false));
        assert_eq!(close(b"POST / HTTP/1.0\r\n\r\n"), Some(true));
        assert_eq!(
            close(&post("Connection: keep-alive, Close\r\n")),
            Some(true)
        );
    }

    #[test]
    fn too_many_headers() {
        let mut raw = b"POST / HTTP/1.1\r\n".to_vec();
        for i in 0..65 {
            raw.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        assert_eq!(parsed(&raw).err(), Some(HeadError::TooLarge));
    }
}

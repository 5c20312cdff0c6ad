//! Request head parsing with `httparse`, and the framing decisions taken from it:
//! body length, chunked, keep-alive, `Expect: 100-continue`. (Whether the body is over the
//! limit is decided later, in its place in the order of checks: docs/protocol.md.) Strict where a lenient
//! reading could be smuggled past a proxy (RFC 9112 §6.3): conflicting or malformed
//! `Content-Length`, both `Content-Length` and `Transfer-Encoding`, unknown codings.

use std::mem::MaybeUninit;
use std::ops::Range;

/// Hard cap on the configurable header count (the parse array lives on the stack).
pub(crate) const MAX_HEADERS_CAP: usize = 512;

/// How the body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Content-Length: n` (0 when absent; `u64::MAX` when too big for a u64).
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
}

/// Why a head is refused; each maps to one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// 400: not HTTP, or malformed framing headers.
    Bad,
    /// 431: more headers than allowed, or a head larger than allowed.
    TooLarge,
    /// 501: a transfer coding other than `chunked`.
    UnsupportedCoding,
    /// 505: an HTTP version other than 1.0 / 1.1.
    Version,
}

impl HeadError {
    pub(crate) fn status(self) -> u16 {
        match self {
            HeadError::Bad => 400,
            HeadError::TooLarge => 431,
            HeadError::UnsupportedCoding => 501,
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
    let len = match request.parse_with_uninit_headers(buf, storage) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(false),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(httparse::Error::Version) => return Err(HeadError::Version),
        Err(_) => return Err(HeadError::Bad),
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
    head.minor_version = minor_version;
    head.len = len;
    head.headers.clear();
    head.close = minor_version == 0;
    head.expect_continue = false;
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut coded = false;
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
            coded = true;
            // Only a final, sole `chunked` is understood (any other coding: 501).
            for coding in header.value.split(|&b| b == b',') {
                let coding = coding.trim_ascii();
                if coding.is_empty() {
                    continue;
                }
                if chunked || !coding.eq_ignore_ascii_case(b"chunked") {
                    return Err(HeadError::UnsupportedCoding);
                }
                chunked = true;
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
    head.framing = match (length, coded) {
        (Some(_), true) => return Err(HeadError::Bad),
        // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means the framing is faulty.
        (None, true) if minor_version == 0 => return Err(HeadError::Bad),
        (None, true) if chunked => Some(Framing::Chunked),
        (None, true) => return Err(HeadError::UnsupportedCoding),
        (Some(length), false) => Some(Framing::Length(length)),
        (None, false) => Some(Framing::Length(0)),
    };
    Ok(true)
}

/// `1*DIGIT`, nothing else; a number too big for u64 is `u64::MAX` (over any limit).
fn parse_length(value: &[u8]) -> Result<u64, HeadError> {
    let value = value.trim_ascii();
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(HeadError::Bad);
    }
    Ok(value
        .iter()
        .try_fold(0u64, |n, &digit| {
            n.checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(digit - b'0')))
        })
        .unwrap_or(u64::MAX))
}

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

    #[test]
    fn framing() {
        let head = parsed(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n").ok();
        assert_eq!(head.and_then(|h| h.framing), Some(Framing::Length(5)));
        let head = parsed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").ok();
        assert_eq!(head.and_then(|h| h.framing), Some(Framing::Chunked));
        let bad: [&[u8]; 6] = [
            b"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"HELLO\r\n\r\n",
        ];
        for raw in bad {
            assert_eq!(parsed(raw).err(), Some(HeadError::Bad), "{raw:?}");
        }
        let gzip = parsed(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        assert_eq!(gzip.err(), Some(HeadError::UnsupportedCoding));
        // Over the body limit or not, a length is framing (413 comes later, after routing).
        let huge = parsed(b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n");
        assert_eq!(
            huge.ok().and_then(|h| h.framing),
            Some(Framing::Length(u64::MAX))
        );
    }

    #[test]
    fn keep_alive_rules() {
        let close = |raw: &[u8]| parsed(raw).map(|h| h.close).ok();
        assert_eq!(close(b"POST / HTTP/1.1\r\n\r\n"), Some(false));
        assert_eq!(close(b"POST / HTTP/1.0\r\n\r\n"), Some(true));
        assert_eq!(
            close(b"POST / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n"),
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

//! The request id of each request: the client's `X-Request-Id` when it is a valid one (1 to
//! 64 visible ASCII token characters), otherwise a generated one. Kept on the stack (no
//! allocation, no system call per request); the loop returns it in the response's
//! `X-Request-Id`, writes it in the access log line, and hands it to the application.

use super::Headers;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Most bytes of a request id taken from a client; a longer one is replaced.
pub(crate) const MAX_LEN: usize = 64;

/// A request id: the client's, or a per-process prefix (from the process id and the start
/// time) and a counter, `5f3a9c21-2a`.
#[derive(Clone, Copy)]
pub struct RequestId {
    bytes: [u8; MAX_LEN],
    len: u8,
}

static PREFIX: OnceLock<u32> = OnceLock::new();
static COUNTER: AtomicU64 = AtomicU64::new(0);

impl RequestId {
    /// The next generated id of this process.
    pub fn next() -> RequestId {
        let prefix = *PREFIX.get_or_init(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_nanos());
            // FNV-1a over the pid and the clock: distinct per process, not a secret.
            let mut hash: u32 = 0x811c_9dc5;
            for byte in (u128::from(std::process::id()) << 64 ^ nanos).to_le_bytes() {
                hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
            }
            hash
        });
        let count = COUNTER.fetch_add(1, Ordering::Relaxed) + 1;
        let mut id = RequestId {
            bytes: [0; MAX_LEN],
            len: 0,
        };
        id.push_hex(u64::from(prefix), 8);
        id.bytes[usize::from(id.len)] = b'-';
        id.len += 1;
        id.push_hex(count, 1);
        id
    }

    /// The client's id when it is valid ([`RequestId::accepts`]), else [`RequestId::next`].
    pub fn given_or_next(given: Option<&[u8]>) -> RequestId {
        match given {
            Some(value) if RequestId::accepts(value) => {
                let mut id = RequestId {
                    bytes: [0; MAX_LEN],
                    len: value.len() as u8,
                };
                id.bytes[..value.len()].copy_from_slice(value);
                id
            }
            _ => RequestId::next(),
        }
    }

    /// The id of a request with these headers: its `X-Request-Id` if valid (the first one;
    /// a second one makes it ambiguous, and it is replaced).
    pub fn of(headers: Headers<'_>) -> RequestId {
        let mut given = None;
        for (name, value) in headers.iter() {
            if name.len() == 12 && name.eq_ignore_ascii_case("x-request-id") {
                if given.is_some() {
                    return RequestId::next();
                }
                given = Some(value);
            }
        }
        RequestId::given_or_next(given)
    }

    /// Whether a client's id is kept: 1 to 64 token characters (RFC 9110 `tchar`:
    /// letters, digits and ``!#$%&'*+-.^_`|~``): safe in a header, a log line and a URL.
    pub fn accepts(value: &[u8]) -> bool {
        !value.is_empty()
            && value.len() <= MAX_LEN
            && value
                .iter()
                .all(|&byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte))
    }

    /// Appends `value` in lowercase hex, at least `width` digits.
    fn push_hex(&mut self, value: u64, width: u32) {
        let digits = (64 - value.leading_zeros()).div_ceil(4).max(width);
        for n in (0..digits).rev() {
            let nibble = (value >> (n * 4)) & 0xf;
            self.bytes[usize::from(self.len)] = b"0123456789abcdef"[nibble as usize];
            self.len += 1;
        }
    }

    /// The id's bytes (ASCII).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (`accepts`, `push_hex`).
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_share_a_prefix_and_count() {
        let (a, b) = (RequestId::next().to_string(), RequestId::next().to_string());
        assert!(a.len() >= 10, "{a}");
        assert_eq!(a[..9], b[..9], "{a} {b}");
        assert_eq!(&a[8..9], "-");
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit() || c == b'-'), "{a}");
        let count = |id: &str| u64::from_str_radix(&id[9..], 16).unwrap_or(0);
        assert!(count(&b) > count(&a), "{a} {b}");
    }

    #[test]
    fn a_valid_client_id_is_kept_anything_else_replaced() {
        let kept = |value: &[u8]| RequestId::given_or_next(Some(value)).as_bytes() == value;
        assert!(kept(b"abc-123"));
        assert!(kept(b"f81d4fae7dec11d0a76500a0c91e6bf6"));
        assert!(kept(&[b'x'; 64]));
        assert!(kept(b"a.b_c~d!#$%&'*+^`|"));
        for bad in [
            &b""[..],
            &[b'x'; 65],
            b"has space",
            b"quote\"",
            b"semi;colon",
            b"\xff\xfe",
            b"new\nline",
            b"tab\t",
            b"<script>",
        ] {
            assert!(!kept(bad), "{bad:?}");
            let replaced = RequestId::given_or_next(Some(bad));
            assert!(replaced.as_str().contains('-'), "{replaced}");
        }
    }

    #[test]
    fn the_header_is_found_by_name_once() {
        let buf = b"X-Request-ID: abc\r\nx-request-id: def\r\nOther: 1";
        let one = [(0..12, 14..17)];
        let id = RequestId::of(Headers::new(buf, &one));
        assert_eq!(id.as_str(), "abc");
        let two = [(0..12, 14..17), (19..31, 33..36)];
        let id = RequestId::of(Headers::new(buf, &two));
        assert_ne!(id.as_str(), "abc");
        assert_ne!(id.as_str(), "def");
    }
}

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
/// time) and a counter, `5f3a9c21-00000000002a`.
#[derive(Clone, Copy)]
pub struct RequestId {
    bytes: [u8; MAX_LEN],
    len: u8,
}

/// Length of a generated id: 8 hex digits of prefix, `-`, 12 of counter.
const GENERATED_LEN: usize = 21;
/// Counters a thread takes from [`NEXT_BLOCK`] at a time.
const BLOCK: u64 = 4096;

static PREFIX: OnceLock<[u8; 9]> = OnceLock::new();
static NEXT_BLOCK: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's last generated id and how many ids are left in its block.
    static LAST: std::cell::RefCell<([u8; GENERATED_LEN], u64)> =
        const { std::cell::RefCell::new(([0; GENERATED_LEN], 0)) };
}

impl RequestId {
    /// The next generated id of this process: no cache line all workers write per request
    /// (each thread takes its counters in blocks) and no formatting (it counts up the text
    /// of its last id in place).
    pub fn next() -> RequestId {
        let generated = LAST
            .try_with(|last| {
                let mut last = last.borrow_mut();
                let (bytes, left) = &mut *last;
                if *left == 0 {
                    *bytes = RequestId::first_of_block();
                    *left = BLOCK - 1;
                } else {
                    // Count up in place: the last hex digit, carrying into the ones before.
                    for digit in bytes[9..].iter_mut().rev() {
                        let (next, carry) = match *digit {
                            b'9' => (b'a', false),
                            b'f' => (b'0', true),
                            other => (other + 1, false),
                        };
                        *digit = next;
                        if !carry {
                            break;
                        }
                    }
                    *left -= 1;
                }
                *bytes
            })
            .unwrap_or_else(|_| RequestId::first_of_block());
        let mut id = RequestId {
            bytes: [0; MAX_LEN],
            len: GENERATED_LEN as u8,
        };
        id.bytes[..GENERATED_LEN].copy_from_slice(&generated);
        id
    }

    /// The first id of a fresh block of counters.
    fn first_of_block() -> [u8; GENERATED_LEN] {
        let prefix = PREFIX.get_or_init(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_nanos());
            // FNV-1a over the pid and the clock: distinct per process, not a secret.
            let mut hash: u32 = 0x811c_9dc5;
            for byte in (u128::from(std::process::id()) << 64 ^ nanos).to_le_bytes() {
                hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
            }
            let mut prefix = [b'-'; 9];
            for (n, digit) in prefix[..8].iter_mut().enumerate() {
                *digit = HEX[(hash >> (28 - 4 * n) & 0xf) as usize];
            }
            prefix
        });
        let count = NEXT_BLOCK.fetch_add(1, Ordering::Relaxed) * BLOCK + 1;
        let mut bytes = [0; GENERATED_LEN];
        bytes[..9].copy_from_slice(prefix);
        for (n, digit) in bytes[9..].iter_mut().rev().enumerate() {
            *digit = HEX[(count >> (4 * n) & 0xf) as usize];
        }
        bytes
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
        for (name, value) in headers.raw() {
            if name.len() == 12 && name.eq_ignore_ascii_case(b"x-request-id") {
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
    /// One pass, one table load per byte.
    pub fn accepts(value: &[u8]) -> bool {
        !value.is_empty()
            && value.len() <= MAX_LEN
            && value.iter().all(|&byte| TCHAR[usize::from(byte)])
    }

    /// The id's bytes (ASCII).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (`accepts`, the generator's hex digits).
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Which bytes are RFC 9110 `tchar`s, by value.
static TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        byte += 1;
    }
    table
};

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
        assert_eq!(a.len(), GENERATED_LEN, "{a}");
        assert_eq!(a[..9], b[..9], "{a} {b}");
        assert_eq!(&a[8..9], "-");
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit() || c == b'-'), "{a}");
        let count = |id: &str| u64::from_str_radix(&id[9..], 16).unwrap_or(0);
        assert_eq!(count(&b), count(&a) + 1, "{a} {b}");
        // Counting up in place carries across digits, 9 to a and f to 10.
        let ids: Vec<String> = (0..300).map(|_| RequestId::next().to_string()).collect();
        for pair in ids.windows(2) {
            let (x, y) = (count(&pair[0]), count(&pair[1]));
            assert!(y == x + 1 || y % BLOCK == 1, "{} {}", pair[0], pair[1]);
        }
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
    fn the_table_holds_exactly_the_token_characters() {
        for byte in 0..=255u8 {
            let tchar = byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte);
            assert_eq!(RequestId::accepts(&[byte]), tchar, "{byte}");
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

//! Who may call: the `[auth]` section checked against the loaded routes at start-up, and
//! the decision per request from its `Authorization` header alone (before the body is
//! read): allowed (with the caller's identity, the token's name), 401 or 403. Also the
//! token's shape (`apt_` and 48 hex digits, 192 random bits from the OS) for
//! `apiphant token new`.
//!
//! Tokens are stored only as SHA-256 hashes (`sha2`, RustCrypto's audited implementation;
//! no hand-written digest). A request's token is hashed and the hash looked up: the lookup's
//! timing can only tell an attacker about the hash of what they sent, never about a stored
//! token (finding a token from its SHA-256 is a preimage attack), so no constant-time
//! comparison is needed there.
//!
//! What a request costs (issue 12, "Cost"): the scopes and `public` globs are matched once,
//! at start-up, against this generation's endpoints, giving each token (and `public`) a set
//! of endpoint indices (`Endpoints`, a bitset): a request tests one bit, no glob. And each
//! worker thread remembers the last few tokens it found valid (`recent`: at most
//! `recent::SLOTS` per thread, no lock, compared in constant time with `subtle`), so a
//! known token is hashed once per worker, not once per request. Only valid tokens are
//! remembered (an unknown one is hashed every time and leaves nothing behind, so 10,000
//! failed attempts a second cost CPU, never memory), and only for the [`Auth`] that found
//! them: a reload builds a new `Auth` with a new `Auth::id`, so a token revoked by a
//! reload is refused by the first request the new generation routes.

use crate::config::{AuthConfig, ConfigError};
use crate::plugin::{Endpoint, Registry};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// The readable start of every token apiphant makes (and what the logs redact).
pub const TOKEN_PREFIX: &str = "apt_";

/// Random bytes in a token (192 bits).
const TOKEN_BYTES: usize = 24;

/// The next [`Auth::id`] (0 is no `Auth`'s: an empty cache slot).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The `[auth]` section, ready for requests ([`Auth::new`] checks it against the routes).
#[derive(Debug)]
pub struct Auth {
    /// Distinct for every `Auth` the process makes (one per generation): the key of the
    /// per-thread cache of known tokens, so a reload forgets what the last one knew.
    id: u64,
    public: Vec<Box<str>>,
    /// The endpoints `public` matches, by index.
    public_endpoints: Endpoints,
    /// By the token's SHA-256: its place in `named`.
    tokens: HashMap<[u8; 32], usize>,
    named: Vec<Token>,
    /// `[auth] authorize`: the plugin hook asked when no static token decides.
    hook: Option<Endpoint>,
}

#[derive(Debug)]
struct Token {
    name: &'static str,
    scopes: Vec<Box<str>>,
    /// The endpoints `scopes` match, by index.
    endpoints: Endpoints,
}

/// A set of endpoints of one registry, by [`Endpoint::index`]: one bit each.
#[derive(Debug, Default)]
struct Endpoints {
    bits: Vec<u64>,
    /// How many endpoints the registry had: an index beyond is not decided here.
    len: usize,
}

impl Endpoints {
    /// The endpoints of `routes` (`v0/echo/read`, by index) that one of `globs` matches.
    fn matching(globs: &[Box<str>], routes: &[&str]) -> Endpoints {
        let mut set = Endpoints {
            bits: vec![0; routes.len().div_ceil(64)],
            len: routes.len(),
        };
        for (index, route) in routes.iter().enumerate() {
            if globs.iter().any(|glob| glob_matches(glob, route)) {
                set.bits[index / 64] |= 1 << (index % 64);
            }
        }
        set
    }

    /// Whether endpoint `index` is in the set; `None` when the registry had no such index.
    fn get(&self, index: usize) -> Option<bool> {
        (index < self.len).then(|| self.bits[index / 64] >> (index % 64) & 1 == 1)
    }
}

/// What a request's `Authorization` header decides.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Decision {
    /// Let it through; the identity is the token's name (empty: a public route, no token).
    Allow(&'static str),
    /// 401: no token on a route that needs one, a malformed header, an unknown token.
    Unauthorized,
    /// 403: a known token (named) whose scopes do not cover the route.
    Forbidden(&'static str),
    /// No static token decides and `[auth] authorize` names a hook: ask it.
    Ask(&'static Endpoint),
}

impl Auth {
    /// Checks `[auth]` against the loaded routes: every glob must match a route (a typo
    /// would otherwise silently lock a caller out, or leave a route open). Token names are
    /// leaked: they live as long as the process and are handed out as `&'static str`.
    pub fn new(config: &AuthConfig, registry: &Registry, file: &Path) -> Result<Auth, ConfigError> {
        let routes: Vec<&str> = registry
            .routes()
            .into_iter()
            .map(|path| path.strip_prefix("/api/").unwrap_or(path))
            .collect();
        let check = |key: String, glob: &str| {
            if routes.iter().any(|route| glob_matches(glob, route)) {
                return Ok(());
            }
            Err(ConfigError::BadValue {
                path: file.to_path_buf(),
                key,
                reason: format!(
                    "'{glob}' matches no route (globs are over <version>/<target>/<action>, * for any run of characters; routes: {})",
                    routes.join(", ")
                ),
            })
        };
        for glob in &config.public {
            check("auth.public".to_owned(), glob)?;
        }
        // Each endpoint's route, by index (`endpoints()` runs in index order).
        let by_index: Vec<&str> = registry.endpoints().map(route_of).collect();
        let mut tokens = HashMap::new();
        let mut named = Vec::new();
        for (name, token) in &config.tokens {
            for glob in &token.scopes {
                check(format!("auth.tokens.{name}.scopes"), glob)?;
            }
            let mut hash = [0u8; 32];
            // The config reader checked: 64 hex digits.
            for (n, byte) in hash.iter_mut().enumerate() {
                *byte = u8::from_str_radix(token.sha256.get(n * 2..n * 2 + 2).unwrap_or("00"), 16)
                    .unwrap_or(0);
            }
            let name: &'static str = Box::leak(name.clone().into_boxed_str());
            let scopes: Vec<Box<str>> = token
                .scopes
                .iter()
                .map(|glob| glob.as_str().into())
                .collect();
            let endpoints = Endpoints::matching(&scopes, &by_index);
            if tokens.insert(hash, named.len()).is_some() {
                return Err(ConfigError::BadValue {
                    path: file.to_path_buf(),
                    key: format!("auth.tokens.{name}.sha256"),
                    reason: "is the hash of another token too: make a new token for each name"
                        .to_owned(),
                });
            }
            named.push(Token {
                name,
                scopes,
                endpoints,
            });
        }
        let hook = match &config.authorize {
            Some(name) => Some(registry.authorizer(name).map_err(|have| ConfigError::BadValue {
                path: file.to_path_buf(),
                key: "auth.authorize".to_owned(),
                reason: format!(
                    "no loaded plugin of crate '{name}' exports an authorize hook (add `authorize = f` to its export!; plugins with one: {})",
                    if have.is_empty() { "none".to_owned() } else { have.join(", ") }
                ),
            })?),
            None => None,
        };
        let public: Vec<Box<str>> = config
            .public
            .iter()
            .map(|glob| glob.as_str().into())
            .collect();
        Ok(Auth {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            public_endpoints: Endpoints::matching(&public, &by_index),
            public,
            tokens,
            named,
            hook,
        })
    }

    /// The decision for `endpoint` (of the registry this `Auth` was made for) given the
    /// request's `Authorization` header values (`count` of them, the first one). An unknown or malformed token is
    /// refused even on a public route: a client that sends one is told it is wrong.
    /// With an `authorize` hook, what no static token decides (no header on a route that is
    /// not public, another scheme, an unknown token) is the hook's to decide.
    pub(crate) fn decide(
        &'static self,
        endpoint: &Endpoint,
        count: usize,
        header: Option<&[u8]>,
    ) -> Decision {
        let public = (self.public_endpoints.get(endpoint.index))
            .unwrap_or_else(|| self.is_public(route_of(endpoint)));
        let refuse = || match &self.hook {
            Some(hook) => Decision::Ask(hook),
            None => Decision::Unauthorized,
        };
        let header = match (count, header) {
            (0, _) | (_, None) if public => return Decision::Allow(""),
            (1, Some(header)) => header,
            // Two `Authorization` headers are ambiguous: refused, never asked.
            (2.., _) => return Decision::Unauthorized,
            _ => return refuse(),
        };
        let Some(token) = bearer_token(header) else {
            return refuse();
        };
        let Some(token) = self.known(token) else {
            return refuse();
        };
        let in_scope = || {
            (token.endpoints.get(endpoint.index)).unwrap_or_else(|| {
                let route = route_of(endpoint);
                token.scopes.iter().any(|glob| glob_matches(glob, route))
            })
        };
        if public || in_scope() {
            Decision::Allow(token.name)
        } else {
            Decision::Forbidden(token.name)
        }
    }
}

impl Auth {
    /// The configured token `token` (a `Bearer` header's, not yet checked) is, if any:
    /// remembered by this worker thread (then its characters were checked when it was
    /// remembered), else checked ([`is_b64token`]), found by its SHA-256 and remembered.
    fn known(&self, token: &[u8]) -> Option<&Token> {
        let index = match recent::find(self.id, token) {
            Some(index) => index,
            None => {
                if !is_b64token(token) {
                    return None;
                }
                let hash: [u8; 32] = Sha256::digest(token).into();
                let index = *self.tokens.get(&hash)?;
                recent::remember(self.id, token, index);
                index
            }
        };
        self.named.get(index)
    }

    /// Whether `route` (`v0/echo/read`) is callable without a token.
    pub(crate) fn is_public(&self, route: &str) -> bool {
        self.public.iter().any(|glob| glob_matches(glob, route))
    }
}

/// `v0/echo/read`, the route of `endpoint` as globs see it.
pub(crate) fn route_of(endpoint: &Endpoint) -> &str {
    endpoint
        .path
        .strip_prefix("/api/")
        .unwrap_or(&endpoint.path)
}

/// The tokens each worker thread found valid last: a few fixed slots per thread (no lock,
/// no allocation, no growth), each the token's bytes, the [`Auth::id`] that knew it and its
/// place there. A presented token is compared with every slot of the same `Auth` and
/// length in constant time (`subtle`): how long the search takes tells nothing about the
/// bytes of a remembered token.
mod recent {
    use std::cell::RefCell;
    use subtle::ConstantTimeEq;

    /// Tokens remembered per thread (a product's few hot tokens; more only cost a hash).
    pub(super) const SLOTS: usize = 4;
    /// Longest token remembered (apiphant's are 52 bytes); a longer one is hashed each time.
    const MAX_LEN: usize = 64;
    /// A remembered token in 8-byte words, zero-padded: compared a word at a time.
    type Words = [u64; MAX_LEN / 8];

    #[derive(Clone, Copy)]
    struct Slot {
        /// The [`super::Auth::id`] that knew the token; 0: empty.
        auth: u64,
        len: usize,
        token: Words,
        index: usize,
    }

    const EMPTY: Slot = Slot {
        auth: 0,
        len: 0,
        token: [0; MAX_LEN / 8],
        index: 0,
    };

    /// `token` (at most [`MAX_LEN`] bytes) as zero-padded words.
    fn words(token: &[u8]) -> Words {
        let mut words = [0; MAX_LEN / 8];
        for (word, chunk) in words.iter_mut().zip(token.chunks(8)) {
            let mut bytes = [0; 8];
            bytes[..chunk.len()].copy_from_slice(chunk);
            *word = u64::from_ne_bytes(bytes);
        }
        words
    }

    thread_local! {
        /// This thread's slots and the one to fill next.
        static SLOTS_OF_THREAD: RefCell<([Slot; SLOTS], usize)> =
            const { RefCell::new(([EMPTY; SLOTS], 0)) };
    }

    /// The index `token` had in `auth`, if this thread remembers it.
    pub(super) fn find(auth: u64, token: &[u8]) -> Option<usize> {
        if token.len() > MAX_LEN {
            return None;
        }
        let presented = words(token);
        SLOTS_OF_THREAD
            .try_with(|slots| {
                let (slots, _) = &*slots.borrow();
                let mut found = None;
                for slot in slots {
                    if slot.auth == auth
                        && slot.len == token.len()
                        && bool::from(slot.token[..].ct_eq(&presented[..]))
                    {
                        found = Some(slot.index);
                    }
                }
                found
            })
            .ok()
            .flatten()
    }

    /// Remembers that `token` is `auth`'s token `index`: in an empty slot (those of an older
    /// `Auth` are wiped first), else in the slots in turn.
    pub(super) fn remember(auth: u64, token: &[u8], index: usize) {
        if token.len() > MAX_LEN {
            return;
        }
        let _ = SLOTS_OF_THREAD.try_with(|slots| {
            let (slots, next) = &mut *slots.borrow_mut();
            for slot in slots.iter_mut().filter(|slot| slot.auth != auth) {
                // Forget a reloaded-away configuration's tokens, not only overwrite one.
                *slot = EMPTY;
            }
            let at = match slots.iter().position(|slot| slot.auth == 0) {
                Some(empty) => empty,
                None => {
                    let oldest = *next;
                    *next = (oldest + 1) % SLOTS;
                    oldest
                }
            };
            slots[at] = Slot {
                auth,
                len: token.len(),
                token: words(token),
                index,
            };
        });
    }
}

/// The token of `Bearer <token>` (scheme in any case, RFC 6750 `b64token` characters).
#[cfg(test)]
fn bearer(header: &[u8]) -> Option<&[u8]> {
    bearer_token(header).filter(|token| is_b64token(token))
}

/// What follows `Bearer ` (scheme in any case), its characters not yet checked.
fn bearer_token(header: &[u8]) -> Option<&[u8]> {
    let header = header.trim_ascii();
    let (scheme, rest) = header.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || rest.first() != Some(&b' ') {
        return None;
    }
    Some(rest.trim_ascii_start())
}

/// Whether `token` is an RFC 6750 `b64token`: not empty, its characters then `=`s.
fn is_b64token(token: &[u8]) -> bool {
    let body_end = token.iter().rposition(|&b| b != b'=').map_or(0, |n| n + 1);
    !token.is_empty() && token[..body_end].iter().all(|&b| B64TOKEN[usize::from(b)])
}

/// Which bytes RFC 6750's `b64token` allows before its trailing `=`s, by value (one table
/// load a byte).
static B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] =
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        byte += 1;
    }
    table
};

/// Whether `glob` matches `text`: `*` is any run of characters (`/` included), anything
/// else itself.
pub(crate) fn glob_matches(glob: &str, text: &str) -> bool {
    let (glob, text) = (glob.as_bytes(), text.as_bytes());
    // Iterative wildcard matching, backtracking to the last `*` only.
    let (mut g, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if g < glob.len() && glob[g] == b'*' {
            star = Some((g, t));
            g += 1;
        } else if g < glob.len() && glob[g] == text[t] {
            g += 1;
            t += 1;
        } else if let Some((star_g, star_t)) = star {
            g = star_g + 1;
            t = star_t + 1;
            star = Some((star_g, star_t + 1));
        } else {
            return false;
        }
    }
    glob[g..].iter().all(|&b| b == b'*')
}

/// A new token: [`TOKEN_PREFIX`] and 48 hex digits (192 bits from the OS's random source,
/// `getrandom`: the kernel's CSPRNG, no user-space generator to seed), and its SHA-256 in
/// hex, what `[auth.tokens]` stores.
pub fn new_token() -> std::io::Result<(String, String)> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::getrandom(&mut bytes).map_err(|error| std::io::Error::other(error.to_string()))?;
    let token = format!("{TOKEN_PREFIX}{}", hex(&bytes));
    let hash = hex(&Sha256::digest(token.as_bytes()));
    Ok((token, hash))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A request target as logged: a query that holds a token (`apt_...`, a client putting
/// it in the URL) is written `?[redacted]`, so no token reaches a log.
pub(crate) fn loggable_target(target: &str) -> Cow<'_, str> {
    match target.split_once('?') {
        Some((path, query)) if query.contains(TOKEN_PREFIX) => {
            Cow::Owned(format!("{path}?[redacted]"))
        }
        _ => Cow::Borrowed(target),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_matches("v1/notes/*", "v1/notes/read"));
        assert!(glob_matches("v1/*", "v1/notes/deep/read"));
        assert!(glob_matches("*", "v0/echo/read"));
        assert!(glob_matches("*/read", "v0/a/b/read"));
        assert!(glob_matches("v0/echo/read", "v0/echo/read"));
        assert!(!glob_matches("v0/echo/read", "v0/echo/reads"));
        assert!(!glob_matches("v1/notes/*", "v1/notesx/read"));
        assert!(!glob_matches("v1/notes/*", "v2/notes/read"));
        assert!(glob_matches("v*/echo/*e*", "v10/echo/update"));
        assert!(!glob_matches("", "v0"));
    }

    #[test]
    fn scopes_become_sets_of_endpoint_indices() {
        let routes = [
            "v0/echo/read",
            "v1/notes/read",
            "v1/notes/update",
            "v2/x/read",
        ];
        let globs: Vec<Box<str>> = vec!["v1/notes/*".into(), "*/x/read".into()];
        let set = Endpoints::matching(&globs, &routes);
        let got: Vec<Option<bool>> = (0..5).map(|index| set.get(index)).collect();
        assert_eq!(got, [Some(false), Some(true), Some(true), Some(true), None]);
        // Past 64 endpoints: the second word.
        let many: Vec<String> = (0..130).map(|n| format!("v0/t{n:03}/read")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let set = Endpoints::matching(&["v0/t12*".into()], &many);
        let got: Vec<usize> = (0..130).filter(|&n| set.get(n) == Some(true)).collect();
        assert_eq!(got, (120..130).collect::<Vec<usize>>());
    }

    #[test]
    fn a_thread_remembers_few_valid_tokens_per_configuration() {
        let token = b"apt_0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(recent::find(1_000_001, token), None);
        recent::remember(1_000_001, token, 7);
        assert_eq!(recent::find(1_000_001, token), Some(7));
        // Another configuration (a reload's `Auth`) does not know it.
        assert_eq!(recent::find(1_000_002, token), None);
        // Same length, one byte off; a prefix.
        let mut other = *token;
        other[30] ^= 1;
        assert_eq!(recent::find(1_000_001, &other), None);
        assert_eq!(recent::find(1_000_001, &token[..20]), None);
        // Remembering for the new configuration forgets the old one's tokens.
        recent::remember(1_000_002, &other, 1);
        assert_eq!(recent::find(1_000_001, token), None);
        assert_eq!(recent::find(1_000_002, &other), Some(1));
        // Bounded: more tokens than slots push the oldest out; a long token is not kept.
        let tokens: Vec<Vec<u8>> = (0..=recent::SLOTS)
            .map(|n| format!("apt_{n:048}").into_bytes())
            .collect();
        for (n, token) in tokens.iter().enumerate() {
            recent::remember(1_000_002, token, n);
        }
        let kept = tokens
            .iter()
            .filter(|token| recent::find(1_000_002, token).is_some())
            .count();
        assert_eq!(kept, recent::SLOTS);
        let long = [b'a'; 65];
        recent::remember(1_000_002, &long, 3);
        assert_eq!(recent::find(1_000_002, &long), None);
    }

    #[test]
    fn bearer_headers() {
        assert_eq!(bearer(b"Bearer apt_ab12"), Some(&b"apt_ab12"[..]));
        assert_eq!(bearer(b"bearer   apt_ab12 "), Some(&b"apt_ab12"[..]));
        assert_eq!(bearer(b"BEARER a.b-c~d+e/f=="), Some(&b"a.b-c~d+e/f=="[..]));
        // Empty, no token, another scheme, no space, a space inside, `=` not at the end.
        let bad = "|Bearer|Bearer |Basic YWxhZGRpbjpvcGVu|Bearerapt_x|Bearer apt x|Bearer =abc|Bearer a=b";
        let binary = &b"Bearer ap\xfft"[..];
        for bad in bad.split('|').map(str::as_bytes).chain([binary]) {
            assert_eq!(bearer(bad), None, "{bad:?}");
        }
        // The table holds exactly the b64token characters.
        for byte in 0..=255u8 {
            let allowed = byte.is_ascii_alphanumeric() || b"-._~+/".contains(&byte);
            let header = [&b"Bearer a"[..], &[byte]].concat();
            let got = bearer(&header).is_some();
            assert_eq!(
                got,
                allowed || byte == b'=' || byte.is_ascii_whitespace(),
                "{byte}"
            );
        }
    }

    #[test]
    fn tokens_are_random_prefixed_and_hashed() {
        let (a, hash) = new_token().expect("random");
        let (b, _) = new_token().expect("random");
        assert_ne!(a, b);
        assert!(
            a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 48,
            "{a}"
        );
        assert_eq!(hash.len(), 64);
        assert_eq!(hash, hex(&Sha256::digest(a.as_bytes())));
        // The SHA-256 of "abc" (FIPS 180-2, appendix B.1).
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn queries_with_a_token_are_redacted() {
        assert_eq!(
            loggable_target("/api/v0/echo/read?x=1"),
            "/api/v0/echo/read?x=1"
        );
        assert_eq!(
            loggable_target("/api/v0/echo/read?access_token=apt_1234"),
            "/api/v0/echo/read?[redacted]"
        );
        assert_eq!(loggable_target("/api/apt_/read"), "/api/apt_/read");
    }
}

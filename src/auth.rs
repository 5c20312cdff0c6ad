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
//! comparison is needed.

use crate::config::{AuthConfig, ConfigError};
use crate::plugin::{Endpoint, Registry};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

/// The readable start of every token apiphant makes (and what the logs redact).
pub const TOKEN_PREFIX: &str = "apt_";

/// Random bytes in a token (192 bits).
const TOKEN_BYTES: usize = 24;

/// The `[auth]` section, ready for requests ([`Auth::new`] checks it against the routes).
#[derive(Debug)]
pub struct Auth {
    public: Vec<Box<str>>,
    tokens: HashMap<[u8; 32], Token>,
    /// `[auth] authorize`: the plugin hook asked when no static token decides.
    hook: Option<Endpoint>,
}

#[derive(Debug)]
struct Token {
    name: &'static str,
    scopes: Vec<Box<str>>,
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
        let mut tokens = HashMap::new();
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
            let scopes = token
                .scopes
                .iter()
                .map(|glob| glob.as_str().into())
                .collect();
            if tokens.insert(hash, Token { name, scopes }).is_some() {
                return Err(ConfigError::BadValue {
                    path: file.to_path_buf(),
                    key: format!("auth.tokens.{name}.sha256"),
                    reason: "is the hash of another token too: make a new token for each name"
                        .to_owned(),
                });
            }
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
        Ok(Auth {
            public: config
                .public
                .iter()
                .map(|glob| glob.as_str().into())
                .collect(),
            tokens,
            hook,
        })
    }

    /// The decision for `route` (`v0/echo/read`) given the request's `Authorization`
    /// header values (`count` of them, the first one). An unknown or malformed token is
    /// refused even on a public route: a client that sends one is told it is wrong.
    /// With an `authorize` hook, what no static token decides (no header on a route that is
    /// not public, another scheme, an unknown token) is the hook's to decide.
    pub(crate) fn decide(
        &'static self,
        route: &str,
        count: usize,
        header: Option<&[u8]>,
    ) -> Decision {
        let public = self.is_public(route);
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
        let Some(token) = bearer(header) else {
            return refuse();
        };
        let hash: [u8; 32] = Sha256::digest(token).into();
        let Some(token) = self.tokens.get(&hash) else {
            return refuse();
        };
        if public || token.scopes.iter().any(|glob| glob_matches(glob, route)) {
            Decision::Allow(token.name)
        } else {
            Decision::Forbidden(token.name)
        }
    }
}

impl Auth {
    /// Whether `route` (`v0/echo/read`) is callable without a token.
    pub(crate) fn is_public(&self, route: &str) -> bool {
        self.public.iter().any(|glob| glob_matches(glob, route))
    }
}

/// The token of `Bearer <token>` (scheme in any case, RFC 6750 `b64token` characters).
fn bearer(header: &[u8]) -> Option<&[u8]> {
    let header = header.trim_ascii();
    let (scheme, rest) = header.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || rest.first() != Some(&b' ') {
        return None;
    }
    let token = rest.trim_ascii_start();
    let body_end = token.iter().rposition(|&b| b != b'=').map_or(0, |n| n + 1);
    let valid = !token.is_empty()
        && token[..body_end]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
    valid.then_some(token)
}

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

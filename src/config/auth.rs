//! `[auth]` in `apiphant.toml`: who may call. Off while the section is absent (every call
//! is open, as in the original); present, every call needs `Authorization: Bearer <token>`
//! except the routes `public` names. Only each token's SHA-256 is stored, with its name and
//! scopes (`apiphant token new` prints the line to add).
//!
//! ```toml
//! [auth]
//! public = ["v0/echo/read"]           # globs over <version>/<target>/<action>
//!
//! authorize = "accounts"              # optional: this plugin's authorize hook decides
//!
//! [auth.tokens]
//! alice = { sha256 = "9f86d0...", scopes = ["v1/notes/*"] }
//! ```
//!
//! Checked here: names, hash shapes and glob syntax. Whether each glob matches a route is
//! checked once the plugins are loaded (`crate::auth`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[auth]`: the public routes and the tokens.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Globs over `<version>/<target>/<action>` callable without a token.
    pub public: Vec<String>,
    /// `[auth.tokens]`: each token by name.
    pub tokens: BTreeMap<String, TokenConfig>,
    /// The crate whose plugin's `authorize` hook decides for requests no static token
    /// covers (its `export! { authorize = f }`); none when absent.
    pub authorize: Option<String>,
}

/// One token: the SHA-256 of its text and what it may call.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The SHA-256 of the token, 64 hex digits.
    pub sha256: String,
    /// Globs over `<version>/<target>/<action>` the token may call.
    pub scopes: Vec<String>,
}

/// A token's name: 1 to 64 ASCII letters, digits, `_`, `-` and `.` (a bare TOML key, and
/// what the access log and the action see).
pub fn is_token_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Why a scope (or public) glob is not one: `None` when it is. A glob is route characters
/// (letters, digits, `_`, `-`, `/`) and `*` (any run of characters, `/` included).
pub fn glob_error(glob: &str) -> Option<&'static str> {
    if glob.is_empty() {
        return Some("is empty");
    }
    if !glob
        .bytes()
        .all(|b| apiphant_sdk::route::is_segment_byte(b) || b == b'/' || b == b'*')
    {
        return Some("may hold only letters, digits, _, -, / and *");
    }
    None
}

impl AuthConfig {
    /// The first mistake, as (dotted key, what is wrong), checked without the plugins.
    pub(crate) fn mistake(&self) -> Option<(String, String)> {
        if let Some(name) = &self.authorize {
            if !super::is_crate_name(name) {
                return Some((
                    "auth.authorize".to_owned(),
                    format!("'{name}' is not a crate name (the package name of the plugin whose export! has authorize = f)"),
                ));
            }
        }
        for glob in &self.public {
            if let Some(why) = glob_error(glob) {
                return Some(("auth.public".to_owned(), format!("'{glob}' {why}")));
            }
        }
        for (name, token) in &self.tokens {
            let key = format!("auth.tokens.{name}");
            if !is_token_name(name) {
                return Some((
                    key,
                    "the name may hold only 1 to 64 letters, digits, _, - and .".to_owned(),
                ));
            }
            let hash = &token.sha256;
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Some((
                    format!("{key}.sha256"),
                    format!(
                        "is {} characters, not the 64 hex digits of a SHA-256 (paste the line `apiphant token new` printed)",
                        hash.len()
                    ),
                ));
            }
            if token.scopes.is_empty() {
                return Some((
                    format!("{key}.scopes"),
                    "is empty: a token needs at least one scope".to_owned(),
                ));
            }
            for glob in &token.scopes {
                if let Some(why) = glob_error(glob) {
                    return Some((format!("{key}.scopes"), format!("'{glob}' {why}")));
                }
            }
        }
        None
    }
}

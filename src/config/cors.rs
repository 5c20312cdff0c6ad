//! `[cors]` in `apiphant.toml`: the browser origins (pages on other sites) that may call
//! the API. Absent, no CORS headers are ever sent and `OPTIONS` stays 501.
//!
//! ```toml
//! [cors]
//! allow_origins = ["https://app.example.com", "http://localhost:3000"]
//! max_age_secs = 600          # how long a browser may cache a preflight's answer
//! ```

use super::range::{Limit, Range};
use serde::{Deserialize, Serialize};

/// `[cors]`: the allowed origins.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins exactly as browsers send them: `scheme://host[:port]`, lower case, no path.
    pub allow_origins: Vec<String>,
    /// Seconds a browser may cache a preflight's answer (`Access-Control-Max-Age`, whole
    /// seconds: a fraction is dropped).
    pub max_age_secs: f64,
}

impl Default for CorsConfig {
    fn default() -> Self {
        CorsConfig {
            allow_origins: Vec::new(),
            max_age_secs: 600.0,
        }
    }
}

impl CorsConfig {
    /// Every key with its range.
    pub(crate) fn limits(&self) -> Vec<Limit> {
        vec![Range::new(0.0, 86_400.0).limit("cors.max_age_secs", self.max_age_secs)]
    }

    /// The first origin that is not one, and why.
    pub(crate) fn mistake(&self) -> Option<(String, String)> {
        self.allow_origins.iter().find_map(|origin| {
            origin_error(origin)
                .map(|why| ("cors.allow_origins".to_owned(), format!("'{origin}' {why}")))
        })
    }
}

/// Why `origin` is not what a browser sends as `Origin` (`None` when it is).
fn origin_error(origin: &str) -> Option<&'static str> {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return Some("is not an origin: write scheme://host[:port], e.g. https://app.example.com");
    };
    if scheme != "http" && scheme != "https" {
        return Some("is not an http:// or https:// origin");
    }
    if rest.is_empty() {
        return Some("has no host");
    }
    if rest.contains(['/', '?', '#']) {
        return Some("has a path: write the origin only, scheme://host[:port], no trailing /");
    }
    if rest.contains('@') {
        return Some("has a user: write the origin only, scheme://host[:port]");
    }
    if origin.bytes().any(|b| b.is_ascii_uppercase()) {
        return Some("has upper-case letters: browsers send origins in lower case");
    }
    if !rest
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    {
        return Some("has characters no host name or port has");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        for good in [
            "https://app.example.com",
            "http://127.0.0.1:8080",
            "http://[::1]:3000",
            "http://localhost",
        ] {
            assert_eq!(origin_error(good), None, "{good}");
        }
        for bad in [
            "app.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "ftp://x",
            "https://",
            "https://u@x",
            "https://App.example.com",
            "*",
            "https://a b",
        ] {
            assert!(origin_error(bad).is_some(), "{bad}");
        }
    }
}

//! CORS: the `[cors]` origins, each with its header lines made once at start-up (no
//! formatting per request): the lines every answer to an allowed origin carries, and the
//! preflight's answer. The one list of request headers the product accepts from a browser
//! is [`ALLOW_HEADERS`].

use crate::config::CorsConfig;

/// Every request header a browser page may send to the API (lower case), listed
/// explicitly in `Access-Control-Allow-Headers`.
pub const ALLOW_HEADERS: [&str; 5] = [
    "authorization",
    "content-type",
    "x-request-id",
    "prefer",
    "idempotency-key",
];

/// The allowed origins of `[cors]`, with their header lines.
#[derive(Debug)]
pub struct Cors {
    origins: Vec<Origin>,
}

/// One allowed origin and its header lines.
#[derive(Debug)]
pub(crate) struct Origin {
    name: Box<str>,
    /// `Access-Control-Allow-Origin`, `Vary`, `Access-Control-Expose-Headers`.
    pub(crate) actual: Box<[u8]>,
    /// The same, and the preflight's allowed method and headers and its max age.
    pub(crate) preflight: Box<[u8]>,
}

/// What a preflight from an allowed origin asks for, and whether it is granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Preflight {
    /// `POST` with headers of [`ALLOW_HEADERS`]: 204 with the preflight's lines.
    Granted,
    /// Another method, or a header outside the list: 403 without CORS headers.
    Refused,
}

impl Cors {
    /// The origins of `[cors]` with their lines.
    pub fn new(config: &CorsConfig) -> Cors {
        let max_age = config.max_age_secs.clamp(0.0, 86_400.0) as u64;
        let origins = config
            .allow_origins
            .iter()
            .map(|origin| {
                let actual = format!(
                    "Access-Control-Allow-Origin: {origin}\r\nVary: Origin\r\nAccess-Control-Expose-Headers: x-request-id\r\n"
                );
                let preflight = format!(
                    "{actual}Access-Control-Allow-Methods: POST\r\nAccess-Control-Allow-Headers: {}\r\nAccess-Control-Max-Age: {max_age}\r\n",
                    ALLOW_HEADERS.join(", ")
                );
                Origin {
                    name: origin.as_str().into(),
                    actual: actual.into_bytes().into(),
                    preflight: preflight.into_bytes().into(),
                }
            })
            .collect();
        Cors { origins }
    }

    /// The allowed origin a request's `Origin` header names, if any (exact match: browsers
    /// send the origin in one form).
    pub(crate) fn allowed(&self, origin: &[u8]) -> Option<&Origin> {
        self.origins
            .iter()
            .find(|allowed| allowed.name.as_bytes() == origin)
    }
}

/// Whether a preflight's `Access-Control-Request-Method` and `-Headers` are granted.
pub(crate) fn preflight(method: &[u8], headers: Option<&[u8]>) -> Preflight {
    let known = |name: &[u8]| {
        ALLOW_HEADERS
            .iter()
            .any(|allowed| name.eq_ignore_ascii_case(allowed.as_bytes()))
    };
    let headers_ok = headers.is_none_or(|list| {
        list.split(|&b| b == b',')
            .map(<[u8]>::trim_ascii)
            .all(|name| name.is_empty() || known(name))
    });
    if method == b"POST" && headers_ok {
        Preflight::Granted
    } else {
        Preflight::Refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_preflights() {
        let cors = Cors::new(&CorsConfig {
            allow_origins: vec!["https://app.example.com".to_owned()],
            max_age_secs: 600.0,
        });
        let origin = cors.allowed(b"https://app.example.com").expect("allowed");
        let lines = String::from_utf8_lossy(&origin.preflight).into_owned();
        assert!(lines.starts_with(
            "Access-Control-Allow-Origin: https://app.example.com\r\nVary: Origin\r\n"
        ));
        assert!(lines.contains("Access-Control-Allow-Headers: authorization, content-type, x-request-id, prefer, idempotency-key\r\n"));
        assert!(lines.ends_with("Access-Control-Max-Age: 600\r\n"));
        assert!(cors.allowed(b"https://app.example.com.evil").is_none());
        assert!(cors.allowed(b"null").is_none());
        assert_eq!(preflight(b"POST", None), Preflight::Granted);
        assert_eq!(
            preflight(b"POST", Some(b"Authorization, content-type,X-Request-Id")),
            Preflight::Granted
        );
        assert_eq!(preflight(b"PUT", None), Preflight::Refused);
        assert_eq!(preflight(b"post", None), Preflight::Refused);
        assert_eq!(
            preflight(b"POST", Some(b"authorization, x-secret")),
            Preflight::Refused
        );
    }
}

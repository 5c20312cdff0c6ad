//! Raw mode, the original's `@raw_environ` / `@raw_response`: an action may take the raw
//! request (method, path, headers, body bytes) and/or give a raw response (status,
//! headers, body bytes), e.g. for a `multipart/form-data` upload or a CSV answer.

use crate::error::{ApiError, Object};

/// The request as received, for actions declared with a `RawRequest` parameter.
#[derive(Debug, Clone)]
pub struct RawRequest<'a> {
    /// HTTP method (`POST`).
    pub method: &'a str,
    /// Path as received, query string included.
    pub path: &'a str,
    /// Headers in the order received.
    pub headers: Vec<(&'a str, &'a [u8])>,
    /// The whole body (de-chunked).
    pub body: &'a [u8],
}

impl<'a> RawRequest<'a> {
    /// The first header named `name` (ASCII case-insensitive), if it is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| std::str::from_utf8(value).ok())
    }

    /// The body parsed as a JSON object, with the same 400 as JSON actions get.
    pub fn json(&self) -> Result<Object, ApiError> {
        crate::body::parse_object(self.body)
            .map_err(|_| ApiError::bad_request(crate::wire::BAD_BODY_MESSAGE))
    }

    /// The body parsed as a `T`, with the same 400s as a `Json<T>` action gets.
    pub fn json_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        crate::json::from_body(self.body).map_err(crate::json::BodyError::into_api_error)
    }
}

/// A response sent as given, for actions returning `RawResponse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers (`Content-Length` and `Date` are added by the server).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// An empty response with `status`.
    pub fn new(status: u16) -> Self {
        RawResponse {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Header lines `Name: value\r\n`, dropping any header whose name or value could
    /// break the response framing (CR, LF, `Content-Length`, `Transfer-Encoding`).
    pub(crate) fn header_lines(&self) -> Vec<u8> {
        let mut lines = Vec::new();
        for (name, value) in &self.headers {
            let framing = name.eq_ignore_ascii_case("content-length")
                || name.eq_ignore_ascii_case("transfer-encoding")
                || name.eq_ignore_ascii_case("date");
            let bad_name = name.is_empty() || !name.bytes().all(is_token_byte);
            let bad_value = value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0);
            if framing || bad_name || bad_value {
                log::warn!("raw response header {name:?} dropped (framing or invalid bytes)");
                continue;
            }
            lines.extend_from_slice(name.as_bytes());
            lines.extend_from_slice(b": ");
            lines.extend_from_slice(value.as_bytes());
            lines.extend_from_slice(b"\r\n");
        }
        lines
    }
}

/// Whether `b` may appear in an RFC 9110 token (a header name): the one definition the
/// SDK's raw responses and the server's header checks share.
pub fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The value of a field line `name ":" value` (RFC 9110 §5.1) whose name is a non-empty
/// token; `None` for any other line. The caller checks the value's bytes.
pub fn field_value(line: &[u8]) -> Option<&[u8]> {
    let colon = line.iter().position(|&b| b == b':')?;
    let (name, rest) = line.split_at(colon);
    let named = !name.is_empty() && name.iter().copied().all(is_token_byte);
    named.then(|| &rest[1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines_drop_injection_and_framing() {
        let response = RawResponse::new(200)
            .header("Content-Type", "text/csv")
            .header("X-Evil", "a\r\nSet-Cookie: x")
            .header("Content-Length", "1");
        assert_eq!(response.header_lines(), b"Content-Type: text/csv\r\n");
    }
}

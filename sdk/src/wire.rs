//! apiphant's own error bodies on the wire, one definition for the server and the SDK:
//! `{"error":"<status line>"}` (e.g. `{"error":"404 Not Found"}`) and the 400 for a body
//! that is not a JSON object. Built at compile time from [`status_line`]; no other file
//! spells these bytes.

use crate::error::status_line;

/// The 400 error text for a body that is not a UTF-8 JSON object.
pub const BAD_BODY_MESSAGE: &str = "Request content should be JSON Object";

/// `{"error":"404 Not Found"}`: unknown route (apiphant server.py).
pub static NOT_FOUND: [u8; json_len(status_line(404))] = json_error(status_line(404));
/// `{"error":"501 Not Implemented"}`: a known route with a method other than POST.
pub static NOT_IMPLEMENTED: [u8; json_len(status_line(501))] = json_error(status_line(501));
/// `{"error":"500 Internal Server Error"}`: anything unexpected; details only in the log.
pub static INTERNAL_ERROR: [u8; json_len(status_line(500))] = json_error(status_line(500));
/// `{"error":"401 Unauthorized"}`: `[auth]` is on and the request has no valid token.
pub static UNAUTHORIZED: [u8; json_len(status_line(401))] = json_error(status_line(401));
/// `{"error":"403 Forbidden"}`: a valid token outside its scopes, or a refused CORS preflight.
pub static FORBIDDEN: [u8; json_len(status_line(403))] = json_error(status_line(403));
/// `{"error":"503 Service Unavailable"}`: the blocking pool's queue is full.
pub static UNAVAILABLE: [u8; json_len(status_line(503))] = json_error(status_line(503));
/// `{"error":"504 Gateway Timeout"}`: a blocking action ran past its deadline.
pub static GATEWAY_TIMEOUT: [u8; json_len(status_line(504))] = json_error(status_line(504));
/// `{"error":"Request content should be JSON Object"}`: the body is not a JSON object.
pub static BAD_BODY: [u8; json_len(BAD_BODY_MESSAGE)] = json_error(BAD_BODY_MESSAGE);

const OPEN: &[u8] = br#"{"error":""#;
const CLOSE: &[u8] = br#""}"#;

/// Length of `{"error":"<text>"}` (`text` holds no `"` nor `\`: a status line or a
/// message of this module).
pub const fn json_len(text: &str) -> usize {
    OPEN.len() + text.len() + CLOSE.len()
}

/// `{"error":"<text>"}` as bytes, at compile time (`N` is [`json_len`]`(text)`).
pub const fn json_error<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [0u8; N];
    let parts = [OPEN, text.as_bytes(), CLOSE];
    let mut at = 0;
    let mut p = 0;
    while p < parts.len() {
        let mut n = 0;
        while n < parts[p].len() {
            out[at] = parts[p][n];
            at += 1;
            n += 1;
        }
        p += 1;
    }
    assert!(at == N, "json_error: N must be json_len(text)");
    out
}

/// `{"error":"<status line>"}` for any status, e.g. `{"error":"413 Content Too Large"}`.
pub fn error_body(status: u16) -> Vec<u8> {
    let text = status_line(status);
    let mut body = Vec::with_capacity(json_len(text));
    body.extend_from_slice(OPEN);
    body.extend_from_slice(text.as_bytes());
    body.extend_from_slice(CLOSE);
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_the_originals() {
        assert_eq!(&NOT_FOUND, br#"{"error":"404 Not Found"}"#);
        assert_eq!(&NOT_IMPLEMENTED, br#"{"error":"501 Not Implemented"}"#);
        assert_eq!(&INTERNAL_ERROR, br#"{"error":"500 Internal Server Error"}"#);
        assert_eq!(&UNAVAILABLE, br#"{"error":"503 Service Unavailable"}"#);
        assert_eq!(
            &BAD_BODY,
            br#"{"error":"Request content should be JSON Object"}"#
        );
        assert_eq!(error_body(413), br#"{"error":"413 Content Too Large"}"#);
        assert_eq!(error_body(404), NOT_FOUND);
        let parsed: serde_json::Value = serde_json::from_slice(&BAD_BODY).unwrap_or_default();
        assert_eq!(parsed["error"], BAD_BODY_MESSAGE);
    }
}

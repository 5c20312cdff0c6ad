//! `ApiError`: the errors an action may answer with, in the original apiphant's wire format.
//!
//! `{"error": <anything>}` with the action's status, or the status line text
//! (`"403 Forbidden"`) when no error value is given. Validation errors are the
//! same type: `{"error": {"field": "id", "state": "missing"|"invalid"[, "explain": ..]}}`
//! with 400 (apiphant `validation.py`). See docs/protocol.md#errors.

use serde_json::{json, Map, Value};
use std::fmt;

/// A JSON object: what every action takes and returns.
pub type Object = Map<String, Value>;

/// What a JSON action returns: an object (200) or an [`ApiError`].
pub type ApiResult<T = Object> = Result<T, ApiError>;

/// An error answered to the client as `{"error": ...}` with an HTTP status.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    status: u16,
    error: Option<Value>,
}

/// Whether a validated field was absent or present but wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldState {
    /// The field is required and absent.
    Missing,
    /// The field is present and fails a check.
    Invalid,
}

impl ApiError {
    /// `status` with `{"error": error}`: apiphant's `ApiError(status, error)`.
    pub fn new(status: u16, error: impl Into<Value>) -> Self {
        ApiError {
            status,
            error: Some(error.into()),
        }
    }

    /// `status` with its status line text as the error (`"403 Forbidden"`).
    pub fn status(status: u16) -> Self {
        ApiError {
            status,
            error: None,
        }
    }

    /// 400 with a message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, message.into())
    }

    /// 403 Forbidden.
    pub fn forbidden() -> Self {
        ApiError::status(403)
    }

    /// 404 Not Found.
    pub fn not_found() -> Self {
        ApiError::status(404)
    }

    /// 400 `{"field": field, "state": "missing"}`: apiphant's `Missing(field)`.
    pub fn missing(field: impl Into<String>) -> Self {
        ApiError::field(field.into(), FieldState::Missing, None)
    }

    /// 400 `{"field": field, "state": "invalid"}`: apiphant's `Invalid(field)`.
    pub fn invalid(field: impl Into<String>) -> Self {
        ApiError::field(field.into(), FieldState::Invalid, None)
    }

    /// A field error with an optional `explain` (any JSON value).
    pub fn field(field: String, state: FieldState, explain: Option<Value>) -> Self {
        let mut body = Map::new();
        body.insert("field".into(), Value::String(field));
        let state = match state {
            FieldState::Missing => "missing",
            FieldState::Invalid => "invalid",
        };
        body.insert("state".into(), Value::String(state.into()));
        if let Some(explain) = explain {
            body.insert("explain".into(), explain);
        }
        ApiError::new(400, Value::Object(body))
    }

    /// Adds or replaces `explain` on a field error; on other errors it replaces the error value.
    pub fn explain(mut self, explain: impl Into<Value>) -> Self {
        match &mut self.error {
            Some(Value::Object(body)) if body.contains_key("field") => {
                body.insert("explain".into(), explain.into());
            }
            other => *other = Some(explain.into()),
        }
        self
    }

    /// The HTTP status code.
    pub fn status_code(&self) -> u16 {
        self.status
    }

    /// The value under `"error"` in the body.
    pub fn error_value(&self) -> Value {
        match &self.error {
            Some(value) => value.clone(),
            None => Value::String(status_line(self.status).into()),
        }
    }

    /// The whole JSON body, `{"error": ...}`.
    pub fn body(&self) -> Value {
        json!({ "error": self.error_value() })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.error_value())
    }
}

impl std::error::Error for ApiError {}

/// The status line text for a code, e.g. `"404 Not Found"` (apiphant `status_by_code`).
pub const fn status_line(code: u16) -> &'static str {
    match code {
        100 => "100 Continue",
        200 => "200 OK",
        201 => "201 Created",
        202 => "202 Accepted",
        204 => "204 No Content",
        301 => "301 Moved Permanently",
        302 => "302 Found",
        303 => "303 See Other",
        304 => "304 Not Modified",
        307 => "307 Temporary Redirect",
        308 => "308 Permanent Redirect",
        400 => "400 Bad Request",
        401 => "401 Unauthorized",
        402 => "402 Payment Required",
        403 => "403 Forbidden",
        404 => "404 Not Found",
        405 => "405 Method Not Allowed",
        406 => "406 Not Acceptable",
        408 => "408 Request Timeout",
        409 => "409 Conflict",
        410 => "410 Gone",
        411 => "411 Length Required",
        412 => "412 Precondition Failed",
        413 => "413 Content Too Large",
        415 => "415 Unsupported Media Type",
        422 => "422 Unprocessable Content",
        429 => "429 Too Many Requests",
        431 => "431 Request Header Fields Too Large",
        500 => "500 Internal Server Error",
        501 => "501 Not Implemented",
        502 => "502 Bad Gateway",
        503 => "503 Service Unavailable",
        504 => "504 Gateway Timeout",
        505 => "505 HTTP Version Not Supported",
        _ => match code / 100 {
            1 => "100 Continue",
            2 => "200 OK",
            3 => "300 Multiple Choices",
            4 => "400 Bad Request",
            _ => "500 Internal Server Error",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_only_uses_the_status_line() {
        assert_eq!(
            ApiError::forbidden().body(),
            json!({"error": "403 Forbidden"})
        );
    }

    #[test]
    fn field_errors_have_explain_only_when_given() {
        assert_eq!(
            ApiError::missing("x").body(),
            json!({"error": {"field": "x", "state": "missing"}})
        );
        assert_eq!(
            ApiError::invalid("id").explain(-1).body(),
            json!({"error": {"field": "id", "state": "invalid", "explain": -1}})
        );
    }
}

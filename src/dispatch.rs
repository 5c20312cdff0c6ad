//! Socket-free dispatch: from (method, path, body) to a [`Reply`]. The application
//! (`crate::app`, behind the HTTP loop's `App` trait) calls [`route`] as soon as a request
//! head is parsed (404 is answered without reading the body, like the original), then
//! [`call`] with the whole body.
//! See docs/protocol.md for every status and body; the error bodies are the SDK's
//! (`apiphant_sdk::wire`). Each call carries its request id ([`RequestId`], decided by the
//! connection loop) and the caller's identity to the plugin, and into every error line.

use crate::logging::{escape, escape_lines};
use crate::plugin::{header, CallContext, Endpoint, PluginBuf, Registry};
use apiphant_sdk::abi;
use apiphant_sdk::outcome::Outcome;
use apiphant_sdk::wire::{BAD_BODY, INTERNAL_ERROR, NOT_FOUND, NOT_IMPLEMENTED};
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub use crate::http::RequestId;

/// A request as the HTTP layer hands it over.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Method as received.
    pub method: &'a str,
    /// Request target as received (percent-encoded, query included).
    pub path: &'a str,
    /// Headers as received (only read for raw-request actions).
    pub headers: &'a [(&'a str, &'a [u8])],
    /// The request id (ASCII).
    pub request_id: &'a [u8],
    /// The caller's identity: the name of its token; empty without authentication.
    pub identity: &'a [u8],
    /// The whole body.
    pub body: &'a [u8],
}

/// A response body.
#[derive(Debug)]
pub enum Body {
    /// A constant (apiphant's error bodies).
    Static(&'static [u8]),
    /// Bytes the plugin allocated, freed by the plugin once written.
    Plugin(PluginBuf),
    /// Bytes made for this reply (`--dev`'s 500 with its cause, the answers of
    /// asynchronous calls).
    Owned(Vec<u8>),
}

/// What to answer.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// `None`: `Content-Type: application/json`; `Some`: the raw response's header lines.
    pub raw_headers: Option<PluginBuf>,
    /// The body.
    pub body: Body,
}

impl Reply {
    /// A JSON reply with a constant body.
    pub fn json(status: u16, body: &'static [u8]) -> Reply {
        Reply {
            status,
            raw_headers: None,
            body: Body::Static(body),
        }
    }

    /// A JSON reply with a body of its own.
    pub fn owned(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            raw_headers: None,
            body: Body::Owned(body),
        }
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        match &self.body {
            Body::Static(bytes) => bytes,
            Body::Plugin(buf) => buf.as_slice(),
            Body::Owned(bytes) => bytes,
        }
    }
}

/// Finds the endpoint for a request head: 404 for an unknown route (exact, percent-decoded
/// path, query ignored), then 501 for a method other than POST.
pub fn route<'r>(
    registry: &'r Registry,
    method: &str,
    target: &str,
) -> Result<&'r Endpoint, Reply> {
    // Hot path: a target that is exactly a route (route keys hold no `?` nor `%`).
    if let Some(endpoint) = registry.endpoint(target) {
        if method != "POST" {
            return Err(Reply::json(501, &NOT_IMPLEMENTED));
        }
        return Ok(endpoint);
    }
    // One pass for both the query and percent signs.
    let mut end = target.len();
    let mut encoded = false;
    for (index, byte) in target.bytes().enumerate() {
        match byte {
            b'?' => {
                end = index;
                break;
            }
            b'%' => encoded = true,
            _ => {}
        }
    }
    let path = &target[..end];
    let path: Cow<'_, str> = if encoded {
        match percent_encoding::percent_decode_str(path).decode_utf8() {
            Ok(decoded) => decoded,
            Err(_) => return Err(Reply::json(404, &NOT_FOUND)),
        }
    } else {
        Cow::Borrowed(path)
    };
    let Some(endpoint) = registry.endpoint(&path) else {
        return Err(Reply::json(404, &NOT_FOUND));
    };
    if method != "POST" {
        return Err(Reply::json(501, &NOT_IMPLEMENTED));
    }
    Ok(endpoint)
}

/// Actions that panicked, for `/metrics`: one relaxed add, by a panic only.
pub(crate) static PANICS: AtomicU64 = AtomicU64::new(0);

/// `apiphant --dev`: a plugin fault's 500 carries its cause (docs/protocol.md).
static DEV: AtomicBool = AtomicBool::new(false);

/// Turns developer mode on (`--dev`): from then on, the 500 of a plugin fault is
/// `{"error":"500 Internal Server Error","detail":CAUSE}`, the cause the log has (a
/// panic's message and location, without the backtrace; the non-object value). Set once
/// at start-up; never the default.
pub fn developer_mode(on: bool) {
    DEV.store(on, Ordering::Relaxed);
}

/// The 500 of a plugin fault: apiphant's constant body, or under `--dev` that body with
/// the cause as `detail`.
fn internal_error(cause: &str) -> Reply {
    if !DEV.load(Ordering::Relaxed) {
        return Reply::json(500, &INTERNAL_ERROR);
    }
    // A panic report: `action panicked at FILE:LINE:COL:\nMESSAGE\nstack backtrace:...`.
    let cause = cause.split("\nstack backtrace:").next().unwrap_or(cause);
    let cause = cause.replacen(":\n", ": ", 1);
    let body = serde_json::json!({
        "error": apiphant_sdk::status_line(500),
        "detail": cause,
    });
    Reply {
        status: 500,
        raw_headers: None,
        body: Body::Owned(body.to_string().into_bytes()),
    }
}

/// Runs the endpoint's action and turns its outcome into a reply. Plugin faults (panic,
/// non-object result, malformed bytes) are logged with target, action and cause, and
/// answered 500 without details.
pub fn call(registry: &Registry, endpoint: &Endpoint, request: &Request<'_>) -> Reply {
    call_traced(registry, endpoint, request).0
}

/// [`call`], with the fault's cause when the reply is a 500 for a plugin fault (a panic's
/// message, location and backtrace): a job's traceback for `on_error`.
pub fn call_traced(
    registry: &Registry,
    endpoint: &Endpoint,
    request: &Request<'_>,
) -> (Reply, Option<String>) {
    let mut cause = None;
    let reply = call_inner(registry, endpoint, request, &mut cause);
    (reply, cause)
}

fn call_inner(
    registry: &Registry,
    endpoint: &Endpoint,
    request: &Request<'_>,
    traceback: &mut Option<String>,
) -> Reply {
    let raw_headers: Vec<abi::Header> = if endpoint.raw_request {
        request
            .headers
            .iter()
            .map(|(name, value)| header(name.as_bytes(), value))
            .collect()
    } else {
        Vec::new()
    };
    let context = CallContext {
        request_id: request.request_id,
        identity: request.identity,
        registry: None,
    };
    let outcome = registry.call(
        endpoint,
        request.method,
        request.path,
        &raw_headers,
        request.body,
        context,
    );
    let mut fault = |cause: &str| {
        *traceback = Some(cause.to_owned());
        log::error!(
            "req={} 500 for {} {} ({}): {}",
            String::from_utf8_lossy(request.request_id),
            escape(request.method.as_bytes()),
            escape(crate::auth::loggable_target(request.path).as_bytes()),
            endpoint.label,
            escape_lines(cause, true)
        );
        internal_error(cause)
    };
    let text = |buf: &PluginBuf| String::from_utf8_lossy(buf.as_slice()).into_owned();
    match outcome {
        Outcome::Ok(body) => {
            if !looks_like_object(body.as_slice()) {
                return fault("plugin returned bytes that are not a JSON object");
            }
            Reply {
                status: 200,
                raw_headers: None,
                body: Body::Plugin(body),
            }
        }
        Outcome::Error { status, body } => {
            if !looks_like_object(body.as_slice()) {
                return fault("plugin returned an error body that is not a JSON object");
            }
            Reply {
                status,
                raw_headers: None,
                body: Body::Plugin(body),
            }
        }
        Outcome::BadBody => Reply::json(400, &BAD_BODY),
        Outcome::Panic(report) => {
            PANICS.fetch_add(1, Ordering::Relaxed);
            fault(&format!("action {}", text(&report)))
        }
        Outcome::NotObject(why) => fault(&text(&why)),
        Outcome::Raw {
            status,
            headers,
            body,
        } => {
            if !valid_header_lines(headers.as_slice()) {
                return fault("plugin returned malformed raw response headers");
            }
            Reply {
                status,
                raw_headers: Some(headers),
                body: Body::Plugin(body),
            }
        }
        Outcome::Unknown { code, status } => fault(&format!(
            "plugin returned unknown outcome {code} with status {status}"
        )),
    }
}

/// A cheap framing check of what the SDK serialized: a UTF-8 text from `{` to `}`.
/// (A full re-parse would double the JSON work of every request; the SDK's serializer
/// is trusted for the inside, and this catches a plugin that bypasses it.)
fn looks_like_object(body: &[u8]) -> bool {
    body.first() == Some(&b'{') && body.last() == Some(&b'}') && std::str::from_utf8(body).is_ok()
}

/// Each line `Name: value\r\n` with a token name and no bare CR or LF in the value.
fn valid_header_lines(lines: &[u8]) -> bool {
    if lines.is_empty() {
        return true;
    }
    let Some(lines) = lines.strip_suffix(b"\r\n") else {
        return false;
    };
    lines.split(|&b| b == b'\n').all(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        apiphant_sdk::field_value(line)
            .is_some_and(|value| !value.iter().any(|&b| b == b'\r' || b == 0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_checks() {
        assert!(looks_like_object(b"{}"));
        assert!(!looks_like_object(b"\xff\xfe{}"));
        assert!(!looks_like_object(b"[]"));
        assert!(valid_header_lines(b"Content-Type: text/csv\r\nX-A: b\r\n"));
        assert!(!valid_header_lines(b"Content-Type text/csv\r\n"));
        assert!(!valid_header_lines(b"A: b\rc\r\n"));
    }
}

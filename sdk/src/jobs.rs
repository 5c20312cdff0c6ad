//! Enqueue jobs from code: an action, task or hook stores a call to an asynchronous action
//! (one marked `.asynchronous()` in `export!`) for `apiphant-background` to run, now or
//! at a later time. The host does the storing (the server through its job store's
//! threads, the worker through its own store); docs/jobs.md, "Enqueue from code".
//!
//! ```no_run
//! use apiphant_sdk::{jobs, json, ApiError, ApiResult, Object};
//! use std::time::Duration;
//!
//! pub fn create(request: Object) -> ApiResult {
//!     let job = jobs::enqueue("v0/reports", "create", json!({"month": request["month"]}))
//!         .delay(Duration::from_secs(60))
//!         .idempotency_key("report-2026-11")
//!         .send()
//!         .map_err(|error| ApiError::new(503, error.to_string()))?;
//!     let mut answer = Object::new();
//!     answer.insert("job".into(), job.to_string().into());
//!     Ok(answer)
//! }
//! ```

use crate::abi::{self, Bytes, EnqueueFn, EnqueueIn};
use crate::call::Snapshot;
use serde_json::Value;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

static ENQUEUE: OnceLock<EnqueueFn> = OnceLock::new();

/// Keeps the host's enqueue service (called by `load`).
pub(crate) fn install(enqueue: EnqueueFn) {
    let _ = ENQUEUE.set(enqueue);
}

/// The id of a stored job: what `POST /api/v0/_jobs/read` with `{"job": "<id>"}` reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JobId(pub String);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a job was not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnqueueError {
    /// This host stores no jobs: a host without the service, or a product without an
    /// asynchronous action.
    Unsupported(String),
    /// The request is wrong: no such action, not marked `.asynchronous()`, a malformed
    /// key or a body that is not a JSON object.
    Refused(String),
    /// The idempotency key was used before with another body.
    Conflict(String),
    /// The job store cannot take it now; try again later.
    Unavailable(String),
}

impl std::fmt::Display for EnqueueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnqueueError::Unsupported(why) => write!(f, "jobs are not available here: {why}"),
            EnqueueError::Refused(why) => write!(f, "job refused: {why}"),
            EnqueueError::Conflict(why) => write!(f, "job conflict: {why}"),
            EnqueueError::Unavailable(why) => write!(f, "job store unavailable: {why}"),
        }
    }
}

impl std::error::Error for EnqueueError {}

/// A job to store: made by [`enqueue`], sent by [`Enqueue::send`].
#[derive(Debug, Clone)]
#[must_use = "a job is stored only by .send()"]
pub struct Enqueue {
    route: String,
    action: String,
    body: Value,
    run_at: Option<SystemTime>,
    key: Option<String>,
}

/// A job that calls `action` of `route` (an action marked `.asynchronous()`, in any
/// plugin of the product) with `body` (a JSON object). Within a call, the job records the
/// call's request id and the caller's identity (so with `[auth]` the caller may read it).
pub fn enqueue(route: &str, action: &str, body: Value) -> Enqueue {
    Enqueue {
        route: route.to_owned(),
        action: action.to_owned(),
        body,
        run_at: None,
        key: None,
    }
}

impl Enqueue {
    /// Not run before `at`.
    pub fn run_at(mut self, at: SystemTime) -> Self {
        self.run_at = Some(at);
        self
    }

    /// Not run before `delay` from now.
    pub fn delay(self, delay: Duration) -> Self {
        self.run_at(SystemTime::now() + delay)
    }

    /// An idempotency key (1 to 255 visible ASCII characters): sending the same key with
    /// the same body again answers the same job (scoped to the caller and the action).
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Stores the job; its id, or why not.
    pub fn send(self) -> Result<JobId, EnqueueError> {
        let Some(enqueue) = ENQUEUE.get() else {
            return Err(EnqueueError::Unsupported(
                "this host offers no job service (an older apiphant, or not loaded by one)"
                    .to_owned(),
            ));
        };
        if !self.body.is_object() {
            return Err(EnqueueError::Refused(
                "the body must be a JSON object".to_owned(),
            ));
        }
        let body = self.body.to_string();
        let key = self.key.unwrap_or_default();
        let run_at_unix_ms = self
            .run_at
            .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |since| {
                i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
            });
        let input = EnqueueIn {
            size: std::mem::size_of::<EnqueueIn>(),
            route: Bytes::of(self.route.as_bytes()),
            action: Bytes::of(self.action.as_bytes()),
            body: Bytes::of(body.as_bytes()),
            run_at_unix_ms,
            idempotency_key: Bytes::of(key.as_bytes()),
        };
        let mut buffer = vec![0u8; 1024];
        let mut answer = abi::Answer {
            ptr: buffer.as_mut_ptr(),
            cap: buffer.len(),
            len: 0,
        };
        // The host may let this call resume on another thread: the call's state goes along.
        let snapshot = Snapshot::take();
        let code = enqueue(&input, &mut answer);
        snapshot.restore();
        buffer.truncate(answer.len.min(buffer.len()));
        let text = String::from_utf8_lossy(&buffer).into_owned();
        match code {
            abi::ENQUEUE_OK => Ok(JobId(text)),
            abi::ENQUEUE_REFUSED => Err(EnqueueError::Refused(text)),
            abi::ENQUEUE_CONFLICT => Err(EnqueueError::Conflict(text)),
            abi::ENQUEUE_UNAVAILABLE => Err(EnqueueError::Unavailable(text)),
            _ => Err(EnqueueError::Unsupported(text)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_host_it_is_refused_clearly() {
        let sent = enqueue("v0/reports", "create", serde_json::json!({})).send();
        assert!(
            matches!(sent, Err(EnqueueError::Unsupported(_))),
            "{sent:?}"
        );
    }
}

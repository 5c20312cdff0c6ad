//! Jobs enqueued from code (`apiphant_sdk::jobs::enqueue`, the host's `enqueue` service in
//! `plugin/ffi.rs`): checks the request against the calling registry (an action marked
//! `.asynchronous()`), then stores it through this process's sink: the server's store
//! threads ([`Front`], the coroutine waits on a may channel and its thread serves others),
//! or the worker's own connection (`apiphant-background`: plain threads may wait).

use super::front::{idempotency_key, new_job, Front, Opener};
use crate::plugin::Registry;
use crate::store::jobs::{now_ms, Enqueued};
use crate::store::JobStore;
use apiphant_sdk::abi::{
    ENQUEUE_CONFLICT, ENQUEUE_OK, ENQUEUE_REFUSED, ENQUEUE_UNAVAILABLE, ENQUEUE_UNSUPPORTED,
};
use std::sync::{Mutex, OnceLock};

/// Where this process stores the jobs plugins enqueue.
enum Sink {
    /// The server: its store threads.
    Front(&'static Front),
    /// The worker: one connection, opened when first needed (again after a failure).
    Store {
        open: Opener,
        store: Mutex<Option<Box<dyn JobStore>>>,
        max_attempts: u32,
    },
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// The server stores enqueued jobs through its store threads.
pub(crate) fn through_front(front: &'static Front) {
    let _ = SINK.set(Sink::Front(front));
}

/// The worker stores enqueued jobs through a connection of its own.
pub(crate) fn through_store(open: Opener, max_attempts: u32) {
    let _ = SINK.set(Sink::Store {
        open,
        store: Mutex::new(None),
        max_attempts,
    });
}

/// One request of a plugin, with the running call's context.
#[derive(Debug)]
pub(crate) struct Submit<'a> {
    /// The registry of the running call (`None` outside a call).
    pub(crate) registry: Option<&'a Registry>,
    pub(crate) route: &'a [u8],
    pub(crate) action: &'a [u8],
    pub(crate) body: &'a [u8],
    /// Empty: none.
    pub(crate) key: &'a [u8],
    /// ms since the epoch; 0 or past: now.
    pub(crate) run_at: i64,
    pub(crate) request_id: &'a [u8],
    pub(crate) identity: &'a [u8],
}

/// Stores the job: an `ENQUEUE_*` code and the job id or the reason.
pub(crate) fn submit(request: &Submit<'_>) -> (u32, String) {
    let refused = |why: String| (ENQUEUE_REFUSED, why);
    let Some(sink) = SINK.get() else {
        return (
            ENQUEUE_UNSUPPORTED,
            "this process stores no jobs (the product has no asynchronous action)".to_owned(),
        );
    };
    let Some(registry) = request.registry else {
        return refused(
            "enqueue from within an action, task or hook (not from a thread of the plugin's own)"
                .to_owned(),
        );
    };
    let (Ok(route), Ok(action)) = (
        std::str::from_utf8(request.route),
        std::str::from_utf8(request.action),
    ) else {
        return refused("the route and action must be UTF-8".to_owned());
    };
    let Some(endpoint) = registry.job_endpoint(route, action) else {
        return refused(format!(
            "no action {route} {action} in this product's plugins"
        ));
    };
    if !endpoint.is_asynchronous() {
        return refused(format!(
            "{route} {action} is not asynchronous (mark it action(f).asynchronous() in export!)"
        ));
    }
    if !matches!(
        serde_json::from_slice::<serde_json::Value>(request.body),
        Ok(serde_json::Value::Object(_))
    ) {
        return refused("the body must be a JSON object".to_owned());
    }
    let key = if request.key.is_empty() {
        None
    } else {
        match idempotency_key(request.key) {
            Some(key) => Some(key),
            None => {
                return refused(
                    "an idempotency key is 1 to 255 visible ASCII characters".to_owned(),
                )
            }
        }
    };
    let max_attempts = match sink {
        Sink::Front(front) => front.max_attempts(),
        Sink::Store { max_attempts, .. } => *max_attempts,
    };
    let call = crate::dispatch::Request {
        method: "POST",
        path: "",
        headers: &[],
        request_id: request.request_id,
        identity: request.identity,
        body: request.body,
    };
    let mut job = new_job(endpoint, &call, key, max_attempts);
    job.run_at = (request.run_at > 0).then_some(request.run_at);
    let stored = match sink {
        Sink::Front(front) => front.run_store(move |store| store.enqueue(&job, now_ms())),
        Sink::Store { open, store, .. } => {
            let mut store = store
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let connected = match store.as_deref_mut() {
                Some(store) => Ok(store),
                None => open().map(|opened| &mut **store.insert(opened)),
            };
            let stored = connected.and_then(|connected| connected.enqueue(&job, now_ms()));
            if stored.is_err() {
                *store = None;
            }
            stored
        }
    };
    match stored {
        Ok(Enqueued::New(id) | Enqueued::Existing(id)) => (ENQUEUE_OK, id),
        Ok(Enqueued::Conflict) => (
            ENQUEUE_CONFLICT,
            "the idempotency key was already used with another body".to_owned(),
        ),
        Err(why) => {
            log::warn!(
                "req={} enqueue of {route} {action}: {}",
                String::from_utf8_lossy(request.request_id),
                crate::logging::escape(why.as_bytes())
            );
            (ENQUEUE_UNAVAILABLE, why)
        }
    }
}

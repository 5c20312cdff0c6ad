//! The server's side of asynchronous calls. The store is never touched from a coroutine:
//! each store request is a closure sent to a few plain threads of its own (each with its
//! connection) over a bounded queue, and the coroutine waits for the answer with a
//! deadline. A full queue, a store that cannot be reached or an answer past the deadline
//! is a 503 in JSON at once, never a hang.

use crate::dispatch::{Body, Reply, Request};
use crate::plugin::Endpoint;
use crate::store::jobs::{now_ms, Enqueued, NewJob, STATES};
use crate::store::JobStore;
use apiphant_sdk::wire::{BAD_BODY, NOT_FOUND, UNAVAILABLE};
use serde_json::{json, Value};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Opens a connection to the store (one per store thread, made again after a failure).
pub(crate) type Opener = Arc<dyn Fn() -> Result<Box<dyn JobStore>, String> + Send + Sync>;

type Work = Box<dyn FnOnce(Result<&mut dyn JobStore, String>) + Send>;

/// What the built-in route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// `v0/_jobs read`: a job's state, result or error.
    ReadJob,
    /// `v0/_jobs delete`: cancels a job.
    CancelJob,
}

/// The line a 202 carries (RFC 7240).
pub(crate) const APPLIED: &[u8] = b"Preference-Applied: respond-async\r\n";

/// The store threads and the jobs' settings.
pub struct Front {
    work: SyncSender<Work>,
    timeout: Duration,
    max_attempts: u32,
}

impl std::fmt::Debug for Front {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Front")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Front {
    /// Starts `threads` store threads; at most `queue` requests wait for them.
    pub(crate) fn start(
        threads: usize,
        queue: usize,
        timeout: Duration,
        max_attempts: u32,
        open: &Opener,
    ) -> std::io::Result<Front> {
        let (work, receiver) = sync_channel::<Work>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..threads.max(1) {
            let receiver = Arc::clone(&receiver);
            let open = Arc::clone(open);
            std::thread::Builder::new()
                .name(format!("store-{index}"))
                .spawn(move || serve(&receiver, &open))?;
        }
        Ok(Front {
            work,
            timeout,
            max_attempts,
        })
    }

    /// Runs `job` on a store thread; the coroutine waits without holding its thread. `Err`
    /// (logged): the 503.
    fn run<T: Send + 'static>(
        &self,
        request_id: &[u8],
        job: impl FnOnce(&mut dyn JobStore) -> Result<T, String> + Send + 'static,
    ) -> Result<T, Reply> {
        self.run_store(job).map_err(|why| {
            log::warn!(
                "req={} job store: 503: {}",
                String::from_utf8_lossy(request_id),
                crate::logging::escape(why.as_bytes())
            );
            Reply::json(503, &UNAVAILABLE)
        })
    }

    /// [`Front::run`] with the reason as `Err` (a coroutine or a plain thread may wait).
    pub(crate) fn run_store<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut dyn JobStore) -> Result<T, String> + Send + 'static,
    ) -> Result<T, String> {
        let (done, result) = may::sync::mpsc::channel();
        let work: Work = Box::new(move |store| {
            let _ = done.send(store.and_then(job));
        });
        match self.work.try_send(work) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err("its queue is full".to_owned()),
            Err(TrySendError::Disconnected(_)) => return Err("its threads stopped".to_owned()),
        }
        match result.recv_timeout(self.timeout) {
            Ok(result) => result,
            Err(_) => Err(format!(
                "no answer within {:.1} s",
                self.timeout.as_secs_f64()
            )),
        }
    }

    /// The attempts a new job gets (`[jobs] max_attempts`).
    pub(crate) fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Stores the call to `endpoint` as a job: 202 `{"job":"<id>"}` (the same job for a
    /// repeated `Idempotency-Key` and body), 409 for the key with another body, 400 for a
    /// malformed key, 503 when the store cannot take it.
    pub(crate) fn enqueue(
        &self,
        endpoint: &Endpoint,
        request: &Request<'_>,
        key: Option<&[u8]>,
    ) -> Reply {
        let key = match key.map(idempotency_key) {
            None => None,
            Some(Some(key)) => Some(key),
            Some(None) => {
                return json_reply(
                    400,
                    &json!({"error": "Idempotency-Key must be 1 to 255 visible ASCII characters"}),
                )
            }
        };
        let job = new_job(endpoint, request, key, self.max_attempts);
        match self.run(request.request_id, move |store| {
            store.enqueue(&job, now_ms())
        }) {
            Ok(Enqueued::New(id) | Enqueued::Existing(id)) => json_reply(202, &json!({"job": id})),
            Ok(Enqueued::Conflict) => json_reply(
                409,
                &json!({"error": "Idempotency-Key was already used with another body"}),
            ),
            Err(reply) => reply,
        }
    }

    /// Answers the built-in route: the job named by the body's `"job"`, if the caller
    /// enqueued it (404 otherwise, whether or not it exists).
    pub(crate) fn answer(&self, builtin: Builtin, request: &Request<'_>) -> Reply {
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(request.body) else {
            return Reply::json(400, &BAD_BODY);
        };
        if builtin == Builtin::ReadJob && !body.contains_key("job") && body.contains_key("state") {
            return self.list(&body, request);
        }
        let Some(id) = body.get("job").and_then(Value::as_str).map(str::to_owned) else {
            return json_reply(
                400,
                &json!({"error": "give the job's id: {\"job\": \"<id>\"} (or a state to list: {\"state\": \"queued\"})"}),
            );
        };
        let identity = String::from_utf8_lossy(request.identity).into_owned();
        let asked = id.clone();
        let status = self.run(request.request_id, move |store| match builtin {
            Builtin::ReadJob => store.status(&asked, &identity),
            Builtin::CancelJob => store.cancel(&asked, &identity, now_ms()),
        });
        match status {
            Ok(Some(status)) => json_reply(200, &status.to_json(&id)),
            Ok(None) => Reply::json(404, &NOT_FOUND),
            Err(reply) => reply,
        }
    }
}

impl Front {
    /// `v0/_jobs read` with `{"state": "queued", "limit": n}`: the caller's newest `n`
    /// jobs in that state (`limit` 1 to [`LIST_MAX`], default [`LIST_DEFAULT`]).
    fn list(&self, body: &serde_json::Map<String, Value>, request: &Request<'_>) -> Reply {
        let state = body.get("state").and_then(Value::as_str).unwrap_or("");
        let Some(state) = STATES.iter().find(|known| **known == state) else {
            return json_reply(
                400,
                &json!({"error": format!("state must be one of {}", STATES.join(", "))}),
            );
        };
        let limit = match body.get("limit") {
            None => LIST_DEFAULT,
            Some(limit) => match limit.as_i64().filter(|n| (1..=LIST_MAX).contains(n)) {
                Some(limit) => limit,
                None => {
                    return json_reply(
                        400,
                        &json!({"error": format!("limit must be a whole number from 1 to {LIST_MAX}")}),
                    )
                }
            },
        };
        let identity = String::from_utf8_lossy(request.identity).into_owned();
        let listed = self.run(request.request_id, move |store| {
            store.list(&identity, state, limit)
        });
        match listed {
            Ok(jobs) => {
                let jobs: Vec<Value> = jobs.iter().map(|(id, status)| status.to_json(id)).collect();
                json_reply(200, &json!({ "jobs": jobs }))
            }
            Err(reply) => reply,
        }
    }
}

/// Jobs a listing answers unless its body asks for another number.
pub const LIST_DEFAULT: i64 = 20;
/// The most jobs a listing answers.
pub const LIST_MAX: i64 = 100;

/// The job of a call to `endpoint` (route and action from its label), to run at once.
pub(crate) fn new_job(
    endpoint: &Endpoint,
    request: &Request<'_>,
    key: Option<String>,
    max_attempts: u32,
) -> NewJob {
    let (route, action) = endpoint
        .label
        .split_once(' ')
        .unwrap_or((&endpoint.label, ""));
    NewJob {
        route: route.to_owned(),
        action: action.to_owned(),
        queue: endpoint.queue().to_owned(),
        body: request.body.to_vec(),
        request_id: String::from_utf8_lossy(request.request_id).into_owned(),
        identity: String::from_utf8_lossy(request.identity).into_owned(),
        key,
        max_attempts,
        run_at: None,
    }
}

/// Runs store requests until the server ends, opening the connection when needed.
fn serve(receiver: &Mutex<Receiver<Work>>, open: &Opener) {
    let mut store: Option<Box<dyn JobStore>> = None;
    loop {
        let work = match receiver.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(work) = work else {
            return;
        };
        if store.is_none() {
            match open() {
                Ok(opened) => store = Some(opened),
                Err(why) => {
                    work(Err(why));
                    continue;
                }
            }
        }
        match store.as_deref_mut() {
            Some(store) => work(Ok(store)),
            None => work(Err("no store".to_owned())),
        }
    }
}

fn json_reply(status: u16, body: &Value) -> Reply {
    Reply {
        status,
        raw_headers: None,
        body: Body::Owned(body.to_string().into_bytes()),
    }
}

/// Whether the `Prefer` values ask for `respond-async` (RFC 7240: a comma-separated list
/// of preferences, each a token with optional `=value` and `;` parameters).
pub(crate) fn prefers_async(value: &[u8]) -> bool {
    value.split(|&b| b == b',').any(|preference| {
        let name = preference
            .split(|&b| b == b';' || b == b'=')
            .next()
            .unwrap_or_default();
        name.trim_ascii().eq_ignore_ascii_case(b"respond-async")
    })
}

/// The key of an `Idempotency-Key` value (bare, or a quoted structured-field string):
/// 1 to 255 visible ASCII characters.
pub(crate) fn idempotency_key(value: &[u8]) -> Option<String> {
    let value = value.trim_ascii();
    let value = value
        .strip_prefix(b"\"")
        .and_then(|inner| inner.strip_suffix(b"\""))
        .unwrap_or(value);
    let visible = value.iter().all(|b| b.is_ascii_graphic() || *b == b' ');
    ((1..=255).contains(&value.len()) && visible)
        .then(|| String::from_utf8_lossy(value).into_owned())
}

/// Opens the product's job store once at start-up (its migrations applied: a store that
/// cannot be opened stops the start with one line) and starts the store threads.
pub fn start(product: &crate::product::Product) -> Result<&'static Front, String> {
    let config = product.config.clone();
    let dir = product.dir.clone();
    let worker = crate::store::worker_id();
    let first = crate::store::open_jobs(&config, &dir, &worker).map_err(|why| {
        format!(
            "{why} (asynchronous actions need their job store: check [jobs] store or [database] in '{}')",
            dir.join(crate::config::CONFIG_FILE).display()
        )
    })?;
    log::info!("Asynchronous calls are stored in {}.", first.describe());
    drop(first);
    let jobs = &config.jobs;
    let open: Opener = {
        let config = config.clone();
        Arc::new(move || crate::store::open_jobs(&config, &dir, &worker))
    };
    let front = Front::start(
        jobs.store_threads,
        jobs.store_queue,
        Duration::from_secs_f64(jobs.store_timeout_secs),
        jobs.max_attempts,
        &open,
    )
    .map_err(|error| format!("cannot start the job store's threads: {error}"))?;
    let queues = jobs.queues.keys().cloned().chain(["default".to_owned()]);
    super::depth::start(Arc::clone(&open), queues);
    let front: &'static Front = Box::leak(Box::new(front));
    super::enqueue::through_front(front);
    Ok(front)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferences_and_keys() {
        assert!(prefers_async(b"respond-async"));
        assert!(prefers_async(b"return=minimal, Respond-Async ; x=1"));
        assert!(prefers_async(b"wait=10,respond-async"));
        assert!(!prefers_async(b"respond-asynchronously"));
        assert!(!prefers_async(b"return=respond-async"));
        assert_eq!(idempotency_key(b" \"abc\" ").as_deref(), Some("abc"));
        assert_eq!(idempotency_key(b"k-1").as_deref(), Some("k-1"));
        assert_eq!(idempotency_key(b""), None);
        assert_eq!(idempotency_key(b"a\x01"), None);
        assert_eq!(idempotency_key(&[b'a'; 256]), None);
    }
}

//! The plugin-side glue behind [`export!`](crate::export): the one entry symbol's table,
//! `init` (which installs the log bridge, `log_bridge.rs`, and the panic hook, `panic.rs`),
//! the `call` that runs an action or a background task under `catch_unwind`, and `free`.
//!
//! One index space: the manifest lists the actions (0..A), then the tasks (A..A+T), then
//! the `on_error` hook (A+T) if there is one; `CallIn.action` picks one of them.
//!
//! Every `unsafe` block of the SDK lives here (and in `abi.rs`'s accessors): each one
//! dereferences memory the host lent for the duration of a call, or returns a `Vec`
//! this plugin allocated. See docs/protocol.md, "Plugin ABI".
#![allow(unsafe_code)]

use crate::abi::{self, Bytes, CallIn, CallOut, HostV1, OwnedBuf, PluginV1};
use crate::action::{Action, Input, Reply};
use crate::error::Object;
use crate::raw::RawRequest;
use crate::task::{cause_chain, Failure, OnError, Task, TaskResult};
use crate::{log_bridge, panic};
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

/// One target (a route such as `v0/echo`) and its actions, as listed in `export!`.
#[derive(Debug)]
pub struct Target {
    route: &'static str,
    actions: Vec<(&'static str, Action)>,
}

impl Target {
    /// A target with its actions.
    pub fn new(route: &'static str, actions: Vec<(&'static str, Action)>) -> Self {
        Target { route, actions }
    }
}

/// Everything one plugin exports: targets, background tasks, an `on_error` hook.
#[derive(Debug, Default)]
pub struct Plugin {
    /// Targets and their actions.
    pub targets: Vec<Target>,
    /// Background tasks (run by `apiphant-background`, ignored by the server).
    pub tasks: Vec<Task>,
    /// Called by `apiphant-background` after a task failed.
    pub on_error: Option<OnError>,
}

struct Table {
    actions: Vec<(&'static str, &'static str, Action)>,
    tasks: Vec<Task>,
    on_error: Option<OnError>,
    manifest: String,
}

static BUILD: OnceLock<fn() -> Plugin> = OnceLock::new();
static TABLE: OnceLock<Table> = OnceLock::new();

static PLUGIN: PluginV1 = PluginV1 {
    abi_version: abi::ABI_VERSION,
    sdk_version: Bytes::of(env!("CARGO_PKG_VERSION").as_bytes()),
    init,
    call,
    free,
};

thread_local! {
    static IN_CALL: Cell<Option<(&'static str, &'static str)>> = const { Cell::new(None) };
    /// Response buffers the host handed back to `free`, reused by the next responses
    /// serialized on this thread (no allocation per request for the JSON out).
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// At most this many spare buffers per thread (one per response written in one batch).
const SPARE_COUNT: usize = 8;
/// Buffers grown past this by a big response are freed, not kept.
const SPARE_BYTES: usize = 64 * 1024;
/// Capacity of a fresh response buffer (serde_json's `to_vec` starts there too).
const FRESH_BYTES: usize = 128;

/// A cleared buffer for a response: a spare one, or a fresh one.
fn response_buffer() -> Vec<u8> {
    SPARE
        .try_with(|spare| spare.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_else(|| Vec::with_capacity(FRESH_BYTES))
}

/// Keeps a buffer the host is done with for a later response, or frees it.
fn recycle(mut bytes: Vec<u8>) {
    if bytes.capacity() > SPARE_BYTES {
        return;
    }
    bytes.clear();
    // During thread teardown the list is gone: the buffer is simply dropped.
    let _ = SPARE.try_with(|spare| {
        if let Ok(mut spare) = spare.try_borrow_mut() {
            if spare.len() < SPARE_COUNT {
                spare.push(bytes);
            }
        }
    });
}

/// The (route, action) or ("task", name) being run on this thread, if any.
pub(crate) fn current_call() -> Option<(&'static str, &'static str)> {
    IN_CALL.with(Cell::get)
}

/// Called by the exported entry symbol: remembers how to build the table, returns it.
pub fn entry(build: fn() -> Plugin) -> *const PluginV1 {
    let _ = BUILD.set(build);
    &PLUGIN
}

fn table() -> &'static Table {
    TABLE.get_or_init(|| {
        let plugin = BUILD.get().map(|build| build()).unwrap_or_default();
        let mut actions = Vec::new();
        let mut manifest_targets = Vec::new();
        for target in plugin.targets {
            let mut listed = Vec::new();
            for (name, action) in target.actions {
                listed.push(json!({
                    "name": name,
                    "index": actions.len(),
                    "raw_request": action.raw_request,
                    "raw_response": action.raw_response,
                    "blocking": action.blocking,
                    "doc": action.doc,
                    "request_schema": action.request_schema,
                    "response_schema": action.response_schema,
                }));
                actions.push((target.route, name, action));
            }
            manifest_targets.push(json!({"route": target.route, "actions": listed}));
        }
        let tasks: Vec<_> = plugin
            .tasks
            .iter()
            .enumerate()
            .map(|(n, task)| {
                json!({
                    "name": task.name,
                    "index": actions.len() + n,
                    "schedule": task.schedule.spec(),
                    "run_at_start": task.schedule.runs_at_start(),
                })
            })
            .collect();
        let mut manifest = json!({
            "sdk_version": env!("CARGO_PKG_VERSION"),
            "targets": manifest_targets,
            "tasks": tasks,
        });
        if plugin.on_error.is_some() {
            manifest["on_error"] = json!(actions.len() + tasks.len());
        }
        Table {
            actions,
            tasks: plugin.tasks,
            on_error: plugin.on_error,
            manifest: manifest.to_string(),
        }
    })
}

extern "C" fn init(host: *const HostV1) -> Bytes {
    let result = catch_unwind(|| {
        // SAFETY: the host passes a pointer to a HostV1 that lives for the whole call,
        // or null; `as_ref` handles null.
        if let Some(host) = unsafe { host.as_ref() } {
            if host.abi_version == abi::ABI_VERSION {
                log_bridge::install(host.log, host.max_log_level);
            }
        }
        std::panic::set_hook(Box::new(panic::remember));
        Bytes::of(table().manifest.as_bytes())
    });
    result.unwrap_or(Bytes::of(b""))
}

extern "C" fn call(input: *const CallIn, output: *mut CallOut) {
    // SAFETY: the host passes valid, exclusive pointers for the duration of the call.
    let (Some(input), Some(output)) = (unsafe { input.as_ref() }, unsafe { output.as_mut() })
    else {
        return;
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| run(input)));
    IN_CALL.with(|current| current.set(None));
    let (code, status, body, headers) = match outcome {
        Ok(done) => done,
        Err(payload) => {
            let report = panic::take_report(payload.as_ref());
            (abi::OUTCOME_PANIC, 500, report.into_bytes(), Vec::new())
        }
    };
    output.outcome = code;
    output.status = status;
    output.body = into_owned(body);
    output.headers = into_owned(headers);
}

extern "C" fn free(buf: OwnedBuf) {
    if buf.ptr.is_null() {
        return;
    }
    // SAFETY: `buf` came from `into_owned` below (a Vec<u8> of this plugin's allocator)
    // and the host hands each buffer back exactly once.
    recycle(unsafe { Vec::from_raw_parts(buf.ptr, buf.len, buf.cap) });
}

fn into_owned(bytes: Vec<u8>) -> OwnedBuf {
    if bytes.capacity() == 0 {
        return OwnedBuf::EMPTY;
    }
    let mut bytes = std::mem::ManuallyDrop::new(bytes);
    OwnedBuf {
        ptr: bytes.as_mut_ptr(),
        len: bytes.len(),
        cap: bytes.capacity(),
    }
}

type Done = (u32, u16, Vec<u8>, Vec<u8>);

fn run(input: &CallIn) -> Done {
    let table = table();
    let index = input.action as usize;
    // SAFETY: the host lends these bytes for the duration of this call.
    let body = unsafe { input.body.as_slice() };
    let Some((route, name, action)) = table.actions.get(index) else {
        return run_task(table, index - table.actions.len(), body);
    };
    IN_CALL.with(|current| current.set(Some((route, name))));
    let reply = if action.raw_request {
        let raw = RawRequest {
            // SAFETY: as above.
            method: std::str::from_utf8(unsafe { input.method.as_slice() }).unwrap_or(""),
            // SAFETY: as above.
            path: std::str::from_utf8(unsafe { input.path.as_slice() }).unwrap_or(""),
            headers: headers(input),
            body,
        };
        (action.run)(Input::Raw(raw))
    } else {
        match parse_object(body) {
            Ok(object) => (action.run)(Input::Object(object)),
            Err(_) => return (abi::OUTCOME_BAD_BODY, 400, Vec::new(), Vec::new()),
        }
    };
    match reply {
        Reply::Object(object) => match write_json(&object) {
            Ok(bytes) => (abi::OUTCOME_OK, 200, bytes, Vec::new()),
            Err(error) => {
                let why = format!("response could not be serialized: {error}");
                (abi::OUTCOME_NOT_OBJECT, 500, why.into_bytes(), Vec::new())
            }
        },
        Reply::Error(error) => {
            let body = error.body().to_string().into_bytes();
            (abi::OUTCOME_ERROR, error.status_code(), body, Vec::new())
        }
        Reply::NotObject(why) => (abi::OUTCOME_NOT_OBJECT, 500, why.into_bytes(), Vec::new()),
        Reply::Raw(raw) => {
            let lines = raw.header_lines();
            (abi::OUTCOME_RAW, raw.status, raw.body, lines)
        }
    }
}

/// Serializes a response object into a recycled buffer.
fn write_json(object: &Object) -> Result<Vec<u8>, serde_json::Error> {
    let mut bytes = response_buffer();
    match serde_json::to_writer(&mut bytes, object) {
        Ok(()) => Ok(bytes),
        Err(error) => {
            recycle(bytes);
            Err(error)
        }
    }
}

/// Runs task `n` (after the actions), or the `on_error` hook (after the tasks) with the
/// failure the host sends as `{"task": ..., "traceback": ...}`.
fn run_task(table: &Table, n: usize, body: &[u8]) -> Done {
    let result: TaskResult = if let Some(task) = table.tasks.get(n) {
        IN_CALL.with(|current| current.set(Some(("task", task.name))));
        (task.run)()
    } else if let (Some(hook), true) = (table.on_error, n == table.tasks.len()) {
        IN_CALL.with(|current| current.set(Some(("task", "on_error"))));
        let failure: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        hook(&Failure {
            task: failure["task"].as_str().unwrap_or_default().to_owned(),
            traceback: failure["traceback"].as_str().unwrap_or_default().to_owned(),
        })
    } else {
        let why = format!("no action or task with index {}", n + table.actions.len());
        return (abi::OUTCOME_NOT_OBJECT, 500, why.into_bytes(), Vec::new());
    };
    match result {
        Ok(()) => (abi::OUTCOME_OK, 200, Vec::new(), Vec::new()),
        Err(error) => {
            let chain = cause_chain(error.as_ref()).into_bytes();
            (abi::OUTCOME_ERROR, 500, chain, Vec::new())
        }
    }
}

fn headers(input: &CallIn) -> Vec<(&str, &[u8])> {
    if input.headers.is_null() || input.headers_len == 0 {
        return Vec::new();
    }
    // SAFETY: the host lends `headers_len` headers at `headers` for the call.
    let headers = unsafe { std::slice::from_raw_parts(input.headers, input.headers_len) };
    headers
        .iter()
        .map(|header| {
            // SAFETY: each name and value is lent for the call, like the array.
            let name = unsafe { header.name.as_slice() };
            // SAFETY: as above.
            let value = unsafe { header.value.as_slice() };
            (std::str::from_utf8(name).unwrap_or(""), value)
        })
        .collect()
}

/// The request body as a JSON object: empty means `{}` (apiphant server.py); anything
/// else must be a UTF-8 JSON object. serde_json's recursion limit (128) bounds nesting.
pub(crate) fn parse_object(body: &[u8]) -> Result<Object, serde_json::Error> {
    if body.is_empty() {
        return Ok(Object::new());
    }
    serde_json::from_slice(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_body_is_an_empty_object_and_non_objects_fail() {
        assert_eq!(parse_object(b"").ok(), Some(Object::new()));
        for bad in [
            &b"[1, 2]"[..],
            b"null",
            b"42",
            b"\"s\"",
            b" ",
            b"NaN",
            b"\xef\xbb\xbf{}",
            b"{\"a\": 1} x",
        ] {
            assert!(parse_object(bad).is_err(), "{bad:?}");
        }
        assert!(parse_object(b" \n{\"a\": 1}\n ").is_ok());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_object(deep.as_bytes()).is_err());
    }
}

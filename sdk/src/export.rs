//! The plugin-side glue behind [`export!`](crate::export): the one entry symbol's table,
//! `load` (which installs the log bridge, `log_bridge.rs`, and the panic hook, `panic.rs`,
//! and hands over the manifest), the `init` and `shutdown` hooks, the `call` that runs an
//! action or a background task under `catch_unwind`, and `free`.
//!
//! One index space: the manifest lists the actions (0..A), then the tasks (A..A+T), then
//! the `on_error` hook (A+T) if there is one; `CallIn.action` picks one of them.
//!
//! Every `unsafe` block of the SDK lives here (and in `abi.rs`'s accessors): each one
//! dereferences memory the host lent for the duration of a call, or returns a `Vec`
//! this plugin allocated. See docs/protocol.md, "Plugin ABI".
#![allow(unsafe_code)]

use crate::abi::{self, Bytes, CallIn, CallOut, HostV2, OwnedBuf, PluginV2};
use crate::action::not_object;
use crate::action::{Action, Input, Reply};
use crate::authorize::{Authorize, AuthorizeCall, Refusal, RequestHead};
use crate::body::parse_object;
use crate::call;
use crate::error::Object;
use crate::hooks::{Init, Shutdown};
use crate::manifest::{ActionEntry, AuthorizeEntry, Manifest, TargetEntry, TaskEntry};
use crate::outcome::Outcome;
use crate::raw::RawRequest;
use crate::task::{cause_chain, Failure, OnError, Task, TaskResult};
use crate::{log_bridge, panic};
use std::cell::RefCell;
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

/// Everything one plugin exports: targets, background tasks, hooks.
#[derive(Debug, Default)]
pub struct Plugin {
    /// The plugin crate's name (`CARGO_PKG_NAME`, captured by `export!`).
    pub crate_name: &'static str,
    /// Targets and their actions.
    pub targets: Vec<Target>,
    /// Background tasks (run by `apiphant-background`, ignored by the server).
    pub tasks: Vec<Task>,
    /// Called by `apiphant-background` after a task failed.
    pub on_error: Option<OnError>,
    /// Called once with the plugin's configuration before any action or task.
    pub init: Option<Init>,
    /// Called once before the host lets the plugin go.
    pub shutdown: Option<Shutdown>,
    /// Called by the server before a request's body is read (`[auth] authorize`).
    pub authorize: Option<Authorize>,
}

struct Table {
    actions: Vec<(&'static str, &'static str, Action)>,
    tasks: Vec<Task>,
    on_error: Option<OnError>,
    init: Option<Init>,
    shutdown: Option<Shutdown>,
    authorize: Option<Authorize>,
    manifest: String,
}

static BUILD: OnceLock<fn() -> Plugin> = OnceLock::new();
static TABLE: OnceLock<Table> = OnceLock::new();

static PLUGIN: PluginV2 = PluginV2 {
    abi_version: abi::ABI_VERSION,
    sdk_version: Bytes::of(env!("CARGO_PKG_VERSION").as_bytes()),
    load,
    init,
    call,
    shutdown,
    free,
};

thread_local! {
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

/// Called by the exported entry symbol: remembers how to build the table, returns it.
pub fn entry(build: fn() -> Plugin) -> *const PluginV2 {
    let _ = BUILD.set(build);
    &PLUGIN
}

fn table() -> &'static Table {
    TABLE.get_or_init(|| {
        let plugin = BUILD.get().map(|build| build()).unwrap_or_default();
        let mut actions = Vec::new();
        let mut targets = Vec::new();
        for target in plugin.targets {
            let mut listed = Vec::new();
            for (name, action) in target.actions {
                listed.push(ActionEntry {
                    name: name.to_owned(),
                    index: index(actions.len()),
                    raw_request: action.raw_request,
                    raw_response: action.raw_response,
                    blocking: action.blocking,
                    asynchronous: action.asynchronous,
                    queue: action.queue.clone(),
                    timeout_secs: action.timeout_secs,
                    consumes: action.consumes.clone(),
                    produces: action.produces.clone(),
                    doc: action.doc.clone(),
                    request_schema: action.request_schema.clone(),
                    response_schema: action.response_schema.clone(),
                });
                actions.push((target.route, name, action));
            }
            targets.push(TargetEntry {
                route: target.route.to_owned(),
                actions: listed,
            });
        }
        let tasks = plugin
            .tasks
            .iter()
            .enumerate()
            .map(|(n, task)| TaskEntry {
                name: task.name.to_owned(),
                index: index(actions.len() + n),
                schedule: task.schedule.spec().to_owned(),
                run_at_start: task.schedule.runs_at_start(),
            })
            .collect();
        let manifest = Manifest {
            sdk_version: env!("CARGO_PKG_VERSION").to_owned(),
            crate_name: plugin.crate_name.to_owned(),
            targets,
            tasks,
            on_error: plugin
                .on_error
                .is_some()
                .then(|| index(actions.len() + plugin.tasks.len())),
            authorize: plugin.authorize.as_ref().map(|hook| AuthorizeEntry {
                index: index(
                    actions.len() + plugin.tasks.len() + usize::from(plugin.on_error.is_some()),
                ),
                blocking: hook.blocking,
            }),
        };
        Table {
            actions,
            tasks: plugin.tasks,
            on_error: plugin.on_error,
            init: plugin.init,
            shutdown: plugin.shutdown,
            authorize: plugin.authorize,
            manifest: manifest.to_json(),
        }
    })
}

/// A call index (a plugin has far fewer than 2^32 actions and tasks).
fn index(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

extern "C" fn load(host: *const HostV2) -> Bytes {
    let result = catch_unwind(|| {
        // SAFETY: the host passes a pointer to a HostV2 that lives for the whole call,
        // or null; `as_ref` handles null.
        if let Some(host) = unsafe { host.as_ref() } {
            if host.abi_version == abi::ABI_VERSION {
                log_bridge::install(host.log, host.max_log_level);
                // SAFETY: a host of ABI 2 passes null or a pointer to its static
                // `HostServicesV2`, whose `size` says which fields it filled.
                let services = unsafe { host.services.cast::<abi::HostServicesV2>().as_ref() };
                if let Some(services) = services {
                    let end = std::mem::offset_of!(abi::HostServicesV2, enqueue)
                        + std::mem::size_of::<abi::EnqueueFn>();
                    if services.size >= end {
                        crate::jobs::install(services.enqueue);
                    }
                }
            }
        }
        std::panic::set_hook(Box::new(panic::remember));
        Bytes::of(table().manifest.as_bytes())
    });
    result.unwrap_or(Bytes::of(b""))
}

extern "C" fn init(config: Bytes, output: *mut CallOut) {
    // SAFETY: the host lends the configuration bytes for the duration of this call.
    let config = unsafe { config.as_slice() };
    finish(output, || {
        run_hook("init", |table| {
            let Some(hook) = &table.init else {
                return Ok(());
            };
            match parse_object(config) {
                Ok(config) => hook.run(&config),
                Err(error) => {
                    Err(format!("the configuration is not a JSON object: {error}").into())
                }
            }
        })
    });
}

extern "C" fn shutdown(output: *mut CallOut) {
    finish(output, || {
        run_hook("shutdown", |table| match &table.shutdown {
            Some(hook) => hook.run(),
            None => Ok(()),
        })
    });
}

extern "C" fn call(input: *const CallIn, output: *mut CallOut) {
    // SAFETY: the host passes a valid pointer for the duration of the call, or null.
    let Some(input) = (unsafe { input.as_ref() }) else {
        return;
    };
    finish(output, || run(input));
}

/// Runs `run` under `catch_unwind` and writes its outcome to `output`.
fn finish(output: *mut CallOut, run: impl FnOnce() -> Outcome<Vec<u8>>) {
    // SAFETY: the host passes a valid, exclusive pointer for the duration of the call.
    let Some(output) = (unsafe { output.as_mut() }) else {
        return;
    };
    let outcome = catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|payload| {
        Outcome::Panic(panic::take_report(payload.as_ref()).into_bytes())
    });
    let (code, status, body, headers) = outcome.encode();
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

/// The request id and the identity the host passed with the call.
fn context(input: &CallIn) -> (&[u8], &[u8]) {
    // SAFETY: a host of ABI 2 passes a Context valid for the call (its ABI 2.0 fields,
    // `size` to `identity`, always present; later fields would be read only if they end
    // within `size`), or null.
    let Some(context) = (unsafe { input.context.as_ref() }) else {
        return (b"", b"");
    };
    // SAFETY: lent for the duration of this call, like the struct.
    unsafe { (context.request_id.as_slice(), context.identity.as_slice()) }
}

fn run(input: &CallIn) -> Outcome<Vec<u8>> {
    let table = table();
    let index = input.action as usize;
    // SAFETY: the host lends these bytes for the duration of this call.
    let body = unsafe { input.body.as_slice() };
    let (request_id, identity) = context(input);
    let Some((route, name, action)) = table.actions.get(index) else {
        let hook_index =
            table.actions.len() + table.tasks.len() + usize::from(table.on_error.is_some());
        if let (Some(hook), true) = (&table.authorize, index == hook_index) {
            return run_authorize(hook, input, body, (request_id, identity));
        }
        return run_task(
            table,
            index - table.actions.len(),
            body,
            (request_id, identity),
        );
    };
    let _call = call::enter((route, name), request_id, identity);
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
        (action.run)(Input::Body(body))
    };
    match reply {
        Reply::Object(object) => match write_json(&object) {
            Ok(bytes) => Outcome::Ok(bytes),
            Err(error) => Outcome::NotObject(
                format!("response could not be serialized: {error}").into_bytes(),
            ),
        },
        Reply::Json(bytes) => Outcome::Ok(bytes),
        Reply::BadBody => Outcome::BadBody,
        Reply::Error(error) => Outcome::Error {
            status: error.status_code(),
            body: error.body().to_string().into_bytes(),
        },
        Reply::NotObject(why) => Outcome::NotObject(why.into_bytes()),
        Reply::Raw(raw) => Outcome::Raw {
            status: raw.status,
            headers: raw.header_lines(),
            body: raw.body,
        },
    }
}

/// A typed response serialized into a recycled buffer: an object, or `null` (answered
/// `{}`, as an action returning nothing); anything else is the 500 of a non-object.
pub(crate) fn json_reply<T: serde::Serialize + ?Sized>(value: &T) -> Reply {
    let bytes = match write_json(value) {
        Ok(bytes) => bytes,
        Err(error) => {
            return Reply::NotObject(format!("response could not be serialized: {error}"))
        }
    };
    match bytes.first() {
        Some(b'{') => Reply::Json(bytes),
        _ => {
            let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            recycle(bytes);
            match value {
                serde_json::Value::Null => Reply::Object(Object::new()),
                other => Reply::NotObject(not_object(&other)),
            }
        }
    }
}

/// Serializes a response into a recycled buffer.
fn write_json<T: serde::Serialize + ?Sized>(object: &T) -> Result<Vec<u8>, serde_json::Error> {
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
fn run_task(table: &Table, n: usize, body: &[u8], context: (&[u8], &[u8])) -> Outcome<Vec<u8>> {
    let (request_id, identity) = context;
    let result: TaskResult = if let Some(task) = table.tasks.get(n) {
        let _call = call::enter(("task", task.name), request_id, identity);
        (task.run)()
    } else if let (Some(hook), true) = (table.on_error, n == table.tasks.len()) {
        let _call = call::enter(("task", "on_error"), request_id, identity);
        let failure: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        hook(&Failure {
            task: failure["task"].as_str().unwrap_or_default().to_owned(),
            traceback: failure["traceback"].as_str().unwrap_or_default().to_owned(),
        })
    } else {
        let why = format!("no action or task with index {}", n + table.actions.len());
        return Outcome::NotObject(why.into_bytes());
    };
    task_outcome(result)
}

/// Runs the `init` or `shutdown` hook (`what`) as a call of its own.
/// Runs the `authorize` hook on the request head in `input` (the route in `body`): the
/// identity's JSON, or a refusal as its status and the contract's error body.
fn run_authorize(
    hook: &Authorize,
    input: &CallIn,
    body: &[u8],
    context: (&[u8], &[u8]),
) -> Outcome<Vec<u8>> {
    let _call = call::enter(("hook", "authorize"), context.0, context.1);
    let call: AuthorizeCall = match serde_json::from_slice(body) {
        Ok(call) => call,
        Err(error) => {
            return Outcome::NotObject(
                format!("authorize: a call without its route: {error}").into_bytes(),
            )
        }
    };
    // SAFETY: the host keeps `method` and `path` valid for the call (docs/protocol.md, "Calls").
    let (method, path) = unsafe { (input.method.as_slice(), input.path.as_slice()) };
    let headers = headers(input);
    let head = RequestHead::new(
        std::str::from_utf8(method).unwrap_or(""),
        std::str::from_utf8(path).unwrap_or(""),
        &call.route,
        &headers,
    );
    match (hook.run)(&head) {
        Ok(identity) => match write_json(&identity) {
            Ok(bytes) => Outcome::Ok(bytes),
            Err(error) => Outcome::NotObject(format!("authorize: {error}").into_bytes()),
        },
        Err(refusal) => Outcome::Error {
            status: refusal.status(),
            body: match refusal {
                Refusal::Unauthorized => crate::wire::UNAUTHORIZED.to_vec(),
                Refusal::Forbidden => crate::wire::FORBIDDEN.to_vec(),
            },
        },
    }
}

fn run_hook(what: &'static str, hook: impl FnOnce(&Table) -> TaskResult) -> Outcome<Vec<u8>> {
    let table = table();
    let _call = call::enter(("hook", what), b"", b"");
    task_outcome(hook(table))
}

/// A task's or hook's result: OK (empty), or an error with its cause chain as text.
fn task_outcome(result: TaskResult) -> Outcome<Vec<u8>> {
    match result {
        Ok(()) => Outcome::Ok(Vec::new()),
        Err(error) => Outcome::Error {
            status: 500,
            body: cause_chain(error.as_ref()).into_bytes(),
        },
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

//! The plugin-side glue behind [`export!`](crate::export): the one entry symbol's table,
//! the `call` that runs an action or a background task under `catch_unwind`, `free`, the
//! panic hook that keeps a backtrace for the host's log, and the bridge that sends `log`
//! records to the host.
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
static HOST_LOG: OnceLock<abi::LogFn> = OnceLock::new();

static PLUGIN: PluginV1 = PluginV1 {
    abi_version: abi::ABI_VERSION,
    sdk_version: Bytes::of(env!("CARGO_PKG_VERSION").as_bytes()),
    init,
    call,
    free,
};

thread_local! {
    static IN_CALL: Cell<Option<(&'static str, &'static str)>> = const { Cell::new(None) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
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
                let _ = HOST_LOG.set(host.log);
                if log::set_logger(&BRIDGE).is_ok() {
                    log::set_max_level(level_filter(host.max_log_level));
                }
            }
        }
        std::panic::set_hook(Box::new(remember_panic));
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
            let report = LAST_PANIC
                .with(|last| last.borrow_mut().take())
                .unwrap_or_else(|| panic_text(payload.as_ref()));
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

fn remember_panic(info: &std::panic::PanicHookInfo<'_>) {
    let message = panic_text(info.payload());
    let location = info
        .location()
        .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
        .unwrap_or_else(|| "unknown location".to_owned());
    let backtrace = std::backtrace::Backtrace::force_capture().to_string();
    // As std: `RUST_BACKTRACE=full` keeps every frame.
    let backtrace = match std::env::var("RUST_BACKTRACE").as_deref() {
        Ok("full") => backtrace,
        _ => short_backtrace(&backtrace),
    };
    let report = format!("panicked at {location}:\n{message}\nstack backtrace:\n{backtrace}");
    if IN_CALL.with(Cell::get).is_some() {
        LAST_PANIC.with(|last| *last.borrow_mut() = Some(report));
    } else {
        eprintln!("plugin thread {report}");
    }
}

/// The plugin's own frames of a panic backtrace: those between the panic machinery
/// (`core::panicking`, the hook) and this glue's `run`, as std's short backtraces do. The
/// whole backtrace when its frames have no names (a stripped library) or the shape is new.
fn short_backtrace(full: &str) -> String {
    let mut frames: Vec<Vec<&str>> = Vec::new();
    for line in full.lines() {
        let head = line
            .trim_start()
            .split_once(": ")
            .is_some_and(|(number, _)| {
                !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())
            });
        match frames.last_mut() {
            Some(frame) if !head => frame.push(line),
            _ => frames.push(vec![line]),
        }
    }
    let name = |frame: &Vec<&str>| {
        let head = frame.first().map_or("", |line| line.trim_start());
        head.split_once(": ")
            .map_or("", |(_, name)| name)
            .to_owned()
    };
    let panic_frame = |frame: &Vec<&str>| {
        let name = name(frame);
        name.contains("core::panicking::") || name.contains("rust_begin_unwind")
    };
    let Some(start) = frames.iter().rposition(panic_frame).map(|i| i + 1) else {
        return full.to_owned();
    };
    let Some(mut end) = frames
        .iter()
        .position(|frame| name(frame).starts_with("apiphant_sdk::export::run"))
    else {
        return full.to_owned();
    };
    let glue = [
        "apiphant_sdk::",
        "<alloc::boxed::Box",
        "core::ops::function::",
    ];
    while end > start && glue.iter().any(|g| name(&frames[end - 1]).starts_with(g)) {
        end -= 1;
    }
    if end <= start {
        return full.to_owned();
    }
    let mut short: Vec<&str> = frames[start..end].iter().flatten().copied().collect();
    short.push("note: frames of the panic machinery and of apiphant are omitted.");
    short.join("\n")
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

struct Bridge;
static BRIDGE: Bridge = Bridge;

impl log::Log for Bridge {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let Some(host_log) = HOST_LOG.get() else {
            return;
        };
        let target = match IN_CALL.with(Cell::get) {
            Some((route, action)) => format!("{route} {action}"),
            None => record.target().to_owned(),
        };
        let message = record.args().to_string();
        host_log(
            record.level() as u32,
            Bytes::of(target.as_bytes()),
            Bytes::of(message.as_bytes()),
        );
    }

    fn flush(&self) {}
}

fn level_filter(level: u32) -> log::LevelFilter {
    match level {
        0 => log::LevelFilter::Off,
        1 => log::LevelFilter::Error,
        2 => log::LevelFilter::Warn,
        3 => log::LevelFilter::Info,
        4 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    }
}

/// Exports a plugin's targets and actions, and its background tasks: the one line a crate needs.
///
/// ```
/// use apiphant_sdk::{ApiResult, Object};
/// pub fn read(mut request: Object) -> ApiResult {
///     request.insert("server".into(), "myproduct".into());
///     Ok(request)
/// }
/// apiphant_sdk::export! { "v0/echo" => { read } }
/// ```
///
/// Several targets, another function for an action, and metadata:
/// `apiphant_sdk::export! { "v0/echo" => { read }, "v1/echo" => { read = v1::read, create = action(v1::create).blocking() } }`.
/// Routes are `v<digits>/<target path>`; action names are `create`, `read`, `update`,
/// `delete`. The server checks both when it loads the plugin.
///
/// Background tasks (run by `apiphant-background`) come in a leading `tasks { ... }` block,
/// then an optional `on_error = hook`, then optional `targets { ... }` (the grammar above):
///
/// ```
/// use apiphant_sdk::{every, cron, Failure, TaskResult};
/// pub fn update_something() -> TaskResult { Ok(()) }
/// pub fn nightly() {}
/// pub fn notify(failure: &Failure) -> TaskResult { Ok(()) }
/// apiphant_sdk::export! {
///     tasks { update_something: every(60), nightly: cron("0 3 * * *").run_at_start(false) },
///     on_error = notify,
/// }
/// ```
#[macro_export]
macro_rules! export {
    (tasks { $($task:ident : $schedule:expr),* $(,)? }
     $(, on_error = $hook:expr)? $(, targets { $($targets:tt)* })? $(,)?) => {
        $crate::__export_plugin! {
            [$($crate::__private::Task::new(::std::stringify!($task), $task, $schedule)),*]
            [$($hook)?] $($($targets)*)?
        }
    };
    ($($targets:tt)*) => { $crate::__export_plugin! { [] [] $($targets)* } };
}

/// The entry symbol for `export!`: tasks, optional hook, then the targets' grammar.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_plugin {
    ([$($task:expr),*] [$($hook:expr)?]
     $($route:literal => { $($name:ident $(= $handler:expr)?),* $(,)? }),* $(,)?) => {
        #[allow(unsafe_code)]
        #[no_mangle]
        pub extern "C" fn apiphant_plugin() -> *const $crate::abi::PluginV1 {
            fn plugin() -> $crate::__private::Plugin {
                $crate::__private::Plugin {
                    targets: ::std::vec![$(
                        $crate::__private::Target::new($route, ::std::vec![$((
                            ::std::stringify!($name),
                            $crate::__private::IntoAction::into_action(
                                $crate::__handler!($name $(, $handler)?)
                            ),
                        )),*])
                    ),*],
                    tasks: ::std::vec![$($task),*],
                    on_error: ::std::option::Option::None
                        $(.or(::std::option::Option::Some($hook as $crate::OnError)))?,
                }
            }
            $crate::__private::entry(plugin)
        }
    };
}

/// Picks the handler: the explicit expression, or the function named like the action.
#[doc(hidden)]
#[macro_export]
macro_rules! __handler {
    ($name:ident) => {
        $name
    };
    ($name:ident, $handler:expr) => {
        $handler
    };
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
    fn short_backtraces_keep_the_plugins_frames() {
        let full = "   0: apiphant_sdk::export::remember_panic\n             at ./sdk/src/export.rs:298:21\n   7: core::panicking::panic_fmt\n             at /rustc/x/library/core/src/panicking.rs:80:14\n   8: fixture_ticker::explode\n             at ./tests/fixtures/ticker/src/lib.rs:17:9\n   9: apiphant_sdk::task::Task::new::{{closure}}\n             at ./sdk/src/task.rs:112:35\n  10: <alloc::boxed::Box<F,A> as core::ops::function::Fn<Args>>::call\n  11: apiphant_sdk::export::run_task\n  12: apiphant_sdk::export::run\n  21: apiphant::plugin::ffi::Library::call\n";
        let short = short_backtrace(full);
        assert!(short.starts_with("   8: fixture_ticker::explode\n             at ./tests/fixtures/ticker/src/lib.rs:17:9\n"), "{short}");
        assert!(
            !short.contains("Task::new") && !short.contains("ffi"),
            "{short}"
        );
        let stripped = "   0: <unknown>\n   1: <unknown>\n";
        assert_eq!(short_backtrace(stripped), stripped);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_object(deep.as_bytes()).is_err());
    }
}

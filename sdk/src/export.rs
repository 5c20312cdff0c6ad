//! The plugin-side glue behind [`export!`](crate::export): the one entry symbol's table,
//! the `call` that runs an action under `catch_unwind`, `free`, the panic hook that keeps
//! a backtrace for the host's log, and the bridge that sends `log` records to the host.
//!
//! Every `unsafe` block of the SDK lives here (and in `abi.rs`'s accessors): each one
//! dereferences memory the host lent for the duration of a call, or returns a `Vec`
//! this plugin allocated. See docs/protocol.md, "Plugin ABI".
#![allow(unsafe_code)]

use crate::abi::{self, Bytes, CallIn, CallOut, HostV1, OwnedBuf, PluginV1};
use crate::action::{Action, Input, Reply};
use crate::error::Object;
use crate::raw::RawRequest;
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

struct Table {
    actions: Vec<(&'static str, &'static str, Action)>,
    manifest: String,
}

static BUILD: OnceLock<fn() -> Vec<Target>> = OnceLock::new();
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
pub fn entry(build: fn() -> Vec<Target>) -> *const PluginV1 {
    let _ = BUILD.set(build);
    &PLUGIN
}

fn table() -> &'static Table {
    TABLE.get_or_init(|| {
        let targets = BUILD.get().map(|build| build()).unwrap_or_default();
        let mut actions = Vec::new();
        let mut manifest_targets = Vec::new();
        for target in targets {
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
        let manifest = json!({
            "sdk_version": env!("CARGO_PKG_VERSION"),
            "targets": manifest_targets,
        })
        .to_string();
        Table { actions, manifest }
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
    let Some((route, name, action)) = table.actions.get(input.action as usize) else {
        let why = format!("no action with index {}", input.action);
        return (abi::OUTCOME_NOT_OBJECT, 500, why.into_bytes(), Vec::new());
    };
    IN_CALL.with(|current| current.set(Some((route, name))));
    // SAFETY: the host lends these bytes for the duration of this call.
    let body = unsafe { input.body.as_slice() };
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
    let backtrace = std::backtrace::Backtrace::force_capture();
    let report = format!("panicked at {location}:\n{message}\nstack backtrace:\n{backtrace}");
    if IN_CALL.with(Cell::get).is_some() {
        LAST_PANIC.with(|last| *last.borrow_mut() = Some(report));
    } else {
        eprintln!("plugin thread {report}");
    }
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

/// Exports a plugin's targets and actions: the one line a target crate needs.
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
#[macro_export]
macro_rules! export {
    ($($route:literal => { $($name:ident $(= $handler:expr)?),* $(,)? }),* $(,)?) => {
        #[allow(unsafe_code)]
        #[no_mangle]
        pub extern "C" fn apiphant_plugin() -> *const $crate::abi::PluginV1 {
            fn targets() -> ::std::vec::Vec<$crate::__private::Target> {
                ::std::vec![$(
                    $crate::__private::Target::new($route, ::std::vec![$(
                        (
                            ::std::stringify!($name),
                            $crate::__private::IntoAction::into_action(
                                $crate::__handler!($name $(, $handler)?)
                            ),
                        )
                    ),*])
                ),*]
            }
            $crate::__private::entry(targets)
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
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_object(deep.as_bytes()).is_err());
    }
}

//! The host side of the plugin C ABI: the symbol table check before loading, `dlopen` by
//! absolute path, the entry symbol, the version handshake, the init and shutdown hooks,
//! calls, and giving plugin memory back to the plugin's `free`.
//!
//! Every `unsafe` block of the server's plugin handling is here. The layouts and constants
//! come from `apiphant_sdk::abi`, the single definition shared with the plugin glue.
#![allow(unsafe_code)]

use super::{elf, trust, PluginError};
use crate::logging::escape;
use apiphant_sdk::abi::{
    self, Answer, Bytes, CallIn, CallOut, Context, EnqueueIn, Header, HostServicesV2, HostV2,
    OwnedBuf, PluginV2,
};
use apiphant_sdk::outcome::Outcome;
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

thread_local! {
    /// The request id of the call running on this thread (borrowed from the caller for
    /// the call's duration): the plugin's log lines carry it.
    static CURRENT_ID: Cell<Bytes> = const { Cell::new(Bytes { ptr: std::ptr::null(), len: 0 }) };
    /// The caller's identity and the registry of the call running on this thread (borrowed
    /// likewise): what a job the plugin enqueues records and is checked against.
    static CURRENT_CALLER: Cell<(Bytes, *const super::Registry)> =
        const { Cell::new((Bytes { ptr: std::ptr::null(), len: 0 }, std::ptr::null())) };
}

/// The host's services, handed to every plugin at `load` ([`HostV2::services`]).
static SERVICES: HostServicesV2 = HostServicesV2 {
    size: std::mem::size_of::<HostServicesV2>(),
    enqueue: host_enqueue,
};

/// `req=<id> ` before a plugin's log line; nothing outside a request.
struct RequestTag<'a>(&'a [u8]);

impl std::fmt::Display for RequestTag<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return Ok(());
        }
        write!(f, "req={} ", String::from_utf8_lossy(self.0))
    }
}

/// Clears [`CURRENT_ID`] when the call ends, however it ends.
struct CurrentId;

impl CurrentId {
    fn enter(id: &[u8], identity: &[u8], registry: Option<&super::Registry>) -> CurrentId {
        let registry = registry.map_or(std::ptr::null(), std::ptr::from_ref);
        CURRENT_ID.with(|current| current.set(Bytes::of(id)));
        CURRENT_CALLER.with(|current| current.set((Bytes::of(identity), registry)));
        CurrentId
    }
}

impl Drop for CurrentId {
    fn drop(&mut self) {
        let _ = CURRENT_ID.try_with(|current| current.set(Bytes::of(&[])));
        let _ = CURRENT_CALLER.try_with(|current| current.set((Bytes::of(&[]), std::ptr::null())));
    }
}

/// The call state of this thread, taken while a host service waits (the server's waits
/// let the coroutine resume on another thread) and put back where the call runs then.
struct Suspended {
    id: Bytes,
    caller: (Bytes, *const super::Registry),
}

impl Suspended {
    fn take() -> Suspended {
        let empty = Bytes::of(&[]);
        Suspended {
            id: CURRENT_ID
                .try_with(|current| current.replace(empty))
                .unwrap_or(empty),
            caller: CURRENT_CALLER
                .try_with(|current| current.replace((empty, std::ptr::null())))
                .unwrap_or((empty, std::ptr::null())),
        }
    }

    fn restore(self) {
        let _ = CURRENT_ID.try_with(|current| current.set(self.id));
        let _ = CURRENT_CALLER.try_with(|current| current.set(self.caller));
    }
}

/// A loaded plugin library and its table. The table points into the library, which is
/// therefore kept loaded for as long as this value lives. Dropping it runs the plugin's
/// shutdown hook (if `init` succeeded and [`Library::shutdown`] has not run yet).
#[derive(Debug)]
pub(crate) struct Library {
    table: &'static PluginV2,
    /// `init` succeeded and `shutdown` has not run.
    live: AtomicBool,
    // Declared last: dropped after every use of `table`.
    _library: libloading::Library,
}

/// Bytes a plugin handed out; given back to the plugin's `free` on drop.
#[derive(Debug)]
pub struct PluginBuf {
    buf: OwnedBuf,
    free: extern "C" fn(OwnedBuf),
}

// SAFETY: the buffer is plain bytes from the plugin's global allocator, which may be
// freed from any thread; nothing else refers to it.
unsafe impl Send for PluginBuf {}

/// What the host passes with a call: the request context's fields.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallContext<'a> {
    /// The request id.
    pub(crate) request_id: &'a [u8],
    /// The caller's identity (empty until authentication exists).
    pub(crate) identity: &'a [u8],
    /// The registry the call runs in (set by `Registry::call`; `None` elsewhere): what a
    /// job the plugin enqueues is checked against.
    pub(crate) registry: Option<&'a super::Registry>,
}

impl Library {
    /// Checks the file may be trusted (`trust.rs`) and its symbol table, loads the plugin
    /// at `path` (made absolute), checks its ABI version, and returns the absolute path,
    /// the library and its manifest JSON. Runs none of the plugin's code unless the file
    /// passed the trust checks and its entry symbol is this ABI's.
    pub(crate) fn open(path: &Path) -> Result<(PathBuf, Library, String), PluginError> {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let file = trust::open_trusted(&path)?;
        check_entry_symbol(&path, &file)?;
        drop(file);
        // SAFETY: loading runs the library's initialisers. The file is trusted (owner and
        // modes checked above) and its symbol table names this ABI's entry, so it is an
        // apiphant plugin built with this SDK, a Rust cdylib whose initialisers do nothing
        // unusual; loading an arbitrary library is the operator's choice, as with any
        // plugin host.
        let library = unsafe { libloading::Library::new(&path) }.map_err(|error| {
            PluginError::NotALibrary {
                path: path.clone(),
                reason: error.to_string(),
            }
        })?;
        // SAFETY: the symbol, if present, has the type the ABI defines (`abi::EntryFn`);
        // a library exporting the name with another type is not an apiphant plugin.
        let entry = unsafe { library.get::<abi::EntryFn>(abi::ENTRY_SYMBOL) }
            .map(|symbol| *symbol)
            .map_err(|_| PluginError::MissingEntry { path: path.clone() })?;
        let table = entry();
        if table.is_null() {
            return Err(PluginError::MissingEntry { path });
        }
        // SAFETY: every ABI version starts its table with `abi_version: u32`, so reading
        // that field is valid whatever version the plugin was built for.
        let found = unsafe { table.cast::<u32>().read() };
        if found != abi::ABI_VERSION {
            return Err(PluginError::AbiMismatch {
                path,
                expected: abi::ABI_VERSION,
                found,
            });
        }
        // SAFETY: version 2 tables have the `PluginV2` layout and are static data of the
        // library, which `Library` keeps loaded for as long as the reference is used.
        let table: &'static PluginV2 = unsafe { &*table };
        // The plugin copies what it needs from `host` during `load`.
        let host = HostV2 {
            abi_version: abi::ABI_VERSION,
            max_log_level: log::max_level() as u32,
            log: host_log,
            services: std::ptr::from_ref(&SERVICES).cast(),
        };
        let manifest = (table.load)(&host);
        // SAFETY: `load` returns bytes that stay valid while the library is loaded.
        let manifest = String::from_utf8_lossy(unsafe { manifest.as_slice() }).into_owned();
        let library = Library {
            table,
            live: AtomicBool::new(false),
            _library: library,
        };
        Ok((path, library, manifest))
    }

    /// Runs the plugin's init hook with its configuration (a JSON object); `Err` is the
    /// hook's message.
    pub(crate) fn init(&self, config: &[u8]) -> Result<(), String> {
        let mut output = CallOut::UNSET;
        (self.table.init)(Bytes::of(config), &mut output);
        let result = hook_result(self.outcome(output));
        self.live.store(result.is_ok(), Ordering::SeqCst);
        result
    }

    /// Runs the plugin's shutdown hook, once (later calls, and the drop, do nothing).
    pub(crate) fn shutdown(&self) -> Result<(), String> {
        if !self.live.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let mut output = CallOut::UNSET;
        (self.table.shutdown)(&mut output);
        hook_result(self.outcome(output))
    }

    /// Calls action `action` with a request; never unwinds (the plugin glue catches panics).
    pub(crate) fn call(
        &self,
        action: u32,
        method: &str,
        path: &str,
        headers: &[Header],
        body: &[u8],
        context: CallContext<'_>,
    ) -> Outcome<PluginBuf> {
        let current = CurrentId::enter(context.request_id, context.identity, context.registry);
        let context = Context {
            size: std::mem::size_of::<Context>(),
            request_id: Bytes::of(context.request_id),
            identity: Bytes::of(context.identity),
        };
        let input = CallIn {
            action,
            method: Bytes::of(method.as_bytes()),
            path: Bytes::of(path.as_bytes()),
            headers: headers.as_ptr(),
            headers_len: headers.len(),
            body: Bytes::of(body),
            context: &context,
        };
        let mut output = CallOut::UNSET;
        (self.table.call)(&input, &mut output);
        drop(current);
        self.outcome(output)
    }

    /// Decodes what a call wrote, taking ownership of its buffers.
    fn outcome(&self, output: CallOut) -> Outcome<PluginBuf> {
        let free = self.table.free;
        Outcome::decode(
            output.outcome,
            output.status,
            PluginBuf {
                buf: output.body,
                free,
            },
            PluginBuf {
                buf: output.headers,
                free,
            },
        )
    }

    /// The SDK version the plugin was built with.
    pub(crate) fn sdk_version(&self) -> String {
        // SAFETY: static bytes of the loaded library.
        String::from_utf8_lossy(unsafe { self.table.sdk_version.as_slice() }).into_owned()
    }
}

impl Drop for Library {
    fn drop(&mut self) {
        if let Err(message) = self.shutdown() {
            log::error!(
                "plugin shutdown hook failed: {}",
                escape(message.as_bytes())
            );
        }
    }
}

/// Reads the file's dynamic symbol table: this ABI's entry symbol, or the refusal naming
/// the ABI the file was built for, or "not a plugin" (no entry symbol at all).
fn check_entry_symbol(path: &Path, file: &std::fs::File) -> Result<(), PluginError> {
    let entries = elf::defined_symbols(file, |name| abi::entry_version(name).is_some()).map_err(
        |reason| PluginError::NotALibrary {
            path: path.to_path_buf(),
            reason,
        },
    )?;
    let versions = entries.iter().filter_map(|name| abi::entry_version(name));
    let mut found = None;
    for version in versions {
        if version == abi::ABI_VERSION {
            return Ok(());
        }
        found = found.max(Some(version));
    }
    match found {
        Some(found) => Err(PluginError::AbiMismatch {
            path: path.to_path_buf(),
            expected: abi::ABI_VERSION,
            found,
        }),
        None => Err(PluginError::MissingEntry {
            path: path.to_path_buf(),
        }),
    }
}

/// The process's effective user id: who owns what it creates, and whose files it may
/// trust (plugins, the worker's lock).
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid takes nothing, cannot fail and touches no memory of ours.
    unsafe { libc::geteuid() }
}

/// A hook's or task's outcome: OK, or its message (error text or cause chain, or the
/// panic's message, place and backtrace).
pub(crate) fn hook_result(outcome: Outcome<PluginBuf>) -> Result<(), String> {
    let text = |buf: &PluginBuf| String::from_utf8_lossy(buf.as_slice()).into_owned();
    match outcome {
        Outcome::Ok(_) => Ok(()),
        Outcome::Error { body, .. } | Outcome::Panic(body) => Err(text(&body)),
        Outcome::NotObject(body) => Err(format!("the plugin answered: {}", text(&body))),
        Outcome::Unknown { code, .. } => Err(format!("the plugin answered outcome {code}")),
        Outcome::BadBody | Outcome::Raw { .. } => {
            Err("the plugin answered an action's outcome".to_owned())
        }
    }
}

impl PluginBuf {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: filled by the plugin's `call` and not freed until `drop`.
        unsafe { self.buf.as_slice() }
    }
}

impl Drop for PluginBuf {
    fn drop(&mut self) {
        if !self.buf.ptr.is_null() {
            let buf = std::mem::replace(&mut self.buf, OwnedBuf::EMPTY);
            (self.free)(buf);
        }
    }
}

/// Borrows a header as ABI bytes (the slices must outlive the call).
pub(crate) fn header(name: &[u8], value: &[u8]) -> Header {
    Header {
        name: Bytes::of(name),
        value: Bytes::of(value),
    }
}

/// [`HostServicesV2::enqueue`]: stores a job through `crate::jobs::enqueue` with the
/// running call's request id, identity and registry. Never unwinds.
extern "C" fn host_enqueue(input: *const EnqueueIn, answer: *mut Answer) -> u32 {
    let run = || {
        // SAFETY: the plugin passes a valid `EnqueueIn` for the duration of this call, or null.
        let Some(input) = (unsafe { input.as_ref() }) else {
            return (abi::ENQUEUE_REFUSED, "no request".to_owned());
        };
        if input.size < std::mem::size_of::<EnqueueIn>() {
            return (
                abi::ENQUEUE_REFUSED,
                "a request from an unknown SDK".to_owned(),
            );
        }
        // SAFETY: the plugin lends these bytes for the duration of this call.
        let (route, action, body, key) = unsafe {
            (
                input.route.as_slice(),
                input.action.as_slice(),
                input.body.as_slice(),
                input.idempotency_key.as_slice(),
            )
        };
        let suspended = Suspended::take();
        // SAFETY: set by `Library::call` from bytes and a registry that live until that call
        // returns (it is still running: the plugin called this from within it), and cleared
        // then; outside a call they are empty and null.
        let (request_id, identity, registry) = unsafe {
            (
                suspended.id.as_slice(),
                suspended.caller.0.as_slice(),
                suspended.caller.1.as_ref(),
            )
        };
        let result = crate::jobs::enqueue::submit(&crate::jobs::enqueue::Submit {
            registry,
            route,
            action,
            body,
            key,
            run_at: input.run_at_unix_ms,
            request_id,
            identity,
        });
        suspended.restore();
        result
    };
    let (code, text) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
        .unwrap_or_else(|_| (abi::ENQUEUE_UNAVAILABLE, "the host failed".to_owned()));
    // SAFETY: the plugin lends `answer` (and `cap` writable bytes at `ptr`) for this call,
    // or null.
    if let Some(answer) = unsafe { answer.as_mut() } {
        if !answer.ptr.is_null() {
            let mut len = text.len().min(answer.cap);
            while !text.is_char_boundary(len) {
                len -= 1;
            }
            // SAFETY: `len` bytes fit the plugin's buffer, which does not overlap `text`.
            unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), answer.ptr, len) };
            answer.len = len;
        }
    }
    code
}

extern "C" fn host_log(level: u32, target: Bytes, message: Bytes) {
    // SAFETY: the plugin passes bytes valid for the duration of this call.
    let (target, message) = unsafe { (target.as_slice(), message.as_slice()) };
    // SAFETY: set by `call` from bytes that live until the call returns, and cleared then;
    // a plugin logs from within the call on this thread (from another thread, or outside a
    // call, it is empty).
    let id = unsafe { CURRENT_ID.with(Cell::get).as_slice() };
    let level = match level {
        1 => log::Level::Error,
        2 => log::Level::Warn,
        3 => log::Level::Info,
        4 => log::Level::Debug,
        _ => log::Level::Trace,
    };
    log::logger().log(
        &log::Record::builder()
            .level(level)
            .target("apiphant::plugin")
            .module_path(Some("plugin"))
            .args(format_args!(
                "{}[{}] {}",
                RequestTag(id),
                escape(target),
                crate::logging::escape_lines(&String::from_utf8_lossy(message), true)
            ))
            .build(),
    );
}

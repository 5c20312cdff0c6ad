//! The C ABI between the apiphant server (host) and a target plugin (a `cdylib`).
//!
//! This file is the single definition of that boundary: symbol name, version and
//! `#[repr(C)]` layouts. The host (`src/plugin/ffi.rs`) and the plugin-side glue
//! (`export.rs`) both use these items, so neither side can drift.
//!
//! Rules (see docs/protocol.md, "Plugin ABI"):
//! - The plugin exports one symbol, [`ENTRY_SYMBOL`] (`apiphant_plugin_v2`), an
//!   `extern "C" fn() -> *const PluginV2`. The version is in the name, so the host tells
//!   from the file's symbol table, before running any of its code, which ABI a plugin was
//!   built for ([`entry_version`]). The first field of the table is always
//!   `abi_version: u32`; the host checks it too.
//! - Memory crosses the boundary only as [`Bytes`] (borrowed for the duration of a call) or
//!   [`OwnedBuf`] (allocated by the plugin, handed back to the plugin's `free`).
//! - No panic ever unwinds across an `extern "C"` function: the glue catches it and
//!   reports [`OUTCOME_PANIC`].
//! - [`Context`] grows without a version bump: its `size` says how many bytes the host
//!   filled, and a plugin reads a field only if the field ends within `size`.

use std::ffi::c_void;

/// Version of this ABI. Bumped on any change to the layouts or symbol below.
pub const ABI_VERSION: u32 = 2;

/// Name of the one symbol a plugin exports, NUL-terminated for `dlsym`.
pub const ENTRY_SYMBOL: &[u8] = b"apiphant_plugin_v2\0";

/// The name ABI 1 plugins exported (no version in it), and the stem of every later one
/// (`apiphant_plugin_v<N>`).
pub const ENTRY_STEM: &str = "apiphant_plugin";

/// Type of the entry symbol.
pub type EntryFn = extern "C" fn() -> *const PluginV2;

/// Which ABI version an exported symbol name is the entry of: `apiphant_plugin` is ABI 1,
/// `apiphant_plugin_v<N>` is ABI N; any other name is `None`.
pub fn entry_version(symbol: &[u8]) -> Option<u32> {
    let rest = symbol.strip_prefix(ENTRY_STEM.as_bytes())?;
    if rest.is_empty() {
        return Some(1);
    }
    let digits = rest.strip_prefix(b"_v")?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Borrowed bytes: valid only for the duration of the call that received them.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Bytes {
    /// First byte (may dangle when `len` is 0).
    pub ptr: *const u8,
    /// Number of bytes.
    pub len: usize,
}

/// Bytes allocated by the plugin; the host must hand them back to [`PluginV2::free`].
#[repr(C)]
#[derive(Debug)]
pub struct OwnedBuf {
    /// Start of the allocation (a `Vec<u8>` of the plugin's allocator).
    pub ptr: *mut u8,
    /// Initialised length.
    pub len: usize,
    /// Capacity of the allocation.
    pub cap: usize,
}

/// One request header, borrowed from the host.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Header {
    /// Header name as received.
    pub name: Bytes,
    /// Header value as received.
    pub value: Bytes,
}

/// The request context the host passes with every call (actions, tasks, hooks).
///
/// Growth rule: later hosts of ABI 2 may append fields, never reorder or remove them.
/// `size` is `size_of::<Context>()` as the host built it; a plugin reads a field only if
/// the field ends at or before `size` (see [`Context::has`]) and treats a missing one as
/// empty. So an old plugin ignores new fields and a new plugin runs on an old host.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// Bytes of this struct the host filled (at least up to `identity`).
    pub size: usize,
    /// The request id (UTF-8): generated per call by the host, or `task-<name>-<n>`.
    pub request_id: Bytes,
    /// The caller's identity (UTF-8); empty until authentication exists.
    pub identity: Bytes,
}

impl Context {
    /// Whether the host filled the field that ends `end` bytes into the struct
    /// (`offset_of!(Context, field) + size_of::<field>()`).
    pub const fn has(&self, end: usize) -> bool {
        end <= self.size
    }
}

/// What the host passes to [`PluginV2::call`].
#[repr(C)]
#[derive(Debug)]
pub struct CallIn {
    /// Index of the action in the manifest's flat list: actions, then background tasks,
    /// then the `on_error` hook (see docs/protocol.md, "Background tasks").
    pub action: u32,
    /// HTTP method (always `POST` for JSON actions).
    pub method: Bytes,
    /// Request path, as received (percent-encoded, query included).
    pub path: Bytes,
    /// Request headers; only filled for actions with `raw_request`.
    pub headers: *const Header,
    /// Number of headers.
    pub headers_len: usize,
    /// Request body (already de-chunked).
    pub body: Bytes,
    /// The request context (never null from a host of ABI 2).
    pub context: *const Context,
}

/// What the plugin writes back from [`PluginV2::call`], `init` and `shutdown`.
#[repr(C)]
#[derive(Debug)]
pub struct CallOut {
    /// One of the `OUTCOME_*` constants.
    pub outcome: u32,
    /// HTTP status for [`OUTCOME_OK`] (200), [`OUTCOME_ERROR`] and [`OUTCOME_RAW`].
    pub status: u16,
    /// Body bytes; meaning depends on `outcome`.
    pub body: OwnedBuf,
    /// For [`OUTCOME_RAW`]: response header lines, each `Name: value\r\n`.
    pub headers: OwnedBuf,
}

impl CallOut {
    /// What the host fills `out` with before a call: an unknown outcome, nothing owned.
    pub const UNSET: CallOut = CallOut {
        outcome: u32::MAX,
        status: 500,
        body: OwnedBuf::EMPTY,
        headers: OwnedBuf::EMPTY,
    };
}

/// `body` is a JSON object; answer it with `status` (200). A task or hook: it succeeded
/// (empty body).
pub const OUTCOME_OK: u32 = 0;
/// The action returned an `ApiError`: `body` is the full JSON error body. A task, hook,
/// `init` or `shutdown`: it returned an error, `body` is its message (UTF-8 text).
pub const OUTCOME_ERROR: u32 = 1;
/// The request body was not a UTF-8 JSON object (the host answers 400).
pub const OUTCOME_BAD_BODY: u32 = 2;
/// The action, task or hook panicked: `body` is the message, location and backtrace (UTF-8).
pub const OUTCOME_PANIC: u32 = 3;
/// The action returned something that is not a JSON object: `body` describes it.
pub const OUTCOME_NOT_OBJECT: u32 = 4;
/// Raw response: `status`, `headers` lines and `body` bytes are sent as given.
pub const OUTCOME_RAW: u32 = 5;

/// Log callback the host gives the plugin: `level` is `log::Level as u32` (1 = error .. 5 = trace).
pub type LogFn = extern "C" fn(level: u32, target: Bytes, message: Bytes);

/// What the host gives the plugin at [`PluginV2::load`].
#[repr(C)]
#[derive(Debug)]
pub struct HostV2 {
    /// The host's [`ABI_VERSION`].
    pub abi_version: u32,
    /// Most verbose level the host logs (`log::LevelFilter as u32`: 0 = off .. 5 = trace).
    pub max_log_level: u32,
    /// Where plugin log records go.
    pub log: LogFn,
    /// The host's services ([`HostServicesV2`], cast to `*const c_void`), or null when the
    /// host offers none (hosts of ABI 2 before the services existed passed null here, in
    /// the field then named `reserved`). Static for the host's life.
    pub services: *const c_void,
}

/// Services the host offers plugins (what [`HostV2::services`] points to).
///
/// Growth rule as for [`Context`]: later hosts of ABI 2 may append fields; `size` is
/// `size_of::<HostServicesV2>()` as the host built it, and a plugin uses a field only if it
/// ends within `size` (a missing service is refused in the plugin, never called).
#[repr(C)]
#[derive(Debug)]
pub struct HostServicesV2 {
    /// Bytes of this struct the host filled.
    pub size: usize,
    /// Stores a job (docs/jobs.md, "Enqueue from code"); returns one of the `ENQUEUE_*`
    /// codes and writes the job id ([`ENQUEUE_OK`]) or a one-line reason into `answer`.
    pub enqueue: EnqueueFn,
}

/// Type of [`HostServicesV2::enqueue`]. Callable from any thread, during a call (the job
/// then records the call's request id and identity) or outside one.
pub type EnqueueFn = extern "C" fn(input: *const EnqueueIn, answer: *mut Answer) -> u32;

/// What a plugin asks [`HostServicesV2::enqueue`] to store.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct EnqueueIn {
    /// `size_of::<EnqueueIn>()` as the plugin built it (fields may be appended later).
    pub size: usize,
    /// The target's route (`v0/reports`, UTF-8).
    pub route: Bytes,
    /// The action (`create`): one marked `.asynchronous()`.
    pub action: Bytes,
    /// The job's body: a JSON object (UTF-8).
    pub body: Bytes,
    /// Not run before this time (ms since the Unix epoch); 0 or past: as soon as a worker
    /// is free.
    pub run_at_unix_ms: i64,
    /// An idempotency key (1 to 255 visible ASCII characters), or empty for none.
    pub idempotency_key: Bytes,
}

/// A buffer the plugin lends for a host's answer: the host writes at most `cap` bytes at
/// `ptr` and sets `len`.
#[repr(C)]
#[derive(Debug)]
pub struct Answer {
    /// Start of the plugin's buffer.
    pub ptr: *mut u8,
    /// Its capacity.
    pub cap: usize,
    /// Bytes the host wrote.
    pub len: usize,
}

/// The job was stored (or an earlier one with the same key and body found): the answer is
/// its id.
pub const ENQUEUE_OK: u32 = 0;
/// The request is wrong (no such action, not asynchronous, a malformed key or body): the
/// answer says why.
pub const ENQUEUE_REFUSED: u32 = 1;
/// The job store cannot take it now (unreachable, busy): the answer says why.
pub const ENQUEUE_UNAVAILABLE: u32 = 2;
/// This process stores no jobs (no asynchronous action is loaded, or not a server or worker).
pub const ENQUEUE_UNSUPPORTED: u32 = 3;
/// The idempotency key was used with another body.
pub const ENQUEUE_CONFLICT: u32 = 4;

/// The table a plugin exports. `abi_version` must stay the first field in every version.
///
/// The host calls `load` once, then `init` once with the plugin's configuration, then
/// `call` any number of times (from any thread), and `shutdown` once before it lets the
/// plugin go.
#[repr(C)]
#[derive(Debug)]
pub struct PluginV2 {
    /// Must equal the host's [`ABI_VERSION`].
    pub abi_version: u32,
    /// `apiphant-sdk` version the plugin was built with (UTF-8, static).
    pub sdk_version: Bytes,
    /// Installs the log bridge and returns the manifest JSON (static for the library's
    /// life). Runs none of the plugin's own code.
    pub load: extern "C" fn(host: *const HostV2) -> Bytes,
    /// Runs the plugin's init hook with its configuration (`config`: the JSON object of the
    /// product's `[plugins.<crate>]` table, `{}` when absent). [`OUTCOME_OK`], or
    /// [`OUTCOME_ERROR`] / [`OUTCOME_PANIC`] with the message in `body`: the host stops.
    pub init: extern "C" fn(config: Bytes, output: *mut CallOut),
    /// Runs one action, task or hook. Never unwinds.
    pub call: extern "C" fn(input: *const CallIn, output: *mut CallOut),
    /// Runs the plugin's shutdown hook (graceful stop, reload); outcome as for `init`.
    pub shutdown: extern "C" fn(output: *mut CallOut),
    /// Frees an [`OwnedBuf`] the plugin handed out.
    pub free: extern "C" fn(buf: OwnedBuf),
}

// SAFETY: the table holds only function pointers and pointers to static data.
#[allow(unsafe_code)]
unsafe impl Sync for PluginV2 {}

impl Bytes {
    /// Borrow a slice as [`Bytes`].
    pub const fn of(slice: &[u8]) -> Self {
        Bytes {
            ptr: slice.as_ptr(),
            len: slice.len(),
        }
    }

    /// View the bytes as a slice.
    ///
    /// # Safety
    /// `ptr` must point to `len` initialised bytes that stay valid and unchanged for `'a`.
    #[allow(unsafe_code)]
    pub unsafe fn as_slice<'a>(self) -> &'a [u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: guaranteed by the caller (see the function's contract).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl OwnedBuf {
    /// An empty buffer (no allocation).
    pub const EMPTY: OwnedBuf = OwnedBuf {
        ptr: std::ptr::null_mut(),
        len: 0,
        cap: 0,
    };

    /// View the bytes as a slice.
    ///
    /// # Safety
    /// The buffer must have been filled by a plugin's `call` and not yet freed.
    #[allow(unsafe_code)]
    pub unsafe fn as_slice(&self) -> &[u8] {
        if self.ptr.is_null() || self.len == 0 {
            return &[];
        }
        // SAFETY: guaranteed by the caller: a live allocation of `len` initialised bytes.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_carry_the_version() {
        assert_eq!(
            entry_version(&ENTRY_SYMBOL[..ENTRY_SYMBOL.len() - 1]),
            Some(2)
        );
        assert_eq!(entry_version(b"apiphant_plugin"), Some(1));
        assert_eq!(entry_version(b"apiphant_plugin_v13"), Some(13));
        for other in [
            &b"apiphant_plugin_v"[..],
            b"apiphant_plugin_vx",
            b"apiphant_pluginx",
            b"main",
        ] {
            assert_eq!(entry_version(other), None, "{other:?}");
        }
    }
}

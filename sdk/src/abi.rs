//! The C ABI between the apiphant server (host) and a target plugin (a `cdylib`).
//!
//! This file is the single definition of that boundary: symbol name, version and
//! `#[repr(C)]` layouts. The host (`src/plugin/ffi.rs`) and the plugin-side glue
//! (`export.rs`) both use these items, so neither side can drift.
//!
//! Rules (see docs/protocol.md, "Plugin ABI"):
//! - The plugin exports one symbol, [`ENTRY_SYMBOL`], an `extern "C" fn() -> *const PluginV1`.
//!   The first field of the table is always `abi_version: u32`; the host reads it before
//!   anything else and refuses a plugin whose version differs from [`ABI_VERSION`].
//! - Memory crosses the boundary only as [`Bytes`] (borrowed for the duration of a call) or
//!   [`OwnedBuf`] (allocated by the plugin, handed back to the plugin's `free`).
//! - No panic ever unwinds across an `extern "C"` function: the glue catches it and
//!   reports [`OUTCOME_PANIC`].

use std::ffi::c_void;

/// Version of this ABI. Bumped on any change to the layouts or symbol below.
pub const ABI_VERSION: u32 = 1;

/// Name of the one symbol a plugin exports, NUL-terminated for `dlsym`.
pub const ENTRY_SYMBOL: &[u8] = b"apiphant_plugin\0";

/// Type of the entry symbol.
pub type EntryFn = extern "C" fn() -> *const PluginV1;

/// Borrowed bytes: valid only for the duration of the call that received them.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Bytes {
    /// First byte (may dangle when `len` is 0).
    pub ptr: *const u8,
    /// Number of bytes.
    pub len: usize,
}

/// Bytes allocated by the plugin; the host must hand them back to [`PluginV1::free`].
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

/// What the host passes to [`PluginV1::call`].
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
}

/// What the plugin writes back from [`PluginV1::call`].
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

/// `body` is a JSON object; answer it with `status` (200). A task or hook: it succeeded
/// (empty body).
pub const OUTCOME_OK: u32 = 0;
/// The action returned an `ApiError`: `body` is the full JSON error body. A task or hook:
/// it returned an error, `body` is its cause chain as UTF-8 text.
pub const OUTCOME_ERROR: u32 = 1;
/// The request body was not a UTF-8 JSON object (the host answers 400).
pub const OUTCOME_BAD_BODY: u32 = 2;
/// The action, task or hook panicked: `body` is the message, location and backtrace (UTF-8).
pub const OUTCOME_PANIC: u32 = 3;
/// The action returned something that is not a JSON object: `body` describes it.
pub const OUTCOME_NOT_OBJECT: u32 = 4;
/// Raw response: `status`, `headers` lines and `body` bytes are sent as given.
pub const OUTCOME_RAW: u32 = 5;
/// The request body nests deeper than the SDK's limit (the host answers 400).
pub const OUTCOME_TOO_DEEP: u32 = 6;

/// Log callback the host gives the plugin: `level` is `log::Level as u32` (1 = error .. 5 = trace).
pub type LogFn = extern "C" fn(level: u32, target: Bytes, message: Bytes);

/// What the host gives the plugin at [`PluginV1::init`].
#[repr(C)]
#[derive(Debug)]
pub struct HostV1 {
    /// The host's [`ABI_VERSION`].
    pub abi_version: u32,
    /// Most verbose level the host logs (`log::LevelFilter as u32`: 0 = off .. 5 = trace).
    pub max_log_level: u32,
    /// Where plugin log records go.
    pub log: LogFn,
    /// Reserved for later host services; null in ABI 1.
    pub reserved: *const c_void,
}

/// The table a plugin exports. `abi_version` must stay the first field in every version.
#[repr(C)]
#[derive(Debug)]
pub struct PluginV1 {
    /// Must equal the host's [`ABI_VERSION`].
    pub abi_version: u32,
    /// `apiphant-sdk` version the plugin was built with (UTF-8, static).
    pub sdk_version: Bytes,
    /// Installs the log bridge and returns the manifest JSON (static for the library's life).
    pub init: extern "C" fn(host: *const HostV1) -> Bytes,
    /// Runs one action. Never unwinds.
    pub call: extern "C" fn(input: *const CallIn, output: *mut CallOut),
    /// Frees an [`OwnedBuf`] the plugin handed out.
    pub free: extern "C" fn(buf: OwnedBuf),
}

// SAFETY: the table holds only function pointers and pointers to static data.
#[allow(unsafe_code)]
unsafe impl Sync for PluginV1 {}

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

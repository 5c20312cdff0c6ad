//! The host side of the plugin C ABI: `dlopen` by absolute path, the entry symbol, the
//! version handshake, calls, and giving plugin memory back to the plugin's `free`.
//!
//! Every `unsafe` block of the server's plugin handling is here. The layouts and constants
//! come from `apiphant_sdk::abi`, the single definition shared with the plugin glue.
#![allow(unsafe_code)]

use super::PluginError;
use apiphant_sdk::abi::{self, Bytes, CallIn, CallOut, Header, HostV1, OwnedBuf, PluginV1};
use std::path::{Path, PathBuf};

/// A loaded plugin library and its table. The table points into the library, which is
/// therefore kept loaded for as long as this value lives (it is never unloaded while serving).
#[derive(Debug)]
pub(crate) struct Library {
    table: &'static PluginV1,
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

/// What one call returned.
#[derive(Debug)]
pub(crate) struct CallResult {
    pub(crate) outcome: u32,
    pub(crate) status: u16,
    pub(crate) body: PluginBuf,
    pub(crate) headers: PluginBuf,
}

impl Library {
    /// Loads the plugin at `path` (made absolute), checks its ABI version, and returns the
    /// absolute path, the library and its manifest JSON.
    pub(crate) fn open(path: &Path) -> Result<(PathBuf, Library, String), PluginError> {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        if !path.is_file() {
            return Err(PluginError::Missing { path });
        }
        // SAFETY: loading runs the library's initialisers. apiphant plugins are Rust cdylibs
        // whose initialisers do nothing unusual; loading an arbitrary library is the
        // operator's choice, as with any plugin host.
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
        // SAFETY: version 1 tables have the `PluginV1` layout and are static data of the
        // library, which `Library` keeps loaded for as long as the reference is used.
        let table: &'static PluginV1 = unsafe { &*table };
        // The plugin copies what it needs from `host` during `init`.
        let host = HostV1 {
            abi_version: abi::ABI_VERSION,
            max_log_level: log::max_level() as u32,
            log: host_log,
            reserved: std::ptr::null(),
        };
        let manifest = (table.init)(&host);
        // SAFETY: `init` returns bytes that stay valid while the library is loaded.
        let manifest = String::from_utf8_lossy(unsafe { manifest.as_slice() }).into_owned();
        let library = Library {
            table,
            _library: library,
        };
        Ok((path, library, manifest))
    }

    /// Calls action `action` with a request; never unwinds (the plugin glue catches panics).
    pub(crate) fn call(
        &self,
        action: u32,
        method: &str,
        path: &str,
        headers: &[Header],
        body: &[u8],
    ) -> CallResult {
        let input = CallIn {
            action,
            method: Bytes::of(method.as_bytes()),
            path: Bytes::of(path.as_bytes()),
            headers: headers.as_ptr(),
            headers_len: headers.len(),
            body: Bytes::of(body),
        };
        let mut output = CallOut {
            outcome: u32::MAX,
            status: 500,
            body: OwnedBuf::EMPTY,
            headers: OwnedBuf::EMPTY,
        };
        (self.table.call)(&input, &mut output);
        let free = self.table.free;
        CallResult {
            outcome: output.outcome,
            status: output.status,
            body: PluginBuf {
                buf: output.body,
                free,
            },
            headers: PluginBuf {
                buf: output.headers,
                free,
            },
        }
    }

    /// The SDK version the plugin was built with.
    pub(crate) fn sdk_version(&self) -> String {
        // SAFETY: static bytes of the loaded library.
        String::from_utf8_lossy(unsafe { self.table.sdk_version.as_slice() }).into_owned()
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

extern "C" fn host_log(level: u32, target: Bytes, message: Bytes) {
    // SAFETY: the plugin passes bytes valid for the duration of this call.
    let (target, message) = unsafe { (target.as_slice(), message.as_slice()) };
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
                "[{}] {}",
                String::from_utf8_lossy(target),
                String::from_utf8_lossy(message)
            ))
            .build(),
    );
}

//! Plugins: loading a product's target libraries and building the route table.
//!
//! Each plugin's manifest (from its `export!` line) lists routes such as `v0/echo` and
//! their actions; the registry maps `/api/v0/echo/read` to (plugin, action). Everything a
//! user can get wrong stops start-up with one [`PluginError`] naming the file and the fix.
//! Background tasks in the same manifests are read by [`TaskSet`] (`tasks.rs`) for
//! `apiphant-background`; the route table ignores them.

mod ffi;
mod tasks;

pub use ffi::PluginBuf;
pub(crate) use ffi::{header, CallResult};
pub use tasks::{TaskEntry, TaskSet};

use apiphant_sdk::abi;
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};

/// The CRUD action names a route may end with.
pub const ACTIONS: [&str; 4] = ["create", "read", "update", "delete"];

/// Why a plugin could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum PluginError {
    /// The file does not exist.
    Missing {
        /// The plugin path.
        path: PathBuf,
    },
    /// The file is not a loadable shared library.
    NotALibrary {
        /// The plugin path.
        path: PathBuf,
        /// The loader's message.
        reason: String,
    },
    /// The library has no `apiphant_plugin` symbol.
    MissingEntry {
        /// The plugin path.
        path: PathBuf,
    },
    /// The plugin was built for another ABI version.
    AbiMismatch {
        /// The plugin path.
        path: PathBuf,
        /// The server's ABI version.
        expected: u32,
        /// The plugin's ABI version.
        found: u32,
    },
    /// The manifest is not what the SDK writes.
    BadManifest {
        /// The plugin path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A route or action name is not valid.
    BadRoute {
        /// The plugin path.
        path: PathBuf,
        /// The route as declared.
        route: String,
        /// What is wrong.
        reason: String,
    },
    /// Two plugins (or one twice) claim the same route.
    DuplicateRoute {
        /// `/api/v0/echo/read`.
        route: String,
        /// The plugin that claimed it first.
        first: PathBuf,
        /// The plugin that claimed it again.
        second: PathBuf,
    },
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginError::Missing { path } => write!(
                f,
                "plugin '{}' does not exist (build it with `cargo build`, or fix the path)",
                path.display()
            ),
            PluginError::NotALibrary { path, reason } => write!(
                f,
                "plugin '{}' is not a loadable shared library: {reason} (build the target crate with crate-type = [\"cdylib\"])",
                path.display()
            ),
            PluginError::MissingEntry { path } => write!(
                f,
                "plugin '{}' has no `apiphant_plugin` symbol (add an `apiphant_sdk::export!` line to the crate)",
                path.display()
            ),
            PluginError::AbiMismatch {
                path,
                expected,
                found,
            } => write!(
                f,
                "plugin '{}' was built for ABI {found}, server speaks {expected} (rebuild it with apiphant-sdk {})",
                path.display(),
                env!("CARGO_PKG_VERSION")
            ),
            PluginError::BadManifest { path, reason } => write!(
                f,
                "plugin '{}' has an invalid manifest: {reason} (rebuild it with apiphant-sdk {})",
                path.display(),
                env!("CARGO_PKG_VERSION")
            ),
            PluginError::BadRoute {
                path,
                route,
                reason,
            } => write!(
                f,
                "plugin '{}' declares route '{route}': {reason} (routes look like \"v0/users/profile\", actions are create, read, update, delete)",
                path.display()
            ),
            PluginError::DuplicateRoute {
                route,
                first,
                second,
            } => write!(
                f,
                "route '{route}' is claimed by both '{}' and '{}' (remove one plugin, or change its export! route)",
                first.display(),
                second.display()
            ),
        }
    }
}

impl std::error::Error for PluginError {}

/// One action a route leads to.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub(crate) plugin: usize,
    pub(crate) action: u32,
    pub(crate) raw_request: bool,
    pub(crate) blocking: bool,
    /// `v0/echo read`, for logs.
    pub(crate) label: Box<str>,
    /// `/api/v0/echo/read`, the route's request path.
    pub(crate) path: Box<str>,
}

/// The loaded plugins and the route table. Never dropped while serving.
#[derive(Debug, Default)]
pub struct Registry {
    plugins: Vec<(PathBuf, ffi::Library)>,
    routes: HashMap<Box<str>, Endpoint, BuildHasherDefault<RouteHasher>>,
}

#[derive(Deserialize)]
struct Manifest {
    targets: Vec<ManifestTarget>,
}

#[derive(Deserialize)]
struct ManifestTarget {
    route: String,
    actions: Vec<ManifestAction>,
}

#[derive(Deserialize)]
struct ManifestAction {
    name: String,
    index: u32,
    #[serde(default)]
    raw_request: bool,
    #[serde(default)]
    blocking: bool,
}

impl Registry {
    /// Loads every plugin in `paths`, in order, and checks their routes.
    pub fn load(paths: &[PathBuf]) -> Result<Registry, PluginError> {
        let mut registry = Registry::default();
        for path in paths {
            registry.add(path)?;
        }
        Ok(registry)
    }

    fn add(&mut self, path: &Path) -> Result<(), PluginError> {
        let (path, library, manifest) = ffi::Library::open(path)?;
        let manifest: Manifest = parse_manifest(&path, &manifest)?;
        let plugin = self.plugins.len();
        for target in manifest.targets {
            check_route(&target.route).map_err(|reason| PluginError::BadRoute {
                path: path.clone(),
                route: target.route.clone(),
                reason,
            })?;
            for action in target.actions {
                if !ACTIONS.contains(&action.name.as_str()) {
                    return Err(PluginError::BadRoute {
                        path,
                        route: target.route.clone(),
                        reason: format!("'{}' is not an action name", action.name),
                    });
                }
                let key = format!("/api/{}/{}", target.route, action.name);
                if let Some(existing) = self.routes.get(key.as_str()) {
                    return Err(PluginError::DuplicateRoute {
                        route: key,
                        first: self.plugins[existing.plugin].0.clone(),
                        second: path,
                    });
                }
                let endpoint = Endpoint {
                    plugin,
                    action: action.index,
                    raw_request: action.raw_request,
                    blocking: action.blocking,
                    label: format!("{} {}", target.route, action.name).into(),
                    path: key.as_str().into(),
                };
                self.routes.insert(key.into(), endpoint);
            }
        }
        log::debug!(
            "loaded plugin {} (apiphant-sdk {})",
            path.display(),
            library.sdk_version()
        );
        self.plugins.push((path, library));
        Ok(())
    }

    /// The endpoint for a decoded request path such as `/api/v0/echo/read`.
    pub(crate) fn endpoint(&self, path: &str) -> Option<&Endpoint> {
        self.routes.get(path)
    }

    /// Calls an endpoint's action.
    pub(crate) fn call(
        &self,
        endpoint: &Endpoint,
        method: &str,
        path: &str,
        headers: &[abi::Header],
        body: &[u8],
    ) -> CallResult {
        self.plugins[endpoint.plugin]
            .1
            .call(endpoint.action, method, path, headers, body)
    }

    /// Every served route, sorted.
    pub fn routes(&self) -> Vec<&str> {
        let mut routes: Vec<&str> = self.routes.keys().map(|key| &**key).collect();
        routes.sort_unstable();
        routes
    }

    /// The loaded plugin files.
    pub fn plugin_paths(&self) -> impl Iterator<Item = &Path> {
        self.plugins.iter().map(|(path, _)| path.as_path())
    }
}

/// FNV-1a, the route table's hash (looked up once per request; SipHash, the default, was
/// about 3% of the echo's instructions). No flooding risk without a keyed hash: the table
/// is fixed at start-up and only looked up, so a lookup costs at most a probe over the
/// product's own routes whatever path a client sends.
#[derive(Debug, Clone, Copy)]
struct RouteHasher(u64);

impl Default for RouteHasher {
    fn default() -> Self {
        RouteHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for RouteHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Parses a plugin's manifest JSON (the part of it `T` describes).
fn parse_manifest<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, PluginError> {
    serde_json::from_str(text).map_err(|error| PluginError::BadManifest {
        path: path.to_path_buf(),
        reason: error.to_string(),
    })
}

/// `v<digits>/<segment>[/<segment>...]`, segments of letters, digits, `_` and `-`.
fn check_route(route: &str) -> Result<(), String> {
    let mut parts = route.split('/');
    let version = parts.next().unwrap_or("");
    let digits = version.strip_prefix('v').unwrap_or("");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{version}' is not a version like v0"));
    }
    let mut segments = 0;
    for segment in parts {
        segments += 1;
        let valid = !segment.is_empty()
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(format!(
                "'{segment}' is not a target segment (letters, digits, _ and -)"
            ));
        }
    }
    if segments == 0 {
        return Err("a target name must follow the version".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_route;

    #[test]
    fn routes() {
        assert!(check_route("v0/echo").is_ok());
        assert!(check_route("v12/users/profile").is_ok());
        for bad in [
            "echo",
            "v0",
            "v0/",
            "V0/echo",
            "vx/echo",
            "v0//a",
            "v0/a b",
            "v0/a/../b",
        ] {
            assert!(check_route(bad).is_err(), "{bad}");
        }
    }
}

//! Plugins: loading a product's target libraries and building the route table.
//!
//! Each plugin's manifest (from its `export!` line) lists routes such as `v0/echo` and
//! their actions; the registry maps `/api/v0/echo/read` to (plugin, action). Everything a
//! user can get wrong stops start-up with one [`PluginError`] naming the file and the fix.
//! Background tasks in the same manifests are read by [`TaskSet`] (`tasks.rs`) for
//! `apiphant-background`; the route table ignores them. The manifest's type and the route
//! grammar are the SDK's (`apiphant_sdk::manifest`, `apiphant_sdk::route`). After its
//! manifest checks out, each plugin's init hook gets its configuration; dropping the
//! registry (or [`Registry::shutdown`]) runs the shutdown hooks.

mod elf;
mod ffi;
mod tasks;
mod trust;

pub use ffi::PluginBuf;
pub(crate) use ffi::{effective_uid, header, CallContext};
pub use tasks::{TaskEntry, TaskSet};
pub use trust::allow_foreign_plugins;

use apiphant_sdk::abi;
use apiphant_sdk::manifest::Manifest;
use apiphant_sdk::outcome::Outcome;
use apiphant_sdk::route;
pub use apiphant_sdk::route::ACTIONS;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};

/// Each plugin's configuration, keyed by its crate name: the product's
/// `[plugins.<crate>]` tables as JSON objects. A plugin with no entry gets `{}`.
pub type PluginConfigs = BTreeMap<String, serde_json::Value>;

/// Why a plugin could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum PluginError {
    /// The file does not exist.
    Missing {
        /// The plugin path.
        path: PathBuf,
    },
    /// The file may not be loaded: not a regular file, unreadable, writable by other users
    /// (or its folder is), or owned by another user.
    Untrusted {
        /// The plugin path.
        path: PathBuf,
        /// The cause and its fix.
        reason: String,
    },
    /// The file is not a loadable shared library.
    NotALibrary {
        /// The plugin path.
        path: PathBuf,
        /// The loader's message.
        reason: String,
    },
    /// The library's symbol table has no apiphant entry symbol (of any ABI).
    MissingEntry {
        /// The plugin path.
        path: PathBuf,
    },
    /// The plugin was built for another ABI version (its entry symbol's name, or its table).
    AbiMismatch {
        /// The plugin path.
        path: PathBuf,
        /// The server's ABI version.
        expected: u32,
        /// The plugin's ABI version.
        found: u32,
    },
    /// One of the plugin's schemas cannot go into the API description.
    BadSchema {
        /// The plugin path.
        path: PathBuf,
        /// What is wrong and the fix.
        reason: String,
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
    /// A `[plugins.<crate>]` table names no loaded plugin.
    UnclaimedConfig {
        /// The table's name.
        name: String,
        /// The crate names of the loaded plugins.
        loaded: Vec<String>,
    },
    /// The plugin's init hook refused its configuration (or failed).
    InitFailed {
        /// The plugin path.
        path: PathBuf,
        /// The plugin's crate name (its `[plugins.<crate>]` table).
        crate_name: String,
        /// The hook's message, on one line.
        message: String,
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
            PluginError::Untrusted { path, reason } => {
                write!(f, "plugin '{}' is refused: {reason}", path.display())
            }
            PluginError::NotALibrary { path, reason } => write!(
                f,
                "plugin '{}' is not a loadable shared library: {reason} (build the target crate with crate-type = [\"cdylib\"])",
                path.display()
            ),
            PluginError::MissingEntry { path } => write!(
                f,
                "plugin '{}' is not an apiphant plugin: it has no `apiphant_plugin_v{}` symbol (add an `apiphant_sdk::export!` line to the crate)",
                path.display(),
                abi::ABI_VERSION
            ),
            PluginError::AbiMismatch {
                path,
                expected,
                found,
            } => write!(
                f,
                "plugin '{}' was built for ABI {found}, server speaks {expected}: rebuild it with apiphant-sdk {} (cargo update -p apiphant-sdk && cargo build)",
                path.display(),
                sdk_minor()
            ),
            PluginError::UnclaimedConfig { name, loaded } => write!(
                f,
                "apiphant.toml has a [plugins.{name}] table, but no loaded plugin is named '{name}' (loaded: {}): use the plugin's Cargo package name, or remove the table",
                loaded.join(", ")
            ),
            PluginError::InitFailed {
                path,
                crate_name,
                message,
            } => write!(
                f,
                "plugin '{}' did not start: {message} (its init hook read [plugins.{crate_name}] in apiphant.toml)",
                path.display()
            ),
            PluginError::BadManifest { path, reason } => write!(
                f,
                "plugin '{}' has an invalid manifest: {reason} (rebuild it with apiphant-sdk {})",
                path.display(),
                env!("CARGO_PKG_VERSION")
            ),
            PluginError::BadSchema { path, reason } => {
                write!(f, "plugin '{}': {reason}", path.display())
            }
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
    /// Its own deadline (`.timeout(secs)`; else the server's `action_timeout_secs`).
    pub(crate) timeout: Option<std::time::Duration>,
    /// May run asynchronously (`Prefer: respond-async` stores it as a job, `crate::jobs`).
    pub(crate) asynchronous: bool,
    /// Its jobs' queue (`.queue(name)`), else `default`.
    pub(crate) queue: Option<Box<str>>,
    /// The host's own route (`v0/_jobs`), answered by the host, not a plugin.
    pub(crate) builtin: Option<crate::jobs::front::Builtin>,
    /// `v0/echo read`, for logs.
    pub(crate) label: Box<str>,
    /// `/api/v0/echo/read`, the route's request path.
    pub(crate) path: Box<str>,
    /// Its place in the registry, 0.. (per-endpoint counters are indexed by it).
    pub(crate) index: usize,
}

/// The loaded plugins and the route table. Never dropped while serving.
#[derive(Debug, Default)]
pub struct Registry {
    plugins: Vec<(PathBuf, ffi::Library)>,
    manifests: Vec<Manifest>,
    /// The OpenAPI document served at `/.well-known/openapi.json`, once built.
    openapi: Vec<u8>,
    /// The page of the API served at `/.well-known/api.html`, built with it.
    api_page: Vec<u8>,
    /// By [`Endpoint::index`].
    endpoints: Vec<Endpoint>,
    /// Request path to endpoint index.
    routes: HashMap<Box<str>, usize, BuildHasherDefault<RouteHasher>>,
}

impl Endpoint {
    /// Whether the action is marked asynchronous (`.asynchronous()`; issue 14 runs it).
    pub fn is_asynchronous(&self) -> bool {
        self.asynchronous
    }

    /// Its jobs' queue.
    pub fn queue(&self) -> &str {
        self.queue
            .as_deref()
            .unwrap_or(crate::config::DEFAULT_QUEUE)
    }
}

/// One plugin, loaded and checked by [`load_all`], its init hook run.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) path: PathBuf,
    pub(crate) library: ffi::Library,
    pub(crate) manifest: Manifest,
}

/// The one loader of both binaries (the server's [`Registry`] and the worker's
/// [`TaskSet`] are views of what it loads), so the worker refuses exactly what the server
/// refuses: each plugin in `paths` is opened, its routes checked (grammar, action names, no
/// route claimed twice), its tasks checked (no name declared twice), then its init hook run
/// with its entry of `configs` (by crate name; `{}` when absent); last, every
/// `[plugins.<crate>]` table must name a loaded plugin.
pub(crate) fn load_all(
    paths: &[PathBuf],
    configs: &PluginConfigs,
) -> Result<Vec<Loaded>, PluginError> {
    let mut loaded: Vec<Loaded> = Vec::new();
    let mut routes: HashMap<String, PathBuf> = HashMap::new();
    let mut tasks: HashMap<String, PathBuf> = HashMap::new();
    for path in paths {
        let (path, library, manifest) = open(path)?;
        check_routes(&path, &manifest, &mut routes)?;
        check_tasks(&path, &manifest, &mut tasks)?;
        start(&path, &library, &manifest, configs)?;
        log::debug!(
            "loaded plugin {} (apiphant-sdk {})",
            path.display(),
            library.sdk_version()
        );
        loaded.push(Loaded {
            path,
            library,
            manifest,
        });
    }
    let names: Vec<String> = loaded
        .iter()
        .map(|plugin| plugin.manifest.crate_name.clone())
        .collect();
    check_claimed(configs, &names)?;
    Ok(loaded)
}

/// Checks a plugin's routes and action names, and that none is claimed twice (`seen`:
/// `/api/v0/echo/read` to the file that claimed it first).
fn check_routes(
    path: &Path,
    manifest: &Manifest,
    seen: &mut HashMap<String, PathBuf>,
) -> Result<(), PluginError> {
    for target in &manifest.targets {
        route::check_route(&target.route).map_err(|error| PluginError::BadRoute {
            path: path.to_path_buf(),
            route: target.route.clone(),
            reason: error.message(&target.route),
        })?;
        for action in &target.actions {
            if !route::is_action(&action.name) {
                return Err(PluginError::BadRoute {
                    path: path.to_path_buf(),
                    route: target.route.clone(),
                    reason: format!("'{}' is not an action name", action.name),
                });
            }
            if let Some(queue) = action.queue.as_deref() {
                if !crate::config::is_queue_name(queue) {
                    return Err(PluginError::BadRoute {
                        path: path.to_path_buf(),
                        route: target.route.clone(),
                        reason: format!(
                            "action '{}' has queue(\"{queue}\"): a queue name is 1 to 64 letters, digits, _ or -",
                            action.name
                        ),
                    });
                }
            }
            if let Some(secs) = action.timeout_secs {
                if !(secs > 0.0 && secs <= 86_400.0) {
                    return Err(PluginError::BadRoute {
                        path: path.to_path_buf(),
                        route: target.route.clone(),
                        reason: format!(
                            "action '{}' has timeout({secs}): give seconds above 0, at most 86400",
                            action.name
                        ),
                    });
                }
            }
            let key = format!("/api/{}/{}", target.route, action.name);
            if let Some(first) = seen.get(&key) {
                return Err(PluginError::DuplicateRoute {
                    route: key,
                    first: first.clone(),
                    second: path.to_path_buf(),
                });
            }
            seen.insert(key, path.to_path_buf());
        }
    }
    Ok(())
}

/// Checks that no task name is declared twice (`seen`: name to the file that declared it
/// first): the name is how `--run` and the log refer to a task.
fn check_tasks(
    path: &Path,
    manifest: &Manifest,
    seen: &mut HashMap<String, PathBuf>,
) -> Result<(), PluginError> {
    for task in &manifest.tasks {
        if let Some(first) = seen.get(&task.name) {
            return Err(PluginError::BadManifest {
                reason: format!(
                    "task '{}' is also declared by '{}' (rename one of them)",
                    task.name,
                    first.display()
                ),
                path: path.to_path_buf(),
            });
        }
        seen.insert(task.name.clone(), path.to_path_buf());
    }
    Ok(())
}

impl Registry {
    /// Loads every plugin in `paths` with the one loader (`load_all`) and builds the route
    /// table.
    pub fn load(paths: &[PathBuf], configs: &PluginConfigs) -> Result<Registry, PluginError> {
        let mut registry = Registry::default();
        for loaded in load_all(paths, configs)? {
            registry.add(loaded);
        }
        Ok(registry)
    }

    /// Loads like [`Registry::load`], each plugin from a copy of its file in the new folder
    /// `copies` (removed again once loaded): the dynamic loader hands back the library it
    /// already has for a path (or file) it has seen, so a reload that opened the same path
    /// would run the old code. Each original passes the trust checks first and is copied
    /// from that opened file; the copy is checked again when loaded. The registry names the
    /// original files; an error, one line, names them too.
    pub(crate) fn load_copies(
        paths: &[PathBuf],
        configs: &PluginConfigs,
        copies: &Path,
    ) -> Result<Registry, String> {
        let copied = copy_all(paths, copies);
        let loaded = copied.and_then(|copied| {
            let mut registry = Registry::load(&copied, configs).map_err(|error| {
                let mut message = error.to_string();
                for (copy, original) in copied.iter().zip(paths) {
                    let original =
                        std::path::absolute(original).unwrap_or_else(|_| original.clone());
                    message = message
                        .replace(&copy.display().to_string(), &original.display().to_string());
                }
                message
            })?;
            for ((path, _), original) in registry.plugins.iter_mut().zip(paths) {
                *path = std::path::absolute(original).unwrap_or_else(|_| original.clone());
            }
            Ok(registry)
        });
        let _ = std::fs::remove_dir_all(copies);
        // The process's folder of copies too, when no other generation is being loaded.
        if let Some(parent) = copies.parent() {
            let _ = std::fs::remove_dir(parent);
        }
        loaded
    }

    /// Adds one loaded plugin's routes (checked by [`load_all`]).
    fn add(&mut self, loaded: Loaded) {
        let plugin = self.plugins.len();
        for target in &loaded.manifest.targets {
            for action in &target.actions {
                let key = format!("/api/{}/{}", target.route, action.name);
                // Checked by `check_routes`.
                let timeout = action.timeout_secs.map(std::time::Duration::from_secs_f64);
                let endpoint = Endpoint {
                    plugin,
                    action: action.index,
                    raw_request: action.raw_request,
                    blocking: action.blocking,
                    timeout,
                    asynchronous: action.asynchronous,
                    queue: action.queue.as_deref().map(Into::into),
                    builtin: None,
                    label: format!("{} {}", target.route, action.name).into(),
                    path: key.as_str().into(),
                    // Its place in the metrics' per-endpoint counters.
                    index: self.endpoints.len(),
                };
                self.routes.insert(key.into(), endpoint.index);
                self.endpoints.push(endpoint);
            }
        }
        self.plugins.push((loaded.path, loaded.library));
        self.manifests.push(loaded.manifest);
    }

    /// Whether any action is marked asynchronous (then the server opens the job store).
    pub fn has_asynchronous(&self) -> bool {
        self.endpoints.iter().any(|endpoint| endpoint.asynchronous)
    }

    /// Adds the host's built-in route of jobs, `v0/_jobs` (`read`, `delete`): a place in
    /// the route grammar no plugin can take (its target starts with `_`), so the 404, 501
    /// and scope checks cover it like any route.
    pub(crate) fn add_jobs_routes(&mut self) {
        use crate::jobs::front::Builtin;
        for (action, builtin) in [("read", Builtin::ReadJob), ("delete", Builtin::CancelJob)] {
            let key = format!("/api/{}/{action}", route::JOBS_ROUTE);
            let endpoint = Endpoint {
                plugin: usize::MAX,
                action: 0,
                raw_request: false,
                blocking: false,
                timeout: None,
                asynchronous: false,
                queue: None,
                builtin: Some(builtin),
                label: format!("{} {action}", route::JOBS_ROUTE).into(),
                path: key.as_str().into(),
                index: self.endpoints.len(),
            };
            self.routes.insert(key.into(), endpoint.index);
            self.endpoints.push(endpoint);
        }
    }

    /// The endpoint of a stored job's route and action (`v0/reports`, `create`).
    pub(crate) fn job_endpoint(&self, route: &str, action: &str) -> Option<&Endpoint> {
        self.routes
            .get(format!("/api/{route}/{action}").as_str())
            .and_then(|&index| self.endpoints.get(index))
            .filter(|endpoint| endpoint.builtin.is_none())
    }

    /// The OpenAPI 3.1 document of every route (`crate::openapi`), titled `title`, or the
    /// plugin whose schema cannot be built.
    pub fn openapi(&self, title: &str) -> Result<serde_json::Value, PluginError> {
        crate::openapi::document(title, &self.manifests).map_err(|error| PluginError::BadSchema {
            path: self
                .plugins
                .get(error.manifest)
                .map(|(path, _)| path.clone())
                .unwrap_or_default(),
            reason: error.reason,
        })
    }

    /// Builds the document and the page of the API the server serves (once, at start-up).
    pub fn build_openapi(&mut self, title: &str) -> Result<(), PluginError> {
        let document = self.openapi(title)?;
        self.api_page = crate::api_page::page(&document).into_bytes();
        self.openapi = document.to_string().into_bytes();
        Ok(())
    }

    /// The served page of the API (empty until [`Registry::build_openapi`]).
    pub(crate) fn api_page_bytes(&self) -> &[u8] {
        &self.api_page
    }

    /// The served document's bytes (empty until [`Registry::build_openapi`]).
    pub(crate) fn openapi_bytes(&self) -> &[u8] {
        &self.openapi
    }

    /// Runs every plugin's shutdown hook, in load order (once: dropping the registry
    /// afterwards runs none again). Failures are logged.
    pub fn shutdown(&self) {
        shutdown(&self.plugins);
    }

    /// Every endpoint, in no order.
    pub(crate) fn endpoints(&self) -> impl Iterator<Item = &Endpoint> {
        self.endpoints.iter()
    }

    /// The endpoint at `index` ([`Endpoint::index`]).
    pub(crate) fn endpoint_at(&self, index: usize) -> Option<&Endpoint> {
        self.endpoints.get(index)
    }

    /// The endpoint for a decoded request path such as `/api/v0/echo/read`.
    pub(crate) fn endpoint(&self, path: &str) -> Option<&Endpoint> {
        self.routes
            .get(path)
            .and_then(|&index| self.endpoints.get(index))
    }

    /// Calls an endpoint's action.
    pub(crate) fn call(
        &self,
        endpoint: &Endpoint,
        method: &str,
        path: &str,
        headers: &[abi::Header],
        body: &[u8],
        context: CallContext<'_>,
    ) -> Outcome<PluginBuf> {
        match self.plugins.get(endpoint.plugin) {
            Some((_, library)) => {
                let context = CallContext {
                    registry: Some(self),
                    ..context
                };
                library.call(endpoint.action, method, path, headers, body, context)
            }
            // A built-in route is answered by the host before this (`crate::app`).
            None => Outcome::Unknown {
                code: 0,
                status: 500,
            },
        }
    }

    /// The `authorize` hook of the plugin whose crate is `crate_name`, as an endpoint
    /// (called like a raw action: method, path, every header); `Err` names the crates that
    /// have a hook.
    pub(crate) fn authorizer(&self, crate_name: &str) -> Result<Endpoint, Vec<String>> {
        for (plugin, manifest) in self.manifests.iter().enumerate() {
            if let (Some(hook), true) = (manifest.authorize, manifest.crate_name == crate_name) {
                return Ok(Endpoint {
                    plugin,
                    action: hook.index,
                    raw_request: true,
                    blocking: hook.blocking,
                    timeout: None,
                    asynchronous: false,
                    queue: None,
                    builtin: None,
                    label: format!("authorize hook of {crate_name}").into(),
                    path: "".into(),
                    // No per-endpoint counters (an index past every route's).
                    index: usize::MAX,
                });
            }
        }
        Err(self
            .manifests
            .iter()
            .filter(|manifest| manifest.authorize.is_some())
            .map(|manifest| manifest.crate_name.clone())
            .collect())
    }

    /// Each route with its actions, sorted by route, as the start-up log lists them:
    /// `v0/notes: create, read, update [blocking], delete [async]` (an action's marks:
    /// `blocking`, `async`, `raw`).
    pub fn route_actions(&self) -> Vec<String> {
        let mut lines: Vec<String> = (self.manifests.iter())
            .flat_map(|manifest| &manifest.targets)
            .map(|target| {
                let actions: Vec<String> = (target.actions.iter())
                    .map(|action| {
                        let marks: Vec<&str> = [
                            (action.blocking, "blocking"),
                            (action.asynchronous, "async"),
                            (action.raw_request, "raw"),
                        ]
                        .into_iter()
                        .filter_map(|(on, mark)| on.then_some(mark))
                        .collect();
                        if marks.is_empty() {
                            action.name.clone()
                        } else {
                            format!("{} [{}]", action.name, marks.join(", "))
                        }
                    })
                    .collect();
                format!("{}: {}", target.route, actions.join(", "))
            })
            .collect();
        lines.sort_unstable();
        lines
    }

    /// Every served path (`/api/v0/echo/read`), sorted.
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

/// Opens a plugin and reads its manifest (no code of the plugin's own has run yet).
fn open(path: &Path) -> Result<(PathBuf, ffi::Library, Manifest), PluginError> {
    let (path, library, manifest) = ffi::Library::open(path)?;
    match Manifest::from_json(&manifest) {
        Ok(manifest) => Ok((path, library, manifest)),
        Err(error) => Err(PluginError::BadManifest {
            path,
            reason: error.to_string(),
        }),
    }
}

/// Copies each trusted file of `paths` into the new folder `copies` (mode 0700; each copy
/// 0600, numbered so two originals of one name stay apart); the copies' paths, in order.
fn copy_all(paths: &[PathBuf], copies: &Path) -> Result<Vec<PathBuf>, String> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let fail = |what: &Path, error: std::io::Error| {
        format!(
            "cannot copy the plugins to '{}' to load them beside the running ones: {what:?}: {error} (set TMPDIR to a folder this user may write and execute from)",
            copies.display()
        )
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(copies)
        .map_err(|error| fail(copies, error))?;
    let mut copied = Vec::with_capacity(paths.len());
    for (number, path) in paths.iter().enumerate() {
        let original = std::path::absolute(path).unwrap_or_else(|_| path.clone());
        let mut file = trust::open_trusted(&original).map_err(|error| error.to_string())?;
        let name = original.file_name().map_or_else(
            || "plugin.so".to_owned(),
            |name| name.to_string_lossy().into_owned(),
        );
        let copy = copies.join(format!("{number}-{name}"));
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&copy)
            .map_err(|error| fail(&copy, error))?;
        std::io::copy(&mut file, &mut out).map_err(|error| fail(&copy, error))?;
        copied.push(copy);
    }
    Ok(copied)
}

/// Every `[plugins.<crate>]` table names a loaded plugin: a typo is an error, not a table
/// that is silently never read.
fn check_claimed(configs: &PluginConfigs, loaded: &[String]) -> Result<(), PluginError> {
    match configs.keys().find(|name| !loaded.contains(name)) {
        Some(name) => Err(PluginError::UnclaimedConfig {
            name: name.clone(),
            loaded: loaded.to_vec(),
        }),
        None => Ok(()),
    }
}

/// Runs a plugin's init hook with its configuration from `configs`.
fn start(
    path: &Path,
    library: &ffi::Library,
    manifest: &Manifest,
    configs: &PluginConfigs,
) -> Result<(), PluginError> {
    let config = configs
        .get(&manifest.crate_name)
        .map_or_else(|| "{}".to_owned(), serde_json::Value::to_string);
    library
        .init(config.as_bytes())
        .map_err(|message| PluginError::InitFailed {
            path: path.to_path_buf(),
            crate_name: manifest.crate_name.clone(),
            message: one_line(&message),
        })
}

/// Runs the shutdown hooks of `plugins`, logging failures.
fn shutdown(plugins: &[(PathBuf, ffi::Library)]) {
    for (path, library) in plugins {
        if let Err(message) = library.shutdown() {
            log::error!(
                "plugin '{}' shutdown hook failed: {}",
                path.display(),
                one_line(&message)
            );
        }
    }
}

/// A hook's message on one line: a cause chain's lines joined; a panic report without
/// its backtrace; controls escaped (`crate::logging::escape`).
fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .take_while(|line| !line.starts_with("stack backtrace:"))
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    crate::logging::escape_lines(&lines.join(" "), false).to_string()
}

/// `0.4`: the SDK release a plugin must be rebuilt with (the workspace shares one version).
fn sdk_minor() -> &'static str {
    let version = env!("CARGO_PKG_VERSION");
    let mut dots = version.match_indices('.').map(|(at, _)| at);
    let _ = dots.next();
    dots.next().map_or(version, |at| &version[..at])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_fit_on_one_line() {
        let minor = sdk_minor();
        assert!(env!("CARGO_PKG_VERSION").starts_with(minor) && minor.matches('.').count() == 1);
        assert_eq!(
            one_line("could not connect\nCaused by:\n    0: refused"),
            "could not connect Caused by: 0: refused"
        );
        assert_eq!(
            one_line("panicked at src/lib.rs:3:5:\nbad config\nstack backtrace:\n   0: x"),
            "panicked at src/lib.rs:3:5: bad config"
        );
    }
}

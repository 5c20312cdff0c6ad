//! The host side of background tasks: loads plugins for `apiphant-background`, reads the
//! `tasks` and `on_error` entries of their manifests (targets are ignored here, as the
//! server ignores tasks), and runs a task or a hook through the same `call` as an action.
//! Each call's request id is `task-<name>-<n>` (`on_error-<task>-<n>` for the hooks), `n`
//! counting the set's calls.

use super::{ffi, load_all, CallContext, Loaded, PluginConfigs, PluginError, Registry};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// One task a plugin declares.
#[derive(Debug, Clone)]
pub struct TaskEntry {
    /// The task's name (its function's name).
    pub name: String,
    /// The schedule as declared: `every 60s` or a cron expression (parsed by the worker).
    pub schedule: String,
    /// Whether it runs once at start.
    pub run_at_start: bool,
    plugin: usize,
    index: u32,
}

/// The loaded plugins' tasks and `on_error` hooks. Dropping it runs the plugins' shutdown
/// hooks.
#[derive(Debug, Default)]
pub struct TaskSet {
    /// The plugins, and their routes for the jobs of asynchronous calls (`crate::jobs`).
    registry: Registry,
    tasks: Vec<TaskEntry>,
    hooks: Vec<(usize, u32)>,
    calls: AtomicU64,
}

impl TaskSet {
    /// Loads every plugin in `paths` with the server's loader (`load_all`: the
    /// same checks, the same init hooks) and collects their tasks and `on_error` hooks.
    pub fn load(paths: &[PathBuf], configs: &PluginConfigs) -> Result<TaskSet, PluginError> {
        let mut set = TaskSet::default();
        for loaded in load_all(paths, configs)? {
            set.add(loaded);
        }
        Ok(set)
    }

    /// Adds one loaded plugin's tasks and hook.
    fn add(&mut self, loaded: Loaded) {
        let plugin = self.registry.plugins.len();
        for task in &loaded.manifest.tasks {
            self.tasks.push(TaskEntry {
                name: task.name.clone(),
                schedule: task.schedule.clone(),
                run_at_start: task.run_at_start,
                plugin,
                index: task.index,
            });
        }
        if let Some(index) = loaded.manifest.on_error {
            self.hooks.push((plugin, index));
        }
        self.registry.add(loaded);
    }

    /// The loaded plugins' routes: the worker runs jobs through them.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The tasks, in declaration order (plugin by plugin).
    pub fn tasks(&self) -> &[TaskEntry] {
        &self.tasks
    }

    /// How many plugins are loaded.
    pub fn plugin_count(&self) -> usize {
        self.registry.plugins.len()
    }

    /// How many plugins declare an `on_error` hook.
    pub fn hook_count(&self) -> usize {
        self.hooks.len()
    }

    /// Runs a task: `Err` carries the traceback (cause chain, or panic message, location
    /// and backtrace). Never unwinds.
    pub fn run(&self, task: &TaskEntry) -> Result<(), String> {
        self.run_slot(task, None)
    }

    /// [`TaskSet::run`] for a claimed slot (seconds since the epoch): the request id ends
    /// with `@<slot>` (`task-tick-7@1767225600`), so a task can key its work by slot.
    pub fn run_slot(&self, task: &TaskEntry, slot: Option<i64>) -> Result<(), String> {
        let library = &self.registry.plugins[task.plugin].1;
        let mut id = self.request_id("task", &task.name);
        if let Some(slot) = slot {
            id = format!("{id}@{slot}");
        }
        let context = CallContext {
            request_id: id.as_bytes(),
            identity: b"",
            registry: Some(&self.registry),
        };
        ffi::hook_result(library.call(task.index, "TASK", &task.name, &[], b"", context))
    }

    /// Runs every plugin's `on_error` hook for a failed task; one result per hook, with the
    /// hook's plugin file name.
    pub fn run_hooks(&self, task: &str, traceback: &str) -> Vec<(String, Result<(), String>)> {
        let failure = serde_json::json!({"task": task, "traceback": traceback}).to_string();
        let id = self.request_id("on_error", task);
        let context = CallContext {
            request_id: id.as_bytes(),
            identity: b"",
            registry: Some(&self.registry),
        };
        self.hooks
            .iter()
            .map(|&(plugin, index)| {
                let (path, library) = &self.registry.plugins[plugin];
                let name = path
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let outcome =
                    library.call(index, "ON_ERROR", task, &[], failure.as_bytes(), context);
                (name, ffi::hook_result(outcome))
            })
            .collect()
    }

    /// Runs every plugin's shutdown hook (once; dropping the set afterwards runs none again).
    pub fn shutdown(&self) {
        super::shutdown(&self.registry.plugins);
    }

    /// `task-<name>-<n>` (or `on_error-<task>-<n>`).
    fn request_id(&self, kind: &str, name: &str) -> String {
        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{kind}-{name}-{n}")
    }
}

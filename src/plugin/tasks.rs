//! The host side of background tasks: loads plugins for `apiphant-background`, reads the
//! `tasks` and `on_error` entries of their manifests (targets are ignored here, as the
//! server ignores tasks), and runs a task or a hook through the same `call` as an action.

use super::{ffi, parse_manifest, PluginError};
use apiphant_sdk::abi;
use serde::Deserialize;
use std::path::{Path, PathBuf};

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

/// The loaded plugins' tasks and `on_error` hooks.
#[derive(Debug, Default)]
pub struct TaskSet {
    plugins: Vec<(PathBuf, ffi::Library)>,
    tasks: Vec<TaskEntry>,
    hooks: Vec<(usize, u32)>,
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    tasks: Vec<ManifestTask>,
    #[serde(default)]
    on_error: Option<u32>,
}

#[derive(Deserialize)]
struct ManifestTask {
    name: String,
    index: u32,
    schedule: String,
    #[serde(default = "yes")]
    run_at_start: bool,
}

fn yes() -> bool {
    true
}

impl TaskSet {
    /// Loads every plugin in `paths` and collects their tasks; two tasks with one name are
    /// an error (the name is how `--run` and the log refer to a task).
    pub fn load(paths: &[PathBuf]) -> Result<TaskSet, PluginError> {
        let mut set = TaskSet::default();
        for path in paths {
            set.add(path)?;
        }
        Ok(set)
    }

    fn add(&mut self, path: &Path) -> Result<(), PluginError> {
        let (path, library, manifest) = ffi::Library::open(path)?;
        let bad = |reason: String| PluginError::BadManifest {
            path: path.clone(),
            reason,
        };
        let manifest: Manifest = parse_manifest(&path, &manifest)?;
        let plugin = self.plugins.len();
        for task in manifest.tasks {
            if let Some(first) = self.tasks.iter().find(|t| t.name == task.name) {
                return Err(bad(format!(
                    "task '{}' is also declared by '{}' (rename one of them)",
                    task.name,
                    self.plugins[first.plugin].0.display()
                )));
            }
            self.tasks.push(TaskEntry {
                name: task.name,
                schedule: task.schedule,
                run_at_start: task.run_at_start,
                plugin,
                index: task.index,
            });
        }
        if let Some(index) = manifest.on_error {
            self.hooks.push((plugin, index));
        }
        self.plugins.push((path, library));
        Ok(())
    }

    /// The tasks, in declaration order (plugin by plugin).
    pub fn tasks(&self) -> &[TaskEntry] {
        &self.tasks
    }

    /// How many plugins declare an `on_error` hook.
    pub fn hook_count(&self) -> usize {
        self.hooks.len()
    }

    /// Runs a task: `Err` carries the traceback (cause chain, or panic message, location
    /// and backtrace). Never unwinds.
    pub fn run(&self, task: &TaskEntry) -> Result<(), String> {
        let library = &self.plugins[task.plugin].1;
        outcome(library.call(task.index, "TASK", &task.name, &[], b""))
    }

    /// Runs every plugin's `on_error` hook for a failed task; one result per hook, with the
    /// hook's plugin file name.
    pub fn run_hooks(&self, task: &str, traceback: &str) -> Vec<(String, Result<(), String>)> {
        let failure = serde_json::json!({"task": task, "traceback": traceback}).to_string();
        self.hooks
            .iter()
            .map(|&(plugin, index)| {
                let (path, library) = &self.plugins[plugin];
                let name = path
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let result = library.call(index, "ON_ERROR", task, &[], failure.as_bytes());
                (name, outcome(result))
            })
            .collect()
    }
}

fn outcome(result: super::CallResult) -> Result<(), String> {
    let text = || String::from_utf8_lossy(result.body.as_slice()).into_owned();
    match result.outcome {
        abi::OUTCOME_OK => Ok(()),
        abi::OUTCOME_ERROR | abi::OUTCOME_PANIC => Err(text()),
        other => Err(format!("the plugin answered outcome {other}: {}", text())),
    }
}

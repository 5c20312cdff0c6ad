//! A product: a directory with an `apiphant.toml` and its target plugins.
//!
//! Two shapes, told apart by a `Cargo.toml` in the directory:
//! - a **source product** (a Cargo workspace): each crate under `plugins/` whose library is a
//!   `cdylib` is a plugin. The server builds them with cargo on start (unless `--no-build`)
//!   and loads them from cargo's target directory;
//! - an **installed product** (what the deploy writes): every `*.so` in `plugins/` is loaded.
//!
//! Routes are not derived from file names but declared by each plugin's `export!` line
//! (`"v0/echo" => { read }` serves `POST /api/v0/echo/read`), and checked at start-up.

use crate::config::{Config, ConfigError, CONFIG_FILE};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A product on disk with its configuration.
#[derive(Debug, Clone)]
pub struct Product {
    /// Absolute product directory.
    pub dir: PathBuf,
    /// Its `apiphant.toml`, read and checked (defaults when the file is absent).
    pub config: Config,
}

/// Why a product could not be opened.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProductError {
    /// The directory does not exist.
    NotADirectory(PathBuf),
    /// `apiphant.toml` could not be read or parsed, or a value is out of its range.
    Config(ConfigError),
    /// `cargo metadata` / `cargo build` failed.
    Build {
        /// The product directory.
        dir: PathBuf,
        /// What failed.
        reason: String,
    },
    /// No plugin was found.
    NoPlugins(PathBuf),
    /// A path dependency of the workspace is not there (the apiphant checkout a product
    /// made by `apiphant new` depends on moved).
    MissingPath {
        /// The product's Cargo.toml.
        manifest: PathBuf,
        /// The dependency's name under `[workspace.dependencies]`.
        key: String,
        /// Its path, as written.
        path: String,
    },
}

impl fmt::Display for ProductError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProductError::NotADirectory(dir) => write!(
                f,
                "product directory '{}' does not exist (pass the folder holding apiphant.toml)",
                dir.display()
            ),
            ProductError::Config(error) => error.fmt(f),
            ProductError::Build { dir, reason } => write!(
                f,
                "building the plugins of '{}' failed: {reason} (fix the build, or pass --no-build to load what is built)",
                dir.display()
            ),
            ProductError::NoPlugins(dir) => write!(
                f,
                "no plugins found for product '{}' (add a cdylib crate under plugins/, see docs/guide.md, \"Write a target\")",
                dir.display()
            ),
            ProductError::MissingPath {
                manifest,
                key,
                path,
            } => write!(
                f,
                "'{}' [workspace.dependencies] {key} = {{ path = \"{path}\" }}: that folder does not exist (the apiphant checkout moved? write its new path there; docs/getting-started.md)",
                manifest.display()
            ),
        }
    }
}

impl std::error::Error for ProductError {}

impl Product {
    /// Opens the product at `dir` and reads its `apiphant.toml`.
    pub fn open(dir: &Path) -> Result<Product, ProductError> {
        let dir = std::fs::canonicalize(dir)
            .ok()
            .filter(|dir| dir.is_dir())
            .ok_or_else(|| ProductError::NotADirectory(dir.to_path_buf()))?;
        let config = Config::load(&dir.join(CONFIG_FILE)).map_err(ProductError::Config)?;
        Ok(Product { dir, config })
    }

    /// The product's name: `name` in `apiphant.toml`, else the directory's name.
    pub fn name(&self) -> String {
        self.config.name(&self.dir)
    }

    /// Whether this is a source product (a Cargo workspace).
    pub fn is_source(&self) -> bool {
        self.dir.join("Cargo.toml").is_file()
    }

    /// The plugin files to load, building them first when `build` is set.
    pub fn plugin_files(&self, build: bool, release: bool) -> Result<Vec<PathBuf>, ProductError> {
        let files = if self.is_source() {
            self.source_plugins(build, release)?
        } else {
            self.installed_plugins()
        };
        if files.is_empty() {
            return Err(ProductError::NoPlugins(self.dir.clone()));
        }
        Ok(files)
    }

    fn installed_plugins(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.join("plugins"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "so"))
            .collect();
        files.sort();
        files
    }

    fn source_plugins(&self, build: bool, release: bool) -> Result<Vec<PathBuf>, ProductError> {
        let build_error = |reason: String| ProductError::Build {
            dir: self.dir.clone(),
            reason,
        };
        let manifest = self.dir.join("Cargo.toml");
        self.check_path_dependencies(&manifest)?;
        let metadata = metadata(&manifest).map_err(build_error)?;
        let (names, not_plugins) = plugin_crates(&metadata, &self.dir.join("plugins"));
        for (name, manifest_path) in &not_plugins {
            log::warn!(
                "crate '{name}' ({manifest_path}) is under plugins/ but is not a plugin: its library is not a cdylib, so it is not loaded and its routes are not served (add crate-type = [\"cdylib\", \"rlib\"] under [lib] in its Cargo.toml, or move it out of plugins/)"
            );
        }
        if build && !names.is_empty() {
            let mut command = Command::new(cargo());
            command.arg("build").arg("--manifest-path").arg(&manifest);
            if release {
                command.arg("--release");
            }
            for (package, _) in &names {
                command.args(["-p", package]);
            }
            log::info!("building {} plugin(s) with cargo", names.len());
            let status = command
                .status()
                .map_err(|error| build_error(format!("cannot run cargo: {error}")))?;
            if !status.success() {
                return Err(build_error(format!("cargo build exited with {status}")));
            }
        }
        let target_dir = PathBuf::from(metadata["target_directory"].as_str().unwrap_or("target"));
        let profile = if release { "release" } else { "debug" };
        Ok(names
            .into_iter()
            .map(|(_, lib)| target_dir.join(profile).join(format!("lib{lib}.so")))
            .collect())
    }
}

/// `cargo metadata --no-deps` of the workspace at `manifest`.
fn metadata(manifest: &Path) -> Result<serde_json::Value, String> {
    let output = Command::new(cargo())
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(manifest)
        .output()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("cargo metadata: {}", stderr.trim()));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|error| format!("cargo metadata output: {error}"))
}

/// The folders of the workspace members of the source product in `dir` (`--watch`).
pub fn workspace_members(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let metadata = metadata(&dir.join("Cargo.toml"))?;
    Ok(metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|package| package["manifest_path"].as_str())
        .filter_map(|manifest| Path::new(manifest).parent().map(Path::to_path_buf))
        .collect())
}

impl Product {
    /// Each `path` under the workspace's `[workspace.dependencies]` exists: one line
    /// naming the key instead of cargo's error chain when a checkout moved. An unreadable
    /// manifest is left to cargo to explain.
    fn check_path_dependencies(&self, manifest: &Path) -> Result<(), ProductError> {
        let Ok(text) = std::fs::read_to_string(manifest) else {
            return Ok(());
        };
        let Ok(table) = text.parse::<toml::Table>() else {
            return Ok(());
        };
        let dependencies = table
            .get("workspace")
            .and_then(|workspace| workspace.get("dependencies"))
            .and_then(toml::Value::as_table);
        for (key, value) in dependencies.into_iter().flatten() {
            let Some(path) = value.get("path").and_then(toml::Value::as_str) else {
                continue;
            };
            if !self.dir.join(path).is_dir() {
                return Err(ProductError::MissingPath {
                    manifest: manifest.to_path_buf(),
                    key: key.clone(),
                    path: path.to_owned(),
                });
            }
        }
        Ok(())
    }
}

/// Two names of one crate: (package name, library file stem) or (package name, manifest).
type NamePair = (String, String);

/// The crates under `plugins_dir` in `cargo metadata`'s output: the plugins (package
/// name, library file stem) and, apart, those whose library is not a `cdylib` (name,
/// manifest path). Not an error: a product may keep a shared helper library there.
fn plugin_crates(
    metadata: &serde_json::Value,
    plugins_dir: &Path,
) -> (Vec<NamePair>, Vec<NamePair>) {
    let mut plugins = Vec::new();
    let mut others = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let manifest = package["manifest_path"].as_str().unwrap_or("");
        if !Path::new(manifest).starts_with(plugins_dir) {
            continue;
        }
        let Some(package_name) = package["name"].as_str() else {
            continue;
        };
        let cdylib = package["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|target| {
                target["crate_types"]
                    .as_array()
                    .is_some_and(|types| types.iter().any(|t| t == "cdylib"))
            });
        match cdylib {
            Some(target) => {
                let lib_name = target["name"].as_str().unwrap_or(package_name);
                plugins.push((package_name.to_owned(), lib_name.replace('-', "_")));
            }
            None => others.push((package_name.to_owned(), manifest.to_owned())),
        }
    }
    (plugins, others)
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_crate_under_plugins_that_is_not_a_cdylib_is_named() {
        let metadata = json!({"packages": [
            {"name": "echo", "manifest_path": "/p/plugins/echo/Cargo.toml",
             "targets": [{"name": "echo", "crate_types": ["cdylib", "rlib"]}]},
            {"name": "helper", "manifest_path": "/p/plugins/helper/Cargo.toml",
             "targets": [{"name": "helper", "crate_types": ["lib"]}]},
            {"name": "my-app", "manifest_path": "/p/Cargo.toml",
             "targets": [{"name": "my-app", "crate_types": ["bin"]}]},
        ]});
        let (plugins, others) = plugin_crates(&metadata, Path::new("/p/plugins"));
        assert_eq!(plugins, [("echo".to_owned(), "echo".to_owned())]);
        assert_eq!(
            others,
            [(
                "helper".to_owned(),
                "/p/plugins/helper/Cargo.toml".to_owned()
            )]
        );
    }
}

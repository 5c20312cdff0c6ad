//! `apiphant.toml`, the one reader: every section typed (`server.rs`, `background.rs`,
//! `email.rs`, `auth.rs`, `cors.rs`, `admin.rs`, `database.rs`, and a free-form
//! `[plugins.<crate>]` table per plugin, its `${ENV}` expanded by `expand.rs`), every number
//! checked against its documented range (`range.rs`), the environment's overrides applied, and the
//! resolved configuration printed as JSON with its secrets masked (`mask.rs`). Both
//! binaries read the file through [`Config::load`].

mod admin;
mod auth;
mod background;
mod cors;
mod database;
mod email;
mod expand;
mod mask;
mod range;
mod server;

pub use admin::AdminConfig;
pub use auth::{glob_error, is_token_name, AuthConfig, TokenConfig};
pub use background::{default_lock_file, BackgroundConfig, TimeZone, RUN_DIR};
pub use cors::CorsConfig;
pub use database::{DatabaseConfig, DATABASE_PASSWORD_ENV};
pub use email::{EmailConfig, Tls, PASSWORD_ENV};
pub use mask::{mask_url_password, MASK};
pub use server::ServerConfig;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The product configuration file's name, at the product's root.
pub const CONFIG_FILE: &str = "apiphant.toml";

/// `apiphant.toml`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Product name (default: the directory's name).
    pub name: Option<String>,
    /// Server limits and timeouts.
    #[serde(default)]
    pub server: ServerConfig,
    /// Background worker settings (`apiphant-background`).
    #[serde(default)]
    pub background: BackgroundConfig,
    /// Error email settings (`apiphant-background`); no emails when absent.
    #[serde(default)]
    pub email: Option<EmailConfig>,
    /// The database shared by the workers of several hosts; one host as before when absent.
    #[serde(default)]
    pub database: Option<DatabaseConfig>,
    /// Who may call: tokens and their scopes; every call is open when absent.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// The browser origins that may call; no CORS headers when absent.
    #[serde(default)]
    pub cors: Option<CorsConfig>,
    /// The admin listener (`/livez`, `/readyz`, `/metrics`); none when absent.
    #[serde(default)]
    pub admin: AdminConfig,
    /// `[plugins.<crate>]`: each plugin's own table, free-form, keyed by its crate name.
    #[serde(default, skip_serializing)]
    pub plugins: BTreeMap<String, toml::Table>,
    /// The dotted keys whose value came from an environment variable.
    #[serde(skip)]
    pub from_env: Vec<String>,
}

/// Why `apiphant.toml` was refused; each is one line naming the file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file exists but cannot be read, is not TOML, or has an unknown key or a value of
    /// the wrong type.
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, on one line (`line 4: unknown field ...`).
        reason: String,
    },
    /// A value outside its documented range.
    OutOfRange {
        /// The file.
        path: PathBuf,
        /// The dotted key: `server.max_headers`.
        key: String,
        /// The value as written.
        value: String,
        /// The range: `1..=512`.
        range: String,
    },
    /// A value of the right type that cannot be right (a hash of the wrong length, an
    /// origin with a path, a scope that matches no route).
    BadValue {
        /// The file.
        path: PathBuf,
        /// The dotted key: `auth.tokens.alice.sha256`.
        key: String,
        /// What is wrong and the fix.
        reason: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Invalid { path, reason } => write!(
                f,
                "config '{}' is invalid: {} (see docs/operations.md, \"The configuration file\")",
                path.display(),
                reason.trim()
            ),
            ConfigError::OutOfRange {
                path,
                key,
                value,
                range,
            } => write!(
                f,
                "config '{}': {key} = {value} is out of range ({range})",
                path.display()
            ),
            ConfigError::BadValue { path, key, reason } => {
                write!(f, "config '{}': {key}: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// A plugin table's name: a crate name (letters, digits, `_`, `-`).
fn is_crate_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Config {
    /// Reads `path` (defaults when the file is absent), applies the process environment's
    /// overrides ([`PASSWORD_ENV`], [`DATABASE_PASSWORD_ENV`]) and checks every range.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(path, &text, |name| std::env::var(name).ok()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                Config::parse(path, "", |name| std::env::var(name).ok())
            }
            Err(error) => Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                reason: error.to_string(),
            }),
        }
    }

    /// [`Config::load`] of `text`, with `env` for the environment (`path` names the file
    /// in errors).
    pub fn parse(
        path: &Path,
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let mut config: Config =
            toml::from_str(text).map_err(|error| invalid(toml_reason(text, &error)))?;
        if let Some(name) = config.plugins.keys().find(|name| !is_crate_name(name)) {
            return Err(invalid(format!(
                "[plugins.\"{name}\"] is not a plugin crate name (letters, digits, _ and -)"
            )));
        }
        if let (Some(email), Some(password)) = (config.email.as_mut(), env(PASSWORD_ENV)) {
            email.password = Some(password);
            config.from_env.push("email.password".to_owned());
        }
        for (name, table) in &mut config.plugins {
            expand::expand_table(
                table,
                &format!("plugins.{name}"),
                &env,
                &mut config.from_env,
            )
            .map_err(&invalid)?;
        }
        if let Some(database) = config.database.as_mut() {
            if let Some(problem) = database.url_problem() {
                return Err(invalid(problem));
            }
            if let Some(password) = env(DATABASE_PASSWORD_ENV) {
                database.password = Some(password);
                config.from_env.push("database.password".to_owned());
            }
        }
        if let Some(limit) = range::first_out_of_range(config.limits()) {
            return Err(ConfigError::OutOfRange {
                path: path.to_path_buf(),
                key: limit.key.to_owned(),
                value: limit.value,
                range: limit.range,
            });
        }
        let mistake = (config.server.mistake())
            .or_else(|| config.auth.as_ref().and_then(AuthConfig::mistake))
            .or_else(|| config.cors.as_ref().and_then(CorsConfig::mistake));
        if let Some((key, reason)) = mistake {
            return Err(ConfigError::BadValue {
                path: path.to_path_buf(),
                key,
                reason,
            });
        }
        Ok(config)
    }

    /// Every number of every section with its range.
    pub(crate) fn limits(&self) -> Vec<range::Limit> {
        let mut limits = self.server.limits();
        limits.extend(self.background.limits());
        limits.extend(self.email.iter().flat_map(EmailConfig::limits));
        limits.extend(self.database.iter().flat_map(DatabaseConfig::limits));
        limits.extend(self.cors.iter().flat_map(CorsConfig::limits));
        limits
    }

    /// The product's name: `name`, else the name of `dir` (the product directory).
    pub fn name(&self, dir: &Path) -> String {
        self.name.clone().unwrap_or_else(|| {
            dir.file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_else(|| "product".to_owned())
        })
    }

    /// Each plugin's `[plugins.<crate>]` table as JSON, keyed by crate name (what the
    /// plugin's init hook receives).
    pub fn plugin_configs(&self) -> BTreeMap<String, Value> {
        self.plugins
            .iter()
            .map(|(name, table)| (name.clone(), table_json(table)))
            .collect()
    }

    /// The configuration as the binaries run with it, for the product in `dir`: every
    /// default filled in (the name, the lock file, the email port and subject prefix),
    /// secrets masked (values from the environment, secret-looking keys, URL passwords).
    pub fn resolved(&self, dir: &Path) -> Value {
        let name = self.name(dir);
        let mut value = json!({
            "file": dir.join(CONFIG_FILE).display().to_string(),
            "name": name,
            "server": self.server,
            "background": self.background,
            "email": self.email,
            "database": self.database,
            "auth": self.auth,
            "cors": self.cors,
            "admin": self.admin,
            "plugins": self.plugin_configs(),
        });
        value["background"]["lock_file"] =
            json!(self.background.lock_file(dir).display().to_string());
        if let Some(email) = &self.email {
            value["email"]["port"] = json!(email.port());
            value["email"]["subject_prefix"] = json!(email
                .subject_prefix
                .clone()
                .unwrap_or_else(|| format!("[{name}] ")));
        }
        value["from_env"] = json!(self.from_env);
        mask::mask(&mut value, &self.from_env);
        value
    }
}

/// The value at a dotted `key` of [`Config::resolved`], as a shell reads it: a string
/// bare, anything else as JSON; `None` when there is no such key.
pub fn get(resolved: &Value, key: &str) -> Option<String> {
    let mut at = resolved;
    for part in key.split('.') {
        at = at.get(part)?;
    }
    Some(match at {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    })
}

/// A TOML table as JSON: date-times as their TOML text, a NaN or infinite float as null.
fn table_json(table: &toml::Table) -> Value {
    Value::Object(
        table
            .iter()
            .map(|(key, value)| (key.clone(), toml_json(value)))
            .collect(),
    )
}

fn toml_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(text) => Value::from(text.as_str()),
        toml::Value::Integer(number) => Value::from(*number),
        toml::Value::Float(number) => {
            serde_json::Number::from_f64(*number).map_or(Value::Null, Value::Number)
        }
        toml::Value::Boolean(flag) => Value::from(*flag),
        toml::Value::Datetime(time) => Value::from(time.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(toml_json).collect()),
        toml::Value::Table(table) => table_json(table),
    }
}

/// A TOML error on one line: `line 4: unknown field ...` (toml's own text spans several
/// lines, with a drawing of the line).
fn toml_reason(text: &str, error: &toml::de::Error) -> String {
    let message = error
        .message()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    match error.span() {
        Some(span) => {
            let before = &text.as_bytes()[..span.start.min(text.len())];
            let line = before.iter().filter(|&&byte| byte == b'\n').count() + 1;
            format!("line {line}: {message}")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests;

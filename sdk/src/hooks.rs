//! A plugin's lifecycle hooks, from `export! { init = f, shutdown = g, ... }`: `init` runs
//! once after the host loaded the plugin, with the product's `[plugins.<crate>]` table as
//! a JSON object (`{}` when absent), and may refuse to start; `shutdown` runs once before
//! the host lets the plugin go. Both return `()` or `Result<(), E>` for any error `E`.
//! The init hook takes the table as `&Object`, or as any `T: Deserialize` (a settings
//! struct): a setting that does not fit refuses the start with one line naming its key.

use crate::error::Object;
use crate::task::{IntoTaskResult, TaskError, TaskResult};
use serde::de::DeserializeOwned;

/// The init hook, as the glue calls it.
pub struct Init(Box<dyn Fn(&Object) -> TaskResult + Send + Sync>);

/// The shutdown hook, as the glue calls it.
pub struct Shutdown(Box<dyn Fn() -> TaskResult + Send + Sync>);

/// What `export! { init = f }` accepts: `fn(&Object) -> R` or `fn(T) -> R` for a settings
/// type `T: Deserialize`. `M` only tells the shapes apart.
pub trait InitHook<M>: Send + Sync + 'static {
    /// Runs the hook with the plugin's table.
    fn run(&self, config: &Object) -> TaskResult;
}

/// Marker: the init hook takes the table as `&Object`.
#[derive(Debug)]
pub struct TakesTable;
/// Marker: the init hook takes a settings type.
#[derive(Debug)]
pub struct TakesSettings;

impl<F, R> InitHook<(TakesTable, R)> for F
where
    F: Fn(&Object) -> R + Send + Sync + 'static,
    R: IntoTaskResult,
{
    fn run(&self, config: &Object) -> TaskResult {
        self(config).into_task_result()
    }
}

impl<F, T, R> InitHook<(TakesSettings, T, R)> for F
where
    F: Fn(T) -> R + Send + Sync + 'static,
    T: DeserializeOwned,
    R: IntoTaskResult,
{
    fn run(&self, config: &Object) -> TaskResult {
        self(settings(config)?).into_task_result()
    }
}

/// The plugin's `[plugins.<crate>]` table as a settings type `T`; the error names the key:
/// `database_url is missing`, `pool.size is invalid: invalid type: string "x", expected u32`.
/// `init = f` does this for `fn f(settings: T)`; an init hook taking `&Object` may call it.
///
/// ```
/// use serde::Deserialize;
/// #[derive(Deserialize)]
/// struct Settings { database_url: String, #[serde(default)] pool_size: u32 }
/// let table = apiphant_sdk::json!({"pool_size": 4});
/// let table = table.as_object().cloned().unwrap_or_default();
/// let error = apiphant_sdk::settings::<Settings>(&table).err().map(|e| e.to_string());
/// assert_eq!(error.as_deref(), Some("setting database_url is missing"));
/// ```
pub fn settings<T: DeserializeOwned>(config: &Object) -> Result<T, TaskError> {
    let value = serde_json::Value::Object(config.clone());
    serde_path_to_error::deserialize(value).map_err(|error| {
        let (path, missing, message) = crate::json::describe(&error);
        let message = if missing {
            format!("setting {path} is missing")
        } else {
            format!("setting {path} is invalid: {message}")
        };
        message.into()
    })
}

impl Init {
    /// Wraps `fn init(config: &Object) -> R` or `fn init(settings: T) -> R`.
    pub fn new<M, H: InitHook<M>>(hook: H) -> Init {
        Init(Box::new(move |config| hook.run(config)))
    }

    pub(crate) fn run(&self, config: &Object) -> TaskResult {
        (self.0)(config)
    }
}

impl Shutdown {
    /// Wraps `fn shutdown() -> R`.
    pub fn new<R: IntoTaskResult + 'static>(hook: fn() -> R) -> Shutdown {
        Shutdown(Box::new(move || hook().into_task_result()))
    }

    pub(crate) fn run(&self) -> TaskResult {
        (self.0)()
    }
}

impl std::fmt::Debug for Init {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Init")
    }
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shutdown")
    }
}

//! A plugin's lifecycle hooks, from `export! { init = f, shutdown = g, ... }`: `init` runs
//! once after the host loaded the plugin, with the product's `[plugins.<crate>]` table as
//! a JSON object (`{}` when absent), and may refuse to start; `shutdown` runs once before
//! the host lets the plugin go. Both return `()` or `Result<(), E>` for any error `E`.

use crate::error::Object;
use crate::task::{IntoTaskResult, TaskResult};

/// The init hook, as the glue calls it.
pub struct Init(Box<dyn Fn(&Object) -> TaskResult + Send + Sync>);

/// The shutdown hook, as the glue calls it.
pub struct Shutdown(Box<dyn Fn() -> TaskResult + Send + Sync>);

impl Init {
    /// Wraps `fn init(config: &Object) -> R`.
    pub fn new<R: IntoTaskResult + 'static>(hook: fn(&Object) -> R) -> Init {
        Init(Box::new(move |config| hook(config).into_task_result()))
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

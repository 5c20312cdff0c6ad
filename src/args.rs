//! The command-line arguments both binaries take for a product and its plugins (the
//! product folder, `--no-build`, `--debug-plugins`, `--plugin FILE`,
//! `--allow-foreign-plugins`), flattened into
//! `apiphant`'s commands (`cli/`) and `apiphant-background`'s (`background/cli.rs`).

use crate::product::{Product, ProductError};
use std::path::PathBuf;

/// The product and its plugins, as `apiphant` and `apiphant-background` both take them.
#[derive(Debug, Clone, clap::Args)]
pub struct ProductArgs {
    /// Product directory (holds apiphant.toml, and plugins/).
    #[arg(default_value = ".")]
    pub product: PathBuf,
    /// Do not run `cargo build` for a source product's plugins; load what is built.
    #[arg(long)]
    pub no_build: bool,
    /// Build and load a source product's plugins in the debug profile (default: release).
    #[arg(long)]
    pub debug_plugins: bool,
    /// Load exactly these plugin files instead of the product's (repeatable).
    #[arg(long = "plugin", value_name = "FILE")]
    pub plugins: Vec<PathBuf>,
    /// Load plugins owned by a user other than root or this one (development only; each
    /// is logged as a warning). Without it such a plugin stops start-up.
    #[arg(long)]
    pub allow_foreign_plugins: bool,
}

impl ProductArgs {
    /// Opens the product, and finds its plugin files (building a source product's first,
    /// unless `--no-build`), or takes the `--plugin` files.
    pub fn open(&self) -> Result<(Product, Vec<PathBuf>), ProductError> {
        crate::plugin::allow_foreign_plugins(self.allow_foreign_plugins);
        let product = Product::open(&self.product)?;
        let files = if self.plugins.is_empty() {
            product.plugin_files(!self.no_build, !self.debug_plugins)?
        } else {
            self.plugins.clone()
        };
        Ok((product, files))
    }
}

/// `--print-config`: the resolved configuration as JSON, both binaries.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct PrintConfig {
    /// Print the resolved configuration (apiphant.toml, defaults filled, secrets masked)
    /// as JSON, and exit; the same as `apiphant config PRODUCT`.
    #[arg(long)]
    pub print_config: bool,
}

impl PrintConfig {
    /// Prints `product`'s resolved configuration, pretty JSON on stdout.
    pub fn print(product: &Product) {
        let resolved = product.config.resolved(&product.dir);
        println!(
            "{}",
            serde_json::to_string_pretty(&resolved).unwrap_or_else(|_| resolved.to_string())
        );
    }
}

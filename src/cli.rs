//! `apiphant PRODUCT HOST:PORT`: the command line, turned into a validated plan before
//! anything runs. User mistakes print one line, `apiphant: ...`, and exit 2.

use crate::plugin::{PluginConfigs, Registry};
use crate::product::{Product, ProductError};
use crate::server::{self, Settings};
use clap::Parser;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;

/// The `apiphant` command line: `POST /api/<version>/<t/a/r/g/e/t>/<action>` served for a product.
#[derive(Debug, Parser)]
#[command(
    name = "apiphant",
    version,
    about = "Serve a product's JSON CRUD API: POST /api/<version>/<t/a/r/g/e/t>/<action>",
    long_about = None
)]
pub struct Cli {
    /// The product and its plugins.
    #[command(flatten)]
    pub product: ProductArgs,
    /// Address to listen on (`HOST:PORT`).
    #[arg(
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:8001",
        value_parser = parse_addr,
        help = "Address to listen on; split at the last colon, so [::1]:8001 works. Port 0 picks a free port"
    )]
    pub addr: SocketAddr,
    /// Load and check the plugins, print the routes, and exit.
    #[arg(long)]
    pub check: bool,
    /// Load and check the plugins like --check, then print their files, one a line, and
    /// exit: what an install copies into PREFIX/plugins/ (deploy/deploy.sh).
    #[arg(long, conflicts_with = "check")]
    pub list_plugins: bool,
}

/// The product and its plugins, as `apiphant` and `apiphant-background` both take them.
#[derive(Debug, clap::Args)]
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
}

impl ProductArgs {
    /// Opens the product, and finds its plugin files (building a source product's first,
    /// unless `--no-build`), or takes the `--plugin` files.
    pub fn open(&self) -> Result<(Product, Vec<PathBuf>), ProductError> {
        let product = Product::open(&self.product)?;
        let files = if self.plugins.is_empty() {
            product.plugin_files(!self.no_build, !self.debug_plugins)?
        } else {
            self.plugins.clone()
        };
        Ok((product, files))
    }
}

/// Parses `HOST:PORT`, split at the last colon; `[v6]` brackets are optional.
pub fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("'{text}' is not HOST:PORT (e.g. 127.0.0.1:8001)"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("'{port}' is not a port number (0-65535)"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    (host, port)
        .to_socket_addrs()
        .map_err(|error| format!("cannot resolve host '{host}': {error}"))?
        .next()
        .ok_or_else(|| format!("host '{host}' has no address"))
}

/// Runs the server command; the exit code follows the README (0 ok, 2 start-up error).
pub fn main() -> ExitCode {
    crate::logging::init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("apiphant: {error}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let (product, files) = cli.product.open()?;
    // The `[plugins.<crate>]` tables are wired by the config reader (issue 10, item 4).
    let registry = Registry::load(&files, &PluginConfigs::new())?;
    if cli.list_plugins {
        for file in &files {
            println!("{}", file.display());
        }
        return Ok(());
    }
    if cli.check {
        for route in registry.routes() {
            println!("POST {route}");
        }
        return Ok(());
    }
    let settings = Settings::from_config(&product.config.server, cli.product.debug_plugins);
    let routes = registry.routes().len();
    let name = product.name();
    let dir = product.dir.display().to_string();
    server::run(registry, settings.clone(), cli.addr, |bound| {
        log::info!(
            "Apiphant is serving {dir} ({name}: {routes} routes) at http://{bound}/api ({} workers, {} KiB coroutine stacks)",
            settings.workers,
            settings.stack_bytes / 1024
        );
    })
    .map_err(|error| format!("cannot serve at {}: {error}", cli.addr))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_addr;

    #[test]
    fn addresses() {
        assert_eq!(
            parse_addr("127.0.0.1:8001").ok(),
            "127.0.0.1:8001".parse().ok()
        );
        assert_eq!(parse_addr("[::1]:8001").ok(), "[::1]:8001".parse().ok());
        assert_eq!(parse_addr("::1:8001").ok(), "[::1]:8001".parse().ok());
        assert!(parse_addr("127.0.0.1").is_err());
        assert!(parse_addr("127.0.0.1:99999").is_err());
    }
}

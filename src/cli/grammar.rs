//! The grammar of `apiphant`'s command line: its commands (`serve`, the default; `check`;
//! `plugins`; `config`; `openapi`; `token new`; `new`) and their arguments. A command's
//! name is never read as a product folder.

use super::new::NewArgs;
use super::token::NewToken;
use crate::args::{PrintConfig, ProductArgs};
use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

/// This release's commands: never read as a product folder (`apiphant --no-build check`
/// is not the folder `check`).
const COMMANDS: &[&str] = &[
    "serve", "check", "plugins", "config", "openapi", "token", "new", "help",
];

/// The `apiphant` command line. Without a command it serves: `apiphant [PRODUCT]
/// [HOST:PORT]` is `apiphant serve [PRODUCT] [HOST:PORT]`.
#[derive(Debug, Parser)]
#[command(
    name = "apiphant",
    version,
    about = "Serve a product's JSON CRUD API: POST /api/<version>/<t/a/r/g/e/t>/<action>",
    long_about = None,
    args_conflicts_with_subcommands = true,
    subcommand_value_name = "COMMAND",
    after_help = "Without a COMMAND, apiphant serves: `apiphant [PRODUCT] [HOST:PORT]` is `apiphant serve [PRODUCT] [HOST:PORT]`.\n\
                  A product folder named like a command is written with a path: ./config."
)]
pub struct Cli {
    /// `serve`'s arguments, when no command is named.
    #[command(flatten)]
    pub serve: Serve,
    /// The command, when one is named.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What `apiphant` does.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the product's API (the default command).
    Serve(Serve),
    /// Load and check the plugins, print the routes, and exit.
    Check(ProductArgs),
    /// Load and check the plugins like `check`, then print their files, one a line, and
    /// exit: what an install copies into PREFIX/plugins/ (deploy/deploy.sh).
    Plugins(ProductArgs),
    /// Load the plugins and print the OpenAPI 3.1 document of every route (what the server
    /// serves at GET /.well-known/openapi.json), and exit.
    Openapi(ProductArgs),
    /// Print the resolved configuration as JSON (apiphant.toml with every default filled
    /// and secrets masked), and exit. Reads no plugin.
    Config(ConfigArgs),
    /// Manage `[auth]` tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Make a new product at PATH (a Cargo workspace with an example target, a task and a
    /// functional suite), or add a target crate to one with --target ROUTE.
    New(NewArgs),
}

/// `apiphant token ...`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token: print it (once) and the line to add under [auth.tokens] in
    /// apiphant.toml, which keeps only its SHA-256. Writes no file.
    New(NewToken),
}

/// `apiphant serve`, also the arguments of a bare `apiphant`.
#[derive(Debug, Clone, clap::Args)]
pub struct Serve {
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
    /// Serve /livez, /readyz and /metrics at this address (wins over `[admin] listen`).
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_addr)]
    pub admin: Option<SocketAddr>,
    /// Development: rebuild and reload the plugins when their sources (or apiphant.toml)
    /// change, as SIGHUP does (docs/reload.md).
    #[arg(long)]
    pub watch: bool,
    /// The same as `apiphant check`.
    #[arg(long)]
    pub check: bool,
    /// The same as `apiphant plugins`.
    #[arg(long, conflicts_with = "check")]
    pub list_plugins: bool,
    /// The same as `apiphant openapi`.
    #[arg(long, conflicts_with_all = ["check", "list_plugins"])]
    pub openapi: bool,
    /// `--print-config`.
    #[command(flatten)]
    pub print_config: PrintConfig,
    /// Developer mode, never for production: the 500 of a panic or a non-object result
    /// says why in its body ("detail": the panic's message and location, or the value).
    #[arg(long)]
    pub dev: bool,
}

/// `apiphant config`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// Product directory (holds apiphant.toml).
    #[arg(default_value = ".")]
    pub product: PathBuf,
    /// Print only this value, by its dotted key (`server.max_body_bytes`): a string bare,
    /// anything else as JSON. Repeatable: one value a line.
    #[arg(long, value_name = "KEY")]
    pub get: Vec<String>,
}

/// What the command line asks for, once parsed and checked.
#[derive(Debug)]
pub enum Plan {
    /// Serve (`--check`, `--list-plugins` and `--print-config` already turned into their
    /// commands).
    Serve(Serve),
    /// `check`.
    Check(ProductArgs),
    /// `plugins`.
    Plugins(ProductArgs),
    /// `config`.
    Config(ConfigArgs),
    /// `openapi`.
    Openapi(ProductArgs),
    /// `token new`.
    Token(NewToken),
    /// `new`.
    New(NewArgs),
}

/// Why a command line is refused.
#[derive(Debug)]
pub enum Refused {
    /// Clap's own answer: a usage error, or `--help` / `--version` (printed by `exit`).
    Clap(clap::Error),
    /// A command's name where a product folder was expected.
    Reserved(String),
}

/// Parses `args` (the program name first).
pub fn parse<I, T>(args: I) -> Result<Plan, Refused>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cli = Cli::try_parse_from(args).map_err(Refused::Clap)?;
    let plan = match cli.command {
        None => Plan::Serve(cli.serve).with_serve_aliases(),
        Some(Command::Serve(serve)) => Plan::Serve(serve).with_serve_aliases(),
        Some(Command::Check(product)) => Plan::Check(product),
        Some(Command::Plugins(product)) => Plan::Plugins(product),
        Some(Command::Config(config)) => Plan::Config(config),
        Some(Command::Openapi(product)) => Plan::Openapi(product),
        Some(Command::Token(TokenCommand::New(token))) => Plan::Token(token),
        Some(Command::New(new)) => Plan::New(new),
    };
    if let Some(product) = plan.product() {
        not_a_command(product.as_os_str())?;
    }
    Ok(plan)
}

impl Plan {
    /// `apiphant serve --check` is `apiphant check` (and so on), as without `serve`.
    fn with_serve_aliases(self) -> Plan {
        match self {
            Plan::Serve(serve) if serve.check => Plan::Check(serve.product),
            Plan::Serve(serve) if serve.list_plugins => Plan::Plugins(serve.product),
            Plan::Serve(serve) if serve.openapi => Plan::Openapi(serve.product),
            Plan::Serve(serve) if serve.print_config.print_config => Plan::Config(ConfigArgs {
                product: serve.product.product,
                get: Vec::new(),
            }),
            plan => plan,
        }
    }

    /// The product folder the command reads (`token new` reads none, `new` makes one).
    pub fn product(&self) -> Option<&std::path::Path> {
        match self {
            Plan::Serve(serve) => Some(&serve.product.product),
            Plan::Check(product) | Plan::Plugins(product) | Plan::Openapi(product) => {
                Some(&product.product)
            }
            Plan::Config(config) => Some(&config.product),
            Plan::Token(_) | Plan::New(_) => None,
        }
    }
}

/// Refuses a command name where a product folder is read.
fn not_a_command(folder: &std::ffi::OsStr) -> Result<(), Refused> {
    if let Some(name) = COMMANDS.iter().find(|name| folder == **name) {
        return Err(Refused::Reserved(format!(
            "'{name}' is a command, not a product folder: write it first (apiphant {name} ...); to serve a folder named {name}, write ./{name}"
        )));
    }
    Ok(())
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

#[cfg(test)]
mod tests;

//! `apiphant [COMMAND] ...`: the command line (`grammar.rs`), turned into a validated plan
//! before anything runs, and each command run. User mistakes print one line,
//! `apiphant: ...`, and exit 2.

pub mod grammar;
pub mod new;
pub mod token;

pub use grammar::{parse_addr, Plan, Refused};

use crate::args::PrintConfig;
use crate::auth::Auth;
use crate::config::{self, CONFIG_FILE};
use crate::cors::Cors;
use crate::plugin::Registry;
use crate::product::Product;
use crate::server::{self, Settings};
use grammar::{ConfigArgs, Serve};
use std::process::ExitCode;

type Error = Box<dyn std::error::Error>;

/// Runs the server command; the exit code follows docs/operations.md (0 ok, 1 requests left
/// unanswered at the end of the shutdown grace period, 2 start-up error).
pub fn main() -> ExitCode {
    crate::logging::init();
    let plan = match grammar::parse(std::env::args_os()) {
        Ok(plan) => plan,
        Err(Refused::Clap(error)) => error.exit(),
        Err(Refused::Reserved(why)) => {
            eprintln!("apiphant: {why}");
            return ExitCode::from(2);
        }
    };
    match run(plan) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("apiphant: {error}");
            ExitCode::from(2)
        }
    }
}

fn run(plan: Plan) -> Result<ExitCode, Error> {
    match plan {
        Plan::Serve(serve) => run_serve(serve),
        Plan::Check(args) => {
            let (product, files) = args.open()?;
            let registry = Registry::load(&files, &product.config.plugin_configs())?;
            access(&product, &registry)?;
            registry.openapi(&product.name())?;
            for route in registry.routes() {
                println!("POST {route}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Plan::Plugins(args) => {
            let (product, files) = args.open()?;
            Registry::load(&files, &product.config.plugin_configs())?;
            for file in &files {
                println!("{}", file.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Plan::Config(args) => run_config(&args).map(|()| ExitCode::SUCCESS),
        Plan::Openapi(args) => {
            let (product, files) = args.open()?;
            let registry = Registry::load(&files, &product.config.plugin_configs())?;
            let document = registry.openapi(&product.name())?;
            println!("{}", serde_json::to_string_pretty(&document)?);
            Ok(ExitCode::SUCCESS)
        }
        Plan::Token(args) => {
            println!("{}", token::run_new(&args)?);
            Ok(ExitCode::SUCCESS)
        }
        Plan::New(args) => {
            println!("{}", new::run(&args)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `[auth]` checked against the loaded routes, and `[cors]`, for the life of the process
/// (leaked; a reload makes its own: `crate::reload`).
pub(crate) fn access(
    product: &Product,
    registry: &Registry,
) -> Result<(Option<&'static Auth>, Option<&'static Cors>), Error> {
    let file = product.dir.join(CONFIG_FILE);
    let auth = match &product.config.auth {
        Some(config) => Some(&*Box::leak(Box::new(Auth::new(config, registry, &file)?))),
        None => None,
    };
    let cors =
        (product.config.cors.as_ref()).map(|config| &*Box::leak(Box::new(Cors::new(config))));
    Ok((auth, cors))
}

/// `apiphant config`: the whole resolved configuration, or the `--get` values.
fn run_config(args: &ConfigArgs) -> Result<(), Error> {
    let product = Product::open(&args.product)?;
    if args.get.is_empty() {
        PrintConfig::print(&product);
        return Ok(());
    }
    let resolved = product.config.resolved(&product.dir);
    let mut values = Vec::new();
    for key in &args.get {
        values.push(config::get(&resolved, key).ok_or_else(|| {
            format!(
                "config '{}' has no key '{key}' (keys are dotted: server.max_body_bytes; `apiphant config` prints them all)",
                product.dir.join(CONFIG_FILE).display()
            )
        })?);
    }
    println!("{}", values.join("\n"));
    Ok(())
}

/// Above this many routes the start-up log counts them instead of listing them.
const LISTED_ROUTES: usize = 50;

/// The start-up log's lines about the routes: each route and its actions, or, above
/// [`LISTED_ROUTES`], their count and the command that lists them.
fn route_log(routes: Vec<String>, product: &std::path::Path) -> Vec<String> {
    if routes.len() > LISTED_ROUTES {
        return vec![format!(
            "{} routes (more than {LISTED_ROUTES}: `apiphant check {}` lists them)",
            routes.len(),
            product.display()
        )];
    }
    routes
        .into_iter()
        .map(|line| format!("route {line}"))
        .collect()
}

/// Serves until stopped: exit 0 when every request read was answered, 1 when the grace
/// period ended first (the server's last log line says how many were not).
fn run_serve(serve: Serve) -> Result<ExitCode, Error> {
    // A SIGHUP during start-up (the files are being read anyway) must not end the process
    // (its default action): caught from here on, reloads once the server serves.
    let _ = signal_hook::flag::register(
        signal_hook::consts::SIGHUP,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
    );
    let (product, files) = serve.product.open()?;
    let configs = product.config.plugin_configs();
    let mut registry = Registry::load_copies(&files, &configs, &crate::reload::copies(0))?;
    registry.build_openapi(&product.name())?;
    let mut settings = Settings::from_config(&product.config.server, serve.product.debug_plugins);
    (settings.auth, settings.cors) = access(&product, &registry)?;
    settings.admin = serve.admin.or(product.config.admin.listen);
    crate::dispatch::developer_mode(serve.dev);
    let routes = registry.routes().len();
    // Logged once the address is bound: a start-up failure stays one line.
    let route_lines = route_log(registry.route_actions(), &serve.product.product);
    let name = product.name();
    let dir = product.dir.display().to_string();
    let reloader = crate::reload::reloader(serve.product.clone(), &product);
    let watch = serve.watch.then_some(&product);
    let stopped = server::run(registry, settings.clone(), serve.addr, |bound| {
        log::info!(
            "Apiphant is serving {dir} ({name}: {routes} routes) at http://{bound}/api ({} workers, {} KiB coroutine stacks); SIGHUP reloads",
            settings.workers,
            settings.stack_bytes / 1024
        );
        for line in &route_lines {
            log::info!("{line}");
        }
        if serve.dev {
            log::warn!("developer mode (--dev): the 500 of a plugin fault says why in its body; never serve clients with it");
        }
        // After the SIGHUP handler is in place (the server's), never before.
        if let Some(product) = watch {
            if let Err(error) = crate::reload::watch(product) {
                log::error!("--watch: cannot start watching: {error}");
            }
        }
    }, Some(reloader))
    .map_err(|error| format!("cannot serve at {}: {error}", serve.addr))?;
    Ok(match stopped {
        server::Stopped::Drained => ExitCode::SUCCESS,
        server::Stopped::Unanswered(_) => ExitCode::FAILURE,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_up_log_lists_routes_up_to_a_threshold() {
        let routes = |n: usize| (0..n).map(|i| format!("v0/t{i}: read")).collect();
        let listed = route_log(routes(LISTED_ROUTES), std::path::Path::new("."));
        assert_eq!(listed.len(), LISTED_ROUTES);
        assert_eq!(listed[0], "route v0/t0: read");
        let counted = route_log(routes(LISTED_ROUTES + 1), std::path::Path::new("shop"));
        assert_eq!(
            counted,
            ["51 routes (more than 50: `apiphant check shop` lists them)"]
        );
    }
}

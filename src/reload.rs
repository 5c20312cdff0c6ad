//! Reloading a running server (docs/reload.md): on SIGHUP the product is opened again (its
//! `apiphant.toml` re-read, a source product's plugins built as at start-up), its plugins
//! are loaded from per-generation copies beside the running ones and their init hooks
//! run; the server then swaps the new generation in (`crate::server`). What cannot change
//! in a running process (the `[server]` limits, the workers, the admin listener) is named
//! by one warning line per key. `--watch` (development) polls the product's sources and
//! raises SIGHUP when they change.

use crate::args::ProductArgs;
use crate::auth::Auth;
use crate::cors::Cors;
use crate::plugin::Registry;
use crate::product::Product;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What a generation is made of, apart from the server's counters.
#[derive(Debug)]
pub struct Next {
    /// The loaded plugins (init hooks run) and their routes.
    pub registry: Registry,
    /// `[auth]`, checked against the routes.
    pub auth: Option<&'static Auth>,
    /// `[cors]`.
    pub cors: Option<&'static Cors>,
    /// `[server] blocking_warn_ms` (zero: the watchdog is off).
    pub blocking_warn: Duration,
    /// `[server] auto_offload`.
    pub auto_offload: bool,
}

/// Makes the next generation's parts, or says in one line why it cannot.
pub type Reloader = Box<dyn FnMut() -> Result<Next, String> + Send>;

/// The `[server]` keys that change live (the watchdog is per generation); every other `[server]` and `[admin]` key needs a
/// restart.
const LIVE_SERVER_KEYS: [&str; 2] = ["blocking_warn_ms", "auto_offload"];

/// The reloader of the product `args` name, started with `started`'s configuration: each
/// call opens the product again (building a source product's plugins unless `--no-build`,
/// or taking the `--plugin` files again) and loads each plugin from a copy of its own
/// (the loader would hand back the library already loaded from a path it has seen).
pub fn reloader(args: ProductArgs, started: &Product) -> Reloader {
    let running = started.config.resolved(&started.dir);
    let mut number = 0u64;
    Box::new(move || {
        number += 1;
        let (product, files) = args.open().map_err(|error| error.to_string())?;
        let configs = product.config.plugin_configs();
        let mut registry = Registry::load_copies(&files, &configs, &copies(number))?;
        registry
            .build_openapi(&product.name())
            .map_err(|error| error.to_string())?;
        let (auth, cors) =
            crate::cli::access(&product, &registry).map_err(|error| error.to_string())?;
        for line in needs_restart(&running, &product.config.resolved(&product.dir)) {
            log::warn!("{line}");
        }
        Ok(Next {
            registry,
            auth,
            cors,
            blocking_warn: Duration::from_millis(product.config.server.blocking_warn_ms),
            auto_offload: product.config.server.auto_offload,
        })
    })
}

/// The new folder generation `number`'s plugin copies are loaded from (removed once they
/// are loaded): under the temporary folder (`TMPDIR`), per process. Generation 0 is loaded
/// from copies too, so a plugin file overwritten in place (not renamed over) never changes
/// the code that runs.
pub fn copies(number: u64) -> PathBuf {
    std::env::temp_dir()
        .join(format!("apiphant-{}-plugins", std::process::id()))
        .join(number.to_string())
}

/// One line per `[server]` / `[admin]` key whose value in `new` is not the running one.
fn needs_restart(running: &Value, new: &Value) -> Vec<String> {
    let file = new["file"].as_str().unwrap_or("apiphant.toml");
    let mut lines = Vec::new();
    for section in ["server", "admin"] {
        let (Some(old), Some(now)) = (running[section].as_object(), new[section].as_object())
        else {
            continue;
        };
        let keys = old
            .keys()
            .chain(now.keys().filter(|key| !old.contains_key(*key)));
        for key in keys {
            if section == "server" && LIVE_SERVER_KEYS.contains(&key.as_str()) {
                continue;
            }
            let (was, is) = (&old.get(key), &now.get(key));
            if was != is {
                let show =
                    |value: &Option<&Value>| value.map_or("(none)".to_owned(), Value::to_string);
                lines.push(format!(
                    "{file}: {section}.{key} changed from {} to {}: this key needs a restart (the running process keeps {})",
                    show(was),
                    show(is),
                    show(was)
                ));
            }
        }
    }
    lines
}

/// How often `--watch` looks at the sources.
const POLL: Duration = Duration::from_millis(400);

/// `--watch`: a thread that polls the product's sources (a source product: `Cargo.toml`
/// and `src/` of each workspace member, and `apiphant.toml`; an installed one: `plugins/`
/// and `apiphant.toml`) and raises SIGHUP once a change has settled (two polls alike), so
/// the reload builds and swaps as the signal does. A plain modification-time poll: the
/// watched files are tens to hundreds, a poll costs well under a millisecond, and it works
/// where file events do not (network and bind-mounted folders), with no dependency.
pub fn watch(product: &Product) -> std::io::Result<()> {
    let dir = product.dir.clone();
    let source = product.is_source();
    std::thread::Builder::new()
        .name("watch".to_owned())
        .spawn(move || {
            let roots = roots(&dir, source);
            let mut seen = fingerprint(&roots);
            log::info!(
                "--watch: watching {} file(s) of {} for changes (a change rebuilds and reloads)",
                seen.len(),
                dir.display()
            );
            loop {
                std::thread::sleep(POLL);
                let now = fingerprint(&roots);
                if now == seen {
                    continue;
                }
                // Let an editor or a `git checkout` finish writing.
                let mut settled = now;
                loop {
                    std::thread::sleep(POLL);
                    let again = fingerprint(&roots);
                    if again == settled {
                        break;
                    }
                    settled = again;
                }
                seen = settled;
                log::info!("--watch: the sources changed");
                if let Err(error) = signal_hook::low_level::raise(signal_hook::consts::SIGHUP) {
                    log::error!("--watch: cannot raise SIGHUP: {error}");
                }
            }
        })
        .map(drop)
}

/// The files and folders `--watch` looks at.
fn roots(dir: &Path, source: bool) -> Vec<PathBuf> {
    let mut roots = vec![dir.join(crate::config::CONFIG_FILE)];
    if !source {
        roots.push(dir.join("plugins"));
        return roots;
    }
    roots.push(dir.join("Cargo.toml"));
    let members = crate::product::workspace_members(dir).unwrap_or_else(|why| {
        log::warn!("--watch: {why}: watching plugins/ only");
        vec![dir.join("plugins")]
    });
    for member in members {
        roots.push(member.join("Cargo.toml"));
        roots.push(member.join("src"));
    }
    roots
}

/// Each file under `roots` (recursively; `target` and hidden folders skipped) with its
/// modification time and length, sorted.
fn fingerprint(roots: &[PathBuf]) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    let mut files = Vec::new();
    let mut stack: Vec<PathBuf> = roots.to_vec();
    while let Some(path) = stack.pop() {
        let Ok(metadata) = std::fs::metadata(&path) else {
            continue;
        };
        if metadata.is_dir() {
            let hidden = path
                .file_name()
                .is_some_and(|name| name == "target" || name.to_string_lossy().starts_with('.'));
            if !hidden {
                let entries = std::fs::read_dir(&path).into_iter().flatten().flatten();
                stack.extend(entries.map(|entry| entry.path()));
            }
        } else {
            files.push((path, metadata.modified().ok(), metadata.len()));
        }
    }
    files.sort();
    files.dedup();
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_changed_server_key_needs_a_restart_but_blocking_warn_ms_does_not() {
        let running = json!({"file": "/p/apiphant.toml",
            "server": {"workers": 2, "blocking_warn_ms": 10}, "admin": {"listen": null}});
        let same = needs_restart(&running, &running);
        assert!(same.is_empty(), "{same:?}");
        let new = json!({"file": "/p/apiphant.toml",
            "server": {"workers": 4, "blocking_warn_ms": 50}, "admin": {"listen": "127.0.0.1:9000"}});
        let lines = needs_restart(&running, &new);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with(
            "/p/apiphant.toml: server.workers changed from 2 to 4: this key needs a restart"
        ));
        assert!(lines[1].contains("admin.listen changed from null to \"127.0.0.1:9000\""));
    }
}

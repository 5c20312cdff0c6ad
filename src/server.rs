//! The server: worker threads, the accept loop, and graceful shutdown.
//!
//! `may` runs one worker thread per core (configurable); each connection is a coroutine
//! with an explicit stack (docs/operations.md, "Limits and timeouts": plugin calls run on it). On
//! SIGTERM / SIGINT the listener closes, idle connections close within a second, every
//! request already read is answered (with `Connection: close`), then the process exits 0;
//! when the grace period ends first, it exits 1 and says how many requests went unanswered.
//! On SIGHUP the product's plugins and configuration are reloaded beside the running ones
//! (`crate::generation`, `crate::reload`; docs/reload.md): the listener stays open.

use crate::admin::Api;
use crate::app::Application;
use crate::auth::Auth;
use crate::config::ServerConfig;
use crate::cors::Cors;
use crate::fd_limit::FdLimit;
use crate::generation::{Current, Generation};
use crate::http::{self, Limits};
use crate::metrics::Metrics;
use crate::plugin::Registry;
use crate::reload::{Next, Reloader};
use crate::watchdog::Watchdog;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

/// Shared by every connection; lives for the whole process.
#[derive(Debug)]
struct Server {
    /// What the connection loops call: the plugins.
    app: Application,
    /// What the connection loops share: limits, deadlines, the shutdown state.
    http: http::Shared,
    connections: AtomicUsize,
}

/// Settings the server runs with, from `apiphant.toml` `[server]` (and `[auth]`, `[cors]`).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Limits and timeouts of the connection loop.
    pub limits: Limits,
    /// Worker threads.
    pub workers: usize,
    /// Coroutine stack size in bytes.
    pub stack_bytes: usize,
    /// Grace period for in-flight requests on shutdown.
    pub shutdown_grace: Duration,
    /// Threads of the blocking pool.
    pub blocking_threads: usize,
    /// `[auth]`, checked against the routes ([`Auth::new`]); every call is open when `None`.
    pub auth: Option<&'static Auth>,
    /// `[cors]`; no CORS headers when `None`.
    pub cors: Option<&'static Cors>,
    /// The admin listener's address (`--admin`, `[admin] listen`); none when `None`.
    pub admin: Option<SocketAddr>,
    /// Deadline of a blocking action without its own.
    pub action_timeout: Duration,
    /// The watchdog's threshold for actions not marked blocking (zero: off).
    pub blocking_warn: Duration,
    /// Whether the watchdog moves an action it keeps catching to the blocking pool.
    pub auto_offload: bool,
    /// The job store's threads, when an action is asynchronous (`crate::jobs`).
    pub jobs: Option<&'static crate::jobs::Front>,
}

impl Settings {
    /// From the product's `[server]` section; `debug_plugins` picks the automatic stack size.
    pub fn from_config(config: &ServerConfig, debug_plugins: bool) -> Settings {
        let secs = |s: f64| Duration::from_secs_f64(s.clamp(0.001, 86_400.0));
        let workers = if config.workers == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            config.workers
        };
        Settings {
            limits: Limits {
                max_headers: config.max_headers.clamp(1, http::head::MAX_HEADERS_CAP),
                max_header_bytes: config.max_header_bytes.max(64),
                max_body_bytes: config.max_body_bytes as u64,
                memory_budget_bytes: config.memory_budget(crate::memory::total()),
                header_timeout: secs(config.header_timeout_secs),
                body_timeout: secs(config.body_timeout_secs),
                idle_timeout: secs(config.idle_timeout_secs),
            },
            workers,
            stack_bytes: stack_kib(config.stack_kib, debug_plugins) * 1024,
            shutdown_grace: secs(config.shutdown_grace_secs),
            blocking_threads: config.blocking_threads.clamp(1, 4096),
            auth: None,
            cors: None,
            admin: None,
            action_timeout: secs(config.action_timeout_secs),
            blocking_warn: Duration::from_millis(config.blocking_warn_ms),
            auto_offload: config.auto_offload,
            jobs: None,
        }
    }
}

/// Coroutine stack in KiB. Measured need of the deepest JSON serde_json accepts (128
/// levels, echo target): ~80 KiB with release-built plugins, ~400 KiB with debug-built
/// ones; the defaults leave the rest of the stack to the action's own code.
fn stack_kib(configured: usize, debug_plugins: bool) -> usize {
    match configured {
        0 if debug_plugins => 1024,
        0 => 256,
        kib => kib.clamp(64, 64 * 1024),
    }
}

/// How a server stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Stopped {
    /// Every request read was answered.
    Drained,
    /// The grace period ended with this many requests read and not answered.
    Unanswered(usize),
}

/// Binds `addr`, serves until SIGTERM / SIGINT, drains, and returns how it stopped. On
/// SIGHUP, `reloader` (if any) makes the next plugin generation, which then serves new
/// requests; when it fails, the serving one goes on and one line says why.
pub fn run(
    registry: Registry,
    settings: Settings,
    addr: SocketAddr,
    on_listening: impl FnOnce(SocketAddr),
    reloader: Option<Reloader>,
) -> io::Result<Stopped> {
    // Each connection is an fd: raise the soft limit to the hard one (a 1024 soft limit
    // would refuse the 1025th client). docs/operations.md, "Limits and timeouts".
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => log::debug!("open file limit: {limit}"),
        Err(error) => log::warn!("cannot raise the open file limit: {error}"),
    }
    crate::memory::tune();
    crate::call_stack::enable(settings.stack_bytes);
    may::config()
        .set_workers(settings.workers)
        .set_stack_size(settings.stack_bytes / std::mem::size_of::<usize>());
    let blocking = crate::blocking::Pool::new(
        settings.blocking_threads,
        settings.blocking_threads * 64,
        settings.action_timeout,
    )?;
    let metrics: Option<&'static Metrics> = settings
        .admin
        .map(|_| &*Box::leak(Box::new(Metrics::new(blocking.stats()))));
    let first = Next {
        registry,
        auth: settings.auth,
        cors: settings.cors,
        blocking_warn: settings.blocking_warn,
        auto_offload: settings.auto_offload,
    };
    let current = Current::new(generation(0, first, metrics))?;
    let server: &'static Server = Box::leak(Box::new(Server {
        app: Application::new(current, blocking).with_jobs(settings.jobs),
        http: http::Shared::start(settings.limits.clone())?,
        connections: AtomicUsize::new(0),
    }));
    // The serving plugins' shutdown hooks run when this goes out of scope: after the
    // drain, or on any start-up error below; forgotten if requests are still running at
    // the end.
    let stop_plugins = StopPlugins(&server.app);
    // may binds with SO_REUSEPORT, so a second server on a busy address would silently take
    // a share of its connections: bind once without it first, and a busy address is an error.
    if addr.port() != 0 {
        drop(std::net::TcpListener::bind(addr).map_err(bind_error)?);
    }
    let listener = may::net::TcpListener::bind(addr).map_err(bind_error)?;
    let bound = listener.local_addr()?;
    let signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ])?;
    let reload = start_reloads(reloader, &server.app, metrics)?;
    let stack = settings.stack_bytes;
    // The address of the connection that wakes the accept loop on shutdown (None: the
    // wake-up connect failed). Connections queued before it are still served.
    let wake: &'static OnceLock<Option<SocketAddr>> = Box::leak(Box::new(OnceLock::new()));
    // Its reserve descriptor is open before the server says it serves.
    let mut fd_limit = FdLimit::new();
    crate::coroutine::spawn("accept", stack, move || {
        for stream in listener.incoming() {
            match stream {
                Ok(stream) => {
                    fd_limit.accepted();
                    let peer = stream.peer_addr().ok();
                    server.connections.fetch_add(1, Ordering::Relaxed);
                    let spawned = crate::coroutine::spawn("connection", stack, move || {
                        http::serve(stream, &server.app, &server.http);
                        server.connections.fetch_sub(1, Ordering::Relaxed);
                    });
                    if let Err(error) = spawned {
                        server.connections.fetch_sub(1, Ordering::Relaxed);
                        log::error!("cannot start a connection coroutine: {error}");
                    }
                    if server.http.is_shutting_down() && is_wake_up(wake, peer) {
                        break;
                    }
                }
                // Out of fds, or a connection reset before accept: keep accepting.
                Err(error) => {
                    if server.http.is_shutting_down() && is_wake_up(wake, None) {
                        break;
                    }
                    let pause = if FdLimit::is_limit(&error) {
                        fd_limit.at_limit(&error, listener.inner(), || server.http.shed_idle())
                    } else {
                        log::warn!("accept failed: {error}");
                        Duration::from_millis(10)
                    };
                    may::coroutine::sleep(pause);
                }
            }
        }
        drop(listener);
        log::info!("listener closed");
    })?;
    if let (Some(addr), Some(_)) = (settings.admin, metrics) {
        let api = Box::leak(Box::new(Api {
            app: &server.app,
            api: &server.http,
            connections: &server.connections,
        }));
        crate::admin::listen(api, addr, settings.limits.clone(), settings.stack_bytes)?;
    }
    on_listening(bound);
    let mut signals = signals;
    let signal = signals.forever().find(|&signal| {
        if signal != signal_hook::consts::SIGHUP {
            return true;
        }
        match &reload {
            // A reload already asked for and not started takes this one in.
            Some(reload) => drop(reload.try_send(())),
            None => log::warn!("SIGHUP received: nothing to reload"),
        }
        false
    });
    log::info!(
        "signal {} received: stopping (grace period {:.1} s)",
        signal.unwrap_or(0),
        settings.shutdown_grace.as_secs_f64()
    );
    server.http.shut_down();
    // Wake the accept loop: it serves every connection queued before this one (the
    // kernel completed their handshake: their clients believe they are connected), then
    // drops the listener (later connections are refused).
    let waker = std::net::TcpStream::connect_timeout(&bound, Duration::from_millis(500));
    let _ = wake.set(
        waker
            .as_ref()
            .ok()
            .and_then(|stream| stream.local_addr().ok()),
    );
    drop(waker);
    let deadline = Instant::now() + settings.shutdown_grace;
    while Instant::now() < deadline {
        let busy = server.http.in_flight();
        let open = server.connections.load(Ordering::SeqCst);
        if busy == 0 && open == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let busy = server.http.in_flight();
    if busy > 0 {
        log::error!(
            "grace period of {:.1} s over with {busy} request(s) unanswered: stopping anyway, exit status 1 (plugin shutdown hooks not run)",
            settings.shutdown_grace.as_secs_f64()
        );
        std::mem::forget(stop_plugins);
        return Ok(Stopped::Unanswered(busy));
    }
    drop(stop_plugins);
    log::info!("stopped");
    Ok(Stopped::Drained)
}

/// Runs the serving generation's shutdown hooks when dropped.
struct StopPlugins(&'static Application);

impl Drop for StopPlugins {
    fn drop(&mut self) {
        self.0.current().get().registry.shutdown();
    }
}

/// Generation `number` from `next`'s parts, with its view of the `metrics` and its
/// watchdog.
fn generation(number: u64, next: Next, metrics: Option<&'static Metrics>) -> Generation {
    Generation {
        number,
        watchdog: Watchdog::new(&next.registry, next.blocking_warn, next.auto_offload),
        metrics: metrics.map(|metrics| metrics.for_routes(&next.registry)),
        registry: next.registry,
        auth: next.auth,
        cors: next.cors,
    }
}
/// Starts the thread that runs reloads one at a time, if there is a `reloader`; a send to
/// the returned channel asks for one (a full channel: one is asked for already).
fn start_reloads(
    reloader: Option<Reloader>,
    app: &'static Application,
    metrics: Option<&'static Metrics>,
) -> io::Result<Option<mpsc::SyncSender<()>>> {
    let Some(mut reloader) = reloader else {
        return Ok(None);
    };
    let (ask, asked) = mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("reload".to_owned())
        .spawn(move || {
            let mut number = 0;
            for () in asked {
                let serving = app.current().get().number;
                log::info!("reloading the product's plugins and apiphant.toml (generation {serving} serves meanwhile)");
                match reloader() {
                    Ok(next) => {
                        number += 1;
                        let routes = next.registry.routes().len();
                        let plugins = next.registry.plugin_paths().count();
                        app.current().replace(generation(number, next, metrics));
                        log::info!(
                            "reloaded: generation {number} serves new requests ({plugins} plugin(s), {routes} routes); generation {serving} finishes the requests it has"
                        );
                    }
                    Err(why) => log::error!(
                        "reload failed, generation {serving} keeps serving: {why}"
                    ),
                }
            }
        })?;
    Ok(Some(ask))
}

/// A bind error with the fix for the common ones.
pub(crate) fn bind_error(error: io::Error) -> io::Error {
    let hint = match error.kind() {
        io::ErrorKind::AddrInUse => {
            "the address is in use by another process: stop it, or give another HOST:PORT"
        }
        io::ErrorKind::PermissionDenied => {
            "permission denied: ports below 1024 need root (or CAP_NET_BIND_SERVICE); give a port above 1023"
        }
        io::ErrorKind::AddrNotAvailable => {
            "no such address on this machine: give one of its own (127.0.0.1, 0.0.0.0, ...)"
        }
        _ => return error,
    };
    io::Error::new(error.kind(), hint)
}

/// During a shutdown, whether the accept loop reached the wake-up connection (or the
/// wake-up failed, or an accept failed: stop accepting either way). Waits, bounded, for
/// the signal thread to publish the wake-up address.
fn is_wake_up(wake: &OnceLock<Option<SocketAddr>>, peer: Option<SocketAddr>) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if let Some(waker) = wake.get() {
            return peer.is_none() || waker.is_none() || *waker == peer;
        }
        if Instant::now() >= deadline {
            return true;
        }
        may::coroutine::sleep(Duration::from_millis(1));
    }
}

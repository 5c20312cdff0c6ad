//! Plugin generations: what a reload swaps. A generation is the loaded plugins with their
//! routes and everything derived from `apiphant.toml` that a request reads (tokens, CORS,
//! the watchdog's threshold, the metrics' view of the routes). The serving generation is an
//! `Arc` swapped atomically ([`Current`]): a request takes the generation serving when its
//! head is routed and keeps it until its answer is written, so a running call finishes on
//! the code it started on. A replaced generation goes to the reaper, which drops it once
//! its last request is done: the plugins' shutdown hooks run, then they are unloaded.
//! docs/reload.md.

use crate::auth::Auth;
use crate::cors::Cors;
use crate::metrics::RouteMetrics;
use crate::plugin::Registry;
use crate::watchdog::Watchdog;
use arc_swap::ArcSwap;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

/// One set of loaded plugins and the configuration they serve with.
#[derive(Debug)]
pub(crate) struct Generation {
    /// 0 at start-up, then one more each reload.
    pub(crate) number: u64,
    /// The plugins and the route table. Dropped last of all but the watchdog and metrics:
    /// its plugins' shutdown hooks run on drop.
    pub(crate) registry: Registry,
    /// `[auth]`, checked against these routes; every call is open when `None`. Leaked:
    /// token names are handed out as `&'static str` (a few bytes per token per reload).
    pub(crate) auth: Option<&'static Auth>,
    /// `[cors]`; no CORS headers when `None`. Leaked likewise (its header lines).
    pub(crate) cors: Option<&'static Cors>,
    /// Counted only when the admin listener serves them.
    pub(crate) metrics: Option<RouteMetrics>,
    /// Names the actions not marked blocking that hold their worker (`blocking_warn_ms`).
    pub(crate) watchdog: Option<Watchdog>,
}

/// The generation serving new requests, swapped by a reload without a lock on the request
/// path (a load is one reference count increment).
#[derive(Debug)]
pub(crate) struct Current {
    serving: ArcSwap<Generation>,
    /// Replaced generations, to the reaper.
    retired: std::sync::Mutex<mpsc::Sender<Arc<Generation>>>,
}

impl Current {
    /// Serves `first`; starts the reaper thread.
    pub(crate) fn new(first: Generation) -> std::io::Result<Current> {
        let (retire, retired) = mpsc::channel();
        std::thread::Builder::new()
            .name("reaper".to_owned())
            .spawn(move || reap(&retired))?;
        Ok(Current {
            serving: ArcSwap::from_pointee(first),
            retired: std::sync::Mutex::new(retire),
        })
    }

    /// The generation serving new requests.
    pub(crate) fn get(&self) -> Arc<Generation> {
        self.serving.load_full()
    }

    /// Makes `next` serve new requests; the one it replaces is dropped by the reaper once
    /// its last request is done.
    pub(crate) fn replace(&self, next: Generation) {
        let old = self.serving.swap(Arc::new(next));
        let sender = self
            .retired
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(mpsc::SendError(old)) = sender.send(old) {
            // No reaper (it cannot end while we hold its sender): drop it here.
            drop(old);
        }
    }
}

/// Drops each retired generation once nothing else holds it (its requests are answered,
/// its blocking calls returned): the shutdown hooks run here, off the request path.
fn reap(retired: &mpsc::Receiver<Arc<Generation>>) {
    let mut waiting: Vec<Arc<Generation>> = Vec::new();
    loop {
        let next = if waiting.is_empty() {
            match retired.recv() {
                Ok(next) => Some(next),
                Err(mpsc::RecvError) => return,
            }
        } else {
            match retired.recv_timeout(Duration::from_millis(20)) {
                Ok(next) => Some(next),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        };
        waiting.extend(next);
        let mut kept = Vec::with_capacity(waiting.len());
        for generation in waiting.drain(..) {
            match Arc::try_unwrap(generation) {
                Ok(generation) => {
                    let number = generation.number;
                    let plugins = generation.registry.plugin_paths().count();
                    drop(generation);
                    log::info!(
                        "generation {number} retired: its last request is answered, the shutdown hooks of its {plugins} plugin(s) ran, and they are unloaded"
                    );
                }
                Err(generation) => kept.push(generation),
            }
        }
        waiting = kept;
    }
}

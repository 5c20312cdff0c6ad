//! The watchdog for unmarked blocking actions: a call of an action not marked
//! `.blocking()` that holds its coroutine worker longer than `[server] blocking_warn_ms`
//! (wall time inside the one call) stalls every connection of that worker. Each such call
//! is counted by its endpoint (a relaxed add, only for a call over the threshold; shown by
//! `/metrics`), and the first one of each route is logged with the action, the time and
//! the fix.

use crate::plugin::{Endpoint, Registry};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Calls over the threshold, by endpoint index.
#[derive(Debug)]
pub(crate) struct Watchdog {
    threshold: Duration,
    caught: Vec<AtomicU64>,
}

impl Watchdog {
    /// A watchdog over every endpoint of `registry`; `None` when `threshold` is zero (off).
    pub(crate) fn new(registry: &Registry, threshold: Duration) -> Option<Watchdog> {
        (!threshold.is_zero()).then(|| Watchdog {
            threshold,
            caught: (0..registry.routes().len())
                .map(|_| AtomicU64::new(0))
                .collect(),
        })
    }

    /// Checks one call of `endpoint` (not marked blocking) that took `took`.
    pub(crate) fn check(&self, endpoint: &Endpoint, took: Duration) {
        if took <= self.threshold {
            return;
        }
        let Some(caught) = self.caught.get(endpoint.index) else {
            return;
        };
        if caught.fetch_add(1, Ordering::Relaxed) == 0 {
            log::warn!(
                "action {} held its worker thread {:.1} ms (over blocking_warn_ms = {}): every connection of that thread waited; if it blocks (a database, a file, a sleep), mark it .blocking() in export! (or raise blocking_warn_ms)",
                endpoint.label,
                took.as_secs_f64() * 1000.0,
                self.threshold.as_millis()
            );
        }
    }

    /// Calls of the endpoint at `index` over the threshold.
    pub(crate) fn caught(&self, index: usize) -> u64 {
        self.caught
            .get(index)
            .map_or(0, |caught| caught.load(Ordering::Relaxed))
    }
}

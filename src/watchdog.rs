//! The watchdog for unmarked blocking actions: a call of an action not marked
//! `.blocking()` that holds its coroutine worker longer than `[server] blocking_warn_ms`
//! (wall time inside the one call) stalls every connection of that worker. Each such call
//! is counted by its endpoint (a relaxed add, only for a call over the threshold; shown by
//! `/metrics`), and the first one of each route is logged with the action, the time and
//! the fix. With `[server] auto_offload`, an action caught [`OFFLOAD_AFTER`] times within
//! [`OFFLOAD_WINDOW`] of the first of them (so one OS pause of a busy worker does not move
//! a fast action) runs on the blocking pool from then on, with a log line saying so.

use crate::plugin::{Endpoint, Registry};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Catches within [`OFFLOAD_WINDOW`] that move an action to the blocking pool (fixed).
pub(crate) const OFFLOAD_AFTER: u64 = 3;
/// The window those catches must fall in (fixed).
pub(crate) const OFFLOAD_WINDOW: Duration = Duration::from_secs(60);

/// Calls over the threshold, by endpoint index.
#[derive(Debug)]
pub(crate) struct Watchdog {
    threshold: Duration,
    caught: Vec<AtomicU64>,
    /// `Some` with `auto_offload`: each endpoint's window and whether it moved.
    offload: Option<Offload>,
}

/// The state of `auto_offload`, by endpoint index (touched only by calls over the
/// threshold, read by every call of an unmarked action: one relaxed load).
#[derive(Debug)]
struct Offload {
    started: Instant,
    /// Milliseconds from `started` to the first catch of the current window.
    window_start: Vec<AtomicU64>,
    /// Catches in the current window.
    window_count: Vec<AtomicU64>,
    moved: Vec<AtomicBool>,
}

impl Watchdog {
    /// A watchdog over every endpoint of `registry`; `None` when `threshold` is zero (off).
    /// `auto_offload`: move the actions it keeps catching to the blocking pool.
    pub(crate) fn new(
        registry: &Registry,
        threshold: Duration,
        auto_offload: bool,
    ) -> Option<Watchdog> {
        let endpoints = registry.routes().len();
        let zeros = || (0..endpoints).map(|_| AtomicU64::new(0)).collect();
        (!threshold.is_zero()).then(|| Watchdog {
            threshold,
            caught: zeros(),
            offload: auto_offload.then(|| Offload {
                started: Instant::now(),
                window_start: zeros(),
                window_count: zeros(),
                moved: (0..endpoints).map(|_| AtomicBool::new(false)).collect(),
            }),
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
                "action {} held its worker thread {:.1} ms (over blocking_warn_ms = {}): every connection of that thread waited; if it blocks (a database, a file, a sleep), mark it .blocking() in export! (or raise blocking_warn_ms{})",
                endpoint.label,
                took.as_secs_f64() * 1000.0,
                self.threshold.as_millis(),
                if self.offload.is_some() {
                    "); auto_offload moves it to the blocking pool if caught again"
                } else {
                    ", or set [server] auto_offload = true"
                }
            );
        }
        if let Some(seen) = self.offload.as_ref().and_then(|o| o.caught(endpoint.index)) {
            log::warn!(
                "auto_offload: action {} held its worker thread over blocking_warn_ms = {} {seen} times within {} s: it runs on the blocking pool from now on (mark it .blocking() in export! to make that its place)",
                endpoint.label,
                self.threshold.as_millis(),
                OFFLOAD_WINDOW.as_secs()
            );
        }
    }

    /// Whether the action of the endpoint at `index` was moved to the blocking pool.
    pub(crate) fn offloaded(&self, index: usize) -> bool {
        self.offload.as_ref().is_some_and(|offload| {
            offload
                .moved
                .get(index)
                .is_some_and(|moved| moved.load(Ordering::Relaxed))
        })
    }

    /// Calls of the endpoint at `index` over the threshold.
    pub(crate) fn caught(&self, index: usize) -> u64 {
        self.caught
            .get(index)
            .map_or(0, |caught| caught.load(Ordering::Relaxed))
    }
}

impl Offload {
    /// Counts a catch of the endpoint at `index` in its window: `Some(catches)` when this
    /// one moves it (the [`OFFLOAD_AFTER`]th in the window, once). Two workers catching at
    /// once may both start a window: a catch is lost, never a fast action moved.
    fn caught(&self, index: usize) -> Option<u64> {
        let start = self.window_start.get(index)?;
        let count = self.window_count.get(index)?;
        let moved = self.moved.get(index)?;
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let window = u64::try_from(OFFLOAD_WINDOW.as_millis()).unwrap_or(u64::MAX);
        let fresh = count.load(Ordering::Relaxed) == 0
            || now.saturating_sub(start.load(Ordering::Relaxed)) > window;
        let seen = if fresh {
            start.store(now, Ordering::Relaxed);
            count.store(1, Ordering::Relaxed);
            1
        } else {
            count.fetch_add(1, Ordering::Relaxed) + 1
        };
        (seen >= OFFLOAD_AFTER && !moved.swap(true, Ordering::Relaxed)).then_some(seen)
    }
}

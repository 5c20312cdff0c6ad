//! Queue depth and the oldest due job's age, for `/metrics` (the server's and the
//! worker's admin listener): a thread of its own reads them from the store every
//! [`EVERY`] and keeps the figures, so a scrape reads memory and never waits on the
//! database. A queue once seen (or named in `[jobs.queues]`, or `default`) stays listed,
//! at 0 when empty.

use super::front::Opener;
use crate::exposition::Exposition;
use crate::store::jobs::now_ms;
use crate::store::JobStore;
use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// How often the figures are read.
pub(crate) const EVERY: Duration = Duration::from_secs(2);

/// Per queue: (jobs queued, seconds the oldest due one has waited).
static FIGURES: OnceLock<Mutex<BTreeMap<String, (i64, f64)>>> = OnceLock::new();

/// Starts the reading thread (once per process) with the queues to show from the start.
pub(crate) fn start(open: Opener, queues: impl IntoIterator<Item = String>) {
    let known: BTreeMap<String, (i64, f64)> =
        queues.into_iter().map(|queue| (queue, (0, 0.0))).collect();
    if FIGURES.set(Mutex::new(known)).is_err() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("jobs-depth".to_owned())
        .spawn(move || {
            let mut store: Option<Box<dyn JobStore>> = None;
            loop {
                let connected = match store.as_deref_mut() {
                    Some(store) => Ok(store),
                    None => open().map(|opened| &mut **store.insert(opened)),
                };
                let now = now_ms();
                match connected.and_then(|store| store.depth(now)) {
                    Ok(depths) => {
                        if let Some(figures) = FIGURES.get() {
                            let mut figures = figures
                                .lock()
                                .unwrap_or_else(|poisoned| poisoned.into_inner());
                            for value in figures.values_mut() {
                                *value = (0, 0.0);
                            }
                            for depth in depths {
                                let age = depth
                                    .oldest_due
                                    .map_or(0.0, |at| (now - at).max(0) as f64 / 1000.0);
                                figures.insert(depth.queue, (depth.queued, age));
                            }
                        }
                    }
                    Err(why) => {
                        log::debug!("Jobs: queue depth not read: {why}");
                        store = None;
                    }
                }
                std::thread::sleep(EVERY);
            }
        });
    if let Err(error) = spawned {
        log::warn!("Jobs: no queue depth in /metrics: {error}");
    }
}

/// Writes the two gauge families (nothing when this process reads no queue depth).
pub(crate) fn render(out: &mut Exposition) {
    let Some(figures) = FIGURES.get() else {
        return;
    };
    let figures = figures
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    out.family(
        "apiphant_jobs_queued",
        "gauge",
        "Jobs queued (due or delayed), by queue.",
    );
    for (queue, (queued, _)) in &figures {
        out.sample("apiphant_jobs_queued", &[("queue", queue)], queued);
    }
    out.family(
        "apiphant_jobs_oldest_queued_seconds",
        "gauge",
        "How long the oldest due queued job has waited (0 when none is due), by queue.",
    );
    for (queue, (_, age)) in &figures {
        out.sample(
            "apiphant_jobs_oldest_queued_seconds",
            &[("queue", queue)],
            age,
        );
    }
}

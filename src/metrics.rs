//! Request counters for the admin listener's `GET /metrics`, in the Prometheus text format.
//!
//! How they are kept: one set of counters per endpoint (indexed by `Endpoint::index`,
//! fixed per plugin generation): one counter per status, one per latency bucket (not cumulative: the
//! scrape adds them up), the latency's sum in microseconds, body bytes in and out; a call
//! is five relaxed atomic adds on its own endpoint's counters. No lock and no map lookup
//! on the request path. The blocking pool's gauges are its own atomics
//! ([`crate::blocking::PoolStats`]), plugin panics one relaxed counter touched only by a
//! panic. A scrape reads every counter once, relaxed (it may see one request counted and
//! not its neighbour, which Prometheus tolerates).
//!
//! Across reloads (docs/reload.md): the process keeps one set of counters per route and
//! action ([`Metrics`], a map consulted only while a generation is built); each generation
//! holds its endpoints' sets by index ([`RouteMetrics`]), so a route that survives a reload
//! keeps counting from where it was, the request path stays lock-free, and a scrape shows
//! the routes of the generation serving new requests.

use crate::blocking::PoolStats;
use crate::exposition::{Exposition, Histogram};
use crate::plugin::{Endpoint, Registry};
use crate::watchdog::Watchdog;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The statuses counted by their own series; any other is counted as `other`.
const STATUSES: [u16; 12] = [200, 204, 400, 401, 403, 408, 413, 422, 429, 500, 501, 503];

/// The latency histogram's upper bounds, in seconds (then `+Inf`).
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// One endpoint's counters.
#[derive(Debug, Default)]
struct Counters {
    route: Box<str>,
    action: Box<str>,
    /// Answers by [`STATUSES`], then `other`.
    statuses: [AtomicU64; STATUSES.len() + 1],
    /// Calls by latency bucket ([`BUCKETS`], then `+Inf`), each in its own bucket only.
    latency: [AtomicU64; BUCKETS.len() + 1],
    /// The calls' latencies added up, in microseconds.
    latency_micros: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

/// The process's counters: every route's (by label, kept across reloads), the requests
/// that reached no endpoint, the blocking pool's.
#[derive(Debug)]
pub(crate) struct Metrics {
    /// By endpoint label (`v0/echo read`); locked only while a generation is built.
    store: Mutex<HashMap<Box<str>, Arc<Counters>>>,
    /// Requests answered 404 (no such route).
    unrouted: AtomicU64,
    pool: Arc<PoolStats>,
}

/// One plugin generation's view of the counters: its endpoints' sets, by endpoint index.
#[derive(Debug)]
pub(crate) struct RouteMetrics {
    metrics: &'static Metrics,
    /// By endpoint index.
    routes: Vec<Arc<Counters>>,
    plugins: usize,
}

/// One call's figures: how long the action took, the body bytes read and written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call {
    pub(crate) status: u16,
    pub(crate) latency: Duration,
    pub(crate) bytes_in: usize,
    pub(crate) bytes_out: usize,
}

/// What the server reports besides the counters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gauges {
    /// Requests read and not yet answered.
    pub(crate) in_flight: usize,
    /// Open client connections.
    pub(crate) connections: usize,
    /// Whether `/readyz` says ready (not shutting down).
    pub(crate) ready: bool,
}

impl Metrics {
    /// No counters yet; the blocking pool's `pool`.
    pub(crate) fn new(pool: Arc<PoolStats>) -> Metrics {
        Metrics {
            store: Mutex::default(),
            unrouted: AtomicU64::new(0),
            pool,
        }
    }

    /// The counters of every endpoint of `registry` (a new generation's): a route and
    /// action counted before keeps its set, a new one starts at zero.
    pub(crate) fn for_routes(&'static self, registry: &Registry) -> RouteMetrics {
        let mut store = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut routes: Vec<Arc<Counters>> = Vec::new();
        for endpoint in registry.endpoints() {
            let counters = store.entry(endpoint.label.clone()).or_insert_with(|| {
                let (route, action) = endpoint
                    .label
                    .split_once(' ')
                    .unwrap_or((&endpoint.label, ""));
                Arc::new(Counters {
                    route: route.into(),
                    action: action.into(),
                    ..Counters::default()
                })
            });
            // `endpoints()` runs in index order.
            routes.push(Arc::clone(counters));
        }
        RouteMetrics {
            metrics: self,
            routes,
            plugins: registry.plugin_paths().count(),
        }
    }
}

impl RouteMetrics {
    /// Counts one answer: to `endpoint`, or to no route (a 404; other answers outside the
    /// routes are not counted).
    pub(crate) fn count(&self, endpoint: Option<&Endpoint>, status: u16) {
        let counter = match endpoint.and_then(|endpoint| self.routes.get(endpoint.index)) {
            Some(counters) => &counters.statuses[status_slot(status)],
            None if status == 404 => &self.metrics.unrouted,
            // An answer that is no route's (the OpenAPI document): not counted.
            None => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one call of `endpoint`'s action: its answer, latency and bytes.
    pub(crate) fn record(&self, endpoint: &Endpoint, call: Call) {
        let Some(counters) = self.routes.get(endpoint.index) else {
            return;
        };
        let seconds = call.latency.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(BUCKETS.len());
        let micros = u64::try_from(call.latency.as_micros()).unwrap_or(u64::MAX);
        counters.statuses[status_slot(call.status)].fetch_add(1, Ordering::Relaxed);
        counters.latency[bucket].fetch_add(1, Ordering::Relaxed);
        counters.latency_micros.fetch_add(micros, Ordering::Relaxed);
        counters
            .bytes_in
            .fetch_add(call.bytes_in as u64, Ordering::Relaxed);
        counters
            .bytes_out
            .fetch_add(call.bytes_out as u64, Ordering::Relaxed);
    }

    /// The exposition: build info, the counters, the gauges; the `watchdog`'s counts of
    /// unmarked blocking calls.
    pub(crate) fn render(&self, gauges: Gauges, watchdog: Option<&Watchdog>) -> String {
        let mut out = Exposition::with_capacity(1024 + self.routes.len() * 1536);
        out.build_info(self.plugins);
        out.family(
            "apiphant_requests_total",
            "counter",
            "Requests answered, by route, action and status.",
        );
        for counters in &self.routes {
            for (slot, count) in counters.statuses.iter().enumerate() {
                let count = count.load(Ordering::Relaxed);
                // Every route's 200 series exists from the start; the others once counted.
                let status = STATUSES.get(slot).copied();
                if count == 0 && status != Some(200) {
                    continue;
                }
                let status = status.map_or_else(|| "other".to_owned(), |s| s.to_string());
                let labels = [
                    ("route", &*counters.route),
                    ("action", &*counters.action),
                    ("status", &status),
                ];
                out.sample("apiphant_requests_total", &labels, count);
            }
        }
        out.single(
            "apiphant_unrouted_requests_total",
            "counter",
            "Requests answered 404: no such route.",
            self.metrics.unrouted.load(Ordering::Relaxed),
        );
        out.single(
            "apiphant_requests_in_flight",
            "gauge",
            "Requests read and not yet answered.",
            gauges.in_flight,
        );
        out.single(
            "apiphant_open_connections",
            "gauge",
            "Open client connections.",
            gauges.connections,
        );
        out.single(
            "apiphant_ready",
            "gauge",
            "1 while the process takes requests, 0 once it shuts down.",
            u8::from(gauges.ready),
        );
        self.render_calls(&mut out);
        self.render_pool(&mut out, watchdog);
        crate::jobs::depth::render(&mut out);
        out.finish()
    }

    /// The latency histogram and the bytes, by route and action.
    fn render_calls(&self, out: &mut Exposition) {
        let name = "apiphant_request_duration_seconds";
        out.family(
            name,
            "histogram",
            "Time inside the action's call (queue of the blocking pool included), by route and action.",
        );
        for counters in &self.routes {
            let labels = [("route", &*counters.route), ("action", &*counters.action)];
            let counts = counters
                .latency
                .each_ref()
                .map(|count| count.load(Ordering::Relaxed));
            let histogram = Histogram {
                bounds: &BUCKETS,
                counts: &counts,
                sum: counters.latency_micros.load(Ordering::Relaxed) as f64 / 1e6,
            };
            out.histogram(name, &labels, histogram);
        }
        for (name, help, read) in [
            (
                "apiphant_request_body_bytes_total",
                "Request body bytes read by calls, by route and action.",
                (|c: &Counters| c.bytes_in.load(Ordering::Relaxed)) as fn(&Counters) -> u64,
            ),
            (
                "apiphant_response_body_bytes_total",
                "Response body bytes of calls, by route and action.",
                |c: &Counters| c.bytes_out.load(Ordering::Relaxed),
            ),
        ] {
            out.family(name, "counter", help);
            for counters in &self.routes {
                let labels = [("route", &*counters.route), ("action", &*counters.action)];
                out.sample(name, &labels, read(counters));
            }
        }
    }

    /// The blocking pool's gauges and rejections, and plugin panics.
    fn render_pool(&self, out: &mut Exposition, watchdog: Option<&Watchdog>) {
        let pool = &self.metrics.pool;
        out.single(
            "apiphant_blocking_busy_threads",
            "gauge",
            "Blocking-pool threads running a call.",
            pool.busy.load(Ordering::Relaxed),
        );
        out.single(
            "apiphant_blocking_queue_depth",
            "gauge",
            "Calls waiting for a blocking-pool thread.",
            pool.queued.load(Ordering::Relaxed),
        );
        out.single(
            "apiphant_blocking_rejected_total",
            "counter",
            "Calls answered 503: the blocking pool's queue was full.",
            pool.rejected.load(Ordering::Relaxed),
        );
        out.single(
            "apiphant_plugin_panics_total",
            "counter",
            "Actions that panicked (each answered 500).",
            crate::dispatch::PANICS.load(Ordering::Relaxed),
        );
        if let Some(watchdog) = watchdog {
            let name = "apiphant_unmarked_blocking_calls_total";
            out.family(
                name,
                "counter",
                "Calls of actions not marked blocking that held their worker over blocking_warn_ms.",
            );
            for (index, counters) in self.routes.iter().enumerate() {
                let labels = [("route", &*counters.route), ("action", &*counters.action)];
                out.sample(name, &labels, watchdog.caught(index));
            }
        }
    }
}

/// The slot of `status` in a [`Counters::statuses`].
fn status_slot(status: u16) -> usize {
    STATUSES
        .iter()
        .position(|&known| known == status)
        .unwrap_or(STATUSES.len())
}

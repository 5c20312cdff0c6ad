//! Request counters for the admin listener's `GET /metrics`, in the Prometheus text format.
//!
//! How they are kept: one array of counters per endpoint (indexed by `Endpoint::index`,
//! fixed at start-up), one counter per status, each a relaxed atomic add. No lock and no
//! map lookup on the request path; a scrape reads every counter once, relaxed (a scrape
//! may see one request counted and not its neighbour, which Prometheus tolerates).

use crate::plugin::{Endpoint, Registry};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// The statuses counted by their own series; any other is counted as `other`.
const STATUSES: [u16; 12] = [200, 204, 400, 401, 403, 408, 413, 422, 429, 500, 501, 503];

/// Per-endpoint counters, and the requests that reached no endpoint.
#[derive(Debug)]
pub(crate) struct Metrics {
    /// (route, action, counts by [`STATUSES`] then `other`), by endpoint index.
    routes: Vec<(Box<str>, Box<str>, [AtomicU64; STATUSES.len() + 1])>,
    /// Requests answered 404 (no such route).
    unrouted: AtomicU64,
    plugins: usize,
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
    /// Zeroed counters for every endpoint of `registry`.
    pub(crate) fn new(registry: &Registry) -> Metrics {
        let mut routes: Vec<_> = (0..registry.routes().len())
            .map(|_| (Box::from(""), Box::from(""), Default::default()))
            .collect();
        for endpoint in registry.endpoints() {
            let (route, action) = endpoint
                .label
                .split_once(' ')
                .unwrap_or((&endpoint.label, ""));
            if let Some(slot) = routes.get_mut(endpoint.index) {
                slot.0 = route.into();
                slot.1 = action.into();
            }
        }
        Metrics {
            routes,
            unrouted: AtomicU64::new(0),
            plugins: registry.plugin_paths().count(),
        }
    }

    /// Counts one answer: to `endpoint`, or to no route (a 404).
    pub(crate) fn count(&self, endpoint: Option<&Endpoint>, status: u16) {
        let counter = match endpoint.and_then(|endpoint| self.routes.get(endpoint.index)) {
            Some((_, _, counts)) => {
                let slot = STATUSES
                    .iter()
                    .position(|&known| known == status)
                    .unwrap_or(STATUSES.len());
                &counts[slot]
            }
            None => &self.unrouted,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition: build info, the counters, the gauges.
    pub(crate) fn render(&self, gauges: Gauges) -> String {
        let mut out = String::with_capacity(256 + self.routes.len() * 96);
        let _ = writeln!(
            out,
            "# HELP apiphant_build_info The server's version, plugin ABI and plugins loaded.\n\
             # TYPE apiphant_build_info gauge\n\
             apiphant_build_info{{version=\"{}\",abi=\"{}\",plugins=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            apiphant_sdk::abi::ABI_VERSION,
            self.plugins
        );
        out.push_str(
            "# HELP apiphant_requests_total Requests answered, by route, action and status.\n\
             # TYPE apiphant_requests_total counter\n",
        );
        for (route, action, counts) in &self.routes {
            for (slot, count) in counts.iter().enumerate() {
                let count = count.load(Ordering::Relaxed);
                // Every route's 200 series exists from the start; the others once counted.
                let status = STATUSES.get(slot).copied();
                if count == 0 && status != Some(200) {
                    continue;
                }
                let status = status.map_or_else(|| "other".to_owned(), |s| s.to_string());
                let _ = writeln!(
                    out,
                    "apiphant_requests_total{{route=\"{route}\",action=\"{action}\",status=\"{status}\"}} {count}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP apiphant_unrouted_requests_total Requests answered 404: no such route.\n\
             # TYPE apiphant_unrouted_requests_total counter\n\
             apiphant_unrouted_requests_total {}\n\
             # HELP apiphant_requests_in_flight Requests read and not yet answered.\n\
             # TYPE apiphant_requests_in_flight gauge\n\
             apiphant_requests_in_flight {}\n\
             # HELP apiphant_open_connections Open client connections.\n\
             # TYPE apiphant_open_connections gauge\n\
             apiphant_open_connections {}\n\
             # HELP apiphant_ready 1 while the process takes requests, 0 once it shuts down.\n\
             # TYPE apiphant_ready gauge\n\
             apiphant_ready {}",
            self.unrouted.load(Ordering::Relaxed),
            gauges.in_flight,
            gauges.connections,
            u8::from(gauges.ready)
        );
        out
    }
}

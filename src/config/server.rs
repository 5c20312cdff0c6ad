//! `[server]` in `apiphant.toml`: every limit of docs/operations.md's "Limits and timeouts", with
//! its range.

use super::range::{Limit, Range};
use serde::{Deserialize, Serialize};

/// `[server]`: every limit of docs/operations.md's "Limits and timeouts".
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Coroutine worker threads (0: one per core).
    pub workers: usize,
    /// Most request headers (431 beyond).
    pub max_headers: usize,
    /// Most bytes of request line + headers (431 beyond).
    pub max_header_bytes: usize,
    /// Most request body bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Most request body bytes held in memory by all connections together (503 with
    /// `Retry-After` beyond, before the body is read). 0: automatic, 8 x `max_body_bytes`
    /// but at most a quarter of the machine's memory ([`ServerConfig::memory_budget`]).
    pub memory_budget_bytes: usize,
    /// Seconds to receive a whole request head (408 and close beyond).
    pub header_timeout_secs: f64,
    /// Seconds to receive a whole body once its head arrived (408 and close beyond).
    pub body_timeout_secs: f64,
    /// Seconds a keep-alive connection may stay idle.
    pub idle_timeout_secs: f64,
    /// Seconds to let in-flight requests finish on SIGTERM / SIGINT.
    pub shutdown_grace_secs: f64,
    /// Stack of each connection coroutine, in KiB (plugin calls run on it). 0: automatic,
    /// 256 for release-built plugins, 1024 for debug-built ones (their frames are ~4x larger).
    pub stack_kib: usize,
    /// Threads running actions marked `blocking`.
    pub blocking_threads: usize,
    /// Seconds a `blocking` action may take (its own `.timeout(secs)` first): 504 beyond.
    pub action_timeout_secs: f64,
    /// Milliseconds an action not marked `blocking` may hold its worker before the watchdog
    /// names it (0: off).
    pub blocking_warn_ms: u64,
    /// Whether an action the watchdog catches 3 times within a minute moves to the blocking
    /// pool from then on (needs `blocking_warn_ms` > 0).
    pub auto_offload: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            workers: 0,
            max_headers: 64,
            max_header_bytes: 16 * 1024,
            max_body_bytes: 16 * 1024 * 1024,
            memory_budget_bytes: 0,
            header_timeout_secs: 10.0,
            body_timeout_secs: 30.0,
            idle_timeout_secs: 75.0,
            shutdown_grace_secs: 10.0,
            stack_kib: 0,
            blocking_threads: 16,
            action_timeout_secs: 60.0,
            blocking_warn_ms: 10,
            auto_offload: false,
        }
    }
}

/// Seconds of a connection timeout: a tenth of a second to an hour.
const TIMEOUT: Range<f64> = Range::new(0.1, 3600.0);
/// Seconds of a shutdown grace period: none to an hour.
pub(crate) const GRACE: Range<f64> = Range::new(0.0, 3600.0);

impl ServerConfig {
    /// The memory budget in bytes: `memory_budget_bytes`, or automatically 8 concurrent
    /// bodies of the largest size, capped to a quarter of `mem_total` (the machine's memory,
    /// if known) so the budget never promises what the machine does not have; never below
    /// one largest body (one upload always fits in an idle server).
    pub fn memory_budget(&self, mem_total: Option<u64>) -> u64 {
        let max_body = self.max_body_bytes as u64;
        if self.memory_budget_bytes != 0 {
            return self.memory_budget_bytes as u64;
        }
        let automatic = max_body.saturating_mul(8);
        let capped = mem_total.map_or(automatic, |total| automatic.min(total / 4));
        capped.max(max_body)
    }

    /// A value every range allows but that contradicts another: (key, reason and fix).
    pub(crate) fn mistake(&self) -> Option<(String, String)> {
        let budget = self.memory_budget_bytes;
        (budget != 0 && budget < self.max_body_bytes).then(|| {
            (
                "server.memory_budget_bytes".to_owned(),
                format!(
                    "{budget} is below server.max_body_bytes ({}): one largest body could never be read; raise it, or 0 for automatic",
                    self.max_body_bytes
                ),
            )
        })
    }

    /// Every key with its range.
    pub(crate) fn limits(&self) -> Vec<Limit> {
        vec![
            Range::new(0, 1024).limit("server.workers", self.workers),
            Range::new(1, crate::http::head::MAX_HEADERS_CAP)
                .limit("server.max_headers", self.max_headers),
            Range::new(256, 1024 * 1024).limit("server.max_header_bytes", self.max_header_bytes),
            Range::new(64, 1024 * 1024 * 1024).limit("server.max_body_bytes", self.max_body_bytes),
            Range::or_zero(64, 1 << 40)
                .limit("server.memory_budget_bytes", self.memory_budget_bytes),
            TIMEOUT.limit("server.header_timeout_secs", self.header_timeout_secs),
            TIMEOUT.limit("server.body_timeout_secs", self.body_timeout_secs),
            TIMEOUT.limit("server.idle_timeout_secs", self.idle_timeout_secs),
            GRACE.limit("server.shutdown_grace_secs", self.shutdown_grace_secs),
            Range::or_zero(64, 64 * 1024).limit("server.stack_kib", self.stack_kib),
            Range::new(1, 4096).limit("server.blocking_threads", self.blocking_threads),
            Range::new(0.1, 86_400.0).limit("server.action_timeout_secs", self.action_timeout_secs),
            Range::new(0, 60_000).limit("server.blocking_warn_ms", self.blocking_warn_ms),
        ]
    }
}

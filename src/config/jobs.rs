//! `[jobs]` in `apiphant.toml`: asynchronous calls (docs/jobs.md). The store is the embedded
//! SQLite file (`store`, default `PRODUCT/var/jobs.sqlite3`) unless `[database]` is set,
//! then the PostgreSQL database.
//!
//! ```toml
//! [jobs]
//! # store = "/srv/myproduct/var/jobs.sqlite3"   # the default: PRODUCT/var/ (no [database])
//! lease_secs = 30          # a worker renews its claim every lease_secs / 3 while it runs
//! max_attempts = 5         # then the job is failed and goes through on_error
//! backoff_secs = 1         # before attempt n + 1: backoff_secs * 2^(n - 1), at most backoff_max_secs
//! keep_secs = 86400        # a finished job (its result, its Idempotency-Key) is purged after
//! concurrency = 4          # jobs of one queue a worker runs at once (default for every queue)
//! [jobs.queues]
//! reports = 1              # a named queue's own limit
//! ```

use super::range::{Limit, Range};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The folder of a product's durable state (the embedded job store): `var/` in the
/// product's folder, kept across reinstalls like `log/` (the run-time lock is in `run/`).
pub const VAR_DIR: &str = "var";

/// The queue of an asynchronous action that names none.
pub const DEFAULT_QUEUE: &str = "default";

/// `[jobs]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// The SQLite file (default `var/jobs.sqlite3` in the product's folder); unused with
    /// `[database]`.
    pub store: Option<PathBuf>,
    /// Seconds a claim lasts unless renewed; a job whose lease ran out runs again elsewhere.
    pub lease_secs: f64,
    /// Runs of a job before it is failed for good.
    pub max_attempts: u32,
    /// Base of the exponential back-off between attempts, in seconds.
    pub backoff_secs: f64,
    /// Longest wait between attempts, in seconds.
    pub backoff_max_secs: f64,
    /// Seconds a finished job (result, error, Idempotency-Key) is kept, then purged.
    pub keep_secs: f64,
    /// Milliseconds an idle worker thread waits before looking for a job again.
    pub poll_ms: u64,
    /// Jobs of one queue a worker runs at once, for a queue not in `queues`.
    pub concurrency: usize,
    /// Each named queue's own limit (jobs at once per worker).
    pub queues: BTreeMap<String, usize>,
    /// Server: threads that talk to the store (enqueue, status), beside the coroutines.
    pub store_threads: usize,
    /// Server: store requests that may wait for those threads; beyond, 503.
    pub store_queue: usize,
    /// Server: seconds an enqueue or a status read may wait for the store; beyond, 503.
    pub store_timeout_secs: f64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            store: None,
            lease_secs: 30.0,
            max_attempts: 5,
            backoff_secs: 1.0,
            backoff_max_secs: 300.0,
            keep_secs: 86_400.0,
            poll_ms: 200,
            concurrency: 4,
            queues: BTreeMap::new(),
            store_threads: 2,
            store_queue: 1024,
            store_timeout_secs: 5.0,
        }
    }
}

/// Whether `name` may name a queue: 1 to 64 letters, digits, `_` or `-`.
pub fn is_queue_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl JobsConfig {
    /// Every key with its range.
    pub(crate) fn limits(&self) -> Vec<Limit> {
        let mut limits = vec![
            Range::new(1.0, 3600.0).limit("jobs.lease_secs", self.lease_secs),
            Range::new(1, 100).limit("jobs.max_attempts", self.max_attempts),
            Range::new(0.01, 3600.0).limit("jobs.backoff_secs", self.backoff_secs),
            Range::new(0.01, 86_400.0).limit("jobs.backoff_max_secs", self.backoff_max_secs),
            Range::new(1.0, 31_536_000.0).limit("jobs.keep_secs", self.keep_secs),
            Range::new(10, 60_000).limit("jobs.poll_ms", self.poll_ms),
            Range::new(1, 256).limit("jobs.concurrency", self.concurrency),
            Range::new(1, 64).limit("jobs.store_threads", self.store_threads),
            Range::new(1, 65_536).limit("jobs.store_queue", self.store_queue),
            Range::new(0.1, 600.0).limit("jobs.store_timeout_secs", self.store_timeout_secs),
        ];
        for &limit in self.queues.values() {
            limits.push(Range::new(1, 256).limit("jobs.queues.<name>", limit));
        }
        limits
    }

    /// A queue name that is not one, as (key, reason).
    pub(crate) fn mistake(&self) -> Option<(String, String)> {
        self.queues
            .keys()
            .find(|name| !is_queue_name(name))
            .map(|name| {
                (
                    format!("jobs.queues.{name}"),
                    "a queue name is 1 to 64 letters, digits, _ or -".to_owned(),
                )
            })
    }

    /// The SQLite file: `store`, else `var/jobs.sqlite3` in the product's folder `dir`.
    pub fn store_file(&self, dir: &Path) -> PathBuf {
        self.store
            .clone()
            .unwrap_or_else(|| dir.join(VAR_DIR).join("jobs.sqlite3"))
    }

    /// How many jobs of `queue` a worker runs at once.
    pub fn concurrency_of(&self, queue: &str) -> usize {
        self.queues.get(queue).copied().unwrap_or(self.concurrency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_parses_with_defaults_and_ranges() {
        let jobs: JobsConfig = toml::from_str("lease_secs = 5\n[queues]\nreports = 2").expect("ok");
        assert_eq!(jobs.lease_secs, 5.0);
        assert_eq!(jobs.concurrency_of("reports"), 2);
        assert_eq!(jobs.concurrency_of(DEFAULT_QUEUE), 4);
        assert_eq!(
            jobs.store_file(Path::new("/srv/a")),
            Path::new("/srv/a/var/jobs.sqlite3")
        );
        assert!(jobs.limits().iter().all(|limit| limit.ok));
        let bad: JobsConfig = toml::from_str("max_attempts = 0").expect("typed");
        assert!(!bad.limits().iter().all(|limit| limit.ok));
        let bad: JobsConfig = toml::from_str("[queues]\n\"a b\" = 1").expect("typed");
        assert!(bad.mistake().is_some());
        assert!(toml::from_str::<JobsConfig>("lease = 5").is_err());
    }
}

//! Jobs of asynchronous calls: what is stored ([`NewJob`]), what a worker claims
//! ([`Claimed`]) and how a run ends ([`Finish`]), the one [`JobStore`] trait both backends
//! implement (SQLite `sqlite.rs`, PostgreSQL `postgres.rs`), and the SQL they share (written
//! with `$n` parameters; SQLite reads them as `?n`).
//!
//! Times are milliseconds since the epoch, from the clock of the process that writes them
//! (hosts sharing a database keep their clocks in step, as any lease needs).

use serde_json::{json, Value};

/// A call to store.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// `v0/reports`.
    pub route: String,
    /// `create`.
    pub action: String,
    /// Its queue (`default` unless the action names one).
    pub queue: String,
    /// The request body as received.
    pub body: Vec<u8>,
    /// The request id of the enqueuing request (the run gets it too).
    pub request_id: String,
    /// The caller's token name (empty without `[auth]`).
    pub identity: String,
    /// `Idempotency-Key`, scoped to (identity, route, action).
    pub key: Option<String>,
    /// Runs before it is failed for good.
    pub max_attempts: u32,
    /// Not claimed before this time (ms since the epoch); `None`: at once.
    pub run_at: Option<i64>,
}

impl NewJob {
    /// When the job may first run, enqueued at `now`: its `run_at`, never before `now`.
    pub fn first_run(&self, now: i64) -> i64 {
        self.run_at.map_or(now, |at| at.max(now))
    }
}

/// What an enqueue did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// A new job.
    New(String),
    /// The job an earlier enqueue with the same key and body made.
    Existing(String),
    /// The key was used before with another body.
    Conflict,
}

/// A job a worker claimed: run it, then [`JobStore::finish`] it.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// Its id.
    pub id: String,
    /// `v0/reports`.
    pub route: String,
    /// `create`.
    pub action: String,
    /// The stored body.
    pub body: Vec<u8>,
    /// The enqueuing request's id.
    pub request_id: String,
    /// The enqueuing caller.
    pub identity: String,
    /// This run's number, 1..
    pub attempts: u32,
    /// Its limit.
    pub max_attempts: u32,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub enum Finish {
    /// The action's answer (a JSON object).
    Succeeded(String),
    /// Run again at `at` (ms); `error` is this run's error body.
    Retry {
        /// The error body (JSON object).
        error: String,
        /// When (ms since the epoch).
        at: i64,
    },
    /// Failed for good with this error body.
    Failed(String),
}

/// A job as its caller sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// queued, running, succeeded, failed, cancelled.
    pub state: String,
    /// The action's answer (succeeded).
    pub result: Option<String>,
    /// The last error body.
    pub error: Option<String>,
    /// Runs started.
    pub attempts: i64,
    /// Its limit.
    pub max_attempts: i64,
    /// Its queue.
    pub queue: String,
    /// Times, ms since the epoch.
    pub created_at: i64,
    /// When it may run (next).
    pub run_at: i64,
    /// When its latest run started.
    pub started_at: Option<i64>,
    /// When it ended.
    pub finished_at: Option<i64>,
}

impl Status {
    /// The body of `v0/_jobs read`: state, result or error, attempts, times (RFC 3339).
    pub fn to_json(&self, id: &str) -> Value {
        let time = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms)
                .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        };
        let parsed = |text: &Option<String>| {
            text.as_deref()
                .and_then(|text| serde_json::from_str::<Value>(text).ok())
        };
        let mut body = json!({
            "job": id,
            "state": self.state,
            "queue": self.queue,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "created_at": time(self.created_at),
            "run_at": time(self.run_at),
            "started_at": self.started_at.and_then(time),
            "finished_at": self.finished_at.and_then(time),
        });
        if let Some(result) = parsed(&self.result) {
            body["result"] = result;
        }
        if let Some(error) = parsed(&self.error) {
            body["error"] = error;
        }
        body
    }
}

/// One queue's figures for the metrics ([`JobStore::depth`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDepth {
    /// The queue.
    pub queue: String,
    /// Jobs queued (due or not).
    pub queued: i64,
    /// The earliest `run_at` (ms) of the queued jobs that are due.
    pub oldest_due: Option<i64>,
}

/// The states a job can be in (what `v0/_jobs read` lists by).
pub const STATES: [&str; 5] = ["queued", "running", "succeeded", "failed", "cancelled"];

/// A store of jobs: the embedded SQLite file or `[database]`. Each method is one short
/// transaction; `Err` is one line (the database cannot be reached or refused).
pub trait JobStore: Send + std::fmt::Debug {
    /// Stores `job` (or finds the one its key made).
    fn enqueue(&mut self, job: &NewJob, now: i64) -> Result<Enqueued, String>;
    /// The job `id` if `identity` enqueued it.
    fn status(&mut self, id: &str, identity: &str) -> Result<Option<Status>, String>;
    /// Cancels job `id` of `identity` if it has not ended; its status after.
    fn cancel(&mut self, id: &str, identity: &str, now: i64) -> Result<Option<Status>, String>;
    /// Claims at most `limit` of the oldest due jobs of `queue` (queued and due, or running
    /// with their lease run out) until `until` (ms), in one round trip.
    fn claim(
        &mut self,
        queue: &str,
        now: i64,
        until: i64,
        limit: usize,
    ) -> Result<Vec<Claimed>, String>;
    /// Waits at most `timeout` for word that jobs were enqueued: the queues named (several
    /// words may name one queue twice), or none when the time ran out. `Ok(None)`: this
    /// store sends no word (SQLite; workers poll). PostgreSQL: `LISTEN apiphant_jobs` on
    /// this connection (the insert trigger of migration 3 notifies).
    fn wait_enqueued(
        &mut self,
        timeout: std::time::Duration,
    ) -> Result<Option<Vec<String>>, String> {
        let _ = timeout;
        Ok(None)
    }
    /// Extends this worker's lease of `id`; false when it is not this worker's any more
    /// (cancelled, or claimed elsewhere after the lease ran out).
    fn renew(&mut self, id: &str, until: i64) -> Result<bool, String>;
    /// Records how this worker's run of `id` ended; false when it was not this worker's
    /// any more (the result is dropped: another run owns the job).
    fn finish(&mut self, id: &str, finish: &Finish, now: i64) -> Result<bool, String>;
    /// The newest `limit` jobs of `identity` in `state`, newest first, with their ids.
    fn list(
        &mut self,
        identity: &str,
        state: &str,
        limit: i64,
    ) -> Result<Vec<(String, Status)>, String>;
    /// Per queue with queued jobs: how many are queued (due or not) and the earliest
    /// `run_at` of those due at `now` (ms), if any.
    fn depth(&mut self, now: i64) -> Result<Vec<QueueDepth>, String>;
    /// Deletes the jobs that ended before `before` (ms); how many.
    fn purge(&mut self, before: i64) -> Result<u64, String>;
    /// Says where jobs are stored, for the start line.
    fn describe(&self) -> String;
}

/// Now, in ms since the epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A new job id: 16 random bytes in hex (the OS's random source).
pub fn new_id() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).map_err(|error| format!("no random bytes: {error}"))?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Milliseconds to wait before the next attempt after run `attempts` (1..):
/// `base * 2^(attempts - 1)`, at most `max`.
pub fn backoff_ms(attempts: u32, base_secs: f64, max_secs: f64) -> i64 {
    let factor = 2f64.powi(i32::try_from(attempts.saturating_sub(1).min(60)).unwrap_or(60));
    ((base_secs * factor).min(max_secs) * 1000.0) as i64
}

// The SQL both backends run ($n parameters).

pub(crate) const ENQUEUE: &str = "
    INSERT INTO apiphant_jobs (id, product, route, action, queue, body, request_id, identity,
        idem_key, state, attempts, max_attempts, run_at, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', 0, $10, $12, $11)
    ON CONFLICT DO NOTHING";

pub(crate) const BY_KEY: &str = "
    SELECT id, body FROM apiphant_jobs
    WHERE product = $1 AND identity = $2 AND route = $3 AND action = $4 AND idem_key = $5";

pub(crate) const STATUS: &str = "
    SELECT state, result, error, attempts, max_attempts, queue, created_at, run_at,
        started_at, finished_at
    FROM apiphant_jobs WHERE id = $1 AND product = $2 AND identity = $3";

pub(crate) const LIST: &str = "
    SELECT state, result, error, attempts, max_attempts, queue, created_at, run_at,
        started_at, finished_at, id
    FROM apiphant_jobs WHERE product = $1 AND identity = $2 AND state = $3
    ORDER BY created_at DESC, id DESC LIMIT $4";

pub(crate) const DEPTH: &str = "
    SELECT queue, COUNT(*), MIN(CASE WHEN run_at <= $2 THEN run_at END)
    FROM apiphant_jobs WHERE product = $1 AND state = 'queued'
    GROUP BY queue";

pub(crate) const CANCEL: &str = "
    UPDATE apiphant_jobs SET state = 'cancelled', finished_at = $4, locked_by = NULL
    WHERE id = $1 AND product = $2 AND identity = $3 AND state IN ('queued', 'running')";

/// The claim without its row lock (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite runs it
/// in a `BEGIN IMMEDIATE` transaction, one writer at a time).
pub(crate) const CLAIM_PICK: &str = "
    SELECT id FROM apiphant_jobs
    WHERE product = $1 AND queue = $2
      AND ((state = 'queued' AND run_at <= $3) OR (state = 'running' AND locked_until < $3))
    ORDER BY run_at LIMIT $4";

pub(crate) const CLAIM_TAKE: &str = "
    UPDATE apiphant_jobs
    SET state = 'running', attempts = attempts + 1, locked_by = $2, locked_until = $3,
        started_at = $4
    WHERE id = $1
    RETURNING id, route, action, body, request_id, identity, attempts, max_attempts";

pub(crate) const RENEW: &str = "
    UPDATE apiphant_jobs SET locked_until = $3
    WHERE id = $1 AND locked_by = $2 AND state = 'running'";

pub(crate) const SUCCEED: &str = "
    UPDATE apiphant_jobs SET state = 'succeeded', result = $3, error = NULL, finished_at = $4,
        locked_by = NULL
    WHERE id = $1 AND locked_by = $2 AND state = 'running'";

pub(crate) const FAIL: &str = "
    UPDATE apiphant_jobs SET state = 'failed', error = $3, finished_at = $4, locked_by = NULL
    WHERE id = $1 AND locked_by = $2 AND state = 'running'";

pub(crate) const RETRY: &str = "
    UPDATE apiphant_jobs SET state = 'queued', error = $3, run_at = $4, locked_by = NULL
    WHERE id = $1 AND locked_by = $2 AND state = 'running'";

pub(crate) const PURGE: &str = "
    DELETE FROM apiphant_jobs
    WHERE product = $1 AND state IN ('succeeded', 'failed', 'cancelled') AND finished_at < $2";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        assert_eq!(backoff_ms(1, 1.0, 300.0), 1000);
        assert_eq!(backoff_ms(2, 1.0, 300.0), 2000);
        assert_eq!(backoff_ms(4, 0.5, 300.0), 4000);
        assert_eq!(backoff_ms(40, 1.0, 300.0), 300_000);
        assert_ne!(new_id().ok(), new_id().ok());
    }
}

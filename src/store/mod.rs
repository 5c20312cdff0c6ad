//! The store: what the workers of a deployment share through `[database]` (PostgreSQL),
//! and the jobs of asynchronous calls (there, or in the embedded SQLite file). The ticks of scheduled tasks: each (task, slot) is claimed by one worker of the
//! whole deployment (graphile-worker's model: a row inserted with `ON CONFLICT DO NOTHING`
//! on the primary key, so the claim is recorded, not merely serialized).
//!
//! - `migrations.rs`: the schema as numbered migrations, applied at start;
//! - `postgres.rs`: the PostgreSQL backend (the `postgres` crate, synchronous);
//! - `jobs.rs`: the jobs of asynchronous calls, the [`JobStore`] trait both backends
//!   implement and their shared SQL;
//! - `sqlite.rs`: the embedded backend of jobs (SQLite, one host, no server to install).

pub mod jobs;
mod migrations;
pub mod postgres;
pub mod sqlite;

pub use jobs::JobStore;
pub use migrations::{Migration, MIGRATIONS, SQLITE_MIGRATIONS};

use chrono::{DateTime, Utc};

/// What a worker claims for one run of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    /// The run at start of this deployment (see [`deployment_id`]).
    Start,
    /// A slot of the task's schedule.
    Slot(DateTime<Utc>),
}

/// The answer to a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This worker runs it; `previous` is the task's latest earlier slot claimed in the
    /// deployment (for a slot; `None` for the start run or the first slot ever).
    Won {
        /// The latest earlier claimed slot.
        previous: Option<DateTime<Utc>>,
    },
    /// Another worker claimed it, or a later slot (this one is stale).
    Lost,
}

/// Where ticks are claimed: the PostgreSQL store, or a fake in tests.
pub trait TickStore: Send + std::fmt::Debug {
    /// Claims `tick` of task `task` for this worker; `Err` (one line) when the database
    /// cannot be reached or refused: the slot does not run here.
    fn claim(&mut self, task: &str, tick: Tick) -> Result<Claim, String>;
    /// Says who claims (`worker host:pid, deployment ...`), for the start line.
    fn describe(&self) -> String;
}

/// The deployment a worker belongs to: its "run at start" tasks run once per deployment.
/// `APIPHANT_DEPLOYMENT` when set (a deploy may set it per install, so that every install
/// starts one), else a fingerprint of the code that runs: the plugin files' names and
/// bytes (installing a new build is a new deployment; restarting the same build, or a
/// host's own `apiphant.toml` differing, is not).
pub fn deployment_id(files: &[std::path::PathBuf]) -> String {
    if let Some(id) = std::env::var("APIPHANT_DEPLOYMENT")
        .ok()
        .filter(|id| !id.trim().is_empty())
    {
        return id.trim().to_owned();
    }
    // FNV-1a over each file's name and bytes: stable across builds of apiphant.
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    let mut feed = |bytes: &[u8]| {
        for &byte in bytes {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    for file in files {
        if let Some(name) = file.file_name() {
            feed(name.as_encoded_bytes());
        }
        feed(&std::fs::read(file).unwrap_or_default());
    }
    format!("build-{hash:016x}")
}

/// This worker's name in claims: `host:pid`.
pub fn worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|host| host.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned());
    format!("{host}:{}", std::process::id())
}

/// Opens the product's job store: `[database]` when set, else the embedded SQLite file of
/// `[jobs] store`; migrated. `worker` names this process in claims.
pub fn open_jobs(
    config: &crate::config::Config,
    dir: &std::path::Path,
    worker: &str,
) -> Result<Box<dyn JobStore>, String> {
    let product = config.name(dir);
    match &config.database {
        Some(database) => {
            let store = postgres::connect(database, &product, "", worker)?;
            Ok(Box::new(store))
        }
        None => {
            let store = sqlite::open(&config.jobs.store_file(dir), &product, worker)?;
            Ok(Box::new(store))
        }
    }
}

//! Durable asynchronous calls (docs/jobs.md): an action marked `.asynchronous()` called
//! with `Prefer: respond-async` is stored as a job and answered 202 at once; any
//! `apiphant-background` worker claims it with a lease and runs it through the server's own
//! call path. The jobs are in `crate::store` (SQLite by default, PostgreSQL with
//! `[database]`).
//!
//! - `front.rs`: the server's side: the enqueue, the built-in `v0/_jobs` route (read,
//!   delete), and the store threads beside the coroutines (bounded: 503 when full);
//! - `runner.rs`: the worker's side: claims, leases, retries with back-off, `on_error`.

pub mod front;
pub mod runner;

pub use front::Front;

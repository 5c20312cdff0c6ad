//! Durable asynchronous calls (docs/jobs.md): an action marked `.asynchronous()` called
//! with `Prefer: respond-async` is stored as a job and answered 202 at once; any
//! `apiphant-background` worker claims it with a lease and runs it through the server's own
//! call path. The jobs are in `crate::store` (SQLite by default, PostgreSQL with
//! `[database]`).
//!
//! - `front.rs`: the server's side: the enqueue, the built-in `v0/_jobs` route (read,
//!   delete), and the store threads beside the coroutines (bounded: 503 when full);
//! - `depth.rs`: queue depth and the oldest due job's age for `/metrics`;
//! - `enqueue.rs`: jobs enqueued from plugin code (the SDK's `jobs::enqueue`);
//! - `runner.rs`: the worker's side: claims, leases, retries with back-off, `on_error`.

pub(crate) mod depth;
pub(crate) mod enqueue;
pub mod front;
pub mod runner;

pub use front::Front;

//! `apiphant-background`: runs a product's background tasks, the port of the original's
//! `apiphant.background` (see docs/background.md).
//!
//! - `schedule.rs`: parsing schedules (intervals, both cron forms) and `next_after`;
//! - `plan.rs`: which tasks are due, in which order, missed runs (pure, clock-free);
//! - `worker.rs`: the loop, the log lines, `on_error`, signals;
//! - `email.rs`: the built-in error email (lettre) behind the `Notifier` trait;
//! - `lock.rs`: one worker per product per host;
//! - `metrics.rs`: runs, failures, durations and emails for the admin listener's `/metrics`;
//! - `cli.rs`: the command line.
//!
//! `[background]` and `[email]` of `apiphant.toml` are read by `crate::config`.

pub mod cli;
pub mod email;
pub mod lock;
pub mod metrics;
pub mod plan;
pub mod schedule;
mod vixie;
pub mod worker;

//! apiphant: a simple web API framework based on JSON and CRUD, rebuilt in Rust.
//!
//! Every call is `POST /api/<version>/<t/a/r/g/e/t>/<action>` with a JSON object in and a
//! JSON object out. Targets are plugins (Rust `cdylib` crates using `apiphant-sdk`) loaded
//! at run time; the server is an HTTP/1.1 loop on `may` coroutines. `apiphant-background`
//! runs the plugins' background tasks (`background/`). See README.md,
//! ARCHITECTURE.md and docs/.

mod admin;
pub mod api_page;
mod app;
pub mod args;
pub mod auth;
pub mod background;
mod blocking;
mod call_stack;
pub mod cli;
pub mod config;
mod coroutine;
pub mod cors;
pub mod dispatch;
mod exposition;
mod fd_limit;
mod generation;
pub mod http;
pub mod jobs;
pub mod logging;
mod memory;
mod metrics;
pub mod openapi;
pub mod plugin;
pub mod product;
pub mod reload;
pub mod server;
pub mod store;
mod sys;
pub mod testing;
mod watchdog;

pub use config::{Config, ConfigError};
pub use plugin::{PluginError, Registry};
pub use product::{Product, ProductError};

/// Every Rust example of the README, compiled and run by `cargo test --doc`, so that the
/// plugin guide cannot drift from the SDK.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeExamples;

/// Every Rust example of the plugin author's guide (`docs/guide.md`), compiled and run by
/// `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../docs/guide.md")]
pub struct GuideExamples;

/// docs/operations.md's examples (the authorize hook), compiled by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../docs/operations.md")]
pub struct OperationsExamples;

/// docs/testing.md's examples, compiled (and the in-process one run) by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../docs/testing.md")]
pub struct TestingGuideExamples;

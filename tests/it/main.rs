//! apiphant's integration tests: the real `apiphant` binary with real plugins, over TCP
//! on loopback. One test binary (fast links); modules by subject.
// Test helpers are `pub` for the modules of this binary; not every module uses every helper.
#![allow(unreachable_pub)]

#[allow(dead_code)]
mod util;

/// The admin listener: /livez, /readyz, /metrics (checked by promtool).
mod admin;
/// `[auth]`: tokens, scopes, 401 / 403 before the body, the caller's name in the log.
mod auth;
/// apiphant-background: tasks, tracebacks, signals, the lock, emails to a real SMTP server.
mod background;
/// Blocking actions run on the blocking pool and never stall other requests.
mod blocking;
/// Scheduled tasks on three "hosts" sharing a real PostgreSQL: every slot once, SIGKILL too.
mod cluster;
/// `apiphant config` / `--print-config`, the configuration's ranges, command names refused as folders.
mod config;
/// `[cors]`: preflights, CORS headers, and a real headless Chromium calling from a page.
mod cors;
/// 5-field cron expressions against croniter (an independent reference) and Vixie cron.
mod cron_reference;
/// The docs cannot drift: the configuration tables against `apiphant config`, README.md's
/// length, every relative link.
mod docs;
/// A connection waiting for its socket is served in turn while others keep the worker busy.
mod fairness;
/// Plugin faults at run time: panics, non-objects, malformed bytes; the server keeps serving.
mod faults;
/// Hostile input, slow clients, timeouts, memory and fd bounds, graceful shutdown.
mod hostile;
/// ABI 2 with a real plugin: init and shutdown hooks, the request context.
mod lifecycle;
/// The memory budget for request bodies, multipart's limits, memory given back after a burst.
mod memory;
/// `apiphant new`: a product scaffolded outside the repository builds, serves, passes its
/// own tests; bad input refused with one line.
mod new;
/// The API description: OpenAPI 3.1, printed and served, checked by openapi-spec-validator.
mod openapi;
/// The original apiphant suite (echo + the self target's cases), byte for byte in status
/// and structurally in body.
mod original;
/// A PostgreSQL of the tests' own (Debian's postgresql package), started and stopped by PID.
mod postgres;
/// Raw mode: a real multipart upload, a non-JSON response.
mod raw;
/// Live reload: SIGHUP under load, broken plugins and configs, token revocation, --watch.
mod reload;
/// Request ids: kept or generated, returned, logged, handed to the action.
mod request_ids;
/// Routing: nested targets, versions side by side, 404 / 501 / 400 rules, path forms.
mod routing;
/// Bad plugins at start-up: one clear line, exit code 2, no backtrace.
mod startup;
/// Typed actions, typed plugin settings, `${ENV}` in plugin tables, one loader.
mod typed;

//! The log bridge: a plugin's `log` records (a cdylib has its own `log` statics) go to the
//! host's log callback, tagged with the target and action (or task) being run.

use crate::abi::{self, Bytes};
use std::sync::OnceLock;

static HOST_LOG: OnceLock<abi::LogFn> = OnceLock::new();
static BRIDGE: Bridge = Bridge;

/// Sends this plugin's `log` records to `host_log`, up to `max_level` (a `LevelFilter` as u32).
pub(crate) fn install(host_log: abi::LogFn, max_level: u32) {
    let _ = HOST_LOG.set(host_log);
    if log::set_logger(&BRIDGE).is_ok() {
        log::set_max_level(level_filter(max_level));
    }
}

struct Bridge;

impl log::Log for Bridge {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let Some(host_log) = HOST_LOG.get() else {
            return;
        };
        let target = match crate::call::current() {
            Some((route, action)) => format!("{route} {action}"),
            None => record.target().to_owned(),
        };
        let message = record.args().to_string();
        host_log(
            record.level() as u32,
            Bytes::of(target.as_bytes()),
            Bytes::of(message.as_bytes()),
        );
    }

    fn flush(&self) {}
}

fn level_filter(level: u32) -> log::LevelFilter {
    match level {
        0 => log::LevelFilter::Off,
        1 => log::LevelFilter::Error,
        2 => log::LevelFilter::Warn,
        3 => log::LevelFilter::Info,
        4 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    }
}

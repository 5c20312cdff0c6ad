//! The example product's background tasks, the original's `myproduct/api/background.py`:
//! `update_something` every 60 s, plus a cron task and an `on_error` hook. Run them with
//! `apiphant-background .` (docs/guide.md, "Tasks").

use apiphant_sdk::{cron, every, Failure, TaskResult};

/// The original's `@seconds(60) def update_something(): ...`.
pub fn update_something() -> TaskResult {
    log::info!("something is up to date");
    Ok(())
}

/// Every five minutes on weekdays (5-field cron, Monday = 1 .. Friday = 5): a report of
/// what the last run saw. Returning an error instead would log its cause chain and email it.
pub fn weekday_report() -> TaskResult {
    let uptime = std::fs::read_to_string("/proc/uptime").unwrap_or_default();
    let seconds = uptime.split_whitespace().next().unwrap_or("?");
    log::info!("host up for {seconds} s");
    Ok(())
}

/// Runs after any task failed, in addition to the built-in email (`[email]`).
pub fn on_error(failure: &Failure) -> TaskResult {
    log::warn!("task {} failed; the traceback is in the log", failure.task);
    Ok(())
}

apiphant_sdk::export! {
    tasks {
        update_something: every(60),
        weekday_report: cron("*/5 * * * 1-5").run_at_start(false),
    },
    on_error = on_error,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_succeed() {
        assert!(update_something().is_ok());
        assert!(weekday_report().is_ok());
        let failure = Failure {
            task: "x".into(),
            traceback: "boom".into(),
        };
        assert!(on_error(&failure).is_ok());
    }
}

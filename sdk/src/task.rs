//! Background tasks: the port of the original's `@seconds(60) def update_something(): ...`.
//!
//! A task is a plain function, `fn update_something() -> TaskResult` (or returning `()`),
//! plus a [`Schedule`]: [`every`]`(60)` seconds, or [`cron`]`("*/5 * * * *")`. `export!`'s
//! `tasks { ... }` block lists them; `apiphant-background` runs them. The SDK only records
//! the schedule's text: the worker parses and checks it at start-up (it owns the cron crate),
//! so a bad expression stops the worker with one line naming the task.

use std::fmt::Write as _;

/// Any error, so that `?` works on every error type (`std::io::Error`, `serde_json::Error`,
/// a `String` via `.into()`...). The worker logs its cause chain.
pub type TaskError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a task returns.
pub type TaskResult = Result<(), TaskError>;

/// When a task runs: an interval or a cron expression, and whether it runs once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    spec: String,
    run_at_start: bool,
}

/// Every `seconds` seconds (the original's `@seconds(N)`), counted from the worker's start.
pub fn every(seconds: u64) -> Schedule {
    Schedule {
        spec: format!("every {seconds}s"),
        run_at_start: true,
    }
}

/// A cron expression: the common 5-field form (`min hour day-of-month month day-of-week`,
/// Sunday = 0 or 7) or the cron crate's seconds-first 6/7-field form (Sunday = 1). Times
/// are in the worker's time zone (`[background] time_zone`, UTC by default).
pub fn cron(expression: &str) -> Schedule {
    Schedule {
        spec: expression.to_owned(),
        run_at_start: true,
    }
}

impl Schedule {
    /// Whether the task also runs once when the worker starts (default: yes, as the original).
    pub fn run_at_start(mut self, run: bool) -> Schedule {
        self.run_at_start = run;
        self
    }

    pub(crate) fn spec(&self) -> &str {
        &self.spec
    }

    pub(crate) fn runs_at_start(&self) -> bool {
        self.run_at_start
    }
}

/// What a plugin's `on_error` hook receives after a task failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The task's name.
    pub task: String,
    /// The traceback the worker logged: the error's cause chain, or the panic's message,
    /// location and backtrace.
    pub traceback: String,
}

/// What a task function may return: `()` or `Result<(), E>` for any error `E`.
pub trait IntoTaskResult {
    /// Converts to a [`TaskResult`].
    fn into_task_result(self) -> TaskResult;
}

impl IntoTaskResult for () {
    fn into_task_result(self) -> TaskResult {
        Ok(())
    }
}

impl<E: Into<TaskError>> IntoTaskResult for Result<(), E> {
    fn into_task_result(self) -> TaskResult {
        self.map_err(Into::into)
    }
}

/// One task as listed in `export!`: name, function, schedule.
pub struct Task {
    pub(crate) name: &'static str,
    pub(crate) run: Box<dyn Fn() -> TaskResult + Send + Sync>,
    pub(crate) schedule: Schedule,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("name", &self.name)
            .field("schedule", &self.schedule)
            .finish_non_exhaustive()
    }
}

impl Task {
    /// A task named `name` running `function` on `schedule`.
    pub fn new<R: IntoTaskResult + 'static>(
        name: &'static str,
        function: fn() -> R,
        schedule: Schedule,
    ) -> Task {
        Task {
            name,
            run: Box::new(move || function().into_task_result()),
            schedule,
        }
    }
}

/// A plugin's `on_error` hook.
pub type OnError = fn(&Failure) -> TaskResult;

/// An error and its sources, one per line, like a traceback's "caused by" chain:
/// `could not update\nCaused by:\n    0: connection refused`.
pub fn cause_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    if source.is_some() {
        text.push_str("\nCaused by:");
    }
    let mut n = 0;
    while let Some(cause) = source {
        let _ = write!(text, "\n    {n}: {cause}");
        n += 1;
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("could not update")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn chains_and_conversions() {
        let error = Outer(std::io::Error::other("connection refused"));
        assert_eq!(
            cause_chain(&error),
            "could not update\nCaused by:\n    0: connection refused"
        );
        let plain: TaskError = "plain".into();
        assert_eq!(cause_chain(plain.as_ref()), "plain");
        assert!(().into_task_result().is_ok());
        let failed: Result<(), std::io::Error> = Err(std::io::Error::other("x"));
        assert!(failed.into_task_result().is_err());
    }

    #[test]
    fn schedules_record_their_text() {
        assert_eq!(every(60).spec(), "every 60s");
        assert!(every(60).runs_at_start());
        let nightly = cron("0 3 * * *").run_at_start(false);
        assert_eq!(nightly.spec(), "0 3 * * *");
        assert!(!nightly.runs_at_start());
    }
}

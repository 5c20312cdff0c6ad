//! The example product's background tasks, the original's `myproduct/api/background.py`:
//! `update_something` every 60 s, plus a cron task and an `on_error` hook. Run them with
//! `apiphant-background .` (docs/guide.md, "Tasks"). And `v0/reports create`, an
//! asynchronous action in the `reports` queue: called with `Prefer: respond-async` it is
//! stored as a job that the worker runs (docs/jobs.md).

use apiphant_sdk::{action, cron, every, ApiError, ApiResult, Failure, Object, TaskResult, Value};

/// Sums `numbers`: the shape of a long report. Idempotent (the answer depends on the body
/// alone, nothing is written), so running it twice after a lost worker is harmless.
pub fn report(request: Object) -> ApiResult {
    let numbers = request
        .get("numbers")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::missing("numbers"))?;
    let mut total = 0.0;
    for number in numbers {
        total += number
            .as_f64()
            .ok_or_else(|| ApiError::invalid("numbers"))?;
    }
    let mut answer = Object::new();
    answer.insert("count".into(), numbers.len().into());
    answer.insert("total".into(), total.into());
    answer.insert(
        "request_id".into(),
        apiphant_sdk::context().request_id.into(),
    );
    Ok(answer)
}

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
    "v0/reports" => {
        create = action(report)
            .queue("reports")
            .doc("Sums `numbers`; with `Prefer: respond-async` it runs as a job (docs/jobs.md)."),
    },
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
        let mut request = Object::new();
        request.insert("numbers".into(), apiphant_sdk::json!([1, 2.5]));
        let answer = report(request).expect("a report");
        assert_eq!(answer["total"], 3.5);
        assert!(report(Object::new()).is_err());
    }
}

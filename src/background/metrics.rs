//! The background worker's figures for its admin listener (`apiphant-background --admin
//! HOST:PORT`): runs, failures and a duration histogram per task, each task's last success
//! (unix seconds), the error emails sent and failed, the build info; `/readyz` turns 503
//! once a signal starts the shutdown. Relaxed atomics, touched once per run; written by the
//! one exposition writer (`crate::exposition`).

use crate::admin::Observed;
use crate::exposition::{Exposition, Histogram};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A run's duration buckets, in seconds (then `+Inf`): tasks take from milliseconds to
/// an hour.
const BUCKETS: [f64; 12] = [
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

/// One task's counters.
#[derive(Debug)]
struct Task {
    name: Box<str>,
    runs: AtomicU64,
    failures: AtomicU64,
    /// Runs by duration bucket, each in its own bucket only.
    durations: [AtomicU64; BUCKETS.len() + 1],
    duration_micros: AtomicU64,
    /// Unix seconds of the last successful run's end; 0: none yet.
    last_success: AtomicU64,
}

/// The worker's counters, by task index (the runner's order).
#[derive(Debug)]
pub struct WorkerMetrics {
    tasks: Vec<Task>,
    emails_sent: AtomicU64,
    emails_failed: AtomicU64,
    plugins: usize,
    stopping: AtomicBool,
}

impl WorkerMetrics {
    /// Zeroed counters for the tasks `names` (in the runner's order) of `plugins` plugins.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>, plugins: usize) -> WorkerMetrics {
        let tasks = names
            .into_iter()
            .map(|name| Task {
                name: name.into(),
                runs: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                durations: Default::default(),
                duration_micros: AtomicU64::new(0),
                last_success: AtomicU64::new(0),
            })
            .collect();
        WorkerMetrics {
            tasks,
            emails_sent: AtomicU64::new(0),
            emails_failed: AtomicU64::new(0),
            plugins,
            stopping: AtomicBool::new(false),
        }
    }

    /// Counts one run of task `task` that took `took` and succeeded (`ok`) or failed.
    pub fn run(&self, task: usize, took: Duration, ok: bool) {
        let Some(counters) = self.tasks.get(task) else {
            return;
        };
        let seconds = took.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(BUCKETS.len());
        counters.runs.fetch_add(1, Ordering::Relaxed);
        counters.durations[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        counters
            .duration_micros
            .fetch_add(micros, Ordering::Relaxed);
        if ok {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_secs());
            counters.last_success.store(now, Ordering::Relaxed);
        } else {
            counters.failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one error email: sent (`ok`) or failed.
    pub fn email(&self, ok: bool) {
        let counter = if ok {
            &self.emails_sent
        } else {
            &self.emails_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The shutdown started: `/readyz` says 503 from now on.
    pub fn stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }
}

impl Observed for WorkerMetrics {
    fn ready(&self) -> bool {
        !self.stopping.load(Ordering::Relaxed)
    }

    fn exposition(&self) -> String {
        let mut out = Exposition::with_capacity(1024 + self.tasks.len() * 1024);
        out.build_info(self.plugins);
        for (name, help, read) in [
            (
                "apiphant_task_runs_total",
                "Runs of each background task, failed ones included.",
                (|t: &Task| t.runs.load(Ordering::Relaxed)) as fn(&Task) -> u64,
            ),
            (
                "apiphant_task_failures_total",
                "Runs of each background task that failed.",
                |t: &Task| t.failures.load(Ordering::Relaxed),
            ),
        ] {
            out.family(name, "counter", help);
            for task in &self.tasks {
                out.sample(name, &[("task", &task.name)], read(task));
            }
        }
        let name = "apiphant_task_duration_seconds";
        out.family(
            name,
            "histogram",
            "How long each background task's runs took.",
        );
        for task in &self.tasks {
            let counts = task
                .durations
                .each_ref()
                .map(|count| count.load(Ordering::Relaxed));
            let histogram = Histogram {
                bounds: &BUCKETS,
                counts: &counts,
                sum: task.duration_micros.load(Ordering::Relaxed) as f64 / 1e6,
            };
            out.histogram(name, &[("task", &task.name)], histogram);
        }
        let name = "apiphant_task_last_success_timestamp_seconds";
        out.family(
            name,
            "gauge",
            "Unix time of each background task's last successful run (absent until it has one).",
        );
        for task in &self.tasks {
            let last = task.last_success.load(Ordering::Relaxed);
            if last > 0 {
                out.sample(name, &[("task", &task.name)], last);
            }
        }
        out.single(
            "apiphant_emails_sent_total",
            "counter",
            "Error emails sent ([email], after a failed run).",
            self.emails_sent.load(Ordering::Relaxed),
        );
        out.single(
            "apiphant_emails_failed_total",
            "counter",
            "Error emails that could not be sent.",
            self.emails_failed.load(Ordering::Relaxed),
        );
        out.single(
            "apiphant_ready",
            "gauge",
            "1 while the worker schedules tasks, 0 once it shuts down.",
            u8::from(self.ready()),
        );
        crate::jobs::depth::render(&mut out);
        out.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_failures_and_last_success() {
        let metrics = WorkerMetrics::new(["a", "b"], 1);
        metrics.run(0, Duration::from_millis(20), true);
        metrics.run(1, Duration::from_secs(2), false);
        metrics.email(true);
        let text = metrics.exposition();
        assert!(
            text.contains("apiphant_task_runs_total{task=\"a\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("apiphant_task_failures_total{task=\"a\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("apiphant_task_failures_total{task=\"b\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("apiphant_task_last_success_timestamp_seconds{task=\"a\"} "));
        assert!(!text.contains("apiphant_task_last_success_timestamp_seconds{task=\"b\"}"));
        assert!(text.contains("apiphant_task_duration_seconds_bucket{task=\"b\",le=\"5\"} 1\n"));
        assert!(text.contains("apiphant_emails_sent_total 1\n"), "{text}");
        assert!(metrics.ready());
        metrics.stopping();
        assert!(metrics.exposition().contains("apiphant_ready 0\n"));
    }
}

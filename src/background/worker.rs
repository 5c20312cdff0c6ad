//! The worker loop: sleep until the next due time, run due tasks one by one on a task
//! thread, log each result in the original's shape, run `on_error` (email, plugin hooks)
//! after a failure, and stop cleanly on SIGTERM / SIGINT.
//!
//! The main thread only plans and waits on one channel, which receives both "task done"
//! and signals: so a signal is seen at once even while a task (or a slow SMTP server) runs,
//! and the running task gets the grace period to finish. Naps are capped at a minute, so a
//! jump of the wall clock (a suspended machine) is noticed; nothing polls every second.
//!
//! With a tick store (`[database]`), the plan is aligned and each due run is claimed first:
//! it runs here only if this worker won the claim, and the skipped runs it logs are those of
//! the whole deployment (slots between the task's previous claimed slot and this one).

use super::email::Notifier;
use super::metrics::WorkerMetrics;
use super::plan::{Due, Plan};
use super::schedule::Schedule;
use crate::logging::escape_lines;
use crate::plugin::TaskSet;
use crate::store::{Claim, Tick, TickStore};
use chrono::{DateTime, FixedOffset, Utc};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest nap before the wall clock is read again.
const MAX_NAP: Duration = Duration::from_secs(60);

/// What runs tasks and hooks: the loaded plugins, or a fake in tests.
pub trait Runner: Send + Sync {
    /// The name of task `task`.
    fn name(&self, task: usize) -> &str;
    /// Runs task `task` (for `slot`, seconds since the epoch, when the run was claimed for
    /// one); `Err` is its traceback.
    fn run(&self, task: usize, slot: Option<i64>) -> Result<(), String>;
    /// Runs every `on_error` hook: (hook's plugin file, result) each.
    fn run_hooks(&self, task: &str, traceback: &str) -> Vec<(String, Result<(), String>)>;
}

impl Runner for TaskSet {
    fn name(&self, task: usize) -> &str {
        self.tasks()
            .get(task)
            .map_or("?", |entry| entry.name.as_str())
    }

    fn run(&self, task: usize, slot: Option<i64>) -> Result<(), String> {
        match self.tasks().get(task) {
            Some(entry) => TaskSet::run_slot(self, entry, slot),
            None => Err(format!("no task {task}")),
        }
    }

    fn run_hooks(&self, task: &str, traceback: &str) -> Vec<(String, Result<(), String>)> {
        TaskSet::run_hooks(self, task, traceback)
    }
}

/// Everything the loop needs.
#[derive(Debug)]
pub struct Worker<R> {
    /// Runs the tasks.
    pub runner: Arc<R>,
    /// Each task's schedule and whether it runs at start, in the runner's order.
    pub schedules: Vec<(Schedule, bool)>,
    /// Zone of cron expressions.
    pub zone: FixedOffset,
    /// Told about failures (the built-in email), if configured.
    pub notifier: Option<Arc<dyn Notifier>>,
    /// How long the running task may finish after SIGTERM / SIGINT.
    pub grace: Duration,
    /// Where runs are claimed (`[database]`); `None`: this worker runs every due run.
    pub ticks: Option<Box<dyn TickStore>>,
    /// Counted for the admin listener's `/metrics` (`--admin`), if on.
    pub metrics: Option<&'static WorkerMetrics>,
}

/// What the main thread waits for.
#[derive(Debug)]
pub enum Event {
    /// The running task (and its `on_error`) finished.
    Done,
    /// SIGTERM or SIGINT.
    Signal(i32),
}

/// Runs until a signal arrives on `events` (from [`forward_signals`]); then lets the running
/// task finish within the grace period and returns.
pub fn run<R: Runner + 'static>(
    worker: Worker<R>,
    events: mpsc::Sender<Event>,
    inbox: &Receiver<Event>,
) -> std::io::Result<()> {
    let (jobs, job_inbox) = mpsc::channel::<(Due, Option<i64>)>();
    let runner = Arc::clone(&worker.runner);
    let notifier = worker.notifier.clone();
    let metrics = worker.metrics;
    std::thread::Builder::new()
        .name("task".to_owned())
        .spawn(move || {
            for (due, slot) in job_inbox {
                let told = Told {
                    notifier: notifier.as_deref(),
                    metrics,
                };
                run_due(runner.as_ref(), told, &due, slot);
                if events.send(Event::Done).is_err() {
                    break;
                }
            }
        })?;
    let mut ticks = worker.ticks;
    let mut plan = match ticks {
        Some(_) => Plan::aligned(worker.schedules, worker.zone, Utc::now()),
        None => Plan::new(worker.schedules, worker.zone, Utc::now()),
    };
    loop {
        let batch = plan.take_due(Utc::now());
        for due in &batch {
            let run = match ticks.as_deref_mut() {
                Some(store) => match claim(store, &plan, worker.runner.as_ref(), due) {
                    Some(claimed) => claimed,
                    None => continue,
                },
                None => (due.clone(), None),
            };
            if jobs.send(run).is_err() {
                return Ok(());
            }
            match inbox.recv() {
                Ok(Event::Done) => {}
                Ok(Event::Signal(signal)) => {
                    if let Some(metrics) = worker.metrics {
                        metrics.stopping();
                    }
                    let name = worker.runner.name(due.task);
                    stop(signal, Some(name), inbox, worker.grace);
                    return Ok(());
                }
                Err(_) => return Ok(()),
            }
        }
        if !batch.is_empty() {
            continue;
        }
        match inbox.recv_timeout(nap(plan.next_wake(), Utc::now())) {
            Ok(Event::Signal(signal)) => {
                if let Some(metrics) = worker.metrics {
                    metrics.stopping();
                }
                stop(signal, None, inbox, worker.grace);
                return Ok(());
            }
            Ok(Event::Done) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}

/// Claims `due` in `store`: the run with the deployment's skipped count and its slot when
/// this worker won, `None` when another worker did or the claim failed (logged).
fn claim<R: Runner + ?Sized>(
    store: &mut dyn TickStore,
    plan: &Plan,
    runner: &R,
    due: &Due,
) -> Option<(Due, Option<i64>)> {
    let name = runner.name(due.task);
    let tick = if due.at_start {
        Tick::Start
    } else {
        Tick::Slot(due.planned)
    };
    match store.claim(name, tick) {
        Ok(Claim::Won { previous }) => {
            let skipped = previous.map_or(0, |previous| {
                plan.slots_between(due.task, previous, due.planned)
            });
            let slot = (!due.at_start).then(|| due.planned.timestamp());
            Some((
                Due {
                    skipped,
                    ..due.clone()
                },
                slot,
            ))
        }
        Ok(Claim::Lost) => {
            log::debug!("Task {name}: claimed by another worker.");
            None
        }
        Err(why) => {
            log::error!("Task {name}: not run, its claim failed: {why}");
            None
        }
    }
}

/// Sends SIGTERM and SIGINT to `events` from a signal-handling thread.
pub fn forward_signals(events: mpsc::Sender<Event>) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
    std::thread::Builder::new()
        .name("signals".to_owned())
        .spawn(move || {
            for signal in signals.forever() {
                if events.send(Event::Signal(signal)).is_err() {
                    break;
                }
            }
        })?;
    Ok(())
}

/// How long to sleep before `wake` (at most [`MAX_NAP`]).
fn nap(wake: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Duration {
    wake.map_or(MAX_NAP, |wake| {
        (wake - now).to_std().unwrap_or(Duration::ZERO).min(MAX_NAP)
    })
}

fn stop(signal: i32, running: Option<&str>, inbox: &Receiver<Event>, grace: Duration) {
    let name = match signal {
        signal_hook::consts::SIGINT => "SIGINT",
        _ => "SIGTERM",
    };
    let Some(task) = running else {
        log::info!("Received {name}: stopping.");
        return;
    };
    log::info!(
        "Received {name}: letting task {task} finish (at most {} s).",
        grace.as_secs_f64()
    );
    let deadline = Instant::now() + grace;
    loop {
        match inbox.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Event::Done) => {
                log::info!("Stopped after task {task} finished.");
                return;
            }
            Ok(Event::Signal(_)) => {}
            Err(_) => {
                log::warn!("Task {task} did not finish within the grace period: stopping anyway.");
                return;
            }
        }
    }
}

/// Who hears about a run: the error email's notifier, the counters of `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Told<'a> {
    /// Told about failures (the built-in email), if configured.
    pub notifier: Option<&'a dyn Notifier>,
    /// Counts runs and emails, if the admin listener is on.
    pub metrics: Option<&'a WorkerMetrics>,
}

/// Runs one due task (for `slot`, when claimed for one) and its `on_error` handlers,
/// logging each result.
pub fn run_due<R: Runner + ?Sized>(runner: &R, told: Told<'_>, due: &Due, slot: Option<i64>) {
    let name = runner.name(due.task);
    if due.skipped > 0 {
        log::warn!(
            "Task {name}: {} missed run(s) skipped; running once for {}.",
            due.skipped,
            due.planned.format("%Y-%m-%d %H:%M:%S UTC")
        );
    }
    let started = Instant::now();
    let result = runner.run(due.task, slot);
    if let Some(metrics) = told.metrics {
        metrics.run(due.task, started.elapsed(), result.is_ok());
    }
    match result {
        Ok(()) => log::info!("Task {name}: OK."),
        Err(traceback) => {
            log::error!("Task {name} failed:\n{}", escape_lines(&traceback, false));
            on_error(runner, told, name, &traceback);
        }
    }
}

fn on_error<R: Runner + ?Sized>(runner: &R, told: Told<'_>, task: &str, traceback: &str) {
    if let Some(notifier) = told.notifier {
        let sent = notifier.notify(task, traceback);
        if let Some(metrics) = told.metrics {
            metrics.email(sent.is_ok());
        }
        match sent {
            Ok(()) => log::info!("on_error: OK. {}.", notifier.describe()),
            Err(reason) => log::error!("on_error failed: {reason}"),
        }
    }
    for (plugin, result) in runner.run_hooks(task, traceback) {
        match result {
            Ok(()) => log::info!("on_error: OK. Hook of {plugin}."),
            Err(reason) => log::error!(
                "on_error failed: hook of {plugin}:\n{}",
                escape_lines(&reason, false)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// The in-memory notifier: records what it was told.
    #[derive(Debug, Default)]
    struct Recorder {
        told: Mutex<Vec<(String, String)>>,
        fail: bool,
    }

    impl Notifier for Recorder {
        fn notify(&self, task: &str, traceback: &str) -> Result<(), String> {
            if let Ok(mut told) = self.told.lock() {
                told.push((task.to_owned(), traceback.to_owned()));
            }
            if self.fail {
                Err("smtp down".to_owned())
            } else {
                Ok(())
            }
        }

        fn describe(&self) -> String {
            "recorded".to_owned()
        }
    }

    struct Fake {
        hooks: Mutex<Vec<String>>,
    }

    impl Runner for Fake {
        fn name(&self, task: usize) -> &str {
            ["fine", "broken"][task]
        }
        fn run(&self, task: usize, _slot: Option<i64>) -> Result<(), String> {
            if task == 0 {
                Ok(())
            } else {
                Err("ZeroDivisionError".to_owned())
            }
        }
        fn run_hooks(&self, task: &str, _traceback: &str) -> Vec<(String, Result<(), String>)> {
            if let Ok(mut hooks) = self.hooks.lock() {
                hooks.push(task.to_owned());
            }
            vec![("libx.so".to_owned(), Ok(()))]
        }
    }

    fn due(task: usize) -> Due {
        Due {
            task,
            planned: Utc::now(),
            skipped: 0,
            at_start: false,
        }
    }

    #[test]
    fn failures_reach_the_notifier_and_the_hooks_successes_do_not() {
        let runner = Fake {
            hooks: Mutex::new(Vec::new()),
        };
        for fail in [false, true] {
            let recorder = Recorder {
                fail,
                ..Recorder::default()
            };
            let told = Told {
                notifier: Some(&recorder),
                metrics: None,
            };
            run_due(&runner, told, &due(0), None);
            run_due(&runner, told, &due(1), Some(0));
            let told = recorder.told.lock().map(|t| t.clone()).unwrap_or_default();
            assert_eq!(
                told,
                [("broken".to_owned(), "ZeroDivisionError".to_owned())]
            );
        }
        // The hook runs whether or not the email went out.
        let hooks = runner.hooks.lock().map(|h| h.clone()).unwrap_or_default();
        assert_eq!(hooks, ["broken", "broken"]);
    }

    #[test]
    fn naps_end_at_the_next_run_and_never_exceed_a_minute() {
        let now = Utc::now();
        assert_eq!(
            nap(Some(now + chrono::TimeDelta::seconds(5)), now),
            Duration::from_secs(5)
        );
        assert_eq!(
            nap(Some(now - chrono::TimeDelta::seconds(5)), now),
            Duration::ZERO
        );
        assert_eq!(nap(Some(now + chrono::TimeDelta::hours(5)), now), MAX_NAP);
        assert_eq!(nap(None, now), MAX_NAP);
    }
}

//! `apiphant-background PRODUCT`: the worker's command line. Loads the product's plugins,
//! checks every schedule and the `[email]` section, then lists (`--list`), runs one task
//! (`--run NAME`) or takes the product's lock and runs the worker. Start-up mistakes print
//! one line, `apiphant-background: ...`, and exit 2.

use super::email::{Notifier, SmtpNotifier};
use super::lock::Lock;
use super::metrics::WorkerMetrics;
use super::plan::Plan;
use super::schedule::Schedule;
use super::worker::{self, Worker};
use crate::args::{PrintConfig, ProductArgs};
use crate::config::{TimeZone, CONFIG_FILE};
use crate::jobs::runner;
use crate::plugin::TaskSet;
use crate::product::Product;
use crate::store::{self, TickStore};
use chrono::Utc;
use clap::Parser;
use std::process::ExitCode;
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Run a product's background tasks: intervals and cron expressions from its plugins.
#[derive(Debug, Parser)]
#[command(name = "apiphant-background", version, long_about = None)]
pub struct Cli {
    /// The product and its plugins.
    #[command(flatten)]
    pub product: ProductArgs,
    /// Print each task, its schedule and its next run time, and exit.
    #[arg(long, conflicts_with = "run")]
    pub list: bool,
    /// Run one task now, print its result, exit 0 (OK) or 1 (failed). Takes no lock and
    /// sends no email.
    #[arg(long, value_name = "NAME")]
    pub run: Option<String>,
    /// Serve /livez, /readyz and /metrics (runs, failures, durations per task, emails) at
    /// this address, e.g. 127.0.0.1:9100; none without it.
    #[arg(long, value_name = "HOST:PORT")]
    pub admin: Option<std::net::SocketAddr>,
    /// `--print-config`.
    #[command(flatten)]
    pub print_config: PrintConfig,
}

type Error = Box<dyn std::error::Error>;

/// Runs the worker command: 0 ok, 1 `--run` task failed, 2 start-up error.
pub fn main() -> ExitCode {
    crate::logging::init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("apiphant-background: {error}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, Error> {
    if cli.print_config.print_config {
        PrintConfig::print(&Product::open(&cli.product.product)?);
        return Ok(ExitCode::SUCCESS);
    }
    let (product, files) = cli.product.open()?;
    let tasks = TaskSet::load(&files, &product.config.plugin_configs())?;
    let has_jobs = tasks.registry().has_asynchronous();
    if tasks.tasks().is_empty() && !has_jobs {
        return Err(format!(
            "no background tasks nor asynchronous actions in the plugins of '{}' (add `tasks {{ name: every(60) }}` to a plugin's export!, see docs/guide.md, \"Tasks\")",
            product.dir.display()
        )
        .into());
    }
    let schedules = schedules(&tasks)?;
    let config = &product.config.background;
    let zone = config.time_zone.0;
    if let Some(name) = &cli.run {
        return run_now(&tasks, name);
    }
    if cli.list {
        // The next scheduled slot after now; the start run is shown apart.
        let later = schedules
            .iter()
            .map(|(schedule, _)| (schedule.clone(), false));
        let plan = Plan::new(later.collect(), zone, Utc::now());
        for (n, (task, (schedule, at_start))) in tasks.tasks().iter().zip(&schedules).enumerate() {
            let next = plan.next_run(n).map_or_else(
                || "never".to_owned(),
                |t| {
                    t.with_timezone(&zone)
                        .format("%Y-%m-%d %H:%M:%S %:z")
                        .to_string()
                },
            );
            let start = if *at_start { "at start, then " } else { "" };
            println!(
                "{:<24} {:<28} {start}{next}",
                task.name,
                schedule.to_string()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let config_error = |why: String| {
        format!(
            "config '{}': {why}",
            product.dir.join(CONFIG_FILE).display()
        )
    };
    let notifier = match &product.config.email {
        Some(email) => Some(Arc::new(
            SmtpNotifier::new(email, &product.name()).map_err(config_error)?,
        ) as Arc<dyn Notifier>),
        None => None,
    };
    let grace = Duration::try_from_secs_f64(config.shutdown_grace_secs).map_err(|_| {
        config_error(
            "[background] shutdown_grace_secs must be a number of seconds, 0 or more".to_owned(),
        )
    })?;
    let lock_path = config.lock_file(&product.dir);
    let _lock = Lock::acquire(&lock_path, config.lock_file.is_none())?;
    let ticks = match &product.config.database {
        Some(database) => {
            let deployment = store::deployment_id(&files);
            let store = store::postgres::connect(
                database,
                &product.name(),
                &deployment,
                &store::worker_id(),
            )
            .map_err(|why| {
                format!(
                    "{why} (check [database] url in '{}' and that PostgreSQL accepts this host)",
                    product.dir.join(CONFIG_FILE).display()
                )
            })?;
            Some(Box::new(store) as Box<dyn TickStore>)
        }
        None => None,
    };
    let metrics = match cli.admin {
        Some(addr) => Some(admin(addr, &tasks, &product)?),
        None => None,
    };
    let (events, inbox) = mpsc::channel();
    worker::forward_signals(events.clone())?;
    log::info!(
        "{}",
        start_line(
            &product.name(),
            &tasks,
            &schedules,
            &config.time_zone,
            notifier.as_deref()
        )
    );
    if let Some(store) = &ticks {
        log::info!(
            "Each run is claimed once across hosts through {}.",
            store.describe()
        );
    }
    let tasks = Arc::new(tasks);
    let runners = if has_jobs {
        Some(start_jobs(&product, &tasks, notifier.clone())?)
    } else {
        None
    };
    let worker = Worker {
        runner: Arc::clone(&tasks),
        schedules,
        zone,
        notifier,
        grace,
        ticks,
        metrics,
    };
    worker::run(worker, events, &inbox)?;
    if let Some(runners) = runners {
        runners.stop(grace);
    }
    shutdown(&tasks);
    Ok(ExitCode::SUCCESS)
}

/// Opens the job store (its migrations applied: one line and exit 2 when it cannot be
/// opened) and starts the runner threads of every queue.
fn start_jobs(
    product: &Product,
    tasks: &Arc<TaskSet>,
    notifier: Option<Arc<dyn Notifier>>,
) -> Result<runner::Runners, Error> {
    let config = product.config.clone();
    let dir = product.dir.clone();
    let worker = store::worker_id();
    let first = store::open_jobs(&config, &dir, &worker).map_err(|why| {
        format!(
            "{why} (check [jobs] store or [database] in '{}')",
            dir.join(CONFIG_FILE).display()
        )
    })?;
    let queues = runner::queues(tasks, &config.jobs);
    let listed: Vec<String> = queues
        .iter()
        .map(|(queue, threads)| format!("{queue} ({threads} at once)"))
        .collect();
    log::info!(
        "Running asynchronous calls from {}: queues {}.",
        first.describe(),
        listed.join(", ")
    );
    drop(first);
    let jobs = config.jobs.clone();
    let open: runner::Opener = Arc::new(move || store::open_jobs(&config, &dir, &worker));
    crate::jobs::enqueue::through_store(Arc::clone(&open), jobs.max_attempts);
    crate::jobs::depth::start(
        Arc::clone(&open),
        queues.iter().map(|(queue, _)| queue.clone()),
    );
    Ok(runner::start(
        Arc::clone(tasks),
        notifier,
        &jobs,
        &queues,
        open,
    )?)
}

/// Starts the admin listener at `addr` (on one coroutine worker thread): the counters the
/// worker loop updates.
fn admin(
    addr: std::net::SocketAddr,
    tasks: &TaskSet,
    product: &Product,
) -> Result<&'static WorkerMetrics, Error> {
    let names = tasks.tasks().iter().map(|task| task.name.as_str());
    let metrics: &'static WorkerMetrics =
        Box::leak(Box::new(WorkerMetrics::new(names, tasks.plugin_count())));
    let settings = crate::server::Settings::from_config(&product.config.server, false);
    may::config().set_workers(1);
    crate::admin::listen(metrics, addr, settings.limits, 256 * 1024)
        .map_err(|error| format!("--admin {addr}: {error}"))?;
    Ok(metrics)
}

/// Runs the plugins' shutdown hooks once the task thread has let the set go (it ends
/// after the running task, which the worker waited for); not while a task still runs.
fn shutdown(tasks: &Arc<TaskSet>) {
    let deadline = std::time::Instant::now() + Duration::from_millis(500);
    while Arc::strong_count(tasks) > 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    if Arc::strong_count(tasks) > 1 {
        log::warn!("A task is still running: the plugins' shutdown hooks are not run.");
        return;
    }
    tasks.shutdown();
}

/// Every task's schedule, parsed; the first bad one is the error.
fn schedules(tasks: &TaskSet) -> Result<Vec<(Schedule, bool)>, Error> {
    tasks
        .tasks()
        .iter()
        .map(|task| {
            Schedule::parse(&task.schedule)
                .map(|schedule| (schedule, task.run_at_start))
                .map_err(|why| {
                    format!(
                        "task '{}' has an invalid schedule '{}': {why} (fix it in the plugin's export! line)",
                        task.name, task.schedule
                    )
                    .into()
                })
        })
        .collect()
}

fn run_now(tasks: &TaskSet, name: &str) -> Result<ExitCode, Error> {
    let Some(task) = tasks.tasks().iter().find(|task| task.name == name) else {
        let names: Vec<&str> = tasks
            .tasks()
            .iter()
            .map(|task| task.name.as_str())
            .collect();
        return Err(format!("no task named '{name}' (tasks: {})", names.join(", ")).into());
    };
    match tasks.run(task) {
        Ok(()) => {
            println!("Task {name}: OK.");
            Ok(ExitCode::SUCCESS)
        }
        Err(traceback) => {
            println!("Task {name} failed:\n{traceback}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `Apiphant is scheduling myproduct (times in UTC): update_something (every 60 s), ...`.
fn start_line(
    product: &str,
    tasks: &TaskSet,
    schedules: &[(Schedule, bool)],
    zone: &TimeZone,
    notifier: Option<&dyn Notifier>,
) -> String {
    let listed: Vec<String> = tasks
        .tasks()
        .iter()
        .zip(schedules)
        .map(|(task, (schedule, at_start))| {
            let start = if *at_start { "" } else { ", not at start" };
            format!("{} ({schedule}{start})", task.name)
        })
        .collect();
    let mut on_error = Vec::new();
    if notifier.is_some() {
        on_error.push("email".to_owned());
    }
    if tasks.hook_count() > 0 {
        on_error.push(format!("{} plugin hook(s)", tasks.hook_count()));
    }
    if on_error.is_empty() {
        on_error.push("log only".to_owned());
    }
    format!(
        "Apiphant is scheduling {product} (times in {zone}): {}; on_error: {}",
        listed.join(", "),
        on_error.join(" + ")
    )
}

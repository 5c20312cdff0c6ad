//! The worker's side of asynchronous calls: threads that claim jobs (a concurrency limit
//! per queue: that many threads per queue in each worker), run each through the server's
//! call path (`dispatch::call_traced`, with the stored request id and identity) while
//! renewing its lease every third of it, and record the end: the answer (succeeded), a
//! retry after an exponential back-off (a 5xx or a fault), or failed for good (a 4xx, or
//! the last attempt: then through `on_error` like a task, with the traceback).
//!
//! A worker killed mid-run renews nothing: its lease runs out and another worker claims the
//! job again (at least once). A run whose job was claimed elsewhere or cancelled meanwhile
//! records nothing (its `finish` matches no row).

use crate::background::email::Notifier;
use crate::config::JobsConfig;
use crate::dispatch::{self, Request};
use crate::plugin::TaskSet;
use crate::store::jobs::{backoff_ms, now_ms, Claimed, Finish};
use crate::store::JobStore;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Opens a connection to the store for one runner thread.
pub type Opener = Arc<dyn Fn() -> Result<Box<dyn JobStore>, String> + Send + Sync>;

/// How often a runner purges the jobs that ended more than `keep_secs` ago.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// The running runner threads.
#[derive(Debug)]
pub struct Runners {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// What every runner thread shares.
struct Shared {
    tasks: Arc<TaskSet>,
    notifier: Option<Arc<dyn Notifier>>,
    config: JobsConfig,
    open: Opener,
    stop: Arc<AtomicBool>,
}

/// The queues a worker serves with how many threads each: every queue an asynchronous
/// action names, `default` if an action names none, and every `[jobs.queues]` entry.
pub fn queues(tasks: &TaskSet, config: &JobsConfig) -> Vec<(String, usize)> {
    let mut names: Vec<String> = tasks
        .registry()
        .endpoints()
        .filter(|endpoint| endpoint.is_asynchronous())
        .map(|endpoint| endpoint.queue().to_owned())
        .chain(config.queues.keys().cloned())
        .collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let threads = config.concurrency_of(&name);
            (name, threads)
        })
        .collect()
}

/// Starts the runner threads of `queues`.
pub fn start(
    tasks: Arc<TaskSet>,
    notifier: Option<Arc<dyn Notifier>>,
    config: &JobsConfig,
    queues: &[(String, usize)],
    open: Opener,
) -> std::io::Result<Runners> {
    let stop = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Shared {
        tasks,
        notifier,
        config: config.clone(),
        open,
        stop: Arc::clone(&stop),
    });
    let mut threads = Vec::new();
    for (queue, count) in queues {
        for n in 0..*count {
            let shared = Arc::clone(&shared);
            let queue = queue.clone();
            let purges = threads.is_empty();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("jobs-{queue}-{n}"))
                    .spawn(move || run(&shared, &queue, purges))?,
            );
        }
    }
    Ok(Runners { stop, threads })
}

impl Runners {
    /// Asks every thread to stop after its running job and waits for them at most
    /// `grace`; a job still running then is left to its lease (another worker runs it).
    pub fn stop(self, grace: Duration) {
        self.stop.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + grace;
        for thread in self.threads {
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if thread.is_finished() {
                let _ = thread.join();
            } else {
                log::warn!("A job is still running: left to its lease.");
            }
        }
    }
}

/// One runner thread: claim, run, finish, until stopped.
fn run(shared: &Shared, queue: &str, purges: bool) {
    let poll = Duration::from_millis(shared.config.poll_ms);
    let lease_ms = (shared.config.lease_secs * 1000.0) as i64;
    let mut store: Option<Box<dyn JobStore>> = None;
    let mut failing = false;
    let mut purged = Instant::now();
    while !shared.stop.load(Ordering::SeqCst) {
        let connected = match store.as_deref_mut() {
            Some(store) => Ok(store),
            None => (shared.open)().map(|opened| &mut **store.insert(opened)),
        };
        let claimed = connected.and_then(|store| {
            if purges && purged.elapsed() >= PURGE_EVERY {
                purged = Instant::now();
                let before = now_ms() - (shared.config.keep_secs * 1000.0) as i64;
                match store.purge(before) {
                    Ok(0) => {}
                    Ok(count) => log::info!("Jobs: {count} ended job(s) purged."),
                    Err(why) => log::warn!("Jobs: purge failed: {why}"),
                }
            }
            let now = now_ms();
            store.claim(queue, now, now + lease_ms)
        });
        match claimed {
            Ok(Some(job)) => {
                if failing {
                    log::info!("Jobs: the store answers again.");
                    failing = false;
                }
                if let Some(store) = store.as_deref_mut() {
                    run_job(shared, store, &job, lease_ms);
                }
            }
            Ok(None) => {
                if failing {
                    log::info!("Jobs: the store answers again.");
                    failing = false;
                }
                std::thread::sleep(poll);
            }
            Err(why) => {
                if !failing {
                    log::error!("Jobs of queue {queue}: cannot claim: {why}");
                    failing = true;
                }
                std::thread::sleep(poll.max(Duration::from_millis(500)));
            }
        }
    }
}

/// Runs one claimed job and records its end.
fn run_job(shared: &Shared, store: &mut dyn JobStore, job: &Claimed, lease_ms: i64) {
    let label = format!("{} {}", job.route, job.action);
    let registry = shared.tasks.registry();
    let finish = if job.attempts > job.max_attempts {
        let error = r#"{"error":"the job's workers were lost on every attempt (lease ran out)"}"#;
        let traceback = format!(
            "job {} ({label}): lease ran out {} times",
            job.id, job.max_attempts
        );
        failed(shared, job, &label, &traceback);
        Finish::Failed(error.to_owned())
    } else if let Some(endpoint) = registry.job_endpoint(&job.route, &job.action) {
        log::info!(
            "Job {} ({label}): attempt {} of {}.",
            job.id,
            job.attempts,
            job.max_attempts
        );
        let path = format!("/api/{}/{}", job.route, job.action);
        let (done, finished) = mpsc::channel();
        let (reply, traceback) = std::thread::scope(|scope| {
            let call = scope.spawn(|| {
                let request = Request {
                    method: "POST",
                    path: &path,
                    headers: &[],
                    request_id: job.request_id.as_bytes(),
                    identity: job.identity.as_bytes(),
                    body: &job.body,
                };
                let result = dispatch::call_traced(registry, endpoint, &request);
                let _ = done.send(());
                result
            });
            let every = Duration::from_millis(u64::try_from(lease_ms / 3).unwrap_or(1000).max(1));
            while let Err(mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(every) {
                match store.renew(&job.id, now_ms() + lease_ms) {
                    Ok(true) => {}
                    Ok(false) => log::warn!(
                        "Job {} ({label}): no longer this worker's (cancelled, or its lease ran out); its result will be dropped.",
                        job.id
                    ),
                    Err(why) => log::warn!("Job {}: lease not renewed: {why}", job.id),
                }
            }
            call.join().unwrap_or_else(|_| {
                (
                    dispatch::Reply::json(500, &apiphant_sdk::wire::INTERNAL_ERROR),
                    Some("the call's thread panicked".to_owned()),
                )
            })
        });
        let body = String::from_utf8_lossy(reply.body()).into_owned();
        match reply.status {
            200..=299 => Finish::Succeeded(body),
            // The caller's mistake: another run would answer the same.
            status @ 400..=499 if status != 408 && status != 429 => Finish::Failed(body),
            status => {
                let traceback =
                    traceback.unwrap_or_else(|| format!("the action answered {status}: {body}"));
                if job.attempts < job.max_attempts {
                    let wait = backoff_ms(
                        job.attempts,
                        shared.config.backoff_secs,
                        shared.config.backoff_max_secs,
                    );
                    log::warn!(
                        "Job {} ({label}) failed (attempt {} of {}), again in {:.1} s:\n{}",
                        job.id,
                        job.attempts,
                        job.max_attempts,
                        wait as f64 / 1000.0,
                        crate::logging::escape_lines(&traceback, false)
                    );
                    Finish::Retry {
                        error: body,
                        at: now_ms() + wait,
                    }
                } else {
                    failed(shared, job, &label, &traceback);
                    Finish::Failed(body)
                }
            }
        }
    } else {
        let error = format!("no action {label} in this worker's plugins");
        failed(shared, job, &label, &error);
        Finish::Failed(serde_json::json!({ "error": error }).to_string())
    };
    match record_end(shared, store, &job.id, &finish) {
        Ok(true) => {
            if let Finish::Succeeded(_) = finish {
                log::info!("Job {} ({label}): OK.", job.id);
            }
        }
        Ok(false) => log::warn!(
            "Job {} ({label}): ended here but is no longer this worker's (cancelled, or run elsewhere): not recorded.",
            job.id
        ),
        Err(why) => log::error!(
            "Job {} ({label}): its end was not recorded ({why}); it runs again when its lease runs out.",
            job.id
        ),
    }
}

/// Records how the run ended; while the store cannot be reached, tries again every half
/// second (until the worker stops): the job's lease has run out meanwhile, but no other
/// worker can claim it either while the store is down, so the end is kept once.
fn record_end(
    shared: &Shared,
    store: &mut dyn JobStore,
    id: &str,
    finish: &Finish,
) -> Result<bool, String> {
    let mut warned = false;
    loop {
        match store.finish(id, finish, now_ms()) {
            Err(why) if !shared.stop.load(Ordering::SeqCst) => {
                if !warned {
                    log::warn!("Job {id}: cannot record its end yet ({why}); trying again.");
                    warned = true;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            other => return other,
        }
    }
}

/// Logs a job failed for good and runs `on_error` (the email, the plugins' hooks) as for
/// a task named `job <route> <action>`.
fn failed(shared: &Shared, job: &Claimed, label: &str, traceback: &str) {
    log::error!(
        "Job {} ({label}) failed after {} attempt(s):\n{}",
        job.id,
        job.attempts,
        crate::logging::escape_lines(traceback, false)
    );
    let name = format!("job {label} {}", job.id);
    let told = crate::background::worker::Told {
        notifier: shared.notifier.as_deref(),
        metrics: None,
    };
    crate::background::worker::on_error(shared.tasks.as_ref(), told, &name, traceback);
}

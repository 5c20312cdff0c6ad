//! The worker's side of asynchronous calls: per queue a claimer thread that claims, in one
//! round trip, as many due jobs as the queue's runner threads can start (its concurrency
//! limit per worker), woken at once by the store's word of a new job (PostgreSQL
//! `LISTEN`/`NOTIFY`, one listener thread) or every `poll_ms`; the runners run each through the server's
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
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Opens a connection to the store for one runner thread.
pub type Opener = Arc<dyn Fn() -> Result<Box<dyn JobStore>, String> + Send + Sync>;

/// How often a runner purges the jobs that ended more than `keep_secs` ago.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// The running threads: per queue a claimer and its runners, and the listener.
#[derive(Debug)]
pub struct Runners {
    stop: Arc<AtomicBool>,
    wakes: Vec<Arc<Wake>>,
    threads: Vec<JoinHandle<()>>,
}

/// What every thread shares.
struct Shared {
    tasks: Arc<TaskSet>,
    notifier: Option<Arc<dyn Notifier>>,
    config: JobsConfig,
    open: Opener,
    stop: Arc<AtomicBool>,
}

/// A queue's claimed jobs not started yet and how many of its jobs run: the claimer claims
/// only what its runners can start at once (`limit - waiting - running`).
#[derive(Default)]
struct Slots {
    state: Mutex<SlotState>,
    changed: Condvar,
}

#[derive(Default)]
struct SlotState {
    waiting: VecDeque<Claimed>,
    running: usize,
}

/// Word that a queue may have new jobs: rung by the listener (or at stop), waited for by
/// the queue's claimer between claims that found too few.
#[derive(Debug, Default)]
struct Wake {
    rung: Mutex<bool>,
    bell: Condvar,
}

impl Wake {
    fn ring(&self) {
        *lock(&self.rung) = true;
        self.bell.notify_all();
    }

    /// Forgets earlier rings: called before a claim, so a ring after it is not lost.
    fn clear(&self) {
        *lock(&self.rung) = false;
    }

    /// Waits until rung, at most `timeout` (the poll).
    fn wait(&self, timeout: Duration) {
        let rung = lock(&self.rung);
        let (mut rung, _) = self
            .bell
            .wait_timeout_while(rung, timeout, |rung| !*rung)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *rung = false;
    }
}

/// A mutex's guard, poisoned or not (the data stays consistent: no panic holds it mid-change).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The queues a worker serves with how many jobs of each it runs at once: every queue an
/// asynchronous action names, `default` if an action names none, and every `[jobs.queues]` entry.
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

/// Starts, for each of `queues`, its claimer and its `limit` runner threads, and the
/// listener that wakes the claimers when a job is enqueued.
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
    let mut wakes = HashMap::new();
    for (queue, limit) in queues {
        let slots = Arc::new(Slots::default());
        let wake = Arc::new(Wake::default());
        wakes.insert(queue.clone(), Arc::clone(&wake));
        for n in 0..*limit {
            let (shared, slots) = (Arc::clone(&shared), Arc::clone(&slots));
            threads.push(
                std::thread::Builder::new()
                    .name(format!("jobs-{queue}-{n}"))
                    .spawn(move || run(&shared, &slots))?,
            );
        }
        let shared = Arc::clone(&shared);
        let (queue, limit) = (queue.clone(), *limit);
        let purges = threads.len() == limit;
        threads.push(
            std::thread::Builder::new()
                .name(format!("claim-{queue}"))
                .spawn(move || claim(&shared, &queue, limit, &slots, &wake, purges))?,
        );
    }
    if !wakes.is_empty() {
        let shared = Arc::clone(&shared);
        let wakes = wakes.clone();
        threads.push(
            std::thread::Builder::new()
                .name("jobs-listen".to_owned())
                .spawn(move || listen(&shared, &wakes))?,
        );
    }
    Ok(Runners {
        stop,
        wakes: wakes.into_values().collect(),
        threads,
    })
}

impl Runners {
    /// Asks every thread to stop after its running job and waits for them at most
    /// `grace`; a job still running then is left to its lease (another worker runs it).
    pub fn stop(self, grace: Duration) {
        self.stop.store(true, Ordering::SeqCst);
        for wake in &self.wakes {
            wake.ring();
        }
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

/// The listener: waits for the store's word that jobs were enqueued and wakes their
/// queues' claimers at once (PostgreSQL `LISTEN`); ends at once on a store that sends none
/// (SQLite: the claimers poll every `poll_ms`). A lost connection is made again; meanwhile
/// the claimers poll.
fn listen(shared: &Shared, wakes: &HashMap<String, Arc<Wake>>) {
    // Short, so that a stop is seen soon.
    const WAIT: Duration = Duration::from_millis(250);
    let mut store: Option<Box<dyn JobStore>> = None;
    let mut failing = false;
    while !shared.stop.load(Ordering::SeqCst) {
        let connected = match store.as_deref_mut() {
            Some(store) => Ok(store),
            None => (shared.open)().map(|opened| &mut **store.insert(opened)),
        };
        match connected.and_then(|store| store.wait_enqueued(WAIT)) {
            Ok(None) => return,
            Ok(Some(queues)) => {
                if failing {
                    failing = false;
                    // Jobs enqueued while the word was lost.
                    wakes.values().for_each(|wake| wake.ring());
                }
                for queue in queues {
                    if let Some(wake) = wakes.get(&queue) {
                        wake.ring();
                    }
                }
            }
            Err(why) => {
                if !failing {
                    log::warn!("Jobs: no word of new jobs ({why}); polling meanwhile.");
                    failing = true;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
}

/// A queue's claimer: claims, in one round trip, as many due jobs as its runners can start
/// (up to the queue's `limit` running at once) and hands them over; when it found fewer, waits
/// for the listener's word or `poll_ms`, whichever comes first.
fn claim(shared: &Shared, queue: &str, limit: usize, slots: &Slots, wake: &Wake, purges: bool) {
    let poll = Duration::from_millis(shared.config.poll_ms);
    let lease_ms = (shared.config.lease_secs * 1000.0) as i64;
    let mut store: Option<Box<dyn JobStore>> = None;
    let mut failing = false;
    let mut purged = Instant::now();
    while !shared.stop.load(Ordering::SeqCst) {
        let free = {
            let state = lock(&slots.state);
            let busy = state.waiting.len() + state.running;
            if busy >= limit {
                // Every runner busy: wait for one to finish (a bounded wait: stop is seen).
                let _ = slots
                    .changed
                    .wait_timeout(state, Duration::from_millis(100))
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            }
            limit - busy
        };
        let connected = match store.as_deref_mut() {
            Some(store) => Ok(store),
            None => (shared.open)().map(|opened| &mut **store.insert(opened)),
        };
        wake.clear();
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
            store.claim(queue, now, now + lease_ms, free)
        });
        match claimed {
            Ok(jobs) => {
                if failing {
                    log::info!("Jobs: the store answers again.");
                    failing = false;
                }
                let short = jobs.len() < free;
                if !jobs.is_empty() {
                    lock(&slots.state).waiting.extend(jobs);
                    slots.changed.notify_all();
                }
                if short {
                    wake.wait(poll);
                }
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

/// One runner thread: runs the jobs its queue's claimer hands over, one at a time, until
/// stopped (a claimed job not started by then is left to its lease).
fn run(shared: &Shared, slots: &Slots) {
    let lease_ms = (shared.config.lease_secs * 1000.0) as i64;
    let mut store: Option<Box<dyn JobStore>> = None;
    while !shared.stop.load(Ordering::SeqCst) {
        let job = {
            let mut state = lock(&slots.state);
            match state.waiting.pop_front() {
                Some(job) => {
                    state.running += 1;
                    job
                }
                None => {
                    let _ = slots
                        .changed
                        .wait_timeout(state, Duration::from_millis(100))
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    continue;
                }
            }
        };
        // Its own connection (renewals and the end), made before the run.
        while store.is_none() && !shared.stop.load(Ordering::SeqCst) {
            match (shared.open)() {
                Ok(opened) => store = Some(opened),
                Err(why) => {
                    log::warn!("Job {}: cannot reach the store yet ({why}).", job.id);
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
        if let Some(store) = store.as_deref_mut() {
            run_job(shared, store, &job, lease_ms);
        }
        lock(&slots.state).running -= 1;
        slots.changed.notify_all();
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

//! The blocking pool: actions marked `blocking` (`action(read).blocking()` in `export!`)
//! run on a bounded set of plain threads while their connection's coroutine waits, so an
//! action that blocks its thread on a database, a file or an HTTP call never stalls the
//! worker threads that serve every other request.
//!
//! The request is copied for the hand-off (blocking actions are slow by nature; the copy is
//! small next to them). When every thread is busy and the queue is full, the request is
//! answered 503 rather than queued without bound.
//!
//! Each call has a deadline (the action's `.timeout(secs)`, else `action_timeout_secs`),
//! counted from when it is queued: past it the client gets 504 and the coroutine goes on
//! to the next request, while the call runs to its end on its thread (a thread cannot be
//! killed safely). Such a call is counted and logged as stuck, and again when it ends.
//! The pool stays usable as long as some threads are free; with every thread stuck, new
//! calls wait in the queue and get 504 at their own deadline, never a hang.

use crate::dispatch::{self, Reply, Request};
use crate::generation::Generation;
use crate::plugin::Endpoint;
use apiphant_sdk::wire::{GATEWAY_TIMEOUT, INTERNAL_ERROR, UNAVAILABLE};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed pool of threads with a bounded queue.
#[derive(Debug)]
pub(crate) struct Pool {
    jobs: SyncSender<Job>,
    /// Deadline of a call whose action has none of its own.
    timeout: Duration,
    /// Calls past their deadline still running on a pool thread.
    stuck: Arc<AtomicUsize>,
    stats: Arc<PoolStats>,
}

/// What `/metrics` shows of the pool: relaxed atomics touched by blocking calls only (slow
/// by nature: two adds and two subtractions each).
#[derive(Debug, Default)]
pub(crate) struct PoolStats {
    /// Threads running a call.
    pub(crate) busy: AtomicUsize,
    /// Calls queued and not yet started.
    pub(crate) queued: AtomicUsize,
    /// Calls answered 503: the queue was full.
    pub(crate) rejected: AtomicU64,
}

impl Pool {
    /// Starts `threads` threads; at most `queue` jobs wait; a call without a deadline of
    /// its own gets `timeout`.
    pub(crate) fn new(threads: usize, queue: usize, timeout: Duration) -> std::io::Result<Pool> {
        let (jobs, receiver) = sync_channel::<Job>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..threads.max(1) {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("blocking-{index}"))
                .spawn(move || work(&receiver))?;
        }
        Ok(Pool {
            jobs,
            timeout,
            stuck: Arc::new(AtomicUsize::new(0)),
            stats: Arc::default(),
        })
    }

    /// The pool's gauges, for `/metrics`.
    pub(crate) fn stats(&self) -> Arc<PoolStats> {
        Arc::clone(&self.stats)
    }

    /// Runs the action on the pool; the calling coroutine waits without holding its thread.
    pub(crate) fn call(
        &self,
        generation: &Arc<Generation>,
        endpoint: &Endpoint,
        request: &Request<'_>,
    ) -> Reply {
        let endpoint = endpoint.clone();
        // A stuck call keeps its generation's plugins loaded until it returns.
        let generation = Arc::clone(generation);
        let method = request.method.to_owned();
        let path = request.path.to_owned();
        let headers: Vec<(String, Vec<u8>)> = request
            .headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.to_vec()))
            .collect();
        let body = request.body.to_vec();
        let request_id = request.request_id.to_vec();
        let identity = request.identity.to_vec();
        let (done, result) = may::sync::mpsc::channel();
        let stuck = Arc::clone(&self.stuck);
        let label = endpoint.label.clone();
        let given_up = endpoint.label.clone();
        let timeout = endpoint.timeout.unwrap_or(self.timeout);
        let stats = Arc::clone(&self.stats);
        let job: Job = Box::new(move || {
            stats.queued.fetch_sub(1, Ordering::Relaxed);
            stats.busy.fetch_add(1, Ordering::Relaxed);
            let headers: Vec<(&str, &[u8])> = headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_slice()))
                .collect();
            let request = Request {
                method: &method,
                path: &path,
                headers: &headers,
                request_id: &request_id,
                identity: &identity,
                body: &body,
            };
            let reply = dispatch::call(&generation.registry, &endpoint, &request);
            stats.busy.fetch_sub(1, Ordering::Relaxed);
            if done.send(reply).is_err() {
                // Answered 504 already: the call was stuck until now.
                let left = stuck.fetch_sub(1, Ordering::SeqCst).saturating_sub(1);
                log::warn!("action {label} ended after its deadline ({left} call(s) still stuck)");
            }
        });
        // Counted before it is sent: the job may start (and uncount itself) at once.
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        let sent = self.jobs.try_send(job);
        if sent.is_err() {
            self.stats.queued.fetch_sub(1, Ordering::Relaxed);
        }
        match sent {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                log::warn!(
                    "req={} blocking pool full: 503 for {}",
                    String::from_utf8_lossy(request.request_id),
                    crate::logging::escape(crate::auth::loggable_target(request.path).as_bytes())
                );
                return Reply::json(503, &UNAVAILABLE);
            }
            Err(TrySendError::Disconnected(_)) => return Reply::json(500, &INTERNAL_ERROR),
        }
        match result.recv_timeout(timeout) {
            Ok(reply) => reply,
            Err(RecvTimeoutError::Timeout) => {
                // Dropping the receiver tells the job it was given up on.
                drop(result);
                let stuck = self.stuck.fetch_add(1, Ordering::SeqCst) + 1;
                log::error!(
                    "504 for {} ({}): no answer within {:.1} s; the call runs on, stuck, on its pool thread ({stuck} stuck)",
                    crate::logging::escape(request.path.as_bytes()),
                    given_up,
                    timeout.as_secs_f64()
                );
                Reply::json(504, &GATEWAY_TIMEOUT)
            }
            Err(RecvTimeoutError::Disconnected) => Reply::json(500, &INTERNAL_ERROR),
        }
    }
}

fn work(receiver: &Mutex<Receiver<Job>>) {
    loop {
        let job = match receiver.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

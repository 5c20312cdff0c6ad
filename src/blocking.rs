//! The blocking pool: actions marked `blocking` (`action(read).blocking()` in `export!`)
//! run on a bounded set of plain threads while their connection's coroutine waits, so an
//! action that blocks its thread on a database, a file or an HTTP call never stalls the
//! coroutine workers that serve every other request.
//!
//! The request is copied for the hand-off (blocking actions are slow by nature; the copy is
//! small next to them). When every thread is busy and the queue is full, the request is
//! answered 503 rather than queued without bound.

use crate::dispatch::{self, Reply, Request};
use crate::plugin::{Endpoint, Registry};
use apiphant_sdk::wire::{INTERNAL_ERROR, UNAVAILABLE};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// A fixed pool of threads with a bounded queue.
#[derive(Debug)]
pub(crate) struct Pool {
    jobs: SyncSender<Job>,
}

impl Pool {
    /// Starts `threads` threads; at most `queue` jobs wait.
    pub(crate) fn new(threads: usize, queue: usize) -> std::io::Result<Pool> {
        let (jobs, receiver) = sync_channel::<Job>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..threads.max(1) {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("blocking-{index}"))
                .spawn(move || work(&receiver))?;
        }
        Ok(Pool { jobs })
    }

    /// Runs the action on the pool; the calling coroutine waits without holding its thread.
    pub(crate) fn call(
        &self,
        registry: &'static Registry,
        endpoint: &Endpoint,
        request: &Request<'_>,
    ) -> Reply {
        let endpoint = endpoint.clone();
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
        let job: Job = Box::new(move || {
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
            let _ = done.send(dispatch::call(registry, &endpoint, &request));
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                log::warn!(
                    "req={} blocking pool full: 503 for {}",
                    String::from_utf8_lossy(request.request_id),
                    crate::logging::escape(request.path.as_bytes())
                );
                return Reply::json(503, &UNAVAILABLE);
            }
            Err(TrySendError::Disconnected(_)) => return Reply::json(500, &INTERNAL_ERROR),
        }
        result
            .recv()
            .unwrap_or_else(|_| Reply::json(500, &INTERNAL_ERROR))
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

//! What every connection loop of a server shares, as plain data: the limits, the deadline
//! reaper, the memory budget, the shutdown flag and the count of requests read but not yet
//! answered (what a graceful shutdown waits for).

use super::budget::Budget;
use super::{Deadlines, Limits};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Shared by every connection of one server; lives for the whole process.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) limits: Limits,
    pub(crate) deadlines: &'static Deadlines,
    /// Body bytes held by every connection (`memory_budget_bytes`).
    pub(crate) budget: Budget,
    shutting_down: AtomicBool,
    in_flight: AtomicUsize,
}

impl Shared {
    /// Starts the deadline reaper; the loops will run under `limits`.
    pub(crate) fn start(limits: Limits) -> io::Result<Shared> {
        Ok(Shared {
            budget: Budget::new(limits.memory_budget_bytes),
            limits,
            deadlines: Deadlines::start()?,
            shutting_down: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
        })
    }

    /// From now on, connections answer what they already read and close.
    pub(crate) fn shut_down(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    /// Requests read and not yet answered, on every connection.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Closes every connection waiting idle for its next request (at the open-file
    /// limit); returns how many.
    pub(crate) fn shed_idle(&self) -> usize {
        self.deadlines.shed_idle()
    }

    /// Body bytes held now by every connection.
    pub(crate) fn body_bytes_held(&self) -> u64 {
        self.budget.held()
    }

    pub(crate) fn request_read(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn answered(&self, count: usize) {
        if count > 0 {
            self.in_flight.fetch_sub(count, Ordering::Relaxed);
        }
    }
}

//! The server-wide memory budget for request bodies: one atomic counter of the bytes every
//! connection holds for bodies it is receiving. A connection reserves a body's bytes before
//! reading it (`Content-Length`), or as a chunked body grows, and gives them back once the
//! request is answered; a reservation that would pass the budget is refused (503 with
//! `Retry-After`, before the body is read). Lock-free: a compare-and-swap loop, never a lock.

use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes held for request bodies by all connections, and the most they may hold.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: u64,
    held: AtomicU64,
}

impl Budget {
    pub(crate) fn new(limit: u64) -> Budget {
        Budget {
            limit,
            held: AtomicU64::new(0),
        }
    }

    /// Takes `bytes` from the budget; false (nothing taken) if they do not fit.
    pub(crate) fn take(&self, bytes: u64) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(bytes).filter(|&total| total <= self.limit)
            })
            .is_ok()
    }

    /// Gives back `bytes` taken before.
    pub(crate) fn give(&self, bytes: u64) {
        if bytes > 0 {
            self.held.fetch_sub(bytes, Ordering::AcqRel);
        }
    }

    /// Bytes held now.
    pub(crate) fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_up_to_the_limit_and_gives_back() {
        let budget = Budget::new(100);
        assert!(budget.take(60));
        assert!(!budget.take(41), "61..=101 would pass the limit");
        assert!(budget.take(40));
        assert_eq!(budget.held(), 100);
        assert!(!budget.take(1));
        budget.give(60);
        assert!(budget.take(60) && !budget.take(u64::MAX));
        budget.give(100);
        assert_eq!(budget.held(), 0);
    }
}

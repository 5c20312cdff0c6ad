//! The per-call state of this thread: which target and action (or task, or hook) the glue
//! is running, and the request context the host passed with the call. A leaf module: the
//! glue enters a call with [`enter`] (the state lasts as long as the returned guard, so a
//! panic clears it too); the log bridge, the panic hook and [`context`] read it.

use std::cell::{Cell, RefCell};

/// The request context of the call running on this thread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestContext {
    /// The request id: the host's id for an HTTP request, `task-<name>-<n>` for a task.
    pub request_id: String,
    /// The caller's identity; empty until authentication exists.
    pub identity: String,
}

thread_local! {
    static CALL: Cell<Option<(&'static str, &'static str)>> = const { Cell::new(None) };
    /// The context's bytes as the host lent them, copied (no UTF-8 check: that waits for
    /// [`context`], which most actions never call). Kept between calls: no allocation per
    /// call once warm.
    static CONTEXT: RefCell<(Vec<u8>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Marks the end of the call when dropped (also when a panic unwinds through it).
#[derive(Debug)]
pub(crate) struct Guard(());

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = CALL.try_with(|call| call.set(None));
    }
}

/// Enters a call of `label` (route and action, or `task` and a name) with its context.
pub(crate) fn enter(
    label: (&'static str, &'static str),
    request_id: &[u8],
    identity: &[u8],
) -> Guard {
    let _ = CONTEXT.try_with(|context| {
        if let Ok(mut context) = context.try_borrow_mut() {
            let (id, who) = &mut *context;
            id.clear();
            id.extend_from_slice(request_id);
            who.clear();
            who.extend_from_slice(identity);
        }
    });
    let _ = CALL.try_with(|call| call.set(Some(label)));
    Guard(())
}

/// This thread's call state, to put back with [`Snapshot::restore`] after a host service
/// that may have let the call move to another thread (the server waits on coroutines,
/// which may resume on another of its threads).
#[derive(Debug)]
pub(crate) struct Snapshot {
    call: Option<(&'static str, &'static str)>,
    context: (Vec<u8>, Vec<u8>),
}

impl Snapshot {
    /// Takes this thread's call state.
    pub(crate) fn take() -> Snapshot {
        let context = CONTEXT
            .try_with(|context| context.borrow().clone())
            .unwrap_or_default();
        Snapshot {
            call: current(),
            context,
        }
    }

    /// Puts the state back on the thread the call runs on now.
    pub(crate) fn restore(self) {
        let _ = CONTEXT.try_with(|context| {
            if let Ok(mut context) = context.try_borrow_mut() {
                *context = self.context;
            }
        });
        let _ = CALL.try_with(|call| call.set(self.call));
    }
}

/// The (route, action) or ("task", name) being run on this thread, if any.
pub(crate) fn current() -> Option<(&'static str, &'static str)> {
    CALL.try_with(Cell::get).ok().flatten()
}

/// The request context of the action, task or hook running on this thread (empty outside
/// a call): `apiphant_sdk::context().request_id` for a log line or an audit record.
pub fn context() -> RequestContext {
    if current().is_none() {
        return RequestContext::default();
    }
    CONTEXT
        .try_with(|context| {
            let (id, who) = &*context.borrow();
            RequestContext {
                request_id: String::from_utf8_lossy(id).into_owned(),
                identity: String::from_utf8_lossy(who).into_owned(),
            }
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_scopes_the_call() {
        assert_eq!(context(), RequestContext::default());
        {
            let _guard = enter(("v0/echo", "read"), b"abc-1", b"");
            assert_eq!(current(), Some(("v0/echo", "read")));
            assert_eq!(context().request_id, "abc-1");
        }
        assert_eq!(current(), None);
        assert_eq!(context(), RequestContext::default());
        let panicked = std::panic::catch_unwind(|| {
            let _guard = enter(("task", "t"), b"task-t-1", b"me");
            panic!("boom");
        });
        assert!(panicked.is_err());
        assert_eq!(current(), None);
    }
}

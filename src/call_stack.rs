//! Plugin calls run on one stack per worker thread, not on the connection's own: a
//! connection's coroutine stack keeps only the few pages its loop touches, so an idle
//! keep-alive connection costs little resident memory, while the deepest JSON a plugin
//! parses has a whole stack of the configured size (docs/limits.md, "Idle connections").
//!
//! A call runs to completion without yielding its coroutine (plugin calls do no `may` I/O),
//! so a worker thread needs one such stack, taken for the call and put back after it.

use crate::sys::CallStack;
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The call stacks' size in bytes; 0 (not serving): calls run where they are made.
static BYTES: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This worker thread's call stack, made at its first call; empty while a call runs on
    /// it. Never freed: worker threads live as long as the server.
    static STACK: Cell<Option<&'static mut CallStack>> = const { Cell::new(None) };
}

/// Makes plugin calls made on coroutines run on call stacks of `bytes` (the coroutine stack
/// size of `[server] stack_kib`).
pub(crate) fn enable(bytes: usize) {
    BYTES.store(bytes, Ordering::Relaxed);
}

/// Runs `f` on this worker thread's call stack when called on a coroutine (the connection's
/// stack stays shallow), else here (a plain thread's stack, or a call made during a call).
/// `f` must not yield its coroutine.
pub(crate) fn run<R>(f: impl FnOnce() -> R) -> R {
    let bytes = BYTES.load(Ordering::Relaxed);
    if bytes == 0 || !may::coroutine::is_coroutine() {
        return f();
    }
    let Some(stack) = STACK.take().or_else(|| first(bytes)) else {
        return f();
    };
    let mut taken = Taken(Some(stack));
    match taken.0.as_mut() {
        Some(stack) => stack.run(f),
        None => f(),
    }
}

/// Puts the call stack back when the call ends, also when its panic is resumed here.
struct Taken(Option<&'static mut CallStack>);

impl Drop for Taken {
    fn drop(&mut self) {
        STACK.set(self.0.take());
    }
}

/// This thread's first call stack; `None` once one exists (it is in use: a nested call).
#[cold]
fn first(bytes: usize) -> Option<&'static mut CallStack> {
    thread_local! {
        static MADE: Cell<bool> = const { Cell::new(false) };
    }
    if MADE.replace(true) {
        return None;
    }
    Some(Box::leak(Box::new(CallStack::new(bytes))))
}

/// Room left untouched at the low end of a connection's stack by [`release_idle`]: its
/// lowest page holds the stack library's marker, and the idle connection's frames lie
/// well within this distance of the top (two pages in a release build).
const LOW_END_MARGIN: usize = 64 * 1024;

/// Called by a connection that has waited idle a while for its next request: the stack
/// pages its last request touched below the waiting loop's frames go back to the system,
/// so 10,000 idle connections do not each keep them (docs/limits.md, "Idle connections").
/// One system call per idle period; an active connection never makes it.
pub(crate) fn release_idle() {
    let bytes = BYTES.load(Ordering::Relaxed);
    if bytes > LOW_END_MARGIN && may::coroutine::is_coroutine() {
        crate::sys::release_stack_below_here(bytes, LOW_END_MARGIN);
    }
}

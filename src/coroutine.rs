//! The one place apiphant spawns `may` coroutines. `may`'s spawn is `unsafe` because a
//! coroutine may move between threads at each yield: code running in it must not keep
//! thread-local references across a yield, nor block its thread for long.
//! See docs/guide.md, "Actions run on the worker threads".
#![allow(unsafe_code)]

use std::io;

/// Spawns `f` as a coroutine with `stack_bytes` of stack.
pub(crate) fn spawn<F>(name: &str, stack_bytes: usize, f: F) -> io::Result<()>
where
    F: FnOnce() + Send + 'static,
{
    let builder = may::coroutine::Builder::new()
        .name(name.to_owned())
        .stack_size(stack_bytes / std::mem::size_of::<usize>());
    // SAFETY: apiphant's coroutines (the accept loop and connection loops) hold no
    // thread-local state across I/O yields; plugin calls run to completion without
    // yielding, so a plugin's own thread-locals are never observed across threads.
    unsafe { builder.spawn(f) }.map(drop)
}

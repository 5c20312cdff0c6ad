//! The one place apiphant spawns `may` coroutines. `may`'s spawn is `unsafe` (`crate::sys`) because a
//! coroutine may move between threads at each yield: code running in it must not keep
//! thread-local references across a yield, nor block its thread for long.
//! See docs/guide.md, "Actions run on the worker threads".
use std::io;

/// Spawns `f` as a coroutine with `stack_bytes` of stack.
pub(crate) fn spawn<F>(name: &str, stack_bytes: usize, f: F) -> io::Result<()>
where
    F: FnOnce() + Send + 'static,
{
    let builder = may::coroutine::Builder::new()
        .name(name.to_owned())
        .stack_size(stack_bytes / std::mem::size_of::<usize>());
    crate::sys::spawn_coroutine(builder, f)
}

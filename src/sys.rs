//! The host's one unsafe boundary besides the plugin ABI (`plugin/ffi.rs`): its calls into
//! libc (glibc malloc's settings and trimming), `may`'s coroutine spawn, and the hand-over of
//! a call to a worker thread's call stack (`generator`). Each block says why it is sound;
//! the rest of the crate uses the safe functions here, and `unsafe_code = "deny"`
//! (Cargo.toml `[lints]`) fails the build for unsafe code anywhere else.
#![allow(unsafe_code)]

use std::io;
use std::panic::{self, AssertUnwindSafe};

/// Sets glibc malloc's mmap threshold (`M_MMAP_THRESHOLD`), which also turns off its
/// dynamic raise. Does nothing with another C library.
pub(crate) fn set_mmap_threshold(bytes: usize) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let threshold = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only changes glibc malloc's parameters (thread-safe, no memory
        // handed over).
        unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, threshold) };
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = bytes;
}

/// Hands glibc malloc's free heap pages back to the system (`malloc_trim(0)`). Does
/// nothing with another C library.
pub(crate) fn malloc_trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the system (it takes each
    // arena's lock); no memory in use is touched.
    unsafe {
        libc::malloc_trim(0)
    };
}

/// Gives the calling thread the lowest scheduling class there is: `SCHED_IDLE` (nice 19
/// where that is refused), so the kernel runs it only when the process's other threads
/// have nothing to do, and a worker that wakes takes the core back at once (a nice-19
/// thread keeps the core until its time slice ends, a millisecond or more, which the
/// requests of a pinned server would wait out). For background work that must not delay
/// requests. Best effort: an error is ignored.
pub(crate) fn lower_this_thread_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: sched_setscheduler with pid 0 changes only the calling thread's policy; it
        // reads `param`, a live local, and writes no memory of ours.
        let idle = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
        if idle != 0 {
            // SAFETY: setpriority with PRIO_PROCESS and who = 0 changes only the calling
            // thread's nice value; it reads and writes no memory of ours.
            unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) };
        }
    }
}

/// Spawns `f` as a `may` coroutine built by `builder` (`crate::coroutine` says what code
/// running in one must not do).
pub(crate) fn spawn_coroutine<F>(builder: may::coroutine::Builder, f: F) -> io::Result<()>
where
    F: FnOnce() + Send + 'static,
{
    // SAFETY: may's spawn is unsafe because a coroutine may move between threads at each
    // yield. apiphant's coroutines (the accept loop and connection loops) hold no
    // thread-local state across I/O yields; plugin calls run to completion without
    // yielding, so a plugin's own thread-locals are never observed across threads.
    unsafe { builder.spawn(f) }.map(drop)
}

/// A call handed to a [`CallStack`]: a closure of the caller's frame, its lifetime erased.
type Job = *mut (dyn FnMut() + 'static);

/// A stack of its own that runs calls handed to it to completion, one at a time: a
/// generator whose body runs each job it is sent, then yields.
pub(crate) struct CallStack {
    generator: generator::LocalGenerator<'static, Job, ()>,
    bytes: usize,
}

impl CallStack {
    /// A call stack of `bytes` (mapped now, pages resident as they are touched; a guard
    /// page below it, whose fault the `generator` crate reports as a stack overflow).
    pub(crate) fn new(bytes: usize) -> CallStack {
        CallStack {
            generator: Self::generator(bytes),
            bytes,
        }
    }

    fn generator(bytes: usize) -> generator::LocalGenerator<'static, Job, ()> {
        let words = bytes / std::mem::size_of::<usize>();
        // An even size: the stack library samples only its bottom words for its usage
        // report, not every page.
        let words = words & !1;
        generator::Gn::<Job>::new_scoped_opt_local(words, |mut scope| {
            while let Some(job) = scope.get_yield() {
                // SAFETY: `run` sent this pointer to a closure that lives in its own frame
                // and stays borrowed there until `send` returns, which is only after this
                // call returns and the generator yields: the pointer is valid and used by
                // nobody else while it runs.
                unsafe { (*job)() };
                scope.yield_with(());
            }
        })
    }

    /// Runs `f` on this stack and returns its result; a panic in `f` is caught there and
    /// resumed here, so the stack stays usable. `f` must not yield its coroutine (no I/O
    /// on `may` objects): it runs to completion.
    pub(crate) fn run<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let mut f = Some(f);
        let mut out = None;
        let mut job = || {
            if let Some(f) = f.take() {
                out = Some(panic::catch_unwind(AssertUnwindSafe(f)));
            }
        };
        let job: &mut dyn FnMut() = &mut job;
        // SAFETY: only the borrow's lifetime is erased: the generator calls `job` before
        // `send` returns and keeps no copy of the pointer after it (the body drops each
        // job before yielding), so the closure outlives every use.
        let job: Job = unsafe { std::mem::transmute::<*mut (dyn FnMut() + '_), Job>(job) };
        // A generator ends only when a stack overflow abandoned it (the `generator` crate
        // reports it and resumes its panic here): the next call gets a fresh stack.
        if self.generator.is_done() {
            self.generator = Self::generator(self.bytes);
        }
        self.generator.send(job);
        match out {
            Some(Ok(value)) => value,
            Some(Err(payload)) => panic::resume_unwind(payload),
            None => unreachable!("a call stack runs the job it is sent"),
        }
    }
}

/// Gives the pages of the running coroutine's stack below the caller's frame back to the
/// system (`madvise(MADV_DONTNEED)`: touched again, they are new zeroed pages), keeping
/// 1 KiB below this frame (for the system call's wrapper) and everything within
/// `margin` bytes of the stack's low end. The stack is `stack_bytes` long and the caller's
/// frame must lie less than `margin` below its top, so the range stays inside the stack and
/// above its lowest page, which holds the `generator` crate's marker (checked when the
/// coroutine ends). Does nothing off Linux, or when the range is empty.
#[inline(never)]
pub(crate) fn release_stack_below_here(stack_bytes: usize, margin: usize) {
    #[cfg(target_os = "linux")]
    {
        let here = 0u8;
        let sp = std::hint::black_box(std::ptr::addr_of!(here)) as usize;
        // SAFETY: sysconf only reads a constant of the system.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let page = page.max(4096);
        // Below this frame, only the C library's `madvise` wrapper runs (a few words).
        let end = sp.saturating_sub(1024) & !(page - 1);
        let start = sp
            .saturating_sub(stack_bytes)
            .saturating_add(margin + page - 1)
            & !(page - 1);
        if start >= end {
            return;
        }
        // SAFETY: [start, end) lies at least 1 KiB below this frame, in the
        // running coroutine's stack (the caller's frame is within `margin` of the top, so
        // `sp - stack_bytes + margin` is above the stack's low end and its marker page).
        // The stack grows down and every frame below this one has returned: nothing live is
        // there, and whatever runs there next writes its frames before reading them, so
        // zero-filled pages are as good as the old ones. No other thread uses this stack.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (stack_bytes, margin);
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn a_lowered_thread_is_in_the_idle_class() {
        let policy = std::thread::spawn(|| {
            super::lower_this_thread_priority();
            // SAFETY: sched_getscheduler with pid 0 only reads the calling thread's policy.
            unsafe { libc::sched_getscheduler(0) }
        })
        .join()
        .unwrap_or(-1);
        assert_eq!(policy, libc::SCHED_IDLE);
    }
}

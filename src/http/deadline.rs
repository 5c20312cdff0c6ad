//! Deadlines of connections waiting on their socket: a coarse clock and one reaper thread,
//! instead of a may timer per wait.
//!
//! A connection whose socket has nothing to read arms its [`Watch`] with a deadline on the
//! coarse clock, then waits with may's `wait_io` (no timer to register and remove, and no
//! syscall when the socket became readable meanwhile). Every [`TICK`] the reaper advances the
//! clock and wakes each armed watch whose deadline passed; the woken connection sees the
//! clock at its deadline and times out. A wait that ends in time costs two atomic stores.
//! A deadline fires no earlier than asked and at most two ticks later.
//!
//! The registration also knows when the socket is empty, so that a read can start with the
//! wait instead of a read that finds nothing (see [`Registration::known_empty`]). may hands
//! a wait the epoll events that woke it and clears them in one swap: an event a wait took
//! (bytes or a hang-up that came while a write waited, or with the bytes a read then took)
//! will not come again, and only the wait that took it can tell.

use may::io::{WaitIo, WaitIoWaker};
use may::net::TcpStream;
use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Resolution of the coarse clock.
const TICK: Duration = Duration::from_millis(100);
/// The deadline of a watch that is not waiting.
const DISARMED: u64 = u64::MAX;
/// Epoll events that mean the peer will send nothing more: a half close (`EPOLLRDHUP`), a
/// hang-up or an error.
const HANG_UP: usize = (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as usize;
/// Epoll events after which a read may find something: bytes, or the end of the stream.
const READABLE: usize = libc::EPOLLIN as usize | HANG_UP;

/// The coarse clock and every connection's watch; one per server.
pub(crate) struct Deadlines {
    /// Ticks since the reaper started, advanced by the reaper.
    now: AtomicU64,
    slots: Mutex<Slots>,
}

#[derive(Default)]
struct Slots {
    watches: Vec<Option<Arc<Watch>>>,
    free: Vec<usize>,
}

struct Watch {
    /// The tick at which to wake the waiting connection, or [`DISARMED`].
    deadline: AtomicU64,
    /// The connection waits idle for its next request (it may be closed to free its fd).
    idle: AtomicBool,
    /// Closed to free its fd: the wait ends as timed out ([`Deadlines::shed_idle`]).
    shed: AtomicBool,
    waker: WaitIoWaker,
}

/// A connection's watch, registered with the reaper until dropped.
pub(crate) struct Registration {
    deadlines: &'static Deadlines,
    watch: Arc<Watch>,
    slot: usize,
    /// The last read emptied the socket and no wait took a readable event since; true for
    /// a new socket (its registration raises an event if bytes are already there), so a
    /// fresh connection takes no buffer before its first bytes arrive.
    empty: Cell<bool>,
    /// A wait took the peer's hang-up: from then on a read finds the end of the stream.
    hung_up: Cell<bool>,
}

/// A point on the coarse clock (see [`Registration::deadline`]).
#[derive(Clone, Copy)]
pub(crate) struct Deadline(u64);

impl std::fmt::Debug for Deadlines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deadlines")
            .field("now", &self.now.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Deadlines {
    /// Starts the reaper thread; the clock lives as long as the process.
    pub(crate) fn start() -> io::Result<&'static Deadlines> {
        let deadlines: &'static Deadlines = Box::leak(Box::new(Deadlines {
            now: AtomicU64::new(0),
            slots: Mutex::new(Slots::default()),
        }));
        std::thread::Builder::new()
            .name("deadlines".into())
            .spawn(move || deadlines.reap())?;
        Ok(deadlines)
    }

    /// Registers the watch of a connection's socket.
    pub(crate) fn register(&'static self, socket: &impl WaitIo) -> Registration {
        let watch = Arc::new(Watch {
            deadline: AtomicU64::new(DISARMED),
            idle: AtomicBool::new(false),
            shed: AtomicBool::new(false),
            waker: socket.waker(),
        });
        let mut slots = self.slots();
        let entry = Some(Arc::clone(&watch));
        let slot = match slots.free.pop() {
            Some(slot) => {
                slots.watches[slot] = entry;
                slot
            }
            None => {
                slots.watches.push(entry);
                slots.watches.len() - 1
            }
        };
        Registration {
            deadlines: self,
            watch,
            slot,
            empty: Cell::new(true),
            hung_up: Cell::new(false),
        }
    }

    /// Ends the wait of every connection waiting idle for its next request, so that it
    /// closes and frees its fd (at the open-file limit); returns how many.
    pub(crate) fn shed_idle(&self) -> usize {
        let mut shed = 0;
        for watch in self.slots().watches.iter().flatten() {
            if watch.idle.load(Ordering::Acquire) && !watch.shed.swap(true, Ordering::AcqRel) {
                watch.waker.wakeup();
                shed += 1;
            }
        }
        shed
    }

    fn slots(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The reaper: every tick, advance the clock and wake the watches it passed.
    fn reap(&self) {
        let start = Instant::now();
        let mut tick = 0u64;
        loop {
            tick += 1;
            let at = start + TICK.saturating_mul(u32::try_from(tick).unwrap_or(u32::MAX));
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
            // A late wake-up (a busy or suspended machine) jumps the clock to the real time.
            tick = tick.max(ticks(start.elapsed()));
            self.now.store(tick, Ordering::Release);
            for watch in self.slots().watches.iter().flatten() {
                let deadline = watch.deadline.load(Ordering::Acquire);
                // Fire once: the connection may take a while to run and disarm.
                if deadline <= tick
                    && watch
                        .deadline
                        .compare_exchange(deadline, DISARMED, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                {
                    watch.waker.wakeup();
                }
            }
        }
    }
}

impl Registration {
    /// The deadline `timeout` from now: no earlier, at most two ticks later.
    pub(crate) fn deadline(&self, timeout: Duration) -> Deadline {
        // The clock may be up to a tick behind the real time: one more tick.
        let now = self.deadlines.now.load(Ordering::Acquire);
        Deadline(now.saturating_add(1).saturating_add(ticks_up(timeout)))
    }

    /// Marks the connection as waiting idle for its next request (or not): an idle one may
    /// be shed at the open-file limit ([`Deadlines::shed_idle`]).
    pub(crate) fn set_idle(&self, idle: bool) {
        if idle {
            // A shed that came after the last idle wait ended is stale.
            self.watch.shed.store(false, Ordering::Release);
            self.watch.idle.store(true, Ordering::Release);
        } else {
            self.watch.idle.store(false, Ordering::Release);
        }
    }

    /// Whether the connection, waiting idle, was shed: its waits end as timed out, and it
    /// closes. (A shed counts only while idle: a request's waits are never cut short.)
    pub(crate) fn is_shed(&self) -> bool {
        self.watch.idle.load(Ordering::Acquire) && self.watch.shed.load(Ordering::Acquire)
    }

    /// Waits until `socket` has an event or the deadline passes; returns whether it passed
    /// (or the connection was shed). An event may be spurious: the caller reads, and waits
    /// again on `WouldBlock`.
    pub(crate) fn wait(&self, socket: &impl WaitIo, deadline: Deadline) -> bool {
        if self.is_shed() || self.deadlines.now.load(Ordering::Acquire) >= deadline.0 {
            return true;
        }
        self.watch.deadline.store(deadline.0, Ordering::Release);
        let events = socket.wait_io();
        if events & READABLE != 0 {
            self.empty.set(false);
        }
        if events & HANG_UP != 0 {
            self.hung_up.set(true);
        }
        self.watch.deadline.store(DISARMED, Ordering::Release);
        self.is_shed() || self.deadlines.now.load(Ordering::Acquire) >= deadline.0
    }

    /// Notes a read of the socket that took bytes: `short` when it took less than it had
    /// room for, so the socket was empty then.
    pub(crate) fn note_read(&self, short: bool) {
        self.empty.set(short && !self.hung_up.get());
    }

    /// Whether the socket is known to be empty: the last read emptied it, no wait took a
    /// readable event since, and the peer has not hung up (its event came once, the end of
    /// the stream is still to be read). Every byte that comes later raises a new event
    /// (edge-triggered), so the next read can start with the wait.
    pub(crate) fn known_empty(&self) -> bool {
        self.empty.get()
    }

    /// Runs `op` on the (non-blocking) socket until it does not return `WouldBlock`,
    /// waiting for the socket in between; `None` when the deadline passed first.
    pub(crate) fn io_until<T>(
        &self,
        stream: &mut TcpStream,
        deadline: Deadline,
        mut op: impl FnMut(&mut std::net::TcpStream) -> io::Result<T>,
    ) -> io::Result<Option<T>> {
        loop {
            match op(stream.inner_mut()) {
                Ok(value) => return Ok(Some(value)),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    if self.wait(stream, deadline) {
                        return Ok(None);
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut slots = self.deadlines.slots();
        if let Some(entry) = slots.watches.get_mut(self.slot) {
            *entry = None;
            slots.free.push(self.slot);
        }
    }
}

/// Whole ticks in `duration`, rounded down.
fn ticks(duration: Duration) -> u64 {
    let tick = TICK.as_millis() as u64;
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX) / tick
}

/// Whole ticks in `duration`, rounded up.
fn ticks_up(duration: Duration) -> u64 {
    let tick = TICK.as_nanos();
    u64::try_from(duration.as_nanos().div_ceil(tick)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_round_as_documented() {
        let ms = Duration::from_millis;
        assert_eq!(ticks(ms(99)), 0);
        assert_eq!(ticks(ms(100)), 1);
        assert_eq!(ticks(ms(250)), 2);
        assert_eq!(ticks_up(Duration::ZERO), 0);
        assert_eq!(ticks_up(Duration::from_nanos(1)), 1);
        assert_eq!(ticks_up(ms(100)), 1);
        assert_eq!(ticks_up(ms(101)), 2);
        assert_eq!(ticks_up(Duration::from_secs(75)), 750);
        assert_eq!(ticks_up(Duration::MAX), u64::MAX);
    }
}

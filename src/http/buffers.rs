//! The read and write buffers of connections waiting for their next request are handed
//! back here and taken again when bytes arrive: an idle keep-alive connection holds no
//! buffer (docs/limits.md, "Idle connections"). A small pool per worker thread makes the
//! round trip a push and a pop, not an allocation (hot path: every keep-alive request).

use std::cell::RefCell;

/// The size of a pooled buffer: a fresh connection's read buffer, and its write buffer's
/// capacity.
pub(crate) const SIZE: usize = 4096;
/// Buffers of each kind kept per worker thread; beyond, freed.
const KEEP: usize = 64;

thread_local! {
    // Read buffers (`len() == SIZE`) and write buffers (empty, `capacity() == SIZE`). No
    // reference to them is held across a coroutine's yield: a buffer is moved out and in.
    static READS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static WRITES: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A read buffer of [`SIZE`] bytes (their content is whatever a connection left).
pub(crate) fn take_read() -> Vec<u8> {
    READS
        .with(|pool| pool.borrow_mut().pop())
        .unwrap_or_else(|| vec![0; SIZE])
}

/// An empty write buffer of [`SIZE`] bytes' capacity.
pub(crate) fn take_write() -> Vec<u8> {
    WRITES
        .with(|pool| pool.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(SIZE))
}

/// Hands back a read buffer (kept if it has the pooled size and the pool has room).
pub(crate) fn give_read(buf: Vec<u8>) {
    if buf.len() == SIZE {
        READS.with(|pool| keep(&mut pool.borrow_mut(), buf));
    }
}

/// Hands back an empty write buffer (kept if it has the pooled capacity and there is room).
pub(crate) fn give_write(out: Vec<u8>) {
    if out.is_empty() && out.capacity() == SIZE {
        WRITES.with(|pool| keep(&mut pool.borrow_mut(), out));
    }
}

/// Keeps `buf` in `pool` if it has room (else it is freed).
fn keep(pool: &mut Vec<Vec<u8>>, buf: Vec<u8>) {
    if pool.len() < KEEP {
        pool.push(buf);
    }
}

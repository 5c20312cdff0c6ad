//! Process memory: the machine's total (for the automatic memory budget) and the C
//! allocator's settings that give a burst's memory back to the system (docs/limits.md,
//! "Allocator"). glibc malloc serves the server and every plugin alike (a plugin's `free`
//! is the same libc's), so tuning it covers the copies a plugin makes of a body too, which
//! a Rust global allocator in the server alone would not.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Allocations from this size on get their own mapping, unmapped when freed.
const MMAP_THRESHOLD: usize = 128 * 1024;
/// How often freed heap memory is handed back after large bodies were received.
const TRIM_EVERY: Duration = Duration::from_secs(5);

/// Set when a body large enough to reserve memory was received since the last trim.
static DIRTY: AtomicBool = AtomicBool::new(false);

/// The machine's memory in bytes (`MemTotal` of /proc/meminfo), if known.
pub(crate) fn total() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Notes that memory for a large body was taken (the next trim tick hands it back).
pub(crate) fn note_large() {
    if !DIRTY.load(Ordering::Relaxed) {
        DIRTY.store(true, Ordering::Relaxed);
    }
}

/// Tunes the allocator once at start-up and starts the trimming thread.
///
/// glibc raises its mmap threshold each time a mapped block is freed (up to 32 MiB), so
/// after one burst of big bodies later ones come from the heap and stay resident; a fixed
/// threshold keeps every body buffer of 128 KiB or more in its own mapping, returned on
/// free. What smaller blocks leave free in the heaps is returned by `malloc_trim` every
/// [`TRIM_EVERY`] after a large body (never on the small-request path).
pub(crate) fn tune() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(tune_once);
}

fn tune_once() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        crate::sys::set_mmap_threshold(MMAP_THRESHOLD);
        let spawned = std::thread::Builder::new()
            .name("apiphant-trim".to_owned())
            .spawn(|| loop {
                std::thread::sleep(TRIM_EVERY);
                if DIRTY.swap(false, Ordering::Relaxed) {
                    crate::sys::malloc_trim();
                }
            });
        if let Err(error) = spawned {
            log::warn!("cannot start the memory trimming thread: {error}");
        }
    }
}

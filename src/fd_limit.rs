//! The accept loop at the open-file limit: instead of a failed `accept` logged again and
//! again (about 100 lines a second), it sheds the connections waiting idle for their next
//! request (their descriptors serve new clients), and when none is idle and none frees up
//! for a moment, refuses the next waiting client with a reserve descriptor (a close, not
//! a hang); it backs off a little
//! between tries, and logs one line when the limit is reached, one summary line per
//! [`SUMMARY_EVERY`] while it lasts, and one when accepting works again.

use std::fs::File;
use std::io;
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// How often a summary line is logged while the limit lasts.
const SUMMARY_EVERY: Duration = Duration::from_secs(10);
/// A stretch at the limit is over once accepting worked for this long without hitting it.
const QUIET: Duration = Duration::from_secs(1);
/// How long a waiting client may wait for a descriptor to free up, with no idle
/// connection to close, before it is refused.
const REFUSE_AFTER: Duration = Duration::from_millis(250);
/// The back-off between tries at the limit: short, so that a freed descriptor is used at
/// once, and long enough that the loop does not spin.
const BACK_OFF: Duration = Duration::from_millis(10);

/// The accept loop's state at the open-file limit.
#[derive(Debug)]
pub(crate) struct FdLimit {
    /// A descriptor held in reserve: closed to accept (and close) one client when nothing
    /// else can be freed, then opened again.
    reserve: Option<File>,
    /// The current stretch at the limit.
    episode: Option<Episode>,
}

#[derive(Debug)]
struct Episode {
    since: Instant,
    logged: Instant,
    /// The last failed `accept`.
    last_hit: Instant,
    /// Since when no `accept` worked and there was nothing to close.
    stuck_since: Option<Instant>,
    /// Since the last line.
    refused: u64,
    shed: u64,
    /// Since the episode started.
    total_refused: u64,
    total_shed: u64,
}

impl FdLimit {
    pub(crate) fn new() -> FdLimit {
        FdLimit {
            reserve: File::open("/dev/null").ok(),
            episode: None,
        }
    }

    /// Whether an `accept` error means the process (or the system) is out of descriptors
    /// or socket memory.
    pub(crate) fn is_limit(error: &io::Error) -> bool {
        matches!(
            error.raw_os_error(),
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
        )
    }

    /// An `accept` failed at the limit: sheds idle connections (`shed_idle` closes them,
    /// returning how many), or, with none idle for [`REFUSE_AFTER`], refuses one waiting
    /// client of `listener`.
    /// Returns how long to back off before the next `accept`.
    pub(crate) fn at_limit(
        &mut self,
        error: &io::Error,
        listener: &TcpListener,
        shed_idle: impl FnOnce() -> usize,
    ) -> Duration {
        let now = Instant::now();
        let episode = self.episode.get_or_insert_with(|| {
            log::warn!(
                "open-file limit reached ({error}): closing idle keep-alive connections, refusing new ones while none can be closed; a summary every {} s",
                SUMMARY_EVERY.as_secs()
            );
            Episode {
                since: now,
                logged: now,
                last_hit: now,
                stuck_since: None,
                refused: 0,
                shed: 0,
                total_refused: 0,
                total_shed: 0,
            }
        });
        episode.last_hit = now;
        let shed = shed_idle() as u64;
        episode.shed += shed;
        episode.total_shed += shed;
        let stuck = if shed == 0 {
            now.duration_since(*episode.stuck_since.get_or_insert(now))
        } else {
            episode.stuck_since = None;
            Duration::ZERO
        };
        if stuck >= REFUSE_AFTER {
            // Nothing freed for a while: the waiting client is closed rather than left
            // hanging.
            drop(self.reserve.take());
            if let Ok((client, _)) = listener.accept() {
                drop(client);
                episode.refused += 1;
                episode.total_refused += 1;
            }
            self.reserve = File::open("/dev/null").ok();
        }
        if now.duration_since(episode.logged) >= SUMMARY_EVERY {
            log::warn!(
                "open-file limit: {} connection(s) refused, {} idle connection(s) closed in the last {:.0} s",
                episode.refused,
                episode.shed,
                now.duration_since(episode.logged).as_secs_f64()
            );
            episode.logged = now;
            episode.refused = 0;
            episode.shed = 0;
        }
        BACK_OFF
    }

    /// An `accept` succeeded: a stretch at the limit is over (one line) once accepting
    /// worked for [`QUIET`] since the last failure.
    pub(crate) fn accepted(&mut self) {
        let Some(episode) = &mut self.episode else {
            return;
        };
        episode.stuck_since = None;
        if episode.last_hit.elapsed() < QUIET {
            return;
        }
        if let Some(episode) = self.episode.take() {
            log::warn!(
                "open-file limit: accepting again after {:.1} s ({} connection(s) refused, {} idle connection(s) closed)",
                episode.since.elapsed().as_secs_f64(),
                episode.total_refused,
                episode.total_shed
            );
        }
    }
}

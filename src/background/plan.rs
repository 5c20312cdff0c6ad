//! The plan: when each task runs next, which tasks are due, in which order, and how many
//! runs were missed. Pure: every method takes `now`, so tests drive it with their own clock.
//!
//! Rules (the original's, with its gaps fixed):
//! - at start every task is due, unless it opted out (`run_at_start(false)`);
//! - a task's next run follows its *planned* time, not when it ran or how it ended: no
//!   drift, and a failure does not make it run early;
//! - when runs were missed (the machine slept, another task ran long) the task runs once,
//!   for the latest missed slot, and [`Due::skipped`] counts the others;
//! - due tasks form a batch that runs one by one, each at most once: shortest interval
//!   first (the original's order); a cron task's interval is the time from this slot to its
//!   next one (`*/5 * * * *` counts as 300 s); ties keep declaration order.
//!
//! With `[database]` the plan is *aligned* ([`Plan::aligned`]): an `every N` task's slots are
//! the multiples of N seconds since the epoch, so that workers on several hosts plan the
//! same slots and claim each once (`crate::store`).

use super::schedule::{seconds_delta, Schedule};
use chrono::{DateTime, FixedOffset, TimeDelta, Utc};

/// Most missed cron slots counted one by one; beyond, the latest is found directly.
const COUNT_LIMIT: u64 = 100_000;

/// A task to run now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The task's index (declaration order).
    pub task: usize,
    /// The slot this run stands for.
    pub planned: DateTime<Utc>,
    /// Earlier slots that were missed and will not run.
    pub skipped: u64,
    /// The run at start (`planned` is the start), not a slot of the schedule.
    pub at_start: bool,
}

/// The schedule of every task and its next planned run.
#[derive(Debug)]
pub struct Plan {
    tasks: Vec<(Schedule, Option<DateTime<Utc>>)>,
    zone: FixedOffset,
    aligned: bool,
    start: Option<DateTime<Utc>>,
}

impl Plan {
    /// Plans `tasks` (each with whether it runs at start) from `start`.
    pub fn new(tasks: Vec<(Schedule, bool)>, zone: FixedOffset, start: DateTime<Utc>) -> Plan {
        Plan::with(tasks, zone, start, false)
    }

    /// [`Plan::new`] with `every N` slots at the multiples of N seconds since the epoch.
    pub fn aligned(tasks: Vec<(Schedule, bool)>, zone: FixedOffset, start: DateTime<Utc>) -> Plan {
        Plan::with(tasks, zone, start, true)
    }

    fn with(
        tasks: Vec<(Schedule, bool)>,
        zone: FixedOffset,
        start: DateTime<Utc>,
        aligned: bool,
    ) -> Plan {
        let tasks = tasks
            .into_iter()
            .map(|(schedule, at_start)| {
                let next = if at_start {
                    Some(start)
                } else {
                    next_slot(&schedule, start, zone, aligned)
                };
                (schedule, next)
            })
            .collect();
        Plan {
            tasks,
            zone,
            aligned,
            start: Some(start),
        }
    }

    /// How many slots of task `task` fall strictly between `after` and `before` (at most
    /// 100,000 are counted for a cron task): the runs skipped between two runs.
    pub fn slots_between(&self, task: usize, after: DateTime<Utc>, before: DateTime<Utc>) -> u64 {
        let Some((schedule, _)) = self.tasks.get(task) else {
            return 0;
        };
        if let Schedule::Every(seconds) = schedule {
            let step = seconds_delta(*seconds).num_milliseconds().max(1);
            let span = (before - after).num_milliseconds();
            return u64::try_from((span - 1).max(0) / step).unwrap_or(0);
        }
        let (mut count, mut at) = (0, after);
        while let Some(slot) = next_slot(schedule, at, self.zone, self.aligned) {
            if slot >= before || count == COUNT_LIMIT {
                break;
            }
            count += 1;
            at = slot;
        }
        count
    }

    /// When task `task` runs next (`None`: never again).
    pub fn next_run(&self, task: usize) -> Option<DateTime<Utc>> {
        self.tasks.get(task).and_then(|(_, next)| *next)
    }

    /// The earliest next run of any task.
    pub fn next_wake(&self) -> Option<DateTime<Utc>> {
        self.tasks.iter().filter_map(|(_, next)| *next).min()
    }

    /// Every task due at `now`, in run order, each planned past `now` for its next run.
    pub fn take_due(&mut self, now: DateTime<Utc>) -> Vec<Due> {
        let (zone, aligned) = (self.zone, self.aligned);
        let start = self.start.take();
        let mut batch = Vec::new();
        for (task, (schedule, next)) in self.tasks.iter_mut().enumerate() {
            let Some(slot) = next.filter(|slot| *slot <= now) else {
                continue;
            };
            let at_start = start == Some(slot) && !is_slot(schedule, slot, zone, aligned);
            let (planned, skipped) = if at_start {
                (slot, 0)
            } else {
                latest_slot(schedule, slot, now, zone)
            };
            *next = next_slot(schedule, planned, zone, aligned);
            let interval = match (schedule, *next) {
                (Schedule::Every(seconds), _) => seconds_delta(*seconds),
                (Schedule::Cron(_), Some(after)) => after - planned,
                (Schedule::Cron(_), None) => TimeDelta::MAX,
            };
            batch.push((
                interval,
                Due {
                    task,
                    planned,
                    skipped,
                    at_start,
                },
            ));
        }
        batch.sort_by_key(|(interval, due)| (*interval, due.task));
        batch.into_iter().map(|(_, due)| due).collect()
    }
}

/// The first slot strictly after `after`: [`Schedule::next_after`], or for an `every N`
/// task of an aligned plan the next multiple of N seconds since the epoch.
fn next_slot(
    schedule: &Schedule,
    after: DateTime<Utc>,
    zone: FixedOffset,
    aligned: bool,
) -> Option<DateTime<Utc>> {
    match schedule {
        Schedule::Every(seconds) if aligned => {
            let step = i64::try_from(*seconds).unwrap_or(i64::MAX);
            let next = after
                .timestamp()
                .div_euclid(step)
                .checked_add(1)?
                .checked_mul(step)?;
            DateTime::from_timestamp(next, 0)
        }
        _ => schedule.next_after(after, zone),
    }
}

/// Whether `at` is a slot of `schedule` (not only the start time).
fn is_slot(schedule: &Schedule, at: DateTime<Utc>, zone: FixedOffset, aligned: bool) -> bool {
    at.checked_sub_signed(TimeDelta::milliseconds(1))
        .and_then(|before| next_slot(schedule, before, zone, aligned))
        == Some(at)
}

/// The latest slot in `[first, now]` (`first` is a due slot) and how many slots before it
/// in that span are skipped.
fn latest_slot(
    schedule: &Schedule,
    first: DateTime<Utc>,
    now: DateTime<Utc>,
    zone: FixedOffset,
) -> (DateTime<Utc>, u64) {
    match schedule {
        Schedule::Every(seconds) => {
            let step = seconds_delta(*seconds).num_milliseconds().max(1);
            let behind = (now - first).num_milliseconds().max(0);
            let skipped = behind / step;
            let planned = first + TimeDelta::milliseconds(skipped * step);
            (planned, u64::try_from(skipped).unwrap_or(0))
        }
        Schedule::Cron(_) => {
            let (mut planned, mut skipped) = (first, 0);
            while let Some(slot) = schedule.next_after(planned, zone).filter(|t| *t <= now) {
                planned = slot;
                skipped += 1;
                if skipped == COUNT_LIMIT {
                    break;
                }
            }
            (planned, skipped)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test's clock: seconds after 2026-01-01 00:00:00 UTC (a Thursday).
    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600 + seconds, 0).expect("time")
    }

    fn plan(specs: &[(&str, bool)]) -> Plan {
        let tasks = specs
            .iter()
            .map(|(spec, start)| (Schedule::parse(spec).expect("valid"), *start))
            .collect();
        Plan::new(tasks, FixedOffset::east_opt(0).expect("zone"), at(0))
    }

    fn order(batch: &[Due]) -> Vec<usize> {
        batch.iter().map(|due| due.task).collect()
    }

    #[test]
    fn everything_runs_at_start_shortest_interval_first() {
        let mut plan = plan(&[
            ("every 60s", true),
            ("*/5 * * * *", true),
            ("every 10s", true),
        ]);
        let batch = plan.take_due(at(0));
        assert_eq!(order(&batch), [2, 0, 1]);
        assert!(batch
            .iter()
            .all(|due| due.planned == at(0) && due.skipped == 0));
        assert_eq!(plan.next_run(0), Some(at(60)));
        assert_eq!(plan.next_run(1), Some(at(300)));
        assert_eq!(plan.next_run(2), Some(at(10)));
        assert_eq!(plan.next_wake(), Some(at(10)));
        assert!(plan.take_due(at(9)).is_empty());
    }

    #[test]
    fn opting_out_of_the_start_run() {
        let mut plan = plan(&[("every 60s", false), ("0 3 * * *", false)]);
        assert!(plan.take_due(at(0)).is_empty());
        assert_eq!(plan.next_run(0), Some(at(60)));
        assert_eq!(plan.next_run(1), Some(at(3 * 3600)));
    }

    #[test]
    fn next_run_follows_the_planned_time_not_the_finish() {
        let mut plan = plan(&[("every 60s", true)]);
        plan.take_due(at(0));
        // The run took 45 s (or failed after 45 s): the next one stays at 60, no drift.
        assert!(plan.take_due(at(45)).is_empty());
        let batch = plan.take_due(at(61));
        assert_eq!(batch[0].planned, at(60));
        assert_eq!(plan.next_run(0), Some(at(120)));
    }

    #[test]
    fn missed_slots_run_once_and_are_counted() {
        let mut plan = plan(&[("every 10s", true), ("* * * * *", true)]);
        plan.take_due(at(0));
        // The machine slept 5 min 5 s.
        let batch = plan.take_due(at(305));
        assert_eq!(batch.len(), 2);
        assert_eq!(
            batch[0],
            Due {
                task: 0,
                planned: at(300),
                skipped: 29,
                at_start: false
            }
        );
        assert_eq!(
            batch[1],
            Due {
                task: 1,
                planned: at(300),
                skipped: 4,
                at_start: false
            }
        );
        assert_eq!(plan.next_run(0), Some(at(310)));
        assert_eq!(plan.next_run(1), Some(at(360)));
    }

    #[test]
    fn a_long_task_makes_others_skip_not_pile_up() {
        let mut plan = plan(&[("every 1s", true), ("every 60s", true)]);
        assert_eq!(order(&plan.take_due(at(0))), [0, 1]);
        // Task 1 ran for 30 s: task 0 missed 29 slots and runs once, for slot 30.
        let batch = plan.take_due(at(30));
        assert_eq!(
            batch,
            [Due {
                task: 0,
                planned: at(30),
                skipped: 29,
                at_start: false
            }]
        );
        // Each task runs at most once per batch, so a busy short task cannot starve a long one.
        let batch = plan.take_due(at(65));
        assert_eq!(order(&batch), [0, 1]);
    }

    #[test]
    fn cron_order_uses_the_gap_to_the_next_slot() {
        let mut plan = plan(&[("0 * * * *", false), ("*/15 * * * *", false)]);
        let batch = plan.take_due(at(3600));
        assert_eq!(order(&batch), [1, 0]);
    }

    #[test]
    fn a_cron_task_that_never_runs_again_stays_idle() {
        let mut plan = plan(&[("0 0 0 1 1 * 2026", true)]);
        assert_eq!(plan.take_due(at(0)).len(), 1);
        assert_eq!(plan.next_run(0), None);
        assert_eq!(plan.next_wake(), None);
        assert!(plan.take_due(at(400 * 86400)).is_empty());
    }
}

#[cfg(test)]
mod aligned {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600 + seconds, 0).expect("time")
    }

    #[test]
    fn every_slots_are_multiples_of_the_interval_since_the_epoch() {
        let tasks = vec![
            (Schedule::parse("every 7s").expect("valid"), true),
            (Schedule::parse("every 60s").expect("valid"), false),
        ];
        let zone = FixedOffset::east_opt(0).expect("zone");
        let start = at(3) + TimeDelta::milliseconds(250);
        let mut plan = Plan::aligned(tasks, zone, start);
        // 1_767_225_600 is a multiple of 60 but not of 7 (it is 6 past one).
        assert_eq!(plan.next_run(1), Some(at(60)));
        let batch = plan.take_due(start);
        assert_eq!(batch.len(), 1);
        assert!(batch[0].at_start && batch[0].planned == start);
        let next = plan.next_run(0).expect("next");
        assert_eq!(next.timestamp() % 7, 0);
        assert!(next > start && next - start <= TimeDelta::seconds(7));
        let batch = plan.take_due(next + TimeDelta::seconds(15));
        assert_eq!(batch[0].planned, next + TimeDelta::seconds(14));
        assert_eq!((batch[0].skipped, batch[0].at_start), (2, false));
        // Runs skipped between two slots, for the cluster-wide count.
        assert_eq!(plan.slots_between(0, at(0), at(0)), 0);
        assert_eq!(plan.slots_between(0, at(0), at(7)), 0);
        assert_eq!(plan.slots_between(0, at(0), at(35)), 4);
        let plan = Plan::new(
            vec![(Schedule::parse("*/5 * * * *").expect("valid"), false)],
            zone,
            at(0),
        );
        assert_eq!(plan.slots_between(0, at(0), at(3600)), 11);
    }
}

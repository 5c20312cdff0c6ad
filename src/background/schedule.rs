//! Schedules: parsing a task's declared schedule and the pure `next_after(schedule, t)`.
//!
//! Two kinds, as declared with the SDK's `every(N)` and `cron("...")`:
//! - `every Ns`: every N seconds, anchored at the planned time of the previous run;
//! - a cron expression. The 5-field Unix form (`min hour day-of-month month day-of-week`)
//!   and the `@daily`-style nicknames are Vixie cron's, parsed and checked as it does
//!   (`vixie.rs`: the same expressions accepted and refused, the same run times, errors
//!   naming the field), then handed to the `cron` crate as explicit seconds-first lists.
//!   6- and 7-field expressions are the crate's own seconds-first form, passed unchanged:
//!   Sunday = 1 there.
//!
//! Cron times are read in a fixed-offset time zone (`[background] time_zone`, UTC default).

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use std::fmt;
use std::str::FromStr;

/// A parsed schedule.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Every this many seconds (at least 1).
    Every(u64),
    /// A cron expression.
    Cron(Cron),
}

/// A cron expression, as written, and the crate schedules it stands for (two when a
/// 5-field expression restricts both day fields: either may match).
#[derive(Debug, Clone)]
pub struct Cron {
    source: String,
    schedules: Vec<cron::Schedule>,
}

impl Schedule {
    /// Parses `every Ns` or a cron expression; the error says what is wrong.
    pub fn parse(spec: &str) -> Result<Schedule, String> {
        let spec = spec.trim();
        if let Some(rest) = spec.strip_prefix("every ") {
            return match rest.trim().trim_end_matches('s').trim().parse::<u64>() {
                Ok(0) => Err("an interval must be at least 1 second".to_owned()),
                Ok(seconds) => Ok(Schedule::Every(seconds)),
                Err(_) => Err("an interval is `every N s` with N whole seconds".to_owned()),
            };
        }
        let fields = spec.split_whitespace().count();
        let expressions = match fields {
            6 | 7 => vec![spec.to_owned()],
            _ if fields == 5 || spec.starts_with('@') => {
                super::vixie::parse(spec)?.crate_expressions()
            }
            n => {
                return Err(format!(
                    "{n} fields: write 5 (minute hour day-of-month month day-of-week) or the \
                     seconds-first form with 6 or 7"
                ))
            }
        };
        let schedules = expressions
            .iter()
            .map(|text| {
                cron::Schedule::from_str(text).map_err(|error| {
                    format!("seconds-first expression: {}", one_line(&error.to_string()))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Schedule::Cron(Cron {
            source: spec.to_owned(),
            schedules,
        }))
    }

    /// The first run time strictly after `after`; `None` if there is none (a cron
    /// expression limited to past years).
    pub fn next_after(&self, after: DateTime<Utc>, zone: FixedOffset) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Every(seconds) => Some(after + seconds_delta(*seconds)),
            Schedule::Cron(cron) => {
                let local = after.with_timezone(&zone);
                cron.schedules
                    .iter()
                    .filter_map(|schedule| schedule.after(&local).next())
                    .min()
                    .map(|next| next.with_timezone(&Utc))
            }
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Every(seconds) => write!(f, "every {seconds} s"),
            Schedule::Cron(cron) => write!(f, "cron {}", cron.source),
        }
    }
}

pub(crate) fn seconds_delta(seconds: u64) -> TimeDelta {
    TimeDelta::try_seconds(i64::try_from(seconds).unwrap_or(i64::MAX)).unwrap_or(TimeDelta::MAX)
}

/// The crate's reason, without the expression and the caret it draws under it.
fn one_line(message: &str) -> String {
    message.lines().last().unwrap_or(message).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("test time")
            .with_timezone(&Utc)
    }

    fn next(spec: &str, after: &str) -> String {
        let schedule = Schedule::parse(spec).expect("valid");
        let zone = FixedOffset::east_opt(0).expect("zone");
        schedule
            .next_after(utc(after), zone)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default()
    }

    #[test]
    fn intervals() {
        assert_eq!(
            next("every 60s", "2026-01-01T00:00:00Z"),
            "2026-01-01T00:01:00+00:00"
        );
        assert!(matches!(
            Schedule::parse("every 1s"),
            Ok(Schedule::Every(1))
        ));
        assert!(Schedule::parse("every 0s").is_err());
        assert!(Schedule::parse("every soon").is_err());
        assert_eq!(
            Schedule::parse("every 60s").map(|s| s.to_string()).ok(),
            Some("every 60 s".into())
        );
    }

    #[test]
    fn five_field_form() {
        assert_eq!(
            next("*/5 * * * *", "2026-01-01T00:03:10Z"),
            "2026-01-01T00:05:00+00:00"
        );
        assert_eq!(
            next("0 3 * * *", "2026-01-01T03:00:00Z"),
            "2026-01-02T03:00:00+00:00"
        );
        assert_eq!(
            next("@hourly", "2026-01-01T03:00:00Z"),
            "2026-01-01T04:00:00+00:00"
        );
    }

    #[test]
    fn unix_day_of_week_numbering() {
        // 2026-01-01 is a Thursday; 2026-01-04 a Sunday, 2026-01-05 a Monday.
        for sunday in ["0", "7", "sun", "SUN"] {
            let spec = format!("0 12 * * {sunday}");
            assert_eq!(
                next(&spec, "2026-01-01T00:00:00Z"),
                "2026-01-04T12:00:00+00:00",
                "{spec}"
            );
        }
        assert_eq!(
            next("0 12 * * 1", "2026-01-01T00:00:00Z"),
            "2026-01-05T12:00:00+00:00"
        );
        assert_eq!(
            next("0 12 * * 1-5", "2026-01-02T13:00:00Z"),
            "2026-01-05T12:00:00+00:00"
        );
        // Friday to Sunday, across the 7/0 seam.
        assert_eq!(
            next("0 12 * * 5-7", "2026-01-03T13:00:00Z"),
            "2026-01-04T12:00:00+00:00"
        );
        assert_eq!(
            next("0 12 * * 6-7/7", "2026-01-01T00:00:00Z"),
            "2026-01-03T12:00:00+00:00"
        );
        // The seconds-first form is the crate's: 1 is Sunday there.
        assert_eq!(
            next("0 0 12 * * 1", "2026-01-01T00:00:00Z"),
            "2026-01-04T12:00:00+00:00"
        );
    }

    #[test]
    fn both_day_fields_match_either_like_vixie_cron() {
        // The 13th, or any Friday: Friday 2026-02-06 comes before Friday 2026-02-13.
        assert_eq!(
            next("0 0 13 * 5", "2026-02-01T00:00:00Z"),
            "2026-02-06T00:00:00+00:00"
        );
        assert_eq!(
            next("0 0 13 * 5", "2026-02-11T00:00:00Z"),
            "2026-02-13T00:00:00+00:00"
        );
        // One day field is `*`: the other alone decides.
        assert_eq!(
            next("0 0 13 * *", "2026-02-01T00:00:00Z"),
            "2026-02-13T00:00:00+00:00"
        );
    }

    #[test]
    fn month_ends() {
        assert_eq!(
            next("0 0 31 * *", "2026-04-01T00:00:00Z"),
            "2026-05-31T00:00:00+00:00"
        );
        assert_eq!(
            next("0 0 29 2 *", "2026-01-01T00:00:00Z"),
            "2028-02-29T00:00:00+00:00"
        );
        assert_eq!(
            next("59 23 * * *", "2026-12-31T23:59:00Z"),
            "2027-01-01T23:59:00+00:00"
        );
        assert_eq!(
            next("0 0 1 * *", "2026-01-31T12:00:00Z"),
            "2026-02-01T00:00:00+00:00"
        );
    }

    #[test]
    fn time_zone_offsets() {
        let schedule = Schedule::parse("0 3 * * *").expect("valid");
        let paris = FixedOffset::east_opt(3600).expect("zone");
        let after = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("time");
        let at = schedule.next_after(after, paris).map(|t| t.to_rfc3339());
        assert_eq!(at.as_deref(), Some("2026-01-01T02:00:00+00:00"));
    }

    #[test]
    fn invalid_expressions_say_what_is_wrong() {
        let error = |spec: &str| Schedule::parse(spec).err().unwrap_or_default();
        assert!(
            error("* * * *").contains("4 fields"),
            "{}",
            error("* * * *")
        );
        assert!(error("* * * * 8").contains("'8' is not 0-7"));
        assert!(error("* * * * 5-1").contains("backwards"));
        assert!(error("* * * * */0").contains("step"));
        // Vixie cron 4.1 refuses a step after a lone number.
        assert!(error("0 12 * * 6/7").contains("a step goes after * or a range"));
        assert!(!error("61 * * * *").is_empty());
        assert_eq!(
            error("0 0 0 32 * *"),
            "seconds-first expression: Days of Month must be less than 31. ('32' specified.)"
        );
        assert!(!error("@reboot").is_empty());
    }

    #[test]
    fn past_years_never_run() {
        let schedule = Schedule::parse("0 0 0 1 1 * 2020").expect("valid");
        let zone = FixedOffset::east_opt(0).expect("zone");
        assert_eq!(schedule.next_after(utc("2026-01-01T00:00:00Z"), zone), None);
    }
}

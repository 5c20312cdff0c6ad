//! Schedules: parsing a task's declared schedule and the pure `next_after(schedule, t)`.
//!
//! Two kinds, as declared with the SDK's `every(N)` and `cron("...")`:
//! - `every Ns`: every N seconds, anchored at the planned time of the previous run;
//! - a cron expression. The common 5-field Unix form (`min hour day-of-month month
//!   day-of-week`, Sunday = 0 or 7) is translated for the `cron` crate, which wants seconds
//!   first and numbers days 1-7 from Sunday: day-of-week lists are rewritten in the crate's
//!   numbering, and when both day fields are restricted a day matching either runs, as in
//!   Vixie cron (the crate alone requires both). 6- and 7-field expressions (and `@daily`
//!   etc.) are the crate's own seconds-first form, passed unchanged: Sunday = 1 there.
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
        let fields: Vec<&str> = spec.split_whitespace().collect();
        let expressions = match fields.len() {
            5 => unix_to_crate(&fields)?,
            6 | 7 => vec![fields.join(" ")],
            1 if spec.starts_with('@') => vec![spec.to_owned()],
            n => {
                return Err(format!(
                    "{n} fields: write 5 (minute hour day-of-month month day-of-week) or the \
                     seconds-first form with 6 or 7"
                ))
            }
        };
        let schedules = expressions
            .iter()
            .map(|text| cron::Schedule::from_str(text).map_err(|error| error.to_string()))
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

/// `min hour dom month dow` (Unix) as the crate's `sec min hour dom month dow`.
fn unix_to_crate(fields: &[&str]) -> Result<Vec<String>, String> {
    let [minute, hour, day, month, weekday] = fields else {
        return Err("expected 5 fields".to_owned());
    };
    let weekdays = unix_weekdays(weekday)?;
    // Vixie cron: a day field starting with `*` does not restrict; if both restrict, a day
    // matching either runs.
    let day_star = day.starts_with('*') || *day == "?";
    let weekday_star = weekday.starts_with('*') || *weekday == "?";
    let expression =
        |day: &str, weekday: &str| format!("0 {minute} {hour} {day} {month} {weekday}");
    Ok(if day_star || weekday_star {
        vec![expression(day, &weekdays)]
    } else {
        vec![expression(day, "*"), expression("*", &weekdays)]
    })
}

/// A Unix day-of-week field (0-7, Sunday = 0 or 7, names, lists, ranges, steps) as the
/// crate's explicit list (1-7, Sunday = 1), or `*` for every day.
fn unix_weekdays(field: &str) -> Result<String, String> {
    let mut days = [false; 7];
    for item in field.split(',') {
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => match step.parse::<u32>() {
                Ok(step) if step > 0 => (base, step),
                _ => {
                    return Err(format!(
                        "day-of-week step '{step}' is not a positive number"
                    ))
                }
            },
            None => (item, 1),
        };
        let (first, last) = match base {
            "*" | "?" => (0, 6),
            _ => match base.split_once('-') {
                Some((first, last)) => (unix_weekday(first)?, unix_weekday(last)?),
                None if step > 1 => (unix_weekday(base)?, 6),
                None => (unix_weekday(base)?, unix_weekday(base)?),
            },
        };
        if first > last {
            return Err(format!("day-of-week range '{base}' runs backwards"));
        }
        for day in (first..=last).step_by(step as usize) {
            days[(day % 7) as usize] = true;
        }
    }
    if days.iter().all(|&day| day) {
        return Ok("*".to_owned());
    }
    let list: Vec<String> = (0..7)
        .filter(|&day| days[day])
        .map(|day| (day + 1).to_string())
        .collect();
    Ok(list.join(","))
}

/// One Unix day of the week: 0-7 or a name (`sun`, `Monday`...).
fn unix_weekday(text: &str) -> Result<u32, String> {
    const NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    if let Ok(number) = text.parse::<u32>() {
        return if number <= 7 {
            Ok(number)
        } else {
            Err(format!(
                "day of week '{text}' is not 0-7 (0 and 7 are Sunday)"
            ))
        };
    }
    let lower = text.to_ascii_lowercase();
    NAMES
        .iter()
        .position(|name| lower.len() >= 3 && lower.starts_with(name))
        .map(|n| n as u32)
        .ok_or_else(|| format!("day of week '{text}' is not 0-7 or a name like mon"))
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
        for sunday in ["0", "7", "sun", "Sunday"] {
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
            next("0 12 * * 6/7", "2026-01-01T00:00:00Z"),
            "2026-01-03T12:00:00+00:00"
        );
        assert_eq!(unix_weekdays("*/2").as_deref(), Ok("1,3,5,7"));
        assert_eq!(unix_weekdays("0-7").as_deref(), Ok("*"));
        assert_eq!(unix_weekdays("1,3").as_deref(), Ok("2,4"));
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
        assert!(!error("61 * * * *").is_empty());
        assert!(!error("0 0 0 32 * *").is_empty());
        assert!(!error("@reboot").is_empty());
    }

    #[test]
    fn past_years_never_run() {
        let schedule = Schedule::parse("0 0 0 1 1 * 2020").expect("valid");
        let zone = FixedOffset::east_opt(0).expect("zone");
        assert_eq!(schedule.next_after(utc("2026-01-01T00:00:00Z"), zone), None);
    }
}

//! The 5-field cron expressions Vixie cron accepts (ISC cron 4.1, `entry.c`), parsed the
//! way it parses them, into the set of minutes, hours, days, months and weekdays each field
//! allows: `*`, numbers, names (`jan`..`dec`, `sun`..`sat`, three letters, any case) and
//! ranges mixing them (`apr-12`), lists, steps after `*` or a range (`*/60` is minute 0:
//! a step larger than the field keeps its first value), Sunday as 0 or 7, and the
//! `@yearly`/`@annually`, `@monthly`, `@weekly`, `@daily`/`@midnight`, `@hourly` nicknames.
//! What it refuses is refused here, in words naming the field: a value out of its field's
//! range (`8` as a weekday), a backward range (`5-1`), a zero step, a step after a lone
//! number (`5/10`), a name where a field has none. (Vixie skips junk after `*`, as in
//! `*x`; refused here.)
//!
//! A day field that starts with `*` does not restrict: when both day fields restrict, a day
//! matching either runs, otherwise both must match (cron.c's `DOM_STAR`/`DOW_STAR`).

/// What one field allows, as a bit per value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fields {
    pub(crate) minutes: u64,
    pub(crate) hours: u64,
    /// Bit 1 to 31.
    pub(crate) days: u64,
    /// Bit 1 to 12.
    pub(crate) months: u64,
    /// Bit 0 (Sunday) to 6.
    pub(crate) weekdays: u64,
    /// The day-of-month field starts with `*`.
    pub(crate) day_star: bool,
    /// The day-of-week field starts with `*`.
    pub(crate) weekday_star: bool,
}

/// A field's name in messages, its range and its names (the first is `low`).
struct Field {
    name: &'static str,
    low: u32,
    high: u32,
    names: &'static [&'static str],
    note: &'static str,
}

const MINUTE: Field = Field {
    name: "minute",
    low: 0,
    high: 59,
    names: &[],
    note: "",
};
const HOUR: Field = Field {
    name: "hour",
    low: 0,
    high: 23,
    names: &[],
    note: "",
};
const DAY: Field = Field {
    name: "day of month",
    low: 1,
    high: 31,
    names: &[],
    note: "",
};
const MONTH: Field = Field {
    name: "month",
    low: 1,
    high: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
    note: " or a name jan..dec",
};
const WEEKDAY: Field = Field {
    name: "day of week",
    low: 0,
    high: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    note: " (0 and 7 are Sunday) or a name sun..sat",
};

/// The nicknames, as the 5 fields they stand for.
const NICKNAMES: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// Parses 5 fields (`min hour day-of-month month day-of-week`) or a nickname.
pub(crate) fn parse(spec: &str) -> Result<Fields, String> {
    let spec = spec.trim();
    if spec.starts_with('@') {
        if spec == "@reboot" {
            return Err("@reboot is not a schedule here: a task runs when the worker starts unless it says run_at_start(false)".to_owned());
        }
        let fields = NICKNAMES
            .iter()
            .find(|(name, _)| *name == spec)
            .map(|(_, fields)| *fields)
            .ok_or_else(|| {
                format!("'{spec}' is not one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly")
            })?;
        return parse(fields);
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    let [minute, hour, day, month, weekday] = fields[..] else {
        return Err(format!(
            "{} fields: write 5 (minute hour day-of-month month day-of-week)",
            fields.len()
        ));
    };
    let weekdays = field(weekday, &WEEKDAY)?;
    Ok(Fields {
        minutes: field(minute, &MINUTE)?,
        hours: field(hour, &HOUR)?,
        days: field(day, &DAY)?,
        months: field(month, &MONTH)?,
        // Sunday is 0 or 7.
        weekdays: (weekdays | weekdays >> 7) & 0x7f,
        day_star: day.starts_with('*'),
        weekday_star: weekday.starts_with('*'),
    })
}

/// One field: a comma-separated list of `*`, `N`, `A-B`, each of the last two with an
/// optional `/STEP` after `*` or a range.
fn field(text: &str, field: &Field) -> Result<u64, String> {
    let name = field.name;
    let mut bits = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (item, None),
        };
        let (first, last) = match range {
            "*" => (field.low, field.high),
            _ => match range.split_once('-') {
                Some((first, last)) => {
                    let (first, last) = (value(first, field)?, value(last, field)?);
                    if first > last {
                        return Err(format!("{name} range '{range}' runs backwards"));
                    }
                    (first, last)
                }
                None if step.is_some() => {
                    return Err(format!(
                        "{name} '{item}': a step goes after * or a range (*/{s} or {range}-{}/{s})",
                        field.high,
                        s = step.unwrap_or_default()
                    ))
                }
                None => {
                    let single = value(range, field)?;
                    (single, single)
                }
            },
        };
        // Any step past the field's width keeps the first value only (`*/60`).
        let step = match step {
            None => 1,
            Some(step) if !step.is_empty() && step.bytes().all(|b| b.is_ascii_digit()) => {
                match step.parse::<u64>().unwrap_or(u64::MAX) {
                    0 => 0,
                    step => step.min(64) as usize,
                }
            }
            Some(_) => 0,
        };
        if step == 0 {
            let step = item.split_once('/').map_or("", |(_, step)| step);
            return Err(format!(
                "{name} step '{step}' in '{item}' is not a positive whole number"
            ));
        }
        for value in (first..=last).step_by(step) {
            bits |= 1 << value;
        }
    }
    Ok(bits)
}

/// One value of a field: a number in its range, or one of its names (three letters, any
/// case).
fn value(text: &str, field: &Field) -> Result<u32, String> {
    let (name, low, high) = (field.name, field.low, field.high);
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<u32>() {
            Ok(number) if (low..=high).contains(&number) => Ok(number),
            _ => Err(format!("{name} '{text}' is not {low}-{high}{}", field.note)),
        };
    }
    let position = field
        .names
        .iter()
        .position(|candidate| candidate.eq_ignore_ascii_case(text));
    match position {
        Some(index) => Ok(low + index as u32),
        None if field.names.is_empty() => {
            Err(format!("{name} '{text}' is not a number {low}-{high}"))
        }
        None => Err(format!("{name} '{text}' is not {low}-{high}{}", field.note)),
    }
}

impl Fields {
    /// The `cron` crate's seconds-first expressions for these fields (two when both day
    /// fields restrict: a day matching either runs). The crate numbers weekdays 1-7 from
    /// Sunday.
    pub(crate) fn crate_expressions(&self) -> Vec<String> {
        let minutes = list(self.minutes, 0, 59, 0);
        let hours = list(self.hours, 0, 23, 0);
        let days = list(self.days, 1, 31, 0);
        let months = list(self.months, 1, 12, 0);
        let weekdays = list(self.weekdays, 0, 6, 1);
        let expression =
            |days: &str, weekdays: &str| format!("0 {minutes} {hours} {days} {months} {weekdays}");
        if self.day_star || self.weekday_star {
            vec![expression(&days, &weekdays)]
        } else {
            vec![expression(&days, "*"), expression("*", &weekdays)]
        }
    }
}

/// The values of `bits` from `low` to `high`, each plus `shift`, comma-separated; `*` when
/// all are there.
fn list(bits: u64, low: u32, high: u32, shift: u32) -> String {
    let values: Vec<String> = (low..=high)
        .filter(|value| bits & (1 << value) != 0)
        .map(|value| (value + shift).to_string())
        .collect();
    if values.len() as u32 == high - low + 1 {
        "*".to_owned()
    } else {
        values.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(values: &[u32]) -> u64 {
        values.iter().fold(0, |bits, value| bits | 1 << value)
    }

    #[test]
    fn names_numbers_ranges_and_steps() {
        let fields = parse("*/60 */25 1,15 apr-6 MON-fri").expect("valid");
        assert_eq!(fields.minutes, bits(&[0]));
        assert_eq!(fields.hours, bits(&[0]));
        assert_eq!(fields.days, bits(&[1, 15]));
        assert_eq!(fields.months, bits(&[4, 5, 6]));
        assert_eq!(fields.weekdays, bits(&[1, 2, 3, 4, 5]));
        assert!(!fields.day_star && !fields.weekday_star);
        let fields = parse("0-59/15 0 */2 jan-dec/3 5-7").expect("valid");
        assert_eq!(fields.minutes, bits(&[0, 15, 30, 45]));
        assert_eq!(
            fields.days,
            bits(&(0..16).map(|n| 1 + 2 * n).collect::<Vec<_>>())
        );
        assert_eq!(fields.months, bits(&[1, 4, 7, 10]));
        assert_eq!(fields.weekdays, bits(&[0, 5, 6]));
        assert!(fields.day_star);
        assert_eq!(parse("@annually"), parse("0 0 1 1 *"));
        assert_eq!(parse("@midnight"), parse("0 0 * * *"));
        assert_eq!(parse("0 0 * * 7"), parse("0 0 * * sun"));
        assert_eq!(parse("0 0 1 * */1000").map(|f| f.weekdays), Ok(bits(&[0])));
    }

    #[test]
    fn crate_expressions() {
        let five = |spec: &str| parse(spec).expect("valid").crate_expressions();
        assert_eq!(
            five("*/5 * * * *"),
            ["0 0,5,10,15,20,25,30,35,40,45,50,55 * * * *"]
        );
        assert_eq!(five("0 3 13 * fri"), ["0 0 3 13 * *", "0 0 3 * * 6"]);
        assert_eq!(
            five("0 3 */2 * 0"),
            ["0 0 3 1,3,5,7,9,11,13,15,17,19,21,23,25,27,29,31 * 1"]
        );
    }

    #[test]
    fn refusals_name_the_field() {
        let error = |spec: &str| parse(spec).err().unwrap_or_default();
        assert_eq!(
            error("0 3 * * 8"),
            "day of week '8' is not 0-7 (0 and 7 are Sunday) or a name sun..sat"
        );
        assert_eq!(error("5-1 * * * *"), "minute range '5-1' runs backwards");
        assert_eq!(
            error("* * * dec-jan *"),
            "month range 'dec-jan' runs backwards"
        );
        assert_eq!(error("60 * * * *"), "minute '60' is not 0-59");
        assert_eq!(error("0-60 * * * *"), "minute '60' is not 0-59");
        assert_eq!(error("* 24 * * *"), "hour '24' is not 0-23");
        assert_eq!(error("* * 0 * *"), "day of month '0' is not 1-31");
        assert_eq!(
            error("* * * 13 *"),
            "month '13' is not 1-12 or a name jan..dec"
        );
        assert_eq!(
            error("* * * * sunday"),
            "day of week 'sunday' is not 0-7 (0 and 7 are Sunday) or a name sun..sat"
        );
        assert_eq!(error("jan * * * *"), "minute 'jan' is not a number 0-59");
        assert_eq!(
            error("*/0 * * * *"),
            "minute step '0' in '*/0' is not a positive whole number"
        );
        assert_eq!(
            error("5/10 * * * *"),
            "minute '5/10': a step goes after * or a range (*/10 or 5-59/10)"
        );
        assert_eq!(error("* * ? * *"), "day of month '?' is not a number 1-31");
        assert_eq!(error("*x * * * *"), "minute '*x' is not a number 0-59");
        assert_eq!(error("1,,2 * * * *"), "minute '' is not a number 0-59");
        assert_eq!(error("-1 * * * *"), "minute '' is not a number 0-59");
        assert!(error("@reboot").contains("run_at_start"));
        assert!(error("@often").contains("is not one of @yearly"));
        assert!(error("* * * *").starts_with("4 fields"));
    }
}

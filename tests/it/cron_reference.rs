//! apiphant's 5-field cron expressions against an independent reference: the next run times
//! croniter (Python, pinned in tests/tools/requirements.txt, tests/tools/cron_next.py)
//! computes for the same expressions and start times. Where croniter and Vixie cron differ,
//! apiphant follows Vixie cron (ISC cron 4.1): those cases are listed with Vixie's times,
//! and the test checks that croniter still differs there (so the list stays true).

use crate::util::{python, root};
use apiphant::background::schedule::Schedule;
use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

/// Accepted by both, at the same times.
const AGREED: &[&str] = &[
    "* * * * *",
    "*/5 * * * *",
    "0 3 * * *",
    "*/60 * * * *",
    "*/25 */7 * * *",
    "0-59/100 * * * *",
    "1-59/2 * * * *",
    "15,45 9-17 * * mon-fri",
    "0 0 1 apr-12 *",
    "0 12 * jan-mar MON-Fri",
    "0 0 * * 7",
    "0 0 * * 0",
    "0 0 * * SUN",
    "0 0 * * 5-7",
    "0 0 * * 1-7/2",
    "0 */3 * * 0,6",
    "0 0 13 * 5",
    "0 0 1-31 * 1",
    "0 0 1-7 * sun",
    "30 4 1,15 * 5",
    "0 0 29 2 *",
    "0 0 31 * *",
    "59 23 31 12 *",
    "0 0 1 JAN *",
    "0 9 1-31/10 * *",
    "0 0 */31 * *",
    "0 0 * */5 *",
    "0 0 1 jan-dec/3 *",
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

/// Accepted by both, at different times: Vixie's first times after 2026-01-01T00:00Z, and
/// why croniter differs.
const VIXIE_TIMES: &[(&str, &[&str], &str)] = &[(
    "0 0 */2 * 1",
    &[
        "2026-01-05T00:00:00+00:00",
        "2026-01-19T00:00:00+00:00",
        "2026-02-09T00:00:00+00:00",
    ],
    "a day-of-month field starting with * does not restrict in Vixie cron, so both day \
         fields must match (odd days that are Mondays); croniter runs on either",
)];

/// Refused by Vixie cron, and by apiphant with words naming the field; `true` when
/// croniter accepts it (a difference: apiphant follows Vixie).
const REFUSED: &[(&str, &str, bool)] = &[
    ("0 3 * * 8", "day of week '8' is not 0-7", false),
    ("5-1 * * * *", "minute range '5-1' runs backwards", true),
    (
        "* * * dec-jan *",
        "month range 'dec-jan' runs backwards",
        true,
    ),
    ("60 * * * *", "minute '60' is not 0-59", false),
    ("* 24 * * *", "hour '24' is not 0-23", false),
    ("* * 0 * *", "day of month '0' is not 1-31", false),
    ("* * 32 * *", "day of month '32' is not 1-31", false),
    ("* * * 13 *", "month '13' is not 1-12", false),
    ("*/0 * * * *", "minute step '0'", false),
    (
        "5/10 * * * *",
        "minute '5/10': a step goes after * or a range",
        true,
    ),
    ("* * ? * *", "day of month '?' is not a number 1-31", true),
    ("0 0 L * *", "day of month 'L' is not a number 1-31", true),
    ("0 0 * * 5#3", "day of week '5#3' is not 0-7", true),
    ("0 0 * * sunday", "day of week 'sunday' is not 0-7", false),
    ("jan * * * *", "minute 'jan' is not a number 0-59", false),
    ("* * * *", "4 fields", false),
    ("@reboot", "@reboot is not a schedule here", false),
];

const AFTER: [&str; 2] = ["2026-01-01T00:00:00+00:00", "2027-02-27T23:58:00+00:00"];
const COUNT: usize = 12;

/// croniter's answers for these cases, in order.
fn croniter(cases: &[Value]) -> Vec<Value> {
    let mut child = Command::new(python())
        .arg(root().join("tests/tools/cron_next.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let input = serde_json::to_vec(cases).expect("JSON");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("cases written");
    let output = child.wait_with_output().expect("croniter answers");
    assert!(
        output.status.success(),
        "tests/tools/cron_next.py failed (croniter is installed by tests/tools/setup.sh into target/py-tools-venv)"
    );
    serde_json::from_slice(&output.stdout).expect("croniter's JSON")
}

/// apiphant's next `count` times after `after`, or its refusal.
fn ours(expression: &str, after: &str, count: usize) -> Result<Vec<String>, String> {
    let schedule = Schedule::parse(expression)?;
    let utc = FixedOffset::east_opt(0).expect("UTC");
    let mut at: DateTime<Utc> = DateTime::parse_from_rfc3339(after)
        .expect("time")
        .with_timezone(&Utc);
    let mut times = Vec::new();
    for _ in 0..count {
        at = schedule.next_after(at, utc).ok_or("no next time")?;
        times.push(at.to_rfc3339());
    }
    Ok(times)
}

#[test]
fn next_run_times_match_croniter_and_vixie_cron() {
    let mut cases = Vec::new();
    for expression in AGREED {
        for after in AFTER {
            cases.push(json!({"expression": expression, "after": after, "count": COUNT}));
        }
    }
    for (expression, vixie, _) in VIXIE_TIMES {
        cases.push(json!({"expression": expression, "after": AFTER[0], "count": vixie.len()}));
    }
    for (expression, _, _) in REFUSED {
        cases.push(json!({"expression": expression, "after": AFTER[0], "count": 1}));
    }
    let reference = croniter(&cases);
    assert_eq!(reference.len(), cases.len());
    let mut mismatches = Vec::new();
    for (case, theirs) in cases.iter().zip(&reference) {
        let expression = case["expression"].as_str().unwrap_or("");
        let after = case["after"].as_str().unwrap_or("");
        let count = case["count"].as_u64().unwrap_or(0) as usize;
        let mine = ours(expression, after, count);
        if let Some((_, vixie, why)) = VIXIE_TIMES.iter().find(|(e, _, _)| *e == expression) {
            let vixie: Vec<String> = vixie.iter().map(|t| (*t).to_owned()).collect();
            if mine.as_ref() != Ok(&vixie) {
                mismatches.push(format!(
                    "{expression}: Vixie cron runs at {vixie:?}, apiphant {mine:?}"
                ));
            }
            if theirs["times"] == json!(vixie) {
                mismatches.push(format!(
                    "{expression}: croniter now agrees with Vixie cron; move it to AGREED ({why})"
                ));
            }
        } else if let Some((_, words, croniter_accepts)) =
            REFUSED.iter().find(|(e, _, _)| *e == expression)
        {
            match &mine {
                Err(error) if error.contains(words) => {}
                other => mismatches.push(format!("{expression}: Vixie cron refuses it; apiphant: {other:?} (wanted an error with {words:?})")),
            }
            if theirs.get("error").is_some() == *croniter_accepts {
                mismatches.push(format!(
                    "{expression}: croniter {} it now; update REFUSED",
                    if *croniter_accepts {
                        "refuses"
                    } else {
                        "accepts"
                    }
                ));
            }
        } else {
            let theirs: Result<Vec<String>, String> = match theirs.get("times") {
                Some(times) => Ok(serde_json::from_value(times.clone()).unwrap_or_default()),
                None => Err(theirs["error"].to_string()),
            };
            if mine != theirs {
                mismatches.push(format!(
                    "{expression} after {after}: croniter {theirs:?}, apiphant {mine:?}"
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} cases differ:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}

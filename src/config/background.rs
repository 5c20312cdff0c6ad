//! `[background]` in `apiphant.toml`: the worker's settings (`apiphant-background`).
//!
//! ```toml
//! [background]
//! time_zone = "UTC"            # or a fixed offset, "+02:00"; cron times are in this zone
//! shutdown_grace_secs = 30     # SIGTERM/SIGINT: how long the running task may finish
//! # lock_file = "/srv/myproduct/run/apiphant-background.lock"   # the default: PRODUCT/run/
//! ```

use super::range::Limit;
use chrono::{FixedOffset, Offset};
use serde::{Deserialize, Serialize, Serializer};
use std::path::{Path, PathBuf};

/// `[background]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackgroundConfig {
    /// Zone of cron expressions and of times printed by `--list`.
    pub time_zone: TimeZone,
    /// Seconds the running task may take to finish after SIGTERM / SIGINT.
    pub shutdown_grace_secs: f64,
    /// The lock file (default: `run/apiphant-background.lock` in the product's folder).
    pub lock_file: Option<PathBuf>,
}

impl BackgroundConfig {
    /// Every key with its range (`time_zone` is checked as it is read).
    pub(crate) fn limits(&self) -> Vec<Limit> {
        vec![super::server::GRACE.limit("background.shutdown_grace_secs", self.shutdown_grace_secs)]
    }

    /// The lock file: `lock_file`, else [`default_lock_file`].
    pub fn lock_file(&self, dir: &Path) -> PathBuf {
        self.lock_file
            .clone()
            .unwrap_or_else(|| default_lock_file(dir))
    }
}

impl Default for BackgroundConfig {
    fn default() -> Self {
        BackgroundConfig {
            time_zone: TimeZone::default(),
            shutdown_grace_secs: 30.0,
            lock_file: None,
        }
    }
}

/// A time zone: UTC or a fixed offset from it (no daylight saving rules: a named zone's
/// offset would change twice a year, and cron times in a skipped hour are ambiguous).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct TimeZone(pub FixedOffset);

impl Default for TimeZone {
    fn default() -> Self {
        TimeZone(chrono::Utc.fix())
    }
}

impl TryFrom<String> for TimeZone {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let bad = || format!("time_zone '{text}' is not \"UTC\" or an offset like \"+02:00\"");
        if matches!(text.as_str(), "UTC" | "utc" | "Z") {
            return Ok(TimeZone::default());
        }
        let (sign, rest) = match text.as_bytes().first() {
            Some(b'+') => (1, &text[1..]),
            Some(b'-') => (-1, &text[1..]),
            _ => return Err(bad()),
        };
        let (hours, minutes) = rest.split_once(':').unwrap_or((rest, "0"));
        let number = |part: &str| part.parse::<i32>().ok().filter(|_| !part.is_empty());
        let (Some(hours), Some(minutes)) = (number(hours), number(minutes)) else {
            return Err(bad());
        };
        if hours > 23 || minutes > 59 {
            return Err(bad());
        }
        FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
            .map(TimeZone)
            .ok_or_else(bad)
    }
}

/// Written as it is read: `"UTC"` or `"+02:00"`.
impl Serialize for TimeZone {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.local_minus_utc() == 0 {
            serializer.serialize_str("UTC")
        } else {
            serializer.collect_str(&self.0)
        }
    }
}

impl std::fmt::Display for TimeZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.local_minus_utc() == 0 {
            f.write_str("UTC")
        } else {
            write!(f, "UTC{}", self.0)
        }
    }
}

/// The folder of a product's run-time files (the worker's lock): `run/` in the product's
/// folder. The worker creates it (mode 0700) when missing; the deploy creates it owned by
/// the service user.
pub const RUN_DIR: &str = "run";

/// The default lock file of a product: `run/apiphant-background.lock` in its folder. Not
/// the shared temporary directory (another user could plant a symlink or a file under a
/// predictable name there), nor `$XDG_RUNTIME_DIR` (a login session's: a worker started
/// from a shell and one started by supervisor would take different locks).
pub fn default_lock_file(dir: &Path) -> PathBuf {
    dir.join(RUN_DIR).join("apiphant-background.lock")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zones() {
        let zone = |text: &str| TimeZone::try_from(text.to_owned()).map(|z| z.0.local_minus_utc());
        assert_eq!(zone("UTC"), Ok(0));
        assert_eq!(zone("+02:00"), Ok(7200));
        assert_eq!(zone("-05:30"), Ok(-19800));
        assert_eq!(zone("+1"), Ok(3600));
        for bad in ["Europe/Paris", "02:00", "+24:00", "+1:60", "+", "+:30", ""] {
            assert!(zone(bad).is_err(), "{bad}");
        }
        assert_eq!(TimeZone::default().to_string(), "UTC");
    }

    #[test]
    fn the_section_parses_and_refuses_unknown_keys() {
        let background: BackgroundConfig = toml::from_str("time_zone = \"+01:00\"").expect("valid");
        assert_eq!(background.time_zone.to_string(), "UTC+01:00");
        assert_eq!(
            serde_json::to_value(background.time_zone).ok(),
            Some(serde_json::json!("+01:00"))
        );
        assert!(toml::from_str::<BackgroundConfig>("timezone = \"UTC\"").is_err());
    }

    #[test]
    fn the_default_lock_file_is_in_the_product_run_folder() {
        assert_eq!(
            default_lock_file(Path::new("/srv/a")),
            Path::new("/srv/a/run/apiphant-background.lock")
        );
    }
}

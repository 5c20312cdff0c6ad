//! `[background]` and `[email]` in `apiphant.toml`: the worker's settings, typed and checked
//! when the file is read (unknown keys and bad values stop start-up naming the file).
//!
//! ```toml
//! [background]
//! time_zone = "UTC"            # or a fixed offset, "+02:00"; cron times are in this zone
//! shutdown_grace_secs = 30     # SIGTERM/SIGINT: how long the running task may finish
//! # lock_file = "/run/apiphant/myproduct-background.lock"
//!
//! [email]                      # absent: no error emails
//! host = "smtp.example.com"
//! port = 587                   # default: 25 (none), 587 (starttls), 465 (tls)
//! tls = "starttls"             # "none" | "starttls" | "tls"
//! username = "apiphant"
//! password = "..."             # or APIPHANT_SMTP_PASSWORD, which wins
//! from = "apiphant <apiphant@example.com>"
//! to = ["ops@example.com"]
//! subject_prefix = "[myproduct] "
//! timeout_secs = 30
//! ```

use chrono::{FixedOffset, Offset};
use serde::Deserialize;
use std::path::PathBuf;

/// The environment variable that overrides `[email] password` (keep secrets out of files).
pub const PASSWORD_ENV: &str = "APIPHANT_SMTP_PASSWORD";

/// `[background]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackgroundConfig {
    /// Zone of cron expressions and of times printed by `--list`.
    pub time_zone: TimeZone,
    /// Seconds the running task may take to finish after SIGTERM / SIGINT.
    pub shutdown_grace_secs: f64,
    /// The lock file (default: `apiphant-background-<name>-<hash of the dir>.lock` in the
    /// temporary directory).
    pub lock_file: Option<PathBuf>,
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

impl std::fmt::Display for TimeZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.local_minus_utc() == 0 {
            f.write_str("UTC")
        } else {
            write!(f, "UTC{}", self.0)
        }
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    /// Plain SMTP (a local relay).
    None,
    /// Plain, then upgraded with STARTTLS (required, never downgraded).
    #[default]
    Starttls,
    /// Implicit TLS from the first byte (SMTPS).
    Tls,
}

/// `[email]`: where failure tracebacks are mailed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// SMTP server host name (also the name checked in its TLS certificate).
    pub host: String,
    /// SMTP port (default by `tls`: 25, 587, 465).
    pub port: Option<u16>,
    /// `none`, `starttls` (default) or `tls`.
    #[serde(default)]
    pub tls: Tls,
    /// Login user; no login when absent.
    pub username: Option<String>,
    /// Login password; [`PASSWORD_ENV`] overrides it.
    pub password: Option<String>,
    /// Sender, `name <address>` or `address`.
    pub from: String,
    /// Recipients (at least one).
    pub to: Vec<String>,
    /// Put before `Task NAME failed` in the subject (default `[<product name>] `).
    pub subject_prefix: Option<String>,
    /// Seconds for each SMTP step (connect, each command) before giving up.
    #[serde(default = "default_timeout")]
    pub timeout_secs: f64,
}

fn default_timeout() -> f64 {
    30.0
}

impl EmailConfig {
    /// The port, defaulting by TLS mode.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            Tls::None => 25,
            Tls::Starttls => 587,
            Tls::Tls => 465,
        })
    }

    /// The password: the environment's [`PASSWORD_ENV`] if set, else the file's.
    pub fn password(&self) -> Option<String> {
        std::env::var(PASSWORD_ENV)
            .ok()
            .or_else(|| self.password.clone())
    }
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
    fn sections_parse_and_refuse_unknown_keys() {
        let email: EmailConfig = toml::from_str(
            "host = \"127.0.0.1\"\ntls = \"none\"\nfrom = \"a@x\"\nto = [\"b@x\", \"c@x\"]",
        )
        .expect("valid");
        assert_eq!(email.port(), 25);
        assert_eq!(email.timeout_secs, 30.0);
        assert!(
            toml::from_str::<EmailConfig>("host = \"h\"\nfrom = \"a\"\nto = []\nsmtp = 1").is_err()
        );
        assert!(toml::from_str::<EmailConfig>(
            "host = \"h\"\nfrom = \"a\"\nto = []\ntls = \"ssl\""
        )
        .is_err());
        let background: BackgroundConfig = toml::from_str("time_zone = \"+01:00\"").expect("valid");
        assert_eq!(background.time_zone.to_string(), "UTC+01:00");
        assert!(toml::from_str::<BackgroundConfig>("timezone = \"UTC\"").is_err());
    }
}

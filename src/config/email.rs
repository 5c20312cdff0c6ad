//! `[email]` in `apiphant.toml`: where `apiphant-background` mails a failed task's
//! traceback (no emails when the section is absent).
//!
//! ```toml
//! [email]
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

use super::range::{Limit, Range};
use serde::{Deserialize, Serialize};

/// The environment variable that overrides `[email] password` (keep secrets out of files).
pub const PASSWORD_ENV: &str = "APIPHANT_SMTP_PASSWORD";

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
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
#[derive(Debug, Clone, Deserialize, Serialize)]
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
    /// Login password; [`PASSWORD_ENV`] overrides it (when the file is read).
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

    /// The password: the environment's [`PASSWORD_ENV`] if it was set when the file was
    /// read ([`super::Config::load`]), else the file's.
    pub fn password(&self) -> Option<String> {
        self.password.clone()
    }

    /// Every key with its range (the port once defaulted).
    pub(crate) fn limits(&self) -> Vec<Limit> {
        vec![
            Range::new(1, u16::MAX).limit("email.port", self.port()),
            Range::new(0.1, 600.0).limit("email.timeout_secs", self.timeout_secs),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_parses_and_refuses_unknown_keys() {
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
    }
}

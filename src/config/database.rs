//! `[database]` in `apiphant.toml`: the PostgreSQL database the workers of a deployment share
//! (scheduled slots claimed once across hosts, see docs/background.md, "Several hosts"). Without
//! the section everything runs on one host as before.
//!
//! ```toml
//! [database]
//! url = "postgres://apiphant@db.example.com:5432/apiphant"
//! # the password: APIPHANT_DATABASE_PASSWORD (wins), or inside the URL (masked when printed)
//! connect_timeout_secs = 10
//! ```

use super::mask::mask_url_password;
use super::range::{Limit, Range};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The environment variable that sets the database password (keep secrets out of files).
pub const DATABASE_PASSWORD_ENV: &str = "APIPHANT_DATABASE_PASSWORD";

/// `[database]`.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://user[:password]@host[:port]/database[?options]`.
    pub url: String,
    /// From [`DATABASE_PASSWORD_ENV`] only (never read from the file, masked when printed).
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Seconds to connect before giving up (each attempt).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: f64,
}

fn default_connect_timeout() -> f64 {
    10.0
}

impl DatabaseConfig {
    /// Every key with its range.
    pub(crate) fn limits(&self) -> Vec<Limit> {
        vec![Range::new(0.1, 600.0)
            .limit("database.connect_timeout_secs", self.connect_timeout_secs)]
    }

    /// The URL with its password masked: what logs and errors may show.
    pub fn display_url(&self) -> String {
        mask_url_password(&self.url).unwrap_or_else(|| self.url.clone())
    }

    /// Why `url` is not a PostgreSQL URL, if it is not (`postgres://` or `postgresql://`).
    pub(crate) fn url_problem(&self) -> Option<String> {
        let scheme = self.url.split_once("://").map(|(scheme, _)| scheme);
        if !matches!(scheme, Some("postgres" | "postgresql")) {
            return Some(format!(
                "database.url = \"{}\" is not a postgres:// URL (write postgres://user@host:5432/database)",
                self.display_url()
            ));
        }
        match self.url.parse::<postgres::Config>() {
            Ok(_) => None,
            Err(error) => Some(format!(
                "database.url = \"{}\" is not a valid PostgreSQL URL: {error}",
                self.display_url()
            )),
        }
    }
}

/// Never prints the password.
impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &self.display_url())
            .field("password", &self.password.as_ref().map(|_| super::MASK))
            .field("connect_timeout_secs", &self.connect_timeout_secs)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_parses_masks_and_refuses_what_is_not_postgres() {
        let database: DatabaseConfig =
            toml::from_str("url = \"postgres://app:hunter2@db:5432/app\"").expect("valid");
        assert_eq!(database.connect_timeout_secs, 10.0);
        assert_eq!(database.display_url(), "postgres://app:***@db:5432/app");
        assert!(!format!("{database:?}").contains("hunter2"));
        assert!(database.url_problem().is_none());
        for bad in [
            "mysql://a@b/c",
            "db.example.com",
            "postgres://a@b/c?sslmode=bogus",
        ] {
            let database = DatabaseConfig {
                url: bad.to_owned(),
                password: None,
                connect_timeout_secs: 1.0,
            };
            assert!(database.url_problem().is_some(), "{bad}");
        }
        assert!(
            toml::from_str::<DatabaseConfig>("url = \"postgres://a@b/c\"\npassword = \"x\"")
                .is_err()
        );
    }
}

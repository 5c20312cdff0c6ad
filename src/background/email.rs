//! Error emails: the [`Notifier`] the worker calls after a task failed, and its SMTP
//! implementation over lettre (blocking transport, rustls, every step bounded by a timeout).
//!
//! The original left emailing to the product's `on_error` (and its README's example called
//! an undefined function); here it is built in, configured by `[email]` in `apiphant.toml`.
//! A failed send is reported to the caller, which logs `on_error failed: ...` and goes on.

use crate::config::{EmailConfig, Tls, PASSWORD_ENV};
use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls as LettreTls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use std::time::Duration;

/// Something told about a failed task.
pub trait Notifier: Send + Sync + std::fmt::Debug {
    /// Reports `task`'s `traceback`; `Err` says why it could not.
    fn notify(&self, task: &str, traceback: &str) -> Result<(), String>;
    /// What a successful notification did, for the log: `emailed ops@example.com`.
    fn describe(&self) -> String;
}

/// Sends one email per failure.
#[derive(Debug)]
pub struct SmtpNotifier {
    transport: SmtpTransport,
    server: String,
    from: Mailbox,
    to: Vec<Mailbox>,
    subject_prefix: String,
    timeout: Duration,
}

impl SmtpNotifier {
    /// Checks `[email]` (addresses, credentials, TLS) and prepares the transport; nothing is
    /// contacted until the first failure. `product` is the default subject prefix.
    pub fn new(config: &EmailConfig, product: &str) -> Result<SmtpNotifier, String> {
        let address = |field: &str, text: &str| {
            text.parse::<Mailbox>().map_err(|error| {
                format!("[email] {field} '{text}' is not an email address ({error})")
            })
        };
        let from = address("from", &config.from)?;
        let to = config
            .to
            .iter()
            .map(|text| address("to", text))
            .collect::<Result<Vec<_>, _>>()?;
        if to.is_empty() {
            return Err("[email] to is empty (list at least one recipient)".to_owned());
        }
        if !(config.timeout_secs.is_finite() && config.timeout_secs > 0.0) {
            return Err("[email] timeout_secs must be a positive number of seconds".to_owned());
        }
        let timeout = Duration::from_secs_f64(config.timeout_secs);
        let tls_parameters = || {
            TlsParameters::new(config.host.clone())
                .map_err(|error| format!("[email] TLS for host '{}': {error}", config.host))
        };
        let tls = match config.tls {
            Tls::None => LettreTls::None,
            Tls::Starttls => LettreTls::Required(tls_parameters()?),
            Tls::Tls => LettreTls::Wrapper(tls_parameters()?),
        };
        let mut builder = SmtpTransport::builder_dangerous(config.host.as_str())
            .port(config.port())
            .tls(tls)
            .timeout(Some(timeout));
        match (&config.username, config.password()) {
            (Some(user), Some(password)) => {
                builder = builder.credentials(Credentials::new(user.clone(), password));
            }
            (Some(_), None) => {
                return Err(format!(
                    "[email] username is set but no password (set password, or the {PASSWORD_ENV} environment variable)"
                ))
            }
            (None, _) => {}
        }
        Ok(SmtpNotifier {
            transport: builder.build(),
            server: format!("{}:{}", config.host, config.port()),
            from,
            to,
            timeout,
            subject_prefix: config
                .subject_prefix
                .clone()
                .unwrap_or_else(|| format!("[{product}] ")),
        })
    }

    fn recipients(&self) -> String {
        let to: Vec<String> = self.to.iter().map(|to| to.email.to_string()).collect();
        to.join(", ")
    }
}

impl Notifier for SmtpNotifier {
    fn notify(&self, task: &str, traceback: &str) -> Result<(), String> {
        let mut message = Message::builder()
            .from(self.from.clone())
            .subject(format!("{}Task {task} failed", self.subject_prefix))
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            message = message.to(to.clone());
        }
        let body = format!(
            "Task {task} failed at {}:\n\n{traceback}\n",
            chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
        );
        let message = message
            .body(body)
            .map_err(|error| format!("building the email: {}", one_line(&error)))?;
        self.transport.send(&message).map(drop).map_err(|error| {
            let why = if timed_out(&error) {
                format!(
                    "no answer within {} s (timeout_secs)",
                    self.timeout.as_secs_f64()
                )
            } else {
                one_line(&error)
            };
            format!("emailing {} via {}: {why}", self.recipients(), self.server)
        })
    }

    fn describe(&self) -> String {
        format!("emailed {}", self.recipients())
    }
}

/// Whether a socket timeout (`SO_RCVTIMEO` reports `WouldBlock` on Linux) caused `error`.
fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) {
                return true;
            }
        }
        source = cause.source();
    }
    false
}

/// An error and its sources on one line: `a: b: c`.
fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> EmailConfig {
        toml::from_str(&format!(
            "host = \"127.0.0.1\"\nport = 1\ntls = \"none\"\nfrom = \"apiphant <bot@example.com>\"\nto = [\"ops@example.com\"]\n{extra}"
        ))
        .expect("valid toml")
    }

    #[test]
    fn configuration_mistakes_are_named() {
        let error = |extra: &str| {
            SmtpNotifier::new(&config(extra), "p")
                .err()
                .unwrap_or_default()
        };
        assert!(SmtpNotifier::new(&config(""), "p").is_ok());
        let mut bad_to = config("");
        bad_to.to.push("not an address".to_owned());
        let text = SmtpNotifier::new(&bad_to, "p").err().unwrap_or_default();
        assert!(text.contains("[email] to 'not an address'"), "{text}");
        bad_to.to.clear();
        let text = SmtpNotifier::new(&bad_to, "p").err().unwrap_or_default();
        assert!(text.contains("[email] to is empty"), "{text}");
        assert!(error("timeout_secs = 0").contains("timeout_secs"));
        if std::env::var(PASSWORD_ENV).is_err() {
            assert!(error("username = \"u\"").contains("APIPHANT_SMTP_PASSWORD"));
        }
    }

    #[test]
    fn an_unreachable_server_is_an_error_not_a_panic() {
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        let notifier = SmtpNotifier::new(&config("timeout_secs = 5"), "p").expect("valid");
        let error = notifier.notify("t", "boom").expect_err("refused");
        assert!(
            error.starts_with("emailing ops@example.com via 127.0.0.1:1: "),
            "{error}"
        );
    }
}

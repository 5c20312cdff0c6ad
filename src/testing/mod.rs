//! Functional tests: the original's `apiphant.test`,
//! `test(target, action, request, status, response)`, which posts the request to a running
//! server, prints the original's line, and fails with a readable diff naming the line of
//! the test that wrote the case; a [`Suite`] that runs every case and reports every failure
//! at the end; expected bodies that ignore ([`any`], [`partial`]) or capture ([`Capture`])
//! values; and [`InProcess`], the product's application called in this process, without a
//! server or a socket. docs/testing.md is the guide.
//!
//! ```no_run
//! use apiphant::testing::test;
//! use serde_json::json;
//! test("echo", "read", json!({"hello": "world"}), 200, json!({"hello": "world", "server": "myproduct"}));
//! ```
//!
//! The server is `127.0.0.1:8001`, version `v0`, unless `APIPHANT_TEST_HOST`,
//! `APIPHANT_TEST_PORT` or `APIPHANT_TEST_VERSION` say otherwise, or a [`Client`] is built
//! with other settings. Requests are what the original sent: `POST`, the JSON text of the
//! request, or no body (`Content-Length: 0`) when it is `null` or `{}`.

mod in_process;
mod matching;
mod suite;

pub use in_process::{InProcess, InProcessError};
pub use matching::{any, partial, Capture};
pub use suite::{Caller, Suite};

use serde_json::Value;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Where and how functional tests send their requests.
#[derive(Debug, Clone)]
pub struct Client {
    host: String,
    port: u16,
    version: String,
    timeout: Duration,
}

/// A response as received.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// A failed functional test: what was sent, expected and received.
#[derive(Debug)]
pub struct Failure {
    /// The request line as printed.
    pub request: String,
    /// What differs, one line each.
    pub differences: Vec<String>,
    /// The line of the test that wrote the case.
    pub at: Option<&'static std::panic::Location<'static>>,
}

/// Prints each failure (stderr) and `N failed` (stdout); the exit code of a suite.
pub fn summary(failures: &[Failure]) -> std::process::ExitCode {
    for failure in failures {
        eprint!("{failure}");
    }
    println!("{} failed", failures.len());
    if failures.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some(at) => writeln!(f, "FAILED at {}:{}: {}", at.file(), at.line(), self.request)?,
            None => writeln!(f, "FAILED {}", self.request)?,
        }
        for difference in &self.differences {
            writeln!(f, "  {difference}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

impl Default for Client {
    fn default() -> Self {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Client {
            host: env("APIPHANT_TEST_HOST").unwrap_or_else(|| "127.0.0.1".to_owned()),
            port: env("APIPHANT_TEST_PORT")
                .and_then(|port| port.parse().ok())
                .unwrap_or(8001),
            version: env("APIPHANT_TEST_VERSION").unwrap_or_else(|| "v0".to_owned()),
            timeout: Duration::from_secs(30),
        }
    }
}

impl Client {
    /// A client for `host:port`, version `v0`.
    pub fn new(host: &str, port: u16) -> Self {
        Client {
            host: host.to_owned(),
            port,
            ..Client::default()
        }
    }

    /// Uses another API version (`v1`).
    pub fn version(mut self, version: &str) -> Self {
        self.version = version.to_owned();
        self
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `test(target, action, request, status, response)` with `POST`; a failure names
    /// the caller's line.
    #[track_caller]
    pub fn test(
        &self,
        target: &str,
        action: &str,
        request: Value,
        status: u16,
        response: Value,
    ) -> Result<(), Failure> {
        self.test_method("POST", target, action, request, status, response)
    }

    /// The same with another method (the original's optional `method`).
    #[track_caller]
    pub fn test_method(
        &self,
        method: &str,
        target: &str,
        action: &str,
        request: Value,
        status: u16,
        expected: Value,
    ) -> Result<(), Failure> {
        let at = std::panic::Location::caller();
        let captures = matching::Captures::default();
        suite::run_case(
            self, method, target, action, &request, status, &expected, &captures, at,
        )
    }

    /// Sends one request on a fresh connection and reads the whole response.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        let mut stream = TcpStream::connect((self.host.as_str(), self.port))?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\n",
            self.host, self.port
        );
        if method != "GET" || !body.is_empty() {
            request.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body);
        stream.write_all(&bytes)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        parse_response(&raw)
    }
}

impl Caller for Client {
    fn send_call(&self, method: &str, path: &str, body: &[u8]) -> io::Result<Response> {
        self.send(method, path, &[], body)
    }

    fn version(&self) -> &str {
        &self.version
    }

    fn origin(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }
}

/// Parses one `Content-Length`-framed HTTP/1.1 response.
pub fn parse_response(raw: &[u8]) -> io::Result<Response> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("no end of response head"))?;
    let head =
        std::str::from_utf8(&raw[..end]).map_err(|_| invalid("response head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("no status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_owned(), value.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.parse::<usize>().ok())
        .unwrap_or(raw.len() - end - 4);
    let body = raw[end + 4..].iter().take(length).copied().collect();
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// `test(...)` against the default client; panics with the diff on failure, at the
/// caller's line (a [`Suite`] runs on after a failure instead).
#[track_caller]
pub fn test(target: &str, action: &str, request: Value, status: u16, response: Value) {
    if let Err(failure) = Client::default().test(target, action, request, status, response) {
        panic!("{failure}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_responses() {
        let raw = b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}";
        let response = parse_response(raw).ok();
        assert_eq!(
            response.map(|r| (r.status, r.body)),
            Some((404, b"{}".to_vec()))
        );
    }
}

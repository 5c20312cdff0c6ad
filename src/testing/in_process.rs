//! The product's application called in this process: its plugins loaded by the server's
//! loader, its `[auth]` and `[cors]` and blocking pool set up as `apiphant` serves them, and
//! each call handed to the same `App` (the seam the HTTP loop calls) with a request head
//! built here instead of parsed from a socket. No listener, no connection loop: for tests
//! that run in milliseconds. What only the loop does (framing, `Content-Length` limits,
//! timeouts, keep-alive) is left to the socket suite.

use super::suite::Caller;
use super::Response;
use crate::app::Application;
use crate::blocking::Pool;
use crate::http::{App as _, Headers, Reply as _, Request, RequestHead, RequestId};
use crate::plugin::Registry;
use crate::product::Product;
use crate::server::Settings;
use serde_json::Value;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A product's application in this process. Its plugins stay loaded until the process
/// ends (their shutdown hooks run when it is dropped); a test binary opens one and shares
/// it (a `static` `LazyLock`): each opening loads the plugins' hooks again.
///
/// ```no_run
/// use apiphant::testing::InProcess;
/// use serde_json::json;
///
/// let app = InProcess::open(".").expect("the product loads"); // builds its plugins
/// let (status, body) = app.call("v0/echo", "read", json!({"hello": "world"}));
/// assert_eq!((status, body), (200, json!({"hello": "world", "server": "myproduct"})));
/// ```
#[derive(Debug)]
pub struct InProcess {
    app: Application,
    version: String,
}

/// Why a product could not be opened in-process: the line `apiphant` would print.
#[derive(Debug, Clone)]
pub struct InProcessError(String);

impl fmt::Display for InProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InProcessError {}

fn failed(error: impl fmt::Display) -> InProcessError {
    InProcessError(error.to_string())
}

impl InProcess {
    /// The product at `dir` as `apiphant DIR --debug-plugins` serves it: its plugins built
    /// (cargo, debug profile) and loaded.
    pub fn open(dir: impl AsRef<Path>) -> Result<InProcess, InProcessError> {
        InProcess::load(dir.as_ref(), None, true)
    }

    /// The same without building: what is built (`--no-build --debug-plugins`).
    pub fn built(dir: impl AsRef<Path>) -> Result<InProcess, InProcessError> {
        InProcess::load(dir.as_ref(), None, false)
    }

    /// The product at `dir` (its `apiphant.toml`) with exactly these plugin files
    /// (`--plugin FILE`...).
    pub fn with_plugins(
        dir: impl AsRef<Path>,
        plugins: &[PathBuf],
    ) -> Result<InProcess, InProcessError> {
        InProcess::load(dir.as_ref(), Some(plugins), false)
    }

    fn load(
        dir: &Path,
        plugins: Option<&[PathBuf]>,
        build: bool,
    ) -> Result<InProcess, InProcessError> {
        let product = Product::open(dir).map_err(failed)?;
        let files = match plugins {
            Some(files) => files.to_vec(),
            None => product.plugin_files(build, false).map_err(failed)?,
        };
        let mut registry =
            Registry::load(&files, &product.config.plugin_configs()).map_err(failed)?;
        registry.build_openapi(&product.name()).map_err(failed)?;
        let settings = Settings::from_config(&product.config.server, true);
        let (auth, cors) = crate::cli::access(&product, &registry).map_err(failed)?;
        let blocking = Pool::new(
            settings.blocking_threads,
            settings.blocking_threads * 64,
            settings.action_timeout,
        )
        .map_err(failed)?;
        let generation = crate::generation::Generation {
            number: 0,
            registry,
            auth,
            cors,
            metrics: None,
            watchdog: None,
        };
        let current = crate::generation::Current::new(generation).map_err(failed)?;
        Ok(InProcess {
            app: Application::new(current, blocking),
            version: "v0".to_owned(),
        })
    }

    /// Uses another API version for [`Caller`] calls (`v1`; the default is `v0`).
    pub fn version(mut self, version: &str) -> Self {
        self.version = version.to_owned();
        self
    }

    /// Every served route's path, sorted (`/api/v0/echo/read`).
    pub fn routes(&self) -> Vec<String> {
        self.app
            .current()
            .get()
            .registry
            .routes()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// `POST /api/<route>/<action>` with `body` as JSON text (no body for `null`): the
    /// status and the body as JSON (a body that is not JSON comes back as a string).
    pub fn call(&self, route: &str, action: &str, body: Value) -> (u16, Value) {
        let bytes = match &body {
            Value::Null => Vec::new(),
            other => other.to_string().into_bytes(),
        };
        let response = self.request("POST", &format!("/api/{route}/{action}"), &[], &bytes);
        let body = serde_json::from_slice(&response.body).unwrap_or_else(|_| {
            Value::String(String::from_utf8_lossy(&response.body).into_owned())
        });
        (response.status, body)
    }

    /// Any request: the method, the request target (`/api/v0/echo/read?x=1`), headers
    /// (`Authorization`, `Origin`...) and body, as the HTTP loop would hand them over; the
    /// status, the header lines the application sets (`Content-Type`, CORS,
    /// `WWW-Authenticate`, `X-Request-Id`) and the body.
    pub fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let mut buf = Vec::new();
        let mut ranges = Vec::new();
        for (name, value) in headers {
            let name_at = buf.len();
            buf.extend_from_slice(name.as_bytes());
            let value_at = buf.len();
            buf.extend_from_slice(value.as_bytes());
            ranges.push((name_at..value_at, value_at..buf.len()));
        }
        let headers = Headers::new(&buf, &ranges);
        let request_id = RequestId::of(headers);
        let head = RequestHead {
            method,
            target: target.as_bytes(),
            headers,
            request_id: request_id.as_bytes(),
            content_length: Some(body.len() as u64),
        };
        let answer = match self.app.route(&head) {
            Ok(grant) => self.app.call(grant, &Request { head, body }),
            Err(answer) => answer,
        };
        let mut lines = answer
            .header_lines()
            .unwrap_or(b"Content-Type: application/json\r\n")
            .to_vec();
        lines.extend_from_slice(b"X-Request-Id: ");
        lines.extend_from_slice(request_id.as_bytes());
        lines.extend_from_slice(b"\r\n");
        for extra in answer.extra_header_lines() {
            lines.extend_from_slice(extra);
        }
        let headers = String::from_utf8_lossy(&lines)
            .split("\r\n")
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.to_owned(), value.trim().to_owned()))
            .collect();
        Response {
            status: answer.status(),
            headers,
            body: answer.body().to_vec(),
        }
    }
}

impl Caller for InProcess {
    fn send_call(&self, method: &str, path: &str, body: &[u8]) -> io::Result<Response> {
        Ok(self.request(method, path, &[], body))
    }

    fn version(&self) -> &str {
        &self.version
    }

    fn origin(&self) -> String {
        "in-process ".to_owned()
    }
}

impl Drop for InProcess {
    /// The plugins' shutdown hooks, as when the server stops.
    fn drop(&mut self) {
        self.app.current().get().registry.shutdown();
    }
}

//! A functional test suite that runs every case and reports every failure at the end, each
//! with the line of the test file that wrote it; its cases go through a [`Caller`]: a
//! server over loopback ([`super::Client`]) or the application in this process
//! ([`super::InProcess`]).

use super::matching::{diff, resolve, shown, Capture, Captures};
use super::{Failure, Response};
use serde_json::Value;
use std::io;
use std::panic::Location;
use std::process::ExitCode;

/// What a test sends its calls through.
pub trait Caller {
    /// Sends `method` to `path` (`/api/v0/echo/read`) with `body`; the whole response.
    fn send_call(&self, method: &str, path: &str, body: &[u8]) -> io::Result<Response>;

    /// The API version a case's target is under (`v0`).
    fn version(&self) -> &str;

    /// Where the printed line says the call went (`http://127.0.0.1:8001`, `in-process `).
    fn origin(&self) -> String;
}

/// One case: sends the request (its captures filled in), prints the original's line,
/// compares the status and the body (reading `any`, `partial` and captures).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_case(
    caller: &dyn Caller,
    method: &str,
    target: &str,
    action: &str,
    request: &Value,
    status: u16,
    expected: &Value,
    captures: &Captures,
    at: &'static Location<'static>,
) -> Result<(), Failure> {
    let failure = |request: String, differences: Vec<String>| Failure {
        request,
        differences,
        at: Some(at),
    };
    let path = format!("/api/{}/{target}/{action}", caller.version());
    let shown_call = format!("{}{path}", caller.origin());
    let request = match resolve(request, captures) {
        Ok(request) => request,
        Err(why) => return Err(failure(format!("{method} {shown_call}"), vec![why])),
    };
    // apiphant test.py: no body when the request is falsy.
    let body = match &request {
        Value::Null => String::new(),
        Value::Object(map) if map.is_empty() => String::new(),
        other => other.to_string(),
    };
    let line = format!(
        "{method} {shown_call} {}",
        if body.is_empty() { "None" } else { &body }
    );
    let received = match caller.send_call(method, &path, body.as_bytes()) {
        Ok(received) => received,
        Err(error) => {
            println!("{line} --> {error}");
            return Err(failure(line, vec![format!("no response: {error}")]));
        }
    };
    let text = String::from_utf8_lossy(&received.body).into_owned();
    println!("{line} --> {} {text}", received.status);
    let mut differences = Vec::new();
    if received.status != status {
        differences.push(format!(
            "status: expected {status}, received {}",
            received.status
        ));
    }
    match serde_json::from_slice::<Value>(&received.body) {
        Ok(body) => diff("$", expected, &body, captures, &mut differences),
        Err(_) => differences.push(format!(
            "body: expected {}, received non-JSON {text:?}",
            shown(expected)
        )),
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(failure(line, differences))
    }
}

/// Cases run one after the other, all of them: each failure is printed when it happens
/// and kept; [`Suite::finish`] (a test program's exit code) or [`Suite::assert_passed`]
/// (a `#[test]`) report them all at the end. A suite dropped with failures it has not
/// reported panics with them, so none goes unseen.
///
/// ```no_run
/// use apiphant::testing::{any, Suite};
/// use serde_json::json;
///
/// fn main() -> std::process::ExitCode {
///     let mut t = Suite::new(); // the server of APIPHANT_TEST_PORT, or 127.0.0.1:8001
///     let id = t.capture("id");
///     t.test("notes", "create", json!({"title": "a"}), 200,
///            json!({"id": id, "title": "a", "body": "", "tags": [], "priority": "normal"}));
///     t.test("notes", "read", json!({"id": id}), 200,
///            json!({"id": id, "title": "a", "body": any, "tags": [], "priority": "normal"}));
///     t.finish()
/// }
/// ```
#[derive(Debug)]
pub struct Suite<C: Caller = super::Client> {
    caller: C,
    captures: Captures,
    failures: Vec<Failure>,
    cases: usize,
    reported: bool,
}

impl Suite {
    /// A suite against the server of [`super::Client::default`].
    pub fn new() -> Suite {
        Suite::with(super::Client::default())
    }
}

impl Default for Suite {
    fn default() -> Self {
        Suite::new()
    }
}

impl<C: Caller> Suite<C> {
    /// A suite sending its cases through `caller`.
    pub fn with(caller: C) -> Suite<C> {
        Suite {
            caller,
            captures: Captures::default(),
            failures: Vec::new(),
            cases: 0,
            reported: false,
        }
    }

    /// What the cases go through.
    pub fn caller(&self) -> &C {
        &self.caller
    }

    /// A value to capture from a response and reuse (see [`Capture`]); the same name gives
    /// the same value.
    pub fn capture(&self, name: &str) -> Capture {
        self.captures.capture(name)
    }

    /// `test(target, action, request, status, response)` with `POST`; whether it passed.
    #[track_caller]
    pub fn test(
        &mut self,
        target: &str,
        action: &str,
        request: Value,
        status: u16,
        response: Value,
    ) -> bool {
        self.test_method("POST", target, action, request, status, response)
    }

    /// The same with another method.
    #[track_caller]
    pub fn test_method(
        &mut self,
        method: &str,
        target: &str,
        action: &str,
        request: Value,
        status: u16,
        response: Value,
    ) -> bool {
        let at = Location::caller();
        self.cases += 1;
        let result = run_case(
            &self.caller,
            method,
            target,
            action,
            &request,
            status,
            &response,
            &self.captures,
            at,
        );
        match result {
            Ok(()) => true,
            Err(failure) => {
                eprint!("{failure}");
                self.failures.push(failure);
                false
            }
        }
    }

    /// The failures so far.
    pub fn failures(&self) -> &[Failure] {
        &self.failures
    }

    /// Prints every failure and `N failed`; the exit code of a test program.
    pub fn finish(mut self) -> ExitCode {
        self.reported = true;
        println!("{} case(s) run", self.cases);
        super::summary(&self.failures)
    }

    /// Panics with every failure, if any: the end of a `#[test]`.
    #[track_caller]
    pub fn assert_passed(mut self) {
        self.reported = true;
        if !self.failures.is_empty() {
            panic!("{}", self.report());
        }
    }

    fn report(&self) -> String {
        let mut text = format!(
            "{} of {} case(s) failed:\n",
            self.failures.len(),
            self.cases
        );
        for failure in &self.failures {
            text.push_str(&failure.to_string());
        }
        text
    }
}

impl<C: Caller> Drop for Suite<C> {
    fn drop(&mut self) {
        if !self.reported && !self.failures.is_empty() && !std::thread::panicking() {
            panic!("{}", self.report());
        }
    }
}

impl<C: Caller + ?Sized> Caller for &C {
    fn send_call(&self, method: &str, path: &str, body: &[u8]) -> io::Result<Response> {
        (**self).send_call(method, path, body)
    }

    fn version(&self) -> &str {
        (**self).version()
    }

    fn origin(&self) -> String {
        (**self).origin()
    }
}

//! Fast contract tests: the original's statuses and bodies (echo, self) and the typed
//! targets' (users, notes), through the example product's application called in this
//! process (`apiphant::testing::InProcess`): the same plugins, loader and checks as the
//! server, no socket. tests/it (real binaries over loopback) stays the acceptance suite.

#[path = "../examples/cases/original.rs"]
mod original;
#[path = "../examples/cases/typed.rs"]
mod typed;

use apiphant::testing::{any, partial, InProcess, Suite};
use serde_json::{json, Value};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

/// The example product (this repository), its plugins built once for the whole binary.
static APP: LazyLock<InProcess> = LazyLock::new(|| {
    InProcess::open(env!("CARGO_MANIFEST_DIR")).unwrap_or_else(|error| panic!("{error}"))
});

#[test]
fn the_originals_contract() {
    let _ = &*APP;
    let started = Instant::now();
    let mut t = Suite::with(&*APP);
    // The cases ./test.sh runs against a server, here in-process.
    original::run(&mut t);
    typed::run(&mut t);
    // And a few of docs/protocol.md's: an unknown target, no body, a JSON array.
    let not_found = json!({"error": "404 Not Found"});
    t.test("nope", "read", Value::Null, 404, not_found);
    t.test(
        "echo",
        "read",
        Value::Null,
        200,
        json!({"server": "myproduct"}),
    );
    let bad_body = json!({"error": "Request content should be JSON Object"});
    t.test("echo", "read", json!([1, 2]), 400, bad_body);
    let took = started.elapsed();
    println!("{} cases in {took:?}", 22 + 11 + 3);
    t.assert_passed();
    // No process, no socket: most of this is the two plugin faults' reports (a panicking
    // action's backtrace); bounded loosely for a loaded machine.
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn a_generated_id_is_captured_and_reused() {
    let mut t = Suite::with(&*APP);
    let id = t.capture("id");
    let note = |body: &str| json!({"id": id, "title": "first", "body": body, "tags": ["x"], "priority": "normal"});
    let created = json!({"title": "first", "tags": ["x"]});
    t.test("notes", "create", created, 200, note(""));
    assert!(id.value().is_some_and(|id| id.is_u64()), "{:?}", id.value());
    t.test(
        "notes",
        "update",
        json!({"id": id, "body": "b"}),
        200,
        note("b"),
    );
    let some = partial(json!({"id": id, "body": "b"}));
    t.test("notes", "read", json!({"id": id}), 200, some);
    let every = json!({"id": any, "title": any, "body": any, "tags": any, "priority": any});
    t.test("notes", "read", json!({"id": id}), 200, every);
    t.test("notes", "delete", json!({"id": id}), 200, json!({}));
    let gone = json!({"error": "404 Not Found"});
    t.test("notes", "read", json!({"id": id}), 404, gone);
    t.assert_passed();
}

#[test]
fn a_blocking_action_runs_on_the_pool() {
    let (status, body) = APP.call("v0/slow", "read", Value::Null);
    assert_eq!((status, body), (200, json!({"slept_ms": 50})));
}

#[test]
fn raw_requests_carry_the_query_the_percent_signs_and_the_request_id() {
    let response = APP.request(
        "POST",
        "/api/v0/ech%6F/read?x=1",
        &[("X-Request-Id", "in-process-1")],
        b"{\"a\": 1}",
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.body, br#"{"a":1,"server":"myproduct"}"#);
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    };
    assert_eq!(header("x-request-id"), Some("in-process-1"));
    assert_eq!(header("content-type"), Some("application/json"));
    let routes = APP.routes();
    assert!(routes.iter().any(|route| route == "/api/v0/notes/create"));
}

#[test]
fn a_failure_names_the_tests_line_and_the_suite_runs_on() {
    let mut t = Suite::with(&*APP);
    let line = line!() + 1;
    let passed = t.test(
        "echo",
        "read",
        json!({"a": 1}),
        201,
        json!({"a": 2, "server": any}),
    );
    assert!(!passed);
    assert!(t.test(
        "echo",
        "read",
        json!({"a": 1}),
        200,
        json!({"a": 1, "server": any})
    ));
    let failures = t.failures();
    assert_eq!(failures.len(), 1);
    let at = failures[0].at.map(|at| (at.file(), at.line()));
    assert_eq!(at, Some(("tests/inprocess.rs", line)));
    assert_eq!(
        failures[0].differences,
        [
            "status: expected 201, received 200",
            "$.a: expected 2, received 1"
        ]
    );
    let text = failures[0].to_string();
    assert!(
        text.starts_with(&format!(
            "FAILED at tests/inprocess.rs:{line}: POST in-process /api/v0/echo/read"
        )),
        "{text}"
    );
    // Dropped unreported, the suite panics with its failures.
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(t)));
    let message = dropped
        .err()
        .and_then(|panic| panic.downcast::<String>().ok());
    assert!(message.is_some_and(|m| m.starts_with("1 of 2 case(s) failed")));
}

#[test]
fn an_in_process_call_takes_microseconds() {
    let _ = &*APP;
    let started = Instant::now();
    for n in 0..100 {
        assert_eq!(APP.call("v0/echo", "read", json!({"n": n})).0, 200);
    }
    let each = started.elapsed() / 100;
    println!("in-process echo: {each:?} per call");
    // About 50 µs here (debug build); bounded loosely for a loaded machine.
    assert!(each < Duration::from_millis(20), "{each:?}");
}

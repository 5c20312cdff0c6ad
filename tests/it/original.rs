//! The original suite: `test(target, action, request, status, response)` for echo and every
//! case of the self target (../shared/reference/apiphant-0.2.5.md, section 2).

use crate::util::Server;
use serde_json::{json, Value};

/// Each case: method, target, action, request, status, response.
fn cases() -> Vec<(&'static str, &'static str, &'static str, Value, u16, Value)> {
    let ok = |x: Value| json!({"ok": true, "x": x});
    let field = |state: &str| json!({"error": {"field": "x", "state": state}});
    vec![
        (
            "POST",
            "echo",
            "read",
            json!({"hello": "world"}),
            200,
            json!({"hello": "world", "server": "myproduct"}),
        ),
        (
            "POST",
            "self",
            "delete",
            Value::Null,
            404,
            json!({"error": "404 Not Found"}),
        ),
        (
            "GET",
            "self",
            "create",
            Value::Null,
            501,
            json!({"error": "501 Not Implemented"}),
        ),
        (
            "POST",
            "self",
            "create",
            json!("invalid_json_object"),
            400,
            json!({"error": "Request content should be JSON Object"}),
        ),
        (
            "POST",
            "self",
            "create",
            json!({"test": "return invalid_json_object"}),
            500,
            json!({"error": "500 Internal Server Error"}),
        ),
        (
            "POST",
            "self",
            "create",
            json!({"test": "1/0"}),
            500,
            json!({"error": "500 Internal Server Error"}),
        ),
        ("POST", "self", "create", Value::Null, 200, ok(Value::Null)),
        (
            "POST",
            "self",
            "create",
            json!({"test": "optional"}),
            200,
            ok(Value::Null),
        ),
        (
            "POST",
            "self",
            "create",
            json!({"test": "default"}),
            200,
            ok(json!("X")),
        ),
        (
            "POST",
            "self",
            "create",
            json!({"test": "required"}),
            400,
            field("missing"),
        ),
        (
            "POST",
            "self",
            "create",
            json!({"test": "required", "x": "X"}),
            200,
            ok(json!("X")),
        ),
        (
            "POST",
            "self",
            "create",
            json!({"test": "valid_value", "x": "Y"}),
            400,
            field("invalid"),
        ),
        (
            "POST",
            "self",
            "create",
            json!({"test": "valid_value", "x": "X"}),
            200,
            ok(json!("X")),
        ),
        (
            "POST",
            "self",
            "create",
            json!({"test": "valid_type", "x": "X"}),
            400,
            field("invalid"),
        ),
        (
            "POST",
            "self",
            "create",
            json!({"test": "valid_type", "x": 42}),
            200,
            ok(json!(42)),
        ),
        (
            "POST",
            "self",
            "create",
            json!({"test": "valid_length", "x": ["X"]}),
            400,
            field("invalid"),
        ),
        (
            "POST",
            "self",
            "create",
            json!({"test": "valid_length", "x": ["X", "Y"]}),
            200,
            ok(json!(["X", "Y"])),
        ),
        (
            "POST",
            "self",
            "create",
            json!({"test": "max_length", "x": "123"}),
            400,
            field("invalid"),
        ),
        (
            "POST",
            "self",
            "create",
            json!({"test": "max_length", "x": "12"}),
            200,
            ok(json!("12")),
        ),
        (
            "POST",
            "self",
            "create",
            json!({"test": "max_length", "x": "1"}),
            200,
            ok(json!("1")),
        ),
        (
            "POST",
            "self",
            "create",
            json!({"test": "explain", "x": "X"}),
            400,
            json!({"error": {"field": "x", "state": "invalid", "explain": "should be integer"}}),
        ),
        // Where the original was accidental (reference section 4), the intent:
        (
            "POST",
            "self",
            "create",
            json!({"test": "valid_type", "x": true}),
            400,
            field("invalid"),
        ),
        (
            "POST",
            "self",
            "create",
            json!({"test": "valid_length", "x": 42}),
            400,
            field("invalid"),
        ),
        (
            "POST",
            "self",
            "create",
            json!({"test": "max_length", "x": 42}),
            400,
            field("invalid"),
        ),
        (
            "POST",
            "self",
            "create",
            json!({"test": "max_length", "x": "éé"}),
            200,
            ok(json!("éé")),
        ),
        (
            "POST",
            "self",
            "create",
            json!({"test": "required", "x": null}),
            200,
            ok(Value::Null),
        ),
        (
            "POST",
            "self",
            "create",
            json!({"test": 5}),
            200,
            ok(Value::Null),
        ),
    ]
}

#[test]
fn every_case_of_the_original_suite() {
    let server = Server::start();
    let client = server.client();
    let failures: Vec<String> = cases()
        .into_iter()
        .filter_map(|(method, target, action, request, status, response)| {
            client
                .test_method(method, target, action, request, status, response)
                .err()
                .map(|failure| failure.to_string())
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn exact_bytes_and_headers_of_echo() {
    let server = Server::start();
    let response = server.post("/api/v0/echo/read", br#"{"hello": "world"}"#);
    assert_eq!(response.status, 200);
    assert_eq!(response.body, br#"{"hello":"world","server":"myproduct"}"#);
    let names: Vec<&str> = response.headers.iter().map(|(n, _)| n.as_str()).collect();
    // Connection: close because the test client asked for it.
    assert_eq!(
        names,
        ["Content-Type", "Connection", "Date", "Content-Length"]
    );
    assert_eq!(response.headers[0].1, "application/json");
}

#[test]
fn a_failing_case_reports_a_readable_diff() {
    let server = Server::start();
    let failure = server
        .client()
        .test(
            "echo",
            "read",
            json!({"a": 1}),
            200,
            json!({"a": 2, "server": "myproduct"}),
        )
        .expect_err("must fail");
    let text = failure.to_string();
    assert!(text.contains("$.a: expected 2, received 1"), "{text}");
    assert!(text.contains("POST http://127.0.0.1:"), "{text}");
}

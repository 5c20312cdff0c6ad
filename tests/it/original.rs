//! The original suite: `test(target, action, request, status, response)` for echo and every
//! case of the self target (../shared/reference/apiphant-0.2.5.md, section 2), and the
//! cases where the original was accidental (section 4).

use crate::util::Server;
use serde_json::{json, Value};

/// The original suite lives once, in `examples/functional.rs` (the original `test.py`,
/// ported; `cargo test` builds it): run it against a real server.
#[test]
fn every_case_of_the_original_suite() {
    crate::util::build_plugins();
    let server = Server::start();
    let example = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("examples/functional")))
        .expect("target directory");
    let output = std::process::Command::new(&example)
        .env("APIPHANT_TEST_PORT", server.port.to_string())
        .output()
        .expect("examples/functional runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout.matches(" --> ").count(), 22, "{stdout}");
    assert!(stdout.contains(&format!(
        "POST http://127.0.0.1:{}/api/v0/echo/read {{\"hello\":\"world\"}} --> 200 {{\"hello\":\"world\",\"server\":\"myproduct\"}}",
        server.port
    )), "{stdout}");
    assert!(stdout.ends_with("0 failed\n"), "{stdout}");
}

/// Where the original was accidental (reference, section 4), the intent.
#[test]
fn where_the_original_was_accidental() {
    let server = Server::start();
    let client = server.client();
    let ok = |x: Value| json!({"ok": true, "x": x});
    let invalid = json!({"error": {"field": "x", "state": "invalid"}});
    let cases = [
        (
            json!({"test": "valid_type", "x": true}),
            400,
            invalid.clone(),
        ),
        (
            json!({"test": "valid_length", "x": 42}),
            400,
            invalid.clone(),
        ),
        (json!({"test": "max_length", "x": 42}), 400, invalid),
        (
            json!({"test": "max_length", "x": "éé"}),
            200,
            ok(json!("éé")),
        ),
        (json!({"test": "required", "x": null}), 200, ok(Value::Null)),
        (json!({"test": 5}), 200, ok(Value::Null)),
    ];
    let failures: Vec<String> = cases
        .into_iter()
        .filter_map(|(request, status, response)| {
            client
                .test("self", "create", request, status, response)
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
    // Connection: close because the test client asked for it; the original's headers in
    // its order, then the request id (docs/operations.md, "Request ids").
    assert_eq!(
        names,
        [
            "Content-Type",
            "Connection",
            "Date",
            "Content-Length",
            "X-Request-Id"
        ]
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

//! The original's `test.py`, ported: functional tests of a running server with
//! `apiphant::testing::test`. `./test.sh` starts the server and runs this against it:
//! `cargo run --example functional` (host, port and version from `APIPHANT_TEST_HOST`,
//! `APIPHANT_TEST_PORT`, `APIPHANT_TEST_VERSION`; default 127.0.0.1:8001, v0).

use apiphant::testing::Client;
use serde_json::{json, Value};
use std::process::ExitCode;

fn main() -> ExitCode {
    let client = Client::default();
    let ok = |x: Value| json!({"ok": true, "x": x});
    let invalid = json!({"error": {"field": "x", "state": "invalid"}});
    let results = [
        client.test(
            "echo",
            "read",
            json!({"hello": "world"}),
            200,
            json!({"hello": "world", "server": "myproduct"}),
        ),
        client.test(
            "self",
            "delete",
            Value::Null,
            404,
            json!({"error": "404 Not Found"}),
        ),
        client.test_method(
            "GET",
            "self",
            "create",
            Value::Null,
            501,
            json!({"error": "501 Not Implemented"}),
        ),
        client.test(
            "self",
            "create",
            json!("invalid_json_object"),
            400,
            json!({"error": "Request content should be JSON Object"}),
        ),
        client.test(
            "self",
            "create",
            json!({"test": "return invalid_json_object"}),
            500,
            json!({"error": "500 Internal Server Error"}),
        ),
        client.test(
            "self",
            "create",
            json!({"test": "1/0"}),
            500,
            json!({"error": "500 Internal Server Error"}),
        ),
        client.test("self", "create", Value::Null, 200, ok(Value::Null)),
        client.test(
            "self",
            "create",
            json!({"test": "optional"}),
            200,
            ok(Value::Null),
        ),
        client.test(
            "self",
            "create",
            json!({"test": "default"}),
            200,
            ok(json!("X")),
        ),
        client.test(
            "self",
            "create",
            json!({"test": "required"}),
            400,
            json!({"error": {"field": "x", "state": "missing"}}),
        ),
        client.test(
            "self",
            "create",
            json!({"test": "required", "x": "X"}),
            200,
            ok(json!("X")),
        ),
        client.test(
            "self",
            "create",
            json!({"test": "valid_value", "x": "Y"}),
            400,
            invalid.clone(),
        ),
        client.test(
            "self",
            "create",
            json!({"test": "valid_value", "x": "X"}),
            200,
            ok(json!("X")),
        ),
        client.test(
            "self",
            "create",
            json!({"test": "valid_type", "x": "X"}),
            400,
            invalid.clone(),
        ),
        client.test(
            "self",
            "create",
            json!({"test": "valid_type", "x": 42}),
            200,
            ok(json!(42)),
        ),
        client.test(
            "self",
            "create",
            json!({"test": "valid_length", "x": ["X"]}),
            400,
            invalid.clone(),
        ),
        client.test(
            "self",
            "create",
            json!({"test": "valid_length", "x": ["X", "Y"]}),
            200,
            ok(json!(["X", "Y"])),
        ),
        client.test(
            "self",
            "create",
            json!({"test": "max_length", "x": "123"}),
            400,
            invalid,
        ),
        client.test(
            "self",
            "create",
            json!({"test": "max_length", "x": "12"}),
            200,
            ok(json!("12")),
        ),
        client.test(
            "self",
            "create",
            json!({"test": "max_length", "x": "1"}),
            200,
            ok(json!("1")),
        ),
        client.test(
            "self",
            "create",
            json!({"test": "explain", "x": "X"}),
            400,
            json!({"error": {"field": "x", "state": "invalid", "explain": "should be integer"}}),
        ),
        client.test(
            "users/profile",
            "read",
            json!({"id": 1}),
            200,
            json!({"id": 1, "name": "User"}),
        ),
    ];
    let failures: Vec<_> = results.into_iter().filter_map(Result::err).collect();
    for failure in &failures {
        eprint!("{failure}");
    }
    println!("{} failed", failures.len());
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

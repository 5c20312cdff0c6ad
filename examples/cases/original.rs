//! The original's `test.py` cases (echo and self targets of the example product), shared
//! by `examples/functional.rs` (a running server) and `tests/inprocess.rs` (in-process).

use apiphant::testing::{Caller, Suite};
use serde_json::{json, Value};

/// Runs every case through `t`.
pub(crate) fn run<C: Caller>(t: &mut Suite<C>) {
    let ok = |x: Value| json!({"ok": true, "x": x});
    let invalid = json!({"error": {"field": "x", "state": "invalid"}});
    t.test(
        "echo",
        "read",
        json!({"hello": "world"}),
        200,
        json!({"hello": "world", "server": "myproduct"}),
    );
    t.test(
        "self",
        "delete",
        Value::Null,
        404,
        json!({"error": "404 Not Found"}),
    );
    t.test_method(
        "GET",
        "self",
        "create",
        Value::Null,
        501,
        json!({"error": "501 Not Implemented"}),
    );
    t.test(
        "self",
        "create",
        json!("invalid_json_object"),
        400,
        json!({"error": "Request content should be JSON Object"}),
    );
    t.test(
        "self",
        "create",
        json!({"test": "return invalid_json_object"}),
        500,
        json!({"error": "500 Internal Server Error"}),
    );
    t.test(
        "self",
        "create",
        json!({"test": "1/0"}),
        500,
        json!({"error": "500 Internal Server Error"}),
    );
    t.test("self", "create", Value::Null, 200, ok(Value::Null));
    t.test(
        "self",
        "create",
        json!({"test": "optional"}),
        200,
        ok(Value::Null),
    );
    t.test(
        "self",
        "create",
        json!({"test": "default"}),
        200,
        ok(json!("X")),
    );
    t.test(
        "self",
        "create",
        json!({"test": "required"}),
        400,
        json!({"error": {"field": "x", "state": "missing"}}),
    );
    t.test(
        "self",
        "create",
        json!({"test": "required", "x": "X"}),
        200,
        ok(json!("X")),
    );
    t.test(
        "self",
        "create",
        json!({"test": "valid_value", "x": "Y"}),
        400,
        invalid.clone(),
    );
    t.test(
        "self",
        "create",
        json!({"test": "valid_value", "x": "X"}),
        200,
        ok(json!("X")),
    );
    t.test(
        "self",
        "create",
        json!({"test": "valid_type", "x": "X"}),
        400,
        invalid.clone(),
    );
    t.test(
        "self",
        "create",
        json!({"test": "valid_type", "x": 42}),
        200,
        ok(json!(42)),
    );
    t.test(
        "self",
        "create",
        json!({"test": "valid_length", "x": ["X"]}),
        400,
        invalid.clone(),
    );
    t.test(
        "self",
        "create",
        json!({"test": "valid_length", "x": ["X", "Y"]}),
        200,
        ok(json!(["X", "Y"])),
    );
    t.test(
        "self",
        "create",
        json!({"test": "max_length", "x": "123"}),
        400,
        invalid,
    );
    t.test(
        "self",
        "create",
        json!({"test": "max_length", "x": "12"}),
        200,
        ok(json!("12")),
    );
    t.test(
        "self",
        "create",
        json!({"test": "max_length", "x": "1"}),
        200,
        ok(json!("1")),
    );
    t.test(
        "self",
        "create",
        json!({"test": "explain", "x": "X"}),
        400,
        json!({"error": {"field": "x", "state": "invalid", "explain": "should be integer"}}),
    );
    t.test(
        "users/profile",
        "read",
        json!({"id": 1}),
        200,
        json!({"id": 1, "name": "User"}),
    );
}

//! The typed targets' cases (`plugins/users`, `plugins/notes`, `plugins/typedecho`),
//! shared by `examples/typed.rs` (a running server) and `tests/inprocess.rs` (in-process).
//! The note's generated id is captured from `create` and reused by the calls after it.

use apiphant::testing::{any, partial, Caller, Suite};
use serde_json::{json, Value};

fn field(field: &str, state: &str, explain: Option<&str>) -> Value {
    let mut error = json!({"field": field, "state": state});
    if let Some(explain) = explain {
        error["explain"] = json!(explain);
    }
    json!({ "error": error })
}

/// Runs every case through `t`.
pub(crate) fn run<C: Caller>(t: &mut Suite<C>) {
    t.test(
        "echo/typed",
        "read",
        json!({"hello": "world"}),
        200,
        json!({"hello": "world", "server": "myproduct"}),
    );
    t.test(
        "echo/typed",
        "read",
        json!([1]),
        400,
        json!({"error": "Request content should be JSON Object"}),
    );
    t.test(
        "users/profile",
        "read",
        json!({"id": 0}),
        400,
        field("id", "invalid", Some("a positive integer")),
    );
    t.test(
        "users/profile",
        "update",
        json!({"id": 1, "user": {"emails": []}}),
        400,
        field("user.name", "missing", None),
    );
    t.test(
        "users/profile",
        "update",
        json!({"id": 2, "user": {"name": "B"}}),
        403,
        json!({"error": "403 Forbidden"}),
    );
    // The store hands out the id: captured here, reused below.
    let id = t.capture("note id");
    t.test(
        "notes",
        "create",
        json!({"title": "first", "tags": ["x"]}),
        200,
        json!({"id": id, "title": "first", "body": "", "tags": ["x"], "priority": "normal"}),
    );
    t.test(
        "notes",
        "update",
        json!({"id": id, "body": "text", "priority": "high"}),
        200,
        json!({"id": id, "title": "first", "body": "text", "tags": any, "priority": "high"}),
    );
    t.test(
        "notes",
        "read",
        json!({"id": id}),
        200,
        partial(json!({"id": id, "priority": "high"})),
    );
    t.test(
        "notes",
        "create",
        json!({"title": "t", "tags": ["a", 1]}),
        400,
        field(
            "tags.1",
            "invalid",
            Some("invalid type: integer `1`, expected a string"),
        ),
    );
    t.test("notes", "delete", json!({"id": id}), 200, json!({}));
    t.test(
        "notes",
        "read",
        json!({"id": id}),
        404,
        json!({"error": "404 Not Found"}),
    );
}

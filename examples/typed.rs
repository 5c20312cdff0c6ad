//! Functional tests of the example product's typed targets (`plugins/users`,
//! `plugins/notes`, `plugins/typedecho`) against a running server, like
//! `examples/functional.rs` for the original's: `./test.sh` runs both (host, port and
//! version from `APIPHANT_TEST_HOST`, `APIPHANT_TEST_PORT`, `APIPHANT_TEST_VERSION`).

use apiphant::testing::Client;
use serde_json::json;
use std::process::ExitCode;

fn main() -> ExitCode {
    let client = Client::default();
    let field = |field: &str, state: &str, explain: Option<&str>| {
        let mut error = json!({"field": field, "state": state});
        if let Some(explain) = explain {
            error["explain"] = json!(explain);
        }
        json!({ "error": error })
    };
    let cases = [
        (
            "echo/typed",
            "read",
            json!({"hello": "world"}),
            200,
            json!({"hello": "world", "server": "myproduct"}),
        ),
        (
            "echo/typed",
            "read",
            json!([1]),
            400,
            json!({"error": "Request content should be JSON Object"}),
        ),
        (
            "users/profile",
            "read",
            json!({"id": 0}),
            400,
            field("id", "invalid", Some("a positive integer")),
        ),
        (
            "users/profile",
            "update",
            json!({"id": 1, "user": {"emails": []}}),
            400,
            field("user.name", "missing", None),
        ),
        (
            "users/profile",
            "update",
            json!({"id": 2, "user": {"name": "B"}}),
            403,
            json!({"error": "403 Forbidden"}),
        ),
        (
            "notes",
            "create",
            json!({"title": "first", "tags": ["x"]}),
            200,
            json!({"id": 1, "title": "first", "body": "", "tags": ["x"], "priority": "normal"}),
        ),
        (
            "notes",
            "update",
            json!({"id": 1, "body": "text", "priority": "high"}),
            200,
            json!({"id": 1, "title": "first", "body": "text", "tags": ["x"], "priority": "high"}),
        ),
        (
            "notes",
            "create",
            json!({"title": "t", "tags": ["a", 1]}),
            400,
            field(
                "tags.1",
                "invalid",
                Some("invalid type: integer `1`, expected a string"),
            ),
        ),
        ("notes", "delete", json!({"id": 1}), 200, json!({})),
        (
            "notes",
            "read",
            json!({"id": 1}),
            404,
            json!({"error": "404 Not Found"}),
        ),
    ];
    let failures: Vec<_> = cases
        .into_iter()
        .filter_map(|(target, action, request, status, response)| {
            client.test(target, action, request, status, response).err()
        })
        .collect();
    apiphant::testing::summary(&failures)
}

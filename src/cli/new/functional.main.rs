//! {{product}}'s functional tests: each case posts a request to a running server and
//! compares the status and the body. Serve the product, then run
//! `APIPHANT_TEST_PORT=8080 cargo run -p functional` (host `APIPHANT_TEST_HOST`,
//! default 127.0.0.1; port default 8001). Exits non-zero when a case fails.

use apiphant::testing::{summary, Client};
use serde_json::json;
use std::process::ExitCode;

fn main() -> ExitCode {
    let client = Client::default();
    let cases = [
        (
            "hello",
            "read",
            json!({"name": "Ada"}),
            200,
            json!({"greeting": "Hello, Ada!"}),
        ),
        (
            "hello",
            "read",
            json!({"name": ""}),
            400,
            json!({"error": {"field": "name", "state": "invalid", "explain": "length should be from 1 to 40"}}),
        ),
        (
            "hello",
            "read",
            json!({}),
            400,
            json!({"error": {"field": "name", "state": "missing"}}),
        ),
    ];
    let mut failures = Vec::new();
    for (target, action, request, status, response) in cases {
        if let Err(failure) = client.test(target, action, request, status, response) {
            failures.push(failure);
        }
    }
    summary(&failures)
}

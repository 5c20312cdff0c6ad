//! Plugin faults at run time never reach the client and never stop the server.

use crate::util::{plugin, Server};

#[test]
fn a_panicking_action_is_a_logged_500_and_the_server_keeps_serving() {
    let server = Server::start();
    let panic = server.post("/api/v0/self/create", br#"{"test": "1/0"}"#);
    assert_eq!(panic.status, 500);
    assert_eq!(panic.body, br#"{"error":"500 Internal Server Error"}"#);
    let next = server.post("/api/v0/echo/read", br#"{"still": "here"}"#);
    assert_eq!(next.body, br#"{"still":"here","server":"myproduct"}"#);
    let log = server.log_text();
    assert!(
        log.contains("(v0/self create): action panicked at plugins/self/src/lib.rs"),
        "{log}"
    );
    assert!(log.contains("attempt to divide by zero"), "{log}");
    assert!(log.contains("stack backtrace:"), "{log}");
    let non_object = server.post(
        "/api/v0/self/create",
        br#"{"test": "return invalid_json_object"}"#,
    );
    assert_eq!(non_object.status, 500);
    assert!(server
        .log_text()
        .contains("action returned a non-object: string"));
}

#[test]
fn malformed_plugin_bytes_and_unknown_outcomes_are_500() {
    let mut plugins = crate::util::example_plugins();
    plugins.push(plugin("fixture-badbytes"));
    let server = Server::start_with(&plugins, &[]);
    for action in ["read", "update"] {
        let response = server.post(&format!("/api/v0/badbytes/{action}"), b"{}");
        assert_eq!(response.status, 500, "{action}");
        assert_eq!(response.body, br#"{"error":"500 Internal Server Error"}"#);
    }
    let log = server.log_text();
    assert!(
        log.contains("(v0/badbytes read): plugin returned bytes that are not a JSON object"),
        "{log}"
    );
    assert!(
        log.contains("(v0/badbytes update): plugin returned unknown outcome 77"),
        "{log}"
    );
    assert_eq!(server.post("/api/v0/echo/read", b"{}").status, 200);
}

#[test]
fn plugin_logs_reach_the_server_log_tagged_with_target_and_action() {
    let mut command = crate::util::command(&crate::util::example_plugins(), &[]);
    command.env("RUST_LOG", "debug,may=warn");
    let server = Server::spawn(command);
    assert_eq!(
        server
            .post("/api/v0/echo/read", br#"{"a": 1, "b": 2}"#)
            .status,
        200
    );
    let log = server.log_text();
    assert!(log.contains("[v0/echo read] echo 2 keys"), "{log}");
}

#[test]
fn under_dev_a_500_says_why_and_the_start_up_log_lists_the_routes() {
    let mut plugins = crate::util::example_plugins();
    plugins.extend([plugin("slow"), plugin("fixture-hooks")]);
    let server = Server::start_with(&plugins, &["--dev"]);
    let detail = |response: &apiphant::testing::Response| {
        assert_eq!(response.status, 500);
        let body: serde_json::Value = serde_json::from_slice(&response.body).expect("JSON");
        assert_eq!(body["error"], "500 Internal Server Error", "{body}");
        assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{body}");
        body["detail"].as_str().expect("a detail").to_owned()
    };
    let panic = detail(&server.post("/api/v0/self/create", br#"{"test": "1/0"}"#));
    assert!(
        panic.starts_with("action panicked at plugins/self/src/lib.rs:")
            && panic.ends_with(": attempt to divide by zero"),
        "{panic}"
    );
    assert!(!panic.contains("backtrace"), "{panic}");
    let non_object = detail(&server.post(
        "/api/v0/self/create",
        br#"{"test": "return invalid_json_object"}"#,
    ));
    assert_eq!(
        non_object,
        r#"action returned a non-object: string "invalid_json_object""#
    );
    // Everything else as without --dev.
    let next = server.post("/api/v0/echo/read", br#"{"still": "here"}"#);
    assert_eq!(next.body, br#"{"still":"here","server":"myproduct"}"#);
    assert_eq!(
        server.post("/api/v0/nowhere/read", b"{}").body,
        br#"{"error":"404 Not Found"}"#
    );
    let log = server.log_text();
    for line in [
        "developer mode (--dev): the 500 of a plugin fault says why",
        "route v0/echo: read\n",
        "route v0/self: create\n",
        "route v0/slow: read [blocking]\n",
        "route v0/hooks: read, update [async]\n",
        "route v0/users/profile: read, update\n",
    ] {
        assert!(log.contains(line), "{line} not in:\n{log}");
    }
}

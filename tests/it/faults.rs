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

//! Request ids: the client's valid `X-Request-Id` is kept, anything else replaced by a
//! generated one; the id comes back in the response, and is in the access log line, the
//! error line, the plugin's log lines and the action's request context.

use crate::util::{command, example_plugins, plugin, post, Server};
use serde_json::Value;
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(10);

/// Example plugins and the hooks fixture (its actions answer their request context), with
/// the plugins' debug lines logged.
fn server() -> Server {
    let mut plugins = example_plugins();
    plugins.push(plugin("fixture-hooks"));
    let mut command = command(&plugins, &[]);
    command.env("RUST_LOG", "debug,may=warn");
    Server::spawn(command)
}

/// One request on a fresh connection; the response.
fn exchange(server: &Server, request: &[u8]) -> crate::util::WireResponse {
    let mut conn = server.connect();
    conn.send(request);
    conn.response(WITHIN).expect("a response")
}

fn is_generated(id: &str) -> bool {
    id.split_once('-').is_some_and(|(prefix, count)| {
        prefix.len() == 8
            && !count.is_empty()
            && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
    })
}

#[test]
fn a_valid_client_id_is_kept_everywhere_and_a_bad_one_replaced() {
    let server = server();
    // Kept: returned, handed to the action, in the access log line.
    let response = exchange(
        &server,
        &post(
            "/api/v0/hooks/read",
            b"{}",
            "X-Request-Id: client-id.42\r\n",
        ),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("x-request-id"), Some("client-id.42"));
    let body: Value = serde_json::from_slice(&response.body).unwrap_or_default();
    assert_eq!(body["request_id"], "client-id.42");
    // The plugin's log line carries it, before its `[route action]` tag.
    let response = exchange(
        &server,
        &post(
            "/api/v0/echo/read",
            br#"{"a": 1, "b": 2}"#,
            "x-request-id: echo-1\r\n",
        ),
    );
    assert_eq!(response.header("x-request-id"), Some("echo-1"));
    let log = server.log_text();
    assert!(
        log.contains("req=echo-1 [v0/echo read] echo 2 keys"),
        "{log}"
    );
    assert!(
        log.lines().any(
            |line| line.contains("\"POST /api/v0/hooks/read HTTP/1.1\" 200")
                && line.ends_with("req=client-id.42 user=-")
        ),
        "{log}"
    );
    // Replaced: too long, a space, binary, two of them; each gets a generated id.
    let long = format!("X-Request-Id: {}\r\n", "x".repeat(65));
    for header in [
        long.as_bytes(),
        b"X-Request-Id: has space\r\n",
        b"X-Request-Id: bin\xff\xfe\r\n",
        b"X-Request-Id: a\r\nX-Request-Id: b\r\n",
        b"X-Request-Id:\r\n",
    ] {
        let mut request =
            b"POST /api/v0/hooks/read HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n".to_vec();
        request.extend_from_slice(header);
        request.extend_from_slice(b"\r\n{}");
        let response = exchange(&server, &request);
        let id = response
            .header("x-request-id")
            .unwrap_or_default()
            .to_owned();
        assert!(is_generated(&id), "{header:?} gave {id:?}");
        let body: Value = serde_json::from_slice(&response.body).unwrap_or_default();
        assert_eq!(body["request_id"], id.as_str());
    }
    // Exactly 64 characters: kept.
    let most = "y".repeat(64);
    let response = exchange(
        &server,
        &post(
            "/api/v0/echo/read",
            b"{}",
            &format!("X-Request-Id: {most}\r\n"),
        ),
    );
    assert_eq!(response.header("x-request-id"), Some(most.as_str()));
}

#[test]
fn every_answer_has_an_id_and_errors_are_logged_with_it() {
    let server = server();
    // Generated ids: distinct per request, on refusals too.
    let ok = exchange(&server, &post("/api/v0/echo/read", b"{}", ""));
    let missing = exchange(&server, &post("/api/v0/nothing/read", b"{}", ""));
    assert_eq!(missing.status, 404);
    let (a, b) = (
        ok.header("x-request-id").unwrap_or_default(),
        missing.header("x-request-id").unwrap_or_default(),
    );
    assert!(is_generated(a) && is_generated(b) && a != b, "{a} {b}");
    // A head refused for its framing still gets an id, logged with the transport error.
    let bad = exchange(
        &server,
        b"POST /api/v0/echo/read HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n",
    );
    assert_eq!(bad.status, 400);
    let id = bad.header("x-request-id").unwrap_or_default().to_owned();
    assert!(is_generated(&id), "{id}");
    // A plugin fault: the error line names the request id the client received.
    let panic = exchange(
        &server,
        &post(
            "/api/v0/self/create",
            br#"{"test": "1/0"}"#,
            "X-Request-Id: boom-7\r\n",
        ),
    );
    assert_eq!(panic.status, 500);
    assert_eq!(panic.header("x-request-id"), Some("boom-7"));
    let log = server.log_text();
    assert!(
        log.contains(
            "req=boom-7 500 for POST /api/v0/self/create (v0/self create): action panicked"
        ),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "transport error 400 after 0 request(s) on this connection req={id}"
        )),
        "{log}"
    );
}

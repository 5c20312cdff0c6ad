//! Routing and the wire contract's checks in the original's order.

use crate::util::Server;
use serde_json::json;

#[test]
fn nested_targets_and_two_versions_side_by_side() {
    let server = Server::start();
    let client = server.client();
    client
        .test(
            "users/profile",
            "read",
            json!({"id": 7}),
            200,
            json!({"id": 7, "name": "User"}),
        )
        .expect("nested read");
    client
        .test(
            "users/profile",
            "read",
            json!({"id": 404}),
            404,
            json!({"error": "404 Not Found"}),
        )
        .expect("ApiError with status only");
    client
        .test(
            "users/profile",
            "read",
            json!({"id": -1}),
            400,
            json!({"error": {"field": "id", "state": "invalid", "explain": "a positive integer"}}),
        )
        .expect("validation with explain");
    client
        .test(
            "users/profile",
            "update",
            json!({"id": 1, "user": {"name": 5}}),
            400,
            json!({"error": {"field": "user.name", "state": "invalid", "explain": "invalid type: integer `5`, expected a string"}}),
        )
        .expect("subfield path");
    client
        .test(
            "users/profile",
            "update",
            json!({"id": 2, "user": {"name": "A"}}),
            403,
            json!({"error": "403 Forbidden"}),
        )
        .expect("403");
    client
        .test(
            "users/profile",
            "update",
            json!({"id": 1, "user": {"name": "A"}}),
            200,
            json!({}),
        )
        .expect("nothing is {}");
    client
        .test(
            "echo",
            "read",
            json!({"a": 1}),
            200,
            json!({"a": 1, "server": "myproduct"}),
        )
        .expect("v0");
    client
        .clone()
        .version("v1")
        .test(
            "echo",
            "read",
            json!({"a": 1}),
            200,
            json!({"a": 1, "server": "myproduct", "version": "v1"}),
        )
        .expect("v1");
}

#[test]
fn route_then_method_then_body() {
    let server = Server::start();
    let not_found = br#"{"error":"404 Not Found"}"#;
    for path in [
        "/",
        "/api/v0/nope/read",
        "/api/v0/echo/update",
        "/api/v0/echo/read/",
        "/api/V0/echo/read",
        "/api/v2/echo/read",
    ] {
        let response = server.post(path, b"{}");
        assert_eq!(
            (response.status, response.body.as_slice()),
            (404, &not_found[..]),
            "{path}"
        );
    }
    // GET on an unknown route is 404, on a known one 501 (route is checked first).
    let get = server
        .client()
        .send("GET", "/unknown", &[], b"")
        .expect("response");
    assert_eq!(get.status, 404);
    for method in ["GET", "PUT", "DELETE"] {
        let response = server
            .client()
            .send(method, "/api/v0/echo/read", &[], b"{}")
            .expect("response");
        assert_eq!(response.status, 501, "{method}");
        assert_eq!(response.body, br#"{"error":"501 Not Implemented"}"#);
    }
    let head =
        server.raw(b"HEAD /api/v0/echo/read HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let head = String::from_utf8_lossy(&head);
    assert!(
        head.starts_with("HTTP/1.1 501 Not Implemented\r\n"),
        "{head}"
    );
    assert!(
        head.contains("Content-Length: 31\r\n") && head.ends_with("\r\n\r\n"),
        "{head}"
    );
}

#[test]
fn bodies_that_are_not_a_utf8_json_object_are_400() {
    let server = Server::start();
    let bad = br#"{"error":"Request content should be JSON Object"}"#;
    for body in [
        &b"{\"hello\": "[..],
        b"not json",
        b" ",
        b"{\"a\": 1} x",
        b"\xff\xfe{",
        b"[1, 2]",
        b"[]",
        b"null",
        b"42",
        b"\"s\"",
        b"\xef\xbb\xbf{}",
        b"{\"a\": NaN}",
        b"{\"a\": -Infinity}",
    ] {
        let response = server.post("/api/v0/echo/read", body);
        assert_eq!(
            (response.status, response.body.as_slice()),
            (400, &bad[..]),
            "{body:?}"
        );
    }
    let empty = server.post("/api/v0/echo/read", b"");
    assert_eq!(empty.body, br#"{"server":"myproduct"}"#);
    let spaced = server.post("/api/v0/echo/read", b" \n{\"a\": 1}\n ");
    assert_eq!(spaced.body, br#"{"a":1,"server":"myproduct"}"#);
}

#[test]
fn path_forms_and_json_details() {
    let server = Server::start();
    let encoded = server.post("/api/v0/ech%6F/read", b"{}");
    assert_eq!(encoded.status, 200);
    let query = server.post("/api/v0/echo/read?x=1", b"{}");
    assert_eq!(query.body, br#"{"server":"myproduct"}"#);
    let duplicate = server.post("/api/v0/echo/read", br#"{"a": 1, "a": 2}"#);
    assert_eq!(duplicate.body, br#"{"a":2,"server":"myproduct"}"#);
    let in_place = server.post("/api/v0/echo/read", br#"{"server": "other", "n": 1}"#);
    assert_eq!(in_place.body, br#"{"server":"myproduct","n":1}"#);
    let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100), "]".repeat(100));
    assert_eq!(
        server.post("/api/v0/echo/read", deep.as_bytes()).status,
        200
    );
    let too_deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        server.post("/api/v0/echo/read", too_deep.as_bytes()).status,
        400
    );
    // The server is still fine.
    assert_eq!(server.post("/api/v0/echo/read", b"{}").status, 200);
}

#[test]
fn http_1_0_closes_and_keep_alive_reuses() {
    let server = Server::start();
    let old = server.raw(b"POST /api/v0/echo/read HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}");
    let old = String::from_utf8_lossy(&old);
    assert!(
        old.starts_with(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
        ),
        "{old}"
    );
    let two = server.raw(
        b"POST /api/v0/echo/read HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n{\"n\": 1}POST /api/v0/echo/read HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\nConnection: close\r\n\r\n{\"n\": 2}",
    );
    let two = String::from_utf8_lossy(&two);
    assert_eq!(two.matches("HTTP/1.1 200 OK").count(), 2, "{two}");
    assert!(
        two.find("\"n\":1").unwrap_or(usize::MAX) < two.find("\"n\":2").unwrap_or(0),
        "{two}"
    );
}

//! The API description: `apiphant openapi` and `GET /.well-known/openapi.json` give the same
//! OpenAPI 3.1 document, schemas from the typed actions' types, and it passes
//! openapi-spec-validator (PyPI, pinned and installed by the test setup: .ci/run, test.sh).

use crate::util::{
    command, example_plugins, plugin, python, run_within, Server, TempDir, WireResponse,
};
use serde_json::Value;
use std::time::Duration;

/// `GET path` on a connection of its own.
fn get(server: &Server, path: &str) -> WireResponse {
    let mut conn = server.connect();
    conn.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
    conn.response(Duration::from_secs(10)).expect("a response")
}

fn plugins() -> Vec<std::path::PathBuf> {
    let mut plugins = example_plugins();
    plugins.extend([plugin("notes"), plugin("slow")]);
    plugins
}

#[test]
fn the_served_document_is_the_printed_one_and_is_valid_openapi() {
    let server = Server::spawn(command(&plugins(), &[]));
    let served = get(&server, "/.well-known/openapi.json");
    assert_eq!(served.status, 200);
    assert_eq!(served.header("Content-Type"), Some("application/json"));
    let document: Value = serde_json::from_slice(&served.body).unwrap_or_default();

    let mut print = command(&plugins(), &["--openapi"]);
    let (code, stdout, stderr) = run_within(&mut print, Duration::from_secs(60));
    assert_eq!(code, Some(0), "{stderr}");
    let printed: Value = serde_json::from_str(&stdout).unwrap_or_default();
    assert_eq!(printed, document);

    assert_eq!(document["openapi"], "3.1.0");
    let create = &document["paths"]["/api/v0/notes/create"]["post"];
    assert_eq!(create["operationId"], "v0_notes_create");
    let request = &create["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(request["properties"]["title"]["maxLength"], 100);
    assert_eq!(
        request["properties"]["priority"]["$ref"],
        "#/components/schemas/Priority"
    );
    assert!(document["components"]["schemas"]["Priority"].is_object());
    let echo = &document["paths"]["/api/v0/echo/read"]["post"];
    assert_eq!(
        echo["requestBody"]["content"]["application/json"]["schema"],
        serde_json::json!({"type": "object"})
    );
    assert!(document["paths"]["/api/v0/slow/read"]["post"]["responses"]["503"].is_object());
    assert_eq!(
        document["paths"]["/api/v0/slow/read"]["post"]["description"],
        "Sleeps 50 ms on the blocking pool."
    );
    // Raw actions with the content types they declare (`.consumes()`, `.produces()`).
    let upload = &document["paths"]["/api/v0/files/create"]["post"]["requestBody"]["content"];
    assert_eq!(
        upload["multipart/form-data"]["schema"]["required"],
        serde_json::json!(["title", "file"])
    );
    let csv = &document["paths"]["/api/v0/files/read"]["post"]["responses"]["200"]["content"];
    assert_eq!(
        csv["text/csv"]["schema"],
        serde_json::json!({"type": "string"})
    );
    // A documented unit enum is a plain string enum (client generators read it).
    assert_eq!(
        document["components"]["schemas"]["Priority"]["enum"],
        serde_json::json!(["low", "normal", "high"])
    );

    let dir = TempDir::new("openapi");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &served.body).expect("write the document");
    let mut validator = std::process::Command::new(python());
    validator.args(["-m", "openapi_spec_validator"]).arg(&file);
    let (code, stdout, stderr) = run_within(&mut validator, Duration::from_secs(60));
    assert_eq!(
        code,
        Some(0),
        "openapi-spec-validator (installed by tests/tools/setup.sh): {stdout}{stderr}"
    );
    assert!(stdout.contains("OK"), "{stdout}");
}

#[test]
fn the_page_of_the_api_shows_each_route_and_fetches_nothing() {
    let server = Server::spawn(command(&plugins(), &[]));
    let page = get(&server, "/.well-known/api.html?x=1");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    let html = String::from_utf8_lossy(&page.body);
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("<h2 id=\"/api/v0/notes/create\">POST /api/v0/notes/create</h2>"));
    assert!(html.contains("<p>Sleeps 50 ms on the blocking pool.</p>"));
    assert!(html.contains("Request (multipart/form-data)"));
    assert!(html.contains("Response 200 (text/csv)"));
    assert!(html.contains("curl -X POST \"$BASE/api/v0/echo/read\""));
    assert!(html.contains("<h3 id=\"Priority\">Priority</h3>"));
    // No external assets: no script, no stylesheet or image link, no absolute URL.
    for asset in [
        "<script", "<link", "<img", "src=", "http://", "https://", "//",
    ] {
        assert!(!html.contains(asset), "{asset} in the page");
    }
    assert_eq!(server.post("/.well-known/api.html", b"{}").status, 404);
}

#[test]
fn the_contract_is_unchanged_around_it() {
    let server = Server::spawn(command(&plugins(), &[]));
    assert_eq!(get(&server, "/api/v0/notes/read").status, 501);
    assert_eq!(get(&server, "/.well-known/other.json").status, 404);
    let post = server.post("/.well-known/openapi.json", b"{}");
    assert_eq!(post.status, 404);
}

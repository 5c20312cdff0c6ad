//! Typed actions over the wire: `Json<T>` in and out, `Valid<T>` rules, the full dotted
//! path of each mistake; typed plugin settings and `${ENV}` in `[plugins.<crate>]`; the
//! worker refusing what the server refuses.

use crate::startup::fails_with_line;
use crate::util::{command_in, plugin, run_within, Server, TempDir};
use serde_json::{json, Value};
use std::time::Duration;

fn product(config: &str) -> TempDir {
    let dir = TempDir::new("typed");
    std::fs::write(dir.path().join("apiphant.toml"), config).expect("apiphant.toml");
    dir
}

fn typed_server(config: &str) -> (Server, TempDir) {
    let dir = product(config);
    let plugins = [plugin("typedecho"), plugin("notes"), plugin("users")];
    let server = Server::spawn(command_in(dir.path(), &plugins, &[]));
    (server, dir)
}

#[test]
fn the_typed_echo_answers_like_the_dynamic_one() {
    let (server, _dir) = typed_server("");
    let response = server.post("/api/v0/echo/typed/read", br#"{"hello": "world"}"#);
    assert_eq!(response.status, 200);
    assert_eq!(response.body, br#"{"hello":"world","server":"myproduct"}"#);
    for bad in [
        &b"[1]"[..],
        b"\"s\"",
        b"{\"hello\": \"w\"} x",
        b"{\"hello\": 5, ",
    ] {
        let response = server.post("/api/v0/echo/typed/read", bad);
        assert_eq!(response.status, 400);
        assert_eq!(
            response.body,
            br#"{"error":"Request content should be JSON Object"}"#
        );
    }
    let response = server.post("/api/v0/echo/typed/read", b"");
    assert_eq!(response.status, 400);
    assert_eq!(
        response.body,
        br#"{"error":{"field":"hello","state":"missing"}}"#
    );
}

#[test]
fn a_typed_crud_target_with_every_mistake_in_one_shape() {
    let (server, _dir) = typed_server("");
    let client = server.client();
    let created = json!({"id": 1, "title": "t", "body": "", "tags": ["a"], "priority": "high"});
    let cases = [
        (
            "create",
            json!({"title": "t", "tags": ["a"], "priority": "high"}),
            200,
            created.clone(),
        ),
        ("read", json!({"id": 1}), 200, created),
        (
            "read",
            json!({"id": 2}),
            404,
            json!({"error": "404 Not Found"}),
        ),
        (
            "create",
            json!({}),
            400,
            json!({"error": {"field": "title", "state": "missing"}}),
        ),
        (
            "create",
            json!({"title": ""}),
            400,
            json!({"error": {"field": "title", "state": "invalid", "explain": "length should be from 1 to 100"}}),
        ),
        (
            "create",
            json!({"title": "t", "tags": ["a", "b", 5]}),
            400,
            json!({"error": {"field": "tags.2", "state": "invalid", "explain": "invalid type: integer `5`, expected a string"}}),
        ),
        (
            "create",
            json!({"title": "t", "priority": "urgent"}),
            400,
            json!({"error": {"field": "priority", "state": "invalid", "explain": "unknown variant `urgent`, expected one of `low`, `normal`, `high`"}}),
        ),
        (
            "read",
            json!({"id": -1}),
            400,
            json!({"error": {"field": "id", "state": "invalid", "explain": "invalid value: integer `-1`, expected u64"}}),
        ),
        (
            "update",
            json!({"id": 1, "title": "u", "priority": "low"}),
            200,
            json!({"id": 1, "title": "u", "body": "", "tags": ["a"], "priority": "low"}),
        ),
        ("delete", json!({"id": 1}), 200, json!({})),
        (
            "delete",
            json!({"id": 1}),
            404,
            json!({"error": "404 Not Found"}),
        ),
    ];
    for (action, request, status, response) in cases {
        client
            .test("notes", action, request, status, response)
            .unwrap_or_else(|failure| panic!("{failure}"));
    }
    // deny_unknown_fields: `invalid` at the unknown key's own path.
    let response = server.post("/api/v0/notes/create", br#"{"title": "t", "colour": 1}"#);
    assert_eq!(response.status, 400);
    let body: Value = serde_json::from_slice(&response.body).unwrap_or_default();
    assert_eq!(body["error"]["field"], "colour");
    assert_eq!(body["error"]["state"], "invalid");
    assert!(body["error"]["explain"]
        .as_str()
        .is_some_and(|explain| explain.starts_with("unknown field `colour`")));
}

#[test]
fn nested_objects_arrays_and_enums_report_full_paths() {
    let (server, _dir) = typed_server("");
    let client = server.client();
    let cases = [
        (
            json!({"id": 1, "user": {}}),
            json!({"field": "user.name", "state": "missing"}),
        ),
        (
            json!({"id": 1, "user": {"name": 5}}),
            json!({"field": "user.name", "state": "invalid", "explain": "invalid type: integer `5`, expected a string"}),
        ),
        (
            json!({"id": 1, "user": {"name": "A", "emails": ["a@b", 7]}}),
            json!({"field": "user.emails.1", "state": "invalid", "explain": "invalid type: integer `7`, expected a string"}),
        ),
        (
            json!({"id": 1, "user": {"name": "A", "role": "root"}}),
            json!({"field": "user.role", "state": "invalid", "explain": "unknown variant `root`, expected `member` or `admin`"}),
        ),
        (
            json!({"id": 1, "user": {"name": ""}}),
            json!({"field": "user.name", "state": "invalid", "explain": "length should be from 1 to 40"}),
        ),
    ];
    for (request, error) in cases {
        client
            .test(
                "users/profile",
                "update",
                request,
                400,
                json!({ "error": error }),
            )
            .unwrap_or_else(|failure| panic!("{failure}"));
    }
    client
        .test(
            "users/profile",
            "update",
            json!({"id": 1, "user": {"name": "A", "role": "admin", "emails": ["a@b"]}}),
            200,
            json!({}),
        )
        .unwrap_or_else(|failure| panic!("{failure}"));
}

#[test]
fn typed_settings_are_checked_at_start_up() {
    let dir = product("[plugins.notes]\nmax_notes = \"many\"\n");
    let notes = plugin("notes");
    fails_with_line(
        &mut command_in(dir.path(), std::slice::from_ref(&notes), &[]),
        &format!(
            "apiphant: plugin '{}' did not start: setting max_notes is invalid: invalid type: string \"many\", expected usize (its init hook read [plugins.notes] in apiphant.toml)",
            notes.display()
        ),
    );
    let (server, _dir) = typed_server("[plugins.notes]\nmax_notes = 1\n");
    let first = server.post("/api/v0/notes/create", br#"{"title": "a"}"#);
    assert_eq!(first.status, 200);
    let second = server.post("/api/v0/notes/create", br#"{"title": "b"}"#);
    assert_eq!(second.status, 409);
    assert_eq!(second.body, br#"{"error":"the store is full (max_notes)"}"#);
}

#[test]
fn plugin_settings_take_environment_variables() {
    let dir = product("[plugins.fixture-hooks]\ngreeting = \"hi ${TYPED_TEST_NAME}\"\n");
    let hooks = plugin("fixture-hooks");
    let mut command = command_in(dir.path(), std::slice::from_ref(&hooks), &[]);
    command.env("TYPED_TEST_NAME", "there");
    let server = Server::spawn(command);
    let response = server.post("/api/v0/hooks/read", b"{}");
    let body: Value = serde_json::from_slice(&response.body).unwrap_or_default();
    assert_eq!(body["config"], json!({"greeting": "hi there"}));
    // `apiphant config` masks a value that came from the environment.
    let mut config = std::process::Command::new(env!("CARGO_BIN_EXE_apiphant"));
    config
        .arg("config")
        .arg(dir.path())
        .env("TYPED_TEST_NAME", "there");
    let (code, stdout, stderr) = run_within(&mut config, Duration::from_secs(30));
    assert_eq!(code, Some(0), "{stderr}");
    let printed: Value = serde_json::from_str(&stdout).unwrap_or_default();
    assert_eq!(printed["plugins"]["fixture-hooks"]["greeting"], "***");
    assert_eq!(
        printed["from_env"],
        json!(["plugins.fixture-hooks.greeting"])
    );
    // Not set: one line naming the file and the key.
    let mut unset = command_in(dir.path(), &[hooks], &[]);
    unset.env_remove("TYPED_TEST_NAME");
    fails_with_line(
        &mut unset,
        &format!(
            "apiphant: config '{}' is invalid: plugins.fixture-hooks.greeting: the environment variable TYPED_TEST_NAME is not set (export it, or write the value in the file) (see docs/operations.md, \"The configuration file\")",
            dir.path().join("apiphant.toml").display()
        ),
    );
}

#[test]
fn the_worker_refuses_what_the_server_refuses() {
    let dir = product("");
    let (echo, dupe) = (plugin("echo"), plugin("fixture-dupe"));
    let expected = format!(
        "route '/api/v0/echo/read' is claimed by both '{}' and '{}' (remove one plugin, or change its export! route)",
        echo.display(),
        dupe.display()
    );
    fails_with_line(
        &mut command_in(dir.path(), &[echo.clone(), dupe.clone()], &["--check"]),
        &format!("apiphant: {expected}"),
    );
    let mut worker = std::process::Command::new(env!("CARGO_BIN_EXE_apiphant-background"));
    worker
        .arg(dir.path())
        .args(["--list", "--plugin"])
        .arg(&echo)
        .arg("--plugin")
        .arg(&dupe);
    let (code, _stdout, stderr) = run_within(&mut worker, Duration::from_secs(30));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|line| line == format!("apiphant-background: {expected}")),
        "{stderr}"
    );
}

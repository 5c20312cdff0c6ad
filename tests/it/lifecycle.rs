//! ABI 2 with a real plugin (tests/fixtures/hooks): the init hook may stop start-up with
//! one line, every call carries a request id, and a graceful stop runs the shutdown hook.

use crate::startup::fails_with_line;
use crate::util::{command, command_in, plugin, Server, TempDir};
use serde_json::Value;
use std::time::Duration;

#[test]
fn an_init_hook_refusal_stops_start_up_with_one_line() {
    let library = plugin("fixture-hooks");
    let mut command = command(std::slice::from_ref(&library), &[]);
    command.env("APIPHANT_FIXTURE_REFUSE", "api_key is missing");
    fails_with_line(
        &mut command,
        &format!(
            "apiphant: plugin '{}' did not start: api_key is missing (its init hook read [plugins.fixture-hooks] in apiphant.toml)",
            library.display()
        ),
    );
}

#[test]
fn calls_carry_a_request_id_and_a_graceful_stop_runs_the_shutdown_hook() {
    let dir = TempDir::new("hooks");
    let marker = dir.path().join("stopped");
    let mut command = command(&[plugin("fixture-hooks")], &[]);
    command.env("APIPHANT_FIXTURE_SHUTDOWN", &marker);
    let mut server = Server::spawn(command);
    let context = |action: &str| {
        let response = server.post(&format!("/api/v0/hooks/{action}"), b"{}");
        assert_eq!(response.status, 200);
        serde_json::from_slice::<Value>(&response.body).unwrap_or_default()
    };
    let (first, second) = (context("read"), context("update"));
    assert_eq!(first["identity"], "");
    assert_eq!(first["config"], serde_json::json!({}));
    let id = |value: &Value| value["request_id"].as_str().unwrap_or_default().to_owned();
    let (a, b) = (id(&first), id(&second));
    let prefix = |id: &str| id.split_once('-').map(|(p, _)| p.to_owned());
    assert!(prefix(&a).is_some_and(|p| p.len() == 8), "{a}");
    assert_eq!(prefix(&a), prefix(&b));
    assert_ne!(a, b);
    assert!(!marker.exists(), "shutdown ran while serving");
    let status = server.terminate(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{}", server.log_text());
    let stopped = std::fs::read_to_string(&marker).unwrap_or_default();
    assert_eq!(stopped, "stopped\n", "{}", server.log_text());
}

/// A product folder holding `apiphant.toml` with `config`.
fn product(config: &str) -> TempDir {
    let dir = TempDir::new("hooks-config");
    std::fs::write(dir.path().join("apiphant.toml"), config).expect("apiphant.toml");
    dir
}

#[test]
fn the_init_hook_receives_its_plugins_table() {
    let dir = product("[plugins.fixture-hooks]\ngreeting = \"hi\"\nlimits = { most = 3 }\n");
    let server = Server::spawn(command_in(dir.path(), &[plugin("fixture-hooks")], &[]));
    let response = server.post("/api/v0/hooks/read", b"{}");
    assert_eq!(response.status, 200);
    let body: Value = serde_json::from_slice(&response.body).unwrap_or_default();
    assert_eq!(
        body["config"],
        serde_json::json!({"greeting": "hi", "limits": {"most": 3}})
    );
}

#[test]
fn a_plugins_table_that_names_no_loaded_plugin_stops_start_up() {
    let dir = product("[plugins.fixture-hoks]\ngreeting = \"hi\"\n");
    fails_with_line(
        &mut command_in(dir.path(), &[plugin("fixture-hooks")], &[]),
        "apiphant: apiphant.toml has a [plugins.fixture-hoks] table, but no loaded plugin is named 'fixture-hoks' (loaded: fixture-hooks): use the plugin's Cargo package name, or remove the table",
    );
}

//! `apiphant config`, `--print-config` and the configuration's ranges, through the real
//! binaries: defaults filled, an environment secret masked, an out-of-range value refused
//! with one line and exit code 2, command names refused as product folders.

use crate::util::{plugin, run_within, TempDir};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(60);

fn product(toml: &str) -> TempDir {
    let dir = TempDir::new("config");
    std::fs::write(dir.path().join("apiphant.toml"), toml).expect("write apiphant.toml");
    dir
}

fn apiphant(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_apiphant"));
    command.args(args).env_remove("APIPHANT_SMTP_PASSWORD");
    command
}

/// Runs `command`, expecting success and JSON on stdout.
fn json_of(command: &mut Command) -> Value {
    let (code, stdout, stderr) = run_within(command, WITHIN);
    assert_eq!(code, Some(0), "{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{error}: {stdout}"))
}

/// Runs `command`, expecting exit code 2 and exactly one line on stderr; returns it.
fn one_line(command: &mut Command) -> String {
    let (code, stdout, stderr) = run_within(command, WITHIN);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr.trim_end().to_owned()
}

fn path(dir: &Path) -> String {
    std::fs::canonicalize(dir)
        .expect("canonical")
        .display()
        .to_string()
}

const EMAIL: &str = "[email]\nhost = \"smtp.example.com\"\nusername = \"bot\"\n\
                     from = \"bot@example.com\"\nto = [\"ops@example.com\"]\n";

#[test]
fn config_prints_the_resolved_configuration_with_defaults() {
    let dir = product(&format!(
        "name = \"shop\"\n[server]\nworkers = 2\n{EMAIL}[plugins.users]\ndatabase = \"postgres://app:hunter2@db/app\"\n"
    ));
    let dir_arg = dir.path().to_str().expect("utf-8");
    let config = json_of(&mut apiphant(&["config", dir_arg]));
    assert_eq!(config["name"], "shop");
    assert_eq!(
        config["file"],
        format!("{}/apiphant.toml", path(dir.path()))
    );
    assert_eq!(config["server"]["workers"], 2);
    assert_eq!(config["server"]["max_headers"], 64);
    assert_eq!(config["server"]["max_body_bytes"], 16 * 1024 * 1024);
    assert_eq!(config["server"]["idle_timeout_secs"], 75.0);
    assert_eq!(config["background"]["time_zone"], "UTC");
    assert!(config["background"]["lock_file"]
        .as_str()
        .is_some_and(|file| file == format!("{}/run/apiphant-background.lock", path(dir.path()))));
    assert_eq!(config["email"]["port"], 587);
    assert_eq!(config["email"]["tls"], "starttls");
    assert_eq!(config["email"]["subject_prefix"], "[shop] ");
    assert_eq!(config["email"]["password"], Value::Null);
    assert_eq!(
        config["plugins"]["users"]["database"],
        "postgres://app:***@db/app"
    );
    // The same JSON from the old flag form, the explicit serve and the worker.
    assert_eq!(json_of(&mut apiphant(&[dir_arg, "--print-config"])), config);
    assert_eq!(
        json_of(&mut apiphant(&[
            "serve",
            dir_arg,
            "127.0.0.1:0",
            "--print-config"
        ])),
        config
    );
    let mut worker = Command::new(env!("CARGO_BIN_EXE_apiphant-background"));
    worker.args([dir_arg, "--print-config"]);
    assert_eq!(json_of(&mut worker), config);
    // --get: one value a line, strings bare (what deploy/lib.sh reads).
    let (code, stdout, stderr) = run_within(
        &mut apiphant(&[
            "config",
            dir_arg,
            "--get",
            "name",
            "--get",
            "server.max_headers",
            "--get",
            "server.header_timeout_secs",
        ]),
        WITHIN,
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "shop\n64\n10.0\n");
    let line = one_line(&mut apiphant(&["config", dir_arg, "--get", "server.nope"]));
    assert!(line.contains("has no key 'server.nope'"), "{line}");
}

#[test]
fn a_secret_from_the_environment_is_masked() {
    let dir = product(EMAIL);
    let dir_arg = dir.path().to_str().expect("utf-8");
    let mut command = apiphant(&["config", dir_arg]);
    command.env("APIPHANT_SMTP_PASSWORD", "s3cret-from-env");
    let (code, stdout, stderr) = run_within(&mut command, WITHIN);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stdout.contains("s3cret-from-env"), "{stdout}");
    let config: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(config["email"]["password"], "***");
    assert_eq!(config["from_env"], serde_json::json!(["email.password"]));
}

#[test]
fn an_out_of_range_value_stops_start_up_with_one_line() {
    let dir = product("name = \"shop\"\n[server]\nmax_headers = 0\n");
    let dir_arg = dir.path().to_str().expect("utf-8");
    let expected = format!(
        "config '{}/apiphant.toml': server.max_headers = 0 is out of range (1..=512)",
        path(dir.path())
    );
    let mut serve = apiphant(&[dir_arg, "127.0.0.1:0", "--debug-plugins", "--plugin"]);
    serve.arg(plugin("echo"));
    assert_eq!(one_line(&mut serve), format!("apiphant: {expected}"));
    assert_eq!(
        one_line(&mut apiphant(&["config", dir_arg])),
        format!("apiphant: {expected}")
    );
    let mut worker = Command::new(env!("CARGO_BIN_EXE_apiphant-background"));
    worker
        .arg(dir_arg)
        .arg("--plugin")
        .arg(plugin("fixture-ticker"));
    assert_eq!(
        one_line(&mut worker),
        format!("apiphant-background: {expected}")
    );
    // A worker-only section is checked by the server too: one file, one reader.
    let dir = product(&format!("{EMAIL}port = 0\n"));
    let line = one_line(&mut apiphant(&[
        "config",
        dir.path().to_str().expect("utf-8"),
    ]));
    assert!(
        line.ends_with("email.port = 0 is out of range (1..=65535)"),
        "{line}"
    );
}

#[test]
fn command_names_are_refused_as_folders_not_served() {
    for args in [
        &["check", "new"][..],
        &["serve", "new"],
        &["--no-build", "config"],
    ] {
        let line = one_line(&mut apiphant(args));
        let name = args[1];
        assert!(
            line.starts_with(&format!(
                "apiphant: '{name}' is a command, not a product folder"
            )) && line.ends_with(&format!("write ./{name}")),
            "{line}"
        );
    }
    let (code, stdout, _) = run_within(&mut apiphant(&["--help"]), WITHIN);
    assert_eq!(code, Some(0));
    for command in ["serve", "check", "plugins", "config", "new"] {
        assert!(stdout.contains(command), "{command} not in {stdout}");
    }
}

//! `apiphant new`: a product scaffolded in a temporary folder (outside this repository)
//! builds offline on its copied lock file, passes its own unit tests, is served by the real
//! binary (its typed action answers 200 and a 400 field error), and passes its own
//! functional suite against that server; `--target` adds a crate; bad input is refused
//! with one line and exit code 2.

use crate::util::{root, run_within, wait_until, Server, TempDir};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A cold build of a scaffold (its dependencies with the plugins' own feature set) takes
/// minutes on a loaded machine; a warm one seconds.
const BUILD: Duration = Duration::from_secs(1200);
const QUICK: Duration = Duration::from_secs(60);

fn apiphant(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_apiphant"));
    command.args(args);
    command
}

/// `cargo ARGS --offline` in `product`, in the repository's own target directory (its
/// dependencies are built there already; the scaffold's crate names, hello, memos, tasks
/// and functional, are none of this workspace's).
fn cargo(product: &Path, args: &[&str]) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .current_dir(product)
        .args(args)
        .arg("--offline")
        .env("CARGO_TARGET_DIR", target_dir());
    command
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Runs `command` to its end within `within`, asserting it succeeds; its stdout and stderr.
fn succeeds(command: &mut Command, within: Duration) -> String {
    let (code, stdout, stderr) = run_within(command, within);
    assert_eq!(code, Some(0), "{command:?} failed:\n{stdout}\n{stderr}");
    format!("{stdout}{stderr}")
}

/// Runs `apiphant ARGS`, expecting it to refuse with exit code 2 and one line; the line.
fn refused(args: &[&str]) -> String {
    let (code, stdout, stderr) = run_within(&mut apiphant(args), QUICK);
    assert_eq!(code, Some(2), "{args:?}: {stdout}{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: not one line:\n{stderr}");
    assert!(lines[0].starts_with("apiphant: "), "{}", lines[0]);
    assert!(stdout.is_empty(), "{args:?} wrote {stdout}");
    lines[0].to_owned()
}

fn body(response: &apiphant::testing::Response) -> Value {
    serde_json::from_slice(&response.body).expect("a JSON body")
}

#[test]
fn a_new_product_builds_serves_and_passes_its_own_tests() {
    for name in ["hello", "memos", "tasks", "functional"] {
        assert!(
            !root().join("plugins").join(name).exists(),
            "the scaffold's crate {name} would overwrite this workspace's in target/debug"
        );
    }
    let dir = TempDir::new("new");
    let product = dir.path().join("shop");
    let path = product.to_str().expect("utf-8 path");
    let made = succeeds(&mut apiphant(&["new", path]), QUICK);
    assert!(made.contains("made the product 'shop'"), "{made}");
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        "apiphant.toml",
        ".gitignore",
        "README.md",
        "plugins/hello/src/lib.rs",
        "plugins/tasks/src/lib.rs",
        "functional/src/main.rs",
    ] {
        assert!(product.join(file).is_file(), "{file} not made");
    }
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).expect("our lock");
    assert_eq!(
        std::fs::read_to_string(product.join("Cargo.lock")).expect("its lock"),
        lock,
        "the first lock file is ours"
    );
    let manifest = std::fs::read_to_string(product.join("Cargo.toml")).expect("Cargo.toml");
    assert!(
        manifest.contains(&format!("path = \"{}/sdk\"", root().display())),
        "{manifest}"
    );
    succeeds(&mut apiphant(&["new", "--target", "v1/memos", path]), QUICK);
    assert!(product.join("plugins/memos/src/lib.rs").is_file());

    // One build: the plugins, as the server builds them (the same crates, so the server's
    // own `cargo build` finds them fresh), then their unit tests.
    succeeds(&mut cargo(&product, &["build"]), BUILD);
    let tests = succeeds(&mut cargo(&product, &["test"]), BUILD);
    assert!(tests.contains("greets_by_name ... ok"), "{tests}");
    assert!(tests.contains("heartbeat_succeeds ... ok"), "{tests}");

    // Served by the real binary, which runs cargo itself (not offline: the settled lock
    // file needs no registry).
    let mut command = apiphant(&[path, "127.0.0.1:0", "--debug-plugins"]);
    command.env("CARGO_TARGET_DIR", target_dir());
    let server = Server::spawn(command);
    for line in ["route v0/hello: read\n", "route v1/memos: read\n"] {
        // Logged right after the serving line.
        let listed = wait_until(Duration::from_secs(10), || server.log_text().contains(line));
        assert!(
            listed,
            "{line} not in the start-up log:\n{}",
            server.log_text()
        );
    }
    let ok = server.post("/api/v0/hello/read", br#"{"name": "Ada"}"#);
    assert_eq!(ok.status, 200);
    assert_eq!(body(&ok), json!({"greeting": "Hello, Ada!"}));
    let bad = server.post("/api/v0/hello/read", br#"{"name": ""}"#);
    assert_eq!(bad.status, 400);
    assert_eq!(
        body(&bad),
        json!({"error": {"field": "name", "state": "invalid", "explain": "length should be from 1 to 40"}})
    );
    let memo = server.post("/api/v1/memos/read", br#"{"name": "Bo"}"#);
    assert_eq!(
        (memo.status, body(&memo)),
        (200, json!({"greeting": "Hello, Bo!"}))
    );

    // Its functional suite, against that server.
    succeeds(&mut cargo(&product, &["build", "-p", "functional"]), BUILD);
    let suite = target_dir().join("debug/functional");
    let mut run = Command::new(&suite);
    run.env("APIPHANT_TEST_PORT", server.port.to_string());
    let output = succeeds(&mut run, QUICK);
    assert!(output.contains("0 failed"), "{output}");
    drop(server);

    // The checkout moved: one line naming the key, not cargo's error chain.
    let moved = manifest.replace(&root().display().to_string(), "/nonexistent/apiphant");
    std::fs::write(product.join("Cargo.toml"), moved).expect("Cargo.toml");
    let line = refused(&["check", path]);
    assert!(
        line.contains("shop/Cargo.toml' [workspace.dependencies] apiphant")
            && line.contains("path = \"/nonexistent/apiphant")
            && line.contains("}: that folder does not exist (the apiphant checkout moved?"),
        "{line}"
    );
}

#[test]
fn new_refuses_bad_input_with_one_line() {
    let dir = TempDir::new("new-refused");
    let taken = dir.path().join("taken");
    std::fs::create_dir_all(&taken).expect("dir");
    std::fs::write(taken.join("notes.txt"), "mine").expect("file");
    let taken = taken.to_str().expect("utf-8");
    let line = refused(&["new", taken]);
    assert!(line.ends_with("exists and is not empty: apiphant new makes a new folder (pick another PATH, or empty it)"), "{line}");
    assert_eq!(
        std::fs::read_to_string(Path::new(taken).join("notes.txt"))
            .ok()
            .as_deref(),
        Some("mine")
    );
    for (name, why) in [
        ("2shop", "a crate name starts with a letter"),
        ("my shop", "' ' is not allowed in a crate name"),
        ("fn", "is a Rust keyword"),
    ] {
        let path = dir.path().join(name);
        let line = refused(&["new", path.to_str().expect("utf-8")]);
        assert!(
            line.contains(&format!("cannot make a product named '{name}'")) && line.contains(why),
            "{line}"
        );
        assert!(!path.exists(), "{name} was made");
    }
    // An empty folder is fine (the product is named after it).
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).expect("dir");
    succeeds(
        &mut apiphant(&["new", empty.to_str().expect("utf-8")]),
        QUICK,
    );
    // --target without a folder: the product is the current one.
    let mut inside = apiphant(&["new", "--target", "v2/users/profile"]);
    inside.current_dir(&empty);
    succeeds(&mut inside, QUICK);
    let lib = std::fs::read_to_string(empty.join("plugins/users-profile/src/lib.rs"))
        .expect("the target's crate");
    assert!(lib.contains(r#"apiphant_sdk::export! { "v2/users/profile" => { read } }"#));
    let empty = empty.to_str().expect("utf-8");
    for (args, why) in [
        (&["new"][..], "apiphant new needs the new product's folder"),
        (
            &["new", "--target", "x/notes", empty],
            "'x/notes' is not a route like v1/notes",
        ),
        (
            &["new", "--target", "v1/no tes", empty],
            "'no tes' is not a target segment",
        ),
        (
            &["new", "--target", "v1/2notes", empty],
            "would make a crate named '2notes'",
        ),
        (
            &["new", "--target", "v0/hello", empty],
            "plugins/hello' exists already",
        ),
        (
            &["new", "--target", "v0/tasks", empty],
            "the name of one of the product's own crates",
        ),
        (
            &["new", "--target", "v1/notes", taken],
            "is not a source product",
        ),
        (
            &[
                "new",
                "--apiphant",
                taken,
                dir.path().join("other").to_str().expect("utf-8"),
            ],
            "is not an apiphant checkout",
        ),
    ] {
        let line = refused(args);
        assert!(line.contains(why), "{args:?}: {line}");
    }
}

//! Each bad-plugin start-up failure: one line naming the file and the fix, exit code 2,
//! no panic backtrace. Fixtures are real shared libraries (tests/fixtures/).

use crate::util::{command, example_plugins, plugin, start_failure, Server, TempDir};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;

fn fails_with(plugins: &[PathBuf], expected: &[&str]) {
    let (code, stderr) = start_failure(&mut command(plugins, &[]));
    assert_eq!(code, Some(2), "{stderr}");
    let line = stderr
        .lines()
        .find(|line| line.starts_with("apiphant: "))
        .unwrap_or_else(|| panic!("no error line in:\n{stderr}"));
    for part in expected {
        assert!(line.contains(part), "{part:?} not in {line:?}");
    }
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

/// Runs `command`: exit code 2, and `expected` is its one `apiphant: ` line.
pub(crate) fn fails_with_line(command: &mut std::process::Command, expected: &str) {
    let (code, stderr) = start_failure(command);
    assert_eq!(code, Some(2), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("apiphant: "))
        .collect();
    assert_eq!(errors, [expected], "{stderr}");
}

#[test]
fn missing_file() {
    fails_with(
        &[PathBuf::from("/nonexistent/libnothing.so")],
        &[
            "plugin '/nonexistent/libnothing.so' does not exist",
            "cargo build",
        ],
    );
}

#[test]
fn not_a_shared_library() {
    let dir = TempDir::new("notlib");
    let fake = dir.path().join("libfake.so");
    std::fs::write(&fake, b"this is not an ELF file\n").expect("write");
    fails_with(
        std::slice::from_ref(&fake),
        &[
            &format!(
                "plugin '{}' is not a loadable shared library",
                fake.display()
            ),
            "cdylib",
        ],
    );
}

/// A shared object that is not a plugin (no entry symbol) is refused from its symbol
/// table: its ELF constructor, which writes a marker file whenever the library is loaded,
/// never runs.
#[test]
fn missing_entry_symbol() {
    refused_before_loading(
        "fixture-noentry",
        "is not an apiphant plugin: it has no `apiphant_plugin_v2` symbol (add an `apiphant_sdk::export!` line to the crate)",
    );
}

/// Starting with the fixture `crate_name`, whose ELF constructor writes a marker file when
/// the library is loaded, fails with `apiphant: plugin 'FILE' {refusal}` and the marker is
/// never written; loading it by other means does write it.
fn refused_before_loading(crate_name: &str, refusal: &str) {
    let library = plugin(crate_name);
    let dir = TempDir::new("marker");
    let marker = dir.path().join("loaded");
    let mut command = command(std::slice::from_ref(&library), &[]);
    command.env("APIPHANT_FIXTURE_MARKER", &marker);
    fails_with_line(
        &mut command,
        &format!("apiphant: plugin '{}' {refusal}", library.display()),
    );
    assert!(!marker.exists(), "the server loaded {crate_name}");
    assert_constructor_writes(&library, &marker);
}

/// The fixture's constructor does write the marker when the library is loaded (so the
/// tests that say it never ran can fail).
fn assert_constructor_writes(library: &std::path::Path, marker: &std::path::Path) {
    let loaded = std::process::Command::new("python3")
        .args(["-c", "import ctypes, sys; ctypes.CDLL(sys.argv[1])"])
        .arg(library)
        .env("APIPHANT_FIXTURE_MARKER", marker)
        .status();
    assert!(loaded.is_ok_and(|status| status.success()));
    assert!(
        marker.exists(),
        "the fixture's constructor did not run when loaded"
    );
}

/// A copy of the echo plugin in `dir`, with `mode`.
fn echo_copy(dir: &std::path::Path, mode: u32) -> PathBuf {
    let copy = dir.join("libecho.so");
    std::fs::copy(plugin("echo"), &copy).expect("copy");
    set_mode(&copy, mode);
    copy
}

fn set_mode(path: &std::path::Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// sshd's StrictModes: a plugin anyone may rewrite, or in a folder anyone may write to,
/// is refused before it is read; group-writable is a warning.
#[test]
fn a_plugin_writable_by_other_users_is_refused() {
    let dir = TempDir::new("modes");
    let library = echo_copy(dir.path(), 0o666);
    let shown = library.display();
    fails_with_line(
        &mut command(std::slice::from_ref(&library), &[]),
        &format!("apiphant: plugin '{shown}' is refused: it has insecure mode 0666, writable by every user (chmod o-w '{shown}')"),
    );
    set_mode(&library, 0o755);
    for mode in [0o777, 0o1777] {
        set_mode(dir.path(), mode);
        let folder = dir.path().display();
        fails_with_line(
            &mut command(std::slice::from_ref(&library), &[]),
            &format!("apiphant: plugin '{shown}' is refused: its folder '{folder}' has insecure mode {mode:04o}, writable by every user (chmod o-w '{folder}')"),
        );
    }
    // Through a symlink in a safe folder: the folder of the file itself still counts.
    let safe = TempDir::new("safe");
    let link = safe.path().join("libecho.so");
    std::os::unix::fs::symlink(&library, &link).expect("symlink");
    let (code, stderr) = start_failure(&mut command(std::slice::from_ref(&link), &[]));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("has insecure mode 1777"), "{stderr}");
    // Group-writable, in a safe folder: served, with a warning.
    set_mode(dir.path(), 0o755);
    set_mode(&library, 0o775);
    let server = crate::util::Server::start_with(std::slice::from_ref(&library), &[]);
    assert_eq!(server.post("/api/v0/echo/read", b"{}").status, 200);
    let log = server.log_text();
    assert!(
        log.contains(&format!(
            "plugin '{shown}': it is group-writable (mode 0775)"
        )),
        "{log}"
    );
}

/// A path that is not a regular file is refused with its real cause.
#[test]
fn a_symlink_loop_a_directory_and_a_dangling_link_are_named() {
    let dir = TempDir::new("kinds");
    let (a, b) = (dir.path().join("liba.so"), dir.path().join("libb.so"));
    std::os::unix::fs::symlink(&b, &a).expect("symlink");
    std::os::unix::fs::symlink(&a, &b).expect("symlink");
    fails_with_line(
        &mut command(std::slice::from_ref(&a), &[]),
        &format!("apiphant: plugin '{}' is refused: it is a symlink loop (too many levels of symbolic links; point the path at the library file)", a.display()),
    );
    let folder = dir.path().join("libx.so");
    std::fs::create_dir(&folder).expect("mkdir");
    fails_with_line(
        &mut command(std::slice::from_ref(&folder), &[]),
        &format!("apiphant: plugin '{}' is refused: it is a directory, not a library file (give the path of the built .so)", folder.display()),
    );
    let dangling = dir.path().join("libgone.so");
    std::os::unix::fs::symlink(dir.path().join("nothing.so"), &dangling).expect("symlink");
    fails_with_line(
        &mut command(std::slice::from_ref(&dangling), &[]),
        &format!("apiphant: plugin '{}' is refused: it is a symlink to '{}', which does not exist (fix the link, or build the plugin)", dangling.display(), dir.path().join("nothing.so").display()),
    );
}

/// A plugin owned by a user other than root or the server's own is refused, unless
/// `--allow-foreign-plugins` (development) loads it with a warning.
#[test]
fn a_plugin_owned_by_another_user_is_refused_unless_allowed() {
    const NOBODY: u32 = 65534;
    let dir = TempDir::new("owner");
    let library = echo_copy(dir.path(), 0o755);
    if let Err(error) = std::os::unix::fs::chown(&library, Some(NOBODY), Some(NOBODY)) {
        // Only root can give a file away.
        eprintln!("SKIPPED (chown needs root): {error}");
        return;
    }
    let me = std::fs::metadata(dir.path()).map(|m| m.uid()).unwrap_or(0);
    let shown = library.display();
    fails_with_line(
        &mut command(std::slice::from_ref(&library), &[]),
        &format!("apiphant: plugin '{shown}' is refused: it is owned by uid {NOBODY}, neither root nor the server's user (uid {me}): chown it, or pass --allow-foreign-plugins to load it knowingly in development"),
    );
    let server = crate::util::Server::start_with(
        std::slice::from_ref(&library),
        &["--allow-foreign-plugins"],
    );
    assert_eq!(server.post("/api/v0/echo/read", b"{}").status, 200);
    let log = server.log_text();
    assert!(
        log.contains(&format!("plugin '{shown}': it is owned by uid {NOBODY}, neither root nor the server's user (uid {me}); loaded because of --allow-foreign-plugins")),
        "{log}"
    );
}

#[test]
fn abi_version_mismatch() {
    let library = plugin("fixture-wrongabi");
    fails_with(
        std::slice::from_ref(&library),
        &[
            &format!(
                "plugin '{}' was built for ABI 999, server speaks 2",
                library.display()
            ),
            "rebuild it with apiphant-sdk 0.4",
        ],
    );
}

/// An ABI 1 plugin (entry symbol `apiphant_plugin`) is refused from its symbol table:
/// its ELF constructor, which writes a marker file whenever the library is loaded, never
/// runs.
#[test]
fn abi1_plugin_is_refused_before_it_is_loaded() {
    refused_before_loading(
        "fixture-abi1",
        "was built for ABI 1, server speaks 2: rebuild it with apiphant-sdk 0.4 (cargo update -p apiphant-sdk && cargo build)",
    );
}

#[test]
fn two_plugins_claiming_one_route() {
    let mut plugins = example_plugins();
    let dupe = plugin("fixture-dupe");
    plugins.push(dupe.clone());
    fails_with(
        &plugins,
        &[
            "route '/api/v0/echo/read' is claimed by both",
            &dupe.display().to_string(),
        ],
    );
}

#[test]
fn a_schema_that_cannot_be_built() {
    // Two different types under one name: the document would silently describe one of them.
    let clash = plugin("fixture-schemaclash");
    let plugins = [plugin("notes"), clash.clone()];
    fails_with(
        &plugins,
        &[
            &format!("plugin '{}'", clash.display()),
            "the request schema of v0/tasks/read names a type `Priority` that differs from the `Priority` of v0/notes/",
            "#[schemars(rename",
        ],
    );
}

#[test]
fn bad_product_directory_and_usage() {
    let (code, stderr) = start_failure(
        std::process::Command::new(env!("CARGO_BIN_EXE_apiphant"))
            .args(["/nonexistent-product", "127.0.0.1:0"]),
    );
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("product directory '/nonexistent-product' does not exist"),
        "{stderr}"
    );
    let (code, stderr) = start_failure(
        std::process::Command::new(env!("CARGO_BIN_EXE_apiphant")).args([".", "localhost"]),
    );
    assert_eq!(code, Some(2));
    assert!(stderr.contains("is not HOST:PORT"), "{stderr}");
}

#[test]
fn bad_config_file() {
    let dir = TempDir::new("badconfig");
    std::fs::write(
        dir.path().join("apiphant.toml"),
        "name = \"x\"\n[server]\nmax_headerz = 1\n",
    )
    .expect("write");
    let (code, stderr) = start_failure(
        std::process::Command::new(env!("CARGO_BIN_EXE_apiphant"))
            .arg(dir.path())
            .args(["127.0.0.1:0", "--plugin"])
            .arg(plugin("echo")),
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("apiphant.toml' is invalid") && stderr.contains("max_headerz"),
        "{stderr}"
    );
}

#[test]
fn an_address_in_use_is_refused_not_shared() {
    // may's listener sets SO_REUSEPORT: without the server's own check a second server
    // would start and silently take a share of the first one's connections.
    let first = Server::start();
    let addr = format!("127.0.0.1:{}", first.port);
    let (code, stderr) = start_failure(
        std::process::Command::new(env!("CARGO_BIN_EXE_apiphant"))
            .args([".", &addr, "--debug-plugins", "--plugin"])
            .arg(plugin("echo")),
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("cannot serve at {addr}"))
            && stderr.contains("in use by another process: stop it, or give another HOST:PORT"),
        "{stderr}"
    );
    let answer = first.post("/api/v0/echo/read", br#"{"still": "here"}"#);
    assert_eq!(answer.status, 200);
}

#[test]
fn help_and_version() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_apiphant"))
        .arg("--version")
        .output()
        .expect("runs");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("apiphant {}", env!("CARGO_PKG_VERSION"))
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_apiphant"))
        .arg("--help")
        .output()
        .expect("runs");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(
        help.contains("[HOST:PORT]") && help.contains("--no-build"),
        "{help}"
    );
}

/// `--list-plugins`: the files an install copies (deploy/lib.sh), source and installed;
/// a file that is not a plugin is refused, like `--check` would.
#[test]
fn list_plugins() {
    let expected = example_plugins();
    let list = |product: &std::path::Path| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_apiphant"))
            .arg(product)
            .args(["--list-plugins", "--no-build", "--debug-plugins"])
            .output()
            .expect("runs");
        assert!(output.status.success(), "{output:?}");
        let mut files: Vec<PathBuf> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(PathBuf::from)
            .collect();
        files.sort();
        files
    };
    // Every cdylib under plugins/, the background (tasks-only) plugin, the blocking
    // example (bench/run.sh --mixed) and the typed examples included.
    let mut sorted = expected.clone();
    sorted.push(plugin("background"));
    sorted.push(plugin("slow"));
    sorted.push(plugin("notes"));
    sorted.push(plugin("typedecho"));
    sorted.sort();
    assert_eq!(list(&crate::util::root()), sorted);
    // An installed product: its plugins/*.so, nothing else.
    let dir = TempDir::new("installed");
    std::fs::create_dir(dir.path().join("plugins")).expect("mkdir");
    std::fs::write(dir.path().join("apiphant.toml"), "name = \"x\"\n").expect("write");
    std::fs::copy(&expected[0], dir.path().join("plugins/libecho.so")).expect("copy");
    std::fs::write(dir.path().join("plugins/.libecho.so.new"), b"").expect("write");
    assert_eq!(
        list(dir.path()),
        vec![dir.path().join("plugins/libecho.so")]
    );
    // A broken plugin is never listed for an install: the same refusal as at start-up.
    std::fs::write(dir.path().join("plugins/libbad.so"), b"not ELF\n").expect("write");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_apiphant"))
        .arg(dir.path())
        .arg("--list-plugins")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
}

//! Live reload (docs/reload.md): SIGHUP loads the plugins and apiphant.toml again beside
//! the running generation while clients keep calling (no failed request, the answers switch
//! to the new code, the old generation's shutdown hook runs each time); a broken plugin or
//! config keeps the old code serving with one line; a token removed from [auth.tokens] is
//! refused after the reload; `--watch` rebuilds a source product on an edit and survives a
//! compile error.

use crate::admin::admin_port;
use crate::auth::new_token;
use crate::util::{build_plugins, command_in, root, Conn, Server, TempDir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

const WITHIN: Duration = Duration::from_secs(30);

/// The reload fixture built twice, as `one` and `two` (each answers its own name): the two
/// files, kept under target/ for the test run.
fn fixture_builds() -> [PathBuf; 2] {
    static BUILD: Once = Once::new();
    let dir = root().join("target/it-reload");
    let files = [dir.join("one.so"), dir.join("two.so")];
    BUILD.call_once(|| {
        build_plugins();
        std::fs::create_dir_all(&dir).expect("target/it-reload");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        for (name, file) in ["one", "two"].iter().zip(&files) {
            let status = Command::new(&cargo)
                .current_dir(root())
                .args(["build", "--lib", "-p", "fixture-reload"])
                .env("APIPHANT_FIXTURE_BUILD", name)
                .status()
                .expect("cargo runs");
            assert!(status.success(), "building fixture-reload ({name}) failed");
            std::fs::copy(root().join("target/debug/libfixture_reload.so"), file)
                .expect("copy the build");
        }
    });
    files
}

/// A product folder with `config` as its apiphant.toml and the build `from` installed as
/// plugins/libfixture_reload.so (returned).
fn product(config: &str, from: &Path) -> (TempDir, PathBuf) {
    let dir = TempDir::new("reload");
    std::fs::write(dir.path().join("apiphant.toml"), config).expect("apiphant.toml");
    std::fs::create_dir_all(dir.path().join("plugins")).expect("plugins/");
    let plugin = dir.path().join("plugins/libfixture_reload.so");
    install(from, &plugin);
    (dir, plugin)
}

/// Puts `from` at `to` as a deploy does: a new file renamed over the old one.
fn install(from: &Path, to: &Path) {
    let next = to.with_extension("next");
    std::fs::copy(from, &next).expect("copy");
    std::fs::rename(&next, to).expect("rename");
}

fn hangup(server: &Server) {
    let status = Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// The server's log without its access lines.
fn events(server: &Server) -> String {
    let log = server.log_text();
    let lines: Vec<&str> = log
        .lines()
        .filter(|line| !line.contains("apiphant::http::conn"))
        .collect();
    lines.join("\n")
}

/// Lines of the server's log holding `needle`.
fn lines_with(server: &Server, needle: &str) -> usize {
    server
        .log_text()
        .lines()
        .filter(|line| line.contains(needle))
        .count()
}

/// Waits until the log has `count` lines holding `needle`; panics with the log if not.
fn wait_for_lines(server: &Server, needle: &str, count: usize, within: Duration) {
    let found = crate::util::wait_until(within, || lines_with(server, needle) >= count);
    assert!(
        found,
        "no {count} line(s) with '{needle}' within {within:?}:\n{}",
        events(server)
    );
}

/// The body of a 200 to `{}` posted to `path` on a fresh connection.
fn answer(server: &Server, path: &str) -> serde_json::Value {
    let response = server.post(path, b"{}");
    let text = String::from_utf8_lossy(&response.body);
    assert_eq!(response.status, 200, "{text}");
    serde_json::from_slice(&response.body).unwrap_or_default()
}

/// The `build` a fresh connection's `read` gets.
fn build_of(server: &Server) -> String {
    let body = answer(server, "/api/v0/reload/read");
    body["build"].as_str().unwrap_or_default().to_owned()
}

/// What the clients saw.
#[derive(Default)]
struct Seen {
    ok: AtomicUsize,
    failures: Mutex<Vec<String>>,
    builds: Mutex<Vec<String>>,
}

/// A client calling `path` until `stop`: on one kept-alive connection (`keep_alive`), or a
/// new connection a request (the listener must keep accepting).
fn client(
    port: u16,
    path: &'static str,
    body: &'static [u8],
    keep_alive: bool,
    stop: Arc<AtomicBool>,
    seen: Arc<Seen>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let request = crate::util::post(path, body, "");
        let mut conn = Conn::open(port);
        // Bounded: 2 minutes at most, whatever the test does.
        let deadline = Instant::now() + Duration::from_secs(120);
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            if !keep_alive {
                conn = Conn::open(port);
            }
            let _ = conn.stream.set_write_timeout(Some(WITHIN));
            let sent = std::io::Write::write_all(&mut conn.stream, &request);
            let response = sent.ok().and_then(|()| conn.response(WITHIN));
            match response {
                Some(response) if response.status == 200 => {
                    seen.ok.fetch_add(1, Ordering::Relaxed);
                    let body: serde_json::Value =
                        serde_json::from_slice(&response.body).unwrap_or_default();
                    let build = body["build"].as_str().unwrap_or_default().to_owned();
                    let mut builds = seen.builds.lock().expect("builds");
                    if builds.last() != Some(&build) {
                        builds.push(build);
                    }
                }
                other => {
                    let what = other.map_or_else(
                        || "no answer".to_owned(),
                        |response| format!("{} {}", response.status, response.text()),
                    );
                    seen.failures.lock().expect("failures").push(what);
                    conn = Conn::open(port);
                }
            }
        }
    })
}

#[test]
fn twenty_reloads_under_load_fail_no_request_and_switch_the_code() {
    let [one, two] = fixture_builds();
    let (dir, plugin) = product("name = \"reload\"\n", &one);
    let marker = dir.path().join("stopped");
    let mut command = command_in(
        dir.path(),
        std::slice::from_ref(&plugin),
        &["--admin", "127.0.0.1:0"],
    );
    command.env("APIPHANT_FIXTURE_SHUTDOWN", &marker);
    let mut server = Server::spawn(command);
    assert_eq!(build_of(&server), "one");
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Seen::default());
    let slow = Arc::new(Seen::default());
    let mut clients: Vec<_> = (0..4)
        .map(|n| {
            let path = "/api/v0/reload/read";
            client(
                server.port,
                path,
                b"{}",
                n % 2 == 0,
                stop.clone(),
                seen.clone(),
            )
        })
        .collect();
    // A call that is running while the server reloads: it finishes on the old code.
    clients.push(client(
        server.port,
        "/api/v0/reload/update",
        b"{\"ms\": 150}",
        true,
        stop.clone(),
        slow.clone(),
    ));
    let builds = [("one", &one), ("two", &two)];
    let rss_before = server.rss_kib();
    for reload in 1..=20usize {
        let (name, file) = builds[reload % 2];
        install(file, &plugin);
        let before = seen.ok.load(Ordering::Relaxed);
        hangup(&server);
        wait_for_lines(
            &server,
            &format!("reloaded: generation {reload} "),
            1,
            WITHIN,
        );
        assert_eq!(build_of(&server), name, "after reload {reload}");
        wait_for_lines(
            &server,
            &format!("generation {} retired", reload - 1),
            1,
            WITHIN,
        );
        // The clients kept being answered through the reload.
        let moved =
            crate::util::wait_until(WITHIN, || seen.ok.load(Ordering::Relaxed) > before + 10);
        assert!(moved, "the clients stalled at reload {reload}");
    }
    let rss_after = server.rss_kib();
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("client");
    }
    let failures = seen.failures.lock().expect("failures").clone();
    let slow_failures = slow.failures.lock().expect("failures").clone();
    assert!(
        failures.is_empty() && slow_failures.is_empty(),
        "failed requests: {failures:?} {slow_failures:?}"
    );
    let ok = seen.ok.load(Ordering::Relaxed);
    // The answers switched each time: every client saw both builds, alternating.
    let switches = seen.builds.lock().expect("builds").len();
    assert!(
        ok > 100 && switches >= 10,
        "{ok} answers, {switches} builds seen"
    );
    // Each old generation's shutdown hook ran once, in order: one, two, one, ...
    let stopped = std::fs::read_to_string(&marker).unwrap_or_default();
    let expected: String = (0..20)
        .map(|n| format!("stopped {}\n", if n % 2 == 0 { "one" } else { "two" }))
        .collect();
    assert_eq!(stopped, expected, "{}", events(&server));
    // Every answer is counted once across the generations (the route's counters carry on).
    let mut admin = Conn::open(admin_port(&server));
    admin.send(b"GET /metrics HTTP/1.1\r\nHost: admin\r\n\r\n");
    let metrics = admin.response(WITHIN).expect("metrics").text();
    let counted: usize = metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix(
                "apiphant_requests_total{route=\"v0/reload\",action=\"read\",status=\"200\"} ",
            )
        })
        .and_then(|count| count.parse().ok())
        .unwrap_or(0);
    // `ok` plus the test's own 21 calls of `build_of`.
    assert_eq!(counted, ok + 21, "{metrics}");
    eprintln!(
        "20 reloads: {ok} answers, {switches} switches seen, RSS {rss_before} KiB -> {rss_after} KiB"
    );
    let status = server.terminate(WITHIN);
    assert!(status.is_some_and(|s| s.success()), "{}", events(&server));
}

#[test]
fn a_broken_plugin_or_config_keeps_the_old_code_serving_with_one_line() {
    let [one, _] = fixture_builds();
    let (dir, plugin) = product("name = \"reload\"\n", &one);
    let server = Server::spawn(command_in(dir.path(), std::slice::from_ref(&plugin), &[]));
    assert_eq!(build_of(&server), "one");
    // Not a shared library at all.
    std::fs::write(&plugin, b"not a library").expect("write");
    hangup(&server);
    wait_for_lines(
        &server,
        "reload failed, generation 0 keeps serving: ",
        1,
        WITHIN,
    );
    let log = server.log_text();
    let line = log
        .lines()
        .find(|line| line.contains("reload failed"))
        .unwrap_or_default();
    assert!(
        line.contains(&format!("plugin '{}'", plugin.display())),
        "the line names the installed file, not its copy: {line}"
    );
    assert_eq!(build_of(&server), "one");
    // A config the reader refuses.
    install(&one, &plugin);
    let config = dir.path().join("apiphant.toml");
    std::fs::write(&config, "[server]\nmax_headers = \"many\"\n").expect("write");
    hangup(&server);
    wait_for_lines(
        &server,
        "reload failed, generation 0 keeps serving: ",
        2,
        WITHIN,
    );
    assert_eq!(build_of(&server), "one");
    // A setting that cannot change live: reloaded, with one line naming the key.
    std::fs::write(&config, "name = \"reload\"\n[server]\nworkers = 7\n").expect("write");
    hangup(&server);
    wait_for_lines(&server, "reloaded: generation 1 ", 1, WITHIN);
    assert_eq!(lines_with(&server, "server.workers changed from"), 1);
    assert_eq!(
        lines_with(&server, "needs a restart"),
        1,
        "{}",
        events(&server)
    );
    assert_eq!(
        lines_with(&server, "reload failed"),
        2,
        "{}",
        events(&server)
    );
    assert_eq!(build_of(&server), "one");
}

#[test]
fn a_token_removed_from_the_config_is_refused_after_a_reload_while_others_never_fail() {
    let [one, _] = fixture_builds();
    let (alice, alice_line) = new_token("alice", &["v0/reload/*"]);
    let (bob, bob_line) = new_token("bob", &["v0/reload/*"]);
    let config =
        |lines: &[&str]| format!("name = \"reload\"\n[auth.tokens]\n{}\n", lines.join("\n"));
    let (dir, plugin) = product(&config(&[&alice_line, &bob_line]), &one);
    let server = Server::spawn(command_in(dir.path(), std::slice::from_ref(&plugin), &[]));
    let call = |token: &str| {
        let header = format!("Bearer {token}");
        let response = server
            .client()
            .send(
                "POST",
                "/api/v0/reload/read",
                &[("Authorization", &header)],
                b"{}",
            )
            .expect("response");
        response.status
    };
    assert_eq!((call(&alice), call(&bob)), (200, 200));
    // Bob calls without pause while alice's line is removed and the config reloaded.
    let stop = Arc::new(AtomicBool::new(false));
    let bob_client = {
        let (stop, port, bob) = (stop.clone(), server.port, bob.clone());
        std::thread::spawn(move || {
            let request = crate::util::post(
                "/api/v0/reload/read",
                b"{}",
                &format!("Authorization: Bearer {bob}\r\n"),
            );
            let mut conn = Conn::open(port);
            let (mut ok, mut failed) = (0usize, Vec::new());
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                conn.send(&request);
                match conn.response(WITHIN) {
                    Some(response) if response.status == 200 => ok += 1,
                    other => {
                        failed.push(other.map(|r| r.status));
                        conn = Conn::open(port);
                    }
                }
            }
            (ok, failed)
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    std::fs::write(dir.path().join("apiphant.toml"), config(&[&bob_line])).expect("write");
    hangup(&server);
    wait_for_lines(&server, "reloaded: generation 1 ", 1, WITHIN);
    assert_eq!(call(&alice), 401, "the removed token is refused");
    assert_eq!(call(&bob), 200);
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let (ok, failed) = bob_client.join().expect("bob");
    assert!(
        failed.is_empty() && ok > 10,
        "bob: {ok} ok, failed {failed:?}"
    );
    assert!(!server.log_text().contains(&alice), "a token was logged");
}

/// A source product of one plugin, `greet`, whose `read` answers `{"v": V}`.
fn greet_source(v: &str) -> String {
    format!(
        "use apiphant_sdk::{{ApiResult, Object}};\n\n\
         pub fn read(_request: Object) -> ApiResult {{\n    \
             let mut response = Object::new();\n    \
             response.insert(\"v\".into(), {v}.into());\n    \
             Ok(response)\n}}\n\n\
         apiphant_sdk::export! {{ \"v0/greet\" => {{ read }} }}\n"
    )
}

#[test]
fn watch_rebuilds_on_an_edit_and_survives_a_compile_error() {
    let dir = TempDir::new("watch");
    let sdk = root().join("sdk");
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[workspace]\nmembers = [\"plugins/*\"]\nresolver = \"2\"\n",
    )
    .expect("Cargo.toml");
    std::fs::copy(root().join("Cargo.lock"), dir.path().join("Cargo.lock")).expect("lock");
    std::fs::write(dir.path().join("apiphant.toml"), "name = \"watched\"\n").expect("toml");
    let greet = dir.path().join("plugins/greet");
    std::fs::create_dir_all(greet.join("src")).expect("plugins/greet/src");
    std::fs::write(
        greet.join("Cargo.toml"),
        format!(
            "[package]\nname = \"greet\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [lib]\ncrate-type = [\"cdylib\"]\n\n\
             [dependencies]\napiphant-sdk = {{ path = {:?} }}\n",
            sdk.display().to_string()
        ),
    )
    .expect("greet/Cargo.toml");
    let source = greet.join("src/lib.rs");
    std::fs::write(&source, greet_source("1")).expect("lib.rs");
    // Its own target folder (the SDK's dependencies build once per test run), offline.
    let target = root().join("target/it-watch");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let env = [
        ("CARGO_TARGET_DIR", target.display().to_string()),
        ("CARGO_NET_OFFLINE", "true".to_owned()),
    ];
    // The first build, before the server's 30 s start-up bound.
    let status = Command::new(&cargo)
        .arg("build")
        .arg("--manifest-path")
        .arg(dir.path().join("Cargo.toml"))
        .envs(env.clone())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "the product builds");
    let mut command = command_in(dir.path(), &[], &["--watch"]);
    command.envs(env);
    let server = Server::spawn(command);
    let v = || {
        answer(&server, "/api/v0/greet/read")["v"]
            .as_i64()
            .unwrap_or(-1)
    };
    assert_eq!(v(), 1);
    let build = Duration::from_secs(240);
    wait_for_lines(&server, "--watch: watching", 1, WITHIN);
    // An edit: the new answer.
    std::fs::write(&source, greet_source("2")).expect("edit");
    assert!(
        crate::util::wait_until(build, || v() == 2),
        "{}",
        events(&server)
    );
    // A compile error: one line, and the old code keeps serving.
    std::fs::write(&source, greet_source("2 +")).expect("break");
    wait_for_lines(
        &server,
        "reload failed, generation 1 keeps serving: ",
        1,
        build,
    );
    assert_eq!(v(), 2);
    assert_eq!(
        lines_with(&server, "reload failed"),
        1,
        "{}",
        events(&server)
    );
    // The fix is picked up.
    std::fs::write(&source, greet_source("3")).expect("fix");
    assert!(
        crate::util::wait_until(build, || v() == 3),
        "{}",
        events(&server)
    );
}

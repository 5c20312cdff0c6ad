//! `[auth]`: tokens made by `apiphant token new`, stored as SHA-256 hashes; 401 / 403
//! decided from the head before the body; the token's name (never the token) reaches the
//! action and the access log; config mistakes stop start-up with one line.

use crate::startup::fails_with_line;
use crate::util::{command_in, example_plugins, plugin, post, run_within, Server, TempDir};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(10);

/// `apiphant token new NAME --scope ...`: (the token, the config line).
pub fn new_token(name: &str, scopes: &[&str]) -> (String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_apiphant"));
    command.args(["token", "new", name]);
    for scope in scopes {
        command.args(["--scope", scope]);
    }
    let (code, stdout, stderr) = run_within(&mut command, WITHIN);
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    let [token, comment, line] = lines[..] else {
        panic!("not three lines: {stdout}")
    };
    assert!(
        comment.starts_with("# add under [auth.tokens]"),
        "{comment}"
    );
    (token.to_owned(), line.to_owned())
}

/// The example plugins and the hooks fixture (its actions answer their context).
fn plugins() -> Vec<std::path::PathBuf> {
    let mut plugins = example_plugins();
    plugins.push(plugin("fixture-hooks"));
    plugins
}

/// A product folder with `apiphant.toml` holding `config`.
pub fn product(config: &str) -> TempDir {
    let dir = TempDir::new("auth");
    std::fs::write(dir.path().join("apiphant.toml"), config).expect("apiphant.toml");
    dir
}

/// Serving a product whose `apiphant.toml` is `config` stops start-up (exit 2) with one
/// `apiphant: config '<file>': <says>...` line.
pub fn config_fails_with(config: &str, plugins: &[std::path::PathBuf], says: &str) {
    let dir = product(config);
    let file = dir.path().join("apiphant.toml");
    let (code, stderr) = crate::util::start_failure(&mut command_in(dir.path(), plugins, &[]));
    assert_eq!(code, Some(2), "{config}: {stderr}");
    let expected = format!("apiphant: config '{}': {says}", file.display());
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("apiphant: "))
        .collect();
    assert!(
        errors.len() == 1 && errors[0].starts_with(&expected),
        "{config}:\n{stderr}"
    );
}

fn exchange(server: &Server, request: &[u8]) -> crate::util::WireResponse {
    let mut conn = server.connect();
    conn.send(request);
    conn.response(WITHIN).expect("a response")
}

#[test]
fn tokens_are_random_prefixed_and_their_line_is_valid_config() {
    let (a, line) = new_token("ci-bot", &["v0/hooks/*", "v0/echo/read"]);
    let (b, _) = new_token("ci-bot", &["v0/hooks/*"]);
    assert_ne!(a, b);
    assert!(a.starts_with("apt_") && a.len() == 4 + 48, "{a}");
    assert!(a[4..].bytes().all(|c| c.is_ascii_hexdigit()), "{a}");
    assert!(
        line.starts_with("ci-bot = { sha256 = \"")
            && line.ends_with("\", scopes = [\"v0/hooks/*\", \"v0/echo/read\"] }"),
        "{line}"
    );
    assert!(!line.contains(&a), "the config line holds the token");
    // Bad names and globs: one line, exit 2.
    for (args, says) in [
        (
            &["token", "new", "a b", "--scope", "v0/*"][..],
            "token name 'a b'",
        ),
        (
            &["token", "new", "x", "--scope", "v0 /*"],
            "--scope 'v0 /*' may hold only",
        ),
    ] {
        let (code, _, stderr) = run_within(
            Command::new(env!("CARGO_BIN_EXE_apiphant")).args(args),
            WITHIN,
        );
        assert_eq!(code, Some(2), "{stderr}");
        assert!(
            stderr.starts_with("apiphant: ") && stderr.contains(says),
            "{stderr}"
        );
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
}

#[test]
fn who_may_call_what() {
    let (alice, alice_line) = new_token("alice", &["v0/hooks/*"]);
    let (bob, bob_line) = new_token("bob", &["v0/users/*"]);
    let config =
        format!("[auth]\npublic = [\"v0/echo/read\"]\n\n[auth.tokens]\n{alice_line}\n{bob_line}\n");
    let dir = product(&config);
    let server = Server::spawn(command_in(dir.path(), &plugins(), &[]));
    let bearer = |token: &str| format!("Authorization: Bearer {token}\r\n");
    // A valid token within its scopes: 200, and the action sees the token's name.
    let ok = exchange(&server, &post("/api/v0/hooks/read", b"{}", &bearer(&alice)));
    assert_eq!(ok.status, 200, "{}", ok.text());
    let body: Value = serde_json::from_slice(&ok.body).unwrap_or_default();
    assert_eq!(body["identity"], "alice");
    // Outside its scopes: 403.
    let forbidden = exchange(&server, &post("/api/v0/hooks/read", b"{}", &bearer(&bob)));
    assert_eq!(forbidden.status, 403);
    assert_eq!(forbidden.body, br#"{"error":"403 Forbidden"}"#);
    // No token, an unknown one, malformed headers, two headers, a token in the query:
    // 401 with the challenge.
    let unknown = bearer(&format!("apt_{}", "0".repeat(48)));
    let two = format!("{}{}", bearer(&alice), bearer(&alice));
    let requests = [
        post("/api/v0/hooks/read", b"{}", ""),
        post("/api/v0/hooks/read", b"{}", &unknown),
        post(
            "/api/v0/hooks/read",
            b"{}",
            &format!("Authorization: {alice}\r\n"),
        ),
        post(
            "/api/v0/hooks/read",
            b"{}",
            &format!("Authorization: Basic {alice}\r\n"),
        ),
        post("/api/v0/hooks/read", b"{}", "Authorization: Bearer\r\n"),
        post("/api/v0/hooks/read", b"{}", "Authorization: Bearer a b\r\n"),
        [
            &b"POST /api/v0/hooks/read HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \xff\xfe\r\n"[..],
            b"Content-Length: 2\r\n\r\n{}",
        ]
        .concat(),
        post("/api/v0/hooks/read", b"{}", &two),
        post(
            &format!("/api/v0/hooks/read?access_token={alice}"),
            b"{}",
            "",
        ),
    ];
    for request in &requests {
        let response = exchange(&server, request);
        assert_eq!(response.status, 401, "{}", String::from_utf8_lossy(request));
        assert_eq!(response.body, br#"{"error":"401 Unauthorized"}"#);
        assert_eq!(response.header("www-authenticate"), Some("Bearer"));
    }
    // A public route: open without a token, named with one; an unknown token is refused.
    assert_eq!(
        exchange(&server, &post("/api/v0/echo/read", b"{}", "")).status,
        200
    );
    assert_eq!(
        exchange(&server, &post("/api/v0/echo/read", b"{}", &bearer(&bob))).status,
        200
    );
    assert_eq!(
        exchange(&server, &post("/api/v0/echo/read", b"{}", &unknown)).status,
        401
    );
    // Unknown routes stay 404 and other methods 501, before any token is asked for.
    assert_eq!(
        exchange(&server, &post("/api/v0/none/read", b"{}", "")).status,
        404
    );
    let get = exchange(
        &server,
        b"GET /api/v0/hooks/read HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(get.status, 501);
    // 401 is decided before the body is read: a head announcing a body that never comes is
    // answered at once.
    let mut conn = server.connect();
    conn.send(b"POST /api/v0/hooks/read HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n");
    let early = conn
        .response(Duration::from_secs(2))
        .expect("answered before the body");
    assert_eq!(early.status, 401);
    assert!(early.closes());
    // The access log names the caller, never a token.
    let log = server.log_text();
    assert!(
        log.lines().any(
            |line| line.contains("\"POST /api/v0/hooks/read HTTP/1.1\" 200")
                && line.ends_with("user=alice")
        ),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|line| line.contains(" 403 ") && line.ends_with("user=bob")),
        "{log}"
    );
    assert!(log.contains("/api/v0/hooks/read?[redacted]"), "{log}");
    for token in [&alice, &bob] {
        assert!(!log.contains(&token[4..]), "a token in the log:\n{log}");
    }
}

/// 10,000 wrong tokens, pipelined on 4 connections as fast as the client can write them:
/// each is a 401, none is logged, the server's memory and descriptors stay bounded, and
/// the valid call after them (and a new connection) is served.
#[test]
fn failed_attempts_in_bulk_are_refused_cheaply_and_never_logged() {
    const CONNECTIONS: usize = 4;
    const EACH: usize = 2_500;
    let (alice, line) = new_token("alice", &["v0/hooks/*"]);
    let dir = product(&format!("[auth.tokens]\n{line}\n"));
    let server = Server::spawn(command_in(dir.path(), &plugins(), &[]));
    let (fds, rss) = (server.fd_count(), server.rss_kib());
    let started = std::time::Instant::now();
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            let mut conn = server.connect();
            let mut batch = Vec::new();
            for n in 0..EACH {
                let wrong = format!("Authorization: Bearer apt_{:048x}\r\n", c * EACH + n);
                batch.extend_from_slice(&post("/api/v0/hooks/read", b"{}", &wrong));
            }
            let valid = format!("Authorization: Bearer {alice}\r\n");
            batch.extend_from_slice(&post("/api/v0/hooks/read", b"{}", &valid));
            std::thread::spawn(move || {
                let writer = {
                    let mut stream = conn.stream.try_clone().expect("clone");
                    std::thread::spawn(move || std::io::Write::write_all(&mut stream, &batch))
                };
                for n in 0..EACH {
                    let response = conn
                        .response(Duration::from_secs(30))
                        .unwrap_or_else(|| panic!("answer {n} on connection {c}"));
                    assert_eq!(response.status, 401, "attempt {n}");
                    assert_eq!(response.header("www-authenticate"), Some("Bearer"));
                }
                let last = conn
                    .response(Duration::from_secs(30))
                    .expect("the valid call");
                assert_eq!(last.status, 200);
                let _ = writer.join();
            })
        })
        .collect();
    for client in clients {
        client.join().expect("a client");
    }
    let took = started.elapsed();
    eprintln!(
        "{} failed attempts answered 401 in {took:?} ({:.0}/s); RSS {rss} -> {} KiB",
        CONNECTIONS * EACH,
        (CONNECTIONS * EACH) as f64 / took.as_secs_f64(),
        server.rss_kib()
    );
    assert!(took < Duration::from_secs(60), "{took:?}");
    // Bounded: no per-attempt state is kept.
    assert!(
        server.rss_kib() < rss + 32 * 1024,
        "RSS {rss} -> {} KiB",
        server.rss_kib()
    );
    server.assert_fds_return_to(fds, WITHIN);
    assert_eq!(server.post("/api/v0/echo/read", b"{}").status, 401);
    let log = server.log_text();
    assert!(!log.contains("apt_"), "a token in the log");
}

#[test]
fn auth_config_mistakes_stop_start_up_with_one_line() {
    let (_, line) = new_token("alice", &["v0/hooks/*"]);
    let hash = line
        .split('"')
        .nth(1)
        .expect("the hash in the line")
        .to_owned();
    let cases = [
        (
            "[auth]\npublic = [\"v0/ech/*\"]\n".to_owned(),
            "auth.public: 'v0/ech/*' matches no route (globs are over <version>/<target>/<action>",
        ),
        (
            format!("[auth.tokens]\nalice = {{ sha256 = \"{hash}\", scopes = [\"v9/*\"] }}\n"),
            "auth.tokens.alice.scopes: 'v9/*' matches no route",
        ),
        (
            format!(
                "[auth.tokens]\nalice = {{ sha256 = \"{}\", scopes = [\"*\"] }}\n",
                &hash[1..]
            ),
            "auth.tokens.alice.sha256: is 63 characters, not the 64 hex digits of a SHA-256",
        ),
        (
            "[auth.tokens]\nalice = { sha256 = \"x\", scopes = [] }\n".to_owned(),
            "auth.tokens.alice.sha256: is 1 characters",
        ),
        (
            format!("[auth.tokens]\nalice = {{ sha256 = \"{hash}\", scopes = [] }}\n"),
            "auth.tokens.alice.scopes: is empty",
        ),
    ];
    for (config, says) in cases {
        config_fails_with(&config, &plugins(), says);
    }
    // `apiphant check` finds the same mistake before a deploy.
    let dir = product("[auth]\npublic = [\"v0/ech/*\"]\n");
    let file = dir.path().join("apiphant.toml");
    let mut check = Command::new(env!("CARGO_BIN_EXE_apiphant"));
    check.arg("check").arg(dir.path()).arg("--debug-plugins");
    for plugin in plugins() {
        check.arg("--plugin").arg(plugin);
    }
    fails_with_line(
        &mut check,
        &format!(
            "apiphant: config '{}': auth.public: 'v0/ech/*' matches no route (globs are over <version>/<target>/<action>, * for any run of characters; routes: {})",
            file.display(),
            [
                "v0/echo/read",
                "v0/files/create",
                "v0/files/read",
                "v0/hooks/read",
                "v0/hooks/update",
                "v0/self/create",
                "v0/users/profile/read",
                "v0/users/profile/update",
                "v1/echo/read"
            ]
            .join(", ")
        ),
    );
}

/// `[auth] authorize = "fixture-hooks"`: the plugin's hook (on the blocking pool) decides
/// what no static token covers, after 404 and 501 and before the body; its identity
/// reaches the action and the access log; a panicking hook is a 500, not a crash.
#[test]
fn the_authorize_hook_decides_what_no_static_token_covers() {
    let (static_token, line) = new_token("ci", &["v0/hooks/*"]);
    let config = format!(
        "[auth]\npublic = [\"v0/echo/read\"]\nauthorize = \"fixture-hooks\"\n\n[auth.tokens]\n{line}\n"
    );
    let dir = product(&config);
    let server = Server::spawn(command_in(dir.path(), &plugins(), &[]));
    let bearer = |token: &str| format!("Authorization: Bearer {token}\r\n");
    let call = |token: &str| exchange(&server, &post("/api/v0/hooks/read", b"{}", &bearer(token)));
    // Allowed by the hook: its identity reaches the action.
    let ok = call("key-alice");
    assert_eq!(ok.status, 200, "{}", ok.text());
    let body: Value = serde_json::from_slice(&ok.body).unwrap_or_default();
    assert_eq!(body["identity"], "alice@example.com");
    // A static token still decides by itself.
    let ok = call(&static_token);
    let body: Value = serde_json::from_slice(&ok.body).unwrap_or_default();
    assert_eq!((ok.status, &body["identity"]), (200, &Value::from("ci")));
    // Known to the hook, not allowed here; refused by it: 403.
    for token in ["key-bob", "refuse"] {
        let forbidden = call(token);
        assert_eq!(forbidden.status, 403, "{token}");
        assert_eq!(forbidden.body, br#"{"error":"403 Forbidden"}"#);
    }
    // Unknown to it, no header, another scheme: 401 with the challenge.
    for request in [
        post("/api/v0/hooks/read", b"{}", &bearer("key-mallory")),
        post("/api/v0/hooks/read", b"{}", ""),
        post("/api/v0/hooks/read", b"{}", "Authorization: Basic a2V5\r\n"),
    ] {
        let refused = exchange(&server, &request);
        assert_eq!(refused.status, 401, "{}", String::from_utf8_lossy(&request));
        assert_eq!(refused.body, br#"{"error":"401 Unauthorized"}"#);
        assert_eq!(refused.header("www-authenticate"), Some("Bearer"));
    }
    // A public route needs nobody.
    assert_eq!(
        exchange(&server, &post("/api/v0/echo/read", b"{}", "")).status,
        200
    );
    // A panicking hook, or one answering an identity the host refuses: 500, logged; the
    // server goes on.
    for token in ["panic", "nonsense"] {
        let failed = call(token);
        assert_eq!(failed.status, 500, "{token}");
        assert_eq!(failed.body, br#"{"error":"500 Internal Server Error"}"#);
    }
    assert_eq!(call("key-alice").status, 200);
    // 404 and 501 come first: the hook is not asked.
    let asked = server.log_text().matches("gate asked for").count();
    assert_eq!(
        exchange(&server, &post("/api/v0/none/read", b"{}", "")).status,
        404
    );
    let get =
        b"GET /api/v0/hooks/read HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer key-alice\r\n\r\n";
    assert_eq!(exchange(&server, get).status, 501);
    assert_eq!(server.log_text().matches("gate asked for").count(), asked);
    // Decided before the body is read: a head announcing a body that never comes.
    let mut conn = server.connect();
    conn.send(
        b"POST /api/v0/hooks/read HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer key-bob\r\nContent-Length: 100000\r\n\r\n",
    );
    let early = conn
        .response(Duration::from_secs(5))
        .expect("answered before the body");
    assert_eq!(early.status, 403);
    let log = server.log_text();
    assert!(log.contains("the gate broke"), "{log}");
    assert!(
        log.contains("authorize hook of fixture-hooks answered the identity \"a b\""),
        "{log}"
    );
    assert!(
        log.lines().any(
            |line| line.contains("\"POST /api/v0/hooks/read HTTP/1.1\" 200")
                && line.ends_with("user=alice@example.com")
        ),
        "{log}"
    );
    assert!(
        log.contains("[hook authorize] gate asked for POST v0/hooks/read"),
        "{log}"
    );
    assert!(!log.contains(&static_token[4..]), "a token in the log");
}

#[test]
fn an_authorize_hook_no_plugin_has_stops_start_up() {
    config_fails_with(
        "[auth]\nauthorize = \"echo\"\n",
        &plugins(),
        "auth.authorize: no loaded plugin of crate 'echo' exports an authorize hook (add `authorize = f` to its export!; plugins with one: fixture-hooks)",
    );
    config_fails_with(
        "[auth]\nauthorize = \"not a crate\"\n",
        &plugins(),
        "auth.authorize: 'not a crate' is not a crate name",
    );
}

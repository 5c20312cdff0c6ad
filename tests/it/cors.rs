//! `[cors]`: preflights answered 204 without a token, answers to an allowed origin carry
//! its CORS lines, a disallowed origin gets none, no `[cors]` keeps OPTIONS at 501; and a
//! real headless Chromium whose page, on another loopback port, calls the API with `fetch`
//! and a token.

use crate::auth::{config_fails_with, new_token, product};
use crate::util::{command_in, example_plugins, run_within, Server, TempDir, WireResponse};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(10);
const ECHO: &str = "/api/v0/echo/read";

fn exchange(server: &Server, request: &str) -> WireResponse {
    let mut conn = server.connect();
    conn.send(request.as_bytes());
    conn.response(WITHIN).expect("a response")
}

fn preflight(origin: &str, method: &str, headers: &str) -> String {
    format!(
        "OPTIONS {ECHO} HTTP/1.1\r\nOrigin: {origin}\r\nAccess-Control-Request-Method: {method}\r\nAccess-Control-Request-Headers: {headers}\r\n\r\n"
    )
}

fn actual(origin: &str, authorization: &str) -> String {
    format!(
        "POST {ECHO} HTTP/1.1\r\nOrigin: {origin}\r\n{authorization}Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
    )
}

/// No header of the CORS protocol.
fn has_no_cors(response: &WireResponse) -> bool {
    response
        .headers
        .iter()
        .all(|(name, _)| !name.to_ascii_lowercase().starts_with("access-control-"))
        && response.header("vary").is_none()
}

/// The example product with `[auth]` (alice may call echo) and `[cors]` allowing `origins`.
fn server(origins: &[String]) -> (Server, String, TempDir) {
    let (token, line) = new_token("alice", &["v0/echo/*"]);
    let origins: Vec<String> = origins
        .iter()
        .map(|origin| format!("\"{origin}\""))
        .collect();
    let dir = product(&format!(
        "[auth.tokens]\n{line}\n\n[cors]\nallow_origins = [{}]\nmax_age_secs = 300\n",
        origins.join(", ")
    ));
    let server = Server::spawn(command_in(dir.path(), &example_plugins(), &[]));
    (server, token, dir)
}

#[test]
fn preflights_and_answers_carry_cors_headers_for_allowed_origins_only() {
    let allowed = "https://app.example.com";
    let (server, token, _dir) = server(&[allowed.to_owned()]);
    // A preflight from an allowed origin: 204 with every CORS header, no token needed.
    let response = exchange(
        &server,
        &preflight(allowed, "POST", "authorization, content-type, x-request-id"),
    );
    assert_eq!(response.status, 204, "{}", response.text());
    let expected = [
        ("access-control-allow-origin", allowed),
        ("vary", "Origin"),
        ("access-control-allow-methods", "POST"),
        (
            "access-control-allow-headers",
            "authorization, content-type, x-request-id, prefer, idempotency-key",
        ),
        ("access-control-expose-headers", "x-request-id"),
        ("access-control-max-age", "300"),
    ];
    for (name, value) in expected {
        assert_eq!(
            response.header(name),
            Some(value),
            "{name}: {:?}",
            response.headers
        );
    }
    assert!(response.header("content-length").is_none() && response.body.is_empty());
    assert!(response.header("www-authenticate").is_none());
    // Another method or a header outside the list: 403, no CORS header.
    for (method, headers) in [("PUT", "content-type"), ("POST", "authorization, x-secret")] {
        let response = exchange(&server, &preflight(allowed, method, headers));
        assert_eq!(response.status, 403, "{method} {headers}");
        assert!(has_no_cors(&response), "{:?}", response.headers);
    }
    // A disallowed origin: OPTIONS stays 501, no CORS header.
    for origin in [
        "https://evil.example.com",
        "https://app.example.com.evil.com",
        "null",
    ] {
        let response = exchange(&server, &preflight(origin, "POST", "authorization"));
        assert_eq!(response.status, 501, "{origin}");
        assert!(has_no_cors(&response), "{origin}: {:?}", response.headers);
    }
    // Actual requests: an allowed origin's answers carry the lines, 401 included.
    let bearer = format!("Authorization: Bearer {token}\r\n");
    let ok = exchange(&server, &actual(allowed, &bearer));
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.header("access-control-allow-origin"), Some(allowed));
    assert_eq!(ok.header("vary"), Some("Origin"));
    assert_eq!(
        ok.header("access-control-expose-headers"),
        Some("x-request-id")
    );
    let refused = exchange(&server, &actual(allowed, ""));
    assert_eq!(refused.status, 401);
    assert_eq!(refused.header("access-control-allow-origin"), Some(allowed));
    assert_eq!(refused.header("www-authenticate"), Some("Bearer"));
    // A disallowed origin: the same answer, without CORS headers (the browser refuses it).
    let other = exchange(&server, &actual("https://evil.example.com", &bearer));
    assert_eq!(other.status, 200);
    assert!(has_no_cors(&other), "{:?}", other.headers);
}

#[test]
fn without_cors_options_stays_501_and_bad_origins_stop_start_up() {
    let server = Server::start();
    let response = exchange(
        &server,
        &preflight("https://app.example.com", "POST", "content-type"),
    );
    assert_eq!(response.status, 501);
    assert!(has_no_cors(&response), "{:?}", response.headers);
    for (origin, says) in [
        ("https://app.example.com/", "has a path"),
        ("app.example.com", "is not an origin"),
        ("*", "is not an origin"),
    ] {
        config_fails_with(
            &format!("[cors]\nallow_origins = [\"{origin}\"]\n"),
            &example_plugins(),
            &format!("cors.allow_origins: '{origin}' {says}"),
        );
    }
}

/// A tiny web server on a free loopback port answering every request with `page`.
fn page_server(page: Arc<Mutex<String>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let body = page.lock().map(|page| page.clone()).unwrap_or_default();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// A page whose script POSTs to the API with `fetch` and the token, then writes the
/// outcome into `<pre id="out">`.
fn page(api_port: u16, token: &str) -> String {
    format!(
        r#"<!doctype html><html><body><pre id="out">pending</pre><script>
fetch("http://127.0.0.1:{api_port}{ECHO}", {{
  method: "POST",
  headers: {{"Authorization": "Bearer {token}", "Content-Type": "application/json", "X-Request-Id": "browser-1"}},
  body: JSON.stringify({{hello: "browser"}})
}}).then(r => r.text().then(t => "status=" + r.status + " id=" + r.headers.get("x-request-id") + " body=" + t))
  .catch(e => "failed=" + e.name)
  .then(text => {{ document.getElementById("out").textContent = text; }});
</script></body></html>"#
    )
}

/// Chromium's dumped DOM of `url` once its scripts ran (virtual time waits for the fetch).
fn chromium_dom(url: &str) -> String {
    let profile = TempDir::new("chromium");
    let mut command = Command::new("chromium");
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--virtual-time-budget=10000",
    ]);
    command.arg(format!("--user-data-dir={}", profile.path().display()));
    command.args(["--dump-dom", url]);
    let (code, stdout, stderr) = run_within(&mut command, Duration::from_secs(90));
    assert_eq!(code, Some(0), "chromium failed:\n{stderr}");
    stdout
}

#[test]
fn a_real_browser_calls_from_an_allowed_origin_and_is_refused_from_another() {
    if std::env::var_os("APIPHANT_SKIP_BROWSER_TEST").is_some() {
        eprintln!("APIPHANT_SKIP_BROWSER_TEST set: the headless Chromium test is skipped");
        return;
    }
    assert!(
        Command::new("chromium").arg("--version").output().is_ok(),
        "this test needs Debian's chromium (apt-get install chromium; .ci/run installs it), or APIPHANT_SKIP_BROWSER_TEST=1"
    );
    let (allowed_page, other_page) = (
        Arc::new(Mutex::new(String::new())),
        Arc::new(Mutex::new(String::new())),
    );
    let allowed_port = page_server(Arc::clone(&allowed_page));
    let other_port = page_server(Arc::clone(&other_page));
    let allowed = format!("http://127.0.0.1:{allowed_port}");
    let (server, token, _dir) = server(std::slice::from_ref(&allowed));
    for page_of in [&allowed_page, &other_page] {
        if let Ok(mut html) = page_of.lock() {
            *html = page(server.port, &token);
        }
    }
    let dom = chromium_dom(&format!("{allowed}/"));
    assert!(
        dom.contains(r#"status=200 id=browser-1 body={"hello":"browser","server":"myproduct"}"#),
        "{dom}"
    );
    let dom = chromium_dom(&format!("http://127.0.0.1:{other_port}/"));
    assert!(dom.contains("failed=TypeError"), "{dom}");
    // The refused page's preflight reached the server and got no CORS header: a 501.
    let log = server.log_text();
    assert!(
        log.contains(&format!("\"OPTIONS {ECHO} HTTP/1.1\" 501")),
        "{log}"
    );
    assert!(
        log.contains(&format!("\"OPTIONS {ECHO} HTTP/1.1\" 204")),
        "{log}"
    );
}

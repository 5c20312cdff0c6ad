//! The admin listener (`--admin HOST:PORT`, `[admin] listen`): `/livez`, `/readyz` (503 as
//! soon as the grace period starts), `/metrics` checked by the real `promtool`; the public
//! listener serves none of them.

use crate::util::{command, example_plugins, post, wait_until, Conn, Server, WireResponse, Worker};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(10);

/// The admin port from `admin listener at http://127.0.0.1:PORT`.
pub fn admin_port(server: &Server) -> u16 {
    admin_port_in(&server.log_text())
}

/// The admin port a log names.
fn admin_port_in(log: &str) -> u16 {
    log.lines()
        .find_map(|line| line.split("admin listener at http://").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|authority| authority.rsplit_once(':'))
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("no admin line:\n{log}"))
}

fn get(conn: &mut Conn, path: &str) -> WireResponse {
    conn.send(format!("GET {path} HTTP/1.1\r\nHost: admin\r\n\r\n").as_bytes());
    conn.response(WITHIN).expect("an admin answer")
}

/// `promtool check metrics` on `text`: its exit status and output.
fn promtool(text: &[u8]) -> (bool, String) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = child.expect(
        "this test needs promtool (Debian's prometheus package: apt-get install prometheus; .ci/run installs it)",
    );
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(text).expect("write to promtool");
    }
    let output = child.wait_with_output().expect("promtool runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), said)
}

/// `GET /metrics`: its exposition, checked by `promtool`.
pub fn scrape(admin: &mut Conn) -> String {
    let metrics = get(admin, "/metrics");
    assert_eq!(metrics.status, 200);
    assert_eq!(
        metrics.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let (ok, said) = promtool(&metrics.body);
    assert!(
        ok,
        "promtool check metrics refused:\n{said}\n{}",
        metrics.text()
    );
    metrics.text()
}

/// The value of the series `line_start` (`name{labels}`) in an exposition.
pub fn value(exposition: &str, line_start: &str) -> Option<f64> {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(line_start))
        .and_then(|rest| rest.trim().parse().ok())
}

#[test]
fn livez_readyz_and_metrics_that_promtool_accepts() {
    let mut server = Server::spawn(command(&example_plugins(), &["--admin", "127.0.0.1:0"]));
    let mut admin = Conn::open(admin_port(&server));
    assert_eq!(get(&mut admin, "/livez").status, 200);
    let ready = get(&mut admin, "/readyz");
    assert_eq!((ready.status, ready.text().as_str()), (200, "ready\n"));
    // Traffic, then the counters.
    for _ in 0..3 {
        assert_eq!(server.post("/api/v0/echo/read", b"{}").status, 200);
    }
    assert_eq!(server.post("/api/v0/echo/read", b"[]").status, 400);
    assert_eq!(server.post("/api/v0/nothing/read", b"{}").status, 404);
    let text = scrape(&mut admin);
    let echo = "apiphant_requests_total{route=\"v0/echo\",action=\"read\",status=";
    assert_eq!(
        value(&text, &format!("{echo}\"200\"}}")),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        value(&text, &format!("{echo}\"400\"}}")),
        Some(1.0),
        "{text}"
    );
    assert_eq!(value(&text, "apiphant_unrouted_requests_total"), Some(1.0));
    assert!(text.contains("apiphant_build_info{version=\""), "{text}");
    // The public listener serves none of them.
    let mut public = server.connect();
    assert_eq!(get(&mut public, "/metrics").status, 404);
    assert_eq!(get(&mut public, "/livez").status, 404);
    // Shutting down: a request still arriving keeps the process in its grace period, and
    // /readyz says 503 at once, so a balancer drains it; the request is still answered.
    let mut slow = server.connect();
    let late = post("/api/v0/echo/read", b"{\"late\": 1}", "");
    let cut = late.len() - 5; // the whole head, part of the body
    slow.send(&late[..cut]);
    let in_flight = wait_until(WITHIN, || {
        value(
            &get(&mut admin, "/metrics").text(),
            "apiphant_requests_in_flight",
        ) == Some(1.0)
    });
    assert!(in_flight, "the partial request is not in flight");
    let pid = server.pid().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let draining = wait_until(WITHIN, || get(&mut admin, "/readyz").status == 503);
    assert!(draining, "/readyz did not turn 503:\n{}", server.log_text());
    assert_eq!(get(&mut admin, "/livez").status, 200);
    slow.send(&late[cut..]);
    let late = slow.response(WITHIN).expect("the late request is answered");
    assert_eq!(late.status, 200);
    let status = server.terminate(WITHIN);
    assert!(status.is_some_and(|s| s.success()), "{}", server.log_text());
}

/// The latency histogram, the bytes, the blocking pool's gauges and plugin panics, by the
/// real `promtool` too.
#[test]
fn histogram_bytes_pool_and_panics() {
    let plugins = ["echo", "selftest", "slow"].map(crate::util::plugin);
    let mut server = Server::spawn(command(&plugins, &["--admin", "127.0.0.1:0"]));
    let mut admin = Conn::open(admin_port(&server));
    let body = br#"{"bytes": 12345}"#;
    let mut out_bytes = 0;
    for _ in 0..4 {
        let answer = server.post("/api/v0/echo/read", body);
        assert_eq!(answer.status, 200);
        out_bytes += answer.body.len();
    }
    assert_eq!(
        server
            .post("/api/v0/self/create", br#"{"test": "1/0"}"#)
            .status,
        500
    );
    assert_eq!(server.post("/api/v0/slow/read", b"{}").status, 200);
    // The same 50 ms sleep, unmarked, twice: named once, counted twice.
    for _ in 0..2 {
        assert_eq!(server.post("/api/v0/slow/unmarked/read", b"{}").status, 200);
    }
    let text = scrape(&mut admin);
    let echo = "route=\"v0/echo\",action=\"read\"";
    let series = |name: &str, labels: &str| value(&text, &format!("{name}{{{labels}}}"));
    assert_eq!(
        series("apiphant_request_duration_seconds_count", echo),
        Some(4.0),
        "{text}"
    );
    assert_eq!(
        series(
            "apiphant_request_duration_seconds_bucket",
            &format!("{echo},le=\"+Inf\"")
        ),
        Some(4.0),
        "{text}"
    );
    assert!(series("apiphant_request_duration_seconds_sum", echo).is_some_and(|sum| sum > 0.0));
    // The slow action sleeps 50 ms: never in a bucket up to 0.025 s.
    let slow = "route=\"v0/slow\",action=\"read\"";
    assert_eq!(
        series(
            "apiphant_request_duration_seconds_bucket",
            &format!("{slow},le=\"0.025\"")
        ),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        series("apiphant_request_duration_seconds_count", slow),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        series("apiphant_request_body_bytes_total", echo),
        Some(4.0 * body.len() as f64),
        "{text}"
    );
    assert_eq!(
        series("apiphant_response_body_bytes_total", echo),
        Some(out_bytes as f64),
        "{text}"
    );
    assert_eq!(
        value(&text, "apiphant_plugin_panics_total"),
        Some(1.0),
        "{text}"
    );
    for gauge in [
        "apiphant_blocking_busy_threads",
        "apiphant_blocking_queue_depth",
        "apiphant_blocking_rejected_total",
    ] {
        assert_eq!(value(&text, gauge), Some(0.0), "{gauge}: {text}");
    }
    let unmarked = "route=\"v0/slow/unmarked\",action=\"read\"";
    assert_eq!(
        series("apiphant_unmarked_blocking_calls_total", unmarked),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        series("apiphant_unmarked_blocking_calls_total", slow),
        Some(0.0),
        "{text}"
    );
    let log = server.log_text();
    let named = crate::util::lines_containing(&log, "action v0/slow/unmarked read held its worker");
    assert_eq!(named.len(), 1, "{log}");
    assert!(named[0].contains("mark it .blocking()"), "{log}");
    assert!(!log.contains("action v0/slow read held"), "{log}");
    let status = server.terminate(WITHIN);
    assert!(status.is_some_and(|s| s.success()), "{}", server.log_text());
}

/// The blocking pool's gauges while it is full, and its 503 rejections counted.
#[test]
fn a_full_blocking_pool_shows_busy_queued_and_rejected() {
    // One thread, so a queue of 64 calls.
    let settings = "blocking_threads = 1\n\n[admin]\nlisten = \"127.0.0.1:0\"";
    let server = Server::start_configured(settings, &[crate::util::plugin("fixture-slow")]);
    let mut admin = Conn::open(admin_port(&server));
    let mut holder = server.connect();
    holder.send(&post("/api/v0/slow/read", br#"{"ms": 3000}"#, ""));
    let held = wait_until(WITHIN, || server.log_text().contains("sleeping 3000 ms"));
    assert!(held, "{}", server.log_text());
    let mut waiting: Vec<Conn> = (0..67).map(|_| server.connect()).collect();
    for conn in &mut waiting {
        conn.send(&post("/api/v0/slow/read", br#"{"ms": 0}"#, ""));
    }
    let queued = wait_until(WITHIN, || {
        let text = get(&mut admin, "/metrics").text();
        value(&text, "apiphant_blocking_queue_depth") == Some(64.0)
            && value(&text, "apiphant_blocking_busy_threads") == Some(1.0)
            && value(&text, "apiphant_blocking_rejected_total") == Some(3.0)
    });
    assert!(queued, "{}", scrape(&mut admin));
    let statuses: Vec<u16> = waiting
        .iter_mut()
        .map(|conn| conn.response(WITHIN).map_or(0, |answer| answer.status))
        .collect();
    assert_eq!(statuses.iter().filter(|&&status| status == 503).count(), 3);
    assert_eq!(statuses.iter().filter(|&&status| status == 200).count(), 64);
    assert_eq!(
        holder.response(WITHIN).map(|answer| answer.status),
        Some(200)
    );
    let text = scrape(&mut admin);
    assert_eq!(
        value(&text, "apiphant_blocking_queue_depth"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "apiphant_blocking_busy_threads"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "apiphant_blocking_rejected_total"),
        Some(3.0),
        "{text}"
    );
}

/// The background worker's own admin listener (`apiphant-background --admin`): runs,
/// failures, durations and last success per task, emails sent and failed, build info;
/// `/readyz` 503 once SIGTERM arrives; checked by the real `promtool`.
#[test]
fn the_worker_has_its_own_metrics_and_health() {
    // An SMTP port nothing listens on: every failure's email fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port");
    let email = format!(
        "shutdown_grace_secs = 5\n[email]\nhost = \"127.0.0.1\"\nport = {closed}\ntls = \"none\"\n\
         from = \"bot@example.com\"\nto = [\"ops@example.com\"]\n"
    );
    // At start: tick, explode and fail run (two failures, two failed emails), then slow
    // sleeps 4 s, the time to scrape and to see /readyz drain.
    let slow = [("TICKER_SLOW_MS", "4000")];
    let mut worker = Worker::start_with(&email, &slow, &["--admin", "127.0.0.1:0"]);
    let log = worker.wait_for("slow: sleeping", 1, WITHIN);
    let mut admin = Conn::open(admin_port_in(&log));
    assert_eq!(get(&mut admin, "/livez").status, 200);
    assert_eq!(get(&mut admin, "/readyz").status, 200);
    let text = scrape(&mut admin);
    let runs = |task: &str| {
        value(
            &text,
            &format!("apiphant_task_runs_total{{task=\"{task}\"}}"),
        )
    };
    assert!(runs("tick").is_some_and(|n| n >= 1.0), "{text}");
    assert_eq!(runs("explode"), Some(1.0), "{text}");
    let failures = |task: &str| {
        value(
            &text,
            &format!("apiphant_task_failures_total{{task=\"{task}\"}}"),
        )
    };
    assert_eq!(failures("tick"), Some(0.0), "{text}");
    assert_eq!(failures("explode"), Some(1.0), "{text}");
    assert_eq!(failures("fail"), Some(1.0), "{text}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64());
    let last = value(
        &text,
        "apiphant_task_last_success_timestamp_seconds{task=\"tick\"}",
    );
    assert!(last.is_some_and(|t| (now - t).abs() < 30.0), "{text}");
    assert!(
        !text.contains("apiphant_task_last_success_timestamp_seconds{task=\"explode\"}"),
        "{text}"
    );
    assert!(
        value(&text, "apiphant_task_duration_seconds_count{task=\"tick\"}")
            .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "apiphant_emails_failed_total"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "apiphant_emails_sent_total"),
        Some(0.0),
        "{text}"
    );
    assert!(text.contains("apiphant_build_info{version=\""), "{text}");
    assert_eq!(get(&mut admin, "/nothing").status, 404);
    // SIGTERM while the slow task runs: /readyz turns 503 during the grace period.
    let pid = worker.child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let draining = wait_until(WITHIN, || get(&mut admin, "/readyz").status == 503);
    assert!(draining, "/readyz did not turn 503:\n{}", worker.log_text());
    let status = worker.terminate(WITHIN);
    assert!(status.is_some_and(|s| s.success()), "{}", worker.log_text());
}

//! `apiphant-background` end to end: the real binary on a temporary product with the ticker
//! fixture (a task every second, one that panics, one that fails with a cause chain, one
//! that can be slow), its log, its exit codes, and error emails to a real SMTP server
//! (aiosmtpd, tests/smtp_server.py) that accepts, refuses the login, or is down or silent.

use crate::util::{
    command, plugin, run_within, start_failure, worker_command, worker_product, SmtpServer,
    TempDir, Worker,
};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

const SECONDS_30: Duration = Duration::from_secs(30);

/// The times of the lines containing `needle`, in seconds of the day.
fn times_of(log: &str, needle: &str) -> Vec<f64> {
    log.lines()
        .filter(|line| line.contains(needle))
        .filter_map(|line| {
            let stamp = line.split('[').nth(1)?.split(']').next()?;
            let clock = stamp.split(' ').nth(1)?.replace(',', ".");
            let mut parts = clock.split(':').map(|p| p.parse::<f64>().ok());
            Some(parts.next()?? * 3600.0 + parts.next()?? * 60.0 + parts.next()??)
        })
        .collect()
}

fn email_section(port: u16, extra: &str) -> String {
    format!(
        "shutdown_grace_secs = 5\n[email]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\n\
         from = \"apiphant <bot@example.com>\"\nto = [\"ops@example.com\", \"dev@example.com\"]\n\
         subject_prefix = \"[ticker] \"\n{extra}"
    )
}

#[test]
fn ticks_panics_and_cause_chains_in_the_original_log_shape() {
    let marker =
        std::env::temp_dir().join(format!("apiphant-it-{}-ticker-stopped", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let mut worker = Worker::start("", &[("TICKER_SHUTDOWN", &marker.to_string_lossy())]);
    let log = worker.wait_for("Task tick: OK.", 4, SECONDS_30);
    assert!(
        log.contains("Apiphant is scheduling ticker (times in UTC): tick (every 1 s), explode (every 3600 s)"),
        "{log}"
    );
    // At start: every task once, shortest interval first, then declaration order.
    let first = |needle: &str| log.find(needle).unwrap_or(usize::MAX);
    assert!(
        first("Task tick: OK.") < first("Task explode failed:"),
        "{log}"
    );
    assert!(
        first("Task explode failed:") < first("Task fail failed:"),
        "{log}"
    );
    // The panic: message, the task's own location and frame.
    assert!(
        log.contains("Task explode failed:\npanicked at tests/fixtures/ticker/src/lib.rs:"),
        "{log}"
    );
    assert!(log.contains("boom from explode"), "{log}");
    assert!(log.contains("fixture_ticker::explode"), "{log}");
    // The error: its cause chain.
    assert!(
        log.contains(
            "Task fail failed:\ncould not update the upstream cache\nCaused by:\n    0: connection refused by upstream"
        ),
        "{log}"
    );
    // The plugin's on_error hook ran for each failure; no email configured.
    assert_eq!(
        log.matches("on_error: OK. Hook of libfixture_ticker.so.")
            .count(),
        2,
        "{log}"
    );
    assert!(log.contains("[task on_error] hook saw explode"), "{log}");
    // Ticks follow their planned times, whole seconds after the first: no drift from the
    // time the failures took (a late tick skips slots, it does not shift the next ones).
    let ticks = times_of(&log, "Task tick: OK.");
    for tick in &ticks[1..] {
        let offset = tick - ticks[0];
        let drift = offset - offset.round();
        assert!(
            offset >= 0.5 && drift.abs() < 0.45,
            "tick at +{offset} s in {ticks:?}\n{log}"
        );
    }
    let status = worker
        .terminate(Duration::from_secs(10))
        .expect("exits on SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", worker.log_text());
    let log = worker.log_text();
    assert!(log.contains("Received SIGTERM: stopping."));
    // ABI 2: tasks and hooks carry a request id; a graceful stop runs the shutdown hook.
    assert!(log.contains("[task tick] tick as task-tick-"), "{log}");
    assert!(log.contains("as on_error-explode-"), "{log}");
    let stopped = std::fs::read_to_string(&marker).unwrap_or_default();
    let _ = std::fs::remove_file(&marker);
    assert_eq!(stopped, "stopped\n", "{log}");
}

#[test]
fn failures_are_emailed_to_a_real_smtp_server() {
    let smtp = SmtpServer::start(false);
    let worker = Worker::start(&email_section(smtp.port, ""), &[]);
    let messages = smtp.wait_messages(2, SECONDS_30);
    let explode = messages
        .iter()
        .find(|m| m.contains("Subject: [ticker] Task explode failed"))
        .unwrap_or_else(|| panic!("no email for explode in {messages:#?}"));
    assert!(
        explode.starts_with("X-Envelope-From: bot@example.com\r\n"),
        "{explode}"
    );
    assert!(
        explode.contains("X-Envelope-To: ops@example.com, dev@example.com\r\n"),
        "{explode}"
    );
    assert!(
        explode.contains("From: apiphant <bot@example.com>"),
        "{explode}"
    );
    assert!(
        explode.contains("To: ops@example.com, dev@example.com"),
        "{explode}"
    );
    let body = explode.replace("=\r\n", "");
    assert!(body.contains("boom from explode"), "{explode}");
    assert!(body.contains("fixture_ticker::explode"), "{explode}");
    let fail = messages
        .iter()
        .find(|m| m.contains("Subject: [ticker] Task fail failed"))
        .unwrap_or_else(|| panic!("no email for fail in {messages:#?}"));
    assert!(fail.contains("connection refused by upstream"), "{fail}");
    let log = worker.wait_for(
        "on_error: OK. emailed ops@example.com, dev@example.com.",
        2,
        SECONDS_30,
    );
    // The plugin hook runs in addition to the email.
    assert_eq!(log.matches("on_error: OK. Hook of").count(), 2, "{log}");
}

/// After `on_error failed` (twice: explode, fail), ticks go on.
fn keeps_running_after_email_failure(email: &str, reason: &str) -> String {
    let worker = Worker::start(email, &[]);
    let log = worker.wait_for("on_error failed: emailing ops@example.com", 2, SECONDS_30);
    assert!(log.contains(reason), "{reason:?} not in\n{log}");
    let oks = log.matches("Task tick: OK.").count();
    let log = worker.wait_for("Task tick: OK.", oks + 2, Duration::from_secs(10));
    let last_failure = log.rfind("on_error failed").unwrap_or(0);
    assert!(log[last_failure..].contains("Task tick: OK."), "{log}");
    log
}

#[test]
fn smtp_down_does_not_stop_the_worker() {
    // A port nothing listens on: bound, then released.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("free port");
    keeps_running_after_email_failure(&email_section(port, ""), &format!("via 127.0.0.1:{port}: "));
}

#[test]
fn smtp_refusing_the_login_does_not_stop_the_worker() {
    let smtp = SmtpServer::start(true);
    let email = email_section(smtp.port, "username = \"apiphant\"\n");
    let worker_log = {
        let worker = Worker::start(&email, &[("APIPHANT_SMTP_PASSWORD", "wrong")]);
        let log = worker.wait_for("on_error failed: emailing ops@example.com", 2, SECONDS_30);
        assert!(log.contains("535"), "{log}");
        worker.wait_for(
            "Task tick: OK.",
            log.matches("Task tick: OK.").count() + 2,
            SECONDS_30,
        )
    };
    assert!(worker_log.contains("Task tick: OK."));
    assert!(smtp.wait_messages(0, Duration::ZERO).is_empty());
}

#[test]
fn a_silent_smtp_server_times_out_and_missed_ticks_are_skipped() {
    // Accepts connections and never answers: the timeout (1 s here, 30 s by default) ends
    // each attempt; the ticks due meanwhile run once, with the skipped slots logged.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let log = keeps_running_after_email_failure(
        &email_section(port, "timeout_secs = 1\n"),
        "no answer within 1 s (timeout_secs)",
    );
    assert!(
        log.contains("missed run(s) skipped; running once for"),
        "{log}"
    );
    drop(listener);
}

#[test]
fn sigterm_lets_the_running_task_finish() {
    let mut worker = Worker::start("shutdown_grace_secs = 5", &[("TICKER_SLOW_MS", "1500")]);
    worker.wait_for("slow: sleeping", 1, SECONDS_30);
    let status = worker.terminate(Duration::from_secs(10)).expect("exits");
    assert_eq!(status.code(), Some(0));
    let log = worker.log_text();
    assert!(
        log.contains("Received SIGTERM: letting task slow finish (at most 5 s)."),
        "{log}"
    );
    assert!(log.contains("Task slow: OK."), "{log}");
    assert!(log.contains("Stopped after task slow finished."), "{log}");
}

#[test]
fn sigterm_stops_waiting_after_the_grace_period() {
    let mut worker = Worker::start("shutdown_grace_secs = 0.2", &[("TICKER_SLOW_MS", "20000")]);
    worker.wait_for("slow: sleeping", 1, SECONDS_30);
    let status = worker
        .terminate(Duration::from_secs(5))
        .expect("exits within the grace");
    assert_eq!(status.code(), Some(0));
    let log = worker.log_text();
    assert!(
        log.contains("did not finish within the grace period"),
        "{log}"
    );
    assert!(!log.contains("Task slow: OK."), "{log}");
}

#[test]
fn one_worker_per_product() {
    let worker = Worker::start("", &[]);
    let lock = worker.dir.path().join("worker.lock");
    let (code, stderr) = start_failure(&mut worker_command(worker.dir.path(), &[]));
    assert_eq!(code, Some(2), "{stderr}");
    let expected = format!(
        "apiphant-background: another apiphant-background (PID {}) holds the lock file '{}'",
        worker.child.id(),
        lock.display()
    );
    assert!(stderr.starts_with(&expected), "{stderr}");
}

/// The one `apiphant-background: ` line of a worker that must not start on `product`.
fn refused_line(product: &Path) -> String {
    let (code, stderr) = start_failure(&mut worker_command(product, &[]));
    assert_eq!(code, Some(2), "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("apiphant-background: "))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    lines[0].to_owned()
}

/// A lock file planted by someone else (a symlink to a file the worker's user may write,
/// another user's file, a second name of a file) is refused with one line and never
/// written: the worker neither follows the link nor truncates what it did not create.
#[test]
fn a_planted_lock_file_is_refused_and_never_written() {
    let product = worker_product("");
    let lock = product.path().join("worker.lock");
    let victim = product.path().join("victim");
    std::fs::write(&victim, "precious\n").expect("write");
    let fix = "remove it, or set [background] lock_file in apiphant.toml to a path in a folder only this user can write";
    let refusal = |reason: &str| {
        format!(
            "apiphant-background: refusing the lock file '{}': {reason}",
            lock.display()
        )
    };
    std::os::unix::fs::symlink(&victim, &lock).expect("symlink");
    assert_eq!(
        refused_line(product.path()),
        refusal("it is a symbolic link (planted there, it would make the worker write where it points): remove it, or set [background] lock_file in apiphant.toml to a path in a folder only this user can write")
    );
    assert_eq!(
        std::fs::read_to_string(&victim).ok().as_deref(),
        Some("precious\n")
    );
    std::fs::remove_file(&lock).expect("rm");
    std::fs::hard_link(&victim, &lock).expect("link");
    assert_eq!(
        refused_line(product.path()),
        refusal(&format!(
            "it has 2 names (hard links): the worker would write into another file; {fix}"
        ))
    );
    assert_eq!(
        std::fs::read_to_string(&victim).ok().as_deref(),
        Some("precious\n")
    );
    std::fs::remove_file(&lock).expect("rm");
    std::fs::write(&lock, "precious\n").expect("write");
    const NOBODY: u32 = 65534;
    match std::os::unix::fs::chown(&lock, Some(NOBODY), Some(NOBODY)) {
        Ok(()) => {
            let me =
                std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&victim).expect("stat"));
            assert_eq!(
                refused_line(product.path()),
                refusal(&format!("it is owned by uid {NOBODY}, not by the worker's user (uid {me}): another user created it; {fix}"))
            );
            assert_eq!(
                std::fs::read_to_string(&lock).ok().as_deref(),
                Some("precious\n")
            );
        }
        Err(error) => eprintln!("SKIPPED the foreign file (chown needs root): {error}"),
    }
}

/// By default the lock is `run/apiphant-background.lock` in the product's folder (created
/// mode 0700), never a predictable name in the shared temporary directory.
#[test]
fn the_default_lock_is_in_the_product_run_folder() {
    let dir = TempDir::new("default-lock");
    std::fs::write(dir.path().join("apiphant.toml"), "name = \"ticker\"\n").expect("write");
    let log = dir.path().join("worker.log");
    let file = std::fs::File::create(&log).expect("log file");
    let child = worker_command(dir.path(), &[])
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(file)
        .spawn()
        .expect("apiphant-background starts");
    let mut worker = Worker { child, log, dir };
    worker.wait_for("Apiphant is scheduling", 1, SECONDS_30);
    let run = worker.dir.path().join("run");
    let lock = run.join("apiphant-background.lock");
    assert_eq!(
        std::fs::read_to_string(&lock)
            .ok()
            .map(|pid| pid.trim().to_owned()),
        Some(worker.child.id().to_string())
    );
    let mode = std::fs::metadata(&run).map(|m| m.permissions().mode() & 0o777);
    assert_eq!(mode.ok(), Some(0o700));
    // A second worker is refused by that lock.
    let line = refused_line(worker.dir.path());
    assert!(
        line.contains(&format!("holds the lock file '{}'", lock.display())),
        "{line}"
    );
    assert_eq!(worker.terminate(SECONDS_30).and_then(|s| s.code()), Some(0));
}

#[test]
fn list_and_run() {
    let product = worker_product("");
    let (code, listed, _) =
        run_within(&mut worker_command(product.path(), &["--list"]), SECONDS_30);
    assert_eq!(code, Some(0), "{listed}");
    let names: Vec<&str> = listed
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names, ["tick", "explode", "fail", "slow"]);
    assert!(
        listed.lines().next().unwrap_or("").contains("every 1 s"),
        "{listed}"
    );
    assert!(listed.contains("at start, then 20"), "{listed}");

    let run = |name: &str| {
        run_within(
            &mut worker_command(product.path(), &["--run", name]),
            SECONDS_30,
        )
    };
    assert_eq!(run("tick").0, Some(0));
    assert_eq!(run("tick").1, "Task tick: OK.\n");
    let (code, stdout, _) = run("fail");
    assert_eq!(code, Some(1));
    assert!(
        stdout.contains("Caused by:\n    0: connection refused by upstream"),
        "{stdout}"
    );
    let (code, stdout, _) = run("explode");
    assert_eq!(code, Some(1));
    assert!(stdout.contains("boom from explode"), "{stdout}");
    let (code, _, stderr) = run("nope");
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("no task named 'nope' (tasks: tick, explode, fail, slow)"),
        "{stderr}"
    );
}

#[test]
fn start_up_mistakes_are_one_line_and_exit_2() {
    let one_line = |command: &mut std::process::Command, expected: &[&str]| {
        let (code, stderr) = start_failure(command);
        assert_eq!(code, Some(2), "{stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        for part in expected {
            assert!(lines[0].contains(part), "{part:?} not in {stderr}");
        }
    };
    let product = worker_product("");
    let mut badcron = worker_command(product.path(), &[]);
    badcron.arg("--plugin").arg(plugin("fixture-badcron"));
    one_line(
        &mut badcron,
        &["task 'nightly' has an invalid schedule '0 3 * * 8': day of week '8' is not 0-7"],
    );
    let bad_address =
        worker_product(&email_section(25, "").replace("dev@example.com", "not an address"));
    one_line(
        &mut worker_command(bad_address.path(), &[]),
        &[
            "apiphant.toml",
            "[email] to 'not an address' is not an email address",
        ],
    );
    let unknown_key = worker_product("timezone = \"UTC\"");
    one_line(
        &mut worker_command(unknown_key.path(), &[]),
        &["apiphant.toml", "timezone"],
    );
    let no_password = worker_product(&email_section(25, "username = \"u\"\n"));
    one_line(
        worker_command(no_password.path(), &[]).env_remove("APIPHANT_SMTP_PASSWORD"),
        &["APIPHANT_SMTP_PASSWORD"],
    );
    let mut no_tasks = std::process::Command::new(env!("CARGO_BIN_EXE_apiphant-background"));
    no_tasks
        .arg(product.path())
        .arg("--plugin")
        .arg(plugin("echo"));
    one_line(&mut no_tasks, &["no background tasks", "tasks {"]);
}

#[test]
fn the_server_ignores_tasks() {
    let (code, stderr) = start_failure(&mut command(
        &[plugin("background"), plugin("echo")],
        &["--check"],
    ));
    assert_eq!(code, Some(0), "{stderr}");
}

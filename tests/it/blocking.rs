//! Blocking actions (`.blocking()` in `export!`) run on the blocking pool: while every
//! worker thread would be held by them, other requests are still answered at once.

use crate::util::{plugin, Server};
use apiphant::testing::Client;
use std::time::{Duration, Instant};

#[test]
fn a_marked_blocking_action_does_not_stall_other_requests() {
    let server = Server::start_with(&[plugin("echo"), plugin("slow")], &[]);
    // More sleepers than worker threads (one per core), within the pool's 16 threads.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let sleepers: Vec<_> = (0..(4 * cores).min(16))
        .map(|_| {
            let port = server.port;
            std::thread::spawn(move || {
                Client::new("127.0.0.1", port)
                    .send("POST", "/api/v0/slow/read", &[], br#"{"ms": 1000}"#)
                    .expect("response")
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let echo = server.post("/api/v0/echo/read", br#"{"a": 1}"#);
    let waited = started.elapsed();
    assert_eq!(echo.body, br#"{"a":1,"server":"myproduct"}"#);
    assert!(
        waited < Duration::from_millis(500),
        "echo waited {waited:?} behind blocking actions"
    );
    for sleeper in sleepers {
        let response = sleeper.join().expect("client thread");
        assert_eq!(response.status, 200);
        assert_eq!(response.body, br#"{"slept_ms":1000}"#);
    }
}

/// A blocking action past its own deadline (`.timeout(1.0)`): the client gets 504 in
/// JSON after about a second, the call is logged as stuck (and again when it ends), and
/// the pool answers other calls meanwhile.
#[test]
fn a_blocking_action_past_its_deadline_is_504_and_the_pool_stays_usable() {
    let server = Server::start_configured("blocking_threads = 2", &[plugin("fixture-slow")]);
    let started = Instant::now();
    let response = server.post("/api/v0/slow/update", br#"{"ms": 3000}"#);
    let took = started.elapsed();
    assert_eq!(response.status, 504, "{}", server.log_text());
    assert_eq!(response.body, br#"{"error":"504 Gateway Timeout"}"#);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2500),
        "504 after {took:?}"
    );
    // The other pool thread still serves while the stuck call runs on.
    let other = server.post("/api/v0/slow/read", br#"{"ms": 10}"#);
    assert_eq!(other.status, 200);
    assert!(crate::util::wait_until(Duration::from_secs(10), || server
        .log_text()
        .contains(
            "action v0/slow update ended after its deadline (0 call(s) still stuck)"
        )));
    let log = server.log_text();
    assert!(
        log.contains("504 for /api/v0/slow/update (v0/slow update): no answer within 1.0 s; the call runs on, stuck, on its pool thread (1 stuck)"),
        "{log}"
    );
}

/// `action_timeout_secs`: the deadline of a blocking action without its own.
#[test]
fn the_server_wide_deadline_applies_to_blocking_actions_without_their_own() {
    let server = Server::start_configured("action_timeout_secs = 0.5", &[plugin("fixture-slow")]);
    let started = Instant::now();
    let response = server.post("/api/v0/slow/read", br#"{"ms": 2000}"#);
    assert_eq!(response.status, 504);
    assert!(
        started.elapsed() < Duration::from_millis(1800),
        "{:?}",
        started.elapsed()
    );
    let quick = server.post("/api/v0/slow/read", br#"{"ms": 10}"#);
    assert_eq!(quick.status, 200);
}

/// Slow clients calling the unmarked 300 ms sleep on 2 coroutine workers while echo is
/// timed: the median of 5 echo calls, and the log.
fn echo_beside_unmarked_sleepers(auto_offload: bool) -> (Duration, String) {
    let settings = format!("workers = 2\nauto_offload = {auto_offload}");
    let server = Server::start_configured(&settings, &[plugin("echo"), plugin("slow")]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sleepers: Vec<_> = (0..8)
        .map(|_| {
            let (port, stop) = (server.port, std::sync::Arc::clone(&stop));
            std::thread::spawn(move || {
                let client = Client::new("127.0.0.1", port);
                let until = Instant::now() + Duration::from_secs(30);
                let mut answered = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < until {
                    let sent =
                        client.send("POST", "/api/v0/slow/unmarked/read", &[], br#"{"ms": 300}"#);
                    assert_eq!(sent.map(|r| r.status).ok(), Some(200));
                    answered += 1;
                }
                answered
            })
        })
        .collect();
    // The watchdog catches the sleeps at once; then echo is timed while the sleepers go on.
    let named = crate::util::wait_until(Duration::from_secs(20), || {
        server
            .log_text()
            .contains("action v0/slow/unmarked read held its worker")
    });
    assert!(named, "the watchdog named nothing:\n{}", server.log_text());
    std::thread::sleep(Duration::from_millis(1500));
    let mut waits: Vec<Duration> = (0..5)
        .map(|n| {
            let started = Instant::now();
            let body = format!("{{\"n\": {n}}}");
            let echo = server.post("/api/v0/echo/read", body.as_bytes());
            assert_eq!(echo.status, 200);
            started.elapsed()
        })
        .collect();
    waits.sort();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for sleeper in sleepers {
        let answered = sleeper.join().expect("sleeper thread");
        assert!(answered >= 2, "a slow client was starved");
    }
    (waits[2], server.log_text())
}

/// `[server] auto_offload = true`: the unmarked slow action, caught 3 times within a
/// minute, is named, then moved to the blocking pool with a log line; echo is answered
/// at once again while the slow clients keep calling.
#[test]
fn auto_offload_moves_an_action_the_watchdog_keeps_catching() {
    let (echo, log) = echo_beside_unmarked_sleepers(true);
    let moved =
        crate::util::lines_containing(&log, "auto_offload: action v0/slow/unmarked read held");
    assert_eq!(moved.len(), 1, "{log}");
    assert!(
        moved[0].contains("runs on the blocking pool from now on"),
        "{log}"
    );
    assert!(
        echo < Duration::from_millis(150),
        "echo waited {echo:?} (median) behind the moved action\n{log}"
    );
}

/// `auto_offload` off (the default): the watchdog still names the action, and moves
/// nothing.
#[test]
fn without_auto_offload_the_action_is_named_and_stays() {
    let (echo, log) = echo_beside_unmarked_sleepers(false);
    let named = crate::util::lines_containing(&log, "action v0/slow/unmarked read held its worker");
    assert_eq!(named.len(), 1, "{log}");
    assert!(named[0].contains("mark it .blocking()"), "{log}");
    assert!(named[0].contains("auto_offload = true"), "{log}");
    assert!(!log.contains("auto_offload: action"), "{log}");
    eprintln!("echo beside unmarked sleepers, auto_offload off: median {echo:?}");
}

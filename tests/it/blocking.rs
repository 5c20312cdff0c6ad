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

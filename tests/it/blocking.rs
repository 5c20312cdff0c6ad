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

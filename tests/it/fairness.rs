//! Fairness: a connection that waits for its socket is served in turn while other
//! connections keep the worker thread busy. (A connection loop that yielded before each
//! wait starved such connections: may drains its run queue before it polls epoll again.)

use crate::util::{plugin, Conn, Server};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const REQUEST: &[u8] =
    b"POST /api/v0/echo/read HTTP/1.1\r\nHost: t\r\nContent-Length: 8\r\n\r\n{\"a\": 1}";
const BODY: &[u8] = br#"{"a":1,"server":"myproduct"}"#;

/// One request on a keep-alive connection and its whole answer (200 with the echo's body).
fn echo(conn: &mut Conn) {
    let answer = conn
        .send(REQUEST)
        .response(Duration::from_secs(10))
        .expect("an answer within 10 s");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.body, BODY, "{}", answer.text());
}

#[test]
fn a_waiting_connection_is_not_starved_by_busy_ones() {
    let server = Server::start_configured("workers = 1", &[plugin("echo")]);
    let port = server.port;
    let stop = Arc::new(AtomicBool::new(false));
    // Busy connections: each sends its next request as soon as it has its answer, so the
    // one worker always has some of them ready to run.
    let busy: Vec<_> = (0..32)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut connection = Conn::open(port);
                let mut served = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    echo(&mut connection);
                    served += 1;
                }
                served
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // The probe: a request every 20 ms on its own keep-alive connection, so it is always
    // waiting in epoll when its request arrives.
    let mut probe = Conn::open(port);
    let mut worst = Duration::ZERO;
    for _ in 0..60 {
        std::thread::sleep(Duration::from_millis(20));
        let started = Instant::now();
        echo(&mut probe);
        worst = worst.max(started.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    let served: u64 = busy
        .into_iter()
        .map(|thread| thread.join().expect("busy client"))
        .sum();
    assert!(served > 1000, "the busy connections made {served} requests");
    assert!(
        worst < Duration::from_millis(250),
        "the probe waited up to {worst:?} behind {served} busy requests"
    );
}

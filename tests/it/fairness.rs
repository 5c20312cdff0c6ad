//! Fairness: a connection that waits for its socket is served in turn while other
//! connections keep the worker thread busy. (A connection loop that yielded before each
//! wait starved such connections: may drains its run queue before it polls epoll again.)

use crate::util::{plugin, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const REQUEST: &[u8] =
    b"POST /api/v0/echo/read HTTP/1.1\r\nHost: t\r\nContent-Length: 8\r\n\r\n{\"a\": 1}";
const BODY: &[u8] = br#"{"a":1,"server":"myproduct"}"#;

/// One keep-alive connection sending the echo request and reading its answer.
struct KeepAlive {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl KeepAlive {
    fn connect(port: u16) -> KeepAlive {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        stream.set_nodelay(true).expect("nodelay");
        KeepAlive {
            stream,
            buf: Vec::with_capacity(1024),
        }
    }

    /// One request and its whole answer (200 with the echo's body).
    fn echo(&mut self) {
        self.stream.write_all(REQUEST).expect("write request");
        self.buf.clear();
        let mut chunk = [0u8; 1024];
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                if self.buf.len() >= end + 4 + BODY.len() {
                    assert!(
                        self.buf.starts_with(b"HTTP/1.1 200 OK\r\n"),
                        "{:?}",
                        self.text()
                    );
                    assert!(self.buf.ends_with(BODY), "{:?}", self.text());
                    return;
                }
            }
            let n = self.stream.read(&mut chunk).unwrap_or_else(|error| {
                panic!("no answer within 10 s ({error}); so far: {:?}", self.text())
            });
            assert!(n > 0, "closed after {:?}", self.text());
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf).into_owned()
    }
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
                let mut connection = KeepAlive::connect(port);
                let mut served = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    connection.echo();
                    served += 1;
                }
                served
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // The probe: a request every 20 ms on its own keep-alive connection, so it is always
    // waiting in epoll when its request arrives.
    let mut probe = KeepAlive::connect(port);
    let mut worst = Duration::ZERO;
    for _ in 0..60 {
        std::thread::sleep(Duration::from_millis(20));
        let started = Instant::now();
        probe.echo();
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

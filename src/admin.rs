//! The admin listener's application (`--admin HOST:PORT` or `[admin] listen`), served by
//! the same connection loop as the API on its own address: `GET /livez` (the process
//! answers), `GET /readyz` (503 as soon as the shutdown's grace period starts, so a balancer
//! drains the process; it asks no database), `GET /metrics` (Prometheus text format,
//! `metrics.rs`). The public listener serves none of these. The background worker serves
//! the same endpoints of its own ([`Observed`] is what each process reports).

use crate::app::Application;
use crate::http::{self, Limits, RequestHead, Shared};
use crate::metrics::Gauges;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// What a process reports on its admin listener.
pub(crate) trait Observed: Send + Sync + std::fmt::Debug {
    /// Whether `/readyz` says ready (false from the start of the shutdown).
    fn ready(&self) -> bool;
    /// The `/metrics` exposition.
    fn exposition(&self) -> String;
}

/// The admin endpoints over what a process reports, with the thread that renders
/// `/metrics`.
#[derive(Debug)]
pub(crate) struct Admin {
    observed: &'static dyn Observed,
    renderer: Renderer,
}

/// Renders the exposition on a thread of its own, so a scrape (a few hundred kB for a
/// hundred routes, ~1-2 ms) never holds a coroutine worker and the connections it serves:
/// the admin connection's coroutine waits for the text (a may channel), the worker serves
/// requests meanwhile; the thread runs in the kernel's idle class (`SCHED_IDLE`), so on a
/// busy core the kernel runs the workers first and a waking worker preempts it at once.
/// At most [`Renderer::QUEUE`] scrapes wait; more get 503.
#[derive(Debug)]
struct Renderer {
    work: std::sync::mpsc::SyncSender<may::sync::mpsc::Sender<String>>,
}

impl Renderer {
    /// Scrapes that may wait for the renderer at once.
    const QUEUE: usize = 4;
    /// How long a scrape waits for its text before a 503.
    const WAIT: Duration = Duration::from_secs(10);

    fn start(observed: &'static dyn Observed) -> io::Result<Renderer> {
        let (work, asked) =
            std::sync::mpsc::sync_channel::<may::sync::mpsc::Sender<String>>(Self::QUEUE);
        std::thread::Builder::new()
            .name("admin metrics".to_owned())
            .spawn(move || {
                crate::sys::lower_this_thread_priority();
                for reply in asked {
                    let _ = reply.send(observed.exposition());
                }
            })?;
        Ok(Renderer { work })
    }

    /// The exposition, or `None` when the renderer is busy or gone.
    fn render(&self) -> Option<String> {
        let (reply, text) = may::sync::mpsc::channel();
        self.work.try_send(reply).ok()?;
        text.recv_timeout(Self::WAIT).ok()
    }
}

/// What the API process reports.
#[derive(Debug)]
pub(crate) struct Api {
    /// The API's application: the serving generation's counters.
    pub(crate) app: &'static Application,
    /// The API listener's shared state: in flight, shutting down.
    pub(crate) api: &'static Shared,
    /// The API listener's open connections.
    pub(crate) connections: &'static AtomicUsize,
}

impl Observed for Api {
    fn ready(&self) -> bool {
        !self.api.is_shutting_down()
    }

    fn exposition(&self) -> String {
        let generation = self.app.current().get();
        let gauges = Gauges {
            in_flight: self.api.in_flight(),
            connections: self.connections.load(Ordering::Relaxed),
            ready: self.ready(),
        };
        generation
            .metrics
            .as_ref()
            .map_or_else(String::new, |metrics| {
                metrics.render(gauges, generation.watchdog.as_ref())
            })
    }
}

/// Binds the admin listener at `addr` and serves `observed` on coroutines (the API's
/// connection loop, its own limits and shutdown flag: it keeps answering, `/readyz` with
/// 503, through the grace period); returns the bound address.
pub(crate) fn listen(
    observed: &'static dyn Observed,
    addr: SocketAddr,
    limits: Limits,
    stack: usize,
) -> io::Result<SocketAddr> {
    if addr.port() != 0 {
        drop(std::net::TcpListener::bind(addr).map_err(crate::server::bind_error)?);
    }
    let listener = may::net::TcpListener::bind(addr).map_err(crate::server::bind_error)?;
    let bound = listener.local_addr()?;
    let shared: &'static Shared = Box::leak(Box::new(Shared::start(limits)?));
    let admin: &'static Admin = Box::leak(Box::new(Admin {
        observed,
        renderer: Renderer::start(observed)?,
    }));
    crate::coroutine::spawn("admin", stack, move || {
        for stream in listener.incoming() {
            let spawned = stream.and_then(|stream| {
                crate::coroutine::spawn("admin connection", stack, move || {
                    http::serve(stream, admin, shared);
                })
            });
            if let Err(error) = spawned {
                log::warn!("admin listener: {error}");
                may::coroutine::sleep(Duration::from_millis(10));
            }
        }
    })?;
    log::info!("admin listener at http://{bound} (/livez, /readyz, /metrics)");
    Ok(bound)
}

/// An admin answer: plain text.
#[derive(Debug)]
pub(crate) struct Page {
    status: u16,
    content_type: &'static [u8],
    body: Vec<u8>,
}

const TEXT: &[u8] = b"Content-Type: text/plain; charset=utf-8\r\n";
const EXPOSITION: &[u8] = b"Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n";

fn page(status: u16, content_type: &'static [u8], body: impl Into<Vec<u8>>) -> Page {
    Page {
        status,
        content_type,
        body: body.into(),
    }
}

impl http::App for Admin {
    /// Every admin answer is decided from the head.
    type Route = ();
    type Reply = Page;

    fn route(&self, head: &RequestHead<'_>) -> Result<(), Page> {
        let target = head.target_text();
        let path = target.split_once('?').map_or(target, |(path, _)| path);
        let known = matches!(path, "/livez" | "/readyz" | "/metrics");
        if !known {
            return Err(page(404, TEXT, "not found: /livez, /readyz, /metrics\n"));
        }
        if head.method != "GET" && head.method != "HEAD" {
            return Err(page(405, TEXT, "only GET\n"));
        }
        let ready = self.observed.ready();
        Err(match path {
            "/livez" => page(200, TEXT, "ok\n"),
            "/readyz" if ready => page(200, TEXT, "ready\n"),
            "/readyz" => page(503, TEXT, "shutting down\n"),
            _ => match self.renderer.render() {
                Some(text) => page(200, EXPOSITION, text),
                None => page(503, TEXT, "metrics busy: retry\n"),
            },
        })
    }

    fn call(&self, _route: (), _request: &http::Request<'_>) -> Page {
        page(404, TEXT, "not found\n")
    }
}

impl http::Reply for Page {
    fn status(&self) -> u16 {
        self.status
    }

    fn header_lines(&self) -> Option<&[u8]> {
        Some(self.content_type)
    }

    fn body(&self) -> &[u8] {
        &self.body
    }
}

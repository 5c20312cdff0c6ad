//! The application behind the HTTP loop's seam ([`http::App`]): the ordered checks of a
//! request head (route, CORS preflight, method, token and scopes), then the plugins' calls
//! ([`dispatch::call`], on the blocking pool for an action marked `blocking`), each answer
//! carrying the lines its request adds (CORS, `WWW-Authenticate`) and its caller's identity.
//! A request is routed and called by the plugin generation serving when its head arrived
//! (`crate::generation`): a reload in between changes nothing for it.

use crate::auth::Decision;
use crate::blocking::Pool;
use crate::cors::{self, Preflight};
use crate::dispatch::{self, Reply};
use crate::generation::{Current, Generation};
use crate::http::{self, Headers, RequestHead};
use crate::jobs::front::{prefers_async, APPLIED};
use crate::jobs::Front;
use crate::metrics::Call;
use crate::plugin::{Endpoint, PluginBuf, Registry};
use apiphant_sdk::wire::{FORBIDDEN, INTERNAL_ERROR, NOT_FOUND, NOT_IMPLEMENTED, UNAUTHORIZED};
use std::borrow::Cow;
use std::sync::Arc;

/// The serving plugin generation (its plugins, and who may call them), and the pool their
/// blocking actions run on.
#[derive(Debug)]
pub(crate) struct Application {
    current: Current,
    blocking: Pool,
    /// The job store's threads, when an action is asynchronous (`crate::jobs`); the
    /// process's, not a generation's (`[jobs]` changes need a restart).
    jobs: Option<&'static Front>,
}

/// What the route step lets through: the generation that routed it, the endpoint (its
/// index there), the caller's identity (a token's name, or empty) and the CORS lines of
/// the request's origin (empty if none is allowed).
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    generation: Arc<Generation>,
    endpoint: usize,
    identity: Cow<'static, str>,
    cors: &'static [u8],
}

/// What the checks let through: the endpoint's index, the caller's identity and the
/// origin's CORS lines.
type Granted = (usize, Cow<'static, str>, &'static [u8]);

/// A reply, and what its request adds to it.
#[derive(Debug)]
pub(crate) struct Answer {
    reply: Reply,
    /// The endpoint it answers for, by index in its generation (`None`: no such route).
    endpoint: Option<usize>,
    identity: Cow<'static, str>,
    /// Extra header lines: the origin's CORS lines, `WWW-Authenticate`.
    lines: [&'static [u8]; 2],
    /// Its own header lines instead of `Content-Type: application/json`: none on a 204
    /// preflight (no body), the HTML type on the page of the API.
    own_lines: Option<&'static [u8]>,
    /// The generation whose plugin made the reply: kept loaded until the reply's bytes
    /// are given back to it (declared after `reply`, so dropped after it).
    _code: Option<Arc<Generation>>,
}

impl Answer {
    fn new(
        reply: Reply,
        identity: impl Into<Cow<'static, str>>,
        lines: [&'static [u8]; 2],
    ) -> Answer {
        Answer {
            reply,
            endpoint: None,
            identity: identity.into(),
            lines,
            own_lines: None,
            _code: None,
        }
    }
}

/// The request headers the route step reads, found in one pass (only when `[auth]` or
/// `[cors]` is on).
#[derive(Debug, Default)]
struct Seen<'a> {
    authorizations: usize,
    authorization: Option<&'a [u8]>,
    origin: Option<&'a [u8]>,
    request_method: Option<&'a [u8]>,
    request_headers: Option<&'a [u8]>,
}

impl<'a> Seen<'a> {
    fn of(headers: Headers<'a>) -> Seen<'a> {
        let mut seen = Seen::default();
        for (name, value) in headers.raw() {
            let is = |wanted: &str| name.eq_ignore_ascii_case(wanted.as_bytes());
            if is("authorization") {
                seen.authorizations += 1;
                seen.authorization.get_or_insert(value);
            } else if is("origin") {
                seen.origin.get_or_insert(value);
            } else if is("access-control-request-method") {
                seen.request_method.get_or_insert(value);
            } else if is("access-control-request-headers") {
                seen.request_headers.get_or_insert(value);
            }
        }
        seen
    }
}

impl Application {
    pub(crate) fn new(current: Current, blocking: Pool) -> Self {
        Application {
            current,
            blocking,
            jobs: None,
        }
    }

    /// With the job store (asynchronous calls and the `v0/_jobs` route).
    pub(crate) fn with_jobs(self, jobs: Option<&'static Front>) -> Self {
        Application { jobs, ..self }
    }

    /// The generation serving new requests, and the swap a reload makes.
    pub(crate) fn current(&self) -> &Current {
        &self.current
    }
}

/// Counts an answer for `/metrics` (when the admin listener is on).
fn count(generation: &Generation, answer: Answer) -> Answer {
    if let Some(metrics) = &generation.metrics {
        let endpoint = answer
            .endpoint
            .and_then(|index| generation.registry.endpoint_at(index));
        metrics.count(endpoint, answer.reply.status);
    }
    answer
}

impl http::App for Application {
    type Route = Grant;
    type Reply = Answer;

    /// [`Application::checks`], each refusal counted.
    fn route(&self, head: &RequestHead<'_>) -> Result<Grant, Answer> {
        let generation = self.current.get();
        match self.checks(&generation, head) {
            Ok((endpoint, identity, cors)) => Ok(Grant {
                generation,
                endpoint,
                identity,
                cors,
            }),
            Err(answer) => Err(count(&generation, answer)),
        }
    }

    /// A query string holding a token is logged `?[redacted]` (`crate::auth`).
    fn loggable_target<'t>(&self, target: &'t str) -> std::borrow::Cow<'t, str> {
        crate::auth::loggable_target(target)
    }

    fn call(&self, grant: Grant, request: &http::Request<'_>) -> Answer {
        let Grant {
            generation,
            endpoint,
            identity,
            cors,
        } = grant;
        let Some(endpoint) = generation.registry.endpoint_at(endpoint) else {
            // The index came from this generation's own table.
            return Answer::new(Reply::json(404, &NOT_FOUND), "", [cors, b""]);
        };
        let head = &request.head;
        // The usual target is exactly the route's path (no query, no percent signs): borrow
        // the route's text, no second UTF-8 check.
        let path = if head.target == endpoint.path.as_bytes() {
            &endpoint.path
        } else {
            head.target_text()
        };
        let headers: Vec<(&str, &[u8])> = if endpoint.raw_request {
            head.headers.iter().collect()
        } else {
            Vec::new()
        };
        let request = dispatch::Request {
            method: head.method,
            path,
            headers: &headers,
            request_id: head.request_id,
            identity: identity.as_bytes(),
            body: request.body,
        };
        // The host's own route, and an asynchronous call the client wants run as a job.
        if let Some((reply, applied)) = self.job_answer(endpoint, head, &request) {
            return Answer {
                endpoint: Some(endpoint.index),
                ..Answer::new(reply, identity, [cors, applied])
            };
        }
        // Timed only when counted or watched: two clock reads, and five relaxed adds per
        // call when counted.
        // An unmarked action the watchdog moved (`auto_offload`) runs on the pool too.
        let blocking = endpoint.blocking
            || generation
                .watchdog
                .as_ref()
                .is_some_and(|watchdog| watchdog.offloaded(endpoint.index));
        let watchdog = generation.watchdog.as_ref().filter(|_| !blocking);
        let metrics = generation.metrics.as_ref();
        let started = (metrics.is_some() || watchdog.is_some()).then(std::time::Instant::now);
        let reply = if blocking {
            self.blocking.call(&generation, endpoint, &request)
        } else {
            crate::call_stack::run(|| dispatch::call(&generation.registry, endpoint, &request))
        };
        let took = started.map(|started| started.elapsed());
        if let (Some(watchdog), Some(took)) = (watchdog, took) {
            watchdog.check(endpoint, took);
        }
        if let (Some(metrics), Some(took)) = (metrics, took) {
            let call = Call {
                status: reply.status,
                latency: took,
                bytes_in: request.body.len(),
                bytes_out: reply.body().len(),
            };
            metrics.record(endpoint, call);
        }
        let endpoint = endpoint.index;
        Answer {
            endpoint: Some(endpoint),
            _code: Some(generation),
            ..Answer::new(reply, identity, [cors, b""])
        }
    }
}

impl Application {
    /// The answer of the job store when `endpoint` is `v0/_jobs`, or asynchronous and
    /// asked with `Prefer: respond-async` (then with `Preference-Applied`); `None`: a plain
    /// call.
    fn job_answer(
        &self,
        endpoint: &Endpoint,
        head: &RequestHead<'_>,
        request: &dispatch::Request<'_>,
    ) -> Option<(Reply, &'static [u8])> {
        if let Some(builtin) = endpoint.builtin {
            let reply = match self.jobs {
                Some(jobs) => jobs.answer(builtin, request),
                None => Reply::json(404, &NOT_FOUND),
            };
            return Some((reply, b""));
        }
        let jobs = self.jobs.filter(|_| endpoint.asynchronous)?;
        let mut prefer = false;
        let mut key = None;
        for (name, value) in head.headers.raw() {
            if name.eq_ignore_ascii_case(b"prefer") {
                prefer |= prefers_async(value);
            } else if name.eq_ignore_ascii_case(b"idempotency-key") {
                key.get_or_insert(value);
            }
        }
        if !prefer {
            return None;
        }
        let reply = jobs.enqueue(endpoint, request, key);
        let applied = if reply.status == 202 { APPLIED } else { b"" };
        Some((reply, applied))
    }
}

/// The API description `target` asks for, if any (a query string is ignored): the OpenAPI
/// document or the page of the API, with its `Content-Type` line (`None`: JSON).
fn description<'a>(
    registry: &'a Registry,
    target: &str,
) -> Option<(&'a [u8], Option<&'static [u8]>)> {
    let document = match target.split('?').next() {
        Some(crate::openapi::PATH) => (registry.openapi_bytes(), None),
        Some(crate::api_page::PATH) => (
            registry.api_page_bytes(),
            Some(&b"Content-Type: text/html; charset=utf-8\r\n"[..]),
        ),
        _ => return None,
    };
    (!document.0.is_empty()).then_some(document)
}

impl Application {
    /// The application's checks from the head, one a step, in the order of
    /// docs/protocol.md, "Order of checks" (the loop refused bad framing before; it checks
    /// the body's size after), by the serving `generation`. A later check goes in its slot.
    // The refusal is the answer itself, moved once to the loop (as `App::route` returns
    // it): boxing it would allocate on every refused request.
    #[allow(clippy::result_large_err)]
    fn checks(
        &self,
        generation: &Arc<Generation>,
        head: &RequestHead<'_>,
    ) -> Result<Granted, Answer> {
        let seen = if generation.auth.is_some() || generation.cors.is_some() {
            Seen::of(head.headers)
        } else {
            Seen::default()
        };
        // Every answer to an allowed origin carries its CORS lines, refusals included (a
        // page reads a 401 as a 401, not as a CORS failure).
        let origin = generation
            .cors
            .zip(seen.origin)
            .and_then(|(cors, origin)| cors.allowed(origin));
        let cors_lines: &'static [u8] = origin.map_or(b"", |origin| &origin.actual);
        // 200: the API description, `GET /.well-known/openapi.json`, and its page,
        // `GET /.well-known/api.html` (no route is at either).
        if head.method == "GET" {
            if let Some((body, own_lines)) = description(&generation.registry, head.target_text()) {
                let reply = Reply::owned(200, body.to_vec());
                return Err(Answer {
                    own_lines,
                    ..Answer::new(reply, "", [cors_lines, b""])
                });
            }
        }
        // 404: no endpoint at this path. (Asked as for a POST, `dispatch::route` decides
        // only this; the method is checked in its own place below.)
        let endpoint = dispatch::route(&generation.registry, "POST", head.target_text())
            .map_err(|reply| Answer::new(reply, "", [cors_lines, b""]))?;
        // Later refusals answer for this endpoint (its counters).
        let at = |answer: Answer| Answer {
            endpoint: Some(endpoint.index),
            ..answer
        };
        // 204 / 403: a CORS preflight from an allowed origin (never needs a token).
        if let (Some(origin), Some(method), "OPTIONS") = (origin, seen.request_method, head.method)
        {
            return Err(at(match cors::preflight(method, seen.request_headers) {
                Preflight::Granted => Answer {
                    own_lines: Some(b""),
                    ..Answer::new(Reply::json(204, b""), "", [&origin.preflight, b""])
                },
                Preflight::Refused => Answer::new(Reply::json(403, &FORBIDDEN), "", [b"", b""]),
            }));
        }
        // 501: a method other than POST.
        if head.method != "POST" {
            let reply = Reply::json(501, &NOT_IMPLEMENTED);
            return Err(at(Answer::new(reply, "", [cors_lines, b""])));
        }
        // 401 / 403: the caller's token and its scopes, or the `authorize` hook.
        let identity: Cow<'static, str> = match generation.auth.map(|auth| {
            let route = crate::auth::route_of(endpoint);
            (
                auth,
                route,
                auth.decide(endpoint, seen.authorizations, seen.authorization),
            )
        }) {
            None => Cow::Borrowed(""),
            Some((_, _, Decision::Allow(identity))) => Cow::Borrowed(identity),
            Some((_, _, Decision::Unauthorized)) => return Err(at(unauthorized(cors_lines))),
            Some((_, _, Decision::Forbidden(identity))) => {
                let reply = Reply::json(403, &FORBIDDEN);
                return Err(at(Answer::new(reply, identity, [cors_lines, b""])));
            }
            Some((auth, route, Decision::Ask(hook))) => {
                match self.ask(generation, hook, head, route, auth.is_public(route)) {
                    Asked::Allow(identity) => Cow::Owned(identity),
                    Asked::Unauthorized => return Err(at(unauthorized(cors_lines))),
                    Asked::Forbidden(identity) => {
                        let reply = Reply::json(403, &FORBIDDEN);
                        return Err(at(Answer::new(reply, identity, [cors_lines, b""])));
                    }
                    Asked::Failed(reply) => {
                        return Err(at(Answer::new(reply, "", [cors_lines, b""])))
                    }
                }
            }
        };
        // 503: the memory budget cannot hold the body. Checked next by the connection loop
        // (`http::conn`, `reserve_body`), which holds the bytes and the budget's counter.
        Ok((endpoint.index, identity, cors_lines))
    }
}

/// 401 with its challenge.
fn unauthorized(cors_lines: &'static [u8]) -> Answer {
    let reply = Reply::json(401, &UNAUTHORIZED);
    let challenge: &'static [u8] = b"WWW-Authenticate: Bearer\r\n";
    Answer::new(reply, "", [cors_lines, challenge])
}

/// What the `authorize` hook decided.
#[derive(Debug)]
enum Asked {
    Allow(String),
    Unauthorized,
    Forbidden(String),
    /// It failed (panicked, answered nonsense: 500, logged), or the blocking pool could
    /// not run it (503 / 504).
    Failed(Reply),
}

impl Application {
    /// Calls the `authorize` hook with the request's head (every header, the route in the
    /// body), on the blocking pool when it is marked so, and reads its answer: allowed
    /// when `public` or one of its route globs matches `route`.
    fn ask(
        &self,
        generation: &Arc<Generation>,
        hook: &Endpoint,
        head: &RequestHead<'_>,
        route: &str,
        public: bool,
    ) -> Asked {
        let headers: Vec<(&str, &[u8])> = head.headers.iter().collect();
        let call = apiphant_sdk::AuthorizeCall {
            route: route.to_owned(),
        };
        let body = serde_json::to_vec(&call).unwrap_or_default();
        let request = dispatch::Request {
            method: head.method,
            path: head.target_text(),
            headers: &headers,
            request_id: head.request_id,
            identity: b"",
            body: &body,
        };
        let reply = if hook.blocking {
            self.blocking.call(generation, hook, &request)
        } else {
            crate::call_stack::run(|| dispatch::call(&generation.registry, hook, &request))
        };
        let failed = |why: String| {
            log::error!(
                "req={} 500 for {route}: the {} {why}",
                String::from_utf8_lossy(head.request_id),
                hook.label
            );
            Asked::Failed(Reply::json(500, &INTERNAL_ERROR))
        };
        match reply.status {
            200 => {}
            401 => return Asked::Unauthorized,
            403 => return Asked::Forbidden(String::new()),
            500 | 503 | 504 => return Asked::Failed(reply),
            other => return failed(format!("answered {other}: only an identity, 401 or 403")),
        }
        let identity: apiphant_sdk::Identity = match serde_json::from_slice(reply.body()) {
            Ok(identity) => identity,
            Err(error) => return failed(format!("answered no identity: {error}")),
        };
        if !apiphant_sdk::is_identity(&identity.identity) {
            return failed(format!(
                "answered the identity {:?}: give 1 to 128 visible ASCII characters, no \" or \\",
                identity.identity
            ));
        }
        if let Some((glob, why)) = identity
            .routes
            .iter()
            .find_map(|glob| crate::config::glob_error(glob).map(|why| (glob, why)))
        {
            return failed(format!("answered the route glob '{glob}', which {why}"));
        }
        let allowed = public
            || identity
                .routes
                .iter()
                .any(|glob| crate::auth::glob_matches(glob, route));
        if allowed {
            Asked::Allow(identity.identity)
        } else {
            Asked::Forbidden(identity.identity)
        }
    }
}

impl http::Reply for Answer {
    fn status(&self) -> u16 {
        self.reply.status
    }

    fn header_lines(&self) -> Option<&[u8]> {
        if self.own_lines.is_some() {
            return self.own_lines;
        }
        self.reply.raw_headers.as_ref().map(PluginBuf::as_slice)
    }

    fn body(&self) -> &[u8] {
        self.reply.body()
    }

    fn extra_header_lines(&self) -> [&[u8]; 2] {
        self.lines
    }

    fn identity(&self) -> &str {
        &self.identity
    }
}

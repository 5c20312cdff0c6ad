//! The application behind the HTTP loop's seam ([`http::App`]): the plugins' routes
//! ([`dispatch::route`]) and their calls ([`dispatch::call`], on the blocking pool for an
//! action marked `blocking`).

use crate::blocking::Pool;
use crate::dispatch::{self, Reply};
use crate::http::{self, RequestHead};
use crate::plugin::{Endpoint, PluginBuf, Registry};

/// The loaded plugins and the pool their blocking actions run on.
#[derive(Debug)]
pub(crate) struct Application {
    registry: &'static Registry,
    blocking: Pool,
}

impl Application {
    pub(crate) fn new(registry: &'static Registry, blocking: Pool) -> Self {
        Application { registry, blocking }
    }
}

impl http::App for Application {
    type Route = &'static Endpoint;
    type Reply = Reply;

    /// The application's checks from the head, one a step, in the order of
    /// docs/protocol.md, "Order of checks" (the loop refused bad framing before; it checks
    /// the body's size after). A later check goes in its slot.
    fn route(&self, head: &RequestHead<'_>) -> Result<&'static Endpoint, Reply> {
        // 200: the API description, `GET /.well-known/openapi.json` (no route is there).
        if head.method == "GET" && is_openapi(head.target_text()) {
            let document = self.registry.openapi_bytes();
            if !document.is_empty() {
                return Err(Reply::json(200, document));
            }
        }
        // 404: no endpoint at this path. (Asked as for a POST, `dispatch::route` decides
        // only this; the method is checked in its own place below.)
        let endpoint = dispatch::route(self.registry, "POST", head.target_text())?;
        // (Reserved, issue 12: a CORS preflight is answered here.)
        // 501: a method other than POST.
        if head.method != "POST" {
            return Err(Reply::json(501, &apiphant_sdk::wire::NOT_IMPLEMENTED));
        }
        // (Reserved, issue 12: 401 / 403, the caller's token and its scopes.)
        // (Reserved, issue 13: 503, the memory budget cannot hold the body.)
        Ok(endpoint)
    }

    fn call(&self, endpoint: &'static Endpoint, request: &http::Request<'_>) -> Reply {
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
            request_id: head.request_id.as_bytes(),
            identity: b"",
            body: request.body,
        };
        if endpoint.blocking {
            self.blocking.call(self.registry, endpoint, &request)
        } else {
            dispatch::call(self.registry, endpoint, &request)
        }
    }
}

/// Whether `target` asks for the OpenAPI document (a query string is ignored).
fn is_openapi(target: &str) -> bool {
    target.split('?').next() == Some(crate::openapi::PATH)
}

impl http::Reply for Reply {
    fn status(&self) -> u16 {
        self.status
    }

    fn header_lines(&self) -> Option<&[u8]> {
        self.raw_headers.as_ref().map(PluginBuf::as_slice)
    }

    fn body(&self) -> &[u8] {
        Reply::body(self)
    }
}

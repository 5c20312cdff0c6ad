//! `multipart/form-data` for raw-request actions, parsed with `multer` over the body the
//! server has already buffered. (The `multipart` crate is unmaintained, RUSTSEC-2023-0050,
//! and pulls vulnerable dependencies; `multer` is maintained.)

use crate::error::ApiError;
use crate::raw::RawRequest;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// One part of a form: a field or a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The part's `name`.
    pub name: String,
    /// The part's `filename`, for files.
    pub file_name: Option<String>,
    /// The part's `Content-Type`, if given.
    pub content_type: Option<String>,
    /// The part's bytes.
    pub data: Vec<u8>,
}

/// A parsed form, parts in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    /// All parts as received.
    pub parts: Vec<Part>,
}

impl Form {
    /// The first part named `name`.
    pub fn part(&self, name: &str) -> Option<&Part> {
        self.parts.iter().find(|part| part.name == name)
    }

    /// A text field's value (UTF-8).
    pub fn text(&self, name: &str) -> Option<&str> {
        self.part(name)
            .and_then(|part| std::str::from_utf8(&part.data).ok())
    }
}

impl RawRequest<'_> {
    /// Parses a `multipart/form-data` body. A missing or wrong `Content-Type`, or a
    /// malformed body, is a 400 `{"error": "Request content should be multipart/form-data"}`.
    pub fn multipart(&self) -> Result<Form, ApiError> {
        let bad = || ApiError::bad_request("Request content should be multipart/form-data");
        let content_type = self.header("content-type").ok_or_else(bad)?;
        let boundary = multer::parse_boundary(content_type).map_err(|_| bad())?;
        let body = bytes::Bytes::copy_from_slice(self.body);
        let stream =
            futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
        let mut multipart = multer::Multipart::new(stream, boundary);
        block_on(async move {
            let mut form = Form::default();
            while let Some(field) = multipart.next_field().await.map_err(|_| bad())? {
                let name = field.name().unwrap_or_default().to_owned();
                let file_name = field.file_name().map(str::to_owned);
                let content_type = field.content_type().map(|mime| mime.to_string());
                let data = field.bytes().await.map_err(|_| bad())?.to_vec();
                form.parts.push(Part {
                    name,
                    file_name,
                    content_type,
                    data,
                });
            }
            Ok(form)
        })
        .unwrap_or_else(|| Err(bad()))
    }
}

/// Drives a future whose input is already in memory: it never waits on I/O, so a few
/// polls finish it. Gives up (None) rather than spin if it ever stays pending.
fn block_on<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    for _ in 0..1_000_000 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return Some(output);
        }
    }
    None
}

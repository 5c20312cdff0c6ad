//! Action shapes: which plain functions can be exported, and what they may return.
//!
//! An action takes the request object (`fn read(request: Object) -> ...`), a typed request
//! (`fn read(Json(query): Json<Query>)`, or `Valid<Query>` to check its rules too) or, in
//! raw mode, the raw request (`fn create(request: RawRequest<'_>) -> ...`). It returns an
//! object (`ApiResult`), a typed object (`Json<U>`), nothing (`()` / `Result<(), ApiError>`:
//! answered `{}`), any JSON value (a non-object is a 500), or a [`RawResponse`]. [`action`] attaches metadata that travels
//! in the plugin manifest: doc text, `blocking`, `asynchronous`, JSON Schemas.

use crate::body::parse_object;
use crate::error::{ApiError, Object};
use crate::json::{self, Json, Valid};
use crate::raw::{RawRequest, RawResponse};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// What the glue gets back from an action.
#[derive(Debug)]
pub enum Reply {
    /// A JSON object, answered 200.
    Object(Object),
    /// A JSON object already serialized (from `Json<U>`), answered 200.
    Json(Vec<u8>),
    /// The request body is not a JSON object (the 400 every action answers).
    BadBody,
    /// An error, answered with its status.
    Error(ApiError),
    /// A value that is not an object (a 500); the text describes it for the server log.
    NotObject(String),
    /// A raw response.
    Raw(RawResponse),
}

/// Return types an action may have.
pub trait IntoReply {
    /// Whether this type is a raw response (listed in the manifest as `raw_response`).
    const RAW_RESPONSE: bool = false;
    /// The JSON Schema of the response, when the type tells (`Json<U>`).
    fn response_schema() -> Option<Value> {
        None
    }
    /// Converts the return value.
    fn into_reply(self) -> Reply;
}

impl IntoReply for Object {
    fn into_reply(self) -> Reply {
        Reply::Object(self)
    }
}

impl IntoReply for () {
    fn into_reply(self) -> Reply {
        Reply::Object(Object::new())
    }
}

impl IntoReply for Option<Object> {
    fn into_reply(self) -> Reply {
        Reply::Object(self.unwrap_or_default())
    }
}

impl IntoReply for Value {
    fn into_reply(self) -> Reply {
        match self {
            Value::Object(object) => Reply::Object(object),
            Value::Null => Reply::Object(Object::new()),
            other => Reply::NotObject(not_object(&other)),
        }
    }
}

impl<U: Serialize + JsonSchema> IntoReply for Json<U> {
    fn response_schema() -> Option<Value> {
        Some(crate::json::schema::<U>())
    }
    fn into_reply(self) -> Reply {
        crate::export::json_reply(&self.0)
    }
}

impl IntoReply for RawResponse {
    const RAW_RESPONSE: bool = true;
    fn into_reply(self) -> Reply {
        Reply::Raw(self)
    }
}

impl<T: IntoReply> IntoReply for Result<T, ApiError> {
    const RAW_RESPONSE: bool = T::RAW_RESPONSE;
    fn response_schema() -> Option<Value> {
        T::response_schema()
    }
    fn into_reply(self) -> Reply {
        match self {
            Ok(value) => value.into_reply(),
            Err(error) => Reply::Error(error),
        }
    }
}

/// Why a returned value is a 500: its kind and (the start of) its JSON text, for the
/// server's log (and, under `apiphant --dev`, the 500 body).
pub(crate) fn not_object(value: &Value) -> String {
    const SHOWN: usize = 200;
    let mut text = value.to_string();
    if text.len() > SHOWN {
        let mut end = SHOWN;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    format!("action returned a non-object: {} {text}", kind(value))
}

/// The JSON kind of `value`.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The input an action receives from the glue.
#[derive(Debug)]
pub enum Input<'a> {
    /// The request body of a JSON action, parsed by the action's own shape (an object, a
    /// `T`).
    Body(&'a [u8]),
    /// The raw request.
    Raw(RawRequest<'a>),
}

impl<'a> Input<'a> {
    /// The body bytes.
    fn body(&self) -> &'a [u8] {
        match self {
            Input::Body(body) => body,
            Input::Raw(raw) => raw.body,
        }
    }
}

/// Marker: the action takes an [`Object`].
#[derive(Debug)]
pub struct TakesObject;
/// Marker: the action takes a [`Json<T>`].
#[derive(Debug)]
pub struct TakesJson;
/// Marker: the action takes a [`Valid<T>`].
#[derive(Debug)]
pub struct TakesValid;
/// Marker: the action takes a [`RawRequest`].
#[derive(Debug)]
pub struct TakesRaw;

/// A function usable as an action. `M` only tells the shapes apart.
pub trait Handler<M>: Send + Sync + 'static {
    /// Whether the action wants the raw request.
    const RAW_REQUEST: bool;
    /// Whether the action answers a raw response.
    const RAW_RESPONSE: bool;
    /// The JSON Schema of the request, when the type tells (`Json<T>`, `Valid<T>`).
    fn request_schema() -> Option<Value> {
        None
    }
    /// The JSON Schema of the response, when the type tells (`Json<U>`).
    fn response_schema() -> Option<Value>;
    /// Runs the action.
    fn run(&self, input: Input<'_>) -> Reply;
}

impl<F, R> Handler<(TakesObject, R)> for F
where
    F: Fn(Object) -> R + Send + Sync + 'static,
    R: IntoReply,
{
    const RAW_REQUEST: bool = false;
    const RAW_RESPONSE: bool = R::RAW_RESPONSE;
    fn response_schema() -> Option<Value> {
        R::response_schema()
    }
    fn run(&self, input: Input<'_>) -> Reply {
        match parse_object(input.body()) {
            Ok(object) => self(object).into_reply(),
            Err(_) => Reply::BadBody,
        }
    }
}

impl<F, T, R> Handler<(TakesJson, T, R)> for F
where
    F: Fn(Json<T>) -> R + Send + Sync + 'static,
    T: DeserializeOwned + JsonSchema,
    R: IntoReply,
{
    const RAW_REQUEST: bool = false;
    fn request_schema() -> Option<Value> {
        Some(json::schema::<T>())
    }
    const RAW_RESPONSE: bool = R::RAW_RESPONSE;
    fn response_schema() -> Option<Value> {
        R::response_schema()
    }
    fn run(&self, input: Input<'_>) -> Reply {
        match json::from_body(input.body()) {
            Ok(value) => self(Json(value)).into_reply(),
            Err(error) => error.into(),
        }
    }
}

impl<F, T, R> Handler<(TakesValid, T, R)> for F
where
    F: Fn(Valid<T>) -> R + Send + Sync + 'static,
    T: DeserializeOwned + validator::Validate + JsonSchema,
    R: IntoReply,
{
    const RAW_REQUEST: bool = false;
    fn request_schema() -> Option<Value> {
        Some(json::schema::<T>())
    }
    const RAW_RESPONSE: bool = R::RAW_RESPONSE;
    fn response_schema() -> Option<Value> {
        R::response_schema()
    }
    fn run(&self, input: Input<'_>) -> Reply {
        match json::from_body_valid(input.body()) {
            Ok(value) => self(Valid(value)).into_reply(),
            Err(error) => error.into(),
        }
    }
}

impl<F, R> Handler<(TakesRaw, R)> for F
where
    F: for<'a> Fn(RawRequest<'a>) -> R + Send + Sync + 'static,
    R: IntoReply,
{
    const RAW_REQUEST: bool = true;
    const RAW_RESPONSE: bool = R::RAW_RESPONSE;
    fn response_schema() -> Option<Value> {
        R::response_schema()
    }
    fn run(&self, input: Input<'_>) -> Reply {
        match input {
            Input::Raw(raw) => self(raw).into_reply(),
            Input::Body(_) => Reply::NotObject("raw action called without its raw request".into()),
        }
    }
}

type BoxedHandler = Box<dyn Fn(Input<'_>) -> Reply + Send + Sync>;

/// An action with its metadata. Build one with [`action`].
pub struct Action {
    pub(crate) run: BoxedHandler,
    pub(crate) raw_request: bool,
    pub(crate) raw_response: bool,
    pub(crate) blocking: bool,
    pub(crate) asynchronous: bool,
    pub(crate) timeout_secs: Option<f64>,
    pub(crate) consumes: Option<String>,
    pub(crate) produces: Option<String>,
    pub(crate) doc: String,
    pub(crate) request_schema: Option<Value>,
    pub(crate) response_schema: Option<Value>,
}

impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Action")
            .field("raw_request", &self.raw_request)
            .field("blocking", &self.blocking)
            .field("asynchronous", &self.asynchronous)
            .field("doc", &self.doc)
            .finish_non_exhaustive()
    }
}

/// Wraps a handler to attach metadata: `action(read).doc("...").blocking()`.
pub fn action<M, H: Handler<M>>(handler: H) -> Action {
    Action {
        run: Box::new(move |input| handler.run(input)),
        raw_request: H::RAW_REQUEST,
        raw_response: H::RAW_RESPONSE,
        blocking: false,
        asynchronous: false,
        timeout_secs: None,
        consumes: None,
        produces: None,
        doc: String::new(),
        request_schema: H::request_schema(),
        response_schema: H::response_schema(),
    }
}

impl Action {
    /// Doc text, shown in the manifest (and later in generated API docs).
    pub fn doc(mut self, doc: impl Into<String>) -> Self {
        self.doc = doc.into();
        self
    }

    /// Marks the action as blocking its thread (a database driver, a file, an HTTP call):
    /// the server runs it on its blocking pool so it never stalls other requests.
    pub fn blocking(mut self) -> Self {
        self.blocking = true;
        self
    }

    /// A deadline in seconds (instead of the server's `action_timeout_secs`): past it the
    /// client gets 504 in JSON and the request's coroutine is freed, while the call runs
    /// on to its end on its pool thread (counted and logged as stuck: a thread cannot be
    /// killed). Only a call on the blocking pool can be cut off, so this implies
    /// [`Action::blocking`]. The server refuses a value that is not above 0 and at most a
    /// day at start-up.
    pub fn timeout(mut self, secs: f64) -> Self {
        self.blocking = true;
        self.timeout_secs = Some(secs);
        self
    }

    /// Marks the action as asynchronous: it may be run in the background, the client
    /// getting a job to poll. Carried in the manifest; the server does not act on it yet
    /// (docs/protocol.md, "Start-up").
    pub fn asynchronous(mut self) -> Self {
        self.asynchronous = true;
        self
    }

    /// The content type a raw request takes (`"multipart/form-data"`), for the API
    /// description (documentation; not enforced). Only for an action that takes a
    /// [`RawRequest`](crate::RawRequest); a JSON action ignores it.
    pub fn consumes(mut self, content_type: impl Into<String>) -> Self {
        self.consumes = Some(content_type.into());
        self
    }

    /// The content type a raw response answers (`"text/csv"`), for the API description
    /// (documentation; not enforced). Only for an action that returns a
    /// [`RawResponse`](crate::RawResponse); a JSON action ignores it.
    pub fn produces(mut self, content_type: impl Into<String>) -> Self {
        self.produces = Some(content_type.into());
        self
    }

    /// JSON Schema of the request object, by hand (documentation; not enforced): for a
    /// dynamic action (a typed one has its type's).
    pub fn request_schema(mut self, schema: Value) -> Self {
        self.request_schema = Some(schema);
        self
    }

    /// JSON Schema of the response object, by hand (documentation; not enforced).
    pub fn response_schema(mut self, schema: Value) -> Self {
        self.response_schema = Some(schema);
        self
    }
}

/// Anything [`export!`](crate::export) accepts as an action: a handler fn or an [`Action`].
pub trait IntoAction<M> {
    /// Converts into an [`Action`].
    fn into_action(self) -> Action;
}

impl IntoAction<()> for Action {
    fn into_action(self) -> Action {
        self
    }
}

impl<M, H: Handler<M>> IntoAction<(M,)> for H {
    fn into_action(self) -> Action {
        action(self)
    }
}

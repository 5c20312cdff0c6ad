//! apiphant SDK: write an apiphant target as plain Rust functions named after CRUD actions.
//!
//! ```
//! use apiphant_sdk::{ApiResult, Object};
//!
//! pub fn read(mut request: Object) -> ApiResult {
//!     request.insert("server".into(), "myproduct".into());
//!     Ok(request)
//! }
//!
//! apiphant_sdk::export! { "v0/echo" => { read } }
//! ```
//!
//! Background tasks for `apiphant-background` are plain functions too:
//! `apiphant_sdk::export! { tasks { update_something: every(60) } }` (see [`export!`]).
//!
//! Build the crate as a `cdylib` (and `rlib` to unit-test it). The server loads it at run
//! time and meets it at one versioned C ABI symbol ([`abi`], `apiphant_plugin_v2`), never
//! the Rust ABI. What both sides agree on lives here, once: the ABI ([`abi`]), the
//! manifest ([`manifest`]), the route grammar ([`route`]), the call outcome ([`outcome`])
//! and apiphant's own error bodies ([`wire`]).
#![deny(missing_docs)]

pub mod abi;
mod action;
mod authorize;
mod body;
mod call;
mod error;
mod export;
mod hooks;
pub mod jobs;
mod json;
mod log_bridge;
mod macros;
pub mod manifest;
#[cfg(feature = "multipart")]
mod multipart;
pub mod outcome;
mod panic;
mod raw;
pub mod route;
mod rules;
mod task;
mod validation;
pub mod wire;

pub use action::{action, Action, Handler, IntoAction, IntoReply};
pub use authorize::{
    authorizer, is_identity, AuthorizeCall, AuthorizeResult, Identity, IntoAuthorize, Refusal,
    RequestHead,
};
pub use call::{context, RequestContext};
pub use error::{status_line, ApiError, ApiResult, FieldState, Object};
pub use hooks::{settings, InitHook};
pub use json::{Json, Valid};
#[cfg(feature = "multipart")]
pub use multipart::{Form, MultipartLimits, Part, NOT_MULTIPART};
pub use raw::{field_value, is_token_byte, RawRequest, RawResponse};
pub use schemars;
pub use serde_json::{self, json, Map, Value};
pub use task::{
    cause_chain, cron, every, Failure, IntoTaskResult, OnError, Schedule, TaskError, TaskResult,
};
pub use validation::{
    field, Defaulted, Field, JsonType, Length, Optional, Presence, Required, Scope,
};
pub use validator;

pub use wire::BAD_BODY_MESSAGE;

/// Everything a target module usually needs.
pub mod prelude {
    pub use crate::{
        action, field, json, ApiError, ApiResult, Json, JsonType, Object, RawRequest, RawResponse,
        Valid, Value,
    };
}

#[doc(hidden)]
pub mod __private {
    pub use crate::action::IntoAction;
    pub use crate::authorize::IntoAuthorize;
    pub use crate::export::{entry, Plugin, Target};
    pub use crate::hooks::{Init, Shutdown};
    pub use crate::task::Task;
}

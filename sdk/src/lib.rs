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
//! time and meets it at one versioned C ABI symbol ([`abi`]), never the Rust ABI.
#![deny(missing_docs)]

pub mod abi;
mod action;
mod error;
mod export;
mod log_bridge;
mod macros;
#[cfg(feature = "multipart")]
mod multipart;
mod panic;
mod raw;
mod task;
mod validation;

pub use action::{action, Action, Handler, IntoAction, IntoReply};
pub use error::{status_line, ApiError, ApiResult, FieldState, Object};
#[cfg(feature = "multipart")]
pub use multipart::{Form, Part};
pub use raw::{field_value, is_token_byte, RawRequest, RawResponse};
pub use serde_json::{self, json, Map, Value};
pub use task::{
    cause_chain, cron, every, Failure, IntoTaskResult, OnError, Schedule, TaskError, TaskResult,
};
pub use validation::{field, Field, JsonType, Scope};

/// The 400 error text for a body that is not a UTF-8 JSON object.
pub const BAD_BODY_MESSAGE: &str = "Request content should be JSON Object";

/// Everything a target module usually needs.
pub mod prelude {
    pub use crate::{
        action, field, json, ApiError, ApiResult, JsonType, Object, RawRequest, RawResponse, Value,
    };
}

#[doc(hidden)]
pub mod __private {
    pub use crate::action::IntoAction;
    pub use crate::export::{entry, Plugin, Target};
    pub use crate::task::Task;
}

//! Typed actions: an action takes `Json<T>` (any `T: Deserialize`) and may answer `Json<U>`
//! (any `U: Serialize` that serializes to an object); `Valid<T>` also checks the rules
//! declared on `T` with the [validator](https://crates.io/crates/validator) crate.
//!
//! The body is parsed once, from its bytes straight into `T` (no `Map` first). A body that
//! is not a JSON object is the 400 `{"error":"Request content should be JSON Object"}` of
//! every action; a data error is the original's field error with the full dotted path of
//! the failing field, for every kind of mistake:
//!
//! | body | error |
//! | --- | --- |
//! | a field is absent (no `#[serde(default)]`) | `{"field":"author.name","state":"missing"}` |
//! | a value of the wrong type or out of its type's range | `{"field":"tags.2","state":"invalid","explain":"invalid type: integer `5`, expected a string"}` |
//! | an unknown key under `#[serde(deny_unknown_fields)]` | `invalid` at the unknown key's own path |
//! | an enum value that is none of its variants | `invalid`, the variants listed in `explain` |
//! | a rule of `Valid<T>` fails | `invalid`, the rule in `explain` (or its own message) |
//!
//! The path is tracked with [serde_path_to_error](https://crates.io/crates/serde_path_to_error)
//! (dtolnay's, the crate axum's `Json<T>` uses): it wraps the deserializer, so any
//! `Deserialize` type (derived, renamed, nested, in a `Vec` or an enum) reports where it
//! failed, with no second parse and nothing asked of the type.
//!
//! ```
//! use apiphant_sdk::{ApiResult, Json};
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize, JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! pub struct Greet {
//!     name: String,
//!     #[serde(default)]
//!     times: u8,
//! }
//!
//! #[derive(Serialize, JsonSchema)]
//! pub struct Greeting {
//!     text: String,
//! }
//!
//! pub fn read(Json(greet): Json<Greet>) -> ApiResult<Json<Greeting>> {
//!     let text = format!("hello {}", greet.name).repeat(usize::from(greet.times.max(1)));
//!     Ok(Json(Greeting { text }))
//! }
//!
//! apiphant_sdk::export! { "v0/greet" => { read } }
//! ```

use crate::action::Reply;
use crate::error::{ApiError, FieldState};
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_path_to_error::Segment;

/// A typed request (`fn create(Json(user): Json<NewUser>)`) or response
/// (`-> ApiResult<Json<User>>`). See the module docs for the error each mistake answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

/// A typed request whose rules (ranges, lengths, patterns, declared with
/// `#[derive(validator::Validate)]` on `T`) are checked after its types: a failed rule is
/// `{"field":"name","state":"invalid","explain":"should have 1 to 40 characters"}`.
///
/// ```
/// use apiphant_sdk::{ApiResult, Json, Valid};
/// use schemars::JsonSchema;
/// use serde::{Deserialize, Serialize};
/// use validator::Validate;
///
/// #[derive(Deserialize, Validate, JsonSchema)]
/// pub struct NewUser {
///     #[validate(length(min = 1, max = 40))]
///     name: String,
///     #[validate(range(min = 13, max = 150))]
///     age: u8,
/// }
///
/// pub fn create(Valid(user): Valid<NewUser>) -> ApiResult<Json<apiphant_sdk::Value>> {
///     Ok(Json(apiphant_sdk::json!({"name": user.name, "age": user.age})))
/// }
///
/// apiphant_sdk::export! { "v0/users" => { create } }
/// ```
///
/// The plugin depends on `validator` (with its `derive` feature) for the derive; the
/// version is the SDK's (0.20).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Valid<T>(pub T);

/// `T`'s JSON Schema (2020-12), shared types under `$defs`: the request or response
/// schema of a typed action in the manifest, built once when the plugin loads.
pub(crate) fn schema<T: schemars::JsonSchema>() -> Value {
    schemars::schema_for!(T).to_value()
}

/// Why a body could not become a `T`.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Not a UTF-8 JSON object: the 400 every action answers.
    NotObject,
    /// A field error (400).
    Field(ApiError),
}

impl From<BodyError> for Reply {
    fn from(error: BodyError) -> Reply {
        match error {
            BodyError::NotObject => Reply::BadBody,
            BodyError::Field(error) => Reply::Error(error),
        }
    }
}

impl BodyError {
    /// The error as an action's `ApiError` (for raw actions reading a typed body).
    pub(crate) fn into_api_error(self) -> ApiError {
        match self {
            BodyError::NotObject => ApiError::bad_request(crate::wire::BAD_BODY_MESSAGE),
            BodyError::Field(error) => error,
        }
    }
}

/// The body as a `T`: empty means `{}`; anything else must be a UTF-8 JSON object.
pub(crate) fn from_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, BodyError> {
    let body = if body.is_empty() { b"{}" } else { body };
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(BodyError::NotObject);
    }
    // Validated once here; serde_json's `str` reader then skips its own UTF-8 checks.
    let text = std::str::from_utf8(body).map_err(|_| BodyError::NotObject)?;
    // Hot path: a body that fits `T` is parsed with no path tracking (the tracker wraps
    // every key and value); one that does not is parsed again, tracked, for its field.
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = match T::deserialize(&mut deserializer) {
        Ok(value) => value,
        Err(_) => {
            deserializer = serde_json::Deserializer::from_str(text);
            match serde_path_to_error::deserialize(&mut deserializer) {
                Ok(value) => value,
                Err(error) => return Err(data_error(text, &error)),
            }
        }
    };
    deserializer.end().map_err(|_| BodyError::NotObject)?;
    Ok(value)
}

/// The body as a `T` whose rules hold.
pub(crate) fn from_body_valid<T>(body: &[u8]) -> Result<T, BodyError>
where
    T: DeserializeOwned + validator::Validate,
{
    let value: T = from_body(body)?;
    match value.validate() {
        Ok(()) => Ok(value),
        Err(errors) => Err(BodyError::Field(crate::rules::field_error(&errors))),
    }
}

/// A deserialization error as the field error it is, or `NotObject` for malformed JSON
/// (serde stops at the first error, so a data error is only trusted when the whole body
/// is a well-formed JSON object within the nesting limit, as the dynamic path checks it:
/// checked here, on the error path only).
fn data_error(text: &str, error: &serde_path_to_error::Error<serde_json::Error>) -> BodyError {
    let inner = error.inner();
    if inner.classify() != serde_json::error::Category::Data
        || serde_json::from_str::<Value>(text).is_err()
    {
        return BodyError::NotObject;
    }
    let (path, missing, message) = describe(error);
    let (state, explain) = if missing {
        (FieldState::Missing, None)
    } else {
        (FieldState::Invalid, Some(Value::String(message)))
    };
    BodyError::Field(ApiError::field(path, state, explain))
}

/// A data error's dotted path (a missing field's own path, an unknown key's own path),
/// whether the field is missing, and the message in words.
pub(crate) fn describe(
    error: &serde_path_to_error::Error<serde_json::Error>,
) -> (String, bool, String) {
    let mut path: Vec<String> = error
        .path()
        .iter()
        .map(|segment| match segment {
            Segment::Seq { index } => index.to_string(),
            Segment::Map { key } => key.clone(),
            Segment::Enum { variant } => variant.clone(),
            _ => "?".to_owned(),
        })
        .collect();
    let message = message(error.inner());
    if let Some(name) = quoted(&message, "missing field `") {
        path.push(name.to_owned());
        return (path.join("."), true, message);
    }
    if let Some(name) = quoted(&message, "unknown field `") {
        if path.last().map(String::as_str) != Some(name) {
            path.push(name.to_owned());
        }
    }
    (path.join("."), false, message)
}

/// serde_json's message without its ` at line L column C`.
fn message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match text.strip_suffix(&suffix) {
        Some(message) if error.line() > 0 => message.to_owned(),
        _ => text,
    }
}

/// The name in `` `name` `` after `prefix` at the start of `message`.
fn quoted<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split_once('`').map(|(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemars::JsonSchema;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Post {
        title: String,
        author: Author,
        #[serde(default)]
        tags: Vec<String>,
        #[serde(rename = "kind", default)]
        kind: Kind,
    }

    #[derive(Debug, Deserialize, PartialEq, JsonSchema)]
    struct Author {
        name: String,
        #[serde(default)]
        age: Option<u8>,
    }

    #[derive(Debug, Deserialize, PartialEq, Default, JsonSchema)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        #[default]
        Note,
        Article,
    }

    fn error(body: &str) -> Value {
        match from_body::<Post>(body.as_bytes()) {
            Ok(post) => json!({"ok": format!("{post:?}")}),
            Err(BodyError::NotObject) => json!("not an object"),
            Err(BodyError::Field(error)) => error.error_value(),
        }
    }

    #[test]
    fn a_good_body_parses() {
        let post = from_body::<Post>(br#" {"title":"t","author":{"name":"n"},"tags":["a"]} "#);
        assert!(matches!(post, Ok(Post { ref tags, .. }) if tags == &["a"]));
    }

    #[test]
    fn non_objects_and_malformed_json_are_the_bad_body() {
        for bad in [
            "[1]",
            "null",
            "42",
            "\"s\"",
            " ",
            "\u{feff}{}",
            r#"{"title":"t","author":{"name":"n"}} x"#,
            r#"{"title": 5, "#,
            r#"{"title": 5, "author": {"name": "n"}, "tags": [1, oops]}"#,
        ] {
            assert_eq!(error(bad), json!("not an object"), "{bad}");
        }
        assert!(matches!(
            from_body::<Post>(b"{\"title\":\"\xff\"}"),
            Err(BodyError::NotObject)
        ));
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(
            from_body::<Post>(deep.as_bytes()),
            Err(BodyError::NotObject)
        ));
    }

    #[test]
    fn data_errors_name_the_full_path() {
        assert_eq!(error("{}"), json!({"field": "title", "state": "missing"}));
        assert_eq!(error(""), json!({"field": "title", "state": "missing"}));
        assert_eq!(
            error(r#"{"title":"t","author":{}}"#),
            json!({"field": "author.name", "state": "missing"})
        );
        assert_eq!(
            error(r#"{"title":"t","author":{"name":"n"},"tags":["a","b",5]}"#),
            json!({"field": "tags.2", "state": "invalid",
                   "explain": "invalid type: integer `5`, expected a string"})
        );
        assert_eq!(
            error(r#"{"title":"t","author":{"name":"n","age":300}}"#)["field"],
            "author.age"
        );
        assert_eq!(
            error(r#"{"title":"t","author":{"name":"n"},"kind":"poem"}"#),
            json!({"field": "kind", "state": "invalid",
                   "explain": "unknown variant `poem`, expected `note` or `article`"})
        );
        let unknown = error(r#"{"title":"t","author":{"name":"n"},"extra":1}"#);
        assert_eq!(unknown["field"], "extra");
        assert_eq!(unknown["state"], "invalid");
        assert!(unknown["explain"]
            .as_str()
            .is_some_and(|e| e.starts_with("unknown field `extra`")));
    }
}

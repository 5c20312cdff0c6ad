//! Request field validation: the port of apiphant's `validation.field()`, for actions that
//! take the request as an [`Object`] (the dynamic style; typed actions take `Json<T>`).
//!
//! ```
//! use apiphant_sdk::{field, JsonType, ApiResult, Object};
//! fn read(request: Object) -> ApiResult {
//!     let id = field(&request, "id").required().valid_type(JsonType::Integer).get()?;
//!     let mut response = Object::new();
//!     response.insert("id".into(), id);
//!     Ok(response)
//! }
//! # assert!(read(Object::new()).is_err());
//! ```
//!
//! A missing required field is 400 `{"field": "id", "state": "missing"}`; a present field
//! failing any check is 400 `{"field": "id", "state": "invalid", "explain": "should be
//! integer"}`: the author's own `explain` when one was given, else a sentence saying why
//! (`.no_explain()` leaves it out, as the original did). Subfields report dotted paths
//! (`"user.name"`), see [`Scope`]. Unlike the original, a length check on a value without
//! a length (a number) is `invalid` rather than a 500, and a JSON `true` is not an integer.
//!
//! The field's presence is in its type: [`field`] gives an optional field (its getters
//! answer `Option`s), `.required()` a required one (its getters answer the value) and
//! `.default(v)` one that always has a value (its getters answer the value or the default):
//!
//! ```
//! use apiphant_sdk::{field, json, ApiResult, JsonType, Object};
//! fn create(request: Object) -> ApiResult {
//!     let author = field(&request, "author").required().scope()?;
//!     let name: &str = author
//!         .field("name")
//!         .required()
//!         .valid_type(JsonType::String)
//!         .valid_length(1..=100)
//!         .get_str()?;
//!     let limit: i64 = field(&request, "limit").default(20).get_i64()?;
//!     let tags = field(&request, "tags").valid_length(..=50).get()?;
//!     let mut response = Object::new();
//!     response.insert("name".into(), name.into());
//!     response.insert("limit".into(), limit.into());
//!     response.insert("tags".into(), tags);
//!     Ok(response)
//! }
//! let request = json!({"author": {"name": 5}});
//! let error = create(request.as_object().cloned().unwrap_or_default()).err();
//! assert_eq!(
//!     error.map(|e| e.body()),
//!     Some(json!({"error": {"field": "author.name", "state": "invalid", "explain": "should be string"}}))
//! );
//! ```

use crate::error::{ApiError, FieldState, Object};
use serde_json::Value;
use std::borrow::Cow;
use std::ops::{Range, RangeFrom, RangeInclusive, RangeTo, RangeToInclusive};

/// JSON types for [`Field::valid_type`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    /// A JSON string.
    String,
    /// A JSON number without fraction or exponent (`true` is not one).
    Integer,
    /// Any JSON number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A JSON array.
    Array,
    /// A JSON object.
    Object,
    /// `null`.
    Null,
}

impl JsonType {
    /// Whether `value` is of this type.
    pub fn matches(self, value: &Value) -> bool {
        match self {
            JsonType::String => value.is_string(),
            JsonType::Integer => value.is_i64() || value.is_u64(),
            JsonType::Number => value.is_number(),
            JsonType::Boolean => value.is_boolean(),
            JsonType::Array => value.is_array(),
            JsonType::Object => value.is_object(),
            JsonType::Null => value.is_null(),
        }
    }

    /// The type's name in an `explain`: `string`, `integer`, ...
    pub fn name(self) -> &'static str {
        match self {
            JsonType::String => "string",
            JsonType::Integer => "integer",
            JsonType::Number => "number",
            JsonType::Boolean => "boolean",
            JsonType::Array => "array",
            JsonType::Object => "object",
            JsonType::Null => "null",
        }
    }
}

/// A length rule for [`Field::valid_length`]: an exact `n`, or a range (`1..=100`,
/// `..=50`, `1..`). Lengths count characters of a string, items of an array, keys of an
/// object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Length {
    min: usize,
    max: Option<usize>,
}

impl From<usize> for Length {
    fn from(n: usize) -> Self {
        Length {
            min: n,
            max: Some(n),
        }
    }
}

impl From<RangeInclusive<usize>> for Length {
    fn from(range: RangeInclusive<usize>) -> Self {
        Length {
            min: *range.start(),
            max: Some(*range.end()),
        }
    }
}

impl From<Range<usize>> for Length {
    fn from(range: Range<usize>) -> Self {
        Length {
            min: range.start,
            max: Some(range.end.saturating_sub(1)),
        }
    }
}

impl From<RangeToInclusive<usize>> for Length {
    fn from(range: RangeToInclusive<usize>) -> Self {
        Length {
            min: 0,
            max: Some(range.end),
        }
    }
}

impl From<RangeTo<usize>> for Length {
    fn from(range: RangeTo<usize>) -> Self {
        Length {
            min: 0,
            max: Some(range.end.saturating_sub(1)),
        }
    }
}

impl From<RangeFrom<usize>> for Length {
    fn from(range: RangeFrom<usize>) -> Self {
        Length {
            min: range.start,
            max: None,
        }
    }
}

impl Length {
    fn admits(self, length: usize) -> bool {
        length >= self.min && self.max.is_none_or(|max| length <= max)
    }

    /// `should have 2 items`, `should have 1 to 100 characters`, ...
    fn explain(self, unit: &str) -> String {
        match self.max {
            Some(max) if max == self.min => format!("should have {max} {unit}"),
            Some(max) if self.min == 0 => format!("should have at most {max} {unit}"),
            Some(max) => format!("should have {} to {max} {unit}", self.min),
            None => format!("should have at least {} {unit}", self.min),
        }
    }
}

type Predicate<'a> = Box<dyn Fn(&Value) -> bool + 'a>;

/// A field's presence, in its type: [`Optional`], [`Required`] or [`Defaulted`].
pub trait Presence {
    /// Whether an absent field is `missing`.
    const REQUIRED: bool;
}

impl Presence for Optional {
    const REQUIRED: bool = false;
}

impl Presence for Required {
    const REQUIRED: bool = true;
}

impl Presence for Defaulted {
    const REQUIRED: bool = false;
}

/// Presence of a field with neither `.required()` nor `.default()`: getters answer `Option`s.
#[derive(Debug, Clone, Copy)]
pub struct Optional;
/// Presence of a `.required()` field: absent is `missing`; getters answer the value.
#[derive(Debug, Clone, Copy)]
pub struct Required;
/// Presence of a field with a `.default(v)`: getters answer the value, or the default.
#[derive(Debug, Clone, Copy)]
pub struct Defaulted;

/// One field of a request object, with the checks to run on it. Built by [`field`] (or
/// [`Scope::field`]); `P` is its presence: [`Optional`], [`Required`] or [`Defaulted`].
pub struct Field<'r, P = Optional> {
    path: String,
    value: Option<&'r Value>,
    presence: std::marker::PhantomData<P>,
    default: Option<Value>,
    valid_type: Option<JsonType>,
    valid_values: Option<Vec<Value>>,
    valid_if: Vec<Predicate<'r>>,
    length: Option<Length>,
    explain: Explain,
}

/// What a field's `invalid` says.
#[derive(Debug, Clone)]
enum Explain {
    /// Why the check failed, in words.
    Automatic,
    /// The author's own value.
    Given(Value),
    /// Nothing (the original's body).
    None,
}

/// A view of a (sub)object whose fields report paths relative to the request root.
#[derive(Debug, Clone)]
pub struct Scope<'r> {
    object: &'r Object,
    prefix: Option<String>,
}

/// Starts validating `name` in `request`: apiphant's `field(request, name, ...)`.
pub fn field<'r>(request: &'r Object, name: &str) -> Field<'r> {
    Field::new(name.to_owned(), request.get(name))
}

impl<'r> Scope<'r> {
    /// The request root.
    pub fn root(object: &'r Object) -> Self {
        Scope {
            object,
            prefix: None,
        }
    }

    /// A field of this (sub)object; its errors name `prefix.name`.
    pub fn field(&self, name: &str) -> Field<'r> {
        let path = match &self.prefix {
            Some(prefix) => format!("{prefix}.{name}"),
            None => name.to_owned(),
        };
        Field::new(path, self.object.get(name))
    }

    /// The object this scope looks into.
    pub fn object(&self) -> &'r Object {
        self.object
    }
}

impl<P> std::fmt::Debug for Field<'_, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Field")
            .field("path", &self.path)
            .field("value", &self.value)
            .field("default", &self.default)
            .finish_non_exhaustive()
    }
}

impl<'r> Field<'r, Optional> {
    fn new(path: String, value: Option<&'r Value>) -> Self {
        Field {
            path,
            value,
            presence: std::marker::PhantomData,
            default: None,
            valid_type: None,
            valid_values: None,
            valid_if: Vec::new(),
            length: None,
            explain: Explain::Automatic,
        }
    }

    /// Absent is an error (`missing`). Presence counts, not truthiness: `null` is present.
    /// The getters then answer the value itself, not an `Option`.
    pub fn required(self) -> Field<'r, Required> {
        self.with_presence()
    }

    /// The value to use when the field is absent; the getters then answer it (a present
    /// `null` stays `null`, as in the original).
    pub fn default(mut self, value: impl Into<Value>) -> Field<'r, Defaulted> {
        self.default = Some(value.into());
        self.with_presence()
    }

    /// Runs the checks; returns the value, or `null` when absent (the original's `None`).
    pub fn get(self) -> Result<Value, ApiError> {
        Ok(self.checked()?.cloned().unwrap_or(Value::Null))
    }

    /// Runs the checks; returns a borrowed value, or `None` when absent.
    pub fn get_ref(&self) -> Result<Option<&'r Value>, ApiError> {
        self.checked()
    }

    /// Runs the checks and requires a string when present.
    pub fn get_str(self) -> Result<Option<&'r str>, ApiError> {
        self.checked()?
            .map(|value| self.typed(value, JsonType::String, Value::as_str))
            .transpose()
    }

    /// Runs the checks and requires an integer (of `i64`'s range) when present.
    pub fn get_i64(self) -> Result<Option<i64>, ApiError> {
        self.checked()?
            .map(|value| self.typed(value, JsonType::Integer, Value::as_i64))
            .transpose()
    }

    /// Runs the checks and requires a number when present.
    pub fn get_f64(self) -> Result<Option<f64>, ApiError> {
        self.checked()?
            .map(|value| self.typed(value, JsonType::Number, Value::as_f64))
            .transpose()
    }

    /// Runs the checks and requires a boolean when present.
    pub fn get_bool(self) -> Result<Option<bool>, ApiError> {
        self.checked()?
            .map(|value| self.typed(value, JsonType::Boolean, Value::as_bool))
            .transpose()
    }

    /// Runs the checks and requires an object when present; its fields report `path.name`.
    pub fn scope(self) -> Result<Option<Scope<'r>>, ApiError> {
        self.checked()?
            .map(|value| self.scope_of(value))
            .transpose()
    }
}

impl<'r> Field<'r, Required> {
    /// Runs the checks; returns the value.
    pub fn get(self) -> Result<Value, ApiError> {
        self.present().cloned()
    }

    /// Runs the checks; returns a borrowed value.
    pub fn get_ref(&self) -> Result<&'r Value, ApiError> {
        self.present()
    }

    /// Runs the checks and requires a string.
    pub fn get_str(self) -> Result<&'r str, ApiError> {
        self.typed(self.present()?, JsonType::String, Value::as_str)
    }

    /// Runs the checks and requires an integer (of `i64`'s range).
    pub fn get_i64(self) -> Result<i64, ApiError> {
        self.typed(self.present()?, JsonType::Integer, Value::as_i64)
    }

    /// Runs the checks and requires a number.
    pub fn get_f64(self) -> Result<f64, ApiError> {
        self.typed(self.present()?, JsonType::Number, Value::as_f64)
    }

    /// Runs the checks and requires a boolean.
    pub fn get_bool(self) -> Result<bool, ApiError> {
        self.typed(self.present()?, JsonType::Boolean, Value::as_bool)
    }

    /// Runs the checks and requires an object; its fields report `path.name`.
    pub fn scope(self) -> Result<Scope<'r>, ApiError> {
        self.scope_of(self.present()?)
    }

    fn present(&self) -> Result<&'r Value, ApiError> {
        self.checked()?
            .ok_or_else(|| self.error(FieldState::Missing))
    }
}

impl<'r> Field<'r, Defaulted> {
    /// Runs the checks; returns the value, or the default when absent.
    pub fn get(self) -> Result<Value, ApiError> {
        Ok(self.or_default()?.into_owned())
    }

    /// Runs the checks and requires a string (the default when absent).
    pub fn get_str(self) -> Result<Cow<'r, str>, ApiError> {
        match self.or_default()? {
            Cow::Borrowed(value) => self
                .typed(value, JsonType::String, Value::as_str)
                .map(Cow::Borrowed),
            Cow::Owned(value) => self
                .typed(&value, JsonType::String, Value::as_str)
                .map(|text| Cow::Owned(text.to_owned())),
        }
    }

    /// Runs the checks and requires an integer (the default when absent).
    pub fn get_i64(self) -> Result<i64, ApiError> {
        let value = self.or_default()?;
        self.typed(&value, JsonType::Integer, Value::as_i64)
    }

    /// Runs the checks and requires a number (the default when absent).
    pub fn get_f64(self) -> Result<f64, ApiError> {
        let value = self.or_default()?;
        self.typed(&value, JsonType::Number, Value::as_f64)
    }

    /// Runs the checks and requires a boolean (the default when absent).
    pub fn get_bool(self) -> Result<bool, ApiError> {
        let value = self.or_default()?;
        self.typed(&value, JsonType::Boolean, Value::as_bool)
    }

    fn or_default(&self) -> Result<Cow<'r, Value>, ApiError> {
        Ok(match self.checked()? {
            Some(value) => Cow::Borrowed(value),
            None => Cow::Owned(self.default.clone().unwrap_or(Value::Null)),
        })
    }
}

impl<'r, P: Presence> Field<'r, P> {
    fn with_presence<Q: Presence>(self) -> Field<'r, Q> {
        Field {
            path: self.path,
            value: self.value,
            presence: std::marker::PhantomData,
            default: self.default,
            valid_type: self.valid_type,
            valid_values: self.valid_values,
            valid_if: self.valid_if,
            length: self.length,
            explain: self.explain,
        }
    }

    /// The value must be of this JSON type.
    pub fn valid_type(mut self, json_type: JsonType) -> Self {
        self.valid_type = Some(json_type);
        self
    }

    /// The value must equal one of these.
    pub fn valid_value<I, V>(mut self, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<Value>,
    {
        self.valid_values = Some(values.into_iter().map(Into::into).collect());
        self
    }

    /// The value must satisfy this predicate (may be given several times).
    pub fn valid_if(mut self, predicate: impl Fn(&Value) -> bool + 'r) -> Self {
        self.valid_if.push(Box::new(predicate));
        self
    }

    /// The length: an exact `n` (the original's `valid_length=n`) or a range (`1..=100`,
    /// `..=50`, `1..`); characters of a string, items of an array, keys of an object.
    /// Anything else (a number) is `invalid`.
    pub fn valid_length(mut self, length: impl Into<Length>) -> Self {
        self.length = Some(length.into());
        self
    }

    /// Maximum length, counted as in [`Field::valid_length`] (the same as
    /// `.valid_length(..=length)`, keeping a minimum given before).
    pub fn max_length(mut self, length: usize) -> Self {
        let min = self.length.map_or(0, |rule| rule.min);
        self.length = Some(Length {
            min,
            max: Some(length),
        });
        self
    }

    /// Any JSON value added as `"explain"` to this field's errors, instead of the
    /// automatic one. An empty one (`""`, `null`) leaves `explain` out, as the original did.
    pub fn explain(mut self, explain: impl Into<Value>) -> Self {
        let explain = explain.into();
        self.explain = match &explain {
            Value::Null => Explain::None,
            Value::String(text) if text.is_empty() => Explain::None,
            _ => Explain::Given(explain),
        };
        self
    }

    /// Leaves `explain` out of this field's errors: the original's bare
    /// `{"field": .., "state": "invalid"}`, for clients that compare bodies exactly.
    pub fn no_explain(mut self) -> Self {
        self.explain = Explain::None;
        self
    }

    /// The error for this field in `state`, with the author's `explain` if given.
    pub fn error(&self, state: FieldState) -> ApiError {
        let explain = match &self.explain {
            Explain::Given(value) => Some(value.clone()),
            Explain::Automatic | Explain::None => None,
        };
        ApiError::field(self.path.clone(), state, explain)
    }

    /// `invalid`, with the author's `explain`, else `why` (unless left out).
    fn invalid(&self, why: impl FnOnce() -> String) -> ApiError {
        let explain = match &self.explain {
            Explain::Given(value) => Some(value.clone()),
            Explain::Automatic => Some(Value::String(why())),
            Explain::None => None,
        };
        ApiError::field(self.path.clone(), FieldState::Invalid, explain)
    }

    /// Runs the checks on the value if present; `Ok(None)` when absent and not required.
    fn checked(&self) -> Result<Option<&'r Value>, ApiError> {
        let Some(value) = self.value else {
            return if P::REQUIRED {
                Err(self.error(FieldState::Missing))
            } else {
                Ok(None)
            };
        };
        match self.why_invalid(value) {
            None => Ok(Some(value)),
            Some(why) => Err(self.invalid(|| why)),
        }
    }

    /// Which check `value` fails, in words; `None` when it passes them all.
    fn why_invalid(&self, value: &Value) -> Option<String> {
        if let Some(json_type) = self.valid_type {
            if !json_type.matches(value) {
                return Some(format!("should be {}", json_type.name()));
            }
        }
        if let Some(values) = &self.valid_values {
            if !values.contains(value) {
                return Some(format!("should be one of {}", Value::from(values.clone())));
            }
        }
        if !self.valid_if.iter().all(|predicate| predicate(value)) {
            return Some("is not an accepted value".to_owned());
        }
        if let Some(rule) = self.length {
            let Some((length, unit)) = length_of(value) else {
                return Some("should be a string, an array or an object (it has no length)".into());
            };
            if !rule.admits(length) {
                return Some(rule.explain(unit));
            }
        }
        None
    }

    /// `value` as `T` via `as_type`, else `invalid` ("should be <type>").
    fn typed<T>(
        &self,
        value: &'r Value,
        json_type: JsonType,
        as_type: impl FnOnce(&'r Value) -> Option<T>,
    ) -> Result<T, ApiError> {
        as_type(value).ok_or_else(|| self.invalid(|| format!("should be {}", json_type.name())))
    }

    fn scope_of(&self, value: &'r Value) -> Result<Scope<'r>, ApiError> {
        match value.as_object() {
            Some(object) => Ok(Scope {
                object,
                prefix: Some(self.path.clone()),
            }),
            None => Err(self.invalid(|| "should be object".to_owned())),
        }
    }
}

/// Characters of a string, items of an array, keys of an object, with the unit's name;
/// `None` otherwise.
fn length_of(value: &Value) -> Option<(usize, &'static str)> {
    match value {
        Value::String(s) => Some((s.chars().count(), "characters")),
        Value::Array(items) => Some((items.len(), "items")),
        Value::Object(map) => Some((map.len(), "keys")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Object {
        match value {
            Value::Object(map) => map,
            _ => Object::new(),
        }
    }

    fn state<T: Into<Value>>(result: Result<T, ApiError>) -> Value {
        match result {
            Ok(value) => json!({"ok": value.into()}),
            Err(error) => error.error_value(),
        }
    }

    #[test]
    fn absent_optional_is_null_and_default_applies() {
        let request = object(json!({}));
        assert_eq!(field(&request, "x").get(), Ok(Value::Null));
        assert_eq!(field(&request, "x").default("X").get(), Ok(json!("X")));
        assert_eq!(field(&request, "x").get_i64(), Ok(None));
        assert_eq!(field(&request, "x").default(5).get_i64(), Ok(5));
        assert_eq!(
            field(&request, "x").default("w").get_str().as_deref(),
            Ok("w")
        );
        assert_eq!(field(&request, "x").default(true).get_bool(), Ok(true));
        let present = object(json!({"x": 7, "s": "abc"}));
        assert_eq!(field(&present, "x").default(5).get_i64(), Ok(7));
        assert_eq!(
            field(&present, "s").default("w").get_str(),
            Ok(Cow::Borrowed("abc"))
        );
    }

    #[test]
    fn required_means_present_even_if_null() {
        let request = object(json!({"x": null}));
        assert_eq!(field(&request, "x").required().get(), Ok(Value::Null));
        assert_eq!(
            state(field(&object(json!({})), "x").required().get()),
            json!({"field": "x", "state": "missing"})
        );
        assert_eq!(
            state(field(&request, "x").required().get_str()),
            json!({"field": "x", "state": "invalid", "explain": "should be string"})
        );
    }

    #[test]
    fn boolean_is_not_integer_and_float_is_not_integer() {
        for bad in [json!(true), json!(4.0), json!(null), json!("4")] {
            let request = object(json!({ "x": bad }));
            assert_eq!(
                state(field(&request, "x").valid_type(JsonType::Integer).get()),
                json!({"field": "x", "state": "invalid", "explain": "should be integer"})
            );
        }
        let request = object(json!({"x": 42}));
        assert_eq!(
            field(&request, "x").valid_type(JsonType::Integer).get(),
            Ok(json!(42))
        );
        assert_eq!(field(&request, "x").required().get_i64(), Ok(42));
    }

    #[test]
    fn length_counts_chars_items_keys_and_numbers_are_invalid() {
        let check = |v: Value, length: Length| {
            let request = object(json!({ "x": v }));
            state(field(&request, "x").valid_length(length).get())
        };
        let ok = |v: Value| json!({ "ok": v });
        assert_eq!(check(json!("éé"), 2.into()), ok(json!("éé")));
        assert_eq!(check(json!(["X", "Y"]), 2.into()), ok(json!(["X", "Y"])));
        assert_eq!(check(json!({"a": 1, "b": 2}), 2.into())["ok"]["a"], 1);
        assert_eq!(
            check(json!(["X"]), 2.into())["explain"],
            "should have 2 items"
        );
        assert_eq!(
            check(json!(42), 2.into())["explain"],
            "should be a string, an array or an object (it has no length)"
        );
        assert_eq!(
            check(json!(""), (1..=100).into())["explain"],
            "should have 1 to 100 characters"
        );
        assert_eq!(check(json!("a"), (1..=100).into()), ok(json!("a")));
        assert_eq!(
            check(json!([1, 2, 3]), (..=2).into())["explain"],
            "should have at most 2 items"
        );
        assert_eq!(check(json!([1, 2]), (..3).into()), ok(json!([1, 2])));
        assert_eq!(
            check(json!({}), (1..).into())["explain"],
            "should have at least 1 keys"
        );
        let request = object(json!({"x": 42}));
        assert!(field(&request, "x").max_length(2).get().is_err());
        let request = object(json!({"x": "abc"}));
        assert!(field(&request, "x")
            .valid_length(2..)
            .max_length(3)
            .get()
            .is_ok());
    }

    #[test]
    fn explain_given_automatic_or_left_out() {
        let request = object(json!({"user": {"name": 5}}));
        let user = field(&request, "user").required().scope();
        let Ok(user) = user else {
            panic!("user is an object")
        };
        assert_eq!(
            state(
                user.field("name")
                    .valid_type(JsonType::String)
                    .explain("a name")
                    .get()
            ),
            json!({"field": "user.name", "state": "invalid", "explain": "a name"})
        );
        assert_eq!(
            state(user.field("name").valid_type(JsonType::String).get()),
            json!({"field": "user.name", "state": "invalid", "explain": "should be string"})
        );
        for bare in [
            user.field("name").valid_type(JsonType::String).no_explain(),
            user.field("name").valid_type(JsonType::String).explain(""),
        ] {
            assert_eq!(
                state(bare.get()),
                json!({"field": "user.name", "state": "invalid"})
            );
        }
        assert_eq!(
            state(field(&request, "user").required().get_str()),
            json!({"field": "user", "state": "invalid", "explain": "should be string"})
        );
        let no_user = object(json!({"user": 1}));
        assert_eq!(
            state(field(&no_user, "user").scope().map(|_| Value::Null)),
            json!({"field": "user", "state": "invalid", "explain": "should be object"})
        );
        assert!(matches!(
            field(&object(json!({})), "user").scope(),
            Ok(None)
        ));
    }

    #[test]
    fn valid_value_and_predicates() {
        let request = object(json!({"x": "Y", "n": 3}));
        assert_eq!(
            state(field(&request, "x").valid_value(["X"]).get()),
            json!({"field": "x", "state": "invalid", "explain": "should be one of [\"X\"]"})
        );
        assert!(field(&request, "x").valid_value(["X", "Y"]).get().is_ok());
        assert_eq!(
            state(
                field(&request, "n")
                    .valid_if(|v| v.as_i64().is_some_and(|n| n > 5))
                    .get()
            ),
            json!({"field": "n", "state": "invalid", "explain": "is not an accepted value"})
        );
    }
}

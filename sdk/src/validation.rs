//! Request field validation: the port of apiphant's `validation.field()`.
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
//! failing any check is 400 `{"field": "id", "state": "invalid"}`, with `"explain"` only
//! when one was given. Subfields report dotted paths (`"user.name"`), see [`Scope`].
//! Unlike the original, a length check on a value without a length (a number) is
//! `invalid` rather than a 500, and a JSON `true` is not an integer.

use crate::error::{ApiError, FieldState, Object};
use serde_json::Value;

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
}

type Predicate<'a> = Box<dyn Fn(&Value) -> bool + 'a>;

/// One field of a request object, with the checks to run on it. Built by [`field`].
pub struct Field<'r> {
    path: String,
    value: Option<&'r Value>,
    required: bool,
    default: Option<Value>,
    valid_type: Option<JsonType>,
    valid_values: Option<Vec<Value>>,
    valid_if: Vec<Predicate<'r>>,
    valid_length: Option<usize>,
    max_length: Option<usize>,
    explain: Option<Value>,
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

impl std::fmt::Debug for Field<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Field")
            .field("path", &self.path)
            .field("value", &self.value)
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}

impl<'r> Field<'r> {
    fn new(path: String, value: Option<&'r Value>) -> Self {
        Field {
            path,
            value,
            required: false,
            default: None,
            valid_type: None,
            valid_values: None,
            valid_if: Vec::new(),
            valid_length: None,
            max_length: None,
            explain: None,
        }
    }

    /// Absent is an error (`missing`). Presence counts, not truthiness: `null` is present.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// The value to use when the field is absent.
    pub fn default(mut self, value: impl Into<Value>) -> Self {
        self.default = Some(value.into());
        self
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

    /// Exact length: characters of a string, items of an array, keys of an object.
    pub fn valid_length(mut self, length: usize) -> Self {
        self.valid_length = Some(length);
        self
    }

    /// Maximum length, counted as in [`Field::valid_length`].
    pub fn max_length(mut self, length: usize) -> Self {
        self.max_length = Some(length);
        self
    }

    /// Any JSON value added as `"explain"` to this field's errors.
    pub fn explain(mut self, explain: impl Into<Value>) -> Self {
        self.explain = Some(explain.into());
        self
    }

    /// Runs the checks; returns the value (the default, or `null`, when absent and optional).
    pub fn get(self) -> Result<Value, ApiError> {
        match self.checked()? {
            Some(value) => Ok(value.clone()),
            None => Ok(self.default.clone().unwrap_or(Value::Null)),
        }
    }

    /// Runs the checks; returns a borrowed value, or `None` when absent and optional.
    pub fn get_ref(&self) -> Result<Option<&'r Value>, ApiError> {
        self.checked()
    }

    /// Runs the checks and requires a string.
    pub fn get_str(self) -> Result<Option<&'r str>, ApiError> {
        let value = self.checked()?;
        value
            .map(|v| v.as_str().ok_or_else(|| self.error(FieldState::Invalid)))
            .transpose()
    }

    /// Runs the checks and requires an integer.
    pub fn get_i64(self) -> Result<Option<i64>, ApiError> {
        let value = self.checked()?;
        value
            .map(|v| v.as_i64().ok_or_else(|| self.error(FieldState::Invalid)))
            .transpose()
    }

    /// Runs the checks and requires an object; its fields report `path.name`.
    pub fn scope(self) -> Result<Option<Scope<'r>>, ApiError> {
        let value = self.checked()?;
        let Some(value) = value else { return Ok(None) };
        match value.as_object() {
            Some(object) => Ok(Some(Scope {
                object,
                prefix: Some(self.path.clone()),
            })),
            None => Err(self.error(FieldState::Invalid)),
        }
    }

    /// The error for this field in `state`, with its `explain`.
    pub fn error(&self, state: FieldState) -> ApiError {
        ApiError::field(self.path.clone(), state, self.explain.clone())
    }

    fn checked(&self) -> Result<Option<&'r Value>, ApiError> {
        let Some(value) = self.value else {
            return if self.required {
                Err(self.error(FieldState::Missing))
            } else {
                Ok(None)
            };
        };
        if self.is_valid(value) {
            Ok(Some(value))
        } else {
            Err(self.error(FieldState::Invalid))
        }
    }

    fn is_valid(&self, value: &Value) -> bool {
        if let Some(json_type) = self.valid_type {
            if !json_type.matches(value) {
                return false;
            }
        }
        if let Some(values) = &self.valid_values {
            if !values.contains(value) {
                return false;
            }
        }
        if !self.valid_if.iter().all(|predicate| predicate(value)) {
            return false;
        }
        if self.valid_length.is_some() || self.max_length.is_some() {
            let Some(length) = length_of(value) else {
                return false;
            };
            if self.valid_length.is_some_and(|wanted| length != wanted) {
                return false;
            }
            if self.max_length.is_some_and(|max| length > max) {
                return false;
            }
        }
        true
    }
}

/// Characters of a string, items of an array, keys of an object; `None` otherwise.
fn length_of(value: &Value) -> Option<usize> {
    match value {
        Value::String(s) => Some(s.chars().count()),
        Value::Array(items) => Some(items.len()),
        Value::Object(map) => Some(map.len()),
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

    fn state(result: Result<Value, ApiError>) -> Value {
        match result {
            Ok(value) => json!({"ok": value}),
            Err(error) => error.error_value(),
        }
    }

    #[test]
    fn absent_optional_is_null_and_default_applies() {
        let request = object(json!({}));
        assert_eq!(field(&request, "x").get(), Ok(Value::Null));
        assert_eq!(field(&request, "x").default("X").get(), Ok(json!("X")));
    }

    #[test]
    fn required_means_present_even_if_null() {
        let request = object(json!({"x": null}));
        assert_eq!(field(&request, "x").required().get(), Ok(Value::Null));
        assert_eq!(
            state(field(&object(json!({})), "x").required().get()),
            json!({"field": "x", "state": "missing"})
        );
    }

    #[test]
    fn boolean_is_not_integer_and_float_is_not_integer() {
        for bad in [json!(true), json!(4.0), json!(null), json!("4")] {
            let request = object(json!({ "x": bad }));
            assert!(field(&request, "x")
                .valid_type(JsonType::Integer)
                .get()
                .is_err());
        }
        let request = object(json!({"x": 42}));
        assert_eq!(
            field(&request, "x").valid_type(JsonType::Integer).get(),
            Ok(json!(42))
        );
    }

    #[test]
    fn length_counts_chars_items_keys_and_numbers_are_invalid() {
        let check = |v: Value| {
            let request = object(json!({ "x": v }));
            field(&request, "x").valid_length(2).get().is_ok()
        };
        assert!(check(json!("éé")));
        assert!(check(json!(["X", "Y"])));
        assert!(check(json!({"a": 1, "b": 2})));
        assert!(!check(json!(["X"])));
        assert!(!check(json!(42)));
        let request = object(json!({"x": 42}));
        assert!(field(&request, "x").max_length(2).get().is_err());
    }

    #[test]
    fn explain_and_subfield_paths() {
        let request = object(json!({"user": {"name": 5}}));
        let user = field(&request, "user").required().scope();
        let user = user.ok().flatten().expect("user is an object");
        assert_eq!(
            state(
                user.field("name")
                    .valid_type(JsonType::String)
                    .explain("should be string")
                    .get()
            ),
            json!({"field": "user.name", "state": "invalid", "explain": "should be string"})
        );
    }

    #[test]
    fn valid_value_and_predicates() {
        let request = object(json!({"x": "Y", "n": 3}));
        assert!(field(&request, "x").valid_value(["X"]).get().is_err());
        assert!(field(&request, "x").valid_value(["X", "Y"]).get().is_ok());
        assert!(field(&request, "n")
            .valid_if(|v| v.as_i64().is_some_and(|n| n > 5))
            .get()
            .is_err());
    }
}

//! The rules of a [`Valid<T>`](crate::Valid) request (validator's `#[validate(...)]`
//! attributes) turned into the one field-error shape: the first failing rule (fields in
//! name order, items in index order) as `invalid` at its full dotted path, its own
//! `message` as `explain` when it has one, else the rule in words.

use crate::error::{ApiError, FieldState};
use serde_json::Value;
use validator::{ValidationError, ValidationErrors, ValidationErrorsKind};

/// The first failing rule of `errors` as a field error.
pub(crate) fn field_error(errors: &ValidationErrors) -> ApiError {
    let mut path = Vec::new();
    let error = first(errors, &mut path);
    let explain = error.map_or_else(|| "fails a rule".to_owned(), explain);
    ApiError::field(
        path.join("."),
        FieldState::Invalid,
        Some(Value::String(explain)),
    )
}

/// The first failing rule, pushing its path onto `path`.
fn first<'e>(errors: &'e ValidationErrors, path: &mut Vec<String>) -> Option<&'e ValidationError> {
    let mut fields: Vec<_> = errors.errors().iter().collect();
    fields.sort_by(|a, b| a.0.cmp(b.0));
    let (name, kind) = fields.into_iter().next()?;
    // `__all__`: a rule of the struct itself (`#[validate(schema(...))]`).
    if name != "__all__" {
        path.push(name.to_string());
    }
    match kind {
        ValidationErrorsKind::Field(list) => list.first(),
        ValidationErrorsKind::Struct(inner) => first(inner, path),
        ValidationErrorsKind::List(items) => {
            let (index, inner) = items.iter().next()?;
            path.push(index.to_string());
            first(inner, path)
        }
    }
}

/// The rule's own message, else the rule in words from its code and parameters.
fn explain(error: &ValidationError) -> String {
    if let Some(message) = &error.message {
        return message.to_string();
    }
    let param = |name: &str| error.params.get(name).map(ToString::to_string);
    let between = |what: &str| match (param("min"), param("max"), param("equal")) {
        (_, _, Some(equal)) => format!("{what} should be {equal}"),
        (Some(min), Some(max), _) => format!("{what} should be from {min} to {max}"),
        (Some(min), None, _) => format!("{what} should be at least {min}"),
        (None, Some(max), _) => format!("{what} should be at most {max}"),
        (None, None, _) => format!("{what} is out of range"),
    };
    match error.code.as_ref() {
        "length" => between("length"),
        "range" => between("value"),
        "email" => "should be an email address".to_owned(),
        "url" => "should be a URL".to_owned(),
        "regex" => "does not match the expected pattern".to_owned(),
        "contains" => format!("should contain {}", param("needle").unwrap_or_default()),
        "does_not_contain" => format!("should not contain {}", param("needle").unwrap_or_default()),
        "must_match" => format!("should match {}", param("other").unwrap_or_default()),
        "required" => "is required".to_owned(),
        code => format!("fails the rule '{code}'"),
    }
}

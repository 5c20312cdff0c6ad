//! Fuzzes the validation module (`apiphant_sdk::field`) over arbitrary JSON: the first
//! bytes pick the checks, the rest is the request. Every outcome must be a value or a
//! 400 `{"field": .., "state": "missing"|"invalid"}`, and never a panic.
#![no_main]

use apiphant_sdk::{field, ApiError, Field, JsonType, Object, Presence, Scope, Value};
use libfuzzer_sys::fuzz_target;

const TYPES: [JsonType; 7] = [
    JsonType::String,
    JsonType::Integer,
    JsonType::Number,
    JsonType::Boolean,
    JsonType::Array,
    JsonType::Object,
    JsonType::Null,
];

fn check_error(error: &ApiError, path: &str) {
    assert_eq!(error.status_code(), 400);
    let value = error.error_value();
    assert_eq!(value["field"], Value::from(path));
    assert!(value["state"] == "missing" || value["state"] == "invalid");
    let body = error.body();
    assert!(body.is_object());
}

/// Validates `name` in `scope` with the checks chosen by `options`; recurses into objects.
fn validate(scope: &Scope<'_>, prefix: Option<&str>, name: &str, options: &[u8], depth: usize) {
    let Some((&flags, rest)) = options.split_first() else {
        return;
    };
    let arg = rest.first().copied().unwrap_or(0);
    // A subfield's path is `parent.name`, even when the parent's name is "" (`.name`).
    let path = match prefix {
        Some(prefix) => format!("{prefix}.{name}"),
        None => name.to_owned(),
    };
    let present = scope.object().get(name);
    let checks = scope.field(name);
    // The presence is in the field's type: the value's checks are applied to each.
    match (flags & 3, flags >> 7) {
        (1 | 3, 0) => match value_checks(checks.required(), flags, arg, scope, name).get() {
            Ok(value) => assert_eq!(Some(&value), present),
            Err(error) => check_error(&error, &path),
        },
        (1 | 3, _) => match value_checks(checks.required(), flags, arg, scope, name).scope() {
            Ok(inner) => descend(&inner, &path, rest, depth),
            Err(error) => check_error(&error, &path),
        },
        (2, _) => {
            let checks = checks.default(Value::from(arg));
            match value_checks(checks, flags, arg, scope, name).get() {
                Ok(value) => {
                    if let Some(present) = present {
                        assert_eq!(&value, present);
                    }
                }
                Err(error) => check_error(&error, &path),
            }
        }
        (_, 0) => match value_checks(checks, flags, arg, scope, name).get() {
            Ok(value) => {
                if let Some(present) = present {
                    assert_eq!(&value, present);
                }
            }
            Err(error) => check_error(&error, &path),
        },
        _ => match value_checks(checks, flags, arg, scope, name).scope() {
            Ok(Some(inner)) => descend(&inner, &path, rest, depth),
            Ok(None) => assert!(present.is_none()),
            Err(error) => check_error(&error, &path),
        },
    }
}

/// The checks of a value that `options` choose, whatever the field's presence.
fn value_checks<'r, P: Presence>(
    mut checks: Field<'r, P>,
    flags: u8,
    arg: u8,
    scope: &Scope<'r>,
    name: &str,
) -> Field<'r, P> {
    if flags & 4 != 0 {
        checks = checks.valid_type(TYPES[usize::from(arg) % TYPES.len()]);
    }
    if flags & 8 != 0 {
        checks = checks.valid_length(usize::from(arg % 8));
    }
    if flags & 16 != 0 {
        checks = checks.max_length(usize::from(arg % 8));
    }
    if flags & 32 != 0 {
        let candidates: Vec<Value> = scope.object().values().take(4).cloned().collect();
        checks = checks.valid_value(candidates);
    }
    if flags & 64 != 0 {
        checks = checks.explain(Value::from(name));
    }
    checks
}

/// Validates a few subfields of `inner` (bounded depth).
fn descend(inner: &Scope<'_>, path: &str, rest: &[u8], depth: usize) {
    let keys: Vec<String> = inner.object().keys().take(4).cloned().collect();
    if depth < 8 {
        for key in keys {
            validate(
                inner,
                Some(path),
                &key,
                rest.get(1..).unwrap_or(&[]),
                depth + 1,
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let split = data.len().min(16);
    let (options, json) = data.split_at(split);
    let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(json) else {
        return;
    };
    let request: Object = request;
    let root = Scope::root(&request);
    let mut names: Vec<String> = request.keys().take(4).cloned().collect();
    names.push("absent".to_owned());
    for name in &names {
        validate(&root, None, name, options, 0);
    }
    // The free function and typed getters agree with the scope's.
    let _ = field(&request, "absent").required().get_str();
    for name in &names {
        let _ = field(&request, name).get_i64();
        let _ = field(&request, name).get_str();
    }
});

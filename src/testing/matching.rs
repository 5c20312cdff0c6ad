//! What an expected body may say besides plain JSON: [`any`] (a field that must be there,
//! with any value), [`partial`] (an object that may hold more fields than it lists) and a
//! [`Capture`] (a value taken from one response and reused in later calls), and the
//! comparison that reads them.
//!
//! Each is a JSON value with a marker only this module makes (a string starting with
//! U+0001, which a JSON response carries only escaped, so never by accident), so they fit
//! in `serde_json::json!` like any value: `json!({"id": any, "title": "first"})`.

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// What every marker starts with.
const MARK: &str = "\u{1}apiphant:";
/// The marker of [`any`].
const ANY: &str = "\u{1}apiphant:any";
/// The key [`partial`] adds to an object.
const PARTIAL: &str = "\u{1}apiphant:partial";
/// The start of a [`Capture`]'s marker; its name follows.
const CAPTURE: &str = "\u{1}apiphant:capture:";

/// In an expected body: any value, as long as the field is there.
/// `json!({"id": any, "title": "first"})`.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, Default)]
pub struct any;

impl Serialize for any {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(ANY)
    }
}

/// An expected object that may hold more fields than it lists (nested objects stay exact
/// unless they are `partial` too): `partial(json!({"title": "first"}))`. Any other value
/// is returned as it is.
pub fn partial(expected: Value) -> Value {
    match expected {
        Value::Object(mut map) => {
            map.insert(PARTIAL.to_owned(), Value::Bool(true));
            Value::Object(map)
        }
        other => other,
    }
}

/// The values captured so far, by name, shared by a suite and its [`Capture`]s.
#[derive(Debug, Clone, Default)]
pub(crate) struct Captures(Arc<Mutex<BTreeMap<String, Value>>>);

impl Captures {
    fn get(&self, name: &str) -> Option<Value> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(name).cloned()
    }

    fn set(&self, name: &str, value: Value) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.insert(name.to_owned(), value);
    }

    /// A handle on the value named `name`.
    pub(crate) fn capture(&self, name: &str) -> Capture {
        Capture {
            name: name.into(),
            captures: self.clone(),
        }
    }
}

/// A value taken from a response and reused: in an expected body, the first response to
/// hold it there captures it (and later ones must hold the same value); in a request, it
/// stands for the captured value. Made by `Suite::capture`.
#[derive(Debug, Clone)]
pub struct Capture {
    name: Arc<str>,
    captures: Captures,
}

impl Capture {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The captured value (`None` before a response held it).
    pub fn value(&self) -> Option<Value> {
        self.captures.get(&self.name)
    }
}

impl Serialize for Capture {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("{CAPTURE}{}", self.name))
    }
}

/// A request with every [`Capture`] replaced by its value; the error names one that has
/// none yet, or an [`any`] (which means nothing in a request).
pub(crate) fn resolve(request: &Value, captures: &Captures) -> Result<Value, String> {
    Ok(match request {
        Value::String(text) if text.starts_with(MARK) => match text.strip_prefix(CAPTURE) {
            Some(name) => captures.get(name).ok_or_else(|| {
                format!("request: capture '{name}' has no value yet (no earlier response held it)")
            })?,
            None => return Err("request: `any` matches responses; a request needs a value".into()),
        },
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| resolve(item, captures))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut resolved = Map::new();
            for (key, value) in map {
                resolved.insert(key.clone(), resolve(value, captures)?);
            }
            Value::Object(resolved)
        }
        other => other.clone(),
    })
}

/// Structural differences between expected and received JSON, as `path: ...` lines;
/// captures what the expected body captures.
pub(crate) fn diff(
    path: &str,
    expected: &Value,
    received: &Value,
    captures: &Captures,
    out: &mut Vec<String>,
) {
    match (expected, received) {
        (Value::String(marker), _) if marker.starts_with(MARK) => {
            if let Some(name) = marker.strip_prefix(CAPTURE) {
                match captures.get(name) {
                    Some(value) => diff(path, &value, received, captures, out),
                    None => captures.set(name, received.clone()),
                }
            }
        }
        (Value::Object(want), Value::Object(got)) => {
            for (key, value) in want.iter().filter(|(key, _)| *key != PARTIAL) {
                let here = format!("{path}.{key}");
                match got.get(key) {
                    Some(other) => diff(&here, value, other, captures, out),
                    None => out.push(format!("{here}: expected {}, missing", shown(value))),
                }
            }
            if !want.contains_key(PARTIAL) {
                for (key, value) in got {
                    if !want.contains_key(key) {
                        out.push(format!("{path}.{key}: unexpected {value}"));
                    }
                }
            }
        }
        (Value::Array(want), Value::Array(got)) if want.len() == got.len() => {
            for (index, (a, b)) in want.iter().zip(got).enumerate() {
                diff(&format!("{path}[{index}]"), a, b, captures, out);
            }
        }
        _ if expected == received => {}
        _ => out.push(format!(
            "{path}: expected {}, received {received}",
            shown(expected)
        )),
    }
}

/// An expected value as a reader wrote it: markers by their names.
pub(crate) fn shown(expected: &Value) -> String {
    let mut text = expected.to_string();
    if text.contains("\\u0001apiphant:") {
        text = text
            .replace("\"\\u0001apiphant:any\"", "any")
            .replace(",\"\\u0001apiphant:partial\":true", ",..")
            .replace("\"\\u0001apiphant:partial\":true", "..")
            .replace("\"\\u0001apiphant:capture:", "capture:\"");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn differences(expected: Value, received: Value, captures: &Captures) -> Vec<String> {
        let mut out = Vec::new();
        diff("$", &expected, &received, captures, &mut out);
        out
    }

    #[test]
    fn diff_names_paths() {
        assert_eq!(
            differences(
                json!({"a": 1, "b": {"c": [1, 2]}, "d": 0}),
                json!({"a": 1, "b": {"c": [1, 3]}, "e": 0}),
                &Captures::default()
            ),
            vec![
                "$.b.c[1]: expected 2, received 3",
                "$.d: expected 0, missing",
                "$.e: unexpected 0"
            ]
        );
    }

    #[test]
    fn any_matches_every_value_but_not_a_missing_field() {
        let captures = Captures::default();
        for value in [json!(1), json!("x"), json!(null), json!({"a": [1]})] {
            let got = json!({"id": value, "t": 1});
            assert!(differences(json!({"id": any, "t": 1}), got, &captures).is_empty());
        }
        assert_eq!(
            differences(json!({"id": any}), json!({}), &captures),
            ["$.id: expected any, missing"]
        );
        assert_eq!(
            differences(json!({"id": any}), json!({"id": 1, "x": 2}), &captures),
            ["$.x: unexpected 2"]
        );
    }

    #[test]
    fn partial_objects_allow_more_fields_and_check_the_listed_ones() {
        let captures = Captures::default();
        let got = json!({"id": 7, "title": "t", "tags": []});
        assert!(differences(partial(json!({"title": "t"})), got.clone(), &captures).is_empty());
        assert_eq!(
            differences(partial(json!({"title": "u"})), got, &captures),
            ["$.title: expected \"u\", received \"t\""]
        );
        assert_eq!(shown(&partial(json!({"a": any}))), "{\"a\":any,..}");
    }

    #[test]
    fn a_capture_takes_the_first_value_then_must_match_and_fills_requests() {
        let captures = Captures::default();
        let id = captures.capture("id");
        assert!(resolve(&json!({"id": id}), &captures)
            .unwrap_err()
            .contains("capture 'id' has no value yet"));
        assert!(differences(json!({"id": id}), json!({"id": 41}), &captures).is_empty());
        assert_eq!(id.value(), Some(json!(41)));
        assert_eq!(
            resolve(&json!({"id": id, "list": [id]}), &captures),
            Ok(json!({"id": 41, "list": [41]}))
        );
        assert_eq!(
            differences(json!({"id": id}), json!({"id": 42}), &captures),
            ["$.id: expected 41, received 42"]
        );
        assert!(resolve(&json!({"id": any}), &captures).is_err());
    }
}

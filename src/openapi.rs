//! The API description: an OpenAPI 3.1 document of every route, built once at start-up from
//! the plugins' manifests (their actions' doc text and JSON Schemas: a typed action's from
//! its types, a dynamic one's by hand or `{"type":"object"}`). Printed by
//! `apiphant openapi PRODUCT` and served at `GET /.well-known/openapi.json`.

use apiphant_sdk::manifest::{ActionEntry, Manifest};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Where the server serves the document.
pub const PATH: &str = "/.well-known/openapi.json";

/// Why a plugin's schemas cannot go into the document: which manifest (an index into the
/// slice given to [`document`]) and what is wrong, in words.
#[derive(Debug)]
pub struct SchemaError {
    pub manifest: usize,
    pub reason: String,
}

/// The schemas shared under `components`, and the route and action that brought each, so
/// two different types under one name are caught, not silently merged.
struct Components {
    schemas: Map<String, Value>,
    owners: HashMap<String, String>,
}

/// The document for `manifests`, titled `title` (the product's name), or the first schema
/// that cannot be built: one that is not a JSON Schema (an object or a boolean), or a type
/// whose name another, different type already uses.
pub fn document(title: &str, manifests: &[Manifest]) -> Result<Value, SchemaError> {
    let mut components = Components {
        schemas: Map::new(),
        owners: HashMap::new(),
    };
    components.schemas.insert("Error".into(), error_schema());
    components
        .schemas
        .insert("FieldError".into(), field_error_schema());
    let mut paths = Map::new();
    for (index, manifest) in manifests.iter().enumerate() {
        for target in &manifest.targets {
            for action in &target.actions {
                let path = format!("/api/{}/{}", target.route, action.name);
                let operation =
                    operation(&target.route, action, &mut components).map_err(|reason| {
                        SchemaError {
                            manifest: index,
                            reason,
                        }
                    })?;
                paths.insert(path, json!({ "post": operation }));
            }
        }
    }
    let components = components.schemas;
    Ok(json!({
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every call is POST /api/<version>/<target>/<action> with a JSON object in and a JSON object out. Another method on a known route answers 501 {\"error\":\"501 Not Implemented\"}; an unknown path 404.",
        },
        "paths": paths,
        "components": { "schemas": components },
    }))
}

/// One action's `post` operation, or why one of its schemas cannot be built.
fn operation(
    route: &str,
    action: &ActionEntry,
    components: &mut Components,
) -> Result<Value, String> {
    let owner = format!("{route}/{}", action.name);
    let object = || json!({"type": "object"});
    let mut schema = |which: &str, schema: &Option<Value>| match schema {
        None => Ok(object()),
        Some(schema) => lift(schema.clone(), &owner, components)
            .map_err(|reason| format!("the {which} schema of {owner} {reason}")),
    };
    let request = schema("request", &action.request_schema)?;
    let response = schema("response", &action.response_schema)?;
    let (request_type, request) = if action.raw_request {
        raw_content(
            action.consumes.as_deref(),
            action.request_schema.is_some(),
            request,
        )
    } else {
        ("application/json", request)
    };
    let (response_type, response) = if action.raw_response {
        raw_content(
            action.produces.as_deref(),
            action.response_schema.is_some(),
            response,
        )
    } else {
        ("application/json", response)
    };
    let error = |description: &str, schema: Value| json!({"description": description, "content": {"application/json": {"schema": schema}}});
    let reference = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({"description": "The action's answer.", "content": {response_type: {"schema": response}}}),
    );
    responses.insert(
        "400".into(),
        error(
            "The body is not a JSON object ({\"error\":\"Request content should be JSON Object\"}), or a field is missing or invalid ({\"error\":{\"field\":\"a.b\",\"state\":\"missing\"|\"invalid\",\"explain\":...}}).",
            json!({"anyOf": [reference("FieldError"), reference("Error")]}),
        ),
    );
    responses.insert(
        "404".into(),
        error(
            "Not found: {\"error\":\"404 Not Found\"}.",
            reference("Error"),
        ),
    );
    responses.insert(
        "500".into(),
        error(
            "The action failed: {\"error\":\"500 Internal Server Error\"} (the cause is in the server's log).",
            reference("Error"),
        ),
    );
    if action.blocking {
        responses.insert(
            "503".into(),
            error(
                "The blocking pool's queue is full: {\"error\":\"503 Service Unavailable\"}.",
                reference("Error"),
            ),
        );
    }
    responses.insert(
        "default".into(),
        error(
            "An error the action answers with its own status: {\"error\": ...}.",
            reference("Error"),
        ),
    );
    let mut operation = Map::new();
    operation.insert(
        "operationId".into(),
        json!(format!(
            "{}_{}",
            route.replace(['/', '-'], "_"),
            action.name
        )),
    );
    if !action.doc.is_empty() {
        operation.insert("description".into(), json!(action.doc));
    }
    operation.insert(
        "requestBody".into(),
        json!({"required": false, "content": {request_type: {"schema": request}}}),
    );
    operation.insert("responses".into(), Value::Object(responses));
    Ok(Value::Object(operation))
}

/// A raw body's content type and schema: the one the action declared (`.consumes()`,
/// `.produces()`) or `*/*`; its schema by hand, else a string for text, else any.
fn raw_content(declared: Option<&str>, by_hand: bool, schema: Value) -> (&str, Value) {
    let content_type = declared.unwrap_or("*/*");
    let schema = if by_hand {
        schema
    } else if content_type.starts_with("text/") {
        json!({"type": "string"})
    } else {
        json!({})
    };
    (content_type, schema)
}

/// A schema with its `$defs` moved under `components` (shared between operations) and its
/// references rewritten to point there; `$schema` is left to the document's dialect. `owner`
/// (`v1/notes/create`) is named when the schema is not one, or when a type under one of its
/// names differs from the type another action brought under that name.
fn lift(mut schema: Value, owner: &str, components: &mut Components) -> Result<Value, String> {
    match &mut schema {
        Value::Object(map) => {
            map.remove("$schema");
            if let Some(defs) = map.remove("$defs") {
                let Value::Object(defs) = defs else {
                    return Err("has a `$defs` that is not an object".into());
                };
                for (name, mut def) in defs {
                    rewrite_refs(&mut def);
                    match components.schemas.get(&name) {
                        Some(known) if *known != def => {
                            let other = components.owners.get(&name).map_or("", String::as_str);
                            return Err(format!(
                                "names a type `{name}` that differs from the `{name}` of {other}: give one of them its own name (#[schemars(rename = \"...\")])"
                            ));
                        }
                        Some(_) => {}
                        None => {
                            components.schemas.insert(name.clone(), def);
                            components.owners.insert(name, owner.to_owned());
                        }
                    }
                }
            }
        }
        Value::Bool(_) => {}
        _ => return Err("is not a JSON Schema (an object or a boolean)".into()),
    }
    rewrite_refs(&mut schema);
    Ok(schema)
}

/// Rewrites `$defs` references to `components`, and states a unit-variant enum (schemars
/// writes a `oneOf` of string `const`s when its variants have docs) as the plain
/// `{"type":"string","enum":[...]}` that every client generator reads (openapi-python-client
/// 0.29 generates a parser that accepts only the first `const`); each variant's doc goes
/// into the description.
fn rewrite_refs(value: &mut Value) {
    plain_enum(value);
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                match item {
                    Value::String(text) if key == "$ref" => {
                        if let Some(name) = text.strip_prefix("#/$defs/") {
                            *text = format!("#/components/schemas/{name}");
                        }
                    }
                    _ => rewrite_refs(item),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

/// `{"oneOf":[{"type":"string","const":"a","description":"A."},...]}` becomes
/// `{"type":"string","enum":["a",...],"description":"...; a: A."}`; anything else is left.
fn plain_enum(value: &mut Value) {
    let Value::Object(map) = value else { return };
    let Some(Value::Array(variants)) = map.get("oneOf") else {
        return;
    };
    let mut names = Vec::new();
    let mut docs = Vec::new();
    for variant in variants {
        let Value::Object(variant) = variant else {
            return;
        };
        let (Some(Value::String(name)), Some("string")) = (
            variant.get("const"),
            variant.get("type").and_then(Value::as_str),
        ) else {
            return;
        };
        if variant
            .keys()
            .any(|key| !matches!(key.as_str(), "type" | "const" | "description"))
        {
            return;
        }
        if let Some(Value::String(doc)) = variant.get("description") {
            docs.push(format!("{name}: {doc}"));
        }
        names.push(Value::String(name.clone()));
    }
    map.remove("oneOf");
    map.insert("type".into(), json!("string"));
    map.insert("enum".into(), Value::Array(names));
    if !docs.is_empty() {
        let own = map.get("description").and_then(Value::as_str).unwrap_or("");
        let joined = docs.join("; ");
        let description = if own.is_empty() {
            joined
        } else {
            format!("{own} {joined}")
        };
        map.insert("description".into(), json!(description));
    }
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "description": "An error: {\"error\": <status line or any JSON>}.",
        "required": ["error"],
        "properties": {"error": {}},
    })
}

fn field_error_schema() -> Value {
    json!({
        "type": "object",
        "description": "A field that is missing or invalid, by its dotted path.",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["field", "state"],
            "properties": {
                "field": {"type": "string"},
                "state": {"enum": ["missing", "invalid"]},
                "explain": {},
            },
        }},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_types_move_under_components() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {"author": {"$ref": "#/$defs/Author"}},
            "$defs": {"Author": {"type": "object", "properties": {"role": {"$ref": "#/$defs/Role"}}},
                      "Role": {"enum": ["a", "b"]}},
        });
        let mut components = empty();
        let lifted = lift(schema, "v0/books/read", &mut components).expect("a schema");
        assert_eq!(
            lifted,
            json!({"type": "object", "properties": {"author": {"$ref": "#/components/schemas/Author"}}})
        );
        assert_eq!(
            components.schemas["Author"]["properties"]["role"]["$ref"],
            "#/components/schemas/Role"
        );
    }

    #[test]
    fn a_documented_unit_enum_is_a_plain_enum() {
        let schema = json!({"$defs": {"Priority": {"description": "How urgent.", "oneOf": [
            {"type": "string", "const": "low", "description": "Some day."},
            {"type": "string", "const": "high"},
        ]}, "Mixed": {"oneOf": [{"type": "string", "const": "a"}, {"type": "integer"}]}}});
        let mut components = empty();
        lift(schema, "v0/notes/read", &mut components).expect("a schema");
        assert_eq!(
            components.schemas["Priority"],
            json!({"type": "string", "enum": ["low", "high"], "description": "How urgent. low: Some day."})
        );
        assert!(components.schemas["Mixed"]["oneOf"].is_array());
    }

    #[test]
    fn schemas_that_cannot_be_built_are_named() {
        let mut components = empty();
        let author = |kind: &str| json!({"$defs": {"Author": {"type": kind}}});
        lift(author("object"), "v0/books/read", &mut components).expect("a schema");
        // The same type again is shared; a different one under the name is refused.
        lift(author("object"), "v0/books/create", &mut components).expect("the same type");
        let clash = lift(author("string"), "v1/people/read", &mut components);
        assert_eq!(
            clash.err().as_deref(),
            Some("names a type `Author` that differs from the `Author` of v0/books/read: give one of them its own name (#[schemars(rename = \"...\")])")
        );
        for (schema, reason) in [
            (json!(5), "is not a JSON Schema (an object or a boolean)"),
            (json!({"$defs": []}), "has a `$defs` that is not an object"),
        ] {
            assert_eq!(
                lift(schema, "v0/x/read", &mut components).err().as_deref(),
                Some(reason)
            );
        }
        assert_eq!(
            lift(json!(true), "v0/x/read", &mut components).ok(),
            Some(json!(true))
        );
    }

    fn empty() -> Components {
        Components {
            schemas: Map::new(),
            owners: HashMap::new(),
        }
    }
}

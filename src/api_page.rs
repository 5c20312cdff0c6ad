//! The human-readable page of the API, served at `GET /.well-known/api.html`: every route
//! with its doc text, its request and response schemas and an example call, then the shared
//! types; built once at start-up from the OpenAPI document, self-contained (inline style,
//! no script, nothing fetched from elsewhere).

use serde_json::Value;
use std::fmt::Write;

/// Where the server serves the page.
pub const PATH: &str = "/.well-known/api.html";

/// The page for the OpenAPI `document` (`crate::openapi::document`).
pub fn page(document: &Value) -> String {
    let title = escape(document["info"]["title"].as_str().unwrap_or("API"));
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} API</title>\
         <style>body{{font-family:sans-serif;max-width:60em;margin:auto;padding:1em}}\
         pre{{background:#f4f4f4;padding:.5em;overflow:auto}}h2{{border-top:1px solid #ccc;padding-top:.5em}}</style>\
         </head><body>\n<h1>{title} API</h1>\n<p>{}</p>\n<p>The same description, machine-readable: \
         <a href=\"{}\">OpenAPI 3.1</a>.</p>\n",
        escape(document["info"]["description"].as_str().unwrap_or("")),
        crate::openapi::PATH,
    );
    let no_paths = serde_json::Map::new();
    let paths = document["paths"].as_object().unwrap_or(&no_paths);
    out.push_str("<ul>\n");
    for path in paths.keys() {
        let _ = writeln!(out, "<li><a href=\"#{0}\">POST {0}</a></li>", escape(path));
    }
    out.push_str("</ul>\n");
    for (path, item) in paths {
        let operation = &item["post"];
        let path = escape(path);
        let _ = writeln!(out, "<h2 id=\"{path}\">POST {path}</h2>");
        if let Some(doc) = operation["description"].as_str() {
            let _ = writeln!(out, "<p>{}</p>", escape(doc));
        }
        let (request_type, request) = first_content(&operation["requestBody"]);
        let (response_type, response) = first_content(&operation["responses"]["200"]);
        let _ = writeln!(
            out,
            "<h3>Request ({})</h3>\n<pre>{}</pre>\n<h3>Response 200 ({})</h3>\n<pre>{}</pre>",
            escape(request_type),
            pretty(request),
            escape(response_type),
            pretty(response),
        );
        let body = match request_type {
            "application/json" => "-H 'Content-Type: application/json' -d '{}'".to_owned(),
            "multipart/form-data" => "-F name=value -F file=@path".to_owned(),
            other => format!("-H 'Content-Type: {other}' --data-binary @path"),
        };
        let _ = writeln!(
            out,
            "<h3>Example call</h3>\n<pre>curl -X POST \"$BASE{path}\" {}</pre>\n\
             <p>Errors: 400 (body not a JSON object, or a field missing or invalid), 404, 500{}; \
             another method answers 501.</p>",
            escape(&body),
            if operation["responses"]["503"].is_object() {
                ", 503 (the blocking pool is full)"
            } else {
                ""
            },
        );
    }
    out.push_str("<h2 id=\"types\">Shared types</h2>\n");
    if let Some(schemas) = document["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            let _ = writeln!(
                out,
                "<h3 id=\"{0}\">{0}</h3>\n<pre>{1}</pre>",
                escape(name),
                pretty(schema)
            );
        }
    }
    out.push_str("</body></html>\n");
    out
}

/// The first (only) content type of a request body or response, and its schema.
fn first_content(item: &Value) -> (&str, &Value) {
    item["content"]
        .as_object()
        .and_then(|content| content.iter().next())
        .map_or(("", &Value::Null), |(content_type, media)| {
            (content_type.as_str(), &media["schema"])
        })
}

fn pretty(schema: &Value) -> String {
    escape(&serde_json::to_string_pretty(schema).unwrap_or_default())
}

/// Text for HTML: `&`, `<`, `>`, `"`, `'` escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_each_route_with_its_doc_schemas_and_an_example_call() {
        let document = json!({
            "info": {"title": "p<1>", "description": "d"},
            "paths": {"/api/v0/a/read": {"post": {
                "description": "Reads <a>.",
                "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {"200": {"content": {"text/csv": {"schema": {"type": "string"}}}}},
            }}},
            "components": {"schemas": {"Role": {"enum": ["x"]}}},
        });
        let page = page(&document);
        assert!(page.contains("<h1>p&lt;1&gt; API</h1>"), "{page}");
        assert!(page.contains("<h2 id=\"/api/v0/a/read\">POST /api/v0/a/read</h2>"));
        assert!(page.contains("<p>Reads &lt;a&gt;.</p>"));
        assert!(page.contains("Response 200 (text/csv)"));
        assert!(page.contains("curl -X POST \"$BASE/api/v0/a/read\""));
        assert!(page.contains("<h3 id=\"Role\">Role</h3>"));
        assert!(!page.contains("http://") && !page.contains("https://"));
    }
}

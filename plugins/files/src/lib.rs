//! Raw mode examples: `create` takes a `multipart/form-data` upload (raw request),
//! `read` answers CSV (raw response). Like the original's `@raw_environ` / `@raw_response`.

use apiphant_sdk::prelude::*;

/// Receives a form with a `title` field and a `file` part; answers their sizes as JSON.
pub fn create(request: RawRequest<'_>) -> ApiResult {
    let form = request.multipart()?;
    let title = form
        .text("title")
        .ok_or_else(|| ApiError::missing("title"))?;
    let file = form.part("file").ok_or_else(|| ApiError::missing("file"))?;
    let mut response = Object::new();
    response.insert("title".into(), title.into());
    response.insert("file_name".into(), json!(file.file_name));
    response.insert("bytes".into(), file.data.len().into());
    Ok(response)
}

/// Answers a small CSV document, not JSON.
pub fn read(_request: Object) -> RawResponse {
    RawResponse::new(200)
        .header("Content-Type", "text/csv; charset=utf-8")
        .body("name,size\nreport.csv,2\n")
}

apiphant_sdk::export! {
    "v0/files" => {
        create = action(create)
            .doc("Takes a form with a title and a file; answers their sizes.")
            .consumes("multipart/form-data")
            .request_schema(json!({
                "type": "object",
                "required": ["title", "file"],
                "properties": {
                    "title": {"type": "string"},
                    "file": {"type": "string", "contentMediaType": "application/octet-stream"},
                },
            })),
        read = action(read).doc("Answers a small CSV document.").produces("text/csv"),
    }
}

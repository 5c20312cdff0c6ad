//! Raw mode: a real `multipart/form-data` upload with a file and a field, and a CSV answer.

use crate::util::Server;

#[test]
fn multipart_upload_with_a_file_and_a_field() {
    let server = Server::start();
    let boundary = "------------------------apiphant42";
    let file = b"col1,col2\n1,2\n\x00\xffbinary";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nQuarterly\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"q.csv\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let response = server
        .client()
        .send(
            "POST",
            "/api/v0/files/create",
            &[("Content-Type", &content_type)],
            &body,
        )
        .expect("response");
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let json: serde_json::Value = serde_json::from_slice(&response.body).expect("json");
    assert_eq!(
        json,
        serde_json::json!({"title": "Quarterly", "file_name": "q.csv", "bytes": file.len()})
    );
    // Not multipart: the helper's 400.
    let plain = server.post("/api/v0/files/create", b"{}");
    assert_eq!(plain.status, 400);
    assert_eq!(
        plain.body,
        br#"{"error":"Request content should be multipart/form-data"}"#
    );
}

#[test]
fn raw_response_is_sent_as_given() {
    let server = Server::start();
    let response = server.post("/api/v0/files/read", b"{}");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"name,size\nreport.csv,2\n");
    let content_type = response
        .headers
        .iter()
        .find(|(name, _)| name == "Content-Type")
        .map(|(_, value)| value.as_str());
    assert_eq!(content_type, Some("text/csv; charset=utf-8"));
}

//! The echo target's JSON work, shared by every peer of the benchmark so that each does
//! exactly what apiphant's `v0/echo read` does: parse the body as a JSON object (empty
//! means `{}`), insert `"server": "myproduct"`, serialize compactly.

use serde_json::{Map, Value};
use std::io::Write;

/// The 400 body for a request that is not a JSON object (apiphant's text).
pub const BAD_BODY: &str = r#"{"error":"Request content should be JSON Object"}"#;

/// Echoes `body` into `out`; an error means the body is not a JSON object (answer 400).
pub fn echo(body: &[u8], out: impl Write) -> Result<(), serde_json::Error> {
    let mut object = if body.is_empty() {
        Map::new()
    } else {
        serde_json::from_slice::<Map<String, Value>>(body)?
    };
    object.insert("server".to_owned(), Value::from("myproduct"));
    serde_json::to_writer(out, &object)
}

#[cfg(test)]
mod tests {
    #[test]
    fn echoes_like_apiphant() {
        let mut out = Vec::new();
        assert!(super::echo(br#"{"hello": "world"}"#, &mut out).is_ok());
        assert_eq!(out, br#"{"hello":"world","server":"myproduct"}"#);
        assert!(super::echo(b"[1]", &mut Vec::new()).is_err());
    }
}

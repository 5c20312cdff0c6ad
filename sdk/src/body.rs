//! The request body as a JSON object, parsed once by the plugin: for JSON actions (by the
//! glue) and for raw actions that ask (`RawRequest::json`).

use crate::error::Object;

/// The request body as a JSON object: empty means `{}` (apiphant server.py); anything
/// else must be a UTF-8 JSON object. serde_json's recursion limit (128) bounds nesting.
pub(crate) fn parse_object(body: &[u8]) -> Result<Object, serde_json::Error> {
    if body.is_empty() {
        return Ok(Object::new());
    }
    serde_json::from_slice(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_body_is_an_empty_object_and_non_objects_fail() {
        assert_eq!(parse_object(b"").ok(), Some(Object::new()));
        for bad in [
            &b"[1, 2]"[..],
            b"null",
            b"42",
            b"\"s\"",
            b" ",
            b"NaN",
            b"\xef\xbb\xbf{}",
            b"{\"a\": 1} x",
        ] {
            assert!(parse_object(bad).is_err(), "{bad:?}");
        }
        assert!(parse_object(b" \n{\"a\": 1}\n ").is_ok());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_object(deep.as_bytes()).is_err());
    }
}

//! The original apiphant's self-test target: `POST /api/v0/self/create` walks every
//! validation option and error path, chosen by the request's `test` field
//! (cases in ../shared/reference/apiphant-0.2.5.md, section 2).

use apiphant_sdk::prelude::*;

/// Runs the case named by `test`; unknown or absent cases validate `x` as optional.
/// `.no_explain()`: the original's bare `invalid` bodies, byte for byte (the SDK explains
/// a failed check unless told otherwise).
pub fn create(request: Object) -> ApiResult<Value> {
    let x = field(&request, "x").no_explain();
    let x = match request.get("test").and_then(Value::as_str) {
        Some("default") => x.default("X").get()?,
        Some("required") => x.required().get()?,
        Some("valid_value") => x.valid_value(["X"]).get()?,
        Some("valid_type") => x.valid_type(JsonType::Integer).get()?,
        Some("valid_length") => x.valid_length(2).get()?,
        Some("max_length") => x.max_length(2).get()?,
        Some("explain") => x
            .valid_type(JsonType::Integer)
            .explain("should be integer")
            .get()?,
        // apiphant self.py: a non-object result is a 500, the cause only in the log.
        Some("return invalid_json_object") => return Ok(json!("invalid_json_object")),
        // apiphant self.py: `1/0` raises; here a panic, caught at the ABI boundary.
        Some("1/0") => return Ok(json!(1 / std::hint::black_box(0))),
        _ => x.get()?,
    };
    Ok(json!({"ok": true, "x": x}))
}

apiphant_sdk::export! { "v0/self" => { create } }

#[cfg(test)]
mod tests {
    use super::*;

    fn run(request: Value) -> Value {
        let request = request.as_object().cloned().unwrap_or_default();
        match create(request) {
            Ok(value) => value,
            Err(error) => error.body(),
        }
    }

    #[test]
    fn cases_of_the_original_suite() {
        assert_eq!(run(json!({})), json!({"ok": true, "x": null}));
        assert_eq!(
            run(json!({"test": "default"})),
            json!({"ok": true, "x": "X"})
        );
        assert_eq!(
            run(json!({"test": "required"})),
            json!({"error": {"field": "x", "state": "missing"}})
        );
        assert_eq!(
            run(json!({"test": "explain", "x": "X"})),
            json!({"error": {"field": "x", "state": "invalid", "explain": "should be integer"}})
        );
    }
}

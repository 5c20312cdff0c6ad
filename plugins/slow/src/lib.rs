//! An action that blocks its thread, as a database driver or an HTTP client would:
//! `POST /api/v0/slow/read` sleeps (50 ms, or `{"ms": N}` up to 1000) and answers
//! `{"slept_ms": N}`. It is marked `.blocking()`, so the server runs it on its blocking
//! pool and other requests never wait for it (docs/guide.md, "Actions run on the worker
//! threads"; measured by `bench/run.sh --mixed`).
//!
//! `v0/slow/unmarked` is the same action left unmarked, to show what a plugin author who
//! forgets the mark gets: the sleep holds a worker thread, and every request
//! that thread serves waits with it.

use apiphant_sdk::prelude::*;
use std::time::Duration;

/// Sleeps when not told otherwise, in milliseconds.
const DEFAULT_MS: i64 = 50;

/// Blocks the calling thread for `ms` milliseconds (default 50, at most 1000).
pub fn read(request: Object) -> ApiResult {
    let ms = field(&request, "ms")
        .default(DEFAULT_MS)
        .valid_type(JsonType::Integer)
        .valid_if(|ms| ms.as_i64().is_some_and(|ms| (0..=1000).contains(&ms)))
        .get_i64()?;
    std::thread::sleep(Duration::from_millis(ms.unsigned_abs()));
    let mut response = Object::new();
    response.insert("slept_ms".into(), ms.into());
    Ok(response)
}

apiphant_sdk::export! {
    "v0/slow" => { read = action(read).doc("Sleeps 50 ms on the blocking pool.").blocking() },
    "v0/slow/unmarked" => { read = action(read).doc("The same sleep, left unmarked: it holds a worker.") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apiphant_sdk::json;

    fn object(value: Value) -> Object {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn sleeps_and_says_so() {
        let response = read(object(json!({"ms": 1}))).ok().map(Value::Object);
        assert_eq!(response, Some(json!({"slept_ms": 1})));
        assert!(read(object(json!({"ms": 5000}))).is_err());
        assert!(read(object(json!({"ms": "1"}))).is_err());
    }
}

//! The original apiphant's first example: `POST /api/v0/echo/read` answers the request
//! object with `"server": "myproduct"` added. `v1/echo` shows two versions side by side.

use apiphant_sdk::{ApiResult, Object};

/// Echoes the request, adding `"server": "myproduct"` (replacing any `server` in place).
pub fn read(mut request: Object) -> ApiResult {
    log::debug!("echo {} keys", request.len());
    request.insert("server".into(), "myproduct".into());
    Ok(request)
}

/// Version 1 of the echo: the same, and says which version answered.
pub mod v1 {
    use apiphant_sdk::{ApiResult, Object};

    /// Echoes the request with `"server"` and `"version": "v1"`.
    pub fn read(request: Object) -> ApiResult {
        let mut response = super::read(request)?;
        response.insert("version".into(), "v1".into());
        Ok(response)
    }
}

apiphant_sdk::export! { "v0/echo" => { read }, "v1/echo" => { read = v1::read } }

#[cfg(test)]
mod tests {
    use super::*;
    use apiphant_sdk::json;

    #[test]
    fn adds_server_in_place() {
        let request = json!({"server": "other", "n": 1});
        let request = request.as_object().cloned().unwrap_or_default();
        let response = read(request).ok().map(apiphant_sdk::Value::Object);
        assert_eq!(response, Some(json!({"server": "myproduct", "n": 1})));
    }
}

//! The echo, typed: `POST /api/v0/echo/typed/read` with `{"hello": "world"}` answers
//! `{"hello":"world","server":"myproduct"}`, the same JSON work as the dynamic `v0/echo`
//! but through `Json<T>` in and out (what `bench/run.sh` compares with axum's `Json<T>`).

use apiphant_sdk::{action, ApiResult, Json};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The request: one string.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Hello {
    /// Echoed back.
    pub hello: String,
}

/// The response: the string and who answered.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Echo {
    /// As received.
    pub hello: String,
    /// Always `myproduct`.
    pub server: &'static str,
}

/// Echoes `hello`, adding `"server": "myproduct"`.
pub fn read(Json(request): Json<Hello>) -> ApiResult<Json<Echo>> {
    Ok(Json(Echo {
        hello: request.hello,
        server: "myproduct",
    }))
}

apiphant_sdk::export! {
    "v0/echo/typed" => { read = action(read).doc("Echoes {\"hello\": ...} with \"server\" added, typed.") }
}

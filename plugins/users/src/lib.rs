//! A nested target: `users/profile` answers `POST /api/v0/users/profile/read`.

use apiphant_sdk::prelude::*;

/// Reads a user's profile by `id` (a positive integer); id 404 does not exist.
pub fn read(request: Object) -> ApiResult {
    let id = field(&request, "id")
        .required()
        .valid_type(JsonType::Integer)
        .valid_if(|id| id.as_i64().is_some_and(|id| id > 0))
        .explain("a positive integer")
        .get()?;
    if id == json!(404) {
        return Err(ApiError::not_found());
    }
    let mut response = Object::new();
    response.insert("id".into(), id);
    response.insert("name".into(), "User".into());
    Ok(response)
}

/// Updates a profile: `{"id": 1, "user": {"name": "..."}}`; only admins (id 1) may.
pub fn update(request: Object) -> ApiResult<()> {
    let id = field(&request, "id").required().get_i64()?;
    let user = field(&request, "user").required().scope()?;
    user.field("name")
        .required()
        .valid_type(JsonType::String)
        .valid_length(1..=40)
        .get()?;
    if id != 1 {
        return Err(ApiError::forbidden());
    }
    Ok(())
}

apiphant_sdk::export! { "v0/users/profile" => { read, update } }

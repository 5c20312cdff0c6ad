//! A nested target, typed: `users/profile` answers `POST /api/v0/users/profile/read` and
//! `update`. The requests are structs with rules (`Valid<T>`: a range, lengths, a nested
//! object, an array, an enum), the responses structs (`Json<U>`).

use apiphant_sdk::{action, ApiError, ApiResult, Json, Valid};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use validator::Validate;

/// `read`'s request.
#[derive(Debug, Deserialize, Validate, JsonSchema)]
pub struct ProfileId {
    /// A positive integer.
    #[validate(range(min = 1, message = "a positive integer"))]
    pub id: i64,
}

/// A profile, as answered.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Profile {
    /// The user's id.
    pub id: i64,
    /// The user's name.
    pub name: String,
}

/// `update`'s request: `{"id": 1, "user": {"name": "...", "role": "admin", "emails": [...]}}`.
#[derive(Debug, Deserialize, Validate, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileChange {
    /// Whose profile.
    pub id: i64,
    /// The new profile.
    #[validate(nested)]
    pub user: User,
}

/// The nested object of [`ProfileChange`].
#[derive(Debug, Deserialize, Validate, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// 1 to 40 characters.
    #[validate(length(min = 1, max = 40))]
    pub name: String,
    /// `member` (the default) or `admin`.
    #[serde(default)]
    pub role: Role,
    /// Up to 5 email addresses.
    #[serde(default)]
    #[validate(length(max = 5))]
    pub emails: Vec<String>,
}

/// What a user may do.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads.
    #[default]
    Member,
    /// Reads and writes.
    Admin,
}

/// Reads a user's profile by `id` (a positive integer); id 404 does not exist.
pub fn read(Valid(request): Valid<ProfileId>) -> ApiResult<Json<Profile>> {
    if request.id == 404 {
        return Err(ApiError::not_found());
    }
    Ok(Json(Profile {
        id: request.id,
        name: "User".into(),
    }))
}

/// Updates a profile; only admins (id 1) may.
pub fn update(Valid(request): Valid<ProfileChange>) -> ApiResult<()> {
    if request.id != 1 {
        return Err(ApiError::forbidden());
    }
    log::debug!("{:?} is now {:?}", request.user.name, request.user.role);
    Ok(())
}

apiphant_sdk::export! {
    "v0/users/profile" => {
        read = action(read).doc("A user's profile by id."),
        update = action(update).doc("Changes a profile (admins only)."),
    }
}

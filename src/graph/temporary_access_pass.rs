//! Temporary Access Pass, the way back in for a user nobody knows the password of:
//! `POST /users/{id}/authentication/temporaryAccessPassMethods`
//! (learn: graph/api/authentication-post-temporaryaccesspassmethods). The pass itself is in the
//! 201 answer only; Graph accepts lifetimes of 10 to 43,200 minutes.

use serde_json::json;

use super::address::user_path;
use super::users::UserId;
use super::GraphRequest;

/// Graph's bounds for `lifetimeInMinutes`.
pub const MIN_LIFETIME: u32 = 10;
pub const MAX_LIFETIME: u32 = 43_200;

/// A one-time pass valid for `minutes` from now (`lifetimeInMinutes` always sent, so the
/// tenant's default does not decide it silently).
pub fn create(id: &UserId, minutes: u32) -> GraphRequest {
    GraphRequest::post_json(
        format!(
            "{}/authentication/temporaryAccessPassMethods",
            user_path(&id.0)
        ),
        json!({ "lifetimeInMinutes": minutes, "isUsableOnce": true }),
    )
}

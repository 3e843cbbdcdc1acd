//! The Entra roles a user holds: `GET /users/{id}/memberOf/microsoft.graph.directoryRole`
//! (learn: graph/api/user-list-memberof — the cast segment keeps only directoryRole objects),
//! and the signed-in user's own, directly or through groups: `GET
//! /me/transitiveMemberOf/microsoft.graph.directoryRole` (learn:
//! graph/api/user-list-transitivememberof; User.Read is enough for `/me`).

use serde::Deserialize;

use super::address::user_path;
use super::GraphRequest;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryRole {
    pub display_name: Option<String>,
    pub role_template_id: Option<String>,
}

pub fn list(who: &str) -> GraphRequest {
    GraphRequest::get(format!(
        "{}/memberOf/microsoft.graph.directoryRole?$select=displayName,roleTemplateId",
        user_path(who)
    ))
}

/// `GET /me/transitiveMemberOf/microsoft.graph.directoryRole`: the roles of a delegated
/// token's signed-in user, also those held through a role-assignable group.
pub fn mine() -> GraphRequest {
    GraphRequest::get(
        "/me/transitiveMemberOf/microsoft.graph.directoryRole?$select=displayName,roleTemplateId",
    )
}

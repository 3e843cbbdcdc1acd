//! The Entra roles a user holds: `GET /users/{id}/memberOf/microsoft.graph.directoryRole`
//! (learn: graph/api/user-list-memberof — the cast segment keeps only directoryRole objects),
//! and the signed-in user's own, directly or through groups: `GET
//! /me/transitiveMemberOf/microsoft.graph.directoryRole` (learn:
//! graph/api/user-list-transitivememberof; User.Read is enough for `/me`).

use serde::Deserialize;

use super::address::user_path;
use super::{GraphError, GraphRequest, GraphResponse};

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryRole {
    pub display_name: Option<String>,
    pub role_template_id: Option<String>,
}

impl DirectoryRole {
    /// Its display name, or its template id when Graph gave no name.
    pub fn name(self) -> String {
        self.display_name
            .or(self.role_template_id)
            .unwrap_or_else(|| "unnamed role".into())
    }
}

/// The role names of a whole list answer (`{"value": [...]}`).
pub fn names(resp: &GraphResponse) -> Result<Vec<String>, GraphError> {
    let page: super::paging::Page<DirectoryRole> = resp.json()?;
    Ok(page.value.into_iter().map(DirectoryRole::name).collect())
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

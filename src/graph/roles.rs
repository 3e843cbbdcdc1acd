//! The Entra roles a user holds: `GET /users/{id}/memberOf/microsoft.graph.directoryRole`
//! (learn: graph/api/user-list-memberof — the cast segment keeps only directoryRole objects).

use serde::Deserialize;

use super::GraphRequest;
use crate::address::user_path;

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

//! The apps a user owns: `GET /users/{id}/ownedObjects/microsoft.graph.application` and
//! `/microsoft.graph.servicePrincipal` (learn: graph/api/user-list-ownedobjects; OData casts,
//! graph/query-parameters).
//!
//! Each comes with its `passwordCredentials` and `keyCredentials`: metadata only (`keyId`,
//! `displayName`, `startDateTime`, `endDateTime`, `hint`); Graph returns a secret's value only
//! when it is created, never when listing (learn: graph/api/resources/passwordcredential). Learn
//! lists only delegated permissions for this call (User.Read.All or Directory.Read.All, and
//! Application.Read.All to see the apps' properties): an app-only token is refused.

use super::address::user_path;
use super::GraphRequest;

/// What is kept of an owned app: who it is and its credentials' metadata.
const SELECT: &str = "id,appId,displayName,createdDateTime,passwordCredentials,keyCredentials";
/// A service principal has no `createdDateTime` in v1.0.
const SELECT_SP: &str =
    "id,appId,displayName,servicePrincipalType,passwordCredentials,keyCredentials";

/// `GET /users/{id}/ownedObjects/microsoft.graph.application?$select=...`.
pub fn applications(who: &str) -> GraphRequest {
    GraphRequest::get(format!(
        "{}/ownedObjects/microsoft.graph.application?$select={SELECT}",
        user_path(who)
    ))
}

/// `GET /users/{id}/ownedObjects/microsoft.graph.servicePrincipal?$select=...`.
pub fn service_principals(who: &str) -> GraphRequest {
    GraphRequest::get(format!(
        "{}/ownedObjects/microsoft.graph.servicePrincipal?$select={SELECT_SP}",
        user_path(who)
    ))
}

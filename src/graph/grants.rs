//! Delegated permission grants (consents): list a user's, delete one, and read the name of the
//! app a grant is for from its service principal.
//!
//! learn: graph/api/user-list-oauth2permissiongrants (`GET /users/{id}/oauth2PermissionGrants`:
//! "only delegated permissions grants that are specifically for the given user"; tenant-wide
//! grants are not listed), graph/api/oauth2permissiongrant-delete (`DELETE
//! /oauth2PermissionGrants/{id}`, 204; "Existing access tokens will continue to be valid for
//! their lifetime"), graph/api/resources/oauth2permissiongrant (`clientId` is the object id of
//! the client's service principal; `consentType` is `Principal` or `AllPrincipals`),
//! graph/api/serviceprincipal-get (`GET /servicePrincipals/{id}`).

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;

use super::address::user_path;
use super::GraphRequest;

/// Grant ids are base64url (`E3NHhUPqfUy4pFT-...`): sent as they are; anything else is
/// percent-encoded so that an id stays one path segment.
const ID: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    pub id: String,
    /// The object id of the client app's service principal.
    pub client_id: String,
    /// `Principal` (this user's own consent) or `AllPrincipals` (the tenant's).
    pub consent_type: Option<String>,
    pub principal_id: Option<String>,
    /// The object id of the API's service principal (e.g. Microsoft Graph's).
    pub resource_id: Option<String>,
    /// Space-separated delegated permissions (Graph pads it with spaces).
    pub scope: Option<String>,
}

impl Grant {
    /// The user's own consent, as opposed to a tenant-wide one.
    pub fn is_principal(&self) -> bool {
        self.consent_type
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case("Principal"))
    }

    /// `Mail.Read offline_access`: the scopes without Graph's padding.
    pub fn scopes(&self) -> String {
        self.scope
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The part of a service principal lockdown reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    pub id: String,
    pub app_display_name: Option<String>,
}

/// `GET /users/{id|upn}/oauth2PermissionGrants`.
pub fn list_for_user(who: &str) -> GraphRequest {
    GraphRequest::get(format!("{}/oauth2PermissionGrants", user_path(who)))
}

/// `DELETE /oauth2PermissionGrants/{id}`.
pub fn delete(id: &str) -> GraphRequest {
    GraphRequest::delete(format!(
        "/oauth2PermissionGrants/{}",
        utf8_percent_encode(id, ID)
    ))
}

/// `GET /servicePrincipals/{id}?$select=id,appDisplayName`: the name of a grant's client app.
pub fn client_app(service_principal_id: &str) -> GraphRequest {
    GraphRequest::get(format!(
        "/servicePrincipals/{}?$select=id,appDisplayName",
        utf8_percent_encode(service_principal_id, ID)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_one_segment() {
        assert_eq!(
            delete("E3NHhUPqfUy4pFT-010LYFo5-ycA-_5Fhl7nHbaJ7qACy1R9o6oWQJ-cpLSUIt2b").describe(),
            "DELETE /v1.0/oauth2PermissionGrants/E3NHhUPqfUy4pFT-010LYFo5-ycA-_5Fhl7nHbaJ7qACy1R9o6oWQJ-cpLSUIt2b"
        );
        assert_eq!(
            delete("a/b?c").describe(),
            "DELETE /v1.0/oauth2PermissionGrants/a%2Fb%3Fc"
        );
    }

    #[test]
    fn scopes_lose_their_padding() {
        let g: Grant = serde_json::from_value(serde_json::json!({
            "clientId": "85477313-ea43-4c7d-b8a4-54fed35d0b60",
            "consentType": "Principal",
            "id": "E3NH",
            "principalId": "7d54cb02-aaa3-4016-9f9c-a4b49422dd9b",
            "resourceId": "27fb395a-fb00-45fe-865e-e71db689eea0",
            "scope": " Contacts.ReadWrite openid profile"
        }))
        .unwrap();
        assert!(g.is_principal());
        assert_eq!(g.scopes(), "Contacts.ReadWrite openid profile");
    }
}

//! The user resource: read, disable, revoke sign-in sessions, reset the password.
//!
//! learn: graph/api/user-get, graph/api/user-update, graph/api/user-revokesigninsessions.

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use super::address::user_path;
use super::{GraphError, GraphRequest, GraphResponse};
use crate::secret::Secret;

/// A user's object id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub String);

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Properties lockdown reads. Without `$select` Graph returns only a default set that lacks
/// `accountEnabled`, `userType`, `onPremisesSyncEnabled` and `signInSessionsValidFromDateTime`
/// (learn: graph/api/resources/user), so every read names them.
pub const SELECT: &str =
    "id,userPrincipalName,displayName,accountEnabled,userType,onPremisesSyncEnabled,onPremisesSecurityIdentifier,signInSessionsValidFromDateTime";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: UserId,
    pub user_principal_name: Option<String>,
    pub display_name: Option<String>,
    pub account_enabled: Option<bool>,
    pub user_type: Option<String>,
    pub on_premises_sync_enabled: Option<bool>,
    /// The on-premises AD account's SID, for a user synced from AD (learn:
    /// graph/api/resources/user, `onPremisesSecurityIdentifier`).
    #[serde(default)]
    pub on_premises_security_identifier: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub sign_in_sessions_valid_from_date_time: Option<OffsetDateTime>,
}

impl User {
    pub fn is_guest(&self) -> bool {
        self.user_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("Guest"))
    }

    pub fn is_synced(&self) -> bool {
        self.on_premises_sync_enabled == Some(true)
    }
}

/// `GET /users/{id|upn}?$select=...`; `who` is a UPN or an object id as given.
pub fn get(who: &str) -> GraphRequest {
    GraphRequest::get(format!("{}?$select={SELECT}", user_path(who)))
}

/// What evidence keeps of the user besides: when it was created, its last password change and
/// what Microsoft Entra Connect copied from on-premises AD (learn: graph/api/resources/user).
pub const EVIDENCE_SELECT: &str = "id,userPrincipalName,displayName,accountEnabled,userType,onPremisesSyncEnabled,signInSessionsValidFromDateTime,mail,createdDateTime,lastPasswordChangeDateTime,creationType,externalUserState,onPremisesImmutableId,onPremisesLastSyncDateTime,onPremisesSamAccountName,onPremisesSecurityIdentifier,onPremisesUserPrincipalName,onPremisesDomainName,onPremisesDistinguishedName";

/// `GET /users/{id|upn}?$select=...`, with what evidence keeps too ([`EVIDENCE_SELECT`]).
pub fn get_for_evidence(who: &str) -> GraphRequest {
    GraphRequest::get(format!("{}?$select={EVIDENCE_SELECT}", user_path(who)))
}

/// `GET /users/{id}/memberOf`: the groups and directory roles the user is a direct member of
/// (learn: graph/api/user-list-memberof).
pub fn member_of(who: &str) -> GraphRequest {
    GraphRequest::get(format!("{}/memberOf", user_path(who)))
}

/// `GET /me`: the signed-in user of a delegated token.
pub fn me() -> GraphRequest {
    GraphRequest::get("/me?$select=id,userPrincipalName,displayName")
}

/// `PATCH /users/{id}` `{"accountEnabled": false}`.
pub fn disable(id: &UserId) -> GraphRequest {
    GraphRequest::patch(user_path(&id.0), json!({ "accountEnabled": false }))
}

/// `PATCH /users/{id}` `{"accountEnabled": true}`: the undo of [`disable`].
pub fn enable(id: &UserId) -> GraphRequest {
    GraphRequest::patch(user_path(&id.0), json!({ "accountEnabled": true }))
}

/// `POST /users/{id}/revokeSignInSessions`. Sets `signInSessionsValidFromDateTime` to now.
pub fn revoke_sign_in_sessions(id: &UserId) -> GraphRequest {
    GraphRequest::post(format!("{}/revokeSignInSessions", user_path(&id.0)))
}

/// `PATCH /users/{id}` with a new password that must be changed at next sign-in.
pub fn reset_password(id: &UserId, password: &Secret) -> GraphRequest {
    GraphRequest::patch(
        user_path(&id.0),
        json!({
            "passwordProfile": {
                "password": password.expose(),
                "forceChangePasswordNextSignIn": true,
            }
        }),
    )
}

pub fn decode(resp: &GraphResponse) -> Result<User, GraphError> {
    resp.json()
}

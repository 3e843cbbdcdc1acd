//! Service principals: lockdown's own app and Microsoft Graph's, and the Graph app roles
//! (application permissions) granted to lockdown's app.
//!
//! learn: graph/api/serviceprincipal-get — `GET /servicePrincipals/{id}` and the alternate key
//! `GET /servicePrincipals(appId='{appId}')`; permissions Application.Read.All (least),
//! Directory.Read.All, Application.ReadWrite.All, Directory.ReadWrite.All.
//! learn: graph/api/serviceprincipal-list-approleassignments — `GET
//! /servicePrincipals/{id}/appRoleAssignments`, the app roles (application permissions) granted
//! to the service principal: `appRoleId`, `principalId`, `resourceId` (the API's service
//! principal, here Microsoft Graph's), `resourceDisplayName`; same permissions.
//! learn: graph/permissions-reference — Microsoft Graph's service principal (appId
//! `00000003-0000-0000-c000-000000000000`) lists each application permission in `appRoles`, with
//! its id (the ids below are Microsoft's).
//!
//! The app's assignments are tenant state (`Tenant::app_role_assignments`): issuing an app-only
//! token takes its `roles` from them, and a test can change them afterwards to model consent
//! granted or revoked since the token was issued.

use serde_json::{json, Map, Value};

use super::errors::{self, Reply};
use super::odata::Query;
use super::server::Shared;
use super::state::{Identity, Tenant, APP_ID, APP_SP_ID};

/// Microsoft Graph's application id, the same in every tenant.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// Object id of Microsoft Graph's service principal in the emulated tenant (tenant-specific in
/// real tenants too).
pub(crate) const GRAPH_SP_ID: &str = "f2b4d6e8-0a1c-4e3f-9b5d-7c9e1a3b5d7f";

/// Microsoft Graph application permissions: (id, value, displayName). learn:
/// graph/permissions-reference.
pub(crate) const GRAPH_APP_ROLES: &[(&str, &str, &str)] = &[
    (
        "df021288-bdef-4463-88db-98f22de89214",
        "User.Read.All",
        "Read all users' full profiles",
    ),
    (
        "741f803b-c850-494e-b5df-cde7c675a1ca",
        "User.ReadWrite.All",
        "Read and write all users' full profiles",
    ),
    (
        "3011c876-62b7-4ada-afa2-506cbbecc68c",
        "User.EnableDisableAccount.All",
        "Enable and disable user accounts",
    ),
    (
        "77f3a031-c388-4f99-b373-dc68676a979e",
        "User.RevokeSessions.All",
        "Revoke all sign in sessions for a user",
    ),
    (
        "cc117bb9-00cf-4eb8-b580-ea2a878fe8f7",
        "User-PasswordProfile.ReadWrite.All",
        "Read and write all password profiles and reset user passwords",
    ),
    (
        "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
        "Directory.Read.All",
        "Read directory data",
    ),
    (
        "19dbc75e-c2e2-444c-a770-ec69d8559fc7",
        "Directory.ReadWrite.All",
        "Read and write directory data",
    ),
    (
        "7438b122-aefc-4978-80ed-43db9fcc7715",
        "Device.Read.All",
        "Read all devices",
    ),
    (
        "1138cb37-bd11-4084-a2b7-9f71582aeddb",
        "Device.ReadWrite.All",
        "Read and write devices",
    ),
    (
        "483bed4a-2ad3-4361-a73b-c83ccdbdc53c",
        "RoleManagement.Read.Directory",
        "Read all directory RBAC settings",
    ),
    (
        "b0afded3-3588-46d8-8b3d-9842eff778da",
        "AuditLog.Read.All",
        "Read all audit log data",
    ),
    (
        "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
        "Application.Read.All",
        "Read all applications",
    ),
    (
        "498476ce-e0fe-48b0-b801-37ba7e2685c6",
        "Organization.Read.All",
        "Read organization information",
    ),
    (
        "656f6061-f9fe-4807-9708-6a2e0934df76",
        "IdentityRiskyUser.ReadWrite.All",
        "Read and write all risky user information",
    ),
    (
        "50483e42-d915-4231-9639-7fdb7fd190e5",
        "UserAuthenticationMethod.ReadWrite.All",
        "Read and write all users' authentication methods",
    ),
    (
        "40f97065-369a-49f4-947c-6a255697ae91",
        "MailboxSettings.Read",
        "Read all user mailbox settings",
    ),
    (
        "6931bccd-447a-43d1-b442-00a195474933",
        "MailboxSettings.ReadWrite",
        "Read and write all user mailbox settings",
    ),
    (
        "8e8e4742-1d95-4f68-9d56-6ee75648c72a",
        "DelegatedPermissionGrant.ReadWrite.All",
        "Manage all delegated permission grants",
    ),
    (
        "2f51be20-0bb4-4fed-bf7b-db946066c75e",
        "DeviceManagementManagedDevices.Read.All",
        "Read Microsoft Intune devices",
    ),
    (
        "5b07b0dd-2377-4e44-a38d-703f09a0dc3c",
        "DeviceManagementManagedDevices.PrivilegedOperations.All",
        "Perform user-impacting remote actions on Microsoft Intune devices",
    ),
    (
        "dbaae8cf-10b5-4b86-a4a1-f871c94c6695",
        "GroupMember.ReadWrite.All",
        "Read and write all group memberships",
    ),
    (
        "246dd0d5-5bd0-4def-940b-0421030a5b68",
        "Policy.Read.All",
        "Read your organization's policies",
    ),
];

/// The id of the Graph application permission named `value` (case-insensitive).
pub(crate) fn graph_app_role_id(value: &str) -> Option<&'static str> {
    GRAPH_APP_ROLES
        .iter()
        .find(|(_, v, _)| v.eq_ignore_ascii_case(value))
        .map(|(id, _, _)| *id)
}

/// learn: graph/api/serviceprincipal-get, serviceprincipal-list-approleassignments (permissions).
const READ_APPS: &[&str] = &[
    "Application.Read.All",
    "Directory.Read.All",
    "Application.ReadWrite.All",
    "Directory.ReadWrite.All",
    "Directory.AccessAsUser.All",
];

/// A service principal the tenant knows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Principal {
    /// lockdown's app registration.
    Lockdown,
    /// Microsoft Graph.
    Graph,
}

impl Principal {
    fn by_app_id(app_id: &str) -> Option<Principal> {
        if app_id.eq_ignore_ascii_case(APP_ID) {
            Some(Principal::Lockdown)
        } else if app_id.eq_ignore_ascii_case(GRAPH_APP_ID) {
            Some(Principal::Graph)
        } else {
            None
        }
    }

    fn by_id(id: &str) -> Option<Principal> {
        if id.eq_ignore_ascii_case(APP_SP_ID) {
            Some(Principal::Lockdown)
        } else if id.eq_ignore_ascii_case(GRAPH_SP_ID) {
            Some(Principal::Graph)
        } else {
            None
        }
    }

    fn json(self) -> Map<String, Value> {
        let (id, app_id, name, roles) = match self {
            Principal::Lockdown => (APP_SP_ID, APP_ID, "lockdown", Vec::new()),
            Principal::Graph => (
                GRAPH_SP_ID,
                GRAPH_APP_ID,
                "Microsoft Graph",
                GRAPH_APP_ROLES
                    .iter()
                    .map(|(id, value, display)| {
                        json!({
                            "allowedMemberTypes": ["Application"],
                            "description": format!("Allows the app to {} without a signed-in user.", display.to_lowercase()),
                            "displayName": display,
                            "id": id,
                            "isEnabled": true,
                            "origin": "Application",
                            "value": value,
                        })
                    })
                    .collect(),
            ),
        };
        let mut m = Map::new();
        for (k, v) in [
            ("id", json!(id)),
            ("accountEnabled", json!(true)),
            ("appDisplayName", json!(name)),
            ("appId", json!(app_id)),
            ("appRoles", Value::Array(roles)),
            ("displayName", json!(name)),
            ("servicePrincipalType", json!("Application")),
            (
                "signInAudience",
                json!(if self == Principal::Graph {
                    "AzureADMultipleOrgs"
                } else {
                    "AzureADMyOrg"
                }),
            ),
        ] {
            m.insert(k.to_string(), v);
        }
        m
    }
}

/// `servicePrincipals/...`: `rest` is the decoded path after `/v1.0/`. `None` when the path is
/// not about service principals.
pub(crate) fn route(
    shared: &Shared,
    tenant: &Tenant,
    method: &str,
    rest: &str,
    q: &Query,
    id: &Identity,
) -> Option<Reply> {
    let trimmed = rest.trim_matches('/');
    let after = strip_prefix_ci(trimmed, "servicePrincipals")?;
    let (principal, nav) = if let Some(inner) = after.strip_prefix('(') {
        // learn: serviceprincipal-get — "You can address the service principal using either its
        // id or appId": `/servicePrincipals(appId='{appId}')`.
        let (name, literal) = match inner.split_once('=') {
            Some((name, literal)) if name.trim().eq_ignore_ascii_case("appId") => (true, literal),
            _ => (false, inner),
        };
        let Some((key, tail)) = key_literal(literal) else {
            return Some(errors::odata_bad_request(format!(
                "Bad Request - Error in query syntax: invalid key in '{trimmed}'."
            )));
        };
        let principal = if name {
            Principal::by_app_id(&key)
        } else {
            Principal::by_id(&key)
        };
        match principal {
            Some(p) => (p, tail.to_string()),
            None => return Some(errors::not_found(&key)),
        }
    } else if let Some(tail) = after.strip_prefix('/') {
        let (key, nav) = tail.split_once('/').unwrap_or((tail, ""));
        match Principal::by_id(key) {
            Some(p) => (p, nav.to_string()),
            None => return Some(errors::not_found(key)),
        }
    } else {
        return None;
    };
    if !method.eq_ignore_ascii_case("GET") {
        return Some(Reply::error(
            405,
            "Request_BadRequest",
            "The HTTP method is not allowed on this resource.",
        ));
    }
    if !id.has_any(READ_APPS) {
        return Some(errors::denied());
    }
    let nav = nav.trim_matches('/').to_ascii_lowercase();
    Some(match nav.as_str() {
        "" => get(shared, principal, q),
        "approleassignments" => assignments(shared, tenant, principal),
        other => errors::odata_bad_request(format!(
            "Resource not found for the segment '{}'.",
            other.split('/').next().unwrap_or(other)
        )),
    })
}

fn get(shared: &Shared, principal: Principal, q: &Query) -> Reply {
    let full = principal.json();
    let mut body = match &q.select {
        None => full,
        Some(select) => {
            let mut m = Map::new();
            for s in select {
                match full.iter().find(|(k, _)| k.eq_ignore_ascii_case(s)) {
                    Some((k, v)) => {
                        m.insert(k.clone(), v.clone());
                    }
                    None => {
                        return errors::odata_bad_request(format!(
                            "Could not find a property named '{s}' on type 'microsoft.graph.servicePrincipal'."
                        ))
                    }
                }
            }
            m
        }
    };
    body.insert(
        "@odata.context".into(),
        json!(format!(
            "{}/v1.0/$metadata#servicePrincipals/$entity",
            shared.base_url
        )),
    );
    Reply::json(200, Value::Object(body))
}

fn assignments(shared: &Shared, tenant: &Tenant, principal: Principal) -> Reply {
    let value: Vec<Value> = match principal {
        Principal::Graph => Vec::new(),
        Principal::Lockdown => tenant
            .app_role_assignments
            .iter()
            .filter_map(|perm| graph_app_role_id(perm))
            .enumerate()
            .map(|(n, role_id)| {
                json!({
                    "id": format!("UxOIjjUXr0WvIe4TRFgqTY4z9Wu5KxpBtlEpoTGjw{n:02}"),
                    "deletedDateTime": null,
                    "appRoleId": role_id,
                    "createdDateTime": "2025-06-01T09:00:00Z",
                    "principalDisplayName": "lockdown",
                    "principalId": APP_SP_ID,
                    "principalType": "ServicePrincipal",
                    "resourceDisplayName": "Microsoft Graph",
                    "resourceId": GRAPH_SP_ID,
                })
            })
            .collect(),
    };
    Reply::json(
        200,
        json!({
            "@odata.context": format!("{}/v1.0/$metadata#appRoleAssignments", shared.base_url),
            "value": value,
        }),
    )
}

/// `s` without `prefix` (compared case-insensitively), if it starts with it.
fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// An OData key in single quotes (`''` escapes `'`) followed by `)`: the key and what follows.
/// learn: graph/query-parameters — string literals are single-quoted, `'` doubled.
fn key_literal(s: &str) -> Option<(String, &str)> {
    let rest = s.strip_prefix('\'')?;
    let mut out = String::new();
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\'' {
            out.push(c);
        } else if chars.peek().map(|(_, n)| *n) == Some('\'') {
            out.push('\'');
            chars.next();
        } else {
            return rest[i + 1..].strip_prefix(')').map(|tail| (out, tail));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_with_escaped_quotes() {
        assert_eq!(
            key_literal("'b5c6''x')/appRoleAssignments"),
            Some(("b5c6'x".to_string(), "/appRoleAssignments"))
        );
        assert_eq!(key_literal("'open"), None);
        assert_eq!(key_literal("'x'"), None);
        assert_eq!(
            strip_prefix_ci("SERVICEPRINCIPALS(x)", "servicePrincipals"),
            Some("(x)")
        );
    }

    #[test]
    fn graph_roles_are_unique() {
        let mut ids: Vec<&str> = GRAPH_APP_ROLES.iter().map(|r| r.0).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), GRAPH_APP_ROLES.len());
    }
}

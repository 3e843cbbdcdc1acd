//! Service principals: the app's own, and Microsoft Graph's, to read which Graph application
//! permissions the app really holds.
//!
//! learn: graph/api/serviceprincipal-get (`GET /servicePrincipals(appId='{appId}')`, the
//! alternate key), graph/api/serviceprincipal-list-approleassignments (`GET
//! /servicePrincipals/{id}/appRoleAssignments`: the app roles, i.e. application permissions,
//! granted to it, each naming the `resourceId` of the API's service principal and the
//! `appRoleId`), graph/permissions-reference (Microsoft Graph's service principal, appId
//! `00000003-0000-0000-c000-000000000000`, lists each permission in `appRoles`). All need
//! Application.Read.All (or Directory.Read.All).

use serde::Deserialize;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::GraphRequest;

/// Sent as is in a key or segment: ids are GUIDs; anything else is percent-encoded, so that a
/// key never adds a segment, a query or a fragment. `'` stays (it is doubled inside literals).
const KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'\'');

/// Microsoft Graph's application id, the same in every tenant.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    pub id: String,
    pub app_id: Option<String>,
    pub display_name: Option<String>,
    #[serde(default)]
    pub app_roles: Vec<AppRole>,
}

/// One permission an API offers (for Microsoft Graph: an application permission).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRole {
    pub id: String,
    pub value: Option<String>,
}

/// One app role granted to a service principal.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRoleAssignment {
    pub app_role_id: String,
    /// The service principal of the API the role belongs to.
    pub resource_id: String,
}

/// `/servicePrincipals(appId='{app_id}')`, the key quoted as an OData string literal.
fn by_app_id(app_id: &str) -> String {
    let quoted = app_id.replace('\'', "''");
    format!(
        "/servicePrincipals(appId='{}')",
        utf8_percent_encode(&quoted, KEY)
    )
}

/// `GET /servicePrincipals(appId='{app_id}')`: the app's own service principal.
pub fn get_by_app_id(app_id: &str) -> GraphRequest {
    GraphRequest::get(format!(
        "{}?$select=id,appId,displayName",
        by_app_id(app_id)
    ))
}

/// `GET /servicePrincipals(appId='00000003-...')`: Microsoft Graph's, with its permissions.
pub fn graph() -> GraphRequest {
    GraphRequest::get(format!(
        "{}?$select=id,appId,appRoles",
        by_app_id(GRAPH_APP_ID)
    ))
}

/// `GET /servicePrincipals/{id}/appRoleAssignments`.
pub fn app_role_assignments(id: &str) -> GraphRequest {
    let id = utf8_percent_encode(id, KEY);
    GraphRequest::get(format!("/servicePrincipals/{id}/appRoleAssignments"))
}

/// The names of the Microsoft Graph permissions among `assignments`, through `graph`'s
/// `appRoles`; assignments to other APIs are left out, unknown role ids kept as ids.
pub fn graph_permissions(
    graph: &ServicePrincipal,
    assignments: &[AppRoleAssignment],
) -> Vec<String> {
    let mut out: Vec<String> = assignments
        .iter()
        .filter(|a| a.resource_id.eq_ignore_ascii_case(&graph.id))
        .map(|a| {
            graph
                .app_roles
                .iter()
                .find(|r| r.id.eq_ignore_ascii_case(&a.app_role_id))
                .and_then(|r| r.value.clone())
                .unwrap_or_else(|| a.app_role_id.clone())
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_ids_are_quoted_literals() {
        let req = get_by_app_id("b5c6");
        assert_eq!(
            req.describe(),
            "GET /v1.0/servicePrincipals(appId='b5c6')?$select=id,appId,displayName"
        );
        assert!(get_by_app_id("x'y/z")
            .describe()
            .contains("appId='x''y%2Fz'"));
    }

    #[test]
    fn maps_graph_assignments_to_names() {
        let graph = ServicePrincipal {
            id: "g".into(),
            app_id: Some(GRAPH_APP_ID.into()),
            display_name: None,
            app_roles: vec![AppRole {
                id: "R1".into(),
                value: Some("User.Read.All".into()),
            }],
        };
        let a = |role: &str, res: &str| AppRoleAssignment {
            app_role_id: role.into(),
            resource_id: res.into(),
        };
        assert_eq!(
            graph_permissions(&graph, &[a("r1", "G"), a("r2", "g"), a("r1", "other")]),
            vec!["User.Read.All".to_string(), "r2".to_string()]
        );
    }
}

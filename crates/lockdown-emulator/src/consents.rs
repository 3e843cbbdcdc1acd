//! Delegated permission grants (consents) and the service principals of the apps they are for.
//!
//! learn: graph/api/user-list-oauth2permissiongrants — `GET /users/{id}/oauth2PermissionGrants`
//! lists "only delegated permissions grants that are specifically for the given user"; tenant-wide
//! grants are not included. Permissions Directory.Read.All, DelegatedPermissionGrant.ReadWrite.All,
//! Directory.ReadWrite.All (and Directory.AccessAsUser.All delegated). The response example gives
//! the shape (`clientId`, `consentType`, `id`, `principalId`, `resourceId`, `scope` with its
//! leading space).
//! learn: graph/api/oauth2permissiongrant-delete — `DELETE /oauth2PermissionGrants/{id}`, 204;
//! DelegatedPermissionGrant.ReadWrite.All, Directory.ReadWrite.All, Directory.AccessAsUser.All;
//! a delegated caller needs one of the roles of rbac-oauth2permissiongrant-apis-write.
//! learn: graph/api/serviceprincipal-get — `GET /servicePrincipals/{id}`, `$select`;
//! Application.Read.All (least), Directory.Read.All and the write forms.

use serde_json::{json, Map, Value};

use super::errors::{self, Reply};
use super::odata::Query;
use super::server::Shared;
use super::state::{Caller, Identity, Tenant};

/// A delegated permission grant.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub id: String,
    /// The client app's service principal.
    pub client_id: String,
    /// `Principal` or `AllPrincipals`.
    pub consent_type: &'static str,
    /// The user, for `Principal` grants.
    pub principal_id: Option<String>,
    /// The API's service principal (Microsoft Graph's).
    pub resource_id: String,
    pub scope: String,
}

impl Grant {
    fn json(&self) -> Value {
        json!({
            "clientId": self.client_id,
            "consentType": self.consent_type,
            "id": self.id,
            "principalId": self.principal_id,
            "resourceId": self.resource_id,
            "scope": self.scope,
        })
    }
}

/// The service principal of an app users consented to.
#[derive(Debug, Clone)]
pub(crate) struct ClientApp {
    pub id: String,
    pub app_id: String,
    pub display_name: String,
    /// The tenant that registered the app (another one, for a multi-tenant app).
    pub owner_tenant: String,
}

const LIST: &[&str] = &[
    "Directory.Read.All",
    "DelegatedPermissionGrant.Read.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "Directory.ReadWrite.All",
    "Directory.AccessAsUser.All",
];
const DELETE: &[&str] = &[
    "DelegatedPermissionGrant.ReadWrite.All",
    "Directory.ReadWrite.All",
    "Directory.AccessAsUser.All",
];
/// rbac-oauth2permissiongrant-apis-write (and Global Administrator, who holds all).
const DELETE_ROLES: &[&str] = &[
    "Application Administrator",
    "Application Developer",
    "Cloud Application Administrator",
    "Directory Writers",
    "Privileged Role Administrator",
    "User Administrator",
    "Global Administrator",
];
const READ_APPS: &[&str] = &[
    "Application.Read.All",
    "Directory.Read.All",
    "Application.ReadWrite.All",
    "Directory.ReadWrite.All",
    "Directory.AccessAsUser.All",
];

/// `GET /users/{id}/oauth2PermissionGrants`.
pub(crate) fn list_for_user(
    shared: &Shared,
    tenant: &Tenant,
    target: usize,
    id: &Identity,
) -> Reply {
    if !id.has_any(LIST) {
        return errors::denied();
    }
    let user = &tenant.users[target].id;
    let value: Vec<Value> = tenant
        .grants
        .iter()
        .filter(|g| g.consent_type == "Principal" && g.principal_id.as_deref() == Some(user))
        .map(Grant::json)
        .collect();
    Reply::json(
        200,
        json!({
            "@odata.context": format!("{}/v1.0/$metadata#oauth2PermissionGrants", shared.base_url),
            "value": value,
        }),
    )
}

/// `oauth2PermissionGrants/{id}` and the client apps' `servicePrincipals/{id}`; `None` for any
/// other path (other service principals are `apps`' to answer).
pub(crate) fn route(
    shared: &Shared,
    tenant: &mut Tenant,
    method: &str,
    segs: &[&str],
    q: &Query,
    id: &Identity,
) -> Option<Reply> {
    match segs {
        [g, grant] if g.eq_ignore_ascii_case("oauth2PermissionGrants") => Some(match method {
            "DELETE" => delete(tenant, grant, id),
            // learn: graph/api/oauth2permissiongrant-get
            "GET" if !id.has_any(LIST) => errors::denied(),
            "GET" => match tenant.grants.iter().find(|g| g.id == *grant) {
                Some(g) => {
                    let mut v = g.json();
                    v["@odata.context"] = json!(format!(
                        "{}/v1.0/$metadata#oauth2PermissionGrants/$entity",
                        shared.base_url
                    ));
                    Reply::json(200, v)
                }
                None => errors::not_found(grant),
            },
            _ => Reply::error(
                405,
                "Request_BadRequest",
                "The HTTP method is not allowed on this resource.",
            ),
        }),
        [s, sp] if s.eq_ignore_ascii_case("servicePrincipals") => {
            let app = tenant
                .client_apps
                .iter()
                .find(|a| a.id.eq_ignore_ascii_case(sp))?;
            Some(match method {
                "GET" => client_app(shared, app, q, id),
                _ => Reply::error(
                    405,
                    "Request_BadRequest",
                    "The HTTP method is not allowed on this resource.",
                ),
            })
        }
        _ => None,
    }
}

fn delete(tenant: &mut Tenant, grant: &str, id: &Identity) -> Reply {
    if !id.has_any(DELETE) {
        return errors::denied();
    }
    if matches!(id.caller, Caller::Delegated { .. }) && !id.has_role(DELETE_ROLES) {
        return errors::denied();
    }
    let Some(pos) = tenant.grants.iter().position(|g| g.id == grant) else {
        return errors::not_found(grant);
    };
    tenant.grants.remove(pos);
    Reply::no_content()
}

fn client_app(shared: &Shared, app: &ClientApp, q: &Query, id: &Identity) -> Reply {
    if !id.has_any(READ_APPS) {
        return errors::denied();
    }
    let all = [
        ("id", json!(app.id)),
        ("accountEnabled", json!(true)),
        ("appDisplayName", json!(app.display_name)),
        ("appId", json!(app.app_id)),
        ("appOwnerOrganizationId", json!(app.owner_tenant)),
        ("displayName", json!(app.display_name)),
        ("servicePrincipalType", json!("Application")),
        ("signInAudience", json!("AzureADMultipleOrgs")),
    ];
    if let Some(s) = &q.select {
        if let Some(bad) = s
            .iter()
            .find(|p| !all.iter().any(|(k, _)| k.eq_ignore_ascii_case(p)))
        {
            return errors::odata_bad_request(format!(
                "Could not find a property named '{bad}' on type 'microsoft.graph.servicePrincipal'."
            ));
        }
    }
    let mut m = Map::new();
    for (k, v) in all {
        let keep = match &q.select {
            None => true,
            Some(s) => s.iter().any(|p| p.eq_ignore_ascii_case(k)),
        };
        if keep {
            m.insert(k.into(), v);
        }
    }
    let fragment = match &q.select {
        Some(s) => format!("servicePrincipals({})/$entity", s.join(",")),
        None => "servicePrincipals/$entity".into(),
    };
    m.insert(
        "@odata.context".into(),
        json!(format!("{}/v1.0/$metadata#{fragment}", shared.base_url)),
    );
    Reply::json(200, Value::Object(m))
}

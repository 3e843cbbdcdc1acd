//! The apps a user owns: `GET /users/{id}/ownedObjects/microsoft.graph.application` and
//! `/microsoft.graph.servicePrincipal`.
//!
//! learn: graph/api/user-list-ownedobjects — "Get the list of directory objects that are owned by
//! the user"; delegated permissions User.Read (least; the caller's own objects) and
//! Directory.Read.All, Directory.ReadWrite.All, User.Read.All, User.ReadWrite.All; application
//! permissions are not supported. "When an application queries a relationship that returns a
//! directoryObject type collection, if it doesn't have permission to read a certain resource
//! type, members of that type are returned but with limited information": only `@odata.type`
//! and `id`. Casting the collection (`/microsoft.graph.application`) keeps one type
//! (learn: graph/query-parameters, OData cast).
//! learn: graph/api/resources/passwordcredential — `customKeyIdentifier`, `displayName`,
//! `endDateTime`, `hint` ("Contains the first three characters of the password"), `keyId`,
//! `secretText` ("Read-only; ... only returned when the password is created"; null otherwise),
//! `startDateTime`. learn: graph/api/resources/keycredential — `key` is returned only with
//! `$select` and never when listing; the rest is metadata.

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::errors::{self, Reply};
use super::server::Shared;
use super::state::{format_datetime, Caller, Identity, Tenant};

/// The object id of the app registration Adele owns.
pub const ADELE_APP_ID: &str = "a9d1e2f3-0a1b-4c2d-8e3f-4a5b6c7d8e01";
/// The object id of that app's service principal (Adele owns it too).
pub const ADELE_SP_ID: &str = "a9d1e2f3-0a1b-4c2d-8e3f-4a5b6c7d8e02";

/// learn: graph/api/user-list-ownedobjects — the delegated permissions.
const LIST: &[&str] = &[
    "User.Read",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.AccessAsUser.All",
];
/// learn: graph/api/application-get — what reads an application's properties.
const READ_APPS: &[&str] = &[
    "Application.Read.All",
    "Application.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    "Directory.AccessAsUser.All",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Application,
    ServicePrincipal,
}

impl Kind {
    fn odata_type(self) -> &'static str {
        match self {
            Kind::Application => "#microsoft.graph.application",
            Kind::ServicePrincipal => "#microsoft.graph.servicePrincipal",
        }
    }
}

/// A secret's metadata (the secret itself is never kept).
#[derive(Debug, Clone)]
pub(crate) struct Secret {
    pub key_id: String,
    pub display_name: String,
    pub hint: String,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
}

/// A certificate's metadata.
#[derive(Debug, Clone)]
pub(crate) struct Certificate {
    pub key_id: String,
    pub display_name: String,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
}

/// An app registration or service principal a user owns.
#[derive(Debug, Clone)]
pub(crate) struct OwnedApp {
    pub id: String,
    pub kind: Kind,
    pub app_id: String,
    pub display_name: String,
    pub created: OffsetDateTime,
    pub owner: usize,
    pub secrets: Vec<Secret>,
    pub certificates: Vec<Certificate>,
}

fn to_json(app: &OwnedApp, full: bool) -> Value {
    if !full {
        // learn: user-list-ownedobjects — limited information for inaccessible types.
        return json!({"@odata.type": app.kind.odata_type(), "id": app.id});
    }
    let secrets: Vec<Value> = app
        .secrets
        .iter()
        .map(|s| {
            json!({
                "customKeyIdentifier": null,
                "displayName": s.display_name,
                "endDateTime": format_datetime(s.end),
                "hint": s.hint,
                "keyId": s.key_id,
                "secretText": null,
                "startDateTime": format_datetime(s.start),
            })
        })
        .collect();
    let certificates: Vec<Value> = app
        .certificates
        .iter()
        .map(|c| {
            json!({
                "customKeyIdentifier": "52B8E6A8A4E5D5C3B1C9A2F0E6D4B2A0C8E6F4D2",
                "displayName": c.display_name,
                "endDateTime": format_datetime(c.end),
                "key": null,
                "keyId": c.key_id,
                "startDateTime": format_datetime(c.start),
                "type": "AsymmetricX509Cert",
                "usage": "Verify",
            })
        })
        .collect();
    let mut m = json!({
        "@odata.type": app.kind.odata_type(),
        "id": app.id,
        "appId": app.app_id,
        "displayName": app.display_name,
        "passwordCredentials": secrets,
        "keyCredentials": certificates,
    });
    // learn: graph/api/resources/application — `createdDateTime`; a service principal has none
    // in v1.0 (resources/serviceprincipal).
    if app.kind == Kind::Application {
        m["createdDateTime"] = json!(format_datetime(app.created));
        m["signInAudience"] = json!("AzureADMultipleOrgs");
    } else {
        m["servicePrincipalType"] = json!("Application");
        m["accountEnabled"] = json!(true);
    }
    m
}

/// `GET /users/{id}/ownedObjects/microsoft.graph.{application|servicePrincipal}`, with
/// `$select` (learn: graph/query-parameters: only the properties asked for come back; the
/// `@odata.type` of a directory object stays).
pub(crate) fn list(
    shared: &Shared,
    tenant: &Tenant,
    target: usize,
    kind: Kind,
    select: Option<&[String]>,
    id: &Identity,
) -> Reply {
    // learn: user-list-ownedobjects — application permissions: not supported.
    if matches!(id.caller, Caller::App) || !id.has_any(LIST) {
        return errors::denied();
    }
    let own = matches!(id.caller, Caller::Delegated { user } if user == target);
    if !own
        && !id.has_any(&[
            "Directory.Read.All",
            "Directory.ReadWrite.All",
            "User.Read.All",
            "User.ReadWrite.All",
            "Directory.AccessAsUser.All",
        ])
    {
        return errors::denied();
    }
    let full = id.has_any(READ_APPS);
    let value: Vec<Value> = tenant
        .owned_apps
        .iter()
        .filter(|a| a.owner == target && a.kind == kind)
        .map(|a| to_json(a, full))
        .map(|mut v| {
            if let (Some(select), Some(m)) = (select, v.as_object_mut()) {
                m.retain(|k, _| {
                    k == "@odata.type" || select.iter().any(|s| s.eq_ignore_ascii_case(k))
                });
            }
            v
        })
        .collect();
    let cast = match kind {
        Kind::Application => "applications",
        Kind::ServicePrincipal => "servicePrincipals",
    };
    Reply::json(
        200,
        json!({
            "@odata.context": format!("{}/v1.0/$metadata#{cast}", shared.base_url),
            "value": value,
        }),
    )
}

/// Adele owns an app registration and its service principal; a client secret was added to the
/// app yesterday, next to one from last year.
pub(crate) fn seed(tenant: &mut Tenant) {
    let now = OffsetDateTime::now_utc();
    let Some(adele) = tenant.find_user("adele@contoso.com") else {
        return;
    };
    let created = time::macros::datetime!(2025-03-02 14:05:00 UTC);
    let app_id = "f3c9a1b2-7d4e-4f6a-9b8c-1d2e3f4a5b6c".to_string();
    let yesterday = now - time::Duration::hours(20);
    tenant.owned_apps.extend([
        OwnedApp {
            id: ADELE_APP_ID.into(),
            kind: Kind::Application,
            app_id: app_id.clone(),
            display_name: "Adele's Mail Helper".into(),
            created,
            owner: adele,
            secrets: vec![
                Secret {
                    key_id: "0d7c5b1e-2f3a-4b6c-8d9e-0a1b2c3d4e51".into(),
                    display_name: "build server".into(),
                    hint: "Q~x".into(),
                    start: created,
                    end: created + time::Duration::days(365),
                },
                Secret {
                    key_id: "0d7c5b1e-2f3a-4b6c-8d9e-0a1b2c3d4e52".into(),
                    display_name: "sync".into(),
                    hint: "k8Q".into(),
                    start: yesterday,
                    end: yesterday + time::Duration::days(730),
                },
            ],
            certificates: vec![Certificate {
                key_id: "6e5d4c3b-2a19-4087-b6c5-d4e3f2a1b0c9".into(),
                display_name: "CN=mail-helper".into(),
                start: created,
                end: created + time::Duration::days(365),
            }],
        },
        OwnedApp {
            id: ADELE_SP_ID.into(),
            kind: Kind::ServicePrincipal,
            app_id,
            display_name: "Adele's Mail Helper".into(),
            created,
            owner: adele,
            secrets: Vec::new(),
            certificates: Vec::new(),
        },
    ]);
}

//! A user's authentication methods: list them, delete one.
//!
//! learn: graph/api/authentication-list-methods — `GET /users/{id}/authentication/methods`, a
//! collection typed by `@odata.type` (the response example: a fido2 and a Windows Hello method);
//! permissions UserAuthenticationMethod.Read.All / .ReadWrite.All acting on other users (and
//! .Read / .ReadWrite on self), and for a delegated admin acting on another user Global Reader,
//! Authentication Administrator or Privileged Authentication Administrator.
//! learn: each `*authenticationmethod-delete` page — `DELETE
//! /users/{id}/authentication/{kind}Methods/{id}`, 204; UserAuthenticationMethod.ReadWrite.All,
//! and Authentication Administrator or Privileged Authentication Administrator for a delegated
//! admin; graph/api/resources/users "Who can perform sensitive actions": a target holding an
//! admin role needs Privileged Authentication Administrator.
//! learn: graph/api/phoneauthenticationmethod-delete — the user's default method "can't be
//! deleted"; Graph answers 400 "Cannot delete default method with other methods configured.
//! Please change default method before deletion." (GRAPH-NOTES, error answers seen). The
//! password method has no delete: 405.
//! learn: the resource pages for each type (JSON representations below); phone ids are fixed
//! per phone type (resources/phoneauthenticationmethod).

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::auth::PRIVILEGED_ADMINS;
use super::errors::{self, Reply};
use super::server::Shared;
use super::state::{format_datetime, Caller, Identity, Tenant};

/// The password method's id, the same for every user.
pub const PASSWORD_ID: &str = "28c10230-6103-485e-b985-444c60001490";
pub const PHONE_MOBILE_ID: &str = "3179e48a-750b-4051-897c-87b9720928f7";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Password,
    MicrosoftAuthenticator,
    Phone,
    Fido2,
    SoftwareOath,
    Email,
    WindowsHelloForBusiness,
}

impl Kind {
    fn odata_type(self) -> &'static str {
        match self {
            Kind::Password => "#microsoft.graph.passwordAuthenticationMethod",
            Kind::MicrosoftAuthenticator => {
                "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod"
            }
            Kind::Phone => "#microsoft.graph.phoneAuthenticationMethod",
            Kind::Fido2 => "#microsoft.graph.fido2AuthenticationMethod",
            Kind::SoftwareOath => "#microsoft.graph.softwareOathAuthenticationMethod",
            Kind::Email => "#microsoft.graph.emailAuthenticationMethod",
            Kind::WindowsHelloForBusiness => {
                "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod"
            }
        }
    }

    /// The navigation collection its delete goes to (lower-cased, as routes compare).
    fn collection(self) -> &'static str {
        match self {
            Kind::Password => "passwordmethods",
            Kind::MicrosoftAuthenticator => "microsoftauthenticatormethods",
            Kind::Phone => "phonemethods",
            Kind::Fido2 => "fido2methods",
            Kind::SoftwareOath => "softwareoathmethods",
            Kind::Email => "emailmethods",
            Kind::WindowsHelloForBusiness => "windowshelloforbusinessmethods",
        }
    }

    pub fn short_name(self) -> &'static str {
        match self {
            Kind::Password => "password",
            Kind::MicrosoftAuthenticator => "microsoftAuthenticator",
            Kind::Phone => "phone",
            Kind::Fido2 => "fido2",
            Kind::SoftwareOath => "softwareOath",
            Kind::Email => "email",
            Kind::WindowsHelloForBusiness => "windowsHelloForBusiness",
        }
    }
}

/// Relative to when the emulator starts: Adele's FIDO2 key was registered yesterday (the
/// directory audit log's "User registered security info" of the same time, see `audits`).
/// learn: graph/api/resources/fido2authenticationmethod — `createdDateTime`, "The timestamp when
/// this key was registered to the user".
pub(crate) fn seed_history(tenant: &mut Tenant) {
    let Some(adele) = tenant.find_user("adele@contoso.com") else {
        return;
    };
    let yesterday = OffsetDateTime::now_utc() - time::Duration::hours(22);
    for m in &mut tenant.users[adele].methods {
        if m.kind == Kind::Fido2 {
            m.created = yesterday;
        }
    }
}

/// One registered method.
#[derive(Debug, Clone)]
pub(crate) struct Method {
    pub id: String,
    pub kind: Kind,
    /// Device name (Authenticator, Windows Hello), key name (FIDO2).
    pub display_name: Option<String>,
    /// Phone: number and type; email: the address.
    pub phone_number: Option<String>,
    pub phone_type: Option<&'static str>,
    pub email: Option<String>,
    pub created: OffsetDateTime,
}

impl Method {
    pub fn password(created: OffsetDateTime) -> Method {
        Method {
            id: PASSWORD_ID.into(),
            kind: Kind::Password,
            display_name: None,
            phone_number: None,
            phone_type: None,
            email: None,
            created,
        }
    }

    pub fn new(id: &str, kind: Kind, display_name: &str, created: OffsetDateTime) -> Method {
        Method {
            id: id.into(),
            kind,
            display_name: Some(display_name.into()),
            phone_number: None,
            phone_type: None,
            email: None,
            created,
        }
    }

    /// A phone of `phone_type` (`mobile`, `alternateMobile`, `office`): its id is fixed.
    pub fn phone(phone_type: &'static str, number: &str, created: OffsetDateTime) -> Method {
        let id = match phone_type {
            "alternateMobile" => "b6332ec1-7057-4abe-9331-3d72feddfe41",
            "office" => "e37fc753-ff3b-4958-9484-eaa9425c82bc",
            _ => PHONE_MOBILE_ID,
        };
        Method {
            id: id.into(),
            kind: Kind::Phone,
            display_name: None,
            phone_number: Some(number.into()),
            phone_type: Some(phone_type),
            email: None,
            created,
        }
    }

    /// The JSON Graph returns, after each type's JSON representation on Learn.
    fn json(&self) -> Value {
        let mut m = Map::new();
        m.insert("@odata.type".into(), json!(self.kind.odata_type()));
        m.insert("id".into(), json!(self.id));
        let created = json!(format_datetime(self.created));
        match self.kind {
            // learn: resources/passwordauthenticationmethod — the password itself is never returned.
            Kind::Password => {
                m.insert("password".into(), Value::Null);
                m.insert("createdDateTime".into(), created);
            }
            // learn: resources/microsoftauthenticatorauthenticationmethod
            Kind::MicrosoftAuthenticator => {
                m.insert("displayName".into(), json!(self.display_name));
                m.insert("deviceTag".into(), json!("SoftwareTokenActivated"));
                m.insert("phoneAppVersion".into(), json!("6.2401.0119"));
                m.insert("createdDateTime".into(), created);
            }
            // learn: resources/phoneauthenticationmethod
            Kind::Phone => {
                m.insert("phoneNumber".into(), json!(self.phone_number));
                m.insert("phoneType".into(), json!(self.phone_type));
                m.insert("smsSignInState".into(), json!("notEnabled"));
            }
            // learn: authentication-list-methods, the fido2 method of the response example.
            Kind::Fido2 => {
                m.insert("displayName".into(), json!(self.display_name));
                m.insert("createdDateTime".into(), created);
                m.insert(
                    "aaGuid".into(),
                    json!("2fc0579f-8113-47ea-b116-555a8db9202a"),
                );
                m.insert("model".into(), json!("NFC key"));
                m.insert(
                    "attestationCertificates".into(),
                    json!(["dbe793efdf1945e2df25d93653a1e8a3268a9075"]),
                );
                m.insert("attestationLevel".into(), json!("attested"));
            }
            // learn: resources/softwareoathauthenticationmethod — secretKey is never returned.
            Kind::SoftwareOath => {
                m.insert("secretKey".into(), Value::Null);
            }
            // learn: resources/emailauthenticationmethod
            Kind::Email => {
                m.insert("emailAddress".into(), json!(self.email));
            }
            // learn: authentication-list-methods, the Windows Hello method of the example.
            Kind::WindowsHelloForBusiness => {
                m.insert("displayName".into(), json!(self.display_name));
                m.insert("createdDateTime".into(), created);
                m.insert("keyStrength".into(), json!("normal"));
            }
        }
        Value::Object(m)
    }
}

const READ_OTHERS: &[&str] = &[
    "UserAuthenticationMethod.Read.All",
    "UserAuthenticationMethod.ReadWrite.All",
];
const READ_SELF: &[&str] = &[
    "UserAuthenticationMethod.Read",
    "UserAuthenticationMethod.ReadWrite",
];
const WRITE_OTHERS: &[&str] = &["UserAuthenticationMethod.ReadWrite.All"];
const WRITE_SELF: &[&str] = &["UserAuthenticationMethod.ReadWrite"];
/// rbac-authentication-methods-apis-read-others (and Global Administrator, who holds all).
const READ_ROLES: &[&str] = &[
    "Global Reader",
    "Authentication Administrator",
    "Privileged Authentication Administrator",
    "Global Administrator",
];
/// rbac-authentication-methods-apis-write-others.
const WRITE_ROLES: &[&str] = &[
    "Authentication Administrator",
    "Privileged Authentication Administrator",
    "Global Administrator",
];

fn is_self(id: &Identity, target: usize) -> bool {
    matches!(id.caller, Caller::Delegated { user } if user == target)
}

fn may_read(id: &Identity, target: usize) -> bool {
    if is_self(id, target) {
        return id.has_any(READ_SELF) || id.has_any(READ_OTHERS);
    }
    id.has_any(READ_OTHERS) && (id.is_app() || id.has_role(READ_ROLES))
}

/// `GET /users/{id}/authentication/methods`.
pub(crate) fn list(shared: &Shared, tenant: &Tenant, target: usize, id: &Identity) -> Reply {
    if !may_read(id, target) {
        return errors::denied();
    }
    let user = &tenant.users[target];
    let value: Vec<Value> = user.methods.iter().map(Method::json).collect();
    Reply::json(
        200,
        json!({
            "@odata.context": format!(
                "{}/v1.0/$metadata#users('{}')/authentication/methods",
                shared.base_url, user.id
            ),
            "value": value,
        }),
    )
}

/// `DELETE /users/{id}/authentication/{collection}/{methodId}`; `collection` lower-cased.
pub(crate) fn delete(
    tenant: &mut Tenant,
    target: usize,
    collection: &str,
    method_id: &str,
    id: &Identity,
) -> Reply {
    let known = [
        Kind::Password,
        Kind::MicrosoftAuthenticator,
        Kind::Phone,
        Kind::Fido2,
        Kind::SoftwareOath,
        Kind::Email,
        Kind::WindowsHelloForBusiness,
    ];
    let Some(kind) = known.iter().find(|k| k.collection() == collection) else {
        return errors::odata_bad_request(format!(
            "Resource not found for the segment '{collection}'."
        ));
    };
    // GRAPH-NOTES (error answers seen): the password method has no delete.
    if *kind == Kind::Password {
        return Reply::error(
            405,
            "methodNotAllowed",
            "The HTTP method is not allowed on this resource.",
        );
    }
    let me = is_self(id, target);
    let allowed = if me {
        id.has_any(WRITE_SELF) || id.has_any(WRITE_OTHERS)
    } else {
        id.has_any(WRITE_OTHERS) && (id.is_app() || id.has_role(WRITE_ROLES))
    };
    if !allowed {
        return errors::denied();
    }
    // learn: graph/api/resources/users "Who can perform sensitive actions".
    if !me
        && !id.is_app()
        && tenant.users[target].is_privileged()
        && !id.has_role(PRIVILEGED_ADMINS)
    {
        return errors::denied();
    }
    let user = &mut tenant.users[target];
    let Some(pos) = user
        .methods
        .iter()
        .position(|m| m.kind == *kind && m.id == method_id)
    else {
        // The code Graph gives a method that is not there is unconfirmed; the status is 404.
        return errors::not_found(method_id);
    };
    let others = user
        .methods
        .iter()
        .filter(|m| m.kind != Kind::Password && m.id != method_id)
        .count();
    if user.default_method.as_deref() == Some(method_id) && others > 0 {
        return Reply::error(
            400,
            "badRequest",
            "Cannot delete default method with other methods configured. Please change default method before deletion.",
        );
    }
    user.methods.remove(pos);
    if user.default_method.as_deref() == Some(method_id) {
        user.default_method = None;
    }
    Reply::no_content()
}

//! A user's authentication methods: list them, delete one.
//!
//! learn: graph/api/authentication-list-methods (`GET /users/{id}/authentication/methods`, a
//! collection of authenticationMethod typed by `@odata.type`; no query options),
//! graph/api/resources/authenticationmethod (the derived types), each
//! `*authenticationmethod-delete` page (`DELETE /users/{id}/authentication/{kind}Methods/{id}`,
//! 204), graph/api/resources/phoneauthenticationmethod (phone ids are fixed per phone type;
//! "the mobile phone is the default and the alternate mobile phone is the backup"),
//! graph/api/resources/passwordauthenticationmethod (the password has a fixed id and no
//! delete). Phone numbers are masked as they are decoded: the full number never reaches a
//! report, a log line or a `Debug` print.

use serde_json::Value;

use super::address::user_path;
use super::{GraphError, GraphRequest};
use crate::graph::users::UserId;

/// The password method's id, the same for every user (learn: passwordauthenticationmethod).
pub const PASSWORD_METHOD_ID: &str = "28c10230-6103-485e-b985-444c60001490";

/// Ids of the three phone methods (learn: resources/phoneauthenticationmethod).
pub const PHONE_ALTERNATE_MOBILE: &str = "b6332ec1-7057-4abe-9331-3d72feddfe41";
pub const PHONE_OFFICE: &str = "e37fc753-ff3b-4958-9484-eaa9425c82bc";
pub const PHONE_MOBILE: &str = "3179e48a-750b-4051-897c-87b9720928f7";

/// What kind of method it is, from its `@odata.type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Password,
    MicrosoftAuthenticator,
    Phone,
    Fido2,
    SoftwareOath,
    Email,
    WindowsHelloForBusiness,
    TemporaryAccessPass,
    PlatformCredential,
    /// A type this version of lockdown does not know how to delete (the `@odata.type`).
    Other(String),
}

impl Kind {
    fn from_odata_type(t: &str) -> Kind {
        let name = t
            .trim_start_matches('#')
            .trim_start_matches("microsoft.graph.");
        match name.to_ascii_lowercase().as_str() {
            "passwordauthenticationmethod" => Kind::Password,
            "microsoftauthenticatorauthenticationmethod" => Kind::MicrosoftAuthenticator,
            "phoneauthenticationmethod" => Kind::Phone,
            "fido2authenticationmethod" => Kind::Fido2,
            "softwareoathauthenticationmethod" => Kind::SoftwareOath,
            "emailauthenticationmethod" => Kind::Email,
            "windowshelloforbusinessauthenticationmethod" => Kind::WindowsHelloForBusiness,
            "temporaryaccesspassauthenticationmethod" => Kind::TemporaryAccessPass,
            "platformcredentialauthenticationmethod" => Kind::PlatformCredential,
            _ => Kind::Other(name.to_owned()),
        }
    }

    /// The report's `type`: Graph's type name without `AuthenticationMethod`.
    pub fn type_name(&self) -> &str {
        match self {
            Kind::Password => "password",
            Kind::MicrosoftAuthenticator => "microsoftAuthenticator",
            Kind::Phone => "phone",
            Kind::Fido2 => "fido2",
            Kind::SoftwareOath => "softwareOath",
            Kind::Email => "email",
            Kind::WindowsHelloForBusiness => "windowsHelloForBusiness",
            Kind::TemporaryAccessPass => "temporaryAccessPass",
            Kind::PlatformCredential => "platformCredential",
            Kind::Other(t) => t,
        }
    }

    /// The collection a method of this kind is deleted from; `None` for the password (which
    /// has no delete) and for kinds lockdown does not know.
    pub fn collection(&self) -> Option<&'static str> {
        Some(match self {
            Kind::MicrosoftAuthenticator => "microsoftAuthenticatorMethods",
            Kind::Phone => "phoneMethods",
            Kind::Fido2 => "fido2Methods",
            Kind::SoftwareOath => "softwareOathMethods",
            Kind::Email => "emailMethods",
            Kind::WindowsHelloForBusiness => "windowsHelloForBusinessMethods",
            Kind::TemporaryAccessPass => "temporaryAccessPassMethods",
            Kind::PlatformCredential => "platformCredentialMethods",
            Kind::Password | Kind::Other(_) => return None,
        })
    }

    /// Whether it can be the user's default multifactor method, which Graph refuses to delete
    /// while other methods remain: an Authenticator notification or code, a phone call or text,
    /// a software OATH code. Passkeys, Windows Hello, email and Temporary Access Passes are not
    /// offered as the default.
    pub fn may_be_default(&self) -> bool {
        matches!(
            self,
            Kind::MicrosoftAuthenticator | Kind::Phone | Kind::SoftwareOath
        )
    }

    fn label(&self) -> &str {
        match self {
            Kind::Password => "password",
            Kind::MicrosoftAuthenticator => "Microsoft Authenticator",
            Kind::Phone => "phone",
            Kind::Fido2 => "FIDO2 security key",
            Kind::SoftwareOath => "software OATH token",
            Kind::Email => "email",
            Kind::WindowsHelloForBusiness => "Windows Hello for Business",
            Kind::TemporaryAccessPass => "Temporary Access Pass",
            Kind::PlatformCredential => "platform credential",
            Kind::Other(t) => t,
        }
    }
}

/// One registered method, as lockdown keeps it: no secret, no full phone number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Method {
    pub id: String,
    pub kind: Kind,
    /// What a person recognises it by: the device of an Authenticator or a key, the phone type
    /// and the last two digits of its number, an email address with its local part masked.
    pub display_name: Option<String>,
    /// `mobile`, `alternateMobile` or `office` for a phone.
    pub phone_type: Option<String>,
}

impl Method {
    /// `Microsoft Authenticator (Adele's iPhone)`, `phone mobile ******34`.
    pub fn label(&self) -> String {
        match &self.display_name {
            Some(name) if self.kind == Kind::Phone => format!("phone {name}"),
            Some(name) => format!("{} ({name})", self.kind.label()),
            None => self.kind.label().to_owned(),
        }
    }

    /// The order deletes go in: methods that can never be the default first, then those that
    /// can, the alternate and office phones before the mobile one (a user cannot keep an
    /// alternate mobile without a mobile) and the Authenticator last, since it is the method
    /// registration makes the default most often. The default, deleted last, goes through; one
    /// deleted earlier is refused and sent again at the end.
    pub fn delete_rank(&self) -> u8 {
        match self.kind {
            Kind::SoftwareOath => 1,
            Kind::Phone => match self.id.as_str() {
                PHONE_OFFICE => 2,
                PHONE_ALTERNATE_MOBILE => 3,
                _ => 4,
            },
            Kind::MicrosoftAuthenticator => 5,
            _ => 0,
        }
    }
}

/// `GET /users/{id|upn}/authentication/methods`.
pub fn list(who: &str) -> GraphRequest {
    GraphRequest::get(format!("{}/authentication/methods", user_path(who)))
}

/// `DELETE /users/{id}/authentication/{kind}Methods/{id}`, for the kinds that have one.
pub fn delete(user: &UserId, method: &Method) -> Option<GraphRequest> {
    let collection = method.kind.collection()?;
    Some(GraphRequest::delete(format!(
        "{}/authentication/{collection}/{}",
        user_path(&user.0),
        segment(&method.id)
    )))
}

/// A method id as one path segment (ids are opaque: FIDO2 ids carry `-` and `_`).
fn segment(id: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(id, KEEP).to_string()
}

/// The methods of a list answer, masked as they are read.
pub fn from_items(items: Vec<Value>) -> Result<Vec<Method>, GraphError> {
    items.into_iter().map(method).collect()
}

fn method(item: Value) -> Result<Method, GraphError> {
    let field = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_owned);
    let id = field("id").ok_or_else(|| GraphError::Decode {
        message: "authentication method without an `id`".into(),
    })?;
    let kind = Kind::from_odata_type(&field("@odata.type").unwrap_or_default());
    let phone_type = field("phoneType");
    let display_name = match &kind {
        Kind::Phone => Some(format!(
            "{} {}",
            phone_type.as_deref().unwrap_or("phone"),
            mask_phone(&field("phoneNumber").unwrap_or_default())
        )),
        Kind::Email => field("emailAddress").map(|a| mask_email(&a)),
        Kind::Fido2 => field("displayName").or_else(|| field("model")),
        _ => field("displayName"),
    };
    Ok(Method {
        id,
        kind,
        display_name,
        phone_type,
    })
}

/// A phone number reduced to its last two digits: `+1 5555551234` reads `******34`. An
/// extension (`x123`) is not part of the number.
pub fn mask_phone(number: &str) -> String {
    let main = number.split(['x', 'X']).next().unwrap_or("");
    let digits: Vec<char> = main.chars().filter(char::is_ascii_digit).collect();
    let tail: String = digits[digits.len().saturating_sub(2)..].iter().collect();
    format!("******{tail}")
}

/// An email address with all but the first character of its local part masked.
fn mask_email(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// Graph's refusal to delete the default method while other methods remain (learn:
/// phoneauthenticationmethod-delete: "If the phone number is the user's default ... it can't be
/// deleted"; the 400 says "Cannot delete default method with other methods configured"). Its
/// code is a plain `badRequest`, shared with other bad requests, so the message tells it apart.
pub fn is_default_refusal(err: &GraphError) -> bool {
    err.api().is_some_and(|e| {
        e.status == 400 && e.message.to_ascii_lowercase().contains("default method")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn phone_numbers_keep_two_digits() {
        assert_eq!(mask_phone("+1 5555551234"), "******34");
        assert_eq!(mask_phone("+1 5555551234x123"), "******34");
        assert_eq!(mask_phone("7"), "******7");
        assert_eq!(mask_phone(""), "******");
    }

    #[test]
    fn decoding_masks_phone_numbers_and_reads_types() {
        let methods = from_items(vec![
            json!({"@odata.type": "#microsoft.graph.passwordAuthenticationMethod", "id": PASSWORD_METHOD_ID}),
            json!({"@odata.type": "#microsoft.graph.phoneAuthenticationMethod", "id": PHONE_MOBILE,
                   "phoneNumber": "+1 4255550123", "phoneType": "mobile", "smsSignInState": "notEnabled"}),
            json!({"@odata.type": "#microsoft.graph.fido2AuthenticationMethod", "id": "-2_GRUg2-HYz6_1YG4YRAQ2",
                   "displayName": "Red key", "model": "NFC key"}),
            json!({"@odata.type": "#microsoft.graph.qrCodePinAuthenticationMethod", "id": "q1"}),
        ])
        .unwrap();
        assert_eq!(methods[0].kind, Kind::Password);
        assert_eq!(methods[1].label(), "phone mobile ******23");
        assert!(!format!("{methods:?}").contains("4255550123"));
        assert_eq!(methods[2].label(), "FIDO2 security key (Red key)");
        assert_eq!(
            methods[3].kind,
            Kind::Other("qrCodePinAuthenticationMethod".into())
        );
        let user = UserId("u1".into());
        assert!(delete(&user, &methods[0]).is_none());
        assert!(delete(&user, &methods[3]).is_none());
        assert_eq!(
            delete(&user, &methods[2]).unwrap().describe(),
            "DELETE /v1.0/users/u1/authentication/fido2Methods/-2_GRUg2-HYz6_1YG4YRAQ2"
        );
    }

    #[test]
    fn likely_defaults_are_deleted_last() {
        let m = |kind: Kind, id: &str| Method {
            id: id.into(),
            kind,
            display_name: None,
            phone_type: None,
        };
        let mut list = [
            m(Kind::MicrosoftAuthenticator, "a"),
            m(Kind::Phone, PHONE_MOBILE),
            m(Kind::Phone, PHONE_ALTERNATE_MOBILE),
            m(Kind::Fido2, "f"),
        ];
        list.sort_by_key(Method::delete_rank);
        let ids: Vec<&str> = list.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["f", PHONE_ALTERNATE_MOBILE, PHONE_MOBILE, "a"]);
    }
}

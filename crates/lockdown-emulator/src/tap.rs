//! Temporary Access Pass: `POST /users/{id}/authentication/temporaryAccessPassMethods`.
//!
//! learn: graph/api/authentication-post-temporaryaccesspassmethods — 201 with the pass, which
//! appears in this answer only; a user has one usable pass, and a new one replaces it;
//! `lifetimeInMinutes` from 10 to 43,200; the tenant's authentication methods policy must
//! allow the method, else 400 "Converged UserCredentialPolicy does not allow creating or
//! updating this authentication method". Permissions: UserAuthMethod-TAP.ReadWrite.All (least
//! privileged) or UserAuthenticationMethod.ReadWrite.All; delegated callers need
//! Authentication Administrator or Privileged Authentication Administrator, the latter for
//! admins.

use rand::Rng;
use serde_json::{json, Map, Value};

use super::errors::{self, Reply};
use super::server::Shared;
use super::state::{format_datetime, now_whole_seconds, Caller, Identity, Tenant};

const PERMS: &[&str] = &[
    "UserAuthMethod-TAP.ReadWrite.All",
    "UserAuthenticationMethod.ReadWrite.All",
];
const ROLES: &[&str] = &[
    "Authentication Administrator",
    "Privileged Authentication Administrator",
    "Global Administrator",
];
const PRIVILEGED: &[&str] = &[
    "Privileged Authentication Administrator",
    "Global Administrator",
];

/// An issued pass.
#[derive(Debug, Clone)]
pub struct Tap {
    pub id: String,
    pub pass: String,
    pub lifetime_in_minutes: i64,
    pub is_usable_once: bool,
    pub created: time::OffsetDateTime,
}

pub(crate) fn create(
    shared: &Shared,
    tenant: &mut Tenant,
    target: usize,
    body: Option<&[u8]>,
    id: &Identity,
) -> Reply {
    if !id.has_any(PERMS) {
        return errors::denied();
    }
    if matches!(id.caller, Caller::Delegated { .. }) {
        if !id.has_role(ROLES) {
            return errors::denied();
        }
        if tenant.users[target].is_privileged() && !id.has_role(PRIVILEGED) {
            return errors::denied();
        }
    }
    let body: Map<String, Value> = match body.map(serde_json::from_slice::<Value>) {
        Some(Ok(Value::Object(m))) => m,
        None => Map::new(),
        _ => {
            return errors::odata_bad_request(
                "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
            )
        }
    };
    if tenant.tap_disabled {
        return Reply::error(
            400,
            "badRequest",
            "Converged UserCredentialPolicy does not allow creating or updating this authentication method",
        );
    }
    // The policy's default lifetime is an hour.
    let lifetime = match body.get("lifetimeInMinutes") {
        None => 60,
        Some(v) => match v.as_i64() {
            Some(m) if (10..=43_200).contains(&m) => m,
            _ => {
                return errors::odata_bad_request(
                    "lifetimeInMinutes must be between 10 and 43200 minutes.",
                )
            }
        },
    };
    let usable_once = body
        .get("isUsableOnce")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let created = now_whole_seconds();
    let tap = Tap {
        id: uuid::Uuid::new_v4().to_string(),
        pass: random_pass(),
        lifetime_in_minutes: lifetime,
        is_usable_once: usable_once,
        created,
    };
    let user_id = tenant.users[target].id.clone();
    tenant.taps.insert(target, tap.clone());
    Reply::json(
        201,
        json!({
            "@odata.context": format!(
                "{}/v1.0/$metadata#users('{user_id}')/authentication/temporaryAccessPassMethods/$entity",
                shared.base_url
            ),
            "id": tap.id,
            "temporaryAccessPass": tap.pass,
            "createdDateTime": format_datetime(created),
            "startDateTime": format_datetime(created),
            "lifetimeInMinutes": lifetime,
            "isUsableOnce": usable_once,
            "isUsable": true,
            "methodUsabilityReason": "EnabledByPolicy",
        }),
    )
}

/// Like Entra's passes: letters, digits and a few symbols, hard to mistype.
fn random_pass() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!#$%&+";
    let mut rng = rand::rng();
    (0..14)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

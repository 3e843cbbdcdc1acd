//! Access tokens: issued by the emulator, JWT-shaped, looked up in a table (the payload is
//! never trusted), and the permission / role checks each operation needs.

use std::time::Duration;

use rand::RngCore;
use serde_json::json;
use time::OffsetDateTime;

use super::errors::{self, Reply};
use super::state::{
    canonical_role, role_template_id, Caller, Identity, Tenant, APP_ID, APP_SP_ID, TENANT_ID,
};
use super::{TokenKind, TokenKindTag, TokenSpec};

fn b64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

pub(crate) fn b64url_encode(data: &[u8]) -> String {
    b64url(data)
}

/// How long a token lives unless asked otherwise: an hour, within the 60–90 minutes Entra gives
/// access tokens by default (learn: entra/identity-platform/access-tokens, "Token lifetime").
pub(crate) const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// Issue a token for `spec`, valid for `lifetime` of wall-clock time, and remember what it
/// grants and when it expires.
pub(crate) fn issue(tenant: &mut Tenant, spec: &TokenSpec, lifetime: Duration) -> String {
    let issued = OffsetDateTime::now_utc();
    let expires = issued + lifetime;
    let now = issued.unix_timestamp();
    let mut roles: Vec<&'static str> = spec
        .directory_roles
        .iter()
        .filter_map(|r| canonical_role(r))
        .collect();
    let (caller, mut claims) = match &spec.kind {
        TokenKind::Delegated { upn } => {
            let idx = tenant
                .find_user(upn)
                .unwrap_or_else(|| panic!("issue_token: no user {upn:?} in the emulated tenant"));
            let u = &tenant.users[idx];
            for r in &u.roles {
                if !roles.contains(r) {
                    roles.push(r);
                }
            }
            let claims = json!({
                "idtyp": "user",
                "oid": u.id,
                "sub": u.id,
                "upn": u.upn,
                "unique_name": u.upn,
                "name": u.display_name,
                "scp": spec.permissions.join(" "),
            });
            (Caller::Delegated { user: idx }, claims)
        }
        TokenKind::AppOnly => {
            // The token's `roles` are the app's Graph app role assignments at the time it is
            // issued (learn: entra/identity-platform/access-token-claims-reference, `roles`).
            tenant.app_role_assignments = spec.permissions.clone();
            (
                Caller::App,
                json!({
                    "idtyp": "app",
                    "oid": APP_SP_ID,
                    "sub": APP_SP_ID,
                    "roles": spec.permissions,
                }),
            )
        }
    };
    let obj = claims.as_object_mut().expect("object");
    for (k, v) in [
        ("aud", json!("https://graph.microsoft.com")),
        (
            "iss",
            json!(format!("https://sts.windows.net/{TENANT_ID}/")),
        ),
        ("iat", json!(now)),
        ("nbf", json!(now)),
        ("exp", json!(expires.unix_timestamp())),
        ("appid", json!(APP_ID)),
        ("app_displayname", json!("lockdown")),
        ("tid", json!(TENANT_ID)),
        ("ver", json!("1.0")),
        (
            "wids",
            json!(roles
                .iter()
                .map(|r| role_template_id(r))
                .collect::<Vec<_>>()),
        ),
    ] {
        obj.insert(k.to_string(), v);
    }
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": "emulator"});
    let mut sig = [0u8; 64];
    rand::rng().fill_bytes(&mut sig);
    let token = format!(
        "{}.{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes()),
        b64url(&sig)
    );
    tenant.tokens.insert(
        token.clone(),
        Identity {
            caller,
            permissions: spec.permissions.iter().map(|p| p.to_lowercase()).collect(),
            roles,
            expires,
        },
    );
    token
}

/// The bearer token in an Authorization header value, if any.
fn bearer(header: Option<&str>) -> Option<&str> {
    let h = header?.trim();
    let (scheme, rest) = h.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let t = rest.trim();
    (!t.is_empty()).then_some(t)
}

pub(crate) fn tag(tenant: &Tenant, header: Option<&str>) -> TokenKindTag {
    match header {
        None => TokenKindTag::None,
        Some(_) => match bearer(header).and_then(|t| tenant.tokens.get(t)) {
            None if bearer(header).is_none() => TokenKindTag::None,
            None => TokenKindTag::Invalid,
            Some(id) if id.is_app() => TokenKindTag::AppOnly,
            Some(_) => TokenKindTag::Delegated,
        },
    }
}

/// learn: graph/resolve-auth-errors — 401 when the token is missing, not valid, or expired.
pub(crate) fn authenticate(tenant: &Tenant, header: Option<&str>) -> Result<Identity, Reply> {
    let Some(token) = bearer(header) else {
        return Err(errors::token_empty());
    };
    let identity = tenant.tokens.get(token).ok_or_else(errors::token_invalid)?;
    if identity.expires <= OffsetDateTime::now_utc() {
        return Err(errors::token_expired());
    }
    Ok(identity.clone())
}

// Role groups (learn: entra/identity/role-based-access-control/privileged-roles-permissions,
// graph/api/resources/users "Who can perform sensitive actions").
pub(crate) const PRIVILEGED_ADMINS: &[&str] = &[
    "Privileged Authentication Administrator",
    "Global Administrator",
];
pub(crate) const DISABLE_ROLES: &[&str] = &[
    "User Administrator",
    "Privileged Authentication Administrator",
    "Global Administrator",
];
pub(crate) const PASSWORD_ROLES: &[&str] = &[
    "Helpdesk Administrator",
    "Password Administrator",
    "Authentication Administrator",
    "User Administrator",
    "Privileged Authentication Administrator",
    "Global Administrator",
];
pub(crate) const REVOKE_ROLES: &[&str] = &[
    "Helpdesk Administrator",
    "Authentication Administrator",
    "User Administrator",
    "Privileged Authentication Administrator",
    "Global Administrator",
];
// learn: graph/api/device-update — delegated: Cloud Device Administrator or Intune Administrator.
pub(crate) const DEVICE_ROLES: &[&str] = &[
    "Cloud Device Administrator",
    "Intune Administrator",
    "Global Administrator",
];

/// Permission sets per operation (least privileged first; higher ones also grant).
pub(crate) mod perms {
    // learn: graph/api/user-get (permissions table)
    pub const READ_USER: &[&str] = &[
        "User.ReadBasic.All",
        "User.Read.All",
        "User.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
        "Directory.AccessAsUser.All",
    ];
    pub const READ_SELF: &[&str] = &["User.Read", "User.ReadWrite"];
    // learn: graph/api/user-update — accountEnabled: User.EnableDisableAccount.All (+ User.Read.All)
    pub const ENABLE_DISABLE: &[&str] = &[
        "User.EnableDisableAccount.All",
        "User.ReadWrite.All",
        "Directory.ReadWrite.All",
        "Directory.AccessAsUser.All",
    ];
    // learn: graph/api/user-update — passwordProfile: User-PasswordProfile.ReadWrite.All least privileged
    pub const PASSWORD: &[&str] = &[
        "User-PasswordProfile.ReadWrite.All",
        "User.ReadWrite.All",
        "Directory.ReadWrite.All",
        "Directory.AccessAsUser.All",
    ];
    // learn: graph/api/user-revokesigninsessions
    pub const REVOKE: &[&str] = &[
        "User.RevokeSessions.All",
        "User.ReadWrite.All",
        "Directory.ReadWrite.All",
        "Directory.AccessAsUser.All",
    ];
    // learn: graph/api/user-list-registereddevices (delegated only)
    pub const LIST_DEVICES: &[&str] = &[
        "User.ReadBasic.All",
        "User.Read.All",
        "User.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
        "Directory.AccessAsUser.All",
    ];
    // learn: graph/api/user-list-memberof
    pub const MEMBER_OF: &[&str] = &[
        "GroupMember.Read.All",
        "RoleManagement.Read.Directory",
        "RoleManagement.ReadWrite.Directory",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
        "Directory.AccessAsUser.All",
    ];
    // learn: graph/api/device-get
    pub const READ_DEVICE: &[&str] = &[
        "Device.Read.All",
        "Device.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
        "Directory.AccessAsUser.All",
    ];
    // learn: graph/api/device-update
    pub const WRITE_DEVICE: &[&str] = &[
        "Device.ReadWrite.All",
        "Directory.ReadWrite.All",
        "Directory.AccessAsUser.All",
    ];
}

pub(crate) fn admin_spec() -> TokenSpec {
    TokenSpec {
        kind: TokenKind::Delegated {
            upn: "admin@contoso.com".to_string(),
        },
        permissions: [
            "openid",
            "profile",
            "email",
            "User.Read",
            "User.Read.All",
            "User.ReadWrite.All",
            "User.EnableDisableAccount.All",
            "User.RevokeSessions.All",
            "User-PasswordProfile.ReadWrite.All",
            "Device.ReadWrite.All",
            "Directory.ReadWrite.All",
            "Directory.AccessAsUser.All",
            "RoleManagement.Read.Directory",
            "AuditLog.Read.All",
            "DeviceManagementManagedDevices.Read.All",
            "DeviceManagementManagedDevices.PrivilegedOperations.All",
            // The opt-in incident steps, and unblock's Temporary Access Pass.
            "UserAuthenticationMethod.ReadWrite.All",
            "DelegatedPermissionGrant.ReadWrite.All",
            "MailboxSettings.ReadWrite",
            "IdentityRiskyUser.ReadWrite.All",
            // Hybrid accounts: the Conditional Access block group and Defender for Identity.
            "Group.ReadWrite.All",
            "GroupMember.ReadWrite.All",
            "Policy.Read.All",
            "Policy.ReadWrite.ConditionalAccess",
            "SecurityIdentitiesAccount.Read.All",
            "SecurityIdentitiesActions.ReadWrite.All",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        directory_roles: vec!["Global Administrator".to_string()],
    }
}

pub(crate) fn app_spec() -> TokenSpec {
    TokenSpec {
        kind: TokenKind::AppOnly,
        permissions: [
            "User.Read.All",
            "User.EnableDisableAccount.All",
            "User.RevokeSessions.All",
            "User-PasswordProfile.ReadWrite.All",
            "Device.ReadWrite.All",
            "Directory.Read.All",
            "RoleManagement.Read.Directory",
            // What `lockdown check` and `watch` read: the app's own permissions, the
            // tenant's licences, sign-in logs.
            "Application.Read.All",
            "Organization.Read.All",
            "AuditLog.Read.All",
            // Intune lists a user's devices to an application (learn:
            // graph/api/intune-devices-manageddevice-list), where Entra does not.
            "DeviceManagementManagedDevices.Read.All",
            "DeviceManagementManagedDevices.PrivilegedOperations.All",
            // The opt-in incident steps, and unblock's Temporary Access Pass.
            "UserAuthenticationMethod.ReadWrite.All",
            "DelegatedPermissionGrant.ReadWrite.All",
            "MailboxSettings.ReadWrite",
            "IdentityRiskyUser.ReadWrite.All",
            // block_sign_in: the Conditional Access block group and its policy.
            "GroupMember.ReadWrite.All",
            "Policy.Read.All",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        directory_roles: vec!["User Administrator".to_string()],
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn b64url_matches_rfc4648() {
        assert_eq!(super::b64url(b"f"), "Zg");
        assert_eq!(super::b64url(b"fo"), "Zm8");
        assert_eq!(super::b64url(b"foo"), "Zm9v");
        assert_eq!(super::b64url(&[0xfb, 0xff]), "-_8");
    }
}

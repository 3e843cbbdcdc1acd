//! Microsoft Defender for Identity's identity accounts: the on-premises AD accounts of users
//! synced from AD, and the actions Defender for Identity takes on them.
//!
//! learn: graph/api/security-identitycontainer-list-identityaccounts — `GET
//! /security/identities/identityAccounts`, `$filter` and `$select`;
//! SecurityIdentitiesAccount.Read.All (application and delegated); a delegated caller needs
//! Security Administrator; global service only. learn: graph/api/resources/security-user
//! and security-identityaccounts — `accounts`, `cloudSecurityIdentifier`, `displayName`,
//! `domain`, `id`, `isEnabled`, `onPremisesSecurityIdentifier`, `emailAddress`,
//! `userPrincipalName`. learn: graph/api/resources/security-account — each account's
//! `identifier`, `identityProvider` (`entraID`, `activeDirectory`, `okta`) and `actions`
//! (`disable`, `enable`, `forcePasswordReset` for activeDirectory; `revokeAllSessions`,
//! `requireUserToSignInAgain`, `markUserAsCompromised` for entraID). learn:
//! graph/api/security-identityaccounts-invokeaction — `POST .../identityAccounts/{id}/invokeAction`
//! `{"accountId", "action", "identityProvider"}`, 200 with a `invokeActionResult` (learn:
//! graph/api/resources/security-invokeactionresult: `accountId`, `action`,
//! `identityProvider`, `correlationId`); SecurityIdentitiesActions.ReadWrite.All (some
//! deployments grant SecurityIdentitiesUserActions.ReadWrite.All: GRAPH-NOTES); the action is
//! carried out by the sensor's action account, so `isEnabled` changes a moment later, and
//! reaches Entra ID only at the next directory sync. A tenant without Defender for Identity
//! has no identity accounts: the list answers 404 (the wording is unconfirmed).

use serde_json::{json, Value};

use super::errors::{self, Reply};
use super::odata::eq_filter;
use super::routes::{parse_json_body, Request};
use super::server::Shared;
use super::state::{Caller, Identity, Tenant, User};

/// Emulated seconds between an action being accepted and the AD account showing it.
pub(crate) const ACTION_DELAY_SECS: f64 = 5.0;

/// A synced user's account in on-premises AD.
#[derive(Debug, Clone)]
pub(crate) struct AdAccount {
    /// `onPremisesSecurityIdentifier`.
    pub sid: String,
    /// The AD account's identifier as Defender for Identity reports it (its objectGUID).
    pub identifier: String,
    pub domain: &'static str,
    pub enabled: bool,
    /// Actions accepted and not yet carried out: the action, and the emulated time it lands.
    pub pending: Vec<(String, f64)>,
    /// Password resets forced on-premises.
    pub password_resets: usize,
    /// Every action accepted, in order.
    pub actions: Vec<String>,
}

impl AdAccount {
    pub fn new(sid: &str, identifier: &str) -> AdAccount {
        AdAccount {
            sid: sid.to_owned(),
            identifier: identifier.to_owned(),
            domain: "contoso.local",
            enabled: true,
            pending: Vec::new(),
            password_resets: 0,
            actions: Vec::new(),
        }
    }

    /// Carry out the actions whose time has come.
    pub fn settle(&mut self, now: f64) {
        let (due, later): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(|(_, at)| *at <= now);
        self.pending = later;
        for (action, _) in due {
            match action.as_str() {
                "disable" => self.enabled = false,
                "enable" => self.enabled = true,
                "forcePasswordReset" => self.password_resets += 1,
                _ => {}
            }
        }
    }
}

const READ: &[&str] = &["SecurityIdentitiesAccount.Read.All"];
const ACT: &[&str] = &[
    "SecurityIdentitiesActions.ReadWrite.All",
    "SecurityIdentitiesUserActions.ReadWrite.All",
];
const ROLES: &[&str] = &["Security Administrator", "Global Administrator"];
const AD_ACTIONS: &[&str] = &["disable", "enable", "forcePasswordReset"];
const ENTRA_ACTIONS: &[&str] = &[
    "disable",
    "enable",
    "revokeAllSessions",
    "requireUserToSignInAgain",
    "markUserAsCompromised",
];

/// The identity account's id: stable, derived from the user's object id.
fn account_id(user: &User) -> String {
    let n = uuid::Uuid::parse_str(&user.id)
        .map(|u| u.as_u128())
        .unwrap_or(0);
    uuid::Uuid::from_u128(n ^ 0x5a5a_0000_0000_0000_0000_0000_0000_5a5a).to_string()
}

fn account_json(user: &User, ad: &AdAccount) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.security.user",
        "id": account_id(user),
        "displayName": user.display_name,
        "domain": ad.domain,
        "isEnabled": ad.enabled,
        "onPremisesSecurityIdentifier": ad.sid,
        "cloudSecurityIdentifier": Value::Null,
        "emailAddress": user.mail,
        "userPrincipalName": user.upn,
        "accounts": [
            {
                "identifier": ad.identifier,
                "identityProvider": "activeDirectory",
                "actions": AD_ACTIONS,
            },
            {
                "identifier": user.id,
                "identityProvider": "entraID",
                "actions": ENTRA_ACTIONS,
            }
        ],
    })
}

fn allowed(id: &Identity, perms: &[&str]) -> bool {
    id.has_any(perms)
        && match id.caller {
            Caller::App => true,
            Caller::Delegated { .. } => id.has_role(ROLES),
        }
}

/// `security/identities/identityAccounts...`; `None` for other paths.
pub(crate) fn route(
    shared: &Shared,
    tenant: &mut Tenant,
    req: &Request,
    segs: &[&str],
    id: &Identity,
) -> Option<Reply> {
    let method = req.method.to_ascii_uppercase();
    let (method, raw_query, body) = (method.as_str(), req.query.as_str(), req.body.as_deref());
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    if lower.first() != Some(&"security") {
        return None;
    }
    let now = shared.emulated_secs();
    for u in tenant.users.iter_mut() {
        if let Some(ad) = u.on_premises.as_mut() {
            ad.settle(now);
        }
    }
    Some(match (method, lower.as_slice()) {
        ("GET", ["security", "identities", "identityaccounts"]) => {
            list(shared, tenant, raw_query, id)
        }
        ("GET", ["security", "identities", "identityaccounts", _]) => {
            get(shared, tenant, segs[3], id)
        }
        ("POST", ["security", "identities", "identityaccounts", _, "invokeaction"]) => {
            invoke(shared, tenant, segs[3], body, id, now)
        }
        (_, ["security", "identities", "identityaccounts", ..]) => Reply::error(
            405,
            "BadRequest",
            "The HTTP method is not allowed on this resource.",
        ),
        (_, [_, other, ..]) => {
            errors::odata_bad_request(format!("Resource not found for the segment '{other}'."))
        }
        _ => errors::odata_bad_request("Resource not found for the segment 'security'."),
    })
}

fn not_deployed() -> Reply {
    Reply::error(
        404,
        "ResourceNotFound",
        "Microsoft Defender for Identity is not deployed in this tenant.",
    )
}

fn list(shared: &Shared, tenant: &Tenant, raw_query: &str, id: &Identity) -> Reply {
    if !allowed(id, READ) {
        return errors::denied();
    }
    if !tenant.defender_for_identity {
        return not_deployed();
    }
    let wanted = match eq_filter(
        raw_query,
        &["onPremisesSecurityIdentifier", "userPrincipalName", "id"],
        "identityAccounts",
    ) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let value: Vec<Value> = tenant
        .users
        .iter()
        .filter_map(|u| u.on_premises.as_ref().map(|ad| (u, ad)))
        .filter(|(u, ad)| match &wanted {
            None => true,
            Some(("onPremisesSecurityIdentifier", v)) => ad.sid.eq_ignore_ascii_case(v),
            Some(("userPrincipalName", v)) => u.upn.eq_ignore_ascii_case(v),
            Some((_, v)) => account_id(u).eq_ignore_ascii_case(v),
        })
        .map(|(u, ad)| account_json(u, ad))
        .collect();
    Reply::json(
        200,
        json!({
            "@odata.context": format!("{}/v1.0/$metadata#security/identities/identityAccounts", shared.base_url),
            "value": value,
        }),
    )
}

fn find(tenant: &Tenant, key: &str) -> Option<usize> {
    tenant
        .users
        .iter()
        .position(|u| u.on_premises.is_some() && account_id(u).eq_ignore_ascii_case(key))
}

fn get(shared: &Shared, tenant: &Tenant, key: &str, id: &Identity) -> Reply {
    if !allowed(id, READ) {
        return errors::denied();
    }
    if !tenant.defender_for_identity {
        return not_deployed();
    }
    let Some(at) = find(tenant, key) else {
        return errors::not_found(key);
    };
    let u = &tenant.users[at];
    let mut body = account_json(u, u.on_premises.as_ref().expect("found with one"));
    body["@odata.context"] = json!(format!(
        "{}/v1.0/$metadata#security/identities/identityAccounts/$entity",
        shared.base_url
    ));
    Reply::json(200, body)
}

fn invoke(
    shared: &Shared,
    tenant: &mut Tenant,
    key: &str,
    body: Option<&[u8]>,
    id: &Identity,
    now: f64,
) -> Reply {
    if !allowed(id, ACT) {
        return errors::denied();
    }
    if !tenant.defender_for_identity {
        return not_deployed();
    }
    let body = match parse_json_body(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    let (Some(account), Some(action), Some(provider)) =
        (text("accountId"), text("action"), text("identityProvider"))
    else {
        return errors::odata_bad_request("accountId, action and identityProvider are required.");
    };
    let Some(at) = find(tenant, key) else {
        return errors::not_found(key);
    };
    let user = &mut tenant.users[at];
    let entra_id = user.id.clone();
    let ad = user.on_premises.as_mut().expect("found with one");
    let actions = match provider.as_str() {
        "activeDirectory" if account.eq_ignore_ascii_case(&ad.identifier) => AD_ACTIONS,
        "entraID" if account.eq_ignore_ascii_case(&entra_id) => ENTRA_ACTIONS,
        "activeDirectory" | "entraID" | "okta" => {
            return errors::odata_bad_request(format!(
                "The identity account has no {provider} account '{account}'."
            ))
        }
        other => {
            return errors::odata_bad_request(format!(
                "Requested value '{other}' was not found for 'identityProvider'."
            ))
        }
    };
    if !actions.contains(&action.as_str()) {
        return errors::odata_bad_request(format!(
            "The action '{action}' is not allowed for this {provider} account."
        ));
    }
    if provider == "activeDirectory" {
        ad.pending.push((action.clone(), now + ACTION_DELAY_SECS));
        ad.actions.push(action.clone());
    }
    Reply::json(
        200,
        json!({
            "@odata.context": format!("{}/v1.0/$metadata#microsoft.graph.security.invokeActionResult", shared.base_url),
            "accountId": account,
            "action": action,
            "identityProvider": provider,
            "correlationId": uuid::Uuid::new_v4().to_string(),
        }),
    )
}

//! Identity Protection's risky users.
//!
//! learn: graph/api/riskyuser-confirmcompromised — `POST
//! /identityProtection/riskyUsers/confirmCompromised` `{"userIds": [...]}`, 204, "sets the
//! targeted user's risk level to high"; IdentityRiskyUser.ReadWrite.All; a delegated caller needs
//! Security Administrator (rbac-identity-protection-apis-write); "The riskyUsers API requires an
//! Azure AD Premium P2 license": without it Graph answers 403 "Your tenant is not licensed for
//! this feature." (GRAPH-NOTES, error answers seen).
//! learn: graph/api/riskyuser-list — `GET /identityProtection/riskyUsers` with OData options
//! (`$filter` on `id` and `userPrincipalName` here); IdentityRiskyUser.Read.All; the response
//! example gives the shape. learn: graph/api/riskyuser-dismiss — `POST
//! /identityProtection/riskyUsers/dismiss` `{"userIds": [...]}`, 204, "sets the targeted user's
//! risk level to none" (riskState `dismissed`, riskDetail `adminDismissedAllRiskForUser`), with
//! the same permission, roles and licence. learn: graph/api/resources/riskyuser — `riskLevel`, `riskState`
//! (`confirmedCompromised` after this action), `riskDetail` (`adminConfirmedUserCompromised`).

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::errors::{self, Reply};
use super::odata::decode;
use super::server::Shared;
use super::state::{format_datetime, now_whole_seconds, Caller, Identity, Tenant};

/// What Identity Protection holds about a user it has flagged.
#[derive(Debug, Clone)]
pub(crate) struct Risk {
    pub level: &'static str,
    pub state: &'static str,
    pub detail: &'static str,
    pub updated: OffsetDateTime,
}

const READ: &[&str] = &[
    "IdentityRiskyUser.Read.All",
    "IdentityRiskyUser.ReadWrite.All",
];
const WRITE: &[&str] = &["IdentityRiskyUser.ReadWrite.All"];
/// rbac-identity-protection-apis-write (and Global Administrator, who holds all).
const WRITE_ROLES: &[&str] = &["Security Administrator", "Global Administrator"];
/// rbac-identity-protection-apis-read.
const READ_ROLES: &[&str] = &[
    "Security Reader",
    "Security Operator",
    "Security Administrator",
    "Global Reader",
    "Global Administrator",
];

fn unlicensed() -> Reply {
    // The code of this answer is unconfirmed; its status and message are as seen.
    Reply::error(
        403,
        "Forbidden",
        "Your tenant is not licensed for this feature.",
    )
}

/// `identityProtection/...`: `segs` are the path segments after `/v1.0/`.
pub(crate) fn route(
    shared: &Shared,
    tenant: &mut Tenant,
    method: &str,
    segs: &[&str],
    raw_query: &str,
    body: Option<&[u8]>,
    id: &Identity,
) -> Reply {
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    match (method, lower.as_slice()) {
        ("POST", ["identityprotection", "riskyusers", "confirmcompromised"]) => act(
            tenant,
            body,
            id,
            Risk {
                level: "high",
                state: "confirmedCompromised",
                detail: "adminConfirmedUserCompromised",
                updated: now_whole_seconds(),
            },
        ),
        ("POST", ["identityprotection", "riskyusers", "dismiss"]) => act(
            tenant,
            body,
            id,
            Risk {
                level: "none",
                state: "dismissed",
                detail: "adminDismissedAllRiskForUser",
                updated: now_whole_seconds(),
            },
        ),
        ("GET", ["identityprotection", "riskyusers"]) => list(shared, tenant, raw_query, id),
        (_, ["identityprotection", "riskyusers", ..]) => Reply::error(
            405,
            "BadRequest",
            "The HTTP method is not allowed on this resource.",
        ),
        (_, [_, other, ..]) => {
            errors::odata_bad_request(format!("Resource not found for the segment '{other}'."))
        }
        _ => errors::odata_bad_request("Resource not found for the segment 'identityProtection'."),
    }
}

fn licensed(tenant: &Tenant) -> bool {
    tenant.entra_id == super::licences::EntraIdPlan::P2
}

/// confirmCompromised and dismiss: set each listed user's risk to `risk`.
fn act(tenant: &mut Tenant, body: Option<&[u8]>, id: &Identity, risk: Risk) -> Reply {
    if !id.has_any(WRITE) {
        return errors::denied();
    }
    if matches!(id.caller, Caller::Delegated { .. }) && !id.has_role(WRITE_ROLES) {
        return errors::denied();
    }
    if !licensed(tenant) {
        return unlicensed();
    }
    let ids: Vec<String> = match serde_json::from_slice::<Value>(body.unwrap_or(&[])) {
        Ok(v) => match v.get("userIds").and_then(Value::as_array) {
            Some(ids) if !ids.is_empty() && ids.iter().all(Value::is_string) => ids
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => {
                return errors::odata_bad_request(
                    "The parameter 'userIds' must be a non-empty collection of strings.",
                )
            }
        },
        Err(_) => return errors::odata_bad_request("The request body must be a JSON object."),
    };
    for user_id in ids {
        if let Some(u) = tenant.by_id.get(&user_id.to_lowercase()).copied() {
            tenant.users[u].risk = Some(risk.clone());
        }
    }
    Reply::no_content()
}

/// `$filter=id eq '...'` or `$filter=userPrincipalName eq '...'`: the property and the value.
fn filter(raw_query: &str) -> Result<Option<(String, String)>, Reply> {
    let Some(expr) = raw_query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        decode(k)
            .eq_ignore_ascii_case("$filter")
            .then(|| decode(&v.replace('+', " ")))
    }) else {
        return Ok(None);
    };
    let bad = || {
        errors::odata_bad_request(format!(
            "Invalid filter clause: the emulated riskyUsers list filters on id or userPrincipalName only ('{expr}')."
        ))
    };
    let (prop, rest) = expr.trim().split_once(' ').ok_or_else(bad)?;
    let literal = rest
        .trim()
        .strip_prefix("eq ")
        .map(str::trim)
        .and_then(|l| l.strip_prefix('\'')?.strip_suffix('\''))
        .ok_or_else(bad)?;
    if !prop.eq_ignore_ascii_case("id") && !prop.eq_ignore_ascii_case("userPrincipalName") {
        return Err(bad());
    }
    Ok(Some((
        prop.to_ascii_lowercase(),
        literal.replace("''", "'"),
    )))
}

fn list(shared: &Shared, tenant: &Tenant, raw_query: &str, id: &Identity) -> Reply {
    if !id.has_any(READ) {
        return errors::denied();
    }
    if matches!(id.caller, Caller::Delegated { .. }) && !id.has_role(READ_ROLES) {
        return errors::denied();
    }
    if !licensed(tenant) {
        return unlicensed();
    }
    let wanted = match filter(raw_query) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let value: Vec<Value> = tenant
        .users
        .iter()
        .filter_map(|u| u.risk.as_ref().map(|r| (u, r)))
        .filter(|(u, _)| match &wanted {
            None => true,
            Some((p, v)) if p == "id" => u.id.eq_ignore_ascii_case(v),
            Some((_, v)) => u.upn.eq_ignore_ascii_case(v),
        })
        .map(|(u, r)| {
            json!({
                "@odata.type": "#microsoft.graph.riskyUser",
                "id": u.id,
                "isDeleted": false,
                "isProcessing": false,
                "riskLastUpdatedDateTime": format_datetime(r.updated),
                "riskLevel": r.level,
                "riskState": r.state,
                "riskDetail": r.detail,
                "userDisplayName": u.display_name,
                "userPrincipalName": u.upn,
            })
        })
        .collect();
    Reply::json(
        200,
        json!({
            "@odata.context": format!("{}/v1.0/$metadata#identityProtection/riskyUsers", shared.base_url),
            "value": value,
        }),
    )
}

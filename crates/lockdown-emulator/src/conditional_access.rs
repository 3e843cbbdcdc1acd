//! Conditional Access policies: the policy `lockdown setup` creates to block the members of
//! its group.
//!
//! learn: graph/api/conditionalaccessroot-list-policies — `GET
//! /identity/conditionalAccess/policies`; Policy.Read.All least privileged; a delegated caller
//! needs Security Reader, Global Reader, Conditional Access Administrator or Security
//! Administrator. learn: graph/api/conditionalaccesspolicy-get — `GET .../policies/{id}`.
//! learn: graph/api/conditionalaccessroot-post-policies — `POST .../policies`, 201 with the
//! policy; Policy.ReadWrite.ConditionalAccess with Policy.Read.All; a delegated caller needs
//! Conditional Access Administrator (or Security Administrator). learn:
//! graph/api/conditionalaccesspolicy-update — `PATCH .../policies/{id}`, 204. learn:
//! graph/api/resources/conditionalaccesspolicy — `displayName`, `state` (`enabled`,
//! `disabled`, `enabledForReportingButNotEnforced`), `conditions`, `grantControls`,
//! `createdDateTime`, `modifiedDateTime`. learn: entra/identity/conditional-access/overview —
//! Conditional Access needs Microsoft Entra ID P1: without it the policy writes are refused
//! (the answer's wording is unconfirmed: modelled on the 400 seen for P2-only features, "Cannot
//! create or update policies with premium P2 features"). learn: graph/throttling-limits —
//! "identity protection and conditional access": 1 request per second per tenant (in
//! `throttle`).

use serde_json::{json, Map, Value};

use super::errors::{self, Reply};
use super::routes::parse_json_body;
use super::server::Shared;
use super::state::{format_datetime, now_whole_seconds, Caller, Identity, Tenant};

const READ: &[&str] = &[
    "Policy.Read.All",
    "Policy.ReadWrite.ConditionalAccess",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    "Directory.AccessAsUser.All",
];
const WRITE: &[&str] = &["Policy.ReadWrite.ConditionalAccess"];
const READ_ROLES: &[&str] = &[
    "Security Reader",
    "Global Reader",
    "Conditional Access Administrator",
    "Security Administrator",
    "Global Administrator",
];
const WRITE_ROLES: &[&str] = &[
    "Conditional Access Administrator",
    "Security Administrator",
    "Global Administrator",
];
const STATES: &[&str] = &["enabled", "disabled", "enabledForReportingButNotEnforced"];

/// `identity/conditionalAccess/policies...`; `None` when the path is not one of them.
pub(crate) fn route(
    shared: &Shared,
    tenant: &mut Tenant,
    method: &str,
    segs: &[&str],
    body: Option<&[u8]>,
    id: &Identity,
) -> Option<Reply> {
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    if lower.first() != Some(&"identity") {
        return None;
    }
    Some(match (method, lower.as_slice()) {
        ("GET", ["identity", "conditionalaccess", "policies"]) => list(shared, tenant, id),
        ("POST", ["identity", "conditionalaccess", "policies"]) => create(shared, tenant, body, id),
        ("GET", ["identity", "conditionalaccess", "policies", _]) => {
            get(shared, tenant, segs[3], id)
        }
        ("PATCH", ["identity", "conditionalaccess", "policies", _]) => {
            update(tenant, segs[3], body, id)
        }
        (_, ["identity", "conditionalaccess", "policies", ..]) => Reply::error(
            405,
            "BadRequest",
            "The HTTP method is not allowed on this resource.",
        ),
        (_, [_, other, ..]) => {
            errors::odata_bad_request(format!("Resource not found for the segment '{other}'."))
        }
        _ => errors::odata_bad_request("Resource not found for the segment 'identity'."),
    })
}

fn may_read(id: &Identity) -> bool {
    id.has_any(READ) && (id.is_app() || id.has_role(READ_ROLES))
}

fn may_write(id: &Identity) -> bool {
    id.has_any(WRITE)
        && match id.caller {
            Caller::App => true,
            Caller::Delegated { .. } => id.has_role(WRITE_ROLES),
        }
}

fn unlicensed() -> Reply {
    Reply::error(
        400,
        "BadRequest",
        "Cannot create or update Conditional Access policies: the tenant has no Microsoft Entra ID P1 or P2 license. Upgrade to a premium license and try again.",
    )
}

fn list(shared: &Shared, tenant: &Tenant, id: &Identity) -> Reply {
    if !may_read(id) {
        return errors::denied();
    }
    let value: Vec<Value> = tenant
        .ca_policies
        .iter()
        .cloned()
        .map(Value::Object)
        .collect();
    Reply::json(
        200,
        json!({
            "@odata.context": format!("{}/v1.0/$metadata#identity/conditionalAccess/policies", shared.base_url),
            "value": value,
        }),
    )
}

fn find(tenant: &Tenant, key: &str) -> Option<usize> {
    tenant
        .ca_policies
        .iter()
        .position(|p| p.get("id").and_then(Value::as_str) == Some(key))
}

fn get(shared: &Shared, tenant: &Tenant, key: &str, id: &Identity) -> Reply {
    if !may_read(id) {
        return errors::denied();
    }
    let Some(at) = find(tenant, key) else {
        return errors::not_found(key);
    };
    let mut m = tenant.ca_policies[at].clone();
    m.insert(
        "@odata.context".into(),
        json!(format!(
            "{}/v1.0/$metadata#identity/conditionalAccess/policies/$entity",
            shared.base_url
        )),
    );
    Reply::json(200, Value::Object(m))
}

/// The checks a policy body must pass, on create (`full`) and update.
fn validate(body: &Map<String, Value>, full: bool) -> Result<(), Reply> {
    const KNOWN: &[&str] = &[
        "displayName",
        "state",
        "conditions",
        "grantControls",
        "sessionControls",
    ];
    for k in body.keys() {
        if !KNOWN.contains(&k.as_str()) && k != "@odata.type" {
            return Err(errors::odata_bad_request(format!(
                "Property '{k}' does not exist as a declared property on type 'microsoft.graph.conditionalAccessPolicy'."
            )));
        }
    }
    if let Some(state) = body.get("state") {
        if !state.as_str().is_some_and(|s| STATES.contains(&s)) {
            return Err(errors::odata_bad_request(format!(
                "Requested value '{}' was not found for 'state'.",
                state.as_str().unwrap_or_default()
            )));
        }
    }
    if full {
        for k in ["displayName", "state", "conditions"] {
            if body.get(k).is_none_or(Value::is_null) {
                return Err(errors::odata_bad_request(format!(
                    "The property '{k}' is required to create a Conditional Access policy."
                )));
            }
        }
        if body.get("grantControls").is_none_or(Value::is_null)
            && body.get("sessionControls").is_none_or(Value::is_null)
        {
            return Err(errors::odata_bad_request(
                "A Conditional Access policy needs grantControls or sessionControls.",
            ));
        }
    }
    Ok(())
}

fn create(shared: &Shared, tenant: &mut Tenant, body: Option<&[u8]>, id: &Identity) -> Reply {
    if !may_write(id) {
        return errors::denied();
    }
    if !tenant.entra_id.is_premium() {
        return unlicensed();
    }
    let body = match parse_json_body(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Err(r) = validate(&body, true) {
        return r;
    }
    let mut policy = Map::new();
    policy.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
    policy.insert(
        "createdDateTime".into(),
        json!(format_datetime(now_whole_seconds())),
    );
    policy.insert("modifiedDateTime".into(), Value::Null);
    for (k, v) in body {
        if k != "@odata.type" {
            policy.insert(k, v);
        }
    }
    tenant.ca_policies.push(policy.clone());
    policy.insert(
        "@odata.context".into(),
        json!(format!(
            "{}/v1.0/$metadata#identity/conditionalAccess/policies/$entity",
            shared.base_url
        )),
    );
    Reply::json(201, Value::Object(policy))
}

fn update(tenant: &mut Tenant, key: &str, body: Option<&[u8]>, id: &Identity) -> Reply {
    if !may_write(id) {
        return errors::denied();
    }
    if !tenant.entra_id.is_premium() {
        return unlicensed();
    }
    let body = match parse_json_body(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Err(r) = validate(&body, false) {
        return r;
    }
    let Some(at) = find(tenant, key) else {
        return errors::not_found(key);
    };
    let policy = &mut tenant.ca_policies[at];
    for (k, v) in body {
        if k != "@odata.type" {
            policy.insert(k, v);
        }
    }
    policy.insert(
        "modifiedDateTime".into(),
        json!(format_datetime(now_whole_seconds())),
    );
    Reply::no_content()
}

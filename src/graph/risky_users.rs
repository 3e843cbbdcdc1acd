//! Identity Protection's risky users: confirm users compromised, and read a user's risk.
//!
//! learn: graph/api/riskyuser-confirmcompromised (`POST
//! /identityProtection/riskyUsers/confirmCompromised` `{"userIds": [...]}`, 204: "sets the
//! targeted user's risk level to high"; Microsoft Entra ID P2; IdentityRiskyUser.ReadWrite.All),
//! graph/api/riskyuser-list (`GET /identityProtection/riskyUsers`, OData query options),
//! graph/api/resources/riskyuser (`riskLevel`, `riskState`, `riskDetail`),
//! graph/throttling-limits ("Identity protection and conditional access service limits": one
//! request per second per tenant, and no `Retry-After` on its 429).

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;
use serde_json::json;

use super::{GraphError, GraphRequest};

/// Path of the action.
pub const CONFIRM_COMPROMISED: &str = "/identityProtection/riskyUsers/confirmCompromised";

/// Ids per `confirmCompromised` request. Learn gives no limit; lockdown keeps each request to
/// a size a person can read back in a log.
pub const MAX_IDS: usize = 60;

/// The part of a query value sent as it is; everything else is percent-encoded.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'\'');

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RiskyUser {
    pub id: String,
    pub risk_level: Option<String>,
    pub risk_state: Option<String>,
    pub risk_detail: Option<String>,
}

/// `POST /identityProtection/riskyUsers/confirmCompromised` `{"userIds": [...]}`.
pub fn confirm_compromised(user_ids: &[String]) -> GraphRequest {
    GraphRequest {
        body: Some(super::Body(json!({ "userIds": user_ids }))),
        ..GraphRequest::post(CONFIRM_COMPROMISED)
    }
}

/// Path of the undo.
pub const DISMISS: &str = "/identityProtection/riskyUsers/dismiss";

/// `POST /identityProtection/riskyUsers/dismiss` `{"userIds": [...]}` (learn:
/// graph/api/riskyuser-dismiss: the risk level becomes none).
pub fn dismiss(user_ids: &[String]) -> GraphRequest {
    GraphRequest {
        body: Some(super::Body(json!({ "userIds": user_ids }))),
        ..GraphRequest::post(DISMISS)
    }
}

/// The user's record in a `riskyUsers` list answer, if it has one.
pub fn first(resp: &super::GraphResponse) -> Result<Option<RiskyUser>, GraphError> {
    let page: super::paging::Page<RiskyUser> = resp.json()?;
    Ok(page.value.into_iter().next())
}

/// The user ids of a `confirmCompromised` request.
pub fn user_ids(req: &GraphRequest) -> Vec<String> {
    req.body
        .as_ref()
        .and_then(|b| b.0.get("userIds"))
        .and_then(|v| v.as_array())
        .map(|ids| {
            ids.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `GET /identityProtection/riskyUsers?$filter=...`: the risky-user record of one user, by
/// object id or userPrincipalName (a user Identity Protection never flagged has none).
pub fn find(who: &str) -> GraphRequest {
    let property = if uuid::Uuid::parse_str(who).is_ok() {
        "id"
    } else {
        "userPrincipalName"
    };
    let literal = who.replace('\'', "''");
    let filter = format!("{property} eq '{literal}'");
    GraphRequest::get(format!(
        "/identityProtection/riskyUsers?$filter={}",
        utf8_percent_encode(&filter, QUERY)
    ))
}

/// The tenant lacks the licence Identity Protection needs (403 "Your tenant is not licensed
/// for this feature."): the same status as a missing permission, so the message tells it apart.
pub fn is_unlicensed(err: &GraphError) -> bool {
    err.api()
        .is_some_and(|e| e.status == 403 && e.message.to_ascii_lowercase().contains("not licensed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirm_carries_every_id() {
        let req = confirm_compromised(&["a".into(), "b".into()]);
        assert_eq!(
            req.describe(),
            "POST /v1.0/identityProtection/riskyUsers/confirmCompromised"
        );
        assert_eq!(user_ids(&req), ["a", "b"]);
    }

    #[test]
    fn find_filters_by_id_or_upn() {
        assert_eq!(
            find("87d349ed-44d7-43e1-9a83-5f2406dee5bd").describe(),
            "GET /v1.0/identityProtection/riskyUsers?$filter=id%20eq%20'87d349ed-44d7-43e1-9a83-5f2406dee5bd'"
        );
        assert_eq!(
            find("patti.o'fernandez@contoso.com").describe(),
            "GET /v1.0/identityProtection/riskyUsers?$filter=userPrincipalName%20eq%20'patti.o''fernandez%40contoso.com'"
        );
    }
}

//! Microsoft Defender for Identity's identity accounts: a synced user's on-premises AD account,
//! and the actions Defender for Identity takes on it (disable, enable, force a password reset).
//!
//! learn: graph/api/security-identitycontainer-list-identityaccounts (`GET
//! /security/identities/identityAccounts`, `$filter`; SecurityIdentitiesAccount.Read.All;
//! global service only), graph/api/resources/security-identityaccounts and security-account
//! (`accounts[]`: `identifier`, `identityProvider`, `actions`; `isEnabled`;
//! `onPremisesSecurityIdentifier`), graph/api/security-identityaccounts-invokeaction (`POST
//! .../identityAccounts/{id}/invokeAction` `{"accountId", "action", "identityProvider"}`, 200
//! with an `invokeActionResult`: `accountId`, `action`, `identityProvider`, `correlationId`;
//! SecurityIdentitiesActions.ReadWrite.All; carried out asynchronously by the sensor's action
//! account).

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;
use serde_json::json;

use super::{GraphError, GraphRequest, GraphResponse};

const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'\'');

/// The provider of an on-premises AD account.
pub const ACTIVE_DIRECTORY: &str = "activeDirectory";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityAccount {
    pub id: String,
    pub is_enabled: Option<bool>,
    #[serde(default)]
    pub accounts: Vec<Account>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub identifier: String,
    pub identity_provider: String,
    #[serde(default)]
    pub actions: Vec<String>,
}

impl IdentityAccount {
    /// Its AD account, if Defender for Identity may take `action` on it.
    pub fn active_directory(&self, action: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| {
            a.identity_provider.eq_ignore_ascii_case(ACTIVE_DIRECTORY)
                && a.actions.iter().any(|x| x.eq_ignore_ascii_case(action))
        })
    }
}

/// What Graph answers to an action: where to follow it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvokeActionResult {
    pub correlation_id: Option<String>,
}

/// `GET /security/identities/identityAccounts?$filter=onPremisesSecurityIdentifier eq '{sid}'`.
pub fn find_by_sid(sid: &str) -> GraphRequest {
    let filter = format!(
        "onPremisesSecurityIdentifier eq '{}'",
        sid.replace('\'', "''")
    );
    GraphRequest::get(format!(
        "/security/identities/identityAccounts?$filter={}",
        utf8_percent_encode(&filter, QUERY)
    ))
}

/// `GET /security/identities/identityAccounts/{id}`.
pub fn get(id: &str) -> GraphRequest {
    GraphRequest::get(format!(
        "/security/identities/identityAccounts/{}",
        utf8_percent_encode(id, QUERY)
    ))
}

/// `POST /security/identities/identityAccounts/{id}/invokeAction` for the AD account
/// `account` (its identifier).
pub fn invoke(id: &str, account: &str, action: &str) -> GraphRequest {
    GraphRequest::post_json(
        format!(
            "/security/identities/identityAccounts/{}/invokeAction",
            utf8_percent_encode(id, QUERY)
        ),
        json!({
            "accountId": account,
            "action": action,
            "identityProvider": ACTIVE_DIRECTORY,
        }),
    )
}

pub fn decode_list(resp: &GraphResponse) -> Result<Vec<IdentityAccount>, GraphError> {
    let page: super::paging::Page<IdentityAccount> = resp.json()?;
    Ok(page.value)
}

/// The tenant has no Defender for Identity to answer (404 on the list), or it is not reachable
/// to this caller (403): either way, the on-premises route is closed.
pub fn is_unavailable(err: &GraphError) -> bool {
    matches!(err.status(), Some(403 | 404))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_read_as_documented() {
        assert_eq!(
            find_by_sid("S-1-5-21-1-2-3-1107").describe(),
            "GET /v1.0/security/identities/identityAccounts?$filter=onPremisesSecurityIdentifier%20eq%20'S-1-5-21-1-2-3-1107'"
        );
        let r = invoke("a1", "guid", "disable");
        assert_eq!(
            r.describe(),
            "POST /v1.0/security/identities/identityAccounts/a1/invokeAction"
        );
        assert_eq!(
            r.body.unwrap().0,
            json!({"accountId": "guid", "action": "disable", "identityProvider": "activeDirectory"})
        );
    }
}

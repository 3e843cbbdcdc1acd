//! Sign-in logs: `GET /auditLogs/signIns` (learn: graph/api/signin-list,
//! graph/api/resources/signin).
//!
//! Newest first, pages of up to 1,000 followed through `@odata.nextLink`; `$filter` on `userId`
//! and `createdDateTime`. Needs AuditLog.Read.All and, in the tenant, Microsoft Entra ID P1 or
//! P2 (without it Graph answers 403 `Authentication_RequestFromNonPremiumTenantOrB2CTenant`).
//! v1.0 lists interactive sign-ins; sign-ins appear minutes after they happen; they are kept 7
//! days (Free) or 30 days (P1/P2). Sign-in logs are metered by the identity and access reports
//! service: 5 requests per 10 seconds per app and tenant (learn: graph/throttling-limits).

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;
use time::OffsetDateTime;

use super::GraphRequest;

/// Users per request. Each poll asks for a group of users in one `$filter` (`userId eq ... or
/// ...`), so a bulk watch costs one request per group, not per user, against the reports limit;
/// the group stays small enough for Graph's URL and filter limits.
pub const USERS_PER_REQUEST: usize = 15;

/// The error code Graph gives a tenant without Entra ID P1 or P2.
pub const NON_PREMIUM: &str = "Authentication_RequestFromNonPremiumTenantOrB2CTenant";

/// One sign-in, as lockdown reads it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignIn {
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
    pub user_id: Option<String>,
    pub user_principal_name: Option<String>,
    pub user_display_name: Option<String>,
    pub app_display_name: Option<String>,
    pub ip_address: Option<String>,
    pub client_app_used: Option<String>,
    pub is_interactive: Option<bool>,
    pub status: Option<SignInStatus>,
    pub location: Option<SignInLocation>,
}

/// learn: graph/api/resources/signinstatus — `errorCode` 0 is a success.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInStatus {
    pub error_code: Option<i64>,
    pub failure_reason: Option<String>,
    pub additional_details: Option<String>,
}

/// learn: graph/api/resources/signinlocation.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInLocation {
    pub city: Option<String>,
    pub state: Option<String>,
    pub country_or_region: Option<String>,
}

impl SignIn {
    /// `status.errorCode` 0 (a sign-in without a status is not taken for a success).
    pub fn succeeded(&self) -> bool {
        self.status.as_ref().and_then(|s| s.error_code) == Some(0)
    }

    /// `Lagos, Lagos, NG`, from what Graph gave.
    pub fn place(&self) -> Option<String> {
        let l = self.location.as_ref()?;
        let parts: Vec<&str> = [&l.city, &l.state, &l.country_or_region]
            .into_iter()
            .filter_map(|p| p.as_deref())
            .filter(|p| !p.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// Everything but the characters OData and URLs agree on is percent-encoded, so a value from a
/// report file can never add a query option or end the filter.
pub(crate) const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The `$filter` for these users' sign-ins since `since`: `(userId eq '{id}' or ...) and
/// createdDateTime ge {since}`. Ids are OData string literals (`'` doubled); the time is an
/// RFC 3339 literal in UTC, to the second.
pub fn filter(user_ids: &[&str], since: OffsetDateTime) -> String {
    let users: Vec<String> = user_ids
        .iter()
        .map(|id| format!("userId eq '{}'", id.replace('\'', "''")))
        .collect();
    format!(
        "({}) and createdDateTime ge {}",
        users.join(" or "),
        utc_literal(since)
    )
}

/// An OData `DateTimeOffset` literal in UTC, to the second: `2026-11-29T13:36:51Z`.
pub(crate) fn utc_literal(t: OffsetDateTime) -> String {
    let t = t
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("a UTC time formats")
}

/// `GET /auditLogs/signIns?$filter=...`: the first page, newest first (Graph's default order,
/// so no `$orderby`).
pub fn list(filter: &str) -> GraphRequest {
    GraphRequest::get(format!(
        "/auditLogs/signIns?$filter={}",
        utf8_percent_encode(filter, QUERY_VALUE)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_joins_users_and_the_time() {
        let since = time::macros::datetime!(2026-11-29 14:36:51.75 +01:00);
        assert_eq!(
            filter(&["a", "o'b"], since),
            "(userId eq 'a' or userId eq 'o''b') and createdDateTime ge 2026-11-29T13:36:51Z"
        );
    }

    #[test]
    fn the_filter_stays_inside_its_query_option() {
        let req = list(&filter(
            &["x' or 1 eq 1&$top=1#"],
            OffsetDateTime::UNIX_EPOCH,
        ));
        let described = req.describe();
        let query = described.split_once('?').unwrap().1;
        assert_eq!(query.matches('&').count(), 0, "{query}");
        assert!(!query.contains('#') && !query.contains(' ') && !query.contains('\''));
        let decoded = percent_encoding::percent_decode_str(query.strip_prefix("$filter=").unwrap())
            .decode_utf8()
            .unwrap();
        assert!(
            decoded.contains("userId eq 'x'' or 1 eq 1&$top=1#'"),
            "{decoded}"
        );
    }

    #[test]
    fn decodes_learns_example() {
        let s: SignIn = serde_json::from_value(serde_json::json!({
            "id": "66ea54eb-6301-4ee5-be62-ff5a759b0100",
            "createdDateTime": "2020-03-13T19:15:41.6195833Z",
            "userDisplayName": "Test Contoso",
            "userPrincipalName": "testaccount1@contoso.com",
            "userId": "26be570a-ae82-4189-b4e2-a37c6808512d",
            "appId": "de8bc8b5-d9f9-48b1-a8ad-b748da725064",
            "appDisplayName": "Graph explorer",
            "ipAddress": "131.107.159.37",
            "clientAppUsed": "Browser",
            "isInteractive": true,
            "status": {"errorCode": 0, "failureReason": null, "additionalDetails": null},
            "location": {"city": "Redmond", "state": "Washington", "countryOrRegion": "US",
                "geoCoordinates": {"altitude": null, "latitude": 47.68, "longitude": -122.12}}
        }))
        .unwrap();
        assert!(s.succeeded());
        assert_eq!(s.place().as_deref(), Some("Redmond, Washington, US"));
        assert_eq!(s.created_date_time.nanosecond(), 619_583_300);
    }
}

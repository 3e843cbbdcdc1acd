//! The directory audit log: `GET /auditLogs/directoryAudits` (learn: graph/api/directoryaudit-list,
//! graph/api/resources/directoryaudit).
//!
//! `$filter` on `activityDateTime` (`ge`), on a target (`targetResources/any(t:t/id eq '{id}')`)
//! and on the user who initiated it (`initiatedBy/user/id eq '{id}'`); pages followed through
//! `@odata.nextLink`. Needs AuditLog.Read.All and Directory.Read.All (and, delegated, a
//! reporting role). Metered by the identity and access reports service: 5 requests per 10 s per
//! app and tenant (learn: graph/throttling-limits).

use percent_encoding::utf8_percent_encode;
use time::OffsetDateTime;

use super::sign_ins::{utc_literal, QUERY_VALUE};
use super::GraphRequest;

/// Which side of a record the user is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The user is among the record's `targetResources`.
    Target,
    /// The user initiated it (`initiatedBy.user`).
    Initiator,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Target => "target",
            Side::Initiator => "initiator",
        }
    }
}

/// `activityDateTime ge {since} and targetResources/any(t:t/id eq '{id}')`, or the initiator's
/// form. The id is an OData string literal (`'` doubled).
pub fn filter(side: Side, user_id: &str, since: OffsetDateTime) -> String {
    let id = user_id.replace('\'', "''");
    let who = match side {
        Side::Target => format!("targetResources/any(t:t/id eq '{id}')"),
        Side::Initiator => format!("initiatedBy/user/id eq '{id}'"),
    };
    format!("activityDateTime ge {} and {who}", utc_literal(since))
}

/// `GET /auditLogs/directoryAudits?$filter=...`: the first page.
pub fn list(filter: &str) -> GraphRequest {
    GraphRequest::get(format!(
        "/auditLogs/directoryAudits?$filter={}",
        utf8_percent_encode(filter, QUERY_VALUE)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_name_the_window_and_the_user() {
        let since = time::macros::datetime!(2026-11-29 14:36:51.75 +01:00);
        assert_eq!(
            filter(Side::Target, "o'b", since),
            "activityDateTime ge 2026-11-29T13:36:51Z and targetResources/any(t:t/id eq 'o''b')"
        );
        assert_eq!(
            filter(Side::Initiator, "a", since),
            "activityDateTime ge 2026-11-29T13:36:51Z and initiatedBy/user/id eq 'a'"
        );
        let described = list(&filter(Side::Target, "x' or 1 eq 1&$top=1", since)).describe();
        let query = described.split_once('?').unwrap().1;
        assert_eq!(query.matches('&').count(), 0, "{query}");
    }
}

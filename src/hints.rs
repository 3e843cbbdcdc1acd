//! Hints that say what to do about a known failure. Each step owns the hints for its own
//! operations (which permission or role it needs); this module holds what they share: the
//! hints that do not depend on the operation (401, 429), the reading of the user, and the
//! recognisers for Graph answers whose code alone does not tell the situation apart. Matched on
//! Graph's `code` and status, never on its message text, except where Graph gives the same code
//! to different situations and the documented message is the only difference.

use crate::graph::GraphError;

/// A sentence telling the admin what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint(pub String);

pub fn hint(s: impl Into<String>) -> Option<Hint> {
    Some(Hint(s.into()))
}

/// Said with every 403 on a write to a user (learn: graph/api/resources/users, "Who can perform
/// sensitive actions").
pub const PRIVILEGED_TARGET: &str = "if the target holds an Entra admin role, the caller also needs Privileged Authentication Administrator";

/// Graph's documented message for writes to objects mastered on-premises
/// (learn: graph/api/user-update; same 400 code as other bad requests).
pub fn is_on_premises_mastered(err: &GraphError) -> bool {
    err.api().is_some_and(|e| {
        e.status == 400
            && e.message
                .to_ascii_lowercase()
                .contains("on-premises mastered")
    })
}

/// learn: graph/known-issues, msgraph-sdk-powershell#2327 — app-only tokens can change
/// non-Windows devices only in extensionAttributes.
pub fn is_windows_only(err: &GraphError) -> bool {
    err.api().is_some_and(|e| {
        e.status == 400
            && e.message
                .to_ascii_lowercase()
                .contains("only on windows devices")
    })
}

/// Hints for failures that read the same whatever the operation.
pub fn common(err: &GraphError) -> Option<Hint> {
    if err.is_token_expired() {
        return hint("the access token expired and cannot be renewed: get a new one (or use a credential lockdown can renew, such as --auth azure-cli or a client secret)");
    }
    match err.status()? {
        401 => hint("Graph rejected the token: check that it is for Microsoft Graph, in this tenant, and not expired"),
        429 => hint("Graph kept throttling past the retry budget: run again later or with a lower --concurrency"),
        _ => None,
    }
}

/// Reading the user (`GET /users/{id}`), which every command does first.
pub fn read_user(err: &GraphError) -> Option<Hint> {
    match err.status() {
        Some(403) => hint("the token needs User.Read.All (or Directory.Read.All)"),
        Some(404) => hint("no user with this userPrincipalName or object id in the tenant"),
        _ => common(err),
    }
}

//! Hints that say what to do about a known failure: which permission or role is missing, that
//! a synced account must be disabled on-premises, and so on. Matched on Graph's `code` and
//! status, never on its message text, except where Graph gives the same code to different
//! situations and the documented message is the only difference.

use crate::auth::TokenKind;
use crate::graph::GraphError;

/// A sentence telling the admin what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint(pub String);

fn hint(s: impl Into<String>) -> Option<Hint> {
    Some(Hint(s.into()))
}

/// The operation that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    ReadUser,
    DisableAccount,
    RevokeSessions,
    ResetPassword,
    ListDevices,
    DisableDevice,
}

const PRIVILEGED_TARGET: &str = "if the target holds an Entra admin role, the caller also needs Privileged Authentication Administrator";

/// Graph's documented message for writes to objects mastered on-premises
/// (learn: graph/api/user-update; same 400 code as other bad requests).
fn is_on_premises_mastered(err: &GraphError) -> bool {
    err.api().is_some_and(|e| {
        e.status == 400
            && e.message
                .to_ascii_lowercase()
                .contains("on-premises mastered")
    })
}

/// learn: graph/known-issues, msgraph-sdk-powershell#2327 — app-only tokens can change
/// non-Windows devices only in extensionAttributes.
fn is_windows_only(err: &GraphError) -> bool {
    err.api().is_some_and(|e| {
        e.status == 400
            && e.message
                .to_ascii_lowercase()
                .contains("only on windows devices")
    })
}

pub fn for_error(op: Operation, err: &GraphError, token: TokenKind, synced: bool) -> Option<Hint> {
    if is_on_premises_mastered(err) || (synced && err.status() == Some(400)) {
        return match op {
            Operation::DisableDevice => hint(
                "this device is synced from on-premises Active Directory (hybrid joined): disable its computer object there and let sync carry it to Entra",
            ),
            Operation::ResetPassword => hint(
                "this account is synced from on-premises Active Directory: reset its password there (Microsoft's guidance for a compromised hybrid account is to reset it twice) and let sync carry it to Entra",
            ),
            _ => hint(
                "this account is synced from on-premises Active Directory: disable it there and let sync carry it to Entra; its cloud sign-in sessions were still revoked here",
            ),
        };
    }
    if op == Operation::DisableDevice && is_windows_only(err) {
        return hint(
            "app-only tokens can disable only Windows devices: disable this one with a delegated sign-in (--auth azure-cli as a Cloud Device Administrator) or in Intune",
        );
    }
    let api = err.api()?;
    match (api.status, op) {
        (401, _) => hint("Graph rejected the token: check that it is for Microsoft Graph, in this tenant, and not expired"),
        (403, Operation::ReadUser) => hint("the token needs User.Read.All (or Directory.Read.All)"),
        (403, Operation::DisableAccount) => hint(format!(
            "the token needs User.EnableDisableAccount.All with User.Read.All (or User.ReadWrite.All); a delegated caller needs the User Administrator role or higher; {PRIVILEGED_TARGET}"
        )),
        (403, Operation::RevokeSessions) => hint(format!(
            "the token needs User.RevokeSessions.All (or User.ReadWrite.All); a delegated caller needs the User Administrator role or higher; {PRIVILEGED_TARGET}"
        )),
        (403, Operation::ResetPassword) => hint(format!(
            "the token needs User-PasswordProfile.ReadWrite.All (or User.ReadWrite.All){}; {PRIVILEGED_TARGET}",
            if token == TokenKind::AppOnly {
                ", and the app itself needs an Entra role such as User Administrator"
            } else {
                " and the caller needs the User Administrator role or higher"
            }
        )),
        (403, Operation::ListDevices) if token != TokenKind::Delegated => hint(
            "Graph does not support listing a user's registered devices with application permissions: run with a delegated sign-in (--auth azure-cli), or pass --skip-devices and disable devices in Intune",
        ),
        (403, Operation::ListDevices) => hint("the token needs Directory.Read.All (or Device.Read.All)"),
        (403, Operation::DisableDevice) => hint(
            "the token needs Device.ReadWrite.All (app-only) or Directory.AccessAsUser.All (delegated), and a delegated caller needs Cloud Device Administrator or Intune Administrator",
        ),
        (404, Operation::ReadUser) => hint("no user with this userPrincipalName or object id in the tenant"),
        (429, _) => hint("Graph kept throttling past the retry budget: run again later or with a lower --concurrency"),
        _ => None,
    }
}

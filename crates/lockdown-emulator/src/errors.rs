//! Graph's error body and the few error constructors every route uses.
//!
//! learn: graph/errors — body is `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`;
//! code against `code`, never `message`.

use serde_json::{json, Value};

/// One answer produced by the emulated service, before it is turned into HTTP (or into a
/// `$batch` item).
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    /// Set for errors: the code/message pair; the innerError is filled in at the edge,
    /// where the request id is known.
    pub error: Option<(String, String)>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body),
            error: None,
        }
    }

    pub fn no_content() -> Reply {
        Reply {
            status: 204,
            headers: Vec::new(),
            body: None,
            error: None,
        }
    }

    pub fn error(status: u16, code: &str, message: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
            error: Some((code.to_string(), message.into())),
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Fill in the error body (if this is an error) with its innerError.
    pub fn finish(&mut self, request_id: &str, client_request_id: &str) {
        if let Some((code, message)) = self.error.take() {
            self.body = Some(error_body(&code, &message, request_id, client_request_id));
        }
    }
}

pub(crate) fn error_body(
    code: &str,
    message: &str,
    request_id: &str,
    client_request_id: &str,
) -> Value {
    json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": super::state::format_inner_date(time::OffsetDateTime::now_utc()),
                "request-id": request_id,
                "client-request-id": client_request_id,
            }
        }
    })
}

// learn: graph/errors (401: authentication information missing or not valid).
// The messages are the ones Graph is widely seen to send for InvalidAuthenticationToken.
pub(crate) fn token_empty() -> Reply {
    Reply::error(401, "InvalidAuthenticationToken", "Access token is empty.")
}

pub(crate) fn token_invalid() -> Reply {
    Reply::error(
        401,
        "InvalidAuthenticationToken",
        "Access token validation failure. Invalid audience.",
    )
}

// learn: graph/resolve-auth-errors — 403 when permissions or roles are missing.
pub(crate) fn denied() -> Reply {
    Reply::error(
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    )
}

// learn: graph/api/user-get — "If a user with the ID doesn't exist, this method returns a 404".
pub(crate) fn not_found(id: &str) -> Reply {
    Reply::error(
        404,
        "Request_ResourceNotFound",
        format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

pub(crate) fn bad_request(message: impl Into<String>) -> Reply {
    Reply::error(400, "Request_BadRequest", message)
}

/// OData-level request errors (malformed JSON, unknown segment): Graph answers these with
/// the generic `BadRequest` code.
pub(crate) fn odata_bad_request(message: impl Into<String>) -> Reply {
    Reply::error(400, "BadRequest", message)
}

pub(crate) const SYNCED_MESSAGE: &str = "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.";

pub(crate) const PASSWORD_COMPLEXITY_MESSAGE: &str = "The specified password does not comply with password complexity requirements. Please provide a different password.";

//! The Microsoft identity platform's token endpoint, for the OAuth 2.0 client-credentials grant
//! (learn: entra/identity-platform/v2-oauth2-client-creds-grant-flow): an app proves itself with
//! a client secret, or with a signed client assertion (a certificate, or a federated token for
//! workload identity), and gets an app-only token for Microsoft Graph.
//!
//! `POST /{tenant}/oauth2/v2.0/token`, form-encoded. Errors use the identity platform's shape,
//! `{"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id"}`,
//! not Graph's. Assertions are checked for shape and claims, not for their signature: the
//! emulator holds no public keys.

use base64::Engine;
use serde_json::{json, Value};

use super::errors::Reply;
use super::state::{APP_ID, TENANT_ID};

/// The client secret of the emulated app registration.
pub const APP_CLIENT_SECRET: &str = "emu~Q8s.Client-Secret_0f3a9c";

/// Tenant names the endpoint accepts: the tenant id and its verified domains.
const TENANT_NAMES: &[&str] = &[TENANT_ID, "contoso.onmicrosoft.com", "contoso.com"];

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn failure(status: u16, error: &str, code: u32, description: &str) -> Reply {
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    Reply::json(
        status,
        json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {description}"),
            "error_codes": [code],
            "timestamp": now,
            "trace_id": uuid::Uuid::new_v4().to_string(),
            "correlation_id": uuid::Uuid::new_v4().to_string(),
        }),
    )
}

fn jwt_claims(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_, payload, sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || sig.is_empty() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Handle a token request for `tenant` with form `body`; `app_token` is what a valid request
/// gets.
pub(crate) fn token(tenant: &str, body: &[u8], app_token: &str) -> Reply {
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(body).into_owned().collect();
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if !TENANT_NAMES.iter().any(|t| t.eq_ignore_ascii_case(tenant)) {
        return failure(
            400,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
        );
    }
    if get("grant_type") != "client_credentials" {
        return failure(
            400,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    let client_id = get("client_id");
    if !client_id.eq_ignore_ascii_case(APP_ID) {
        return failure(
            400,
            "unauthorized_client",
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'."),
        );
    }
    // The client-credentials grant takes `{resource}/.default` only.
    let scope = get("scope");
    let graph_scope = scope.ends_with("/.default")
        && [
            "graph.microsoft.com",
            "graph.microsoft.us",
            "dod-graph.microsoft.us",
            "microsoftgraph.chinacloudapi.cn",
        ]
        .iter()
        .any(|h| scope.contains(h));
    if !graph_scope {
        return failure(
            400,
            "invalid_scope",
            1002012,
            &format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
        );
    }
    let secret = get("client_secret");
    let assertion_type = get("client_assertion_type");
    let authenticated = if !secret.is_empty() {
        if secret != APP_CLIENT_SECRET {
            return failure(
                401,
                "invalid_client",
                7000215,
                &format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{APP_ID}'."),
            );
        }
        true
    } else if assertion_type == JWT_BEARER {
        let Some(claims) = jwt_claims(get("client_assertion")) else {
            return failure(
                401,
                "invalid_client",
                50027,
                "JWT token is invalid or malformed.",
            );
        };
        let claim = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or("");
        // A certificate's assertion is issued by the app itself; a federated token by an
        // external issuer for the token-exchange audience.
        let own =
            claim("iss").eq_ignore_ascii_case(APP_ID) && claim("sub").eq_ignore_ascii_case(APP_ID);
        let federated = claim("aud") == "api://AzureADTokenExchange"
            || claims
                .get("aud")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|v| v == "api://AzureADTokenExchange"));
        if !(own || federated) {
            return failure(
                401,
                "invalid_client",
                70021,
                "No matching federated identity record found for presented assertion.",
            );
        }
        true
    } else {
        false
    };
    if !authenticated {
        return failure(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        );
    }
    Reply::json(
        200,
        json!({
            "token_type": "Bearer",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": app_token,
        }),
    )
}

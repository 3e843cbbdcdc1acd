//! The one place where Graph responses become typed errors.
//!
//! Graph's error body is `{"error": {"code", "message", "innerError": {"date", "request-id",
//! "client-request-id"}}}` (learn: graph/errors). Callers match on `code`, never on `message`.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// A non-2xx answer from Graph, parsed from its documented error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    /// Graph's `error.code`, e.g. `Request_ResourceNotFound`; empty when Graph sent none.
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    /// `Retry-After`, when the response carried one.
    pub retry_after: Option<Duration>,
}

/// Everything that can go wrong talking to Graph.
#[derive(Debug, Clone)]
pub enum GraphError {
    /// Graph answered with an error status.
    Api(ApiError),
    /// The request never got an answer: connection refused or reset, timeout, TLS failure.
    Transport { message: String, timed_out: bool },
    /// Graph answered 2xx but the body was not what its documentation describes.
    Decode { message: String },
    /// A retryable failure that went on past the retry budget.
    Exhausted {
        last: Box<GraphError>,
        tries: u32,
        elapsed: Duration,
    },
    /// The request was refused before sending it (e.g. a nextLink to a foreign host).
    Refused { message: String },
    /// Credentials could not produce a token. `expired`: the token cannot be renewed (a
    /// `LOCKDOWN_ACCESS_TOKEN`) and its lifetime has passed, so nothing more can be sent.
    Auth { message: String, expired: bool },
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default, rename = "innerError", alias = "innererror")]
    inner_error: Option<InnerError>,
}

#[derive(Deserialize)]
struct InnerError {
    #[serde(default, rename = "request-id")]
    request_id: Option<String>,
}

impl ApiError {
    /// Parse an error response: status, headers (`request-id`, `Retry-After`) and body.
    /// Works for top-level responses and for `$batch` items alike.
    pub fn from_parts<'a>(
        status: u16,
        header: impl Fn(&str) -> Option<&'a str>,
        body: &[u8],
    ) -> ApiError {
        let parsed = serde_json::from_slice::<ErrorEnvelope>(body).ok();
        let header_request_id = header("request-id").map(str::to_owned);
        let retry_after = header("retry-after").and_then(parse_retry_after);
        match parsed {
            Some(ErrorEnvelope { error }) => ApiError {
                status,
                code: error.code,
                message: error.message,
                request_id: error
                    .inner_error
                    .and_then(|i| i.request_id)
                    .or(header_request_id),
                retry_after,
            },
            None => ApiError {
                status,
                code: String::new(),
                message: body_excerpt(body),
                request_id: header_request_id,
                retry_after,
            },
        }
    }

    pub fn is(&self, code: &str) -> bool {
        self.code.eq_ignore_ascii_case(code)
    }
}

/// A short, printable excerpt of a non-JSON body (a proxy's HTML page, say).
fn body_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
    if text.trim().is_empty() {
        "(no error body)".to_owned()
    } else {
        text
    }
}

/// `Retry-After` is whole seconds per RFC 9110, but Graph's older docs show decimals (`2.128`),
/// and an HTTP date is also legal. Anything else is ignored.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs.min(24.0 * 3600.0)));
        }
        return None;
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

impl GraphError {
    /// The Graph API error, looking through a retry wrapper.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            GraphError::Api(e) => Some(e),
            GraphError::Exhausted { last, .. } => last.api(),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        self.api().map(|e| e.status)
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Graph rejected the token (401), or no token could be had (an expired one included):
    /// the run must stop starting new work.
    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(401) || matches!(self, GraphError::Auth { .. })
    }

    /// The token's lifetime passed and it cannot be renewed: the credential knew before
    /// sending (the request was not sent), or Graph said so (401 "Lifetime validation failed,
    /// the token is expired.", learn: graph/errors). Implies [`GraphError::is_unauthorized`];
    /// a run loop can tell the person to get a new token rather than report a rejection.
    pub fn is_token_expired(&self) -> bool {
        matches!(self, GraphError::Auth { expired: true, .. })
            || self.api().is_some_and(|e| {
                e.status == 401 && e.message.to_ascii_lowercase().contains("expired")
            })
    }

    /// Whether the retry policy may try again after this error.
    pub fn is_transient(&self) -> bool {
        match self {
            GraphError::Api(e) => matches!(e.status, 429 | 503 | 504),
            GraphError::Transport { .. } => true,
            // A 2xx with a torn body: the proxy or the connection cut it short.
            GraphError::Decode { .. } => true,
            _ => false,
        }
    }

    /// The `code` field for reports: Graph's code, or a name for our own failure classes.
    pub fn code(&self) -> String {
        match self {
            GraphError::Api(e) => e.code.clone(),
            GraphError::Transport {
                timed_out: true, ..
            } => "timeout".into(),
            GraphError::Transport { .. } => "connectionError".into(),
            GraphError::Decode { .. } => "invalidResponse".into(),
            GraphError::Exhausted { last, .. } => last.code(),
            GraphError::Refused { .. } => "refused".into(),
            GraphError::Auth { expired: true, .. } => "tokenExpired".into(),
            GraphError::Auth { .. } => "authenticationFailed".into(),
        }
    }

    pub fn message(&self) -> String {
        match self {
            GraphError::Api(e) => e.message.clone(),
            GraphError::Transport { message, .. }
            | GraphError::Decode { message }
            | GraphError::Refused { message }
            | GraphError::Auth { message, .. } => message.clone(),
            GraphError::Exhausted {
                last,
                tries,
                elapsed,
            } => format!(
                "{} (gave up after {tries} tries over {:.1}s)",
                last.message(),
                elapsed.as_secs_f64()
            ),
        }
    }

    pub fn request_id(&self) -> Option<String> {
        self.api().and_then(|e| e.request_id.clone())
    }
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::Api(e) => {
                write!(f, "Graph answered {}", e.status)?;
                if !e.code.is_empty() {
                    write!(f, " {}", e.code)?;
                }
                if !e.message.is_empty() {
                    write!(f, ": {}", e.message)?;
                }
                if let Some(id) = &e.request_id {
                    write!(f, " (request-id {id})")?;
                }
                Ok(())
            }
            GraphError::Transport { message, .. } => write!(f, "no answer from Graph: {message}"),
            GraphError::Decode { message } => {
                write!(f, "unexpected response from Graph: {message}")
            }
            GraphError::Exhausted {
                last,
                tries,
                elapsed,
            } => write!(
                f,
                "{last} (gave up after {tries} tries over {:.1}s)",
                elapsed.as_secs_f64()
            ),
            GraphError::Refused { message } => f.write_str(message),
            GraphError::Auth {
                message,
                expired: true,
            } => f.write_str(message),
            GraphError::Auth { message, .. } => write!(f, "authentication failed: {message}"),
        }
    }
}

impl std::error::Error for GraphError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        }
    }

    #[test]
    fn parses_graphs_documented_error_body() {
        // learn: graph/errors — the documented shape.
        let body = br#"{"error":{"code":"Request_ResourceNotFound","message":"Resource 'x' does not exist or one of its queried reference-property objects are not present.","innerError":{"date":"2026-11-29T10:00:00","request-id":"9f1c","client-request-id":"9f1c"}}}"#;
        let e = ApiError::from_parts(404, headers(&[]), body);
        assert_eq!(e.code, "Request_ResourceNotFound");
        assert_eq!(e.request_id.as_deref(), Some("9f1c"));
        assert!(e.message.starts_with("Resource 'x'"));
    }

    #[test]
    fn non_json_body_keeps_status_and_header_request_id() {
        let e = ApiError::from_parts(
            502,
            headers(&[("request-id", "abc")]),
            b"<html>Bad gateway</html>",
        );
        assert_eq!(e.code, "");
        assert_eq!(e.request_id.as_deref(), Some("abc"));
        assert!(e.message.contains("Bad gateway"));
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("2.128"),
            Some(Duration::from_secs_f64(2.128))
        );
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("soon"), None);
        let past = httpdate::fmt_http_date(std::time::SystemTime::UNIX_EPOCH);
        assert_eq!(parse_retry_after(&past), Some(Duration::ZERO));
        let future =
            httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(120));
        let d = parse_retry_after(&future).unwrap();
        assert!(d > Duration::from_secs(100) && d <= Duration::from_secs(120));
    }
}

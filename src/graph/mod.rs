//! A thin typed client for Microsoft Graph v1.0.
//!
//! Resource modules (`users`, `devices`, `roles`) build [`GraphRequest`]s and decode
//! [`GraphResponse`]s; [`GraphClient::send`] is the only code that talks HTTP. It adds the
//! token, applies the one retry policy, and turns every non-2xx answer into a typed
//! [`GraphError`] through [`ApiError::from_parts`]. Because requests are plain values, a
//! `$batch` transport can carry the very same requests.

pub mod address;
pub mod auth_methods;
pub mod batch;
pub mod conditional_access;
pub mod devices;
pub mod directory_audits;
pub mod error;
pub mod grants;
pub mod groups;
pub mod identity_accounts;
pub mod mail_rules;
pub mod managed_devices;
pub mod owned_objects;
pub mod pacer;
pub mod paging;
pub mod retry;
pub mod risky_users;
pub mod roles;
pub mod service_principals;
pub mod sign_ins;
pub mod subscribed_skus;
pub mod temporary_access_pass;
pub mod users;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use tracing::debug;
use url::Url;

use crate::auth::Credential;
pub use crate::endpoint::parse_root;
use crate::secret::Secret;
pub use error::{ApiError, GraphError};
pub use retry::RetryPolicy;

/// The Graph API version every path is under.
pub const VERSION: &str = "v1.0";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    pub fn is_write(self) -> bool {
        self != Method::Get
    }
}

/// Where a request goes: a path under `/v1.0`, or an absolute `@odata.nextLink`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Starts with `/`, already percent-encoded, may carry a query.
    Path(String),
    Absolute(String),
}

/// A request body. It may hold a password, so its `Debug` never shows the content.
#[derive(Clone)]
pub struct Body(pub serde_json::Value);

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Body(<not shown>)")
    }
}

/// `x-ms-throttle-priority`: when Graph must throttle, it throttles `low` requests first and
/// `high` ones last; the limits stay the same (learn: graph/throttling, "Throttling priority";
/// Microsoft recommends `high` only for user-initiated requests, which a lockdown's containment
/// is). lockdown's pacer holds `low` requests back for `high` ones too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    High,
    Normal,
    Low,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }
}

#[derive(Debug, Clone)]
pub struct GraphRequest {
    pub method: Method,
    pub target: Target,
    pub body: Option<Body>,
    /// Sent as `x-ms-throttle-priority` when set.
    pub priority: Option<Priority>,
}

impl GraphRequest {
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            method: Method::Get,
            target: Target::Path(path.into()),
            body: None,
            priority: None,
        }
    }

    pub fn post(path: impl Into<String>) -> Self {
        Self {
            method: Method::Post,
            target: Target::Path(path.into()),
            body: None,
            priority: None,
        }
    }

    pub fn post_json(path: impl Into<String>, body: serde_json::Value) -> Self {
        Self {
            method: Method::Post,
            target: Target::Path(path.into()),
            body: Some(Body(body)),
            priority: None,
        }
    }

    pub fn patch(path: impl Into<String>, body: serde_json::Value) -> Self {
        Self {
            method: Method::Patch,
            target: Target::Path(path.into()),
            body: Some(Body(body)),
            priority: None,
        }
    }

    pub fn delete(path: impl Into<String>) -> Self {
        Self {
            method: Method::Delete,
            target: Target::Path(path.into()),
            body: None,
            priority: None,
        }
    }

    /// A GET of an absolute `@odata.nextLink`.
    pub fn next_link(link: String) -> Self {
        Self {
            method: Method::Get,
            target: Target::Absolute(link),
            body: None,
            priority: None,
        }
    }

    /// The same request, sent at this priority.
    pub fn at(mut self, priority: Option<Priority>) -> Self {
        self.priority = priority;
        self
    }

    /// How the request reads in a plan or a log line: `PATCH /v1.0/users/{id}`.
    pub fn describe(&self) -> String {
        match &self.target {
            Target::Path(p) => format!("{} /{VERSION}{p}", self.method.as_str()),
            Target::Absolute(u) => format!("{} {u}", self.method.as_str()),
        }
    }
}

/// A 2xx answer.
#[derive(Debug, Clone)]
pub struct GraphResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl GraphResponse {
    /// Graph's clock at the time of the answer (the `Date` header), to the second.
    pub fn date(&self) -> Option<OffsetDateTime> {
        let value = self.headers.get("date")?.to_str().ok()?;
        let t = httpdate::parse_http_date(value).ok()?;
        Some(OffsetDateTime::from(t))
    }

    /// Decode the body; a mismatch names the JSON path that did not fit.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, GraphError> {
        let de = &mut serde_json::Deserializer::from_slice(&self.body);
        serde_path_to_error::deserialize(de).map_err(|e| GraphError::Decode {
            message: format!("at `{}`: {}", e.path(), e.inner()),
        })
    }
}

/// Counters for the summary and the benchmark.
#[derive(Debug, Default)]
pub struct Stats {
    /// HTTP calls, a `$batch` counting once.
    pub requests: AtomicU64,
    /// Graph operations, each request in a batch counting once.
    pub operations: AtomicU64,
    /// 429 answers, top-level or inside a batch.
    pub throttled: AtomicU64,
    pub retries: AtomicU64,
}

/// How a request is held to the pacer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// Wait for the pacer before every try.
    Acquire,
    /// The first try was paid for by the caller; retries wait for the pacer.
    Prepaid,
    /// Never (the `$batch` envelope: Graph counts the requests inside).
    Unpaced,
}

/// How the client sends requests.
#[derive(Debug, Clone, Copy)]
pub struct Transport {
    /// Pack concurrent requests into JSON batches.
    pub batch: bool,
    /// Hold requests to Graph's published throttling limits.
    pub pace: bool,
}

/// What every request of a run shares: the HTTP client, the token, the retry policy and the
/// pacer.
pub struct Inner {
    http: reqwest::Client,
    /// The Graph root, e.g. `https://graph.microsoft.com`, without a trailing slash.
    root: Url,
    credential: Arc<Credential>,
    retry: RetryPolicy,
    /// `--timeout`, for saying how long a request that timed out waited.
    timeout: Duration,
    pacer: pacer::Pacer,
    stats: Arc<Stats>,
}

pub struct GraphClient {
    inner: Arc<Inner>,
    batcher: Option<batch::Batcher>,
}

impl GraphClient {
    /// Must be called inside the runtime: batching runs as a task.
    pub fn new(
        root: Url,
        credential: Arc<Credential>,
        retry: RetryPolicy,
        timeout: Duration,
        transport: Transport,
    ) -> Result<Self, GraphError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("lockdown/", env!("CARGO_PKG_VERSION")))
            // The token must go to the configured host only: never follow a redirect.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(connect_timeout(timeout))
            .build()
            .map_err(|e| GraphError::Transport {
                message: format!("could not set up the HTTP client: {e}"),
                timed_out: false,
            })?;
        let pacer = if transport.pace {
            pacer::Pacer::new(retry.time_scale)
        } else {
            pacer::Pacer::disabled()
        };
        let inner = Arc::new(Inner {
            http,
            root,
            credential,
            retry,
            timeout,
            pacer,
            stats: Arc::default(),
        });
        let batcher = transport
            .batch
            .then(|| batch::Batcher::start(inner.clone()));
        Ok(Self { inner, batcher })
    }

    pub fn root(&self) -> &Url {
        &self.inner.root
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// The throttling limit holding back requests of this priority now, if one is (for the
    /// progress line).
    pub fn pacing(&self, priority: Priority) -> Option<pacer::Limit> {
        self.inner.pacer.pacing(priority)
    }

    /// Write capacity that `low` requests leave to `high` ones: what the containment of the
    /// users not yet contained is expected to need (see [`pacer::Pacer::reserve`]).
    pub fn reserve_for_high(&self, writes: f64) {
        self.inner.pacer.reserve(writes);
    }

    pub async fn token(&self) -> Result<Secret, GraphError> {
        self.inner.token().await
    }

    /// Send one request (in a batch with whatever else is ready, when batching).
    pub async fn send(&self, req: &GraphRequest, label: &str) -> Result<GraphResponse, GraphError> {
        match &self.batcher {
            Some(b) => {
                let step = batch::Step {
                    req: req.clone(),
                    label: label.to_owned(),
                    resend_unrun: true,
                };
                b.execute(vec![vec![step]])
                    .await
                    .pop()
                    .expect("one outcome per request")
            }
            None => {
                self.inner
                    .send_http(req, label, Pacing::Acquire, false)
                    .await
            }
        }
    }

    /// Run stages in order, the requests of a stage in any order; a failure never stops the
    /// rest. Outcomes come back in the order of the flattened stages.
    pub async fn execute(&self, stages: Vec<Vec<batch::Step>>) -> Vec<batch::Outcome> {
        let mut parts = self.submit(stages, &[]);
        parts.remove(0).outcomes().await
    }

    /// Hand stages over at once, to go out in order as the pacer allows whether or not the
    /// outcomes are awaited. They are answered in parts of `sizes` stages (the last part taking
    /// the rest), each part as soon as its requests are done, and each can be asked whether it is
    /// all on the wire (see [`batch::Tracked`]). Must be called inside the runtime.
    pub fn submit(&self, stages: Vec<Vec<batch::Step>>, sizes: &[usize]) -> Vec<batch::Tracked> {
        if let Some(b) = &self.batcher {
            return b.submit(stages, sizes);
        }
        let inner = self.inner.clone();
        batch::spawn_direct(stages, sizes, move |stage| {
            let inner = inner.clone();
            async move {
                let inner = &inner;
                futures::stream::iter(stage.into_iter().map(|s| async move {
                    inner
                        .send_http(&s.req, &s.label, Pacing::Acquire, false)
                        .await
                }))
                .buffered(4)
                .collect()
                .await
            }
        })
    }

    /// Send and decode a JSON body.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        req: &GraphRequest,
        label: &str,
    ) -> Result<T, GraphError> {
        let resp = self.send(req, label).await?;
        resp.json()
    }
}

impl Inner {
    pub async fn token(&self) -> Result<Secret, GraphError> {
        self.credential.token().await.map_err(|e| GraphError::Auth {
            expired: e.is_expired(),
            message: e.to_string(),
        })
    }

    /// The absolute URL for a target. A `nextLink` must stay on the configured root: the token
    /// is never sent anywhere else.
    pub fn url_for(&self, target: &Target) -> Result<Url, GraphError> {
        match target {
            Target::Path(path) => {
                let s = format!(
                    "{}/{VERSION}{path}",
                    self.root.as_str().trim_end_matches('/')
                );
                Url::parse(&s).map_err(|e| GraphError::Refused {
                    message: format!("could not build a request URL: {e}"),
                })
            }
            Target::Absolute(link) => {
                let url = Url::parse(link).map_err(|e| GraphError::Decode {
                    message: format!("@odata.nextLink is not a URL: {e}"),
                })?;
                let prefix = format!("{}/{VERSION}/", self.root.path().trim_end_matches('/'));
                if url.origin() != self.root.origin() || !url.path().starts_with(&prefix) {
                    return Err(GraphError::Refused {
                        message: format!(
                            "refusing to follow @odata.nextLink to `{}`: the token is only sent to {}",
                            url.origin().ascii_serialization(),
                            self.root.origin().ascii_serialization()
                        ),
                    });
                }
                Ok(url)
            }
        }
    }

    /// Send one request under the retry policy. `label` names the user and step in retry
    /// warnings. A 401 gets one fresh token where the credential can mint one.
    pub async fn send_http(
        &self,
        req: &GraphRequest,
        label: &str,
        pacing: Pacing,
        envelope: bool,
    ) -> Result<GraphResponse, GraphError> {
        let url = self.url_for(&req.target)?;
        // One client-request-id for all tries, so Microsoft support can follow the story.
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let mut attempts = retry::Attempts::default();
        let mut refreshed = false;
        loop {
            attempts.begin();
            if pacing == Pacing::Acquire || (pacing == Pacing::Prepaid && attempts.tries() > 1) {
                self.pacer
                    .acquire(
                        pacer::cost_of(req),
                        req.priority.unwrap_or(Priority::Normal),
                    )
                    .await;
            }
            let token = self.token().await?;
            let result = self
                .send_once(req, &url, &token, &client_request_id, envelope)
                .await;
            let err = match result {
                Ok(resp) => return Ok(resp),
                Err(e) => e,
            };
            if err.status() == Some(401) && !refreshed && self.credential.invalidate().await {
                refreshed = true;
                attempts.not_run();
                debug!("{label}: Graph answered 401; trying once more with a fresh token");
                continue;
            }
            match attempts.failed(&self.retry, err, label, &self.stats) {
                retry::Next::Fail(err) => return Err(err),
                retry::Next::Retry(delay) => self.retry.sleep(delay).await,
            }
        }
    }

    async fn send_once(
        &self,
        req: &GraphRequest,
        url: &Url,
        token: &Secret,
        client_request_id: &str,
        envelope: bool,
    ) -> Result<GraphResponse, GraphError> {
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                GraphError::Auth {
                    message: "the token contains characters that cannot go in an HTTP header"
                        .into(),
                    expired: false,
                }
            })?;
        auth.set_sensitive(true);
        let mut builder = self
            .http
            .request(method, url.clone())
            .header(AUTHORIZATION, auth)
            .header("accept", "application/json")
            .header("client-request-id", client_request_id);
        if let Some(p) = req.priority {
            builder = builder.header("x-ms-throttle-priority", p.as_str());
        }
        builder = match &req.body {
            Some(Body(json)) => builder
                .header("content-type", "application/json")
                .body(serde_json::to_vec(json).expect("a JSON value always serializes")),
            // Graph wants a length on a bodiless POST (revokeSignInSessions).
            None if req.method == Method::Post => builder.header("content-length", "0"),
            None => builder,
        };
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        if !envelope {
            self.stats.operations.fetch_add(1, Ordering::Relaxed);
        }
        let started = Instant::now();
        let resp = builder
            .send()
            .await
            .map_err(|e| transport_error(e, self.timeout))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .bytes()
            .await
            .map_err(|e| transport_error(e, self.timeout))?;
        debug!(
            "{} {} -> {status} in {} ms (request-id {})",
            req.method.as_str(),
            url.path(),
            started.elapsed().as_millis(),
            headers
                .get("request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
        );
        if status == 429 {
            self.stats.throttled.fetch_add(1, Ordering::Relaxed);
            let after = headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(error::parse_retry_after)
                .unwrap_or(Duration::from_secs(1));
            self.pacer.throttled(after, Some(&headers));
        } else if (200..300).contains(&status) && !envelope {
            self.pacer
                .observe(pacer::cost_of(req), req.method, &headers);
        }
        if (200..300).contains(&status) {
            // A body cut short by a proxy or a dropped connection is a transient failure, so
            // it is caught here, inside the retry loop, rather than when it is decoded.
            let is_json = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("json"));
            if is_json && !body.is_empty() {
                if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
                    return Err(GraphError::Decode {
                        message: format!("the response body is not valid JSON ({e})"),
                    });
                }
            }
            return Ok(GraphResponse {
                status,
                headers,
                body,
            });
        }
        if (300..400).contains(&status) {
            let location = headers
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("(none)");
            return Err(GraphError::Refused {
                message: format!(
                    "Graph answered {status} with a redirect to `{location}`; redirects are not followed, so the token stays with the configured host"
                ),
            });
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        Err(GraphError::Api(ApiError::from_parts(status, header, &body)))
    }
}

/// Connecting gets at most ten seconds, less when `--timeout` is shorter.
fn connect_timeout(timeout: Duration) -> Duration {
    timeout.min(Duration::from_secs(10))
}

fn transport_error(e: reqwest::Error, timeout: Duration) -> GraphError {
    // reqwest's messages name the URL, never headers; the URL holds no secret.
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_timeout() {
        // Say what ran out, in the terms of the flag that sets it; the details are for -v.
        debug!("{message}");
        let message = if e.is_connect() {
            format!(
                "the connection timed out after {}s",
                connect_timeout(timeout).as_secs()
            )
        } else {
            format!("the request timed out after {}s", timeout.as_secs())
        };
        return GraphError::Transport {
            message,
            timed_out: true,
        };
    }
    GraphError::Transport {
        message,
        timed_out: false,
    }
}

pub(crate) fn short_reason(err: &GraphError) -> String {
    match err {
        GraphError::Api(e) if e.status == 429 => "Graph is throttling (429)".into(),
        GraphError::Api(e) => format!("Graph answered {}", e.status),
        GraphError::Transport {
            timed_out: true, ..
        } => "the request timed out".into(),
        GraphError::Transport { .. } => "the connection failed".into(),
        GraphError::Decode { .. } => "the response body was cut short or malformed".into(),
        other => other.to_string(),
    }
}

/// `2026-11-29T13:45:12Z`, to the second, as Graph writes times.
pub fn timestamp(t: Option<time::OffsetDateTime>) -> Option<String> {
    t.and_then(|t| {
        t.replace_nanosecond(0)
            .ok()?
            .format(&time::format_description::well_known::Rfc3339)
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(root: &str) -> GraphClient {
        let cred = Arc::new(Credential::fixed(Secret::new("t"), "test"));
        GraphClient::new(
            parse_root(root).unwrap(),
            cred,
            RetryPolicy::default(),
            Duration::from_secs(5),
            Transport {
                batch: false,
                pace: false,
            },
        )
        .unwrap()
    }

    #[test]
    fn next_link_must_stay_on_the_root() {
        let c = client("https://graph.microsoft.com");
        assert!(c
            .inner
            .url_for(&Target::Absolute(
                "https://graph.microsoft.com/v1.0/users/x/registeredDevices?$skiptoken=abc".into()
            ))
            .is_ok());
        for bad in [
            "https://evil.example.com/v1.0/users",
            "http://graph.microsoft.com/v1.0/users",
            "https://graph.microsoft.com:8443/v1.0/users",
            "https://graph.microsoft.com/beta/users",
        ] {
            assert!(
                matches!(
                    c.inner.url_for(&Target::Absolute(bad.into())),
                    Err(GraphError::Refused { .. })
                ),
                "{bad} must be refused"
            );
        }
    }

    #[test]
    fn body_debug_hides_content() {
        let req = GraphRequest::patch(
            "/users/x",
            serde_json::json!({"passwordProfile": {"password": "Zz9!secret"}}),
        );
        assert!(!format!("{req:?}").contains("Zz9!secret"));
    }
}

//! Where the bearer token comes from.
//!
//! `auto` picks a source from the environment the way Azure tools do (a ready-made token,
//! then a client secret, a certificate, a federated token file, then the Azure CLI's signed-in
//! account); the other modes name one source. Sources that `azure_identity` implements use it;
//! `LOCKDOWN_ACCESS_TOKEN` carries a token obtained elsewhere (like `Connect-MgGraph
//! -AccessToken`) and is read from the environment only, never from a flag.

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::http::ClientOptions;
use time::OffsetDateTime;
use tokio::sync::Mutex;

use crate::cloud::Cloud;
use crate::secret::Secret;

pub const ACCESS_TOKEN_VAR: &str = "LOCKDOWN_ACCESS_TOKEN";

/// How to obtain a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Pick from the environment: LOCKDOWN_ACCESS_TOKEN, then a client secret, a certificate,
    /// a federated token file, then the Azure CLI.
    Auto,
    /// AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET.
    Secret,
    /// AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_CERTIFICATE_PATH (PKCS#12), optional
    /// AZURE_CLIENT_CERTIFICATE_PASSWORD.
    Certificate,
    /// AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_FEDERATED_TOKEN_FILE (Kubernetes, federated CI).
    WorkloadIdentity,
    /// The Azure resource's managed identity; AZURE_CLIENT_ID picks a user-assigned one.
    ManagedIdentity,
    /// The account signed in with `az login`.
    AzureCli,
    /// A token obtained elsewhere, in LOCKDOWN_ACCESS_TOKEN.
    AccessToken,
}

/// Why no token could be had. Every message says what to set or do.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    #[error("no usable credentials found; set {ACCESS_TOKEN_VAR}, or AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH, or AZURE_FEDERATED_TOKEN_FILE), or sign in with `az login`")]
    NothingFound,
    #[error("{0} is set but empty")]
    Empty(&'static str),
    #[error("--auth {mode} needs {missing} to be set")]
    Missing { mode: &'static str, missing: String },
    #[error("could not read the certificate at AZURE_CLIENT_CERTIFICATE_PATH ({path}): {reason}")]
    Certificate { path: String, reason: String },
    #[error("{source_name} could not get a token: {reason}")]
    Token { source_name: String, reason: String },
    #[error("invalid AZURE_AUTHORITY_HOST: {0}")]
    Authority(String),
    /// A token that cannot be renewed (`LOCKDOWN_ACCESS_TOKEN`) is past its `exp`.
    #[error("{what} expired at {at}; get a new one")]
    Expired { what: String, at: String },
}

impl AuthError {
    /// An insecure or malformed authority is a usage error: nothing was sent.
    pub fn is_usage(&self) -> bool {
        matches!(self, AuthError::Authority(_))
    }

    /// The token's lifetime has passed and this source cannot get another: the run must stop.
    pub fn is_expired(&self) -> bool {
        matches!(self, AuthError::Expired { .. })
    }
}

enum Source {
    /// A token obtained elsewhere; `expires` is its `exp` claim, when it has one.
    Static {
        token: Secret,
        expires: Option<OffsetDateTime>,
        /// Stop sending it this long before `exp`, so that no request is still on its way
        /// when it lapses: a few seconds, a quarter of its remaining life for a short one.
        margin: time::Duration,
    },
    Azure(Arc<dyn TokenCredential>),
}

/// A token from the cache, and when to get a new one.
struct Cached {
    token: Secret,
    refresh_at: OffsetDateTime,
}

/// A fixed token is not sent in its last few seconds: a request could still be on its way to
/// Graph when it lapses, and be refused there.
const SEND_MARGIN: time::Duration = time::Duration::seconds(5);

/// Refresh a cached token this long before it expires, so that no request goes out with a
/// token about to lapse (azure_identity's own cache uses the same margin).
const REFRESH_MARGIN: time::Duration = time::Duration::minutes(5);

/// When to replace a token that expires at `expires` and was fetched at `now`: five minutes
/// before it expires, or halfway through its life when it lives less than ten minutes.
fn refresh_at(now: OffsetDateTime, expires: OffsetDateTime) -> OffsetDateTime {
    let lifetime = expires - now;
    if lifetime <= time::Duration::ZERO {
        return now;
    }
    expires - REFRESH_MARGIN.min(lifetime / 2)
}

/// A token source with a small cache (the Azure CLI credential runs `az` on every call).
pub struct Credential {
    source: Source,
    scope: String,
    description: String,
    cache: Mutex<Option<Cached>>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("source", &self.description)
            .finish_non_exhaustive()
    }
}

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

fn var(env: Env, name: &str) -> Option<String> {
    env(name).filter(|v| !v.trim().is_empty())
}

fn need(env: Env, mode: &'static str, names: &[&str]) -> Result<Vec<String>, AuthError> {
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| var(env, n).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(AuthError::Missing {
            mode,
            missing: missing.join(" and "),
        });
    }
    Ok(names.iter().map(|n| var(env, n).unwrap()).collect())
}

/// The sign-in authority: the cloud's, or `AZURE_AUTHORITY_HOST` as Azure tools honour it (a
/// sovereign or private cloud, the emulator). It receives client secrets and assertions, so it
/// gets the same rule as the Graph URL: HTTPS, plain HTTP only to a loopback address.
fn client_options(cloud: Cloud, env: Env) -> Result<ClientOptions, AuthError> {
    let config = match var(env, "AZURE_AUTHORITY_HOST") {
        Some(host) => {
            let url = crate::endpoint::parse_root(&host).map_err(AuthError::Authority)?;
            let mut custom = azure_core::cloud::CustomConfiguration::default();
            custom.authority_host = url.as_str().trim_end_matches('/').to_owned();
            azure_core::cloud::CloudConfiguration::Custom(custom)
        }
        None => cloud.azure_cloud(),
    };
    Ok(ClientOptions {
        cloud: Some(Arc::new(config)),
        ..ClientOptions::default()
    })
}

fn azure_err(source_name: &str) -> impl Fn(azure_core::Error) -> AuthError + '_ {
    move |e| AuthError::Token {
        source_name: source_name.to_owned(),
        reason: e.to_string(),
    }
}

impl Credential {
    /// A fixed token (the emulator, `LOCKDOWN_ACCESS_TOKEN`). It cannot be renewed: once its
    /// `exp` claim has passed, [`Credential::token`] answers [`AuthError::Expired`].
    pub fn fixed(token: Secret, description: &str) -> Credential {
        let expires = token_expiry(&token);
        let margin = expires.map_or(time::Duration::ZERO, |at| {
            let left = (at - OffsetDateTime::now_utc()).max(time::Duration::ZERO);
            SEND_MARGIN.min(left / 4)
        });
        Credential {
            source: Source::Static {
                token,
                expires,
                margin,
            },
            scope: String::new(),
            description: description.to_owned(),
            cache: Mutex::new(None),
        }
    }

    /// Pick the source for `mode` from the environment (`env` reads a variable).
    // azure_identity's option structs gain private fields under its own cfg(test).
    #[allow(clippy::needless_update)]
    pub fn from_env(mode: AuthMode, cloud: Cloud, env: Env) -> Result<Credential, AuthError> {
        let scope = format!("{}/.default", cloud.graph_root());
        let azure = |cred: Arc<dyn TokenCredential>, description: String| Credential {
            source: Source::Azure(cred),
            scope: scope.clone(),
            description,
            cache: Mutex::new(None),
        };
        match mode {
            // What the environment offers, picked once (`pick` never answers `auto`).
            AuthMode::Auto => Self::from_env(Self::pick(env)?, cloud, env),
            AuthMode::AccessToken => match env(ACCESS_TOKEN_VAR) {
                None => Err(AuthError::Missing {
                    mode: "access-token",
                    missing: ACCESS_TOKEN_VAR.into(),
                }),
                Some(t) if t.trim().is_empty() => Err(AuthError::Empty(ACCESS_TOKEN_VAR)),
                Some(t) => {
                    let cred = Credential::fixed(
                        Secret::new(t.trim().to_owned()),
                        "the token in LOCKDOWN_ACCESS_TOKEN",
                    );
                    // Checked before anything is sent: a stale token from an earlier session is
                    // a common slip, and Graph would only answer 401.
                    let now = OffsetDateTime::now_utc();
                    cred.check_expiry(now)?;
                    if let Some(at) = cred.expires_at() {
                        if at - now < time::Duration::minutes(10) {
                            let left = at - now;
                            let left = if left < time::Duration::minutes(1) {
                                format!("{} s", left.whole_seconds())
                            } else {
                                format!("{} min", left.whole_minutes())
                            };
                            tracing::warn!(
                                "the token in {ACCESS_TOKEN_VAR} expires at {} (in {left}) and cannot be renewed: a run that lasts longer stops there",
                                rfc3339(at)
                            );
                        }
                    }
                    Ok(cred)
                }
            },
            AuthMode::Secret => {
                let v = need(
                    env,
                    "secret",
                    &["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"],
                )?;
                let options = azure_identity::ClientSecretCredentialOptions {
                    client_options: client_options(cloud, env)?,
                };
                let cred = azure_identity::ClientSecretCredential::new(
                    &v[0],
                    v[1].clone(),
                    azure_core::credentials::Secret::new(v[2].clone()),
                    Some(options),
                )
                .map_err(azure_err("client secret credential"))?;
                Ok(azure(cred, format!("client secret of app {}", v[1])))
            }
            AuthMode::Certificate => {
                let v = need(
                    env,
                    "certificate",
                    &[
                        "AZURE_TENANT_ID",
                        "AZURE_CLIENT_ID",
                        "AZURE_CLIENT_CERTIFICATE_PATH",
                    ],
                )?;
                let bytes = std::fs::read(&v[2]).map_err(|e| AuthError::Certificate {
                    path: v[2].clone(),
                    reason: e.to_string(),
                })?;
                let options = azure_identity::ClientCertificateCredentialOptions {
                    client_options: client_options(cloud, env)?,
                    password: var(env, "AZURE_CLIENT_CERTIFICATE_PASSWORD")
                        .map(azure_core::credentials::Secret::new),
                    ..Default::default()
                };
                let cred = azure_identity::ClientCertificateCredential::new(
                    v[0].clone(),
                    v[1].clone(),
                    azure_core::credentials::SecretBytes::new(bytes),
                    Some(options),
                )
                .map_err(|e| AuthError::Certificate {
                    path: v[2].clone(),
                    reason: e.to_string(),
                })?;
                Ok(azure(cred, format!("certificate of app {}", v[1])))
            }
            AuthMode::WorkloadIdentity => {
                let v = need(
                    env,
                    "workload-identity",
                    &[
                        "AZURE_TENANT_ID",
                        "AZURE_CLIENT_ID",
                        "AZURE_FEDERATED_TOKEN_FILE",
                    ],
                )?;
                let mut options = azure_identity::WorkloadIdentityCredentialOptions {
                    tenant_id: Some(v[0].clone()),
                    client_id: Some(v[1].clone()),
                    token_file_path: Some(v[2].clone().into()),
                    ..Default::default()
                };
                options.credential_options.client_options = client_options(cloud, env)?;
                let cred = azure_identity::WorkloadIdentityCredential::new(Some(options))
                    .map_err(azure_err("workload identity credential"))?;
                Ok(azure(cred, format!("federated token of app {}", v[1])))
            }
            AuthMode::ManagedIdentity => {
                let options = azure_identity::ManagedIdentityCredentialOptions {
                    user_assigned_id: var(env, "AZURE_CLIENT_ID")
                        .map(azure_identity::UserAssignedId::ClientId),
                    client_options: client_options(cloud, env)?,
                    ..Default::default()
                };
                let cred = azure_identity::ManagedIdentityCredential::new(Some(options))
                    .map_err(azure_err("managed identity credential"))?;
                Ok(azure(cred, "managed identity".into()))
            }
            AuthMode::AzureCli => {
                let options = azure_identity::AzureCliCredentialOptions {
                    tenant_id: var(env, "AZURE_TENANT_ID"),
                    ..Default::default()
                };
                let cred = azure_identity::AzureCliCredential::new(Some(options))
                    .map_err(azure_err("Azure CLI credential"))?;
                Ok(azure(cred, "Azure CLI sign-in".into()))
            }
        }
    }

    /// `auto`: the first source whose variables are present.
    fn pick(env: Env) -> Result<AuthMode, AuthError> {
        if let Some(t) = env(ACCESS_TOKEN_VAR) {
            // Set but empty is almost always a failed `$(...)`: stop rather than silently act
            // as whoever else the environment can sign in as.
            if t.trim().is_empty() {
                return Err(AuthError::Empty(ACCESS_TOKEN_VAR));
            }
            return Ok(AuthMode::AccessToken);
        }
        if var(env, "AZURE_CLIENT_SECRET").is_some() {
            return Ok(AuthMode::Secret);
        }
        if var(env, "AZURE_CLIENT_CERTIFICATE_PATH").is_some() {
            return Ok(AuthMode::Certificate);
        }
        if var(env, "AZURE_FEDERATED_TOKEN_FILE").is_some() {
            return Ok(AuthMode::WorkloadIdentity);
        }
        if az_on_path(env) {
            return Ok(AuthMode::AzureCli);
        }
        Err(AuthError::NothingFound)
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// When a fixed token expires (its `exp` claim); `None` for renewable sources and for
    /// tokens without the claim.
    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        match &self.source {
            Source::Static { expires, .. } => *expires,
            Source::Azure(_) => None,
        }
    }

    /// [`AuthError::Expired`] when a token that cannot be renewed has expired by `now`, or is
    /// within its last seconds (see [`SEND_MARGIN`]).
    fn check_expiry(&self, now: OffsetDateTime) -> Result<(), AuthError> {
        let margin = match &self.source {
            Source::Static { margin, .. } => *margin,
            Source::Azure(_) => time::Duration::ZERO,
        };
        match self.expires_at() {
            Some(at) if at - margin <= now => Err(AuthError::Expired {
                what: self.description.clone(),
                at: rfc3339(at),
            }),
            _ => Ok(()),
        }
    }

    /// A token. A fixed one is returned until its `exp` passes, then [`AuthError::Expired`]
    /// (rather than sending requests Graph will answer with 401). A renewable one comes from
    /// the cache until five minutes before it expires (halfway, for a short-lived token), then
    /// a new one is fetched.
    pub async fn token(&self) -> Result<Secret, AuthError> {
        let cred = match &self.source {
            Source::Static { token, .. } => {
                self.check_expiry(OffsetDateTime::now_utc())?;
                return Ok(token.clone());
            }
            Source::Azure(cred) => cred,
        };
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.as_ref() {
            if OffsetDateTime::now_utc() < cached.refresh_at {
                return Ok(cached.token.clone());
            }
        }
        let (token, expires) = self.fetch(cred.as_ref()).await?;
        *cache = Some(Cached {
            token: token.clone(),
            refresh_at: refresh_at(OffsetDateTime::now_utc(), expires),
        });
        Ok(token)
    }

    /// Drop the cached token after Graph rejected it; `false` when the source cannot do better.
    pub async fn invalidate(&self) -> bool {
        match self.source {
            Source::Static { .. } => false,
            Source::Azure(_) => {
                *self.cache.lock().await = None;
                true
            }
        }
    }

    /// A new token from azure_identity, and when it expires.
    async fn fetch(
        &self,
        cred: &dyn TokenCredential,
    ) -> Result<(Secret, OffsetDateTime), AuthError> {
        let token = cred
            .get_token(&[self.scope.as_str()], None)
            .await
            .map_err(|e| AuthError::Token {
                source_name: self.description.clone(),
                reason: e.to_string(),
            })?;
        let value = token.token.secret().trim().to_owned();
        if value.is_empty() {
            return Err(AuthError::Empty("the token from the credential"));
        }
        Ok((Secret::new(value), token.expires_on))
    }
}

fn az_on_path(env: Env) -> bool {
    let Some(path) = env("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        ["az", "az.cmd", "az.exe"]
            .iter()
            .any(|name| dir.join(name).is_file())
    })
}

/// What the token says about itself, read (not verified) from its JWT payload. Used only to
/// choose behaviour (an app-only token has no `/me`), never to authorize anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Delegated,
    AppOnly,
    Unknown,
}

/// The JWT payload's claims, decoded (base64url) but not verified: lockdown holds no keys,
/// and Graph is the one that checks the signature.
fn claims(token: &Secret) -> Option<serde_json::Value> {
    use base64::Engine;
    let payload = token.expose().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The token's `exp` claim (seconds since the epoch, RFC 7519 NumericDate), if it has one.
pub fn token_expiry(token: &Secret) -> Option<OffsetDateTime> {
    let exp = claims(token)?.get("exp")?.as_f64()?;
    if !exp.is_finite() {
        return None;
    }
    OffsetDateTime::from_unix_timestamp(exp.floor() as i64).ok()
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// What the token says about its caller, read (not verified) from its JWT payload
/// (learn: entra/identity-platform/access-token-claims-reference). Microsoft says not to treat
/// tokens for another API as a contract: these are hints for `lockdown check`, which says "the
/// token says" and prefers what Graph itself answers. Holds no part of the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub kind: TokenKind,
    /// `tid`: the tenant.
    pub tenant_id: Option<String>,
    /// `appid` (v1.0 tokens) or `azp` (v2.0): the client application.
    pub app_id: Option<String>,
    /// `app_displayname`.
    pub app_display_name: Option<String>,
    /// `oid`: the signed-in user, or the app's service principal.
    pub object_id: Option<String>,
    /// `upn` (or `unique_name`, `preferred_username`) of a signed-in user.
    pub user_principal_name: Option<String>,
    /// `name` of a signed-in user.
    pub name: Option<String>,
    /// `scp` (delegated, space-separated) or `roles` (application): the permissions.
    pub permissions: Vec<String>,
    /// `wids`: directory role template ids, when the token carries the claim.
    pub wids: Option<Vec<String>>,
}

/// The token's claims; every field empty for a token that is not a readable JWT.
pub fn token_claims(token: &Secret) -> TokenClaims {
    let kind = token_kind(token);
    let claims = claims(token).unwrap_or(serde_json::Value::Null);
    let text = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| claims.get(*n).and_then(|v| v.as_str()))
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let list = |name: &str| -> Option<Vec<String>> {
        claims.get(name).and_then(|v| v.as_array()).map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
    };
    let permissions = match claims.get("scp").and_then(|v| v.as_str()) {
        Some(scp) => scp.split_whitespace().map(str::to_owned).collect(),
        None => list("roles").unwrap_or_default(),
    };
    TokenClaims {
        kind,
        tenant_id: text(&["tid"]),
        app_id: text(&["appid", "azp"]),
        app_display_name: text(&["app_displayname"]),
        object_id: text(&["oid"]),
        user_principal_name: text(&["upn", "unique_name", "preferred_username"]),
        name: text(&["name"]),
        permissions,
        wids: list("wids"),
    }
}

pub fn token_kind(token: &Secret) -> TokenKind {
    let Some(claims) = claims(token) else {
        return TokenKind::Unknown;
    };
    match claims.get("idtyp").and_then(|v| v.as_str()) {
        Some("app") => return TokenKind::AppOnly,
        Some("user") => return TokenKind::Delegated,
        _ => {}
    }
    if claims.get("scp").is_some() {
        TokenKind::Delegated
    } else if claims.get("roles").is_some() {
        TokenKind::AppOnly
    } else {
        TokenKind::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn auto_prefers_a_ready_token() {
        let env = env_of(&[
            (ACCESS_TOKEN_VAR, "abc"),
            ("AZURE_CLIENT_SECRET", "s"),
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
        ]);
        assert_eq!(Credential::pick(&env).unwrap(), AuthMode::AccessToken);
    }

    #[test]
    fn auto_with_an_empty_token_stops() {
        let env = env_of(&[(ACCESS_TOKEN_VAR, "  "), ("AZURE_CLIENT_SECRET", "s")]);
        assert!(matches!(Credential::pick(&env), Err(AuthError::Empty(_))));
    }

    #[test]
    fn auto_order_after_the_token() {
        assert_eq!(
            Credential::pick(&env_of(&[("AZURE_CLIENT_CERTIFICATE_PATH", "/x.pfx")])).unwrap(),
            AuthMode::Certificate
        );
        assert_eq!(
            Credential::pick(&env_of(&[("AZURE_FEDERATED_TOKEN_FILE", "/t")])).unwrap(),
            AuthMode::WorkloadIdentity
        );
        let err = Credential::pick(&env_of(&[("PATH", "/nonexistent")])).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("AZURE_CLIENT_SECRET") && msg.contains("LOCKDOWN_ACCESS_TOKEN"));
    }

    #[test]
    fn secret_mode_names_what_is_missing() {
        let env = env_of(&[("AZURE_CLIENT_SECRET", "s")]);
        let err = Credential::from_env(AuthMode::Secret, Cloud::Global, &env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--auth secret needs AZURE_TENANT_ID and AZURE_CLIENT_ID to be set"
        );
        assert!(!format!("{err:?}").contains("\"s\""));
    }

    fn jwt(payload: &str) -> Secret {
        use base64::Engine;
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        Secret::new(format!(
            "{}.{}.sig",
            enc(r#"{"alg":"RS256"}"#),
            enc(payload)
        ))
    }

    #[test]
    fn reads_the_expiry_claim() {
        assert_eq!(
            token_expiry(&jwt(r#"{"exp":1700000000}"#)),
            Some(OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap())
        );
        assert_eq!(
            token_expiry(&jwt(r#"{"exp":1700000000.75}"#)),
            Some(OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap())
        );
        assert_eq!(token_expiry(&jwt(r#"{"scp":"User.Read"}"#)), None);
        assert_eq!(token_expiry(&jwt(r#"{"exp":"soon"}"#)), None);
        assert_eq!(token_expiry(&Secret::new("opaque")), None);
    }

    #[test]
    fn an_expired_access_token_stops_before_anything_is_sent() {
        let token = jwt(r#"{"idtyp":"user","scp":"User.Read","exp":1700000000}"#);
        let env = env_of(&[(ACCESS_TOKEN_VAR, token.expose())]);
        let err = Credential::from_env(AuthMode::Auto, Cloud::Global, &env).unwrap_err();
        assert!(err.is_expired());
        assert_eq!(
            err.to_string(),
            "the token in LOCKDOWN_ACCESS_TOKEN expired at 2023-11-14T22:13:20Z; get a new one"
        );
        assert!(!format!("{err:?}").contains(token.expose()));
    }

    #[tokio::test]
    async fn a_fixed_token_that_expires_during_the_run_is_not_sent() {
        let exp = OffsetDateTime::now_utc().unix_timestamp() + 2;
        let cred = Credential::fixed(
            jwt(&format!(r#"{{"exp":{exp}}}"#)),
            "the token in LOCKDOWN_ACCESS_TOKEN",
        );
        assert!(cred.token().await.is_ok());
        assert!(!cred.invalidate().await, "a fixed token cannot be renewed");
        let later = OffsetDateTime::from_unix_timestamp(exp).unwrap();
        assert!(cred.check_expiry(later).unwrap_err().is_expired());
        // Without an `exp` claim there is nothing to check: Graph decides.
        let opaque = Credential::fixed(Secret::new("opaque"), "test");
        assert!(opaque.token().await.is_ok());
        assert_eq!(opaque.expires_at(), None);
    }

    #[test]
    fn renewable_tokens_are_refreshed_before_they_expire() {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let min = time::Duration::minutes;
        // An hour-long token: five minutes before it expires.
        assert_eq!(refresh_at(now, now + min(60)), now + min(55));
        // A short-lived one: halfway through its life.
        assert_eq!(
            refresh_at(now, now + time::Duration::seconds(4)),
            now + time::Duration::seconds(2)
        );
        // Already expired: at once.
        assert_eq!(refresh_at(now, now - min(1)), now);
    }

    #[test]
    fn reads_the_callers_claims() {
        let app = token_claims(&jwt(
            r#"{"idtyp":"app","roles":["User.Read.All","AuditLog.Read.All"],"tid":"t","appid":"a","app_displayname":"lockdown","oid":"sp","wids":["fe930be7-5e62-47db-91af-98c3a49a38b1"]}"#,
        ));
        assert_eq!(app.kind, TokenKind::AppOnly);
        assert_eq!(app.permissions, vec!["User.Read.All", "AuditLog.Read.All"]);
        assert_eq!(
            (app.tenant_id.as_deref(), app.app_id.as_deref()),
            (Some("t"), Some("a"))
        );
        assert_eq!(app.user_principal_name, None);
        assert_eq!(app.wids.as_ref().map(Vec::len), Some(1));
        let user = token_claims(&jwt(
            r#"{"scp":"User.Read  AuditLog.Read.All","azp":"client","upn":"megan@contoso.com","name":"Megan"}"#,
        ));
        assert_eq!(user.kind, TokenKind::Delegated);
        assert_eq!(user.permissions, vec!["User.Read", "AuditLog.Read.All"]);
        assert_eq!(user.app_id.as_deref(), Some("client"));
        assert_eq!(user.wids, None, "no claim is not an empty claim");
        let opaque = token_claims(&Secret::new("opaque"));
        assert_eq!(opaque.kind, TokenKind::Unknown);
        assert!(opaque.permissions.is_empty());
        // Nothing of the token itself is kept.
        let token = jwt(r#"{"scp":"User.Read"}"#);
        assert!(!format!("{:?}", token_claims(&token)).contains(token.expose()));
    }

    #[test]
    fn reads_the_token_kind_from_claims() {
        use base64::Engine;
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let app = Secret::new(format!(
            "{}.{}.sig",
            enc("{}"),
            enc(r#"{"idtyp":"app","roles":["x"]}"#)
        ));
        let user = Secret::new(format!(
            "{}.{}.sig",
            enc("{}"),
            enc(r#"{"scp":"User.Read"}"#)
        ));
        assert_eq!(token_kind(&app), TokenKind::AppOnly);
        assert_eq!(token_kind(&user), TokenKind::Delegated);
        assert_eq!(token_kind(&Secret::new("opaque")), TokenKind::Unknown);
    }
}

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
}

impl AuthError {
    /// An insecure or malformed authority is a usage error: nothing was sent.
    pub fn is_usage(&self) -> bool {
        matches!(self, AuthError::Authority(_))
    }
}

enum Source {
    Static(Secret),
    Azure(Arc<dyn TokenCredential>),
}

/// A token source with a small cache (the Azure CLI credential runs `az` on every call).
pub struct Credential {
    source: Source,
    scope: String,
    description: String,
    cache: Mutex<Option<(Secret, OffsetDateTime)>>,
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
            let url = crate::graph::parse_root(&host).map_err(AuthError::Authority)?;
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
    /// A fixed token (the emulator, `LOCKDOWN_ACCESS_TOKEN`).
    pub fn fixed(token: Secret, description: &str) -> Credential {
        Credential {
            source: Source::Static(token),
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
        let mode = match mode {
            AuthMode::Auto => Self::pick(env)?,
            other => other,
        };
        match mode {
            AuthMode::Auto => unreachable!("pick never answers auto"),
            AuthMode::AccessToken => match env(ACCESS_TOKEN_VAR) {
                None => Err(AuthError::Missing {
                    mode: "access-token",
                    missing: ACCESS_TOKEN_VAR.into(),
                }),
                Some(t) if t.trim().is_empty() => Err(AuthError::Empty(ACCESS_TOKEN_VAR)),
                Some(t) => Ok(Credential::fixed(
                    Secret::new(t.trim().to_owned()),
                    "the token in LOCKDOWN_ACCESS_TOKEN",
                )),
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

    /// A token, from the cache while it has more than five minutes left.
    pub async fn token(&self) -> Result<Secret, AuthError> {
        let mut cache = self.cache.lock().await;
        if let Some((token, expires)) = cache.as_ref() {
            if *expires - time::Duration::minutes(5) > OffsetDateTime::now_utc() {
                return Ok(token.clone());
            }
        }
        let (token, expires) = self.fetch().await?;
        *cache = Some((token.clone(), expires));
        Ok(token)
    }

    /// Drop the cached token after Graph rejected it; `false` when the source cannot do better.
    pub async fn invalidate(&self) -> bool {
        match self.source {
            Source::Static(_) => false,
            Source::Azure(_) => {
                *self.cache.lock().await = None;
                true
            }
        }
    }

    async fn fetch(&self) -> Result<(Secret, OffsetDateTime), AuthError> {
        match &self.source {
            Source::Static(token) => Ok((
                token.clone(),
                OffsetDateTime::now_utc() + time::Duration::days(365),
            )),
            Source::Azure(cred) => {
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

pub fn token_kind(token: &Secret) -> TokenKind {
    use base64::Engine;
    let Some(payload) = token.expose().split('.').nth(1) else {
        return TokenKind::Unknown;
    };
    let Ok(bytes) =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('='))
    else {
        return TokenKind::Unknown;
    };
    let Ok(claims) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
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

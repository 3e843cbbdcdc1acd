//! One module per command. Each receives resolved options and a ready [`Session`]; none
//! builds its own authenticated client.

pub mod block;
pub mod check;
pub mod evidence;
pub mod sandbox;
pub mod setup;
pub mod shell;
pub mod status;
pub mod unblock;
pub mod watch;

pub use crate::targets::{Job, Next, Rejected, Targets};

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use tracing::info;

use crate::auth::{token_kind, Credential, TokenKind};
use crate::cli::{Global, OutputFormat};
use crate::cloud::Cloud;
use crate::graph::{self, GraphClient, RetryPolicy};

pub use crate::error::{ExitStatus, Fatal};

/// A connected Graph client and what the run knows about its token.
pub struct Session {
    pub client: Arc<GraphClient>,
    pub token_kind: TokenKind,
    pub output: OutputFormat,
    /// Keeps the embedded emulator alive for `--sandbox` runs.
    pub sandbox: Option<sandbox::Embedded>,
}

/// Graph seconds per real second: 1 against a real tenant. `LOCKDOWN_TIME_SCALE` (for tests and
/// the benchmark only) matches lockdown's waits, retry backoff and pacing to the emulator's
/// faster clock.
fn time_scale() -> f64 {
    std::env::var("LOCKDOWN_TIME_SCALE")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v > 0.0)
        .unwrap_or(1.0)
}

/// Whether a command only reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Sends nothing but GET requests: no `POST /$batch` either, even one carrying only reads,
    /// so that audit logs and proxies see a read-only run for what it is.
    ReadOnly,
    ReadWrite,
}

/// Resolve the Graph root, credentials and retry policy; fetch a first token so that a
/// credential problem ends the run (exit 3) before anything is sent.
pub async fn connect(global: &Global, access: Access) -> Result<Session, Fatal> {
    let retry = RetryPolicy {
        max_tries: global.max_retries,
        time_scale: time_scale(),
        ..RetryPolicy::default()
    };
    let timeout = Duration::from_secs(global.timeout);
    let (root, credential, sandbox) = if global.sandbox {
        let (root, credential, emulator) = sandbox::embedded().await?;
        (root, credential, Some(emulator))
    } else {
        let root = match &global.graph_url {
            Some(url) => graph::parse_root(url)
                .map_err(|e| Fatal::usage(format!("invalid Graph URL: {e}")))?,
            None => graph::parse_root(global.cloud.graph_root()).expect("cloud roots are valid"),
        };
        if let Some(host) = root.host_str() {
            if !Cloud::is_graph_host(host) {
                eprintln!(
                    "note: sending Graph requests to {host}, which is not a Microsoft Graph host"
                );
            }
        }
        let env = |name: &str| std::env::var(name).ok();
        let credential = Credential::from_env(global.auth, global.cloud, &env).map_err(|e| {
            if e.is_usage() {
                return Fatal::usage(e.to_string());
            }
            if e.is_expired() {
                let hint = "a token in LOCKDOWN_ACCESS_TOKEN cannot be renewed: for a run longer \
                            than a token lives, sign in with --auth secret, certificate, \
                            workload-identity or azure-cli, which renew theirs";
                return Fatal::auth(e.to_string(), Some(hint.into()));
            }
            Fatal::auth(
                e.to_string(),
                Some(
                    "see README.md, \"Authentication\", for each mode and the permissions it needs"
                        .into(),
                ),
            )
        })?;
        (root, credential, None)
    };
    info!("authenticating with {}", credential.description());
    let transport = graph::Transport {
        batch: !global.no_batch && access == Access::ReadWrite,
        pace: true,
    };
    let client = GraphClient::new(root, Arc::new(credential), retry, timeout, transport)
        .map_err(|e| Fatal::caused(ExitStatus::Failure, "could not set up the Graph client", e))?;
    let token = client
        .token()
        .await
        .map_err(|e| Fatal::auth(e.to_string(), None))?;
    let token_kind = token_kind(&token);
    Ok(Session {
        client: Arc::new(client),
        token_kind,
        output: global.output,
        sandbox,
    })
}

/// Refuse before sending anything when confirmation is needed (`skip` false) and there is no
/// terminal to ask on (a script, CI, or users read from stdin).
pub fn can_confirm(skip: bool, targets: &Targets) -> Result<(), Fatal> {
    if skip || (!targets.reads_stdin() && stdin_is_terminal()) {
        return Ok(());
    }
    Err(Fatal::usage(
        "refusing to change accounts without confirmation: there is no terminal to ask on",
    )
    .with_hint("pass --yes to confirm, or --dry-run to see what would be sent"))
}

/// Ask before writing, unless `skip` (`--yes`, or a dry run): `intro` says what will happen,
/// then the first users are listed. With no terminal to ask on, refuse before sending anything.
/// `Ok(false)`: the answer was no (already said on stderr).
pub async fn confirmed(skip: bool, targets: &mut Targets, intro: &str) -> Result<bool, Fatal> {
    use std::io::Write;
    if skip {
        return Ok(true);
    }
    can_confirm(false, targets)?;
    let (first, more) = targets.peek_jobs(10).await?;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{intro}");
    for raw in first {
        let _ = writeln!(err, "  {raw}");
    }
    if more {
        let _ = writeln!(err, "  ... and more");
    }
    let _ = write!(err, "Continue? [y/N] ");
    let _ = err.flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Fatal::caused(ExitStatus::Usage, "could not read the answer", e))?;
    let yes = matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes");
    if !yes {
        let _ = writeln!(err, "aborted; nothing was changed");
    }
    Ok(yes)
}

/// Whether stdin can answer a prompt.
pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

//! One module per command. Each receives resolved options and a ready [`Session`]; none
//! builds its own authenticated client.

pub mod block;
pub mod sandbox;
pub mod status;

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use tracing::info;

use crate::address::UserRef;
use crate::auth::{token_kind, Credential, TokenKind};
use crate::cli::{GlobalArgs, OutputFormat};
use crate::cloud::Cloud;
use crate::emulator::{Emulator, EmulatorConfig};
use crate::graph::{self, GraphClient, RetryPolicy};
use crate::input::{Item, TargetReader};

/// How the process ends. Scripts rely on these numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Every user locked, already locked, planned (dry run) or found (status).
    Success,
    /// Some user partial, failed, refused, not found or given as a malformed entry.
    Failure,
    /// Bad flags, unreadable input, insecure Graph URL; nothing was sent.
    Usage,
    /// No usable credentials, an empty token, or a token Graph rejects; nothing was written.
    Auth,
    /// Interrupted by Ctrl-C or SIGTERM.
    Interrupted,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Usage => 2,
            ExitStatus::Auth => 3,
            ExitStatus::Interrupted => 130,
        }
    }
}

/// An error that ends the run before (or instead of) per-user results.
#[derive(Debug)]
pub struct Fatal {
    pub status: ExitStatus,
    pub message: String,
    pub hint: Option<String>,
}

impl Fatal {
    pub fn usage(message: impl Into<String>) -> Self {
        Fatal {
            status: ExitStatus::Usage,
            message: message.into(),
            hint: None,
        }
    }

    pub fn auth(message: impl Into<String>, hint: Option<String>) -> Self {
        Fatal {
            status: ExitStatus::Auth,
            message: message.into(),
            hint,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A connected Graph client and what the run knows about its token.
pub struct Session {
    pub client: Arc<GraphClient>,
    pub token_kind: TokenKind,
    pub output: OutputFormat,
    /// Keeps the embedded emulator alive for `--sandbox` runs.
    pub sandbox: Option<Emulator>,
}

/// Resolve the Graph root, credentials and retry policy; fetch a first token so that a
/// credential problem ends the run (exit 3) before anything is sent.
pub async fn connect(global: &GlobalArgs) -> Result<Session, Fatal> {
    let retry = RetryPolicy {
        max_tries: global.max_retries,
        time_scale: global.time_scale,
        ..RetryPolicy::default()
    };
    let timeout = Duration::from_secs(global.timeout);
    let (root, credential, sandbox) = if global.sandbox {
        let emulator = Emulator::start(EmulatorConfig::default())
            .await
            .map_err(|e| Fatal {
                status: ExitStatus::Failure,
                message: format!("could not start the emulated tenant: {e}"),
                hint: None,
            })?;
        eprintln!(
            "sandbox: emulated Contoso tenant at {} (nothing leaves this machine)",
            emulator.url()
        );
        let root = graph::parse_root(&emulator.url()).map_err(Fatal::usage)?;
        let credential = Credential::fixed(
            crate::secret::Secret::new(emulator.admin_token()),
            "the sandbox's admin sign-in",
        );
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
        batch: !global.no_batch,
        pace: true,
    };
    let client =
        GraphClient::new(root, Arc::new(credential), retry, timeout, transport).map_err(|e| {
            Fatal {
                status: ExitStatus::Failure,
                message: e.to_string(),
                hint: None,
            }
        })?;
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

/// A user to work on, as given.
#[derive(Debug, Clone)]
pub struct Job {
    pub raw: String,
    pub user: UserRef,
}

/// An entry that is not a user reference, reported with where it came from.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub raw: String,
    pub line: Option<usize>,
    pub reason: String,
}

/// Users from arguments and `--from`, validated and de-duplicated (case-insensitively).
pub fn gather(
    users: &[String],
    from: Option<&std::path::Path>,
) -> Result<(Vec<Job>, Vec<Rejected>), Fatal> {
    let mut jobs = Vec::new();
    let mut rejected = Vec::new();
    let mut seen = crate::input::Dedup::new();
    let mut push = |raw: String, user: UserRef, jobs: &mut Vec<Job>| {
        if seen.first_time(&user.dedup_key()) {
            jobs.push(Job { raw, user });
        } else {
            tracing::info!("{raw}: given more than once; acting on it once");
        }
    };
    for raw in users {
        let trimmed = raw.trim();
        match UserRef::parse(trimmed) {
            Ok(user) => push(trimmed.to_owned(), user, &mut jobs),
            Err(e) => rejected.push(Rejected {
                raw: raw.clone(),
                line: None,
                reason: e.to_string(),
            }),
        }
    }
    if let Some(path) = from {
        let reader: Box<dyn std::io::BufRead> = if path.as_os_str() == "-" {
            Box::new(std::io::BufReader::new(std::io::stdin()))
        } else {
            let file = std::fs::File::open(path)
                .map_err(|e| Fatal::usage(format!("cannot read `{}`: {e}", path.display())))?;
            Box::new(std::io::BufReader::new(file))
        };
        let name = path.display().to_string();
        let reader = TargetReader::new(reader)
            .map_err(|e| Fatal::usage(format!("cannot read `{name}`: {e}")))?;
        for item in reader {
            match item.map_err(|e| Fatal::usage(format!("cannot read `{name}`: {e}")))? {
                Item::Entry(entry) => push(entry.raw, entry.user, &mut jobs),
                Item::Bad(bad) => rejected.push(Rejected {
                    raw: bad.raw,
                    line: Some(bad.line),
                    reason: bad.reason,
                }),
            }
        }
    }
    if jobs.is_empty() {
        let mut msg = String::from("no valid user given");
        if let Some(first) = rejected.first() {
            msg.push_str(&format!(
                "; `{}`{} {}",
                first.raw,
                first
                    .line
                    .map(|l| format!(" (line {l})"))
                    .unwrap_or_default(),
                first.reason
            ));
        }
        if users.is_empty() && from.is_none() {
            return Err(Fatal::usage(
                "no user given: name users as arguments or with --from FILE",
            ));
        }
        return Err(Fatal::usage(msg));
    }
    Ok((jobs, rejected))
}

/// Whether stdin can answer a prompt.
pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

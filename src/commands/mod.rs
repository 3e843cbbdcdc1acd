//! One module per command. Each receives resolved options and a ready [`Session`]; none
//! builds its own authenticated client.

pub mod block;
pub mod sandbox;
pub mod shell;
pub mod status;

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use tracing::info;

use crate::address::UserRef;
use crate::auth::{token_kind, Credential, TokenKind};
use crate::cli::{GlobalArgs, OutputFormat};
use crate::cloud::Cloud;
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
pub async fn connect(global: &GlobalArgs, access: Access) -> Result<Session, Fatal> {
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

/// One entry of the input: a user to work on, or a line that is not one.
#[derive(Debug)]
pub enum Next {
    Job(Job),
    Rejected(Rejected),
}

/// Users from arguments and `--from`, validated and de-duplicated case-insensitively, read
/// lazily: a reader thread feeds a bounded channel, so memory stays flat however long the
/// file, and work starts before it is read to the end.
pub struct Targets {
    buffered: std::collections::VecDeque<Next>,
    rx: Option<tokio::sync::mpsc::Receiver<std::io::Result<Item>>>,
    seen: crate::input::Dedup,
    source: String,
}

impl Targets {
    /// Open the sources. A file that cannot be opened, or input without a single valid user,
    /// is a usage error before anything is sent.
    pub async fn open(users: &[String], from: Option<&std::path::Path>) -> Result<Targets, Fatal> {
        if users.is_empty() && from.is_none() {
            return Err(Fatal::usage(
                "no user given: name users as arguments or with --from FILE",
            ));
        }
        let mut targets = Targets {
            buffered: Default::default(),
            rx: None,
            seen: crate::input::Dedup::new(),
            source: String::new(),
        };
        for raw in users {
            let trimmed = raw.trim();
            let next = match UserRef::parse(trimmed) {
                Ok(user) => Next::Job(Job {
                    raw: trimmed.to_owned(),
                    user,
                }),
                Err(e) => Next::Rejected(Rejected {
                    raw: raw.clone(),
                    line: None,
                    reason: e.to_string(),
                }),
            };
            if let Some(next) = targets.dedup(next) {
                targets.buffered.push_back(next);
            }
        }
        if let Some(path) = from {
            targets.source = path.display().to_string();
            let reader: Box<dyn std::io::BufRead + Send> = if path.as_os_str() == "-" {
                Box::new(std::io::BufReader::new(std::io::stdin()))
            } else {
                let file = std::fs::File::open(path)
                    .map_err(|e| Fatal::usage(format!("cannot read `{}`: {e}", path.display())))?;
                Box::new(std::io::BufReader::new(file))
            };
            let reader = TargetReader::new(reader)
                .map_err(|e| Fatal::usage(format!("cannot read `{}`: {e}", targets.source)))?;
            let (tx, rx) = tokio::sync::mpsc::channel(1024);
            std::thread::spawn(move || {
                for item in reader {
                    if tx.blocking_send(item).is_err() {
                        break;
                    }
                }
            });
            targets.rx = Some(rx);
        }
        // Make sure there is something to do: read up to the first valid user.
        if !targets.buffered.iter().any(|n| matches!(n, Next::Job(_))) {
            while let Some(next) = targets.read().await? {
                let is_job = matches!(next, Next::Job(_));
                targets.buffered.push_back(next);
                if is_job {
                    break;
                }
            }
        }
        if !targets.buffered.iter().any(|n| matches!(n, Next::Job(_))) {
            let mut msg = String::from("no valid user given");
            if let Some(Next::Rejected(first)) = targets.buffered.front() {
                msg.push_str(&format!(
                    "; `{}`{}: {}",
                    first.raw,
                    first
                        .line
                        .map(|l| format!(" (line {l})"))
                        .unwrap_or_default(),
                    first.reason
                ));
            }
            return Err(Fatal::usage(msg));
        }
        Ok(targets)
    }

    /// The first `n` users, read ahead (for the confirmation prompt); more may follow.
    pub async fn peek_jobs(&mut self, n: usize) -> Result<(Vec<String>, bool), Fatal> {
        while self
            .buffered
            .iter()
            .filter(|x| matches!(x, Next::Job(_)))
            .count()
            <= n
        {
            match self.read().await? {
                Some(next) => self.buffered.push_back(next),
                None => break,
            }
        }
        let jobs: Vec<String> = self
            .buffered
            .iter()
            .filter_map(|x| match x {
                Next::Job(j) => Some(j.raw.clone()),
                Next::Rejected(_) => None,
            })
            .collect();
        let more = jobs.len() > n;
        Ok((jobs.into_iter().take(n).collect(), more))
    }

    /// Whether the input is stdin (which then cannot answer a prompt).
    pub fn reads_stdin(&self) -> bool {
        self.source == "-"
    }

    /// The next entry, or `None` at the end. Cancel-safe.
    pub async fn next(&mut self) -> Result<Option<Next>, Fatal> {
        if let Some(next) = self.buffered.pop_front() {
            return Ok(Some(next));
        }
        self.read().await
    }

    async fn read(&mut self) -> Result<Option<Next>, Fatal> {
        loop {
            let Some(rx) = &mut self.rx else {
                return Ok(None);
            };
            let item = match rx.recv().await {
                None => {
                    self.rx = None;
                    return Ok(None);
                }
                Some(Err(e)) => {
                    self.rx = None;
                    return Err(Fatal {
                        status: ExitStatus::Failure,
                        message: format!("stopped reading `{}`: {e}", self.source),
                        hint: None,
                    });
                }
                Some(Ok(item)) => item,
            };
            let next = match item {
                Item::Entry(entry) => Next::Job(Job {
                    raw: entry.raw,
                    user: entry.user,
                }),
                Item::Bad(bad) => Next::Rejected(Rejected {
                    raw: bad.raw,
                    line: Some(bad.line),
                    reason: bad.reason,
                }),
            };
            if let Some(next) = self.dedup(next) {
                return Ok(Some(next));
            }
        }
    }

    fn dedup(&mut self, next: Next) -> Option<Next> {
        if let Next::Job(job) = &next {
            if !self.seen.first_time(&job.user.dedup_key()) {
                tracing::info!("{}: given more than once; acting on it once", job.raw);
                return None;
            }
        }
        Some(next)
    }
}

/// Whether stdin can answer a prompt.
pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

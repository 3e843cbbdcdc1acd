//! Command-line definitions. Doc comments are the help text; command logic lives in
//! `commands/` and receives already-resolved options.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::auth::AuthMode;
use crate::cloud::Cloud;

/// Lock down a Microsoft Entra ID account through Microsoft Graph: disable it, revoke its
/// sign-in sessions, reset its password, disable its devices, and verify.
#[derive(Debug, Parser)]
#[command(
    name = "lockdown",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes, before or after its name. In a command's `--help` they come
/// under their own heading after the command's own options.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Output format: text for people, json for one JSON object per user per line.
    #[arg(short, long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// More logging on stderr: -v debug, -vv trace. RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Where the token comes from.
    #[arg(long, global = true, value_enum, default_value_t = AuthMode::Auto)]
    pub auth: AuthMode,

    /// Which Microsoft cloud: selects the Graph host and sign-in authority together.
    #[arg(long, global = true, value_enum, default_value_t = Cloud::Global)]
    pub cloud: Cloud,

    /// Graph root to use instead of the cloud's (for the emulator or a proxy), e.g.
    /// https://graph.microsoft.com. HTTPS only, except plain HTTP to a loopback address.
    #[arg(long, global = true, env = "LOCKDOWN_GRAPH_URL", value_name = "URL")]
    pub graph_url: Option<String>,

    /// Run against the embedded emulated Contoso tenant: no tenant, no credentials, nothing
    /// leaves this machine.
    #[arg(long, global = true)]
    pub sandbox: bool,

    /// Seconds before one Graph request times out.
    #[arg(long, global = true, default_value_t = 30, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout: u64,

    /// Tries per Graph request (the first included) for throttling and 503/504. A request that
    /// gets no answer (timeout, lost connection) gets at most 3.
    #[arg(long, global = true, default_value_t = 8, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=50))]
    pub max_retries: u32,

    /// Send each Graph request on its own instead of packing them into JSON batches.
    #[arg(long, global = true)]
    pub no_batch: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Lock down users: disable, revoke sessions, reset password, disable devices, verify.
    Block(BlockArgs),
    /// Show users' lockdown-relevant state and their registered devices (read-only).
    Status(StatusArgs),
    /// Undo a lockdown from its report: re-enable what lockdown disabled, and optionally hand
    /// the user a Temporary Access Pass.
    Unblock(UnblockArgs),
    /// Say, before any write, which steps are expected to fail and why (read-only): the
    /// caller's permissions and roles, each target, the licences the steps need.
    Check(CheckArgs),
    /// Watch sign-in logs for the users after a lockdown: print each new sign-in, and alert on
    /// a successful one (read-only).
    Watch(WatchArgs),
    /// Save what an investigator needs about users (sign-ins, directory audits, methods, rules,
    /// consents, devices, memberships, owned apps) with a SHA-256 manifest (read-only).
    Evidence(EvidenceArgs),
    /// Serve the emulated Contoso tenant on a local port for manual runs and scripts.
    Sandbox(SandboxArgs),
    /// Print a shell completion script to stdout (bash, zsh, fish, powershell, elvish).
    Completions(CompletionsArgs),
    /// Print the man page, lockdown(1), to stdout (roff).
    Man,
}

#[derive(Debug, Args)]
pub struct BlockArgs {
    /// userPrincipalName or object id (GUID) of each user to lock down.
    #[arg(value_name = "USER")]
    pub users: Vec<String>,

    /// Read users from a file (one per line, or CSV with a userPrincipalName/UPN/id/objectId
    /// column); `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,

    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub yes: bool,

    /// Read only and show exactly which writes would be sent.
    #[arg(long)]
    pub dry_run: bool,

    /// Leave the account enabled (its password is still reset, so nobody knows it). The same as
    /// `--skip disable_account`.
    #[arg(long)]
    pub keep_enabled: bool,

    /// Leave out a step (repeatable, or comma-separated).
    #[arg(long, value_name = "STEP", value_delimiter = ',',
          value_parser = crate::steps::names(crate::steps::Choice::Skip))]
    pub skip: Vec<String>,

    /// Add an opt-in step (repeatable, or comma-separated).
    #[arg(long, value_name = "STEP", value_delimiter = ',',
          value_parser = crate::steps::names(crate::steps::Choice::With))]
    pub with: Vec<String>,

    /// Add every opt-in step an incident response calls for (the incident steps of --with).
    #[arg(long)]
    pub incident: bool,

    /// Which enabled inbox rules the inbox-rules step disables: those that forward, redirect or
    /// delete mail (suspicious, the default), or every one (all).
    #[arg(long, value_enum, value_name = "WHICH")]
    pub inbox_rules: Option<crate::steps::disable_inbox_rules::Which>,

    /// Same as `--skip reset_password` (kept for existing scripts).
    #[arg(long, hide = true)]
    pub skip_password: bool,

    /// Same as `--skip revoke_sessions` (kept for existing scripts).
    #[arg(long, hide = true)]
    pub skip_sessions: bool,

    /// Same as `--skip disable_devices` (kept for existing scripts).
    #[arg(long, hide = true)]
    pub skip_devices: bool,

    /// Write each user's result as a JSON line to FILE (created or truncated), with the
    /// account's state before and after.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Never lock this account (repeatable; also LOCKDOWN_PROTECT, comma-separated), e.g.
    /// break-glass accounts.
    #[arg(
        long,
        value_name = "UPN_OR_ID",
        env = "LOCKDOWN_PROTECT",
        value_delimiter = ','
    )]
    pub protect: Vec<String>,

    /// Lock protected accounts and the signed-in account too.
    #[arg(long)]
    pub force: bool,

    /// Users worked on at once. Graph's throttling limits, not this number, set the pace of
    /// a large run: requests are held to them.
    #[arg(long, default_value_t = 64, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: u32,

    /// Run `lockdown check` first, and write nothing if any step is expected to fail (unless
    /// --force): its lines are printed and the run exits 1.
    #[arg(long)]
    pub preflight: bool,

    /// Save each locked user's evidence under DIR/<run id>/<upn>/, as `lockdown evidence` does:
    /// what lockdown changes as first read (before any write), then the logs once the user is
    /// contained.
    #[arg(long, value_name = "DIR", conflicts_with = "dry_run")]
    pub evidence: Option<PathBuf>,

    /// Days of sign-ins and directory audits the evidence covers (1 to 30).
    #[arg(long, value_name = "N", requires = "evidence",
          default_value_t = crate::evidence::DEFAULT_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::evidence::MAX_DAYS)))]
    pub evidence_days: u32,

    /// After the lockdown, watch the locked users' sign-ins for this long (e.g. 15m), as
    /// `lockdown watch` does; exit 1 if a sign-in succeeded after the lockdown.
    #[arg(long, value_name = "DURATION", value_parser = crate::watch::parse_duration,
          conflicts_with = "dry_run")]
    pub watch: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// userPrincipalName or object id (GUID) of each user to check; none to check only the
    /// caller.
    #[arg(value_name = "USER")]
    pub users: Vec<String>,

    /// Read users from a file, as for `block --from`.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,

    /// Leave out a step, as `block --skip` would (repeatable, or comma-separated).
    #[arg(long, value_name = "STEP", value_delimiter = ',',
          value_parser = crate::steps::names(crate::steps::Choice::Skip))]
    pub skip: Vec<String>,

    /// Check an opt-in step too, as `block --with` would run it (repeatable, or
    /// comma-separated).
    #[arg(long, value_name = "STEP", value_delimiter = ',',
          value_parser = crate::steps::names(crate::steps::Choice::With))]
    pub with: Vec<String>,

    /// Check every opt-in incident step, as `block --incident` runs them.
    #[arg(long)]
    pub incident: bool,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// userPrincipalName or object id (GUID) of each user to watch.
    #[arg(value_name = "USER")]
    pub users: Vec<String>,

    /// Show sign-ins from this time on (RFC 3339, e.g. 2026-11-29T13:36:51Z); default now.
    #[arg(long, value_name = "TIME", value_parser = crate::watch::parse_since,
          conflicts_with = "from_report")]
    pub since: Option<time::OffsetDateTime>,

    /// Watch the users of a `block --report` file, each from its revoke time as Graph
    /// recorded it.
    #[arg(long, value_name = "FILE")]
    pub from_report: Option<PathBuf>,

    /// How long to watch (e.g. 90s, 15m, 1h). Sign-in logs arrive minutes late.
    #[arg(long = "for", value_name = "DURATION", default_value = "15m",
          value_parser = crate::watch::parse_duration)]
    pub duration: std::time::Duration,

    /// Seconds between polls of the sign-in logs.
    #[arg(long, default_value_t = 30, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub interval: u64,
}

#[derive(Debug, Args)]
pub struct EvidenceArgs {
    /// userPrincipalName or object id (GUID) of each user.
    #[arg(value_name = "USER")]
    pub users: Vec<String>,

    /// Read users from a file, as for `block --from`.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,

    /// Where to save: DIR/<run id>/<upn>/ per user (created 0700; nothing is overwritten).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Days of sign-ins and directory audits to save (1 to 30).
    #[arg(long, value_name = "N", default_value_t = crate::evidence::DEFAULT_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::evidence::MAX_DAYS)))]
    pub evidence_days: u32,

    /// Also write each user's JSON line to FILE (created or truncated).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UnblockArgs {
    /// Users to re-enable without a report (only the account can be re-enabled: nothing else
    /// lockdown changed is known).
    #[arg(value_name = "USER", conflicts_with = "from_report")]
    pub users: Vec<String>,

    /// The `block` report to undo: its `--report` file or its `-o json` output; `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    pub from_report: Option<PathBuf>,

    /// Only these users of the report (repeatable): object id, userPrincipalName or the target
    /// as given to `block`.
    #[arg(long = "user", value_name = "UPN_OR_ID", requires = "from_report")]
    pub only: Vec<String>,

    /// Issue a Temporary Access Pass, usable once, valid for MINUTES (10 to 43200; default 60),
    /// shown once on stdout.
    #[arg(long, value_name = "MINUTES", num_args = 0..=1, default_missing_value = "60",
          value_parser = clap::value_parser!(u32).range(
              i64::from(crate::graph::temporary_access_pass::MIN_LIFETIME)
                  ..=i64::from(crate::graph::temporary_access_pass::MAX_LIFETIME)))]
    pub tap: Option<u32>,

    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub yes: bool,

    /// Read only, and show exactly which writes would be sent.
    #[arg(long)]
    pub dry_run: bool,

    /// Also write each user's JSON line to FILE (created or truncated); never the pass itself.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Restore items that changed since the lockdown too (never another user's device or rule).
    #[arg(long)]
    pub force: bool,

    /// Users worked on at once.
    #[arg(long, default_value_t = 32, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: u32,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// userPrincipalName or object id (GUID) of each user.
    #[arg(value_name = "USER")]
    pub users: Vec<String>,

    /// Read users from a file, as for `block --from`.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,

    /// Also write each user's JSON line to FILE (created or truncated).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Also show what an opt-in step would change, as `block --with` would run it (repeatable,
    /// or comma-separated).
    #[arg(long, value_name = "STEP", value_delimiter = ',',
          value_parser = crate::steps::names(crate::steps::Choice::With))]
    pub with: Vec<String>,

    /// Also show what every incident step would change, as `block --incident` runs them.
    #[arg(long)]
    pub incident: bool,

    /// Which inbox rules to count as ones `block` would disable, as for `block --inbox-rules`.
    #[arg(long, value_enum, value_name = "WHICH")]
    pub inbox_rules: Option<crate::steps::disable_inbox_rules::Which>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,

    /// Seed a bulk tenant of this many users instead of Contoso.
    #[arg(long, value_name = "N")]
    pub users: Option<usize>,

    /// Devices per user in a bulk tenant.
    #[arg(long, default_value_t = 2, requires = "users")]
    pub devices_per_user: usize,

    /// Milliseconds of latency added to every request.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,

    /// Enforce Graph's identity-and-access throttling limits.
    #[arg(long)]
    pub throttle: bool,

    /// Emulated seconds per real second (speeds up throttling windows and Retry-After).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,

    /// Fraction of requests (0–1) that fail with 503 or 504, for trying out retries.
    #[arg(long, default_value_t = 0.0)]
    pub fault_rate: f64,
}

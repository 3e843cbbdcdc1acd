//! Command-line definitions. Doc comments are the help text; command logic lives in
//! `commands/` and receives already-resolved options ([`Global`] and its command's arguments).
//!
//! Each command declares the options that apply to it: the output and connection options only
//! on the commands that talk to Graph, `--no-batch` only on those that write. For the scripts
//! written when these options were global, they are still taken before the command's name
//! (`lockdown -o json block ...`), hidden from help; one given after the name wins.

use std::ops::RangeInclusive;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::auth::AuthMode;
use crate::cloud::Cloud;

/// Lock down a Microsoft Entra ID account through Microsoft Graph: disable it, revoke its
/// sign-in sessions, reset its password, disable its devices, and verify.
#[derive(Debug, Parser)]
#[command(
    name = "lockdown",
    version,
    propagate_version = true,
    max_term_width = 100,
    after_help = "Each command's options: lockdown COMMAND --help"
)]
pub struct Cli {
    #[command(flatten)]
    leading: Leading,

    #[command(subcommand)]
    pub command: Command,
}

/// The options every command that talks to Graph shares, resolved: from after the command's
/// name, or before it.
#[derive(Debug, Clone)]
pub struct Global {
    pub output: OutputFormat,
    pub verbose: u8,
    pub auth: AuthMode,
    pub cloud: Cloud,
    pub graph_url: Option<String>,
    pub sandbox: bool,
    pub timeout: u64,
    pub max_retries: u32,
    pub no_batch: bool,
}

/// The parsed command line.
#[derive(Debug)]
pub struct Parsed {
    pub global: Global,
    pub command: Command,
}

/// Parse the process's arguments; a usage error prints and exits 2, as clap does.
pub fn parse() -> Parsed {
    let matches = Cli::command().get_matches();
    Cli::resolve(&matches).unwrap_or_else(|e| e.exit())
}

impl Cli {
    /// The command and its options, with the options given before its name filled in where
    /// none was given after it.
    pub fn resolve(matches: &ArgMatches) -> Result<Parsed, clap::Error> {
        let cli = Cli::from_arg_matches(matches)?;
        let sub = matches.subcommand().map(|(_, m)| m);
        // Given on the command line after the command's name (not its default, nor from the
        // environment): that one wins over one given before the name.
        let here = |id: &str| {
            sub.is_some_and(|m| {
                m.ids().any(|i| i.as_str() == id)
                    && m.value_source(id) == Some(ValueSource::CommandLine)
            })
        };
        let lead = cli.leading;
        let (output, graph, batch) = cli.command.options();
        if graph.is_none() {
            // A command that does not talk to Graph takes none of these, before its name either.
            let given = matches
                .ids()
                .map(|id| id.as_str())
                .find(|id| matches.value_source(id) == Some(ValueSource::CommandLine));
            if let (Some(id), Some((name, _))) = (given, matches.subcommand()) {
                let message = format!(
                    "--{} does not apply to `lockdown {name}`\n",
                    id.replace('_', "-")
                );
                return Err(
                    clap::Error::raw(clap::error::ErrorKind::ArgumentConflict, message)
                        .with_cmd(&Cli::command()),
                );
            }
        }
        let output = output.cloned().unwrap_or_default();
        let graph = graph.cloned().unwrap_or_default();
        fn pick<T>(before: Option<T>, after: T, here: bool) -> T {
            match before {
                Some(v) if !here => v,
                _ => after,
            }
        }
        let global = Global {
            output: pick(lead.output, output.output, here("output")),
            verbose: lead.verbose.saturating_add(output.verbose),
            auth: pick(lead.auth, graph.auth, here("auth")),
            cloud: pick(lead.cloud, graph.cloud, here("cloud")),
            graph_url: match lead.graph_url {
                Some(url) if !here("graph_url") => Some(url),
                _ => graph.graph_url,
            },
            sandbox: lead.sandbox || graph.sandbox,
            timeout: pick(lead.timeout, graph.timeout, here("timeout")),
            max_retries: pick(lead.max_retries, graph.max_retries, here("max_retries")),
            no_batch: lead.no_batch || batch.is_some_and(|b| b.no_batch),
        };
        Ok(Parsed {
            global,
            command: cli.command,
        })
    }
}

/// The bounds of bounded values, each stated once: the parser takes them, the help shows them.
pub const TIMEOUT_SECONDS: RangeInclusive<u64> = 1..=600;
pub const MAX_RETRIES: RangeInclusive<i64> = 1..=50;
pub const CONCURRENCY: RangeInclusive<i64> = 1..=256;
/// Users worked on at once by `block` (in their containment) and `unblock`, unless
/// `--concurrency` says otherwise. Containment's writes fit Graph's write burst, so what bounds
/// time to containment is latency, and this number: 128 contains 1,000 users about 1.7 times as
/// fast as 64 did, with the same whole run and no 429 (`cargo bench --bench bulk`).
pub const DEFAULT_CONCURRENCY: u32 = 128;
pub const WATCH_INTERVAL_SECONDS: RangeInclusive<u64> = 1..=3600;
pub const TAP_MINUTES: RangeInclusive<i64> = crate::graph::temporary_access_pass::MIN_LIFETIME
    as i64
    ..=crate::graph::temporary_access_pass::MAX_LIFETIME as i64;

/// The options of [`OutputArgs`] and [`GraphArgs`] as given before the command's name, hidden
/// from help (see the module's documentation).
#[derive(Debug, Args)]
struct Leading {
    #[arg(short, long, value_enum, hide = true)]
    output: Option<OutputFormat>,
    #[arg(short, long, action = clap::ArgAction::Count, hide = true)]
    verbose: u8,
    #[arg(long, value_enum, hide = true)]
    auth: Option<AuthMode>,
    #[arg(long, value_enum, hide = true)]
    cloud: Option<Cloud>,
    #[arg(long, hide = true)]
    graph_url: Option<String>,
    #[arg(long, hide = true)]
    sandbox: bool,
    #[arg(long, hide = true, value_parser = clap::value_parser!(u64).range(TIMEOUT_SECONDS))]
    timeout: Option<u64>,
    #[arg(long, hide = true, value_parser = clap::value_parser!(u32).range(MAX_RETRIES))]
    max_retries: Option<u32>,
    #[arg(long, hide = true)]
    no_batch: bool,
}

/// How results are printed and logged, for the commands that talk to Graph.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Output options")]
pub struct OutputArgs {
    /// Output format: text for people, json for one JSON object per user per line.
    #[arg(short, long, value_enum, value_name = "FORMAT", default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// More logging on stderr: -v debug, -vv trace. RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

impl Default for OutputArgs {
    fn default() -> Self {
        OutputArgs {
            output: OutputFormat::Text,
            verbose: 0,
        }
    }
}

/// Where Graph is and how to sign in to it, for the commands that talk to Graph.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Connection options")]
pub struct GraphArgs {
    /// Where the token comes from.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = AuthMode::Auto)]
    pub auth: AuthMode,

    /// Which Microsoft cloud: selects the Graph host and sign-in authority together.
    #[arg(long, value_enum, value_name = "CLOUD", default_value_t = Cloud::Global)]
    pub cloud: Cloud,

    /// Graph root to use instead of the cloud's (for the emulator or a proxy), e.g.
    /// https://graph.microsoft.com. HTTPS only, except plain HTTP to a loopback address.
    #[arg(long, env = "LOCKDOWN_GRAPH_URL", value_name = "URL")]
    pub graph_url: Option<String>,

    /// Run against the embedded emulated Contoso tenant: no tenant, no credentials, nothing
    /// leaves this machine.
    #[arg(long)]
    pub sandbox: bool,

    /// Seconds before one Graph request times out, 1..=600.
    #[arg(long, default_value_t = 30, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(TIMEOUT_SECONDS))]
    pub timeout: u64,

    /// Tries per Graph request (the first included) for throttling and 503/504, 1..=50. A
    /// request that gets no answer (timeout, lost connection) gets at most 3.
    #[arg(long, default_value_t = 8, value_name = "N",
          value_parser = clap::value_parser!(u32).range(MAX_RETRIES))]
    pub max_retries: u32,
}

impl Default for GraphArgs {
    fn default() -> Self {
        GraphArgs {
            auth: AuthMode::Auto,
            cloud: Cloud::Global,
            graph_url: None,
            sandbox: false,
            timeout: 30,
            max_retries: 8,
        }
    }
}

/// How writes travel, for the commands that write.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Connection options")]
pub struct BatchArgs {
    /// Send each Graph request on its own instead of packing them into JSON batches.
    #[arg(long)]
    pub no_batch: bool,
}

/// Users worked on at once, shared by `block` and `unblock`.
#[derive(Debug, Clone, Args)]
pub struct ConcurrencyArgs {
    /// Users worked on at once, 1..=256 (`block`: users in their containment; one whose
    /// containment is over makes room for the next while its clean-up goes on). Graph's
    /// throttling limits, not this number, set the pace of a large run: requests are held to them.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY, value_name = "N",
          value_parser = clap::value_parser!(u32).range(CONCURRENCY))]
    pub concurrency: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OutputFormat {
    #[default]
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
    /// Create, once per tenant, the Conditional Access block group and its policy that the
    /// block_sign_in step adds users to.
    Setup(SetupArgs),
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

impl Command {
    /// The shared options this command takes: output, connection, batching.
    fn options(&self) -> (Option<&OutputArgs>, Option<&GraphArgs>, Option<&BatchArgs>) {
        match self {
            Command::Block(a) => (Some(&a.out), Some(&a.graph), Some(&a.batch)),
            Command::Unblock(a) => (Some(&a.out), Some(&a.graph), Some(&a.batch)),
            Command::Status(a) => (Some(&a.out), Some(&a.graph), None),
            Command::Check(a) => (Some(&a.out), Some(&a.graph), None),
            Command::Watch(a) => (Some(&a.out), Some(&a.graph), None),
            Command::Setup(a) => (Some(&a.out), Some(&a.graph), None),
            Command::Evidence(a) => (Some(&a.out_args), Some(&a.graph), None),
            Command::Sandbox(_) | Command::Completions(_) | Command::Man => (None, None, None),
        }
    }
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

    /// The flags steps declare to leave themselves out (`--keep-enabled`, and hidden ones kept
    /// for existing scripts).
    #[command(flatten)]
    pub skip_flags: crate::steps::SkipFlags,

    // The help lists the steps from the registry, so it is built rather than written here.
    #[arg(long, value_name = "STEP", value_delimiter = ',', hide_possible_values = true,
          value_parser = crate::steps::StepParser(crate::steps::Choice::Skip),
          help = crate::steps::flag_help(crate::steps::Choice::Skip, "Leave out a step"))]
    pub skip: Vec<String>,

    #[arg(long, value_name = "STEP", value_delimiter = ',', hide_possible_values = true,
          value_parser = crate::steps::StepParser(crate::steps::Choice::With),
          help = crate::steps::flag_help(crate::steps::Choice::With, "Add an opt-in step"))]
    pub with: Vec<String>,

    /// Add every opt-in step an incident response calls for (the incident steps of --with); a
    /// --skip of one of them still leaves it out.
    #[arg(long)]
    pub incident: bool,

    /// The steps' own options, each declared by its step.
    #[command(flatten)]
    pub steps: crate::steps::StepOptions,

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

    #[command(flatten)]
    pub concurrency: ConcurrencyArgs,

    /// Run `lockdown check` first, and write nothing if any step is expected to fail (unless
    /// --force): its lines are printed and the run exits 1.
    #[arg(long)]
    pub preflight: bool,

    /// Save each locked user's evidence under DIR/<run id>/<upn>/, as `lockdown evidence` does:
    /// what lockdown changes as first read (before any write), then the logs once the user is
    /// contained.
    #[arg(long, value_name = "DIR", conflicts_with = "dry_run")]
    pub evidence: Option<PathBuf>,

    /// Days of sign-ins and directory audits the evidence covers, 1..=30.
    #[arg(long, value_name = "N", requires = "evidence",
          default_value_t = crate::evidence::DEFAULT_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::evidence::MAX_DAYS)))]
    pub evidence_days: u32,

    /// After the lockdown, watch the locked users' sign-ins for this long (e.g. 15m), as
    /// `lockdown watch` does; exit 1 if a sign-in succeeded after the lockdown.
    #[arg(long, value_name = "DURATION", value_parser = crate::watch::parse_duration,
          conflicts_with = "dry_run")]
    pub watch: Option<std::time::Duration>,

    #[command(flatten)]
    pub out: OutputArgs,

    #[command(flatten)]
    pub graph: GraphArgs,

    #[command(flatten)]
    pub batch: BatchArgs,
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

    #[arg(long, value_name = "STEP", value_delimiter = ',', hide_possible_values = true,
          value_parser = crate::steps::StepParser(crate::steps::Choice::Skip),
          help = crate::steps::flag_help(crate::steps::Choice::Skip,
              "Leave out a step, as `block --skip` would"))]
    pub skip: Vec<String>,

    #[arg(long, value_name = "STEP", value_delimiter = ',', hide_possible_values = true,
          value_parser = crate::steps::StepParser(crate::steps::Choice::With),
          help = crate::steps::flag_help(crate::steps::Choice::With,
              "Check an opt-in step too, as `block --with` would run it"))]
    pub with: Vec<String>,

    /// Check every opt-in incident step, as `block --incident` runs them.
    #[arg(long)]
    pub incident: bool,

    /// The steps' own options, as `block` takes them.
    #[command(flatten)]
    pub steps: crate::steps::StepOptions,

    #[command(flatten)]
    pub out: OutputArgs,

    #[command(flatten)]
    pub graph: GraphArgs,
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

    /// Seconds between polls of the sign-in logs, 1..=3600.
    #[arg(long, default_value_t = 30, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(WATCH_INTERVAL_SECONDS))]
    pub interval: u64,

    #[command(flatten)]
    pub out: OutputArgs,

    #[command(flatten)]
    pub graph: GraphArgs,
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

    /// Days of sign-ins and directory audits to save, 1..=30.
    #[arg(long, value_name = "N", default_value_t = crate::evidence::DEFAULT_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::evidence::MAX_DAYS)))]
    pub evidence_days: u32,

    /// Also write each user's JSON line to FILE (created or truncated).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    #[command(flatten)]
    pub out_args: OutputArgs,

    #[command(flatten)]
    pub graph: GraphArgs,
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

    /// Issue a Temporary Access Pass, usable once, valid for MINUTES (10..=43200; default 60),
    /// shown once on stdout. The minutes only as --tap=MINUTES: a word after --tap is a user.
    #[arg(long, value_name = "MINUTES", num_args = 0..=1, require_equals = true,
          default_missing_value = "60",
          value_parser = clap::value_parser!(u32).range(TAP_MINUTES))]
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

    #[command(flatten)]
    pub concurrency: ConcurrencyArgs,

    #[command(flatten)]
    pub out: OutputArgs,

    #[command(flatten)]
    pub graph: GraphArgs,

    #[command(flatten)]
    pub batch: BatchArgs,
}

#[derive(Debug, Args)]
#[command(mut_args(crate::steps::StepOptions::for_status))]
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

    #[arg(long, value_name = "STEP", value_delimiter = ',', hide_possible_values = true,
          value_parser = crate::steps::StepParser(crate::steps::Choice::With),
          help = crate::steps::flag_help(crate::steps::Choice::With,
              "Also show what an opt-in step would change, as `block --with` would run it"))]
    pub with: Vec<String>,

    /// Also show what every incident step would change, as `block --incident` runs them.
    #[arg(long)]
    pub incident: bool,

    /// The steps' own options, as `block` takes them.
    #[command(flatten)]
    pub steps: crate::steps::StepOptions,

    #[command(flatten)]
    pub out: OutputArgs,

    #[command(flatten)]
    pub graph: GraphArgs,
}

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Emergency-access (break-glass) account the policy must never block: userPrincipalName or
    /// object id (repeatable, or comma-separated). At least one is required.
    #[arg(
        long,
        value_name = "UPN_OR_ID",
        value_delimiter = ',',
        required_unless_present = "no_exclusions"
    )]
    pub exclude: Vec<String>,

    /// Create the policy without excluding any account, on purpose (not recommended: a
    /// mistaken member could lock every administrator out).
    #[arg(long, conflicts_with = "exclude")]
    pub no_exclusions: bool,

    /// Create the policy report-only (enabledForReportingButNotEnforced): it logs what it would
    /// block and blocks nothing.
    #[arg(long)]
    pub report_only: bool,

    /// Read only, and show exactly which writes would be sent.
    #[arg(long)]
    pub dry_run: bool,

    /// Repair a policy changed since setup (disabled, the group no longer included,
    /// exclusions dropped): without it, a changed policy is only reported.
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub out: OutputArgs,

    #[command(flatten)]
    pub graph: GraphArgs,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Address to listen on (loopback only).
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,

    /// Seed a bulk tenant of this many users (at least 1) instead of Contoso.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub users: Option<u64>,

    /// Devices per user in a bulk tenant.
    #[arg(long, value_name = "N", default_value_t = 2, requires = "users")]
    pub devices_per_user: usize,

    /// Milliseconds of latency added to every request.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency_ms: u64,

    /// Enforce Graph's identity-and-access throttling limits.
    #[arg(long)]
    pub throttle: bool,

    /// Emulated seconds per real second, above 0 (speeds up throttling windows and
    /// Retry-After).
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0, value_parser = positive)]
    pub time_scale: f64,

    /// Fraction of requests that fail with 503 or 504, 0..=1, for trying out retries.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0, value_parser = fraction)]
    pub fault_rate: f64,

    /// Start Contoso as a tenant that has not run `lockdown setup` (no block group, no policy),
    /// to try `setup` itself.
    #[arg(long, conflicts_with = "users")]
    pub no_setup: bool,
}

/// A number above 0.
fn positive(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err("a number above 0 (e.g. 10)".to_owned()),
    }
}

/// A fraction from 0 to 1.
fn fraction(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err("a fraction from 0 to 1 (e.g. 0.1)".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Parsed, clap::Error> {
        let matches = Cli::command().try_get_matches_from(args)?;
        Cli::resolve(&matches)
    }

    #[test]
    fn the_definitions_hold_together() {
        Cli::command().debug_assert();
    }

    /// Each bounded value's help states its range as `LOW..=HIGH`, and the parser holds to the
    /// very range the help states.
    #[test]
    fn every_stated_range_is_the_parsers() {
        let cli = Cli::command();
        let mut seen = 0;
        for sub in cli.get_subcommands() {
            for arg in sub.get_arguments() {
                let (Some(long), Some(help)) = (arg.get_long(), arg.get_help()) else {
                    continue;
                };
                let help = help.to_string();
                let Some(range) = help
                    .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ';')
                    .find(|w| w.contains("..="))
                else {
                    continue;
                };
                let range = range.trim_end_matches(['.', ')']);
                let (low, high) = range.split_once("..=").expect("a range");
                let (low, high): (i64, i64) = (low.parse().unwrap(), high.parse().unwrap());
                let name = sub.get_name();
                let try_value = |v: i64| {
                    let flag = format!("--{long}={v}");
                    // What a command requires besides the option tried.
                    let required: &[&str] = match (name, long) {
                        ("setup", _) => &["--no-exclusions"],
                        ("evidence", _) => &["--out", "evidence"],
                        ("block", "evidence-days") => &["--evidence", "evidence"],
                        _ => &[],
                    };
                    let mut argv = vec!["lockdown", name, flag.as_str()];
                    argv.extend(required);
                    Cli::command()
                        .try_get_matches_from(argv)
                        .map_err(|e| e.kind())
                };
                assert!(try_value(low).is_ok(), "{name} --{long} {low}");
                assert!(try_value(high).is_ok(), "{name} --{long} {high}");
                assert_eq!(
                    try_value(low - 1).unwrap_err(),
                    clap::error::ErrorKind::ValueValidation,
                    "{name} --{long} {}",
                    low - 1
                );
                assert_eq!(
                    try_value(high + 1).unwrap_err(),
                    clap::error::ErrorKind::ValueValidation,
                    "{name} --{long} {}",
                    high + 1
                );
                seen += 1;
            }
        }
        // --timeout and --max-retries on five commands, --concurrency on two, --interval,
        // --tap.
        assert!(seen >= 14, "{seen}");
    }

    #[test]
    fn an_option_after_the_command_wins_over_one_before_it() {
        let p = parse(&["lockdown", "--timeout", "5", "block", "--timeout", "7"]).unwrap();
        assert_eq!(p.global.timeout, 7);
        let p = parse(&["lockdown", "--timeout", "5", "-o", "json", "block"]).unwrap();
        assert_eq!(p.global.timeout, 5);
        assert_eq!(p.global.output, OutputFormat::Json);
        let p = parse(&["lockdown", "-v", "status", "-v", "x@contoso.com"]).unwrap();
        assert_eq!(p.global.verbose, 2);
        let p = parse(&["lockdown", "status", "x@contoso.com"]).unwrap();
        assert_eq!(p.global.timeout, 30);
        assert_eq!(p.global.max_retries, 8);
    }

    #[test]
    fn an_option_for_graph_before_a_command_that_does_not_talk_to_it_is_refused() {
        for args in [
            &["lockdown", "--timeout", "5", "sandbox"][..],
            &["lockdown", "-o", "json", "completions", "bash"][..],
            &["lockdown", "-v", "man"][..],
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::ArgumentConflict,
                "{args:?}"
            );
            assert!(
                err.to_string().contains("does not apply to `lockdown "),
                "{err}"
            );
        }
        // Batching does not apply to a read-only command, as it never did: taken, unused.
        assert!(parse(&["lockdown", "--no-batch", "status", "x@contoso.com"]).is_ok());
    }

    #[test]
    fn block_and_unblock_share_one_default_concurrency() {
        let concurrency = |args: &[&str]| match parse(args).unwrap().command {
            Command::Block(a) => a.concurrency.concurrency,
            Command::Unblock(a) => a.concurrency.concurrency,
            _ => panic!("not block or unblock"),
        };
        assert_eq!(concurrency(&["lockdown", "block"]), DEFAULT_CONCURRENCY);
        assert_eq!(concurrency(&["lockdown", "unblock"]), DEFAULT_CONCURRENCY);
    }
}

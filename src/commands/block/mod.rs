//! `lockdown block`: for each user, in order: resolve, disable the account, revoke sign-in
//! sessions, reset the password, disable registered devices, verify.
//!
//! A failed step never stops the later ones; it makes the user's outcome `partial`. Writes
//! for one user keep their order (disable before revoke before password reset).
//!
//! `mod.rs` drives the run (input, confirmation, concurrency, Ctrl-C, output); `user.rs` holds
//! one user's steps, `verify.rs` the read-back, `plan.rs` the `--dry-run` plan.

mod plan;
mod user;
mod verify;

use plan::*;
use user::*;
use verify::*;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use time::OffsetDateTime;
use tracing::{info, warn};

use super::{connect, stdin_is_terminal, Access, ExitStatus, Fatal, Job, Next, Rejected, Targets};
use crate::auth::TokenKind;
use crate::cli::{BlockArgs, GlobalArgs};
use crate::graph::batch::Step;
use crate::graph::devices::{self, Device};
use crate::graph::users::{self, User};
use crate::graph::{paging, roles, GraphClient, GraphError, GraphRequest, GraphResponse};
use crate::hints::{self, Operation};
use crate::output::Printer;
use crate::progress::Progress;
use crate::report::{
    DeviceReport, DeviceSnapshot, ErrorReport, Outcome, Snapshot, StepName, StepReport, StepStatus,
    UserReport,
};
use crate::signal::Cancel;

/// Which steps to run, already resolved from flags.
#[derive(Debug, Clone, Copy)]
pub struct Steps {
    pub disable_account: bool,
    pub revoke_sessions: bool,
    pub reset_password: bool,
    pub disable_devices: bool,
    pub dry_run: bool,
}

impl Steps {
    fn from_args(args: &BlockArgs) -> Self {
        Steps {
            disable_account: !args.keep_enabled,
            revoke_sessions: !args.skip_sessions,
            reset_password: !args.skip_password,
            disable_devices: !args.skip_devices,
            dry_run: args.dry_run,
        }
    }
}

/// The signed-in user of a delegated token, for the "never lock yourself" guard.
#[derive(Debug, Clone)]
pub(super) struct Me {
    id: String,
    upn: Option<String>,
}

pub(super) struct Ctx {
    client: Arc<GraphClient>,
    steps: Steps,
    token_kind: TokenKind,
    me: Option<Me>,
    protect: Vec<String>,
    force: bool,
    /// Accounts already taken by another entry (the same account by UPN and by id).
    resolved: Mutex<HashSet<String>>,
    /// Set when Graph rejects the token: the run ends with exit 3.
    unauthorized: AtomicBool,
    /// Said once per run when roles cannot be read.
    roles_unreadable: AtomicBool,
    cancel: Cancel,
}

pub async fn run(
    global: &GlobalArgs,
    args: &BlockArgs,
    cancel: Cancel,
) -> Result<ExitStatus, Fatal> {
    let mut targets = Targets::open(&args.users, args.from.as_deref()).await?;
    let steps = Steps::from_args(args);
    if !steps.dry_run && !args.yes {
        if targets.reads_stdin() || !stdin_is_terminal() {
            return Err(Fatal::usage(
                "refusing to change accounts without confirmation: there is no terminal to ask on",
            )
            .with_hint("pass --yes to confirm, or --dry-run to see what would be sent"));
        }
        let (first, more) = targets.peek_jobs(10).await?;
        if !confirm(&first, more, steps)? {
            eprintln!("aborted; nothing was changed");
            return Ok(ExitStatus::Failure);
        }
    }
    let mut printer = Printer::new(global.output, args.report.as_deref())?;
    let access = if steps.dry_run {
        Access::ReadOnly
    } else {
        Access::ReadWrite
    };
    let session = connect(global, access).await?;
    let me = who_am_i(&session.client, session.token_kind).await?;
    let ctx = Arc::new(Ctx {
        client: session.client.clone(),
        steps,
        token_kind: me.1,
        me: me.0,
        protect: args
            .protect
            .iter()
            .map(|p| p.trim().to_ascii_lowercase())
            .filter(|p| !p.is_empty())
            .collect(),
        force: args.force,
        resolved: Mutex::new(HashSet::new()),
        unauthorized: AtomicBool::new(false),
        roles_unreadable: AtomicBool::new(false),
        cancel: cancel.clone(),
    });

    let started = Instant::now();
    let mut tally = Tally::default();
    let progress = Progress::new();
    // Entries started and not yet finished: what Ctrl-C leaves interrupted.
    let mut pending: HashSet<String> = HashSet::new();
    let mut in_flight: FuturesUnordered<BoxFuture<'static, (String, Finished)>> =
        FuturesUnordered::new();
    let mut input_done = false;
    let mut stopping = false;
    let mut grace: Option<tokio::time::Instant> = None;
    loop {
        let stop = stopping || ctx.unauthorized.load(Ordering::Relaxed);
        let can_take = !input_done && !stop && in_flight.len() < args.concurrency as usize;
        if in_flight.is_empty() && (input_done || stop) {
            break;
        }
        tokio::select! {
            biased;
            Some((target, finished)) = in_flight.next(), if !in_flight.is_empty() => {
                finish(&mut pending, &mut tally, &mut printer, &progress, &target, finished)?;
                progress.update(&tally, ctx.client.stats());
            }
            _ = cancel.cancelled(), if !stopping => {
                stopping = true;
                // Let requests in flight finish or time out, a few seconds at most.
                grace = Some(tokio::time::Instant::now() + Duration::from_secs(5));
            }
            _ = tokio::time::sleep_until(grace.unwrap_or_else(tokio::time::Instant::now)), if grace.is_some() => break,
            next = targets.next(), if can_take => match next {
                Err(fatal) => {
                    eprintln!("error: {fatal}");
                    tally.input_error = true;
                    input_done = true;
                }
                Ok(None) => input_done = true,
                Ok(Some(Next::Rejected(r))) => {
                    let report = rejected_report(&r);
                    tally.add(report.outcome);
                    progress.suspend(|| printer.emit(&report))?;
                }
                Ok(Some(Next::Job(job))) => {
                    pending.insert(job.raw.clone());
                    let ctx = ctx.clone();
                    in_flight.push(Box::pin(async move {
                        let target = job.raw.clone();
                        let finished = match block_user(&ctx, job).await {
                            Some(report) => Finished::Report(Box::new(report)),
                            None => Finished::Duplicate,
                        };
                        (target, finished)
                    }));
                }
            },
        }
    }
    drop(in_flight);
    progress.finish();
    if cancel.is_cancelled() {
        // Users cut off mid-way, then users never reached, in input order.
        let mut left: Vec<String> = pending.into_iter().collect();
        left.sort();
        while let Ok(Some(next)) = targets.next().await {
            match next {
                Next::Job(job) => left.push(job.raw),
                Next::Rejected(r) => {
                    let report = rejected_report(&r);
                    tally.add(report.outcome);
                    printer.emit(&report)?;
                }
            }
        }
        for target in left {
            let mut report = UserReport::new(&target);
            report.outcome = Outcome::Interrupted;
            report.reason = Some("interrupted before this user was finished".into());
            tally.add(report.outcome);
            printer.emit(&report)?;
        }
    }
    let elapsed = started.elapsed();
    eprintln!("{}", tally.summary(elapsed, steps.dry_run));
    if ctx.unauthorized.load(Ordering::Relaxed) {
        eprintln!("error: Graph rejected the token (401); the run was stopped");
        return Ok(ExitStatus::Auth);
    }
    if cancel.is_cancelled() {
        return Ok(ExitStatus::Interrupted);
    }
    Ok(if tally.all_succeeded() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

/// A step left out by the flag that asks for it; it does not count against the outcome.
fn skipped_by_flag(step: StepName) -> StepReport {
    let flag = match step {
        StepName::DisableAccount => "--keep-enabled",
        StepName::RevokeSessions => "--skip-sessions",
        StepName::ResetPassword => "--skip-password",
        StepName::DisableDevices => "--skip-devices",
        StepName::Verify => unreachable!("verify has no flag"),
    };
    StepReport::new(step, StepStatus::Skipped, format!("skipped by {flag}"))
}

/// A guest's password lives in its home tenant: nothing to reset here.
fn guest_password_skipped() -> StepReport {
    StepReport::new(
        StepName::ResetPassword,
        StepStatus::Skipped,
        "guest account: its password lives in its home tenant".to_owned(),
    )
}

fn device_report(d: &Device, status: StepStatus, error: Option<ErrorReport>) -> DeviceReport {
    DeviceReport {
        id: d.id.0.clone(),
        display_name: d.display_name.clone(),
        operating_system: d.operating_system.clone(),
        status,
        error,
    }
}

/// How one entry's work ended.
enum Finished {
    Report(Box<UserReport>),
    /// The same account as another entry, found after resolving: acted on once, by the other.
    Duplicate,
}

/// Record one finished entry.
fn finish(
    pending: &mut HashSet<String>,
    tally: &mut Tally,
    printer: &mut Printer,
    progress: &Progress,
    target: &str,
    report: Finished,
) -> Result<(), Fatal> {
    match report {
        Finished::Report(report) => {
            pending.remove(target);
            tally.add(report.outcome);
            progress.suspend(|| printer.emit(&report))
        }
        Finished::Duplicate => {
            pending.remove(target);
            Ok(())
        }
    }
}

fn confirm(first: &[String], more: bool, steps: Steps) -> Result<bool, Fatal> {
    let mut actions = Vec::new();
    if steps.disable_account {
        actions.push("disable the account");
    }
    if steps.revoke_sessions {
        actions.push("revoke sign-in sessions");
    }
    if steps.reset_password {
        actions.push("reset the password");
    }
    if steps.disable_devices {
        actions.push("disable registered devices");
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "About to lock down these accounts: {}.",
        actions.join(", ")
    );
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
        .map_err(|e| Fatal::usage(format!("could not read the answer: {e}")))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Who the token signs in as. App-only tokens have no `/me` (Graph answers 400).
async fn who_am_i(client: &GraphClient, kind: TokenKind) -> Result<(Option<Me>, TokenKind), Fatal> {
    if kind == TokenKind::AppOnly {
        return Ok((None, kind));
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct MeBody {
        id: String,
        user_principal_name: Option<String>,
    }
    match client.send(&users::me(), "signed-in account").await {
        Ok(resp) => match resp.json::<MeBody>() {
            Ok(me) => {
                info!(
                    "signed in as {}",
                    me.user_principal_name.as_deref().unwrap_or(&me.id)
                );
                Ok((
                    Some(Me {
                        id: me.id.to_ascii_lowercase(),
                        upn: me.user_principal_name.map(|u| u.to_ascii_lowercase()),
                    }),
                    TokenKind::Delegated,
                ))
            }
            Err(e) => {
                warn!("could not read the signed-in account ({e}); the self-lock guard is off");
                Ok((None, kind))
            }
        },
        Err(e) if e.is_unauthorized() => Err(Fatal::auth(
            e.to_string(),
            hints::for_error(Operation::ReadUser, &e, kind, false).map(|h| h.0),
        )),
        // `/me request is only valid with delegated authentication flow.`
        Err(e) if e.status() == Some(400) => Ok((None, TokenKind::AppOnly)),
        Err(e) => {
            warn!("could not read the signed-in account ({e}); the self-lock guard is off");
            Ok((None, kind))
        }
    }
}

fn rejected_report(r: &Rejected) -> UserReport {
    let mut report = UserReport::new(&r.raw);
    report.outcome = Outcome::Failed;
    report.reason = Some(match r.line {
        Some(line) => format!("line {line}: {}", r.reason),
        None => r.reason.clone(),
    });
    report
}

#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) input_error: bool,
    pub(crate) locked: usize,
    pub(crate) partial: usize,
    pub(crate) failed: usize,
    not_found: usize,
    planned: usize,
    refused: usize,
    interrupted: usize,
}

impl Tally {
    fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Locked => self.locked += 1,
            Outcome::Partial => self.partial += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::NotFound => self.not_found += 1,
            Outcome::Planned => self.planned += 1,
            Outcome::Refused => self.refused += 1,
            Outcome::Interrupted => self.interrupted += 1,
        }
    }

    fn all_succeeded(&self) -> bool {
        !self.input_error
            && self.partial + self.failed + self.not_found + self.refused + self.interrupted == 0
    }

    pub(crate) fn total(&self) -> usize {
        self.locked
            + self.partial
            + self.failed
            + self.not_found
            + self.planned
            + self.refused
            + self.interrupted
    }

    fn summary(&self, elapsed: Duration, dry_run: bool) -> String {
        let total = self.total();
        let mut parts = Vec::new();
        if dry_run {
            parts.push(format!("{} planned", self.planned));
        } else {
            parts.push(format!("{} locked", self.locked));
            parts.push(format!("{} partial", self.partial));
        }
        parts.push(format!("{} failed", self.failed));
        for (n, what) in [
            (self.not_found, "not found"),
            (self.refused, "refused"),
            (self.interrupted, "interrupted"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        format!(
            "{} user(s): {} ({:.1}s)",
            total,
            parts.join(", "),
            elapsed.as_secs_f64()
        )
    }
}

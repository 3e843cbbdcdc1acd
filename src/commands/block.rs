//! `lockdown block`: for each user, in order: resolve, disable the account, revoke sign-in
//! sessions, reset the password, disable registered devices, verify.
//!
//! A failed step never stops the later ones; it makes the user's outcome `partial`. Writes
//! for one user keep their order (disable before revoke before password reset).

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

use super::{connect, stdin_is_terminal, ExitStatus, Fatal, Job, Next, Rejected, Targets};
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
struct Me {
    id: String,
    upn: Option<String>,
}

struct Ctx {
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
    let session = connect(global).await?;
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

/// Every Graph result of a user's work passes here: a 401 stops the whole run.
fn checked<T>(ctx: &Ctx, result: Result<T, GraphError>) -> Result<T, GraphError> {
    if result.as_ref().is_err_and(GraphError::is_unauthorized) {
        ctx.unauthorized.store(true, Ordering::Relaxed);
    }
    result
}

/// Send one request for a user's step.
async fn send(ctx: &Ctx, req: &GraphRequest, label: &str) -> Result<GraphResponse, GraphError> {
    checked(ctx, ctx.client.send(req, label).await)
}

fn error(ctx: &Ctx, op: Operation, err: &GraphError, synced: bool) -> ErrorReport {
    ErrorReport::from_graph(err, hints::for_error(op, err, ctx.token_kind, synced))
}

async fn list_devices(ctx: &Ctx, who: &str, label: &str) -> Result<Vec<Device>, GraphError> {
    let items = paging::collect_all(&ctx.client, devices::list_registered(who), label).await;
    checked(ctx, items).and_then(devices::from_directory_objects)
}

fn timestamp(t: Option<OffsetDateTime>) -> Option<String> {
    t.and_then(|t| {
        t.replace_nanosecond(0)
            .ok()?
            .format(&time::format_description::well_known::Rfc3339)
            .ok()
    })
}

fn snapshot(user: &User, devices: Option<&[Device]>) -> Snapshot {
    Snapshot {
        account_enabled: user.account_enabled,
        sign_in_sessions_valid_from_date_time: timestamp(
            user.sign_in_sessions_valid_from_date_time,
        ),
        devices: devices.map(|ds| {
            ds.iter()
                .map(|d| DeviceSnapshot {
                    id: d.id.0.clone(),
                    account_enabled: d.account_enabled,
                })
                .collect()
        }),
    }
}

fn is_protected(ctx: &Ctx, user: &User) -> Option<String> {
    let id = user.id.0.to_ascii_lowercase();
    let upn = user
        .user_principal_name
        .as_deref()
        .map(str::to_ascii_lowercase);
    let matches = |key: &str| key == id || upn.as_deref() == Some(key);
    if let Some(me) = &ctx.me {
        if me.id == id || (me.upn.is_some() && me.upn == upn) {
            return Some(
                "this is the account running lockdown; locking it would cut off this session (pass --force to lock it anyway)"
                    .into(),
            );
        }
    }
    if ctx.protect.iter().any(|p| matches(p)) {
        return Some(
            "this account is protected (--protect / LOCKDOWN_PROTECT), e.g. a break-glass account; pass --force to lock it anyway"
                .into(),
        );
    }
    None
}

/// Entra admin roles the target holds.
async fn admin_roles(ctx: &Ctx, who: &str, label: &str) -> Result<Vec<String>, GraphError> {
    let roles: Vec<roles::DirectoryRole> = checked(
        ctx,
        paging::collect_all(&ctx.client, roles::list(who), label).await,
    )?;
    Ok(roles
        .into_iter()
        .map(|r| {
            r.display_name
                .or(r.role_template_id)
                .unwrap_or_else(|| "unnamed role".into())
        })
        .collect())
}

/// The role check is advisory: when roles cannot be read, say so once and carry on.
fn roles_or_warn(ctx: &Ctx, roles: Result<Vec<String>, GraphError>) -> Option<Vec<String>> {
    match roles {
        Ok(roles) => Some(roles),
        Err(e) => {
            if !ctx.roles_unreadable.swap(true, Ordering::Relaxed) {
                warn!("cannot read targets' admin roles ({e}); carrying on without that check (it needs RoleManagement.Read.Directory or Directory.Read.All)");
            }
            None
        }
    }
}

async fn block_user(ctx: &Ctx, job: Job) -> Option<UserReport> {
    let mut report = UserReport::new(&job.raw);
    let who = job.user.to_string();
    let label = |step: &str| format!("{}: {step}", job.raw);
    let steps = ctx.steps;

    // 1. Resolve, with the device list and the admin-role check alongside.
    let (user, device_list, roles) = tokio::join!(
        async {
            send(ctx, &users::get(&who), &label("resolve"))
                .await
                .and_then(|r| users::decode(&r))
        },
        async {
            if steps.disable_devices {
                Some(list_devices(ctx, &who, &label("list devices")).await)
            } else {
                None
            }
        },
        async {
            let l = label("read roles");
            admin_roles(ctx, &who, &l).await
        },
    );
    let user = match user {
        Ok(u) => u,
        Err(e) if e.is_not_found() => {
            report.outcome = Outcome::NotFound;
            report.reason = Some("no user with this userPrincipalName or object id".into());
            report.error = Some(error(ctx, Operation::ReadUser, &e, false));
            return Some(report);
        }
        Err(e) => {
            report.outcome = Outcome::Failed;
            report.reason = Some("could not read the user".into());
            report.error = Some(error(ctx, Operation::ReadUser, &e, false));
            return Some(report);
        }
    };
    report.id = Some(user.id.0.clone());
    report.user_principal_name = user.user_principal_name.clone();
    report.display_name = user.display_name.clone();

    if !ctx
        .resolved
        .lock()
        .unwrap()
        .insert(user.id.0.to_ascii_lowercase())
    {
        info!(
            "{}: the same account as another entry (by UPN and by id); acting on it once",
            job.raw
        );
        return None;
    }
    if !ctx.force {
        if let Some(reason) = is_protected(ctx, &user) {
            report.outcome = Outcome::Refused;
            report.reason = Some(reason);
            return Some(report);
        }
    }
    if let Some(roles) = roles_or_warn(ctx, roles).filter(|r| !r.is_empty()) {
        report.warnings.push(format!(
            "holds Entra admin role(s) {}: disabling it, resetting its password and revoking its sessions need Privileged Authentication Administrator (or Global Administrator)",
            roles.join(", ")
        ));
    }
    if user.is_synced() {
        report.warnings.push(
            "synced from on-premises Active Directory: Graph cannot disable it or reset its password; do that on-premises"
                .into(),
        );
    }
    let devices_before = match &device_list {
        Some(Ok(list)) => Some(list.clone()),
        _ => None,
    };
    report.before = Some(snapshot(&user, devices_before.as_deref()));

    if steps.dry_run {
        plan(ctx, &mut report, &user, device_list, steps);
        report.outcome = Outcome::Planned;
        return Some(report);
    }
    let id = &user.id;
    let synced = user.is_synced();

    // 2-5. The writes, as one ordered plan: disable, revoke, reset, then the devices. Each
    // runs whatever happened to the one before.
    if let Some(r) = interrupted(ctx, &mut report) {
        return Some(r);
    }
    let wants_disable = steps.disable_account && user.account_enabled != Some(false);
    let wants_password = steps.reset_password && !user.is_guest();
    let to_disable: Vec<&Device> = match &device_list {
        Some(Ok(list)) => list
            .iter()
            .filter(|d| d.account_enabled != Some(false))
            .collect(),
        _ => Vec::new(),
    };
    let mut stages: Vec<Vec<Step>> = Vec::new();
    let step = |req: GraphRequest, what: &str| Step {
        req,
        label: label(what),
    };
    if wants_disable {
        stages.push(vec![step(users::disable(id), "disable account")]);
    }
    if steps.revoke_sessions {
        stages.push(vec![step(
            users::revoke_sign_in_sessions(id),
            "revoke sessions",
        )]);
    }
    if wants_password {
        let password = crate::password::generate();
        stages.push(vec![step(
            users::reset_password(id, &password),
            "reset password",
        )]);
    }
    if !to_disable.is_empty() {
        stages.push(
            to_disable
                .iter()
                .map(|d| step(devices::disable(&d.id), "disable devices"))
                .collect(),
        );
    }
    let mut outcomes = ctx.client.execute(stages).await.into_iter();
    let mut next = || checked(ctx, outcomes.next().expect("one outcome per request"));

    report.steps.push(if !steps.disable_account {
        StepReport::new(
            StepName::DisableAccount,
            StepStatus::Skipped,
            "skipped by --keep-enabled".to_owned(),
        )
    } else if !wants_disable {
        StepReport::new(
            StepName::DisableAccount,
            StepStatus::Already,
            "the account was already disabled".to_owned(),
        )
    } else {
        match next() {
            Ok(_) => StepReport::new(
                StepName::DisableAccount,
                StepStatus::Done,
                "accountEnabled set to false: no new sign-in can start".to_owned(),
            ),
            Err(e) => StepReport::failed(
                StepName::DisableAccount,
                "the account could not be disabled",
                error(ctx, Operation::DisableAccount, &e, synced),
            ),
        }
    });

    let mut revoked_at = None;
    report.steps.push(if !steps.revoke_sessions {
        StepReport::new(StepName::RevokeSessions, StepStatus::Skipped, "skipped by --skip-sessions".to_owned())
    } else {
        match next() {
            Ok(resp) => {
                // Graph's clock, not ours: verification compares against it.
                let at = resp.date().unwrap_or_else(OffsetDateTime::now_utc);
                revoked_at = Some(at);
                let mut detail = format!(
                    "sign-in sessions revoked at {}; access tokens already issued stay valid until they expire (up to about an hour)",
                    timestamp(Some(at)).unwrap_or_default()
                );
                if user.is_guest() {
                    detail.push_str("; this guest's sessions in its home tenant are not affected");
                }
                StepReport::new(StepName::RevokeSessions, StepStatus::Done, detail)
            }
            Err(e) => StepReport::failed(StepName::RevokeSessions, "sign-in sessions could not be revoked", error(ctx, Operation::RevokeSessions, &e, false)),
        }
    });

    report.steps.push(if !steps.reset_password {
        StepReport::new(StepName::ResetPassword, StepStatus::Skipped, "skipped by --skip-password".to_owned())
    } else if user.is_guest() {
        StepReport::new(StepName::ResetPassword, StepStatus::Skipped, "guest account: its password lives in its home tenant".to_owned())
    } else {
        match next() {
            Ok(_) => StepReport::new(StepName::ResetPassword, StepStatus::Done, "password reset to a random one nobody was shown; a change is required at next sign-in".to_owned()),
            Err(e) => StepReport::failed(StepName::ResetPassword, "the password could not be reset", error(ctx, Operation::ResetPassword, &e, synced)),
        }
    });

    let mut disabled_devices: Vec<String> = Vec::new();
    report.steps.push(match &device_list {
        None => StepReport::new(
            StepName::DisableDevices,
            StepStatus::Skipped,
            "skipped by --skip-devices".to_owned(),
        ),
        Some(Err(e)) => StepReport::failed(
            StepName::DisableDevices,
            "the user's registered devices could not be listed",
            error(ctx, Operation::ListDevices, e, false),
        ),
        Some(Ok(list)) => {
            let mut results: HashMap<&str, Result<(), GraphError>> = HashMap::new();
            for d in &to_disable {
                results.insert(d.id.0.as_str(), next().map(|_| ()));
            }
            let step = device_step(ctx, list, &results);
            disabled_devices = step
                .devices
                .iter()
                .flatten()
                .filter(|d| d.status == StepStatus::Done)
                .map(|d| d.id.clone())
                .collect();
            step
        }
    });

    // 6. Verify by reading the account back.
    let disabled = report
        .step(StepName::DisableAccount)
        .is_some_and(|s| s.status == StepStatus::Done);
    let (verify, after) = verify(
        ctx,
        &user,
        Written {
            disabled,
            revoked_at,
            devices: &disabled_devices,
        },
        devices_before.as_deref(),
        &job.raw,
    )
    .await;
    report.steps.push(verify);
    report.after = after;
    report.outcome = outcome(&report.steps);
    Some(report)
}

/// Stop before a write once Ctrl-C was pressed; the report keeps the steps already done.
fn interrupted(ctx: &Ctx, report: &mut UserReport) -> Option<UserReport> {
    if ctx.cancel.is_cancelled() || ctx.unauthorized.load(Ordering::Relaxed) {
        let mut r = report.clone();
        if ctx.cancel.is_cancelled() {
            r.outcome = Outcome::Interrupted;
            r.reason = Some("interrupted before this user was finished".into());
        } else {
            r.outcome = if r.steps.iter().any(|s| matches!(s.status, StepStatus::Done)) {
                Outcome::Partial
            } else {
                Outcome::Failed
            };
            r.reason = Some("stopped: Graph rejected the token".into());
        }
        return Some(r);
    }
    None
}

/// The devices step from the outcome of each device's write.
fn device_step(
    ctx: &Ctx,
    list: &[Device],
    results: &HashMap<&str, Result<(), GraphError>>,
) -> StepReport {
    let mut reports = Vec::with_capacity(list.len());
    let (mut done, mut already, mut failed) = (0usize, 0usize, 0usize);
    for d in list {
        let (status, err) = match results.get(d.id.0.as_str()) {
            None => {
                already += 1;
                (StepStatus::Already, None)
            }
            Some(Ok(())) => {
                done += 1;
                (StepStatus::Done, None)
            }
            Some(Err(e)) => {
                failed += 1;
                let synced = d.on_premises_sync_enabled == Some(true);
                (
                    StepStatus::Failed,
                    Some(error(ctx, Operation::DisableDevice, e, synced)),
                )
            }
        };
        reports.push(DeviceReport {
            id: d.id.0.clone(),
            display_name: d.display_name.clone(),
            operating_system: d.operating_system.clone(),
            status,
            error: err,
        });
    }
    let status = if failed > 0 {
        StepStatus::Failed
    } else if done > 0 {
        StepStatus::Done
    } else {
        StepStatus::Already
    };
    let detail = if list.is_empty() {
        "no registered devices".to_owned()
    } else {
        let mut parts = Vec::new();
        if done > 0 {
            parts.push(format!("{done} disabled"));
        }
        if already > 0 {
            parts.push(format!("{already} already disabled"));
        }
        if failed > 0 {
            parts.push(format!("{failed} could not be disabled"));
        }
        format!("{} device(s): {}", list.len(), parts.join(", "))
    };
    StepReport {
        step: StepName::DisableDevices,
        status,
        detail: Some(detail),
        error: None,
        devices: Some(reports),
    }
}

/// Graph stores whole seconds, and its `Date` header and the stored time come from different
/// moments of the same request, so the comparison allows one second.
const CLOCK_SLACK: time::Duration = time::Duration::seconds(1);

/// What the write steps report as taken effect, for verify to check.
struct Written<'a> {
    disabled: bool,
    revoked_at: Option<OffsetDateTime>,
    devices: &'a [String],
}

async fn verify(
    ctx: &Ctx,
    before: &User,
    written: Written<'_>,
    devices_before: Option<&[Device]>,
    raw: &str,
) -> (StepReport, Option<crate::report::Snapshot>) {
    let Written {
        disabled,
        revoked_at,
        devices: disabled_devices,
    } = written;
    let want_disabled = ctx.steps.disable_account;
    let label = format!("{raw}: verify");
    let mut last_problems = Vec::new();
    let mut last_error = None;
    let mut after = None;
    // Graph is eventually consistent: a read right after a write can miss it, so a result
    // that contradicts a write Graph accepted is read again a couple of times.
    for attempt in 0..3 {
        if attempt > 0 {
            ctx.client
                .retry_policy()
                .sleep(Duration::from_secs(attempt))
                .await;
        }
        let (user, devices) = tokio::join!(
            async {
                send(ctx, &users::get(&before.id.0), &label)
                    .await
                    .and_then(|r| users::decode(&r))
            },
            async {
                if disabled_devices.is_empty() {
                    None
                } else {
                    list_devices(ctx, &before.id.0, &label).await.ok()
                }
            }
        );
        let user = match user {
            Ok(u) => u,
            Err(e) => {
                last_error = Some(error(ctx, Operation::ReadUser, &e, false));
                last_problems = vec!["the account could not be read back".to_owned()];
                continue;
            }
        };
        last_error = None;
        let device_now = devices.as_deref().or(devices_before);
        after = Some(snapshot(&user, device_now));
        let mut problems = Vec::new();
        let mut contradicts_write = false;
        if want_disabled && user.account_enabled != Some(false) {
            problems.push("accountEnabled is still true".to_owned());
            contradicts_write |= disabled;
        }
        if let Some(at) = revoked_at {
            let floor = at.replace_nanosecond(0).unwrap_or(at);
            match user.sign_in_sessions_valid_from_date_time {
                Some(from) if from + CLOCK_SLACK >= floor => {}
                Some(from) => {
                    problems.push(format!(
                        "signInSessionsValidFromDateTime is {}, earlier than the revoke at {}",
                        timestamp(Some(from)).unwrap_or_default(),
                        timestamp(Some(floor)).unwrap_or_default()
                    ));
                    contradicts_write = true;
                }
                None => {
                    problems.push("signInSessionsValidFromDateTime was not returned".to_owned())
                }
            }
        } else if ctx.steps.revoke_sessions {
            problems.push("sign-in sessions were not revoked".to_owned());
        }
        if let Some(now) = &devices {
            for id in disabled_devices {
                if now
                    .iter()
                    .any(|d| &d.id.0 == id && d.account_enabled != Some(false))
                {
                    problems.push(format!("device {id} is still enabled"));
                    contradicts_write = true;
                }
            }
        }
        last_problems = problems;
        if last_problems.is_empty() || !contradicts_write {
            break;
        }
    }
    let step = if let Some(err) = last_error {
        StepReport::failed(StepName::Verify, last_problems.join("; "), err)
    } else if last_problems.is_empty() {
        let mut checks = Vec::new();
        if want_disabled {
            checks.push("accountEnabled is false".to_owned());
        }
        if revoked_at.is_some() {
            checks.push(format!(
                "sessions valid from {}",
                after
                    .as_ref()
                    .and_then(|a| a.sign_in_sessions_valid_from_date_time.clone())
                    .unwrap_or_default()
            ));
        }
        if !disabled_devices.is_empty() {
            checks.push(format!(
                "{} device(s) read back disabled",
                disabled_devices.len()
            ));
        }
        if checks.is_empty() {
            checks.push("the account was read back".into());
        }
        StepReport::new(StepName::Verify, StepStatus::Done, checks.join("; "))
    } else {
        StepReport::new(
            StepName::Verify,
            StepStatus::Failed,
            last_problems.join("; "),
        )
    };
    (step, after)
}

fn outcome(steps: &[StepReport]) -> Outcome {
    let failed = steps.iter().any(|s| s.status == StepStatus::Failed);
    let effect = steps.iter().any(|s| {
        s.step != StepName::Verify && matches!(s.status, StepStatus::Done | StepStatus::Already)
    });
    if !failed {
        Outcome::Locked
    } else if effect {
        Outcome::Partial
    } else {
        Outcome::Failed
    }
}

/// `--dry-run`: what would be sent, exactly, without sending it.
fn plan(
    ctx: &Ctx,
    report: &mut UserReport,
    user: &User,
    device_list: Option<Result<Vec<Device>, GraphError>>,
    flags: Steps,
) {
    let steps = &mut report.steps;
    let id = &user.id;
    let would = |req: GraphRequest, body: &str| format!("would send {} {body}", req.describe());
    steps.push(if !flags.disable_account {
        StepReport::new(
            StepName::DisableAccount,
            StepStatus::Skipped,
            "skipped by --keep-enabled".to_owned(),
        )
    } else if user.account_enabled == Some(false) {
        StepReport::new(
            StepName::DisableAccount,
            StepStatus::Already,
            "the account is already disabled".to_owned(),
        )
    } else {
        StepReport::new(
            StepName::DisableAccount,
            StepStatus::Planned,
            would(users::disable(id), r#"{"accountEnabled":false}"#),
        )
    });
    steps.push(if !flags.revoke_sessions {
        StepReport::new(
            StepName::RevokeSessions,
            StepStatus::Skipped,
            "skipped by --skip-sessions".to_owned(),
        )
    } else {
        StepReport::new(
            StepName::RevokeSessions,
            StepStatus::Planned,
            would(users::revoke_sign_in_sessions(id), "(no body)"),
        )
    });
    steps.push(if !flags.reset_password {
        StepReport::new(StepName::ResetPassword, StepStatus::Skipped, "skipped by --skip-password".to_owned())
    } else if user.is_guest() {
        StepReport::new(StepName::ResetPassword, StepStatus::Skipped, "guest account: its password lives in its home tenant".to_owned())
    } else {
        StepReport::new(
            StepName::ResetPassword,
            StepStatus::Planned,
            format!(
                "would send PATCH /v1.0{} {{\"passwordProfile\":{{\"password\":<random, never shown>,\"forceChangePasswordNextSignIn\":true}}}}",
                crate::address::user_path(&id.0)
            ),
        )
    });
    match device_list {
        None => steps.push(StepReport::new(
            StepName::DisableDevices,
            StepStatus::Skipped,
            "skipped by --skip-devices".to_owned(),
        )),
        Some(Err(e)) => steps.push(StepReport::failed(
            StepName::DisableDevices,
            "the user's registered devices could not be listed",
            error(ctx, Operation::ListDevices, &e, false),
        )),
        Some(Ok(list)) => {
            let mut devices = Vec::new();
            let mut planned = 0;
            for d in &list {
                let status = if d.account_enabled == Some(false) {
                    StepStatus::Already
                } else {
                    planned += 1;
                    StepStatus::Planned
                };
                devices.push(DeviceReport {
                    id: d.id.0.clone(),
                    display_name: d.display_name.clone(),
                    operating_system: d.operating_system.clone(),
                    status,
                    error: None,
                });
            }
            let detail = if list.is_empty() {
                "no registered devices".to_owned()
            } else {
                format!("would send PATCH /v1.0/devices/{{id}} {{\"accountEnabled\":false}} for {planned} of {} device(s)", list.len())
            };
            steps.push(StepReport {
                step: StepName::DisableDevices,
                status: if planned > 0 {
                    StepStatus::Planned
                } else {
                    StepStatus::Already
                },
                detail: Some(detail),
                error: None,
                devices: Some(devices),
            });
        }
    }
    report.steps.push(StepReport::new(
        StepName::Verify,
        StepStatus::Planned,
        format!("would read back {}", users::get(&id.0).describe()),
    ));
}

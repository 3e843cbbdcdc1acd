//! `lockdown check`: read-only. Before any write, say which steps are expected to fail and
//! why: first the caller (the token's kind, tenant, app or signed-in user, its permissions as
//! the token states them and as Graph grants them, its directory roles, the tenant's
//! licences) and each chosen step's verdict; then, for each target, what was read about it and
//! each step's verdict for it. `block --preflight` runs the same check ([`preflight`]) before
//! writing.
//!
//! The loop goes over `steps::REGISTRY` through the run's `Selection`, as the engine does;
//! each step says what it needs (`Step::requires`) and what it expects of a target
//! (`Step::expect`, from the same first reads a real run sends). No step is named here.

use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;

use futures::stream::FuturesUnordered;
use futures::StreamExt;

use super::{connect, Access, ExitStatus, Fatal, Next, Targets};
use crate::auth::{self, TokenKind};
use crate::check::{
    verdict_for_target, Caller, CallerLine, Me, Outcome, Requirement, StepLine, Target, TargetLine,
    Verdict,
};
use crate::cli::{CheckArgs, Global, OutputFormat};
use crate::graph::{
    paging, roles, service_principals, subscribed_skus, users, GraphClient, GraphError,
    GraphRequest,
};
use crate::hints::{self, Hint};
use crate::report::ErrorReport;
use crate::signal::Cancel;
use crate::steps::{Read, RunCx, Selected, Selection, Step, REGISTRY};
use crate::targets::Job;

/// Users read at once: `check` sends only GETs, a handful per user.
const CONCURRENCY: usize = 8;

pub async fn run(global: &Global, args: &CheckArgs, cancel: Cancel) -> Result<ExitStatus, Fatal> {
    let selection = selection(args)?;
    let mut targets = if args.users.is_empty() && args.from.is_none() {
        None
    } else {
        Some(Targets::open(&args.users, args.from.as_deref()).await?)
    };
    let session = connect(global, Access::ReadOnly).await?;
    let started = std::time::Instant::now();
    let format = global.output;
    let mut print = |line: Line| print_line(format, &line);
    let summary = preflight(
        &session.client,
        RunCx::new(session.token_kind)
            .options(args.steps.clone())
            .cloud(global.cloud),
        &selection,
        targets.as_mut(),
        &cancel,
        &mut print,
        None,
    )
    .await?;
    eprintln!("{}", summary.text("check", started.elapsed()));
    Ok(summary.exit_status(&cancel))
}

/// The steps `check` judges: `--skip`, `--with` and `--incident`, as `block` takes them.
fn selection(args: &CheckArgs) -> Result<Selection, Fatal> {
    let selection = Selection::new(&args.skip, &args.with, &[]).map_err(Fatal::usage)?;
    Ok(if args.incident {
        selection.incident()
    } else {
        selection
    })
}

/// One line of `check`'s output.
pub enum Line {
    Caller(Box<CallerLine>),
    Target(Box<TargetLine>),
}

impl Line {
    pub fn to_json_line(&self) -> String {
        match self {
            Line::Caller(c) => c.to_json_line(),
            Line::Target(t) => t.to_json_line(),
        }
    }

    pub fn to_text(&self) -> String {
        match self {
            Line::Caller(c) => c.to_text(),
            Line::Target(t) => t.to_text(),
        }
    }

    /// Whether this line says some step is expected to fail.
    pub fn fails(&self) -> bool {
        match self {
            Line::Caller(c) => c.fails(),
            Line::Target(t) => !t.outcome.is_expected_to_work(),
        }
    }
}

/// Print one line to stdout; a closed pipe is not worth a panic.
pub fn print_line(format: OutputFormat, line: &Line) {
    let mut out = std::io::stdout().lock();
    let _ = match format {
        OutputFormat::Json => writeln!(out, "{}", line.to_json_line()),
        OutputFormat::Text => write!(out, "{}", line.to_text()),
    };
    let _ = out.flush();
}

/// What a check found, for the exit status and the closing line.
#[derive(Debug, Default)]
pub struct Summary {
    /// Some step is expected to fail whatever the target (or the self-lock guard would refuse
    /// every target).
    pub caller_fails: bool,
    pub ok: usize,
    pub will_fail: usize,
    pub unknown: usize,
    pub not_found: usize,
    pub failed: usize,
}

impl Summary {
    fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Ok => self.ok += 1,
            Outcome::WillFail => self.will_fail += 1,
            Outcome::Unknown => self.unknown += 1,
            Outcome::NotFound => self.not_found += 1,
            Outcome::Failed => self.failed += 1,
        }
    }

    /// Some step is expected to fail for some target (or for every one).
    pub fn fails(&self) -> bool {
        self.caller_fails || self.will_fail + self.not_found + self.failed > 0
    }

    pub fn exit_status(&self, cancel: &Cancel) -> ExitStatus {
        if cancel.is_cancelled() {
            ExitStatus::Interrupted
        } else if self.fails() {
            ExitStatus::Failure
        } else {
            ExitStatus::Success
        }
    }

    /// `check: 2 user(s): 1 ok, 1 will fail (0.1s)`, `label` first.
    pub fn text(&self, label: &str, elapsed: std::time::Duration) -> String {
        let users = self.ok + self.will_fail + self.unknown + self.not_found + self.failed;
        let mut parts = vec![
            format!("{} ok", self.ok),
            format!("{} will fail", self.will_fail),
        ];
        for (n, what) in [
            (self.unknown, "unknown"),
            (self.not_found, "not found"),
            (self.failed, "failed"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        let caller = if self.caller_fails {
            "some steps are expected to fail for every user; "
        } else {
            ""
        };
        format!(
            "{label}: {caller}{users} user(s): {} ({:.1}s)",
            parts.join(", "),
            elapsed.as_secs_f64()
        )
    }
}

/// A step chosen for the run, with what it needs and the caller's verdict on it.
struct Chosen {
    step: &'static dyn Step,
    reqs: Vec<Requirement>,
    verdict: Verdict,
}

/// The check `lockdown check` runs and `block --preflight` runs before writing: the caller,
/// then every target from `targets` (none: the caller only), each line handed to `emit` as it
/// is ready. With `keep`, every entry read from `targets` is kept there, in order, for the run
/// that follows.
pub async fn preflight(
    client: &Arc<GraphClient>,
    run: RunCx,
    selection: &Selection,
    targets: Option<&mut Targets>,
    cancel: &Cancel,
    emit: &mut dyn FnMut(Line),
    mut keep: Option<&mut Vec<Next>>,
) -> Result<Summary, Fatal> {
    let caller = read_caller(client).await?;
    // What steps read once per run (the block group), read now: their requirements and the
    // caller's line depend on it.
    for s in REGISTRY
        .iter()
        .filter(|s| selection.of(**s) == Some(Selected::Yes))
    {
        s.prime(client, &run).await;
    }
    let chosen: Vec<Chosen> = REGISTRY
        .iter()
        .filter(|s| selection.of(**s) == Some(Selected::Yes))
        .map(|s| {
            let reqs = s.requires(&run);
            let mut verdict = Verdict::default();
            for r in &reqs {
                verdict.merge(&caller.evaluate(r));
            }
            Chosen {
                step: *s,
                reqs,
                verdict,
            }
        })
        .collect();
    let step_lines: Vec<StepLine> = chosen
        .iter()
        .map(|c| StepLine::new(c.step.name(), &c.reqs, &c.verdict))
        .collect();
    let watch_reqs = crate::watch::requires(caller.kind());
    let mut watch_verdict = Verdict::default();
    for r in &watch_reqs {
        watch_verdict.merge(&caller.evaluate(r));
    }
    let mut caller_line = CallerLine::new(
        &caller,
        step_lines,
        StepLine::new("watch", &watch_reqs, &watch_verdict),
    );
    for c in &chosen {
        c.step
            .tenant_facts(&run, &mut caller_line.tenant, &mut caller_line.notes);
    }
    let guard_fails = matches!(caller.me, Some(Err(_)));
    if guard_fails {
        caller_line.notes.push(
            "the signed-in account could not be read: `block` refuses every target, because its guard against locking the account running it cannot tell who that is (pass --force to go on without it)"
                .into(),
        );
    }
    let mut summary = Summary {
        caller_fails: caller_line.fails() || guard_fails,
        ..Summary::default()
    };
    emit(Line::Caller(Box::new(caller_line)));
    let Some(targets) = targets else {
        return Ok(summary);
    };

    let checker = Arc::new(Checker {
        client: client.clone(),
        caller,
        run,
        chosen,
        resolved: std::sync::Mutex::new(HashSet::new()),
    });
    let mut in_flight = FuturesUnordered::new();
    let mut input_done = false;
    let mut unauthorized = false;
    loop {
        let halted = cancel.is_cancelled() || unauthorized;
        let can_take = !input_done && !halted && in_flight.len() < CONCURRENCY;
        if in_flight.is_empty() && (input_done || halted) {
            break;
        }
        tokio::select! {
            biased;
            Some(result) = in_flight.next(), if !in_flight.is_empty() => {
                match result {
                    Ok(Some(line)) => {
                        let line: TargetLine = line;
                        summary.add(line.outcome);
                        emit(Line::Target(Box::new(line)));
                    }
                    Ok(None) => {}
                    Err(()) => unauthorized = true,
                }
            }
            _ = cancel.cancelled(), if !halted => {}
            next = targets.next(), if can_take => match next {
                Err(fatal) => {
                    eprintln!("{}", fatal.render());
                    summary.failed += 1;
                    input_done = true;
                }
                Ok(None) => input_done = true,
                Ok(Some(next)) => {
                    if let Some(keep) = keep.as_deref_mut() {
                        keep.push(clone_next(&next));
                    }
                    match next {
                        Next::Rejected(r) => {
                            let mut line = TargetLine::new(&r.raw);
                            line.outcome = Outcome::Failed;
                            line.reason = Some(match r.line {
                                Some(n) => format!("line {n}: {}", r.reason),
                                None => r.reason.clone(),
                            });
                            summary.add(line.outcome);
                            emit(Line::Target(Box::new(line)));
                        }
                        Next::Job(job) => {
                            let checker = checker.clone();
                            in_flight.push(async move { checker.target(job).await });
                        }
                    }
                }
            },
        }
    }
    if unauthorized {
        return Err(Fatal::auth(
            "Graph rejected the token (401), or it expired, during the check",
            Some("get a fresh token and run the check again".into()),
        ));
    }
    Ok(summary)
}

fn clone_next(next: &Next) -> Next {
    match next {
        Next::Job(j) => Next::Job(j.clone()),
        Next::Rejected(r) => Next::Rejected(r.clone()),
    }
}

/// What every target of a check shares.
struct Checker {
    client: Arc<GraphClient>,
    caller: Caller,
    run: RunCx,
    chosen: Vec<Chosen>,
    /// Accounts already checked (the same account by UPN and by id is checked once).
    resolved: std::sync::Mutex<HashSet<String>>,
}

const USER: &str = "user";
const ROLES: &str = "roles";

impl Checker {
    /// One target's line; `None` for the same account as an earlier entry; `Err` when Graph
    /// rejected the token.
    async fn target(&self, job: Job) -> Result<Option<TargetLine>, ()> {
        let who = job.user.to_string();
        let mut line = TargetLine::new(&job.raw);
        // The first read a real run sends: the user, its roles, and each chosen step's reads.
        let mut reads: Vec<(Option<usize>, Read)> = vec![
            (None, Read::one(USER, users::get(&who))),
            (None, Read::paged(ROLES, roles::list(&who))),
        ];
        for (n, c) in self.chosen.iter().enumerate() {
            for read in c.step.reads(&who, &self.run) {
                reads.push((Some(n), read));
            }
        }
        let rejected = std::cell::Cell::new(false);
        let mut answers = crate::engine::read_stage(&self.client, &job.raw, reads, |e| {
            if e.is_unauthorized() || e.is_token_expired() {
                rejected.set(true);
            }
        })
        .await;
        if rejected.get() {
            return Err(());
        }
        for (n, c) in self.chosen.iter().enumerate() {
            c.step
                .once_per_run(&self.run, answers.entry(Some(n)).or_default())
                .await;
        }
        let mut own = answers.remove(&None).unwrap_or_default();
        let user = match crate::engine::read_user(own.take(USER)) {
            Ok(u) => u,
            Err(unread) => {
                line.outcome = match unread.outcome {
                    crate::report::Outcome::NotFound => Outcome::NotFound,
                    _ => Outcome::Failed,
                };
                line.reason = Some(format!("{}: every step would fail", unread.reason));
                line.error = Some(unread.error);
                return Ok(Some(line));
            }
        };
        if !self
            .resolved
            .lock()
            .unwrap()
            .insert(user.id.0.to_ascii_lowercase())
        {
            tracing::info!(
                "{}: the same account as another entry (by UPN and by id); checking it once",
                job.raw
            );
            return Ok(None);
        }
        let admin_roles: Option<Vec<String>> = own.take(ROLES).and_then(|r| roles::names(&r)).ok();
        line.exists = true;
        line.id = Some(user.id.0.clone());
        line.user_principal_name = user.user_principal_name.clone();
        line.display_name = user.display_name.clone();
        line.account_enabled = user.account_enabled;
        line.guest = user.user_type.as_ref().map(|_| user.is_guest());
        line.on_premises_sync_enabled = Some(user.is_synced());
        line.admin_roles = Some(admin_roles.clone());
        let target = Target {
            run: &self.run,
            user: &user,
            admin_roles: admin_roles.as_deref(),
            caller: &self.caller,
        };
        for (n, c) in self.chosen.iter().enumerate() {
            let reads = answers.remove(&Some(n)).unwrap_or_default();
            let findings = c.step.expect(&target, reads, &mut line.facts);
            let verdict = verdict_for_target(&c.verdict, &findings);
            line.steps
                .push(StepLine::new(c.step.name(), &c.reqs, &verdict));
        }
        line.settle();
        Ok(Some(line))
    }
}

/// Who is calling, and what Graph says it may do. Nothing here stops the check but a token
/// Graph rejects: what cannot be read is said, and judged by the token's claims instead.
async fn read_caller(client: &GraphClient) -> Result<Caller, Fatal> {
    let token = client
        .token()
        .await
        .map_err(|e| Fatal::auth(e.to_string(), None))?;
    let claims = auth::token_claims(&token);
    drop(token);
    let mut caller = Caller::from_claims(claims);
    match caller.kind() {
        TokenKind::Delegated => {
            caller.me = Some(
                get::<Me>(client, &users::me(), "signed-in account")
                    .await?
                    .map_err(|e| report(&e, None)),
            );
            caller.directory_roles = Some(
                match paging::collect_all::<roles::DirectoryRole>(
                    client,
                    roles::mine(),
                    "caller: directory roles",
                )
                .await
                {
                    Ok(roles) => Ok(roles.into_iter().map(roles::DirectoryRole::name).collect()),
                    Err(e) => {
                        fatal_if_unauthorized(&e)?;
                        Err(report(
                            &e,
                            hints::hint("reading the signed-in user's roles needs User.Read; lockdown judges them by the token's wids claim instead, where it has one"),
                        ))
                    }
                },
            );
        }
        TokenKind::AppOnly => {
            let read_hint = || {
                hints::hint("reading the app's own permissions needs Application.Read.All (or Directory.Read.All); lockdown judges them by the token's roles claim instead")
            };
            match caller.claims.app_id.clone() {
                None => {
                    caller.service_principal = Some(Err(ErrorReport {
                        status: None,
                        code: "noAppId".into(),
                        message: "the token names no application (appid or azp claim)".into(),
                        request_id: None,
                        hint: None,
                    }))
                }
                Some(app_id) => {
                    match get::<service_principals::ServicePrincipal>(
                        client,
                        &service_principals::get_by_app_id(&app_id),
                        "caller: service principal",
                    )
                    .await?
                    {
                        Err(e) => {
                            let e = report(&e, read_hint());
                            caller.service_principal = Some(Err(e.clone()));
                            caller.assignments = Some(Err(e));
                        }
                        Ok(sp) => {
                            caller.service_principal = Some(Ok(sp.id.clone()));
                            caller.assignments = Some(
                                assignments(client, &sp.id)
                                    .await?
                                    .map_err(|e| report(&e, read_hint())),
                            );
                        }
                    }
                }
            }
        }
        TokenKind::Unknown => {}
    }
    caller.plans = Some(
        match paging::collect_all::<subscribed_skus::SubscribedSku>(
            client,
            subscribed_skus::list(),
            "caller: licences",
        )
        .await
        {
            Ok(skus) => Ok(subscribed_skus::active_plans(&skus)),
            Err(e) => {
                fatal_if_unauthorized(&e)?;
                Err(report(
                    &e,
                    hints::hint("reading the tenant's licences (GET /subscribedSkus) needs Organization.Read.All (or Directory.Read.All)"),
                ))
            }
        },
    );
    Ok(caller)
}

/// The Microsoft Graph permissions granted to the service principal `id`.
async fn assignments(
    client: &GraphClient,
    id: &str,
) -> Result<Result<Vec<String>, GraphError>, Fatal> {
    let list = match paging::collect_all::<service_principals::AppRoleAssignment>(
        client,
        service_principals::app_role_assignments(id),
        "caller: app role assignments",
    )
    .await
    {
        Ok(list) => list,
        Err(e) => {
            fatal_if_unauthorized(&e)?;
            return Ok(Err(e));
        }
    };
    let graph = match get::<service_principals::ServicePrincipal>(
        client,
        &service_principals::graph(),
        "caller: Microsoft Graph's permissions",
    )
    .await?
    {
        Ok(g) => g,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(service_principals::graph_permissions(&graph, &list)))
}

/// One GET decoded; a token Graph rejects ends the check (exit 3).
async fn get<T: serde::de::DeserializeOwned>(
    client: &GraphClient,
    req: &GraphRequest,
    label: &str,
) -> Result<Result<T, GraphError>, Fatal> {
    match client.get_json::<T>(req, label).await {
        Ok(v) => Ok(Ok(v)),
        Err(e) => {
            fatal_if_unauthorized(&e)?;
            Ok(Err(e))
        }
    }
}

fn fatal_if_unauthorized(e: &GraphError) -> Result<(), Fatal> {
    if e.is_unauthorized() || e.is_token_expired() {
        return Err(Fatal::auth(
            format!("Graph rejected the token: {e}"),
            hints::common(e).map(|h| h.0),
        ));
    }
    Ok(())
}

fn report(e: &GraphError, hint: Option<Hint>) -> ErrorReport {
    let hint = if e.status() == Some(403) {
        hint
    } else {
        hints::common(e).or(hint)
    };
    ErrorReport::from_graph(e, hint)
}

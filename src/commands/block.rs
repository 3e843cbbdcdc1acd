//! `lockdown block`: resolve each user, then run the step registry on it (disable the account,
//! revoke sign-in sessions, reset the password, disable registered devices, any opt-in steps,
//! verify). The steps live in `crate::steps`, the loop in `crate::engine`; this module turns
//! flags into a selection, asks for confirmation, and connects.

use std::sync::Arc;

use std::sync::Mutex;

use time::OffsetDateTime;

use super::{check, connect, watch, Access, ExitStatus, Fatal, Session, Targets};
use crate::cli::{BlockArgs, Global};
use crate::engine::{Engine, Mode, Setup};
use crate::output::Printer;
use crate::report::{Outcome, UserReport};
use crate::signal::Cancel;
use crate::steps::{RunCx, Selection, REGISTRY};
use crate::watch::Watched;

/// The steps this run takes, from `--skip`, `--with` and the per-step flags.
pub fn selection(args: &BlockArgs) -> Result<Selection, Fatal> {
    let mut selection =
        Selection::new(&args.skip, &args.with, &args.skip_flags.given()).map_err(Fatal::usage)?;
    if args.incident {
        selection = selection.incident();
    }
    if !selection.contains() {
        let contain: Vec<String> = REGISTRY
            .iter()
            .filter(|s| s.about().stops_sign_in)
            .map(|s| s.about().label())
            .collect();
        return Err(
            Fatal::usage("nothing selected would stop this account signing in").with_hint(
                format!(
                    "the steps that stop sign-in are {}: let --skip or --keep-enabled leave out some of them, not all",
                    contain.join(", ")
                ),
            ),
        );
    }
    args.steps.check(&selection).map_err(Fatal::usage)?;
    Ok(selection)
}

pub async fn run(global: &Global, args: &BlockArgs, cancel: Cancel) -> Result<ExitStatus, Fatal> {
    let selection = selection(args)?;
    let mut targets = Targets::open(&args.users, args.from.as_deref()).await?;
    // Before `--preflight` connects: a run that could not be confirmed sends nothing.
    super::can_confirm(args.dry_run || args.yes, &targets)?;
    let access = if args.dry_run {
        Access::ReadOnly
    } else {
        Access::ReadWrite
    };
    // `--preflight` connects first: the check reads before anything is asked or written.
    let mut connected = None;
    if args.preflight {
        let session = connect(global, access).await?;
        match preflight(global, args, &selection, &session, &mut targets, &cancel).await? {
            Ok(checked) => targets = checked,
            Err(status) => return Ok(status),
        }
        connected = Some(session);
    }
    let intro = format!(
        "About to lock down these accounts: {}.",
        selection.actions().join(", ")
    );
    if !super::confirmed(args.yes || args.dry_run, &mut targets, &intro).await? {
        return Ok(ExitStatus::Failure);
    }
    let mut printer = Printer::new(global.output, args.report.as_deref())?;
    let mode = if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Block
    };
    let locked = args.watch.map(|_| collect_locked(&mut printer));
    let session = match connected {
        Some(session) => session,
        None => connect(global, access).await?,
    };
    let evidence = match &args.evidence {
        Some(out) => Some(
            super::evidence::collector(&session.client, out, args.evidence_days, &cancel).await?,
        ),
        None => None,
    };
    let engine = Arc::new(Engine::new(Setup {
        client: session.client.clone(),
        mode,
        selection,
        run: {
            let run = RunCx::new(session.token_kind)
                .options(args.steps.clone())
                .cloud(global.cloud);
            if mode == Mode::Block {
                // A run known (without waiting for more input) to have a single user may send
                // everything in that user's chain.
                let (waiting, all) = targets.waiting();
                run.sending(session.client.clone(), all && waiting <= 1)
            } else {
                run
            }
        },
        protect: args.protect.clone(),
        force: args.force,
        cancel: cancel.clone(),
        evidence,
    }));
    let status = engine
        .run(
            &mut targets,
            &mut printer,
            args.concurrency.concurrency as usize,
        )
        .await?;
    let (Some(duration), Some(locked)) = (args.watch, locked) else {
        return Ok(status);
    };
    if cancel.is_cancelled() {
        return Ok(status);
    }
    let locked = std::mem::take(&mut *locked.lock().unwrap_or_else(|e| e.into_inner()));
    if locked.is_empty() {
        eprintln!("watch: no user was locked, so there is nothing to watch");
        return Ok(status);
    }
    let mut users = Vec::with_capacity(locked.len());
    for (user, note) in locked {
        if let Some(note) = note {
            eprintln!("note: {note}");
        }
        users.push(user);
    }
    let opts = watch::Options {
        duration,
        interval: watch::DEFAULT_INTERVAL,
    };
    let watched = watch::watch(&session.client, users, opts, global.output, &cancel).await?;
    Ok(worse(status, watched))
}

/// The users `block` locked (outcome `locked` or `partial`), as `--from-report` would read them
/// from its report lines: each from its revoke time as Graph recorded it.
type Locked = Arc<Mutex<Vec<(Watched, Option<String>)>>>;

fn collect_locked(printer: &mut Printer) -> Locked {
    let locked: Locked = Arc::default();
    let sink = locked.clone();
    printer.tee(Box::new(move |report: &UserReport| {
        if !matches!(report.outcome, Outcome::Locked | Outcome::Partial) {
            return;
        }
        let Ok(line) = serde_json::to_value(report).and_then(serde_json::from_value) else {
            return;
        };
        if let Some(found) = crate::watch::from_report_line(&line, OffsetDateTime::now_utc()) {
            sink.lock().unwrap_or_else(|e| e.into_inner()).push(found);
        }
    }));
    locked
}

/// The exit status of a run and the watch after it: Ctrl-C first, then a failure of either.
fn worse(a: ExitStatus, b: ExitStatus) -> ExitStatus {
    if a == ExitStatus::Interrupted || b == ExitStatus::Interrupted {
        ExitStatus::Interrupted
    } else if a != ExitStatus::Success {
        a
    } else {
        b
    }
}

/// `--preflight`: the check `lockdown check` runs, on the same users and steps, before
/// anything is asked or written. When a step is expected to fail (and not `--force`) its lines
/// are printed as `check` prints them and the run ends (exit 1) having written nothing.
/// Otherwise the users it read are handed back, in order, for the run.
async fn preflight(
    global: &Global,
    args: &BlockArgs,
    selection: &Selection,
    session: &Session,
    targets: &mut Targets,
    cancel: &Cancel,
) -> Result<Result<Targets, ExitStatus>, Fatal> {
    let started = std::time::Instant::now();
    let mut held = Printer::holding(global.output);
    let engine = Arc::new(Engine::new(Setup {
        client: session.client.clone(),
        mode: Mode::Check,
        selection: selection.clone(),
        run: RunCx::new(session.token_kind)
            .options(args.steps.clone())
            .cloud(global.cloud),
        protect: Vec::new(),
        force: false,
        cancel: cancel.clone(),
        evidence: None,
    }));
    targets.keep();
    let summary = engine
        .check(Some(targets), &mut held, check::CONCURRENCY)
        .await?;
    let kept = targets.kept();
    let lines = held.held();
    eprintln!("{}", summary.text("preflight", started.elapsed()));
    if cancel.is_cancelled() {
        eprintln!("interrupted during the preflight; nothing was written");
        return Ok(Err(ExitStatus::Interrupted));
    }
    if !summary.fails() {
        return Ok(Ok(Targets::replay(kept)));
    }
    if !args.force {
        for line in &lines {
            crate::output::print_check_line(global.output, line);
        }
        eprintln!(
            "preflight: some steps are expected to fail (see above); nothing was written (fix what is missing, or pass --force to go on anyway)"
        );
        return Ok(Err(ExitStatus::Failure));
    }
    eprintln!("preflight: some steps are expected to fail; going on because of --force:");
    for line in &lines {
        if line.fails() {
            eprint!("{}", line.to_text());
        }
    }
    Ok(Ok(Targets::replay(kept)))
}

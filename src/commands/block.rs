//! `lockdown block`: resolve each user, then run the step registry on it (disable the account,
//! revoke sign-in sessions, reset the password, disable registered devices, any opt-in steps,
//! verify). The steps live in `crate::steps`, the loop in `crate::engine`; this module turns
//! flags into a selection, asks for confirmation, and connects.

use std::io::Write;
use std::sync::Arc;

use super::{connect, stdin_is_terminal, Access, ExitStatus, Fatal, Targets};
use crate::cli::{BlockArgs, GlobalArgs};
use crate::engine::{Engine, Mode, Setup};
use crate::output::Printer;
use crate::signal::Cancel;
use crate::steps::{RunCx, Selection};

/// The steps this run takes, from `--skip`, `--with` and the per-step flags.
pub fn selection(args: &BlockArgs) -> Result<Selection, Fatal> {
    let mut flag_skips: Vec<(&str, &str)> = Vec::new();
    for (on, step, flag) in [
        (args.keep_enabled, "disable_account", "--keep-enabled"),
        (args.skip_sessions, "revoke_sessions", "--skip-sessions"),
        (args.skip_password, "reset_password", "--skip-password"),
        (args.skip_devices, "disable_devices", "--skip-devices"),
    ] {
        if on {
            flag_skips.push((step, flag));
        }
    }
    let mut selection =
        Selection::new(&args.skip, &args.with, &flag_skips).map_err(Fatal::usage)?;
    if args.incident {
        selection = selection.incident();
    }
    if args.inbox_rules.is_some() && !selection.runs("disable_inbox_rules") {
        return Err(Fatal::usage(
            "--inbox-rules chooses the rules the inbox-rules step disables: add --with inbox-rules or --incident",
        ));
    }
    Ok(selection)
}

pub async fn run(
    global: &GlobalArgs,
    args: &BlockArgs,
    cancel: Cancel,
) -> Result<ExitStatus, Fatal> {
    let selection = selection(args)?;
    let mut targets = Targets::open(&args.users, args.from.as_deref()).await?;
    if !args.dry_run && !args.yes {
        if targets.reads_stdin() || !stdin_is_terminal() {
            return Err(Fatal::usage(
                "refusing to change accounts without confirmation: there is no terminal to ask on",
            )
            .with_hint("pass --yes to confirm, or --dry-run to see what would be sent"));
        }
        let (first, more) = targets.peek_jobs(10).await?;
        if !confirm(&first, more, &selection.actions())? {
            eprintln!("aborted; nothing was changed");
            return Ok(ExitStatus::Failure);
        }
    }
    let mut printer = Printer::new(global.output, args.report.as_deref())?;
    let (mode, access) = if args.dry_run {
        (Mode::DryRun, Access::ReadOnly)
    } else {
        (Mode::Block, Access::ReadWrite)
    };
    let session = connect(global, access).await?;
    let engine = Arc::new(Engine::new(Setup {
        client: session.client.clone(),
        mode,
        selection,
        run: {
            let run =
                RunCx::new(session.token_kind).inbox_rules(args.inbox_rules.unwrap_or_default());
            if mode == Mode::Block {
                run.sending(session.client.clone())
            } else {
                run
            }
        },
        protect: args.protect.clone(),
        force: args.force,
        cancel,
    }));
    engine
        .run(&mut targets, &mut printer, args.concurrency as usize)
        .await
}

fn confirm(first: &[String], more: bool, actions: &[&str]) -> Result<bool, Fatal> {
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
        .map_err(|e| Fatal::caused(ExitStatus::Usage, "could not read the answer", e))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

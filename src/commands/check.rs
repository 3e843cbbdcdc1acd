//! `lockdown check`: read-only. Before any write, say which steps are expected to fail and
//! why: first the caller (the token's kind, tenant, app or signed-in user, its permissions as
//! the token states them and as Graph grants them, its directory roles, the tenant's
//! licences) and each chosen step's verdict; then, for each target, what was read about it and
//! each step's verdict for it. The same engine as `block` in its check mode
//! (`crate::engine::Mode::Check`); `block --preflight` runs it too. No step is named here.

use std::sync::Arc;

use super::{connect, Access, ExitStatus, Fatal, Targets};
use crate::cli::{CheckArgs, Global};
use crate::engine::{Engine, Mode, Setup};
use crate::output::Printer;
use crate::signal::Cancel;
use crate::steps::{RunCx, Selection};

/// Users read at once: `check` sends only GETs, a handful per user.
pub const CONCURRENCY: usize = 8;

pub async fn run(global: &Global, args: &CheckArgs, cancel: Cancel) -> Result<ExitStatus, Fatal> {
    let selection = selection(args)?;
    let mut targets = if args.users.is_empty() && args.from.is_none() {
        None
    } else {
        Some(Targets::open(&args.users, args.from.as_deref()).await?)
    };
    let session = connect(global, Access::ReadOnly).await?;
    let started = std::time::Instant::now();
    let mut printer = Printer::new(global.output, None)?;
    let engine = Arc::new(Engine::new(Setup {
        client: session.client.clone(),
        mode: Mode::Check,
        selection,
        run: RunCx::new(session.token_kind)
            .options(args.steps.clone())
            .cloud(global.cloud),
        protect: Vec::new(),
        force: false,
        cancel: cancel.clone(),
        evidence: None,
    }));
    let summary = engine
        .check(targets.as_mut(), &mut printer, CONCURRENCY)
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

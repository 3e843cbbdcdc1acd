//! `lockdown status`: read-only. The same engine as `block` in its status mode: each step shows
//! the facts it reads and what `block` would do, streamed through the same printer.

use std::sync::Arc;

use super::{connect, Access, ExitStatus, Fatal, Targets};
use crate::cli::{Global, StatusArgs};
use crate::engine::{Engine, Mode, Setup};
use crate::output::Printer;
use crate::signal::Cancel;
use crate::steps::{RunCx, Selection};

/// Users read at once; `status` sends only GETs, one small batch of them per user.
const CONCURRENCY: usize = 8;

pub async fn run(global: &Global, args: &StatusArgs, cancel: Cancel) -> Result<ExitStatus, Fatal> {
    let mut selection = Selection::new(&[], &args.with, &[]).map_err(Fatal::usage)?;
    if args.incident {
        selection = selection.incident();
    }
    let mut targets = Targets::open(&args.users, args.from.as_deref()).await?;
    let mut printer = Printer::new(global.output, args.report.as_deref())?;
    let session = connect(global, Access::ReadOnly).await?;
    let engine = Arc::new(Engine::new(Setup {
        client: session.client.clone(),
        mode: Mode::Status,
        selection,
        run: RunCx::new(session.token_kind)
            .options(args.steps.clone())
            .cloud(global.cloud)
            .for_status(),
        protect: Vec::new(),
        force: false,
        cancel,
        evidence: None,
    }));
    engine.run(&mut targets, &mut printer, CONCURRENCY).await
}

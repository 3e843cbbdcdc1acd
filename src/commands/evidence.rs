//! `lockdown evidence`: read-only. The engine in its evidence mode: each user is read once, then
//! its sign-ins, directory audits, methods, inbox rules, consents, devices, memberships and
//! owned apps are saved under `--out DIR/<run id>/<upn>/` with a SHA-256 manifest. It sends GET
//! requests only (no `$batch`), so that the tenant's own audit shows a read-only run.

use std::sync::Arc;

use super::{connect, Access, ExitStatus, Fatal, Targets};
use crate::cli::{EvidenceArgs, Global};
use crate::engine::{Engine, Mode, Setup};
use crate::evidence::Collector;
use crate::output::Printer;
use crate::signal::Cancel;
use crate::steps::{RunCx, Selection};

/// Users read at once; their logs share the identity and access reports limit anyway.
const CONCURRENCY: usize = 8;

pub async fn run(
    global: &Global,
    args: &EvidenceArgs,
    cancel: Cancel,
) -> Result<ExitStatus, Fatal> {
    let mut targets = Targets::open(&args.users, args.from.as_deref()).await?;
    let mut printer = Printer::new(global.output, args.report.as_deref())?;
    let session = connect(global, Access::ReadOnly).await?;
    let collector = collector(&session.client, &args.out, args.evidence_days, &cancel).await?;
    let engine = Arc::new(Engine::new(Setup {
        client: session.client.clone(),
        mode: Mode::Evidence,
        selection: Selection::default(),
        run: RunCx::new(session.token_kind).for_status(),
        protect: Vec::new(),
        force: false,
        cancel,
        evidence: Some(collector),
    }));
    engine.run(&mut targets, &mut printer, CONCURRENCY).await
}

/// The run's collector, its folder said on stderr; a folder that cannot be made is a usage
/// error (exit 2, as an unwritable `--report` is) before anything is read or written.
pub async fn collector(
    client: &Arc<crate::graph::GraphClient>,
    out: &std::path::Path,
    days: u32,
    cancel: &Cancel,
) -> Result<Arc<Collector>, Fatal> {
    let collector = Collector::new(client.clone(), out, days, cancel.clone())
        .await
        .map_err(|e| {
            Fatal::usage(format!("cannot save evidence: {e}; nothing was sent"))
                .with_hint("choose a folder you can write to with --out / --evidence")
        })?;
    eprintln!(
        "evidence: saving to {} ({days} day(s) of sign-ins and audits)",
        collector.dir().display()
    );
    Ok(collector)
}

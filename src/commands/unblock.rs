//! `lockdown unblock`: undo a lockdown from its report. Each step's undo lives in its module
//! (`crate::steps`); this module reads the report, says what cannot be undone and what deserves
//! a warning, asks for confirmation and runs the engine in its unblock mode.

use std::io::BufRead;
use std::sync::Arc;

use super::{connect, Access, ExitStatus, Fatal, Job, Next, Rejected, Targets};
use crate::address::UserRef;
use crate::cli::{Global, UnblockArgs};
use crate::engine::{Engine, Mode, Setup};
use crate::output::Printer;
use crate::signal::Cancel;
use crate::steps::{units, Record, RunCx, Selection};

pub async fn run(global: &Global, args: &UnblockArgs, cancel: Cancel) -> Result<ExitStatus, Fatal> {
    let mut targets = match &args.from_report {
        Some(path) => from_report(path, &args.only)?,
        None => Targets::open(&args.users, None).await.map_err(|f| {
            f.with_hint("name users to re-enable, or pass --from-report FILE to undo a block")
        })?,
    };
    let mut actions = vec!["re-enable what lockdown disabled and the user still owns"];
    if args.tap.is_some() {
        actions.push("issue a Temporary Access Pass");
    }
    let intro = format!(
        "About to undo the lockdown of these accounts: {}.",
        actions.join(", ")
    );
    if !super::confirmed(args.yes || args.dry_run, &mut targets, &intro).await? {
        return Ok(ExitStatus::Failure);
    }
    let mut printer = Printer::new(global.output, args.report.as_deref())?;
    let access = if args.dry_run {
        Access::ReadOnly
    } else {
        Access::ReadWrite
    };
    let session = connect(global, access).await?;
    let mut run = RunCx::new(session.token_kind);
    run.force = args.force;
    run.tap_minutes = args.tap;
    let engine = Arc::new(Engine::new(Setup {
        client: session.client.clone(),
        mode: Mode::Unblock {
            dry_run: args.dry_run,
        },
        selection: Selection::default(),
        run,
        protect: Vec::new(),
        force: args.force,
        cancel,
        evidence: None,
    }));
    engine
        .run(
            &mut targets,
            &mut printer,
            args.concurrency.concurrency as usize,
        )
        .await
}

/// How many lines that are not report lines a refused file shows.
const SHOWN_BAD_LINES: usize = 3;

/// The users of a `block` report that have something to undo, each with its line. A line that
/// is not a report line is reported with its number; the others still run.
fn from_report(path: &std::path::Path, only: &[String]) -> Result<Targets, Fatal> {
    let source = path.display().to_string();
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let file = std::fs::File::open(path)
            .map_err(|e| Fatal::caused(ExitStatus::Usage, format!("cannot read `{source}`"), e))?;
        Box::new(std::io::BufReader::new(file))
    };
    let wanted: Vec<String> = only.iter().map(|u| u.trim().to_ascii_lowercase()).collect();
    let mut entries = Vec::new();
    let mut report_lines = 0usize;
    // The first lines that are not report lines, with their numbers, for a file that has none.
    let mut bad: Vec<(usize, String)> = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line
            .map_err(|e| Fatal::caused(ExitStatus::Usage, format!("cannot read `{source}`"), e))?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let parsed = match serde_json::from_str::<Record>(line) {
            // Every line `block` writes has an outcome; other JSON with a `target` does not.
            Ok(r) if !r.outcome.is_empty() => Ok(r),
            Ok(_) => Err("it has no `outcome`".to_owned()),
            Err(e) => Err(e.to_string()),
        };
        let record = match parsed {
            Ok(r) => r,
            Err(e) => {
                if bad.len() < SHOWN_BAD_LINES {
                    bad.push((n + 1, line.chars().take(100).collect()));
                }
                entries.push(Next::Rejected(Rejected {
                    raw: format!("{source}:{}", n + 1),
                    line: Some(n + 1),
                    reason: format!("not a line of a lockdown block report ({e})"),
                }));
                continue;
            }
        };
        report_lines += 1;
        // Only users lockdown reached and changed: the report says which steps were done.
        let Some(id) = record.id.clone() else {
            continue;
        };
        if !record.steps.iter().any(|s| s["status"] == "done") {
            continue;
        }
        let keys = [
            Some(id.to_ascii_lowercase()),
            record
                .user_principal_name
                .as_deref()
                .map(str::to_ascii_lowercase),
            Some(record.target.to_ascii_lowercase()),
        ];
        if !wanted.is_empty() && !wanted.iter().any(|w| keys.contains(&Some(w.clone()))) {
            continue;
        }
        let user = match UserRef::parse(&id) {
            Ok(u) => u,
            Err(e) => {
                entries.push(Next::Rejected(Rejected {
                    raw: id,
                    line: Some(n + 1),
                    reason: format!("the report's object id {e}"),
                }));
                continue;
            }
        };
        for undo in units().filter_map(|u| u.undo()) {
            if let Some(warning) = undo.undo_warning(&record) {
                eprintln!("warning: {}: {warning}", record.target);
            }
        }
        let raw = record
            .user_principal_name
            .clone()
            .unwrap_or_else(|| record.target.clone());
        entries.push(Next::Job(Job {
            raw,
            user,
            record: Some(Box::new(record)),
        }));
    }
    if report_lines == 0 {
        let mut message = format!(
            "`{source}` is not a lockdown block report (block -o json or --report writes one)"
        );
        if bad.is_empty() {
            message.push_str(": it is empty");
        }
        for (n, line) in &bad {
            message.push_str(&format!("\n  line {n}: {line}"));
        }
        return Err(Fatal::usage(message));
    }
    if !entries.iter().any(|e| matches!(e, Next::Job(_))) {
        let mut message = format!("`{source}` has no user with anything to undo");
        if !wanted.is_empty() {
            message.push_str(" among the users given with --user");
        }
        return Err(Fatal::usage(message));
    }
    Ok(Targets::replay(entries))
}

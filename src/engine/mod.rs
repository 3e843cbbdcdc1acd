//! The step engine: takes users from the input, runs each through the step registry
//! ([`crate::steps::REGISTRY`]) and streams each result to the printer as it finishes. `block`,
//! `block --dry-run` and `status` are the same loop in three modes; none of them names a step.
//!
//! A run stops starting new users when Ctrl-C is pressed, when Graph rejects the token (or it
//! expires), or when the `--report` file can no longer be written; users in flight finish (or
//! are cut short between rounds), and every user not finished still gets a line, `interrupted`,
//! with the reason.

mod me;
mod undo;
mod user;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::StreamExt;

pub use me::MeGuard;
pub(crate) use user::{read_stage, read_user};

use crate::error::{ExitStatus, Fatal};
use crate::evidence::{self, Collector};
use crate::graph::GraphClient;
use crate::output::Printer;
use crate::progress::Progress;
use crate::report::{EvidenceReport, Outcome, UserReport};
use crate::signal::Cancel;
use crate::steps::{RunCx, Selection};
use crate::targets::{Next, Rejected, Targets};

/// What the run does with each user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Read, write, verify.
    Block,
    /// Read, and show exactly which writes would be sent.
    DryRun,
    /// Read, and show the facts each step reads and what it would do.
    Status,
    /// Undo a lockdown from its report: each step's undo, then verify.
    Unblock { dry_run: bool },
    /// Read the user and save its evidence (`lockdown evidence`): GETs only, no step.
    Evidence,
}

/// Why a user was cut short.
#[derive(Debug, Clone)]
pub(crate) enum Stop {
    Interrupted(String),
    Unauthorized,
}

/// What every user of a run shares.
pub struct Engine {
    pub(crate) client: Arc<GraphClient>,
    pub(crate) mode: Mode,
    pub(crate) selection: Selection,
    pub(crate) run: RunCx,
    pub(crate) me: MeGuard,
    /// Lower-cased UPNs and ids never to lock (`--protect`).
    pub(crate) protect: Vec<String>,
    pub(crate) force: bool,
    /// Accounts already taken by another entry (the same account by UPN and by id).
    resolved: Mutex<HashSet<String>>,
    /// Set when Graph rejects the token or it expires: the run ends with exit 3.
    unauthorized: AtomicBool,
    /// The token expired (and cannot be renewed), rather than being rejected.
    expired: AtomicBool,
    /// Said once per run when roles cannot be read.
    roles_unreadable: AtomicBool,
    /// Set when no new user may start (the report file failed).
    halted: Mutex<Option<String>>,
    cancel: Cancel,
    /// `--evidence` / `lockdown evidence`: saves each user's evidence.
    pub(crate) evidence: Option<Arc<Collector>>,
    /// Evidence a finished user still waits for, by entry: the run collects it outside the
    /// concurrency window, so that it never holds back another user's containment.
    collecting: Mutex<HashMap<String, BoxFuture<'static, evidence::Outcome>>>,
}

/// How an engine is set up.
pub struct Setup {
    pub client: Arc<GraphClient>,
    pub mode: Mode,
    pub selection: Selection,
    pub run: RunCx,
    pub protect: Vec<String>,
    pub force: bool,
    pub cancel: Cancel,
    /// `--evidence`: where each user's evidence goes.
    pub evidence: Option<Arc<Collector>>,
}

impl Engine {
    pub fn new(setup: Setup) -> Engine {
        Engine {
            me: MeGuard::new(setup.run.token_kind),
            client: setup.client,
            mode: setup.mode,
            selection: setup.selection,
            run: setup.run,
            protect: setup
                .protect
                .iter()
                .map(|p| p.trim().to_ascii_lowercase())
                .filter(|p| !p.is_empty())
                .collect(),
            force: setup.force,
            resolved: Mutex::new(HashSet::new()),
            unauthorized: AtomicBool::new(false),
            expired: AtomicBool::new(false),
            roles_unreadable: AtomicBool::new(false),
            halted: Mutex::new(None),
            cancel: setup.cancel,
            evidence: setup.evidence,
            collecting: Mutex::new(HashMap::new()),
        }
    }

    /// Whether users in flight must stop before their next round of writes, and why.
    pub(crate) fn stopped(&self) -> Option<Stop> {
        if self.cancel.is_cancelled() {
            return Some(Stop::Interrupted("interrupted".into()));
        }
        if self.unauthorized.load(Ordering::Relaxed) {
            return Some(Stop::Unauthorized);
        }
        None
    }

    /// Why no new user may start, if none may.
    fn halt_reason(&self) -> Option<String> {
        if self.cancel.is_cancelled() {
            return Some("interrupted".into());
        }
        if self.expired.load(Ordering::Relaxed) {
            return Some("stopped: the access token expired".into());
        }
        if self.unauthorized.load(Ordering::Relaxed) {
            return Some("stopped: Graph rejected the token".into());
        }
        if let Some(e) = self.evidence.as_ref().and_then(|c| c.failure()) {
            return Some(format!("not started: {e},"));
        }
        self.halted.lock().unwrap().clone()
    }

    /// Run every user from `targets`, `concurrency` at a time, printing each as it finishes.
    pub async fn run(
        self: Arc<Self>,
        targets: &mut Targets,
        printer: &mut Printer,
        concurrency: usize,
    ) -> Result<ExitStatus, Fatal> {
        let started = Instant::now();
        let mut tally = Tally::default();
        let progress = Progress::new();
        // Entries started and not yet finished: what a stop leaves interrupted.
        let mut pending: HashSet<String> = HashSet::new();
        let mut in_flight: FuturesUnordered<BoxFuture<'static, (String, Option<UserReport>)>> =
            FuturesUnordered::new();
        // Users whose lockdown is done and whose evidence is being saved: not counted against
        // `concurrency`, their report lines wait for it.
        let mut collecting: FuturesUnordered<BoxFuture<'static, (String, evidence::Outcome)>> =
            FuturesUnordered::new();
        let mut awaiting: HashMap<String, UserReport> = HashMap::new();
        let mut input_done = false;
        let mut stopping = false;
        let mut grace: Option<tokio::time::Instant> = None;
        let cancel = self.cancel.clone();
        loop {
            let halted = stopping || self.halt_reason().is_some();
            let can_take = !input_done && !halted && in_flight.len() < concurrency;
            if in_flight.is_empty() && collecting.is_empty() && (input_done || halted) {
                break;
            }
            tokio::select! {
                biased;
                Some((target, report)) = in_flight.next(), if !in_flight.is_empty() => {
                    pending.remove(&target);
                    let collect = self.collecting.lock().unwrap().remove(&target);
                    if let (Some(report), Some(collect)) = (&report, collect) {
                        awaiting.insert(target.clone(), report.clone());
                        collecting.push(Box::pin(async move { (target, collect.await) }));
                        continue;
                    }
                    if let Some(report) = report {
                        tally.add(report.outcome);
                        progress.suspend(|| self.emit(printer, &report));
                    }
                    let (waiting, all) = targets.waiting();
                    progress.update(
                        &tally.counts(),
                        self.client.stats(),
                        self.client.pacing(),
                        (waiting + in_flight.len(), all || input_done),
                    );
                }
                Some((target, saved)) = collecting.next(), if !collecting.is_empty() => {
                    if let Some(mut report) = awaiting.remove(&target) {
                        with_evidence(&mut report, saved);
                        tally.add(report.outcome);
                        progress.suspend(|| self.emit(printer, &report));
                    }
                }
                _ = cancel.cancelled(), if !stopping => {
                    stopping = true;
                    // Let requests in flight finish or time out, a few seconds at most.
                    grace = Some(tokio::time::Instant::now() + Duration::from_secs(5));
                }
                _ = tokio::time::sleep_until(grace.unwrap_or_else(tokio::time::Instant::now)), if grace.is_some() => break,
                next = targets.next(), if can_take => match next {
                    Err(fatal) => {
                        eprintln!("{}", fatal.render());
                        tally.input_error = true;
                        input_done = true;
                    }
                    Ok(None) => input_done = true,
                    Ok(Some(Next::Rejected(r))) => {
                        let report = rejected_report(&r);
                        tally.add(report.outcome);
                        progress.suspend(|| self.emit(printer, &report));
                    }
                    Ok(Some(Next::Job(job))) => {
                        pending.insert(job.raw.clone());
                        let engine = self.clone();
                        in_flight.push(Box::pin(async move {
                            let target = job.raw.clone();
                            (target, engine.user(job).await)
                        }));
                    }
                },
            }
        }
        drop(in_flight);
        drop(collecting);
        progress.finish();
        // Users stopped while their evidence was being saved: their lockdown stands.
        let mut unsaved: Vec<(String, UserReport)> = awaiting.into_iter().collect();
        unsaved.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, mut report) in unsaved {
            with_evidence(&mut report, evidence::Outcome::Interrupted);
            tally.add(report.outcome);
            self.emit(printer, &report);
        }
        if let Some(reason) = self.halt_reason() {
            // Users cut off mid-way, then users never reached, in input order: each gets a line.
            let mut left: Vec<String> = pending.into_iter().collect();
            left.sort();
            while let Ok(Some(next)) = targets.next().await {
                match next {
                    Next::Job(job) => left.push(job.raw),
                    Next::Rejected(r) => {
                        let report = rejected_report(&r);
                        tally.add(report.outcome);
                        self.emit(printer, &report);
                    }
                }
            }
            for target in left {
                let mut report = UserReport::new(&target);
                report.outcome = Outcome::Interrupted;
                report.reason = Some(format!("{reason} before this user was finished"));
                tally.add(report.outcome);
                self.emit(printer, &report);
            }
        }
        eprintln!("{}", tally.summary(started.elapsed(), self.mode));
        if self.expired.load(Ordering::Relaxed) {
            return Err(Fatal::auth(
                "the access token expired during the run and cannot be renewed; no new write was started",
                Some("get a new token (or sign in with a credential lockdown renews, such as --auth azure-cli or a client secret) and run again for the users not finished".into()),
            ));
        }
        if self.unauthorized.load(Ordering::Relaxed) {
            return Err(Fatal::auth(
                "Graph rejected the token (401); the run was stopped",
                Some("check that the token is for Microsoft Graph and this tenant, then run again for the users not finished".into()),
            ));
        }
        if let Some(e) = self.evidence.as_ref().and_then(|c| c.failure()) {
            return Err(Fatal::failure(e).with_hint(
                "what was written is kept; the users not started are listed as interrupted: run again for them with a writable --evidence folder",
            ));
        }
        if let Some(e) = printer.report_error() {
            return Err(Fatal::failure(e.to_owned()).with_hint(
                "the users not started are listed as interrupted; run again for them with a writable --report file",
            ));
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

    /// Save `subject`'s evidence once its entry's lockdown is done (see [`Engine::run`]).
    pub(crate) fn save_evidence(
        &self,
        raw: &str,
        subject: evidence::Subject,
        first: evidence::FirstRead,
    ) {
        if let Some(collector) = &self.evidence {
            let collect = collector.clone().collect(subject, first);
            self.collecting
                .lock()
                .unwrap()
                .insert(raw.to_owned(), Box::pin(collect));
        }
    }

    /// Print one user; if the report file fails, no new user starts.
    fn emit(&self, printer: &mut Printer, report: &UserReport) {
        if let Err(e) = printer.emit(report) {
            let mut halted = self.halted.lock().unwrap();
            if halted.is_none() {
                eprintln!("error: {e}; no new user will be started");
                *halted = Some(format!("not started: {e},"));
            }
        }
    }
}

/// A user's evidence onto its report line. Evidence that could not be written fails a
/// `lockdown evidence` user; a lockdown stands whatever became of its evidence.
fn with_evidence(report: &mut UserReport, saved: evidence::Outcome) {
    report.evidence = Some(match saved {
        evidence::Outcome::Saved { saved, findings } => {
            report.findings = findings;
            EvidenceReport {
                dir: Some(saved.dir),
                manifest_sha256: Some(saved.manifest_sha256),
                error: None,
                unread: saved.unread,
            }
        }
        evidence::Outcome::Failed { dir, error } => {
            if report.outcome == Outcome::Collected {
                report.outcome = Outcome::Failed;
            }
            EvidenceReport {
                dir,
                manifest_sha256: None,
                error: Some(error),
                unread: Vec::new(),
            }
        }
        evidence::Outcome::Interrupted => {
            if report.outcome == Outcome::Collected {
                report.outcome = Outcome::Interrupted;
            }
            EvidenceReport {
                dir: None,
                manifest_sha256: None,
                error: Some("interrupted before the evidence was saved".into()),
                unread: Vec::new(),
            }
        }
    });
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

/// Counts for the progress line.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub done: usize,
    pub locked: usize,
    pub partial: usize,
    pub failed: usize,
}

#[derive(Default)]
struct Tally {
    input_error: bool,
    locked: usize,
    partial: usize,
    failed: usize,
    not_found: usize,
    planned: usize,
    refused: usize,
    interrupted: usize,
    found: usize,
    restored: usize,
    collected: usize,
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
            Outcome::Found => self.found += 1,
            Outcome::Restored => self.restored += 1,
            Outcome::Collected => self.collected += 1,
        }
    }

    fn all_succeeded(&self) -> bool {
        !self.input_error
            && self.partial + self.failed + self.not_found + self.refused + self.interrupted == 0
    }

    fn total(&self) -> usize {
        self.locked
            + self.partial
            + self.failed
            + self.not_found
            + self.planned
            + self.refused
            + self.interrupted
            + self.found
            + self.restored
            + self.collected
    }

    fn counts(&self) -> Counts {
        Counts {
            done: self.total(),
            locked: self.locked + self.restored,
            partial: self.partial,
            failed: self.failed,
        }
    }

    fn summary(&self, elapsed: Duration, mode: Mode) -> String {
        let mut parts = Vec::new();
        match mode {
            Mode::DryRun => parts.push(format!("{} planned", self.planned)),
            Mode::Status => parts.push(format!("{} found", self.found)),
            Mode::Evidence => parts.push(format!("{} collected", self.collected)),
            Mode::Block => {
                parts.push(format!("{} locked", self.locked));
                parts.push(format!("{} partial", self.partial));
            }
            Mode::Unblock { dry_run: true } => parts.push(format!("{} planned", self.planned)),
            Mode::Unblock { dry_run: false } => {
                parts.push(format!("{} restored", self.restored));
                parts.push(format!("{} partial", self.partial));
            }
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
            self.total(),
            parts.join(", "),
            elapsed.as_secs_f64()
        )
    }
}

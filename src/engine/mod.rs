//! The step engine: takes users from the input, runs each through the step registry
//! ([`crate::steps::REGISTRY`]) and streams each result to the printer as it finishes. `block`,
//! `block --dry-run`, `status`, `unblock`, `evidence` and `check` (with `block --preflight`) are
//! the same loop in its modes; none of them names a step.
//!
//! A run stops starting new users when Ctrl-C is pressed, when Graph rejects the token (or it
//! expires), or when the `--report` file can no longer be written; users in flight finish (or
//! are cut short between rounds), and every user not finished still gets a line, `interrupted`,
//! with the reason.

mod caller;
mod check;
mod me;
mod undo;
mod user;
pub mod verify;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::StreamExt;

pub use me::MeGuard;
pub(crate) use user::read_user;

use crate::check::{Line, Summary, TargetLine};
use crate::error::{ExitStatus, Fatal};
use crate::evidence::{self, Collector};
use crate::graph::GraphClient;
use crate::graph::Priority;
use crate::output::Printer;
use crate::progress::Progress;
use crate::report::{EvidenceReport, Outcome, UserReport};
use crate::signal::Cancel;
use crate::steps::{Phase, RunCx, Selection, REGISTRY};
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
    /// Read the caller once, then each user's first read, and say which steps are expected to
    /// fail (`lockdown check`, `block --preflight`): GETs only.
    Check,
}

/// One entry's line, as the mode gives it.
pub(crate) enum Done {
    User(Box<UserReport>),
    /// `check`: what was read about the target, and each step's verdict.
    Target(Box<TargetLine>),
}

/// Why a user was cut short.
#[derive(Debug, Clone)]
pub(crate) enum Stop {
    Interrupted(String),
    Unauthorized,
}

impl Stop {
    pub(crate) fn interrupted() -> Stop {
        Stop::Interrupted("interrupted".into())
    }
}

/// What a user in flight tells the run before it finishes.
#[derive(Debug)]
pub(crate) enum Event {
    /// Its containment is over: it took effect (`contained`) or it did not; its clean-up may
    /// go on, and another user may start its containment.
    Contained { target: String, contained: bool },
}

/// Users past their containment whose clean-up is still under way, at most, per user of
/// `--concurrency`: a slow clean-up (authentication methods at 5 requests per 10 s) never
/// keeps the next users from being contained, while memory stays bounded.
const CLEAN_UP_BACKLOG_PER_SLOT: usize = 32;

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
    pub(crate) cancel: Cancel,
    /// `--evidence` / `lockdown evidence`: saves each user's evidence, in the user's clean-up
    /// (outside the containment window, so that it never holds back another's containment).
    pub(crate) evidence: Option<Arc<Collector>>,
    pub(crate) events: tokio::sync::mpsc::UnboundedSender<Event>,
    heard: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<Event>>>,
    /// `check`: the caller and each chosen step's verdict for it, read once per run.
    checking: std::sync::OnceLock<check::Checking>,
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
        let (events, heard) = tokio::sync::mpsc::unbounded_channel();
        Engine {
            events,
            heard: Mutex::new(Some(heard)),
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
            checking: std::sync::OnceLock::new(),
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

    /// Run every user from `targets`, printing each as it finishes: `concurrency` users in
    /// their containment at a time, and, behind them, users whose clean-up goes on.
    pub async fn run(
        self: Arc<Self>,
        targets: &mut Targets,
        printer: &mut Printer,
        concurrency: usize,
    ) -> Result<ExitStatus, Fatal> {
        self.drive_all(targets, printer, concurrency)
            .await
            .map(|(status, _)| status)
    }

    /// `check` (`Mode::Check`): the caller's line, then, with `targets`, a line for every
    /// target, each handed to `printer` as it is ready; what was found, for the exit status and
    /// the closing line (which the command prints).
    pub async fn check(
        self: Arc<Self>,
        targets: Option<&mut Targets>,
        printer: &mut Printer,
        concurrency: usize,
    ) -> Result<Summary, Fatal> {
        let (line, caller_fails) = self.check_caller().await?;
        printer.check_line(Line::Caller(Box::new(line)));
        let mut summary = match targets {
            None => Summary::default(),
            Some(targets) => self.drive_all(targets, printer, concurrency).await?.1,
        };
        summary.caller_fails = caller_fails;
        Ok(summary)
    }

    /// The loop of every mode: what the run ends with, and what a check found.
    async fn drive_all(
        self: Arc<Self>,
        targets: &mut Targets,
        printer: &mut Printer,
        concurrency: usize,
    ) -> Result<(ExitStatus, Summary), Fatal> {
        let checking = self.mode == Mode::Check;
        let mut checked = Summary::default();
        let started = Instant::now();
        let mut tally = Tally::default();
        let progress = Progress::new();
        // Entries started and not yet finished: what a stop leaves interrupted.
        let mut pending: HashSet<String> = HashSet::new();
        // Entries whose containment is not over yet.
        let mut containing: HashSet<String> = HashSet::new();
        let backlog = concurrency.saturating_mul(CLEAN_UP_BACKLOG_PER_SLOT);
        let mut heard = self
            .heard
            .lock()
            .unwrap()
            .take()
            .expect("an engine runs once");
        let mut in_flight: FuturesUnordered<BoxFuture<'static, (String, Option<Done>)>> =
            FuturesUnordered::new();
        let mut input_done = false;
        let mut stopping = false;
        let mut grace: Option<tokio::time::Instant> = None;
        let cancel = self.cancel.clone();
        loop {
            let halted = stopping || self.halt_reason().is_some();
            let room = in_flight.len() < backlog;
            let can_take = !input_done && !halted && containing.len() < concurrency && room;
            if in_flight.is_empty() && (input_done || halted) {
                break;
            }
            self.reserve_for_containment(targets, containing.len(), room && !halted, concurrency);
            tokio::select! {
                biased;
                Some(event) = heard.recv() => match event {
                    Event::Contained { target, contained } => {
                        containing.remove(&target);
                        if contained {
                            tally.contained += 1;
                        }
                        self.update(&progress, &tally, targets, in_flight.len(), input_done);
                    }
                },
                Some((target, report)) = in_flight.next(), if !in_flight.is_empty() => {
                    pending.remove(&target);
                    containing.remove(&target);
                    match report {
                        Some(Done::User(report)) => {
                            tally.add(report.outcome);
                            progress.suspend(|| self.emit(printer, *report));
                        }
                        Some(Done::Target(line)) => {
                            tally.add(Outcome::Found);
                            checked.add(line.outcome);
                            progress.suspend(|| printer.check_line(Line::Target(line)));
                        }
                        None => {}
                    }
                    self.update(&progress, &tally, targets, in_flight.len(), input_done);
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
                        checked.failed += 1;
                        input_done = true;
                    }
                    Ok(None) => input_done = true,
                    Ok(Some(Next::Rejected(r))) if checking => {
                        let line = rejected_line(&r);
                        checked.add(line.outcome);
                        progress.suspend(|| printer.check_line(Line::Target(Box::new(line))));
                    }
                    Ok(Some(Next::Rejected(r))) => {
                        let report = rejected_report(&r);
                        tally.add(report.outcome);
                        progress.suspend(|| self.emit(printer, report));
                    }
                    Ok(Some(Next::Job(job))) => {
                        pending.insert(job.raw.clone());
                        containing.insert(job.raw.clone());
                        let engine = self.clone();
                        in_flight.push(Box::pin(async move {
                            let target = job.raw.clone();
                            let done = if engine.mode == Mode::Check {
                                engine.check_target(job).await.map(|l| Done::Target(Box::new(l)))
                            } else {
                                engine.user(job).await.map(|r| Done::User(Box::new(r)))
                            };
                            (target, done)
                        }));
                    }
                },
            }
        }
        drop(in_flight);
        // Containment that users told of as they finished.
        while let Ok(Event::Contained { contained, .. }) = heard.try_recv() {
            if contained {
                tally.contained += 1;
            }
        }
        progress.finish();
        // A check stopped short says so by its exit status; it has no line for what it did
        // not read.
        let reason = self.halt_reason().filter(|_| !checking);
        if let Some(reason) = reason {
            // Users cut off mid-way, then users never reached, in input order: each gets a line.
            let mut left: Vec<String> = pending.into_iter().collect();
            left.sort();
            while let Ok(Some(next)) = targets.next().await {
                match next {
                    Next::Job(job) => left.push(job.raw),
                    Next::Rejected(r) => {
                        let report = rejected_report(&r);
                        tally.add(report.outcome);
                        self.emit(printer, report);
                    }
                }
            }
            for target in left {
                let mut report = UserReport::new(&target);
                report.outcome = Outcome::Interrupted;
                report.reason = Some(format!("{reason} before this user was finished"));
                tally.add(report.outcome);
                self.emit(printer, report);
            }
        }
        if !checking {
            eprintln!("{}", tally.summary(started.elapsed(), self.mode));
        }
        if checking && self.unauthorized.load(Ordering::Relaxed) {
            return Err(Fatal::auth(
                "Graph rejected the token (401), or it expired, during the check",
                Some("get a fresh token and run the check again".into()),
            ));
        }
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
            return Ok((ExitStatus::Interrupted, checked));
        }
        let succeeded = if checking {
            !checked.fails()
        } else {
            tally.all_succeeded()
        };
        let status = if succeeded {
            ExitStatus::Success
        } else {
            ExitStatus::Failure
        };
        Ok((status, checked))
    }

    /// Keep in Graph's write buckets what the containment of the users still to come needs,
    /// so that clean-up writes (low priority) never spend it: per user, a write for each
    /// containment step, for the users in containment and those that can start now (all that
    /// are read when the input is read to its end, else a window's worth more). Nothing is
    /// kept when no new user can start (the clean-up backlog is full, or the run is stopping).
    fn reserve_for_containment(
        &self,
        targets: &Targets,
        containing: usize,
        can_start: bool,
        concurrency: usize,
    ) {
        if self.mode != Mode::Block {
            return;
        }
        let per_user = REGISTRY
            .iter()
            .filter(|s| s.phase() == Phase::Contain)
            .filter(|s| self.selection.of(**s) == Some(crate::steps::Selected::Yes))
            .count();
        let (waiting, all) = targets.waiting();
        let coming = if !can_start {
            0
        } else if all {
            waiting
        } else {
            waiting + concurrency
        };
        self.client
            .reserve_for_high(((containing + coming) * per_user) as f64);
    }

    /// The progress line: users contained and finished, out of how many when that is known,
    /// and what paces each part of the run.
    fn update(
        &self,
        progress: &Progress,
        tally: &Tally,
        targets: &Targets,
        in_flight: usize,
        input_done: bool,
    ) {
        let (waiting, all) = targets.waiting();
        let finished = tally.total();
        let known = all || input_done;
        progress.update(&crate::progress::Counts {
            finished,
            contained: tally.contained,
            locked: tally.locked + tally.restored,
            partial: tally.partial,
            failed: tally.failed,
            total: known.then_some(finished + in_flight + waiting),
            left: waiting + in_flight,
            containment: self.mode == Mode::Block,
            throttled: self
                .client
                .stats()
                .throttled
                .load(std::sync::atomic::Ordering::Relaxed),
            contain_paced_by: self.client.pacing(Priority::High),
            clean_up_paced_by: self
                .client
                .pacing(Priority::Low)
                .or_else(|| self.client.pacing(Priority::Normal)),
        });
    }

    /// Print one user; if the report file fails, no new user starts. Every line of a `block`
    /// run carries `contained_at`, `null` when containment did not complete.
    fn emit(&self, printer: &mut Printer, mut report: UserReport) {
        if self.mode == Mode::Block && report.contained_at.is_none() {
            report.contained_at = Some(None);
        }
        if let Err(e) = printer.emit(&report) {
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
pub(crate) fn with_evidence(report: &mut UserReport, saved: evidence::Outcome) {
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

/// `check`'s line for an entry that is not a user reference.
fn rejected_line(r: &Rejected) -> TargetLine {
    let mut line = TargetLine::new(&r.raw);
    line.outcome = crate::check::Outcome::Failed;
    line.reason = Some(match r.line {
        Some(n) => format!("line {n}: {}", r.reason),
        None => r.reason.clone(),
    });
    line
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
struct Tally {
    input_error: bool,
    /// Users whose containment took effect.
    contained: usize,
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

    fn summary(&self, elapsed: Duration, mode: Mode) -> String {
        let mut parts = Vec::new();
        match mode {
            Mode::DryRun => parts.push(format!("{} planned", self.planned)),
            Mode::Status => parts.push(format!("{} found", self.found)),
            Mode::Evidence => parts.push(format!("{} collected", self.collected)),
            Mode::Check => parts.push(format!("{} checked", self.found)),
            Mode::Block => {
                parts.push(format!("{} contained", self.contained));
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

//! `check` as a mode of the engine (`lockdown check`, `block --preflight`): read-only. The
//! caller is read once per run ([`super::caller`]) and each chosen step judged against it
//! (`Step::requires`); then each target goes through the engine's first read (the user, its
//! roles, and each chosen step's own `reads`, as a real run sends them) and each step says
//! what it expects of it (`Step::expect`). No step is named here.

use super::user::{FirstRead, ROLES, USER};
use super::{Engine, Stop};
use crate::check::{CallerLine, Outcome, StepLine, TargetLine};
use crate::error::Fatal;
use crate::graph::{roles, users};
use crate::steps::require::{verdict_for_target, Caller, Requirement, Target, Verdict};
use crate::steps::{Selected, Step, REGISTRY};
use crate::targets::Job;

/// What a check judges: a chosen step, or the engine's verify phase (which reads nothing before
/// the writes and expects nothing of a target beyond what the caller may do).
#[derive(Clone, Copy)]
enum Unit {
    Step(&'static dyn Step),
    Verify,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Step(s) => s.name(),
            Unit::Verify => super::verify::NAME,
        }
    }

    fn requires(self, cx: &crate::steps::RunCx) -> Vec<Requirement> {
        match self {
            Unit::Step(s) => s.requires(cx),
            Unit::Verify => super::verify::requires(cx),
        }
    }

    fn step(self) -> Option<&'static dyn Step> {
        match self {
            Unit::Step(s) => Some(s),
            Unit::Verify => None,
        }
    }
}

/// A unit chosen for the check, with what it needs and the caller's verdict on it.
struct Chosen {
    unit: Unit,
    reqs: Vec<Requirement>,
    verdict: Verdict,
}

/// What every target of a check shares: the caller, and each chosen step judged against it.
pub(crate) struct Checking {
    caller: Caller,
    chosen: Vec<Chosen>,
}

impl Engine {
    /// The caller's line, before any target: who is calling, what it may do, and each chosen
    /// step's verdict; and whether some step is expected to fail whatever the target (or the
    /// self-lock guard would refuse every target).
    pub(crate) async fn check_caller(&self) -> Result<(CallerLine, bool), Fatal> {
        let caller = super::caller::read(&self.client).await?;
        // The chosen steps, then the verify phase (reading the user back has its needs too).
        let units: Vec<Unit> = REGISTRY
            .iter()
            .copied()
            .filter(|s| self.selection.of(*s) == Some(Selected::Yes))
            .map(Unit::Step)
            .chain([Unit::Verify])
            .collect();
        // What steps read once per run (the block group), read now: their requirements and the
        // caller's line depend on it.
        for s in units.iter().filter_map(|u| u.step()) {
            s.prime(&self.client, &self.run).await;
        }
        let chosen: Vec<Chosen> = units
            .into_iter()
            .map(|unit| {
                let reqs = unit.requires(&self.run);
                let mut verdict = Verdict::default();
                for r in &reqs {
                    verdict.merge(&caller.evaluate(r));
                }
                Chosen {
                    unit,
                    reqs,
                    verdict,
                }
            })
            .collect();
        let step_lines: Vec<StepLine> = chosen
            .iter()
            .map(|c| StepLine::new(c.unit.name(), &c.reqs, &c.verdict))
            .collect();
        let watch_reqs = crate::watch::requires(caller.kind());
        let mut watch_verdict = Verdict::default();
        for r in &watch_reqs {
            watch_verdict.merge(&caller.evaluate(r));
        }
        let mut line = CallerLine::new(
            &caller,
            step_lines,
            StepLine::new("watch", &watch_reqs, &watch_verdict),
        );
        for s in chosen.iter().filter_map(|c| c.unit.step()) {
            s.tenant_facts(&self.run, &mut line.tenant, &mut line.notes);
        }
        let guard_fails = matches!(caller.me, Some(Err(_)));
        if guard_fails {
            line.notes.push(
                "the signed-in account could not be read: `block` refuses every target, because its guard against locking the account running it cannot tell who that is (pass --force to go on without it)"
                    .into(),
            );
        }
        let fails = line.fails() || guard_fails;
        // Set once, by the run, before any target starts.
        let _ = self.checking.set(Checking { caller, chosen });
        Ok((line, fails))
    }

    /// One target's line; `None` for the same account as an earlier entry, or when Graph
    /// rejected the token (the run then ends with exit 3).
    pub(crate) async fn check_target(&self, job: Job) -> Option<TargetLine> {
        let checking = self.checking.get()?;
        let who = job.user.to_string();
        let mut line = TargetLine::new(&job.raw);
        // The first read a real run sends: the user, its roles, and each chosen step's reads.
        let steps: Vec<Option<&'static dyn Step>> =
            checking.chosen.iter().map(|c| c.unit.step()).collect();
        let (first, _) = self.first_read(
            &who,
            FirstRead {
                user: users::get(&who),
                roles: true,
                me: false,
                steps: &steps,
                apart_from: None,
            },
        );
        let part = self.send(&job.raw, first, None, None).remove(0);
        let mut answers = self.answers(&job.raw, part).await;
        if matches!(self.stopped(), Some(Stop::Unauthorized)) {
            return None;
        }
        for (n, c) in checking.chosen.iter().enumerate() {
            if let Some(step) = c.unit.step() {
                step.once_per_run(&self.run, answers.entry(Some(n)).or_default())
                    .await;
            }
        }
        let mut own = answers.remove(&None).unwrap_or_default();
        let user = match super::read_user(own.take(USER)) {
            Ok(u) => u,
            Err(unread) => {
                line.outcome = match unread.outcome {
                    crate::report::Outcome::NotFound => Outcome::NotFound,
                    _ => Outcome::Failed,
                };
                line.reason = Some(format!("{}: every step would fail", unread.reason));
                line.error = Some(unread.error);
                return Some(line);
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
            return None;
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
            caller: &checking.caller,
        };
        for (n, c) in checking.chosen.iter().enumerate() {
            let reads = answers.remove(&Some(n)).unwrap_or_default();
            let findings = match c.unit.step() {
                Some(step) => step.expect(&target, reads, &mut line.facts),
                None => Vec::new(),
            };
            let verdict = verdict_for_target(&c.verdict, &findings);
            line.steps
                .push(StepLine::new(c.unit.name(), &c.reqs, &verdict));
        }
        line.settle();
        Some(line)
    }
}

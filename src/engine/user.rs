//! One user through the registry: the first read (the user, every step's reads, the admin
//! roles, and `/me` once per run), the guards, each step's decision, then rounds of requests
//! until every step has reported. Requests of a round go out as one ordered plan (one stage per
//! step, in registry order), so a user whose writes fit one batch is locked in two round trips:
//! the reads, then the writes with verify's re-read at the end of the chain.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tracing::{info, warn};

use super::{Engine, Mode};
use crate::graph::batch::Step as Send;
use crate::graph::users::{self, User};
use crate::graph::{paging, roles, GraphClient, GraphError, GraphResponse};
use crate::hints;
use crate::report::{ErrorReport, Outcome, StepReport, StepStatus, UserReport};
use crate::steps::{
    Answers, Earlier, Prepared, Progress, Read, Request, Selected, Step, UserCx, REGISTRY,
};
use crate::targets::Job;

const USER: &str = "user";
const ROLES: &str = "roles";
const ME: &str = "me";

/// A step chosen for this user, prepared.
pub(crate) struct Slot {
    pub(crate) step: &'static dyn Step,
    pub(crate) prepared: Box<dyn Prepared>,
    pub(crate) done: bool,
}

/// A request of a round, and whose it is.
pub(crate) struct Routed {
    pub(crate) slot: Option<usize>,
    pub(crate) request: Request,
}

impl Engine {
    /// One entry's result; `None` when it turned out to be the same account as another entry.
    pub(crate) async fn user(&self, job: Job) -> Option<UserReport> {
        if matches!(self.mode, Mode::Unblock { .. }) {
            return Some(self.unblock_user(job).await);
        }
        let mut report = UserReport::new(&job.raw);
        let who = job.user.to_string();

        // 1. The first read: the user, each chosen step's reads, the roles, and /me once.
        let evidence = self.evidence.is_some();
        let chosen: Vec<(&'static dyn Step, Selected)> = REGISTRY
            .iter()
            .filter(|_| self.mode != Mode::Evidence)
            .filter_map(|s| self.selection.of(*s).map(|sel| (*s, sel)))
            .collect();
        let user_read = if evidence {
            users::get_for_evidence(&who)
        } else {
            users::get(&who)
        };
        let mut first = vec![Routed {
            slot: None,
            request: Request::read(Read::one(USER, user_read), "resolve"),
        }];
        if !matches!(self.mode, Mode::Status | Mode::Evidence) {
            first.push(Routed {
                slot: None,
                request: Request::read(Read::paged(ROLES, roles::list(&who)), "read roles"),
            });
        }
        let asks_me = self.mode != Mode::Evidence && self.me.claim();
        if asks_me {
            first.push(Routed {
                slot: None,
                request: Request::read(Read::one(ME, users::me()), "signed-in account"),
            });
        }
        for (n, (step, sel)) in chosen.iter().enumerate() {
            if sel.is_yes() {
                for read in step.reads(&who, &self.run) {
                    first.push(Routed {
                        slot: Some(n),
                        request: Request::read(read, "read"),
                    });
                }
            }
        }
        // What evidence reuses of this read: each step's answers, by request.
        let asked: Vec<(usize, String, crate::graph::GraphRequest)> = if evidence {
            first
                .iter()
                .filter_map(|r| Some((r.slot?, r.request.tag.clone(), r.request.req.clone())))
                .collect()
        } else {
            Vec::new()
        };
        let mut answers = self.round(&job.raw, first).await;
        let mut own = answers.remove(&None).unwrap_or_default();
        if asks_me {
            self.me.settle(own.take(ME));
        }
        let user_answer = own.take(USER);
        let user_read = user_answer.as_ref().ok().cloned();
        let user = match resolved(&mut report, user_answer) {
            Some(u) => u,
            None => return Some(report),
        };
        if !self
            .resolved
            .lock()
            .unwrap()
            .insert(user.id.0.to_ascii_lowercase())
        {
            info!(
                "{}: the same account as another entry (by UPN and by id); acting on it once",
                job.raw
            );
            return None;
        }

        let subject = match (evidence, user_read) {
            (true, Some(read)) => {
                let mut seen = crate::evidence::FirstRead::default();
                for (slot, tag, req) in &asked {
                    if let Some(answer) = answers.get(&Some(*slot)).and_then(|a| a.peek(tag)) {
                        seen.insert(req, answer.clone());
                    }
                }
                Some((
                    crate::evidence::Subject {
                        who: who.clone(),
                        id: user.id.0.clone(),
                        user_principal_name: user.user_principal_name.clone(),
                        user: read,
                    },
                    seen,
                ))
            }
            _ => None,
        };
        if self.mode == Mode::Evidence {
            report.outcome = Outcome::Collected;
            if let Some((subject, seen)) = subject {
                self.save_evidence(&job.raw, subject, seen);
            }
            return Some(report);
        }

        // 2. The guards, before any write.
        if self.mode != Mode::Status && !self.force {
            if let Some(reason) = self.refusal(&user).await {
                report.outcome = Outcome::Refused;
                report.reason = Some(reason);
                return Some(report);
            }
        }
        if self.mode != Mode::Status {
            if let Some(roles) = self
                .roles_or_warn(own.take(ROLES))
                .filter(|r| !r.is_empty())
            {
                report.warnings.push(format!(
                    "holds Entra admin role(s) {}: disabling it, resetting its password and revoking its sessions need Privileged Authentication Administrator (or Global Administrator)",
                    roles.join(", ")
                ));
            }
            if user.is_synced() {
                report.warnings.push(
                    "synced from on-premises Active Directory: Graph cannot disable it or reset its password; do that on-premises"
                        .into(),
                );
            }
        }

        // 3. Each step decides from what was read.
        let cx = UserCx {
            run: &self.run,
            user: &user,
            raw: &job.raw,
        };
        let mut slots: Vec<Slot> = Vec::with_capacity(chosen.len());
        for (n, (step, sel)) in chosen.into_iter().enumerate() {
            let reads = answers.remove(&Some(n)).unwrap_or_default();
            slots.push(Slot {
                step,
                prepared: step.prepare(&cx, reads, sel),
                done: false,
            });
        }
        let mut before = Map::new();
        for slot in &slots {
            slot.prepared.before(&mut before);
        }
        report.before = Some(before);

        match self.mode {
            Mode::Status => {
                let (facts, text) = user_facts(&user);
                report.facts = facts;
                report.facts_text = text;
                for slot in &slots {
                    slot.prepared
                        .facts(&mut report.facts, &mut report.facts_text);
                }
                report.steps = planned(&slots, false);
                report.before = None;
                report.outcome = Outcome::Found;
                return Some(report);
            }
            Mode::DryRun => {
                report.steps = planned(&slots, true);
                report.outcome = Outcome::Planned;
                return Some(report);
            }
            Mode::Block | Mode::Unblock { .. } | Mode::Evidence => {}
        }

        // 4. Rounds of requests until every step has reported.
        if let Err(stop) = self.drive(&job.raw, &mut slots).await {
            return Some(self.cut_short(report, &slots, stop));
        }
        // 5. Evidence, from the first read and the logs, once the lockdown is done.
        if let Some((subject, seen)) = subject {
            self.save_evidence(&job.raw, subject, seen);
        }
        report.steps = slots.iter().filter_map(|s| s.prepared.report()).collect();
        report.after = slots.iter().find_map(|s| s.prepared.after());
        report.changes = changes(&slots, &report);
        report.outcome = outcome(&slots);
        Some(report)
    }

    /// Rounds of requests until every slot has reported: each round is one ordered plan, a
    /// stage per slot in registry order; a slot's `finish` may ask for another round.
    pub(crate) async fn drive(&self, raw: &str, slots: &mut [Slot]) -> Result<(), super::Stop> {
        let mut round: Vec<Routed> = Vec::new();
        for n in 0..slots.len() {
            let (earlier, rest) = slots.split_at(n);
            let earlier = earlier_of(earlier, &[]);
            for request in rest[0].prepared.requests(&earlier) {
                round.push(Routed {
                    slot: Some(n),
                    request,
                });
            }
        }
        let mut wait = Duration::ZERO;
        let mut first_round = true;
        loop {
            if let Some(stop) = self.stopped() {
                return Err(stop);
            }
            if !wait.is_zero() {
                self.client.retry_policy().sleep(wait).await;
            }
            let sent: Vec<usize> = {
                let mut s: Vec<usize> = round.iter().filter_map(|r| r.slot).collect();
                s.dedup();
                s
            };
            let mut answers = self.round(raw, std::mem::take(&mut round)).await;
            let mut pending: Vec<bool> = vec![false; slots.len()];
            wait = Duration::ZERO;
            for n in 0..slots.len() {
                if slots[n].done || (!first_round && !sent.contains(&n)) {
                    continue;
                }
                let own = answers.remove(&Some(n)).unwrap_or_default();
                let (earlier, rest) = slots.split_at_mut(n);
                let earlier = earlier_of(earlier, &pending);
                let slot = &mut rest[0];
                match slot.prepared.finish(own, &earlier) {
                    Progress::Done => slot.done = true,
                    Progress::More { requests, after } => {
                        pending[n] = true;
                        wait = wait.max(after);
                        for request in requests {
                            round.push(Routed {
                                slot: Some(n),
                                request,
                            });
                        }
                    }
                }
            }
            first_round = false;
            if round.is_empty() {
                return Ok(());
            }
        }
    }

    /// Send one round: the requests of each slot as one stage, in registry order, the
    /// engine's own first. Answers come back routed to their slot and tag; collections are
    /// followed to their last page.
    pub(crate) async fn round(
        &self,
        raw: &str,
        requests: Vec<Routed>,
    ) -> HashMap<Option<usize>, Answers> {
        // What a step asked to send last follows everything else, in step order.
        let (mut requests, at_end): (Vec<Routed>, Vec<Routed>) =
            requests.into_iter().partition(|r| !r.request.last);
        requests.extend(at_end);
        // What goes together with other users' is handed to its route.
        let (requests, routed): (Vec<Routed>, Vec<Routed>) =
            requests.into_iter().partition(|r| r.request.via.is_none());
        let mut stages: Vec<Vec<Send>> = Vec::new();
        let mut routes: Vec<(Option<usize>, String, bool)> = Vec::new();
        let mut last: Option<Option<usize>> = None;
        let parallel = requests.iter().all(|r| !r.request.req.method.is_write());
        for r in requests {
            // The first read goes out as one parallel stage; writes keep each step's order.
            if stages.is_empty() || (!parallel && last != Some(r.slot)) {
                stages.push(Vec::new());
            }
            last = Some(r.slot);
            routes.push((r.slot, r.request.tag.clone(), r.request.paged));
            stages.last_mut().expect("a stage").push(Send {
                label: format!("{raw}: {}", r.request.what),
                req: r.request.req,
                resend_unrun: !r.request.last,
            });
        }
        let mut shared = Vec::with_capacity(routed.len());
        for r in routed {
            let via = r.request.via.expect("routed requests have a route");
            routes.push((r.slot, r.request.tag, r.request.paged));
            shared.push(via.send(r.request.req, format!("{raw}: {}", r.request.what)));
        }
        let (mut outcomes, shared) = futures::join!(
            self.client.execute(stages),
            futures::future::join_all(shared)
        );
        outcomes.extend(shared);
        route_answers(&self.client, raw, routes, outcomes, |e| self.saw(e)).await
    }

    /// Every Graph result passes here: a rejected or expired token stops the whole run.
    fn saw(&self, e: &GraphError) {
        if e.is_token_expired() {
            self.expired.store(true, Ordering::Relaxed);
        }
        if e.is_unauthorized() || e.is_token_expired() {
            self.unauthorized.store(true, Ordering::Relaxed);
        }
    }

    /// The role check is advisory: when roles cannot be read, say so once and carry on.
    fn roles_or_warn(&self, roles: Result<GraphResponse, GraphError>) -> Option<Vec<String>> {
        match roles.and_then(|r| roles::names(&r)) {
            Ok(names) => Some(names),
            Err(e) => {
                if !self.roles_unreadable.swap(true, Ordering::Relaxed) {
                    warn!("cannot read targets' admin roles ({e}); carrying on without that check (it needs RoleManagement.Read.Directory or Directory.Read.All)");
                }
                None
            }
        }
    }

    /// Why this user must not be locked, if it must not: the account running lockdown (or the
    /// guard could not tell), or a protected account.
    async fn refusal(&self, user: &User) -> Option<String> {
        let id = user.id.0.to_ascii_lowercase();
        let upn = user
            .user_principal_name
            .as_deref()
            .map(str::to_ascii_lowercase);
        if let Some(reason) = self.me.refusal(&id, upn.as_deref()).await {
            return Some(reason);
        }
        let matches = |key: &str| key == id || upn.as_deref() == Some(key);
        if self.protect.iter().any(|p| matches(p)) {
            return Some(
                "this account is protected (--protect / LOCKDOWN_PROTECT), e.g. a break-glass account; pass --force to lock it anyway"
                    .into(),
            );
        }
        None
    }

    /// The report of a user whose run was stopped before it finished: the steps it finished
    /// stand, and the outcome says why it stopped.
    pub(crate) fn cut_short(
        &self,
        mut report: UserReport,
        slots: &[Slot],
        stop: super::Stop,
    ) -> UserReport {
        report.steps = slots.iter().filter_map(|s| s.prepared.report()).collect();
        match stop {
            super::Stop::Interrupted(reason) => {
                report.outcome = Outcome::Interrupted;
                report.reason = Some(format!("{reason} before this user was finished"));
            }
            super::Stop::Unauthorized => {
                report.outcome = if slots.iter().any(|s| {
                    s.step.action().is_some()
                        && s.prepared
                            .report()
                            .is_some_and(|r| r.status == StepStatus::Done)
                }) {
                    Outcome::Partial
                } else {
                    Outcome::Failed
                };
                report.reason = Some(if self.expired.load(Ordering::Relaxed) {
                    "stopped: the access token expired".into()
                } else {
                    "stopped: Graph rejected the token".into()
                });
            }
        }
        report
    }
}

/// The user as read in the first round, into the report; `None` when it could not be read (the
/// report then says why: `not_found`, or `failed` with the error).
pub(crate) fn resolved(
    report: &mut UserReport,
    answer: Result<GraphResponse, GraphError>,
) -> Option<User> {
    match read_user(answer) {
        Ok(user) => {
            report.id = Some(user.id.0.clone());
            report.user_principal_name = user.user_principal_name.clone();
            report.display_name = user.display_name.clone();
            Some(user)
        }
        Err(unread) => {
            report.outcome = unread.outcome;
            report.reason = Some(unread.reason);
            report.error = Some(unread.error);
            None
        }
    }
}

/// Why a user could not be read: `not_found`, or `failed` with Graph's error.
pub(crate) struct Unread {
    pub(crate) outcome: Outcome,
    pub(crate) reason: String,
    pub(crate) error: ErrorReport,
}

/// The user of a first read's answer, or why there is none.
pub(crate) fn read_user(answer: Result<GraphResponse, GraphError>) -> Result<User, Box<Unread>> {
    answer.and_then(|r| users::decode(&r)).map_err(|e| {
        Box::new(Unread {
            outcome: if e.is_not_found() {
                Outcome::NotFound
            } else {
                Outcome::Failed
            },
            reason: if e.is_not_found() {
                "no user with this userPrincipalName or object id".into()
            } else {
                "could not read the user".into()
            },
            error: ErrorReport::from_graph(&e, hints::read_user(&e)),
        })
    })
}

/// Send `reads` as one parallel stage (a user's first read); answers come back routed to their
/// slot and tag, collections followed to their last page, and every error shown to `saw`.
pub(crate) async fn read_stage(
    client: &GraphClient,
    raw: &str,
    reads: Vec<(Option<usize>, Read)>,
    saw: impl Fn(&GraphError),
) -> HashMap<Option<usize>, Answers> {
    let mut routes = Vec::with_capacity(reads.len());
    let stage: Vec<Send> = reads
        .into_iter()
        .map(|(slot, read)| {
            routes.push((slot, read.tag, read.paged));
            Send {
                label: format!("{raw}: read"),
                req: read.req,
                resend_unrun: true,
            }
        })
        .collect();
    let outcomes = client.execute(vec![stage]).await;
    route_answers(client, raw, routes, outcomes, saw).await
}

/// Each answer to its slot and tag, collections followed to their last page.
async fn route_answers(
    client: &GraphClient,
    raw: &str,
    routes: Vec<(Option<usize>, String, bool)>,
    outcomes: Vec<Result<GraphResponse, GraphError>>,
    saw: impl Fn(&GraphError),
) -> HashMap<Option<usize>, Answers> {
    let mut out: HashMap<Option<usize>, Answers> = HashMap::new();
    for ((slot, tag, paged), outcome) in routes.into_iter().zip(outcomes) {
        let outcome = match outcome {
            Ok(resp) if paged => paging::complete(client, resp, &format!("{raw}: read")).await,
            other => other,
        };
        if let Err(e) = &outcome {
            saw(e);
        }
        out.entry(slot).or_default().insert(tag, outcome);
    }
    out
}

pub(crate) fn earlier_of<'a>(slots: &'a [Slot], pending: &[bool]) -> Vec<Earlier<'a>> {
    slots
        .iter()
        .enumerate()
        .map(|(n, s)| Earlier {
            name: s.step.name(),
            prepared: s.prepared.as_ref(),
            pending: pending.get(n).copied().unwrap_or(false),
        })
        .collect()
}

/// Each step's plan. With `requests`, each planned step also lists the exact requests it would
/// send, so a script can compare the plan with what a real run sends.
pub(crate) fn planned(slots: &[Slot], requests: bool) -> Vec<StepReport> {
    let mut out = Vec::with_capacity(slots.len());
    for n in 0..slots.len() {
        let earlier = earlier_of(&slots[..n], &[]);
        let prepared = &slots[n].prepared;
        let mut step = prepared.planned(&earlier);
        if requests && step.status == StepStatus::Planned {
            let sent: Vec<Value> = prepared
                .requests(&earlier)
                .iter()
                .filter(|r| r.req.method.is_write())
                .map(|r| json!(r.describe()))
                .collect();
            if !sent.is_empty() {
                step.extra.insert("requests".into(), Value::Array(sent));
            }
        }
        out.push(step);
    }
    out
}

/// What `status` shows of the user itself, before the steps add theirs.
fn user_facts(user: &User) -> (Map<String, Value>, Vec<String>) {
    let mut json = Map::new();
    if let Some(t) = &user.user_type {
        json.insert("userType".into(), json!(t));
    }
    if let Some(s) = user.on_premises_sync_enabled {
        json.insert("onPremisesSyncEnabled".into(), json!(s));
    }
    let text = vec![
        format!(
            "user type:           {}",
            user.user_type.as_deref().unwrap_or("unknown")
        ),
        format!(
            "synced from on-prem: {}",
            if user.is_synced() { "yes" } else { "no" }
        ),
    ];
    (json, text)
}

pub(crate) fn changes(slots: &[Slot], report: &UserReport) -> Vec<String> {
    let (Some(before), Some(after)) = (&report.before, &report.after) else {
        return Vec::new();
    };
    slots
        .iter()
        .filter_map(|s| s.step.change_line(before, after))
        .collect()
}

/// `locked` when no step failed (verify included); `partial` when a step failed but another
/// took effect (a step that acts, done or already); `failed` when nothing took effect.
fn outcome(slots: &[Slot]) -> Outcome {
    let reports: Vec<(bool, StepReport)> = slots
        .iter()
        .filter_map(|s| Some((s.step.action().is_some(), s.prepared.report()?)))
        .collect();
    let failed = reports.iter().any(|(_, r)| r.status == StepStatus::Failed);
    let effect = reports
        .iter()
        .any(|(acts, r)| *acts && matches!(r.status, StepStatus::Done | StepStatus::Already));
    if !failed {
        Outcome::Locked
    } else if effect {
        Outcome::Partial
    } else {
        Outcome::Failed
    }
}

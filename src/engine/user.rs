//! One user through the registry: the first read (the user, every step's reads, the admin
//! roles, and `/me` once per run), the guards, each step's decision, then rounds of requests
//! until every step has reported. Requests of a round go out as one ordered plan (one stage per
//! step, in registry order), so a user whose writes fit one batch is locked in two round trips:
//! the reads, then the writes with verify's re-read at the end of the chain.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::future::BoxFuture;
use time::OffsetDateTime;

use serde_json::{json, Map, Value};
use tracing::{info, warn};

use super::verify::Verify;
use super::{Engine, Mode};
use crate::graph::batch::{self, Step as Send};
use crate::graph::users::{self, User};
use crate::graph::{paging, roles, GraphClient, GraphError, GraphResponse, Priority};
use crate::hints;
use crate::report::{ErrorReport, Outcome, StepReport, StepStatus, UserReport};
use crate::steps::{
    timestamp, Answers, Earlier, Phase, Prepared, Progress, Read, Request, Selected, Step, Unit,
    UserCx, REGISTRY,
};
use crate::targets::Job;

/// Tags of the engine's own answers in a first read.
pub(crate) const USER: &str = "user";
pub(crate) const ROLES: &str = "roles";
const ME: &str = "me";

/// What a user's first read asks for (see [`Engine::first_read`]).
pub(crate) struct FirstRead<'a> {
    /// How the user is read (its properties differ for evidence).
    pub(crate) user: crate::graph::GraphRequest,
    pub(crate) roles: bool,
    pub(crate) me: bool,
    pub(crate) steps: &'a [Option<&'static dyn Step>],
    pub(crate) apart_from: Option<usize>,
}

/// A step chosen for this user, prepared.
pub(crate) struct Slot {
    pub(crate) step: Unit,
    pub(crate) prepared: Box<dyn Prepared>,
    pub(crate) done: bool,
}

/// A request of a round, and whose it is.
pub(crate) struct Routed {
    pub(crate) slot: Option<usize>,
    pub(crate) request: Request,
}

/// Where an answer goes: the slot (`None`: the engine's own), the tag, whether to follow its
/// pages (and at which priority), and whether it answers a write.
pub(crate) struct Route {
    slot: Option<usize>,
    tag: String,
    paged: bool,
    priority: Option<Priority>,
    write: bool,
}

impl Route {
    fn of(r: &Routed) -> Route {
        Route {
            slot: r.slot,
            tag: r.request.tag.clone(),
            paged: r.request.paged,
            priority: r.request.req.priority,
            write: r.request.req.method.is_write(),
        }
    }
}

type SharedAnswer = (Route, BoxFuture<'static, Result<GraphResponse, GraphError>>);

/// What a phase's rounds did: Graph's time of the last write that succeeded, and the slots
/// that asked for more rounds after the first.
pub(crate) struct Driven {
    written: Option<OffsetDateTime>,
    more: Vec<usize>,
}

/// One part of a round, handed over: the client's batch of it, and the requests that went to
/// a route shared with other users.
pub(crate) struct Round {
    batch: batch::Tracked,
    routes: Vec<Route>,
    shared: Vec<SharedAnswer>,
}

impl Round {
    /// Every request of it is on the wire or answered: nothing waits for a throttling limit.
    fn on_the_wire(&self) -> bool {
        self.batch.on_the_wire()
    }
}

impl Engine {
    /// One entry's result; `None` when it turned out to be the same account as another entry.
    pub(crate) async fn user(&self, job: Job) -> Option<UserReport> {
        if matches!(self.mode, Mode::Unblock { .. }) {
            return Some(self.unblock_user(job).await);
        }
        let mut report = UserReport::new(&job.raw);
        let who = job.user.to_string();
        let block = self.mode == Mode::Block;
        let evidence = self.evidence.is_some();

        // The chosen steps, containment first (in registry order within each phase).
        let mut chosen: Vec<(&'static dyn Step, Selected)> = REGISTRY
            .iter()
            .filter(|_| self.mode != Mode::Evidence)
            .filter_map(|s| self.selection.of(*s).map(|sel| (*s, sel)))
            .collect();
        chosen.sort_by_key(|(s, _)| s.phase());
        let contain = chosen
            .iter()
            .take_while(|(s, _)| s.phase() == Phase::Contain)
            .count();

        // 1. The first read: the user, the roles, `/me` once per run, and each chosen step's
        //    reads. When writing, containment reads only what its own steps need, at high
        //    priority; the clean-up's reads start alongside at low priority, and a throttling
        //    limit that holds them back (authentication methods) never holds back containment.
        let user_read = if evidence {
            users::get_for_evidence(&who)
        } else {
            users::get(&who)
        };
        let asks_me = self.mode != Mode::Evidence && self.me.claim();
        let reading: Vec<Option<&'static dyn Step>> = chosen
            .iter()
            .map(|(step, sel)| sel.is_yes().then_some(*step))
            .collect();
        let (first, later) = self.first_read(
            &who,
            FirstRead {
                user: user_read,
                roles: !matches!(self.mode, Mode::Status | Mode::Evidence),
                me: asks_me,
                steps: &reading,
                apart_from: block.then_some(contain),
            },
        );
        // What evidence reuses of these reads: each step's answers, by request.
        let asked: Vec<(usize, String, crate::graph::GraphRequest)> = if evidence {
            first
                .iter()
                .chain(&later)
                .filter_map(|r| Some((r.slot?, r.request.tag.clone(), r.request.req.clone())))
                .collect()
        } else {
            Vec::new()
        };
        let mut seen = crate::evidence::FirstRead::default();
        let (first_priority, later_priority) = if block {
            (Some(Priority::High), Some(Priority::Low))
        } else {
            (None, None)
        };
        let mut clean_up_reads =
            (!later.is_empty()).then(|| self.send(&job.raw, later, later_priority, None).remove(0));
        let first = self.send(&job.raw, first, first_priority, None).remove(0);
        let mut answers = self.answers(&job.raw, first).await;
        let mut own = answers.remove(&None).unwrap_or_default();
        if asks_me {
            self.me.settle(own.take(ME));
        }
        self.once_per_run(&chosen, 0..contain, &mut answers).await;
        let read = own.take(USER);
        let read_at = read.as_ref().ok().and_then(GraphResponse::date);
        let user_read = read.as_ref().ok().cloned();
        let Some(user) = resolved(&mut report, read) else {
            return Some(report);
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
            (true, Some(read)) => Some(crate::evidence::Subject {
                who: who.clone(),
                id: user.id.0.clone(),
                user_principal_name: user.user_principal_name.clone(),
                user: read,
            }),
            _ => None,
        };
        if self.mode == Mode::Evidence {
            report.outcome = Outcome::Collected;
            if let Some(subject) = subject {
                let saved = self.evidence_of(subject, seen).await;
                super::with_evidence(&mut report, saved);
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

        // 3. Each step decides from what was read: containment now; the clean-up now too when
        //    its reads are in or on the wire (they land in this round trip, and the whole user
        //    then goes out as one chain), else once they are in.
        let cx = UserCx {
            run: &self.run,
            user: &user,
            raw: &job.raw,
        };
        let together = match &clean_up_reads {
            None => true,
            Some(reads) => reads.on_the_wire(),
        };
        if together {
            if let Some(reads) = clean_up_reads.take() {
                answers.extend(self.answers(&job.raw, reads).await);
            }
            self.once_per_run(&chosen, contain..chosen.len(), &mut answers)
                .await;
        }
        let mut slots: Vec<Slot> = Vec::with_capacity(chosen.len());
        let ready = if together { chosen.len() } else { contain };
        keep_for_evidence(&mut seen, &asked, &answers);
        for (n, (step, sel)) in chosen[..ready].iter().enumerate() {
            let reads = answers.remove(&Some(n)).unwrap_or_default();
            slots.push(Slot {
                step: Unit::Step(*step),
                prepared: step.prepare(&cx, reads, sel.clone()),
                done: false,
            });
        }
        // Verify, the engine's last phase, closes the chain once every step is prepared.
        let mut verify = (ready == chosen.len()).then(|| Verify::new(&user));

        match self.mode {
            // `check` takes its targets through `Engine::check_target`; whatever the way in,
            // it sends no write.
            Mode::Status | Mode::Check => {
                let (facts, text) = user_facts(&user);
                report.facts = facts;
                report.facts_text = text;
                for slot in &slots {
                    slot.prepared
                        .facts(&mut report.facts, &mut report.facts_text);
                }
                report.steps = planned(&slots, false);
                report.steps.extend(verify.as_ref().map(Verify::planned));
                report.outcome = Outcome::Found;
                return Some(report);
            }
            Mode::DryRun => {
                report.before = Some(before(&slots));
                report.steps = planned(&slots, true);
                report.steps.extend(verify.as_ref().map(Verify::planned));
                report.outcome = Outcome::Planned;
                return Some(report);
            }
            Mode::Block | Mode::Unblock { .. } | Mode::Evidence => {}
        }

        // 4. Containment: its writes, at high priority, as soon as the guards passed. When the
        //    clean-up goes in the same chain, its part is answered apart, after containment's.
        let mut clean_up_first: Option<Round> = None;
        let clean_up_stale: Vec<usize>;
        let contained = if together {
            let mut requests = self.requests(&slots, 0..slots.len());
            requests.extend(
                verify
                    .as_ref()
                    .map(|v| v.requests(&slots))
                    .unwrap_or_default(),
            );
            let mut parts = self.send(
                &job.raw,
                requests,
                Some(Priority::High),
                Some((contain, Priority::Low)),
            );
            clean_up_first = parts.pop();
            let first = parts.pop().map(|round| (round, Vec::new()));
            self.drive_phase(
                &job.raw,
                &mut slots,
                0..contain,
                first,
                Some(Priority::High),
                None,
            )
            .await
        } else {
            self.drive_phase(
                &job.raw,
                &mut slots,
                0..contain,
                None,
                Some(Priority::High),
                None,
            )
            .await
        };
        let contained_at = match contained {
            Ok(driven) => {
                // The clean-up's part was sent with containment's first round: what a
                // containment step sent after it is news to that part (verify reads again).
                clean_up_stale = driven.more;
                contained_at(&slots[..contain], driven.written.or(read_at))
            }
            Err(stop) => {
                self.contained(&job.raw, false);
                report.before = Some(before(&slots));
                return Some(self.cut_short(report, &slots, verify.as_ref(), stop, None));
            }
        };
        self.contained(&job.raw, contained_at.is_some());
        report.contained_at = Some(timestamp(contained_at));

        // 5. The clean-up: what was left to prepare, then its rounds at low priority.
        if let Some(reads) = clean_up_reads.take() {
            let got = tokio::select! {
                got = self.answers(&job.raw, reads) => Some(got),
                _ = self.cancel.cancelled() => None,
            };
            let Some(got) = got else {
                report.before = Some(before(&slots));
                return Some(self.cut_short(
                    report,
                    &slots,
                    verify.as_ref(),
                    super::Stop::interrupted(),
                    contained_at,
                ));
            };
            answers.extend(got);
            self.once_per_run(&chosen, contain..chosen.len(), &mut answers)
                .await;
            keep_for_evidence(&mut seen, &asked, &answers);
            for (n, (step, sel)) in chosen.iter().enumerate().skip(contain) {
                let reads = answers.remove(&Some(n)).unwrap_or_default();
                slots.push(Slot {
                    step: Unit::Step(*step),
                    prepared: step.prepare(&cx, reads, sel.clone()),
                    done: false,
                });
            }
        }
        let verify = verify.get_or_insert_with(|| Verify::new(&user));
        report.before = Some(before(&slots));
        let all = slots.len();
        if let Err(stop) = self
            .drive_phase(
                &job.raw,
                &mut slots,
                contain..all,
                clean_up_first.map(|round| (round, clean_up_stale)),
                Some(Priority::Low),
                Some(&mut *verify),
            )
            .await
        {
            return Some(self.cut_short(report, &slots, Some(verify), stop, contained_at));
        }
        // 6. Evidence, from the steps' reads (before their writes) and the logs, after the
        //    lockdown: it never delays containment.
        if let Some(subject) = subject {
            let saved = self.evidence_of(subject, seen).await;
            super::with_evidence(&mut report, saved);
        }
        report.steps = slots.iter().filter_map(|s| s.prepared.report()).collect();
        report.steps.extend(verify.report());
        report.after = verify.after();
        report.changes = changes(&slots, &report);
        report.outcome = outcome(&slots, verify);
        for slot in &slots {
            report.warnings.extend(slot.prepared.warnings());
        }
        // A step may say the user stays open although none failed (a synced account whose
        // cloud sign-in nothing blocks now).
        if report.outcome == Outcome::Locked {
            let all = earlier_of(&slots, &[]);
            if let Some(why) = slots.iter().find_map(|s| s.prepared.leaves_open(&all)) {
                report.outcome = Outcome::Partial;
                report.reason = Some(why);
            }
        }
        Some(report)
    }

    /// A user's first read, as every mode but `unblock` sends it: the user, its roles, `/me`
    /// when this user asks it for the run, and each step's own `reads` (routed to its place in
    /// `steps`; `None`: a step that reads nothing now). With `apart_from`, the reads of the
    /// steps from that place on (the clean-up's) come back apart, to be sent at their own
    /// priority.
    pub(crate) fn first_read(&self, who: &str, read: FirstRead<'_>) -> (Vec<Routed>, Vec<Routed>) {
        let mut first = vec![Routed {
            slot: None,
            request: Request::read(Read::one(USER, read.user), "resolve"),
        }];
        if read.roles {
            first.push(Routed {
                slot: None,
                request: Request::read(Read::paged(ROLES, roles::list(who)), "read roles"),
            });
        }
        if read.me {
            first.push(Routed {
                slot: None,
                request: Request::read(Read::one(ME, users::me()), "signed-in account"),
            });
        }
        let mut apart = Vec::new();
        for (n, step) in read.steps.iter().enumerate() {
            let Some(step) = step else { continue };
            for r in step.reads(who, &self.run) {
                let r = Routed {
                    slot: Some(n),
                    request: Request::read(r, "read"),
                };
                if read.apart_from.is_some_and(|at| n >= at) {
                    apart.push(r);
                } else {
                    first.push(r);
                }
            }
        }
        (first, apart)
    }

    /// What steps read once per run: the user who carried those reads settles it, the others
    /// wait for it here.
    async fn once_per_run(
        &self,
        chosen: &[(&'static dyn Step, Selected)],
        range: Range<usize>,
        answers: &mut HashMap<Option<usize>, Answers>,
    ) {
        for n in range {
            let (step, sel) = &chosen[n];
            if sel.is_yes() {
                step.once_per_run(&self.run, answers.entry(Some(n)).or_default())
                    .await;
            }
        }
    }

    /// Save `subject`'s evidence; Ctrl-C leaves it unsaved (`interrupted`), and the lockdown
    /// stands.
    async fn evidence_of(
        &self,
        subject: crate::evidence::Subject,
        seen: crate::evidence::FirstRead,
    ) -> crate::evidence::Outcome {
        let Some(collector) = &self.evidence else {
            return crate::evidence::Outcome::Interrupted;
        };
        tokio::select! {
            saved = collector.clone().collect(subject, seen) => saved,
            _ = self.cancel.cancelled() => crate::evidence::Outcome::Interrupted,
        }
    }

    /// Rounds of requests until every slot has reported, then verify (`unblock`).
    pub(crate) async fn drive(
        &self,
        raw: &str,
        slots: &mut [Slot],
        verify: &mut Verify,
    ) -> Result<(), super::Stop> {
        let all = slots.len();
        self.drive_phase(raw, slots, 0..all, None, None, Some(verify))
            .await
            .map(|_| ())
    }

    /// The requests of the slots in `range`, each slot's as one stage, in slot order.
    fn requests(&self, slots: &[Slot], range: Range<usize>) -> Vec<Routed> {
        let mut round = Vec::new();
        for n in range {
            let earlier = earlier_of(&slots[..n], &[]);
            for request in slots[n].prepared.requests(&earlier) {
                round.push(Routed {
                    slot: Some(n),
                    request,
                });
            }
        }
        round
    }

    /// Rounds of requests for the slots in `range` until each has reported: each round is one
    /// ordered plan, a stage per slot; a slot's `finish` may ask for another round. `first`: the
    /// first round, when it was sent already (with another phase's requests, in one chain).
    /// Answers Graph's time of the last write that succeeded. A clean-up phase (low priority)
    /// stops waiting at Ctrl-C; containment lets what it sent land. With `verify` (the last
    /// phase of the chain), its re-reads close each round, until it has its verdict; `first`
    /// then carries its first re-reads already.
    async fn drive_phase(
        &self,
        raw: &str,
        slots: &mut [Slot],
        range: Range<usize>,
        first: Option<(Round, Vec<usize>)>,
        priority: Option<Priority>,
        mut verify: Option<&mut Verify>,
    ) -> Result<Driven, super::Stop> {
        let (mut pending_first, mut stale) = match first {
            Some((round, stale)) => (Some(round), stale),
            None => (None, Vec::new()),
        };
        let mut more: Vec<usize> = Vec::new();
        let mut round: Vec<Routed> = if pending_first.is_some() {
            Vec::new()
        } else {
            let mut round = self.requests(slots, range.clone());
            if let Some(v) = &verify {
                round.extend(v.requests(slots));
            }
            round
        };
        let verify_at = Verify::route(slots);
        let mut written: Option<OffsetDateTime> = None;
        let mut wait = Duration::ZERO;
        let mut first_round = true;
        let interruptible = priority == Some(Priority::Low);
        loop {
            if let Some(stop) = self.stopped() {
                return Err(stop);
            }
            if !wait.is_zero() {
                self.client.retry_policy().sleep(wait).await;
            }
            let sent: Vec<usize> = match &pending_first {
                Some(_) => range.clone().chain([verify_at]).collect(),
                None => {
                    let mut s: Vec<usize> = round.iter().filter_map(|r| r.slot).collect();
                    s.dedup();
                    s
                }
            };
            let part = match pending_first.take() {
                Some(part) => part,
                None => self
                    .send(raw, std::mem::take(&mut round), priority, None)
                    .remove(0),
            };
            let mut answers = if interruptible {
                tokio::select! {
                    got = self.answers(raw, part) => got,
                    _ = self.cancel.cancelled() => return Err(super::Stop::interrupted()),
                }
            } else {
                self.answers(raw, part).await
            };
            let mut pending: Vec<bool> = vec![false; slots.len()];
            for n in stale.drain(..) {
                pending[n] = true;
            }
            wait = Duration::ZERO;
            for n in range.clone() {
                if slots[n].done || (!first_round && !sent.contains(&n)) {
                    continue;
                }
                let own = answers.remove(&Some(n)).unwrap_or_default();
                written = written.max(own.written());
                let (earlier, rest) = slots.split_at_mut(n);
                let earlier = earlier_of(earlier, &pending);
                let slot = &mut rest[0];
                match slot.prepared.finish(own, &earlier) {
                    Progress::Done => slot.done = true,
                    Progress::More { requests, after } => {
                        pending[n] = true;
                        if !more.contains(&n) {
                            more.push(n);
                        }
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
            if let Some(v) = verify.as_deref_mut() {
                if !v.is_done() && (first_round || sent.contains(&verify_at)) {
                    let own = answers.remove(&Some(verify_at)).unwrap_or_default();
                    if let Some((requests, after)) =
                        v.finish(own, slots, pending.iter().any(|p| *p))
                    {
                        wait = wait.max(after);
                        round.extend(requests);
                    }
                }
            }
            first_round = false;
            if round.is_empty() {
                return Ok(Driven { written, more });
            }
        }
    }

    /// Hand one round over: the requests of each slot as one stage, in slot order, the
    /// engine's own first, each at `priority`. `split`: the slots from this one on form a second
    /// part, at its own priority, answered apart (after the first part's, in one chain when
    /// the round is one user's). Requests that go with other users' go to their route.
    pub(crate) fn send(
        &self,
        raw: &str,
        requests: Vec<Routed>,
        priority: Option<Priority>,
        split: Option<(usize, Priority)>,
    ) -> Vec<Round> {
        let (head, tail): (Vec<Routed>, Vec<Routed>) = match split {
            Some((at, _)) => requests
                .into_iter()
                .partition(|r| r.slot.is_none_or(|n| n < at)),
            None => (requests, Vec::new()),
        };
        let mut parts = vec![(head, priority)];
        if let Some((_, later)) = split {
            parts.push((tail, Some(later)));
        }
        let mut stages: Vec<Vec<Send>> = Vec::new();
        let mut sizes = Vec::new();
        let mut routes: Vec<Vec<Route>> = Vec::new();
        let mut shared: Vec<Vec<SharedAnswer>> = Vec::new();
        for (requests, priority) in parts {
            // What a step asked to send last follows everything else of its part, in order.
            let (mut requests, at_end): (Vec<Routed>, Vec<Routed>) =
                requests.into_iter().partition(|r| !r.request.last);
            requests.extend(at_end);
            // What goes together with other users' is handed to its route.
            let (requests, routed): (Vec<Routed>, Vec<Routed>) =
                requests.into_iter().partition(|r| r.request.via.is_none());
            let before = stages.len();
            let mut part_routes = Vec::new();
            let mut last: Option<Option<usize>> = None;
            let parallel = requests.iter().all(|r| !r.request.req.method.is_write());
            for r in requests {
                // A first read goes out as one parallel stage; writes keep each step's order.
                if stages.len() == before || (!parallel && last != Some(r.slot)) {
                    stages.push(Vec::new());
                }
                last = Some(r.slot);
                part_routes.push(Route::of(&r));
                stages.last_mut().expect("a stage").push(Send {
                    label: format!("{raw}: {}", r.request.what),
                    req: r.request.req.at(priority),
                    resend_unrun: !r.request.last,
                });
            }
            let mut part_shared = Vec::new();
            for r in routed {
                let route = Route::of(&r);
                let via = r.request.via.expect("routed requests have a route");
                part_shared.push((
                    route,
                    via.send(
                        r.request.req.at(priority),
                        format!("{raw}: {}", r.request.what),
                    ),
                ));
            }
            sizes.push(stages.len() - before);
            routes.push(part_routes);
            shared.push(part_shared);
        }
        sizes.pop();
        let tracked = self.client.submit(stages, &sizes);
        tracked
            .into_iter()
            .zip(routes)
            .zip(shared)
            .map(|((batch, routes), shared)| Round {
                batch,
                routes,
                shared,
            })
            .collect()
    }

    /// The answers of a round handed over by [`Engine::send`], routed to their slot and tag,
    /// collections followed to their last page.
    pub(crate) async fn answers(&self, raw: &str, part: Round) -> HashMap<Option<usize>, Answers> {
        let Round {
            batch,
            mut routes,
            shared,
        } = part;
        let (shared_routes, shared): (Vec<Route>, Vec<_>) = shared.into_iter().unzip();
        let (mut outcomes, shared) =
            futures::join!(batch.outcomes(), futures::future::join_all(shared));
        outcomes.extend(shared);
        routes.extend(shared_routes);
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
    /// stand, the others are `interrupted`, and the outcome says why it stopped. A user whose
    /// containment took effect (`contained_at`) is `partial`: closed, not cleaned up.
    pub(crate) fn cut_short(
        &self,
        mut report: UserReport,
        slots: &[Slot],
        verify: Option<&Verify>,
        stop: super::Stop,
        contained_at: Option<OffsetDateTime>,
    ) -> UserReport {
        let interrupted = |name: &'static str| {
            StepReport::new(
                name,
                StepStatus::Interrupted,
                "stopped before this step finished; what it sent may have taken effect (lockdown status shows the state now)".to_owned(),
            )
        };
        report.steps = slots
            .iter()
            .map(|s| match s.prepared.report() {
                Some(r) if s.done || r.status != StepStatus::Failed => r,
                _ => interrupted(s.step.name()),
            })
            .collect();
        if let Some(v) = verify {
            report.steps.push(match v.report() {
                Some(r) if v.is_done() || r.status != StepStatus::Failed => r,
                _ => interrupted(super::verify::NAME),
            });
        }
        if contained_at.is_some() {
            report.contained_at = Some(timestamp(contained_at));
        }
        let why = match &stop {
            super::Stop::Interrupted(reason) => reason.clone(),
            super::Stop::Unauthorized if self.expired.load(Ordering::Relaxed) => {
                "stopped: the access token expired".into()
            }
            super::Stop::Unauthorized => "stopped: Graph rejected the token".into(),
        };
        if contained_at.is_some() {
            report.outcome = Outcome::Partial;
            report.reason = Some(format!(
                "{why} after this account was contained, before its clean-up finished"
            ));
            return report;
        }
        match stop {
            super::Stop::Interrupted(_) => {
                report.outcome = Outcome::Interrupted;
                report.reason = Some(format!("{why} before this user was finished"));
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
                report.reason = Some(why);
            }
        }
        report
    }

    /// Tell the run that this user's containment is over (`contained`: it took effect).
    fn contained(&self, raw: &str, contained: bool) {
        let _ = self.events.send(super::Event::Contained {
            target: raw.to_owned(),
            contained,
        });
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

/// Each answer to its slot and tag, collections followed to their last page; Graph's time of
/// each successful write is noted with the answers of its slot.
async fn route_answers(
    client: &GraphClient,
    raw: &str,
    routes: Vec<Route>,
    outcomes: Vec<Result<GraphResponse, GraphError>>,
    saw: impl Fn(&GraphError),
) -> HashMap<Option<usize>, Answers> {
    let mut out: HashMap<Option<usize>, Answers> = HashMap::new();
    for (route, outcome) in routes.into_iter().zip(outcomes) {
        let outcome = match outcome {
            Ok(resp) if route.paged => {
                paging::complete(client, resp, route.priority, &format!("{raw}: read")).await
            }
            other => other,
        };
        if let Err(e) = &outcome {
            saw(e);
        }
        let answers = out.entry(route.slot).or_default();
        if route.write {
            if let Ok(resp) = &outcome {
                answers.wrote_at(resp.date());
            }
        }
        answers.insert(route.tag, outcome);
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
fn outcome(slots: &[Slot], verify: &Verify) -> Outcome {
    let reports: Vec<(bool, StepReport)> = slots
        .iter()
        .filter_map(|s| Some((s.step.action().is_some(), s.prepared.report()?)))
        .chain(verify.report().map(|r| (false, r)))
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

/// Each slot's `before` state, merged: what an undo needs.
fn before(slots: &[Slot]) -> Map<String, Value> {
    let mut before = Map::new();
    for slot in slots {
        slot.prepared.before(&mut before);
    }
    before
}

/// When the account was contained: Graph's time `at` (of the last containment write, or of
/// the read that found nothing to write), when every containment step took effect (done or
/// already, or left out for a reason that is not a failure), at least one acted and none says
/// the account stays open; `None` when containment did not complete.
fn contained_at(contain: &[Slot], at: Option<OffsetDateTime>) -> Option<OffsetDateTime> {
    // A step may say the account stays open although none failed (a synced account whose
    // cloud sign-in nothing blocks now).
    let all = earlier_of(contain, &[]);
    if contain
        .iter()
        .any(|s| s.prepared.leaves_open(&all).is_some())
    {
        return None;
    }
    let reports: Vec<StepReport> = contain.iter().filter_map(|s| s.prepared.report()).collect();
    let failed = reports
        .iter()
        .any(|r| matches!(r.status, StepStatus::Failed | StepStatus::Interrupted));
    let acted = reports
        .iter()
        .any(|r| matches!(r.status, StepStatus::Done | StepStatus::Already));
    (!failed && acted && reports.len() == contain.len())
        .then_some(at)
        .flatten()
}

/// Copy, for the evidence, the answers to the steps' reads it can reuse, before the steps
/// take them.
fn keep_for_evidence(
    seen: &mut crate::evidence::FirstRead,
    asked: &[(usize, String, crate::graph::GraphRequest)],
    answers: &HashMap<Option<usize>, Answers>,
) {
    for (slot, tag, req) in asked {
        if let Some(answer) = answers.get(&Some(*slot)).and_then(|a| a.peek(tag)) {
            seen.insert(req, answer.clone());
        }
    }
}

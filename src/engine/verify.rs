//! `verify`, the engine's last phase: read the account back after every write, and let each
//! step check what it did (`Prepared::verify`: the account disabled, sessions valid from the
//! revoke, each device disabled) from the user and its own `verify_reads`. It is not a step of
//! the registry (nothing selects or skips it): the engine sends its re-reads at the end of each
//! user's chain (`block`, `unblock`), in the clean-up part, as the last stage of the same plan,
//! and reports it under the name `verify`, with the state read back as the report's `after`.
//! Graph is eventually consistent, so a result that contradicts a write Graph accepted is read
//! again, twice at most; while a step still sends (a retry that comes last, or a containment
//! step that sent more after the clean-up's part left) it reads again once that is answered.

use std::time::Duration;

use serde_json::Map;

use super::user::{Routed, Slot};
use crate::graph::users::{self, User, UserId};
use crate::report::{ErrorReport, Snapshot, StepReport, StepStatus};
use crate::steps::require::Requirement;
use crate::steps::{Answers, Read, Request, RunCx, Verdict};

/// Its name in reports and in `check`.
pub const NAME: &str = "verify";
const USER: &str = "user";
/// Reads in all, the first included.
const ATTEMPTS: u32 = 3;

/// What reading the user (to resolve it, and to read it back) needs: the properties lockdown
/// selects (learn: graph/api/user-get; accountEnabled and the rest are not in
/// User.ReadBasic.All).
pub fn requires(_cx: &RunCx) -> Vec<Requirement> {
    vec![Requirement::new(
        "GET /users/{id}",
        &[
            &["User.Read.All"],
            &["User.ReadWrite.All"],
            &["Directory.Read.All"],
            &["Directory.ReadWrite.All"],
            &["Directory.AccessAsUser.All"],
        ],
    )]
}

/// One user's verify phase.
pub(crate) struct Verify {
    id: UserId,
    attempts: u32,
    done: bool,
    report: Option<StepReport>,
    after: Option<Snapshot>,
}

impl Verify {
    pub(crate) fn new(user: &User) -> Verify {
        Verify {
            id: user.id.clone(),
            attempts: 0,
            done: false,
            report: None,
            after: None,
        }
    }

    /// Where its answers are routed: after every slot of `slots`, so that its re-reads form
    /// the last stage of the chain, in the clean-up's part.
    pub(crate) fn route(slots: &[Slot]) -> usize {
        slots.len()
    }

    /// Its re-reads: the user, then each step's own, tagged by the step's name.
    pub(crate) fn requests(&self, slots: &[Slot]) -> Vec<Routed> {
        let at = Some(Self::route(slots));
        let mut out = vec![Routed {
            slot: at,
            request: Request::read(Read::one(USER, users::get(&self.id.0)), "verify"),
        }];
        for s in slots {
            for r in s.prepared.verify_reads() {
                let mut request = Request::read(r, "verify");
                request.tag = format!("{}/{}", s.step.name(), request.tag);
                out.push(Routed { slot: at, request });
            }
        }
        out
    }

    /// Whether it has its verdict.
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// Its line in a plan (`--dry-run`, `status`, `unblock --dry-run`).
    pub(crate) fn planned(&self) -> StepReport {
        StepReport::new(
            NAME,
            StepStatus::Planned,
            format!("would read back {}", users::get(&self.id.0).describe()),
        )
    }

    /// Take the answers to its re-reads. `pending`: some step still sends (its answers come in
    /// a later round), which changes what there is to check: read again then. Answers the
    /// re-reads to send next, and after how long, or `None` once it has its verdict.
    pub(crate) fn finish(
        &mut self,
        mut answers: Answers,
        slots: &[Slot],
        pending: bool,
    ) -> Option<(Vec<Routed>, Duration)> {
        if pending {
            return Some((self.requests(slots), Duration::ZERO));
        }
        self.attempts += 1;
        let again = |s: &Self| {
            Some((
                s.requests(slots),
                Duration::from_secs(u64::from(s.attempts)),
            ))
        };
        let user = match answers.take(USER).and_then(|r| users::decode(&r)) {
            Ok(user) => user,
            Err(e) => {
                self.report = Some(StepReport::failed(
                    NAME,
                    "the account could not be read back",
                    ErrorReport::from_graph(&e, crate::hints::common(&e)),
                ));
                if self.attempts < ATTEMPTS {
                    return again(self);
                }
                self.done = true;
                return None;
            }
        };
        let mut verdict = Verdict::default();
        let mut after = Map::new();
        for s in slots {
            let mut own = answers.split(s.step.name());
            s.prepared.verify(&user, &mut own, &mut after, &mut verdict);
        }
        self.after = Some(after);
        self.report = Some(if verdict.problems.is_empty() {
            let held = if verdict.held.is_empty() {
                "the account was read back".to_owned()
            } else {
                verdict.held.join("; ")
            };
            StepReport::new(NAME, StepStatus::Done, held)
        } else {
            StepReport::new(NAME, StepStatus::Failed, verdict.problems.join("; "))
        });
        if !verdict.problems.is_empty() && verdict.contradicts_write && self.attempts < ATTEMPTS {
            return again(self);
        }
        self.done = true;
        None
    }

    /// Its report once it has one (a failed read back reports while it reads again).
    pub(crate) fn report(&self) -> Option<StepReport> {
        self.report.clone()
    }

    /// The state read back, for the report's `after`.
    pub(crate) fn after(&self) -> Option<Snapshot> {
        self.after.clone()
    }
}

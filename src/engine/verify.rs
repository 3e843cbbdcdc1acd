//! `verify`, the engine's last phase: read the account back after every write, and let each
//! step check what it did (`Prepared::verify`: the account disabled, sessions valid from the
//! revoke, each device disabled) from the user and its own `verify_reads`. It is not a step of
//! the registry (nothing selects or skips it): the engine puts it at the end of each user's
//! chain (`block`, `unblock`, and the plans of `--dry-run` and `status`), so that its re-reads
//! ride at the end of the same write chain, and reports it under the name `verify`. Graph is
//! eventually consistent, so a result that contradicts a write Graph accepted is read again,
//! twice at most; a step still sending (a retry that comes last) is waited for.

use std::time::Duration;

use serde_json::Map;

use super::user::Slot;
use crate::graph::users::{self, User, UserId};
use crate::report::{ErrorReport, Snapshot, StepReport, StepStatus};
use crate::steps::require::Requirement;
use crate::steps::{
    About, Answers, Earlier, Phase, Prepared, Progress, Read, Reads, Request, RunCx, Selected,
    Step, UserCx, Verdict,
};

/// The verify phase, as the reports, `check` and the generated reference name it.
pub struct Verify;

/// The engine's verify (for `check` and the reference: what reading the user back needs).
pub static VERIFY: Verify = Verify;

pub(crate) const NAME: &str = "verify";
const ABOUT: About = About {
    name: NAME,
    aliases: &[],
    phase: Phase::CleanUp,
    default_on: true,
    incident: false,
    skippable: false,
    in_block: true,
    stops_sign_in: false,
    action: None,
};
const USER: &str = "user";
/// Reads in all, the first included.
const ATTEMPTS: u32 = 3;

/// The verify phase of `user`'s chain, last of its slots: after a lockdown's writes, or an
/// undo's (each undo says what it expects to read back).
pub(crate) fn slot(user: &User) -> Slot {
    Slot {
        step: &VERIFY,
        prepared: state(user),
        done: false,
    }
}

fn state(user: &User) -> Box<dyn Prepared> {
    Box::new(State {
        id: user.id.clone(),
        attempts: 0,
        report: None,
        after: None,
    })
}

impl Step for Verify {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    fn prepare(&self, cx: &UserCx<'_>, _reads: Reads, _selected: Selected) -> Box<dyn Prepared> {
        state(cx.user)
    }

    // Reading the user (to resolve it, and to read it back) needs the properties lockdown
    // selects (learn: graph/api/user-get; accountEnabled and the rest are not in
    // User.ReadBasic.All).
    fn requires(&self, _cx: &RunCx) -> Vec<Requirement> {
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
}

struct State {
    id: UserId,
    attempts: u32,
    report: Option<StepReport>,
    after: Option<Snapshot>,
}

impl State {
    fn reads(&self, earlier: &[Earlier<'_>]) -> Vec<Request> {
        let mut out = vec![Request::read(
            Read::one(USER, users::get(&self.id.0)),
            "verify",
        )];
        for e in earlier {
            for r in e.prepared.verify_reads() {
                let mut req = Request::read(r, "verify");
                req.tag = format!("{}/{}", e.name, req.tag);
                out.push(req);
            }
        }
        out
    }
}

impl Prepared for State {
    fn requests(&self, earlier: &[Earlier<'_>]) -> Vec<Request> {
        self.reads(earlier)
    }

    fn planned(&self, _earlier: &[Earlier<'_>]) -> StepReport {
        StepReport::new(
            NAME,
            StepStatus::Planned,
            format!("would read back {}", users::get(&self.id.0).describe()),
        )
    }

    fn finish(&mut self, mut answers: Answers, earlier: &[Earlier<'_>]) -> Progress {
        self.attempts += 1;
        // A step still sending (a retry that comes last) changes what there is to check.
        if earlier.iter().any(|e| e.pending) {
            self.attempts -= 1;
            return Progress::More {
                requests: self.reads(earlier),
                after: Duration::ZERO,
            };
        }
        let again = |s: &Self| Progress::More {
            requests: s.reads(earlier),
            after: Duration::from_secs(u64::from(s.attempts)),
        };
        let user = match answers.take(USER).and_then(|r| users::decode(&r)) {
            Ok(user) => user,
            Err(e) => {
                self.report = Some(StepReport::failed(
                    NAME,
                    "the account could not be read back",
                    ErrorReport::from_graph(&e, crate::hints::common(&e)),
                ));
                return if self.attempts < ATTEMPTS {
                    again(self)
                } else {
                    Progress::Done
                };
            }
        };
        let mut verdict = Verdict::default();
        let mut after = Map::new();
        for e in earlier {
            let mut own = answers.split(e.name);
            e.prepared.verify(&user, &mut own, &mut after, &mut verdict);
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
        Progress::Done
    }

    fn report(&self) -> Option<StepReport> {
        self.report.clone()
    }

    fn after(&self) -> Option<Snapshot> {
        self.after.clone()
    }
}

//! `verify`: read the account back, after every write, and let each step check what it did
//! (the account disabled, sessions valid from the revoke, each device disabled). Its re-reads
//! ride at the end of the user's write chain; Graph is eventually consistent, so a result that
//! contradicts a write Graph accepted is read again, twice at most.

use std::time::Duration;

use serde_json::Map;

use super::{
    About, Answers, Earlier, Phase, Prepared, Progress, Read, Reads, Record, Request, RunCx,
    Selected, Step, Undo, UserCx, Verdict,
};
use crate::check::Requirement;
use crate::graph::users::{self, UserId};
use crate::report::{ErrorReport, Snapshot, StepReport, StepStatus};

pub struct Verify;

const NAME: &str = "verify";
const ABOUT: About = About {
    name: NAME,
    aliases: &[],
    phase: Phase::CleanUp,
    default_on: true,
    incident: false,
    skippable: false,
    stops_sign_in: false,
    action: None,
};
const USER: &str = "user";
/// Reads in all, the first included.
const ATTEMPTS: u32 = 3;

impl Step for Verify {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    fn prepare(&self, cx: &UserCx<'_>, _reads: Reads, _selected: Selected) -> Box<dyn Prepared> {
        Box::new(State {
            id: cx.user.id.clone(),
            attempts: 0,
            report: None,
            after: None,
        })
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

    fn undo(&self) -> Option<&dyn Undo> {
        Some(self)
    }
}

impl Undo for Verify {
    fn prepare_undo(
        &self,
        cx: &UserCx<'_>,
        reads: Reads,
        _record: Option<&Record>,
    ) -> Option<Box<dyn Prepared>> {
        // The same re-read and checks: each undo says what it expects to read back.
        Some(self.prepare(cx, reads, Selected::Yes))
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

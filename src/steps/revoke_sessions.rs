//! `revoke_sessions`: `POST /users/{id}/revokeSignInSessions`, which invalidates refresh tokens
//! and session cookies by setting `signInSessionsValidFromDateTime` to now
//! (learn: graph/api/user-revokesigninsessions). Nothing to undo.

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::require::{Finding, Requirement, Target};
use super::{
    timestamp, About, Answers, Earlier, One, Phase, Prepared, Progress, Reads, Record, Request,
    RunCx, Selected, Step, Undo, UserCx, Verdict,
};
use crate::auth::TokenKind;
use crate::graph::users::{self, User};
use crate::graph::GraphError;
use crate::hints::{self, Hint};
use crate::report::{ErrorReport, StepReport, StepStatus};

pub struct RevokeSessions;

const NAME: &str = "revoke_sessions";
const ABOUT: About = About {
    name: NAME,
    aliases: &["sessions"],
    phase: Phase::Contain,
    default_on: true,
    incident: false,
    stops_sign_in: true,
    action: Some("revoke sign-in sessions"),
};

/// Graph stores whole seconds, and its `Date` header and the stored time come from different
/// moments of the same request, so the comparison allows one second.
const CLOCK_SLACK: time::Duration = time::Duration::seconds(1);

/// `--skip-sessions`: this step's own flag that leaves it out (the same as `--skip {NAME}`).
#[derive(Debug, Clone, Default, clap::Args)]
#[group(skip)]
pub struct SkipFlag {
    /// Same as `--skip revoke_sessions` (kept for existing scripts).
    #[arg(long, hide = true)]
    pub skip_sessions: bool,
}

impl SkipFlag {
    /// The flag, when it was given.
    pub fn given(&self) -> Vec<(&'static str, &'static str)> {
        self.skip_sessions
            .then_some((NAME, "--skip-sessions"))
            .into_iter()
            .collect()
    }
}

impl Step for RevokeSessions {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    fn prepare(&self, cx: &UserCx<'_>, _reads: Reads, selected: Selected) -> Box<dyn Prepared> {
        let report = selected.skipped_report(NAME);
        let one = One::decide(report, || {
            Request::write(
                NAME,
                users::revoke_sign_in_sessions(&cx.user.id),
                "revoke sessions",
            )
        });
        Box::new(State {
            selected: selected.is_yes(),
            guest: cx.user.is_guest(),
            valid_from: cx.user.sign_in_sessions_valid_from_date_time,
            one,
            revoked_at: None,
        })
    }

    fn change_line(
        &self,
        before: &Map<String, Value>,
        after: &Map<String, Value>,
    ) -> Option<String> {
        let at = |m: &Map<String, Value>| {
            m.get("signInSessionsValidFromDateTime")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_owned()
        };
        Some(format!(
            "sessions valid from: {} -> {}",
            at(before),
            at(after)
        ))
    }

    // learn: graph/api/user-revokesigninsessions — User.RevokeSessions.All least privileged;
    // a delegated caller needs an administrator role over the user.
    fn requires(&self, cx: &RunCx) -> Vec<Requirement> {
        const APP: &[&[&str]] = &[
            &["User.RevokeSessions.All"],
            &["User.ReadWrite.All"],
            &["Directory.ReadWrite.All"],
        ];
        const DELEGATED: &[&[&str]] = &[
            &["User.RevokeSessions.All"],
            &["User.ReadWrite.All"],
            &["Directory.ReadWrite.All"],
            &["Directory.AccessAsUser.All"],
        ];
        const ROLES: &[&str] = &[
            "User Administrator",
            "Helpdesk Administrator",
            "Authentication Administrator",
            "Privileged Authentication Administrator",
            "Global Administrator",
        ];
        const CALL: &str = "POST /users/{id}/revokeSignInSessions";
        vec![match cx.token_kind {
            TokenKind::AppOnly => Requirement::new(CALL, APP),
            _ => Requirement::new(CALL, DELEGATED).with_roles(ROLES),
        }]
    }

    fn expect(
        &self,
        target: &Target<'_>,
        _reads: Reads,
        _facts: &mut Map<String, Value>,
    ) -> Vec<Finding> {
        target.privileged().into_iter().collect()
    }

    fn undo(&self) -> Option<&dyn Undo> {
        Some(self)
    }
}

impl Undo for RevokeSessions {
    fn not_undoable(&self, record: &Record) -> Option<String> {
        (record.status(NAME) == Some("done")).then(|| {
            "revoked sessions cannot be restored (there is nothing to restore): the user signs in again".to_owned()
        })
    }
}

struct State {
    selected: bool,
    guest: bool,
    valid_from: Option<OffsetDateTime>,
    one: One,
    /// Graph's clock when it accepted the revoke.
    revoked_at: Option<OffsetDateTime>,
}

fn hint(err: &GraphError) -> Option<Hint> {
    match err.status()? {
        403 => hints::hint(format!(
            "the token needs User.RevokeSessions.All (or User.ReadWrite.All); a delegated caller needs the User Administrator role or higher; {}",
            hints::PRIVILEGED_TARGET
        )),
        _ => None,
    }
}

impl Prepared for State {
    fn before(&self, state: &mut Map<String, Value>) {
        state.insert(
            "signInSessionsValidFromDateTime".into(),
            json!(timestamp(self.valid_from)),
        );
    }

    fn facts(&self, json: &mut Map<String, Value>, text: &mut Vec<String>) {
        if let Some(at) = timestamp(self.valid_from) {
            json.insert("signInSessionsValidFromDateTime".into(), json!(at));
        }
        text.push(format!(
            "sessions valid from: {}",
            timestamp(self.valid_from).as_deref().unwrap_or("unknown")
        ));
    }

    fn requests(&self, _earlier: &[Earlier<'_>]) -> Vec<Request> {
        self.one.requests()
    }

    fn planned(&self, _earlier: &[Earlier<'_>]) -> StepReport {
        self.one.planned(NAME)
    }

    fn finish(&mut self, mut answers: Answers, _earlier: &[Earlier<'_>]) -> Progress {
        if self.one.waiting() {
            let report = match answers.take(NAME) {
                Ok(resp) => {
                    // Graph's clock, not ours: verification compares against it.
                    let at = resp.date().unwrap_or_else(OffsetDateTime::now_utc);
                    self.revoked_at = Some(at);
                    let mut detail = format!(
                        "sign-in sessions revoked at {}; access tokens already issued stay valid until they expire (up to about an hour)",
                        timestamp(Some(at)).unwrap_or_default()
                    );
                    if self.guest {
                        detail.push_str(
                            "; this guest's sessions in its home tenant are not affected",
                        );
                    }
                    StepReport::new(NAME, StepStatus::Done, detail)
                }
                Err(e) => StepReport::failed(
                    NAME,
                    "sign-in sessions could not be revoked",
                    ErrorReport::from_graph(&e, hint(&e).or_else(|| hints::common(&e))),
                ),
            };
            self.one.answered(report);
        }
        Progress::Done
    }

    fn report(&self) -> Option<StepReport> {
        self.one.report().cloned()
    }

    fn verify(
        &self,
        user: &User,
        _reads: &mut Answers,
        after: &mut Map<String, Value>,
        verdict: &mut Verdict,
    ) {
        after.insert(
            "signInSessionsValidFromDateTime".into(),
            json!(timestamp(user.sign_in_sessions_valid_from_date_time)),
        );
        let Some(at) = self.revoked_at else {
            if self.selected {
                verdict
                    .problems
                    .push("sign-in sessions were not revoked".into());
            }
            return;
        };
        let floor = at.replace_nanosecond(0).unwrap_or(at);
        match user.sign_in_sessions_valid_from_date_time {
            Some(from) if from + CLOCK_SLACK >= floor => verdict.held.push(format!(
                "sessions valid from {}",
                timestamp(Some(from)).unwrap_or_default()
            )),
            Some(from) => {
                verdict.problems.push(format!(
                    "signInSessionsValidFromDateTime is {}, earlier than the revoke at {}",
                    timestamp(Some(from)).unwrap_or_default(),
                    timestamp(Some(floor)).unwrap_or_default()
                ));
                verdict.contradicts_write = true;
            }
            None => verdict
                .problems
                .push("signInSessionsValidFromDateTime was not returned".into()),
        }
    }
}

/// When a `block` report line says this step revoked the user's sessions: Graph's
/// `signInSessionsValidFromDateTime` as read back after it, when the step is `done` (what
/// `lockdown watch` watches from).
pub fn revoked_at(record: &Record) -> Option<&str> {
    if record.status(NAME) != Some("done") {
        return None;
    }
    record
        .after
        .get("signInSessionsValidFromDateTime")
        .and_then(serde_json::Value::as_str)
}

//! `issue_tap` (`unblock --tap`): a Temporary Access Pass, so a user whose password lockdown
//! reset to a value nobody knows can sign in again, register methods and set a password
//! (learn: graph/api/authentication-post-temporaryaccesspassmethods). The pass is shown once, on
//! stdout; never in a log, a `Debug` print or the `--report` file (which records that a pass was
//! issued, its id and expiry).

use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;

use super::{
    timestamp, About, Answers, Earlier, One, Phase, Prepared, Progress, Reads, Record, Request,
    Undo, UserCx,
};
use crate::graph::temporary_access_pass;
use crate::graph::GraphError;
use crate::hints::{self, Hint};
use crate::report::{ErrorReport, StepReport, StepStatus};

pub struct IssueTap;

const NAME: &str = "issue_tap";
pub const ABOUT: About = About {
    name: NAME,
    aliases: &[],
    phase: Phase::CleanUp,
    default_on: true,
    incident: false,
    stops_sign_in: false,
    action: Some("issue a Temporary Access Pass"),
};

impl Undo for IssueTap {
    fn prepare_undo(
        &self,
        cx: &UserCx<'_>,
        _reads: Reads,
        record: Option<&Record>,
    ) -> Option<Box<dyn Prepared>> {
        let minutes = cx.run.tap_minutes?;
        // A pass does not open a disabled account: issuing one would hand out a secret that
        // lets nobody in, and read as a way back in when there is none.
        if super::disable_account::stays_disabled(cx, record) {
            return Some(Box::new(State {
                one: One::Decided(StepReport::new(
                    NAME,
                    StepStatus::Skipped,
                    "no Temporary Access Pass issued: the account stays disabled, and a pass would not let the user in".to_owned(),
                )),
            }));
        }
        Some(Box::new(State {
            one: One::Sends(Request::write(
                NAME,
                temporary_access_pass::create(&cx.user.id, minutes),
                "issue a Temporary Access Pass",
            )),
        }))
    }
}

struct State {
    one: One,
}

/// What Graph answers (201): the pass appears in this response only.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Created {
    id: String,
    temporary_access_pass: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    start_date_time: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    created_date_time: Option<OffsetDateTime>,
    lifetime_in_minutes: Option<i64>,
}

fn hint(err: &GraphError) -> Option<Hint> {
    let api = err.api()?;
    if api.status == 400 && api.message.contains("Converged UserCredentialPolicy") {
        return hints::hint(
            "the tenant's authentication methods policy does not allow Temporary Access Pass: enable it (Entra admin center > Protection > Authentication methods > Policies > Temporary Access Pass) for this user, then run unblock --tap again; the rest of the unblock stands",
        );
    }
    match api.status {
        403 => hints::hint(
            "the token needs UserAuthenticationMethod.ReadWrite.All; a delegated caller needs Authentication Administrator (Privileged Authentication Administrator for admins)",
        ),
        _ => None,
    }
}

impl Prepared for State {
    fn requests(&self, _earlier: &[Earlier<'_>]) -> Vec<Request> {
        self.one.requests()
    }

    fn planned(&self, _earlier: &[Earlier<'_>]) -> StepReport {
        self.one.planned(NAME)
    }

    fn finish(&mut self, mut answers: Answers, _earlier: &[Earlier<'_>]) -> Progress {
        if !self.one.waiting() {
            return Progress::Done;
        }
        let created = answers.take(NAME).and_then(|r| r.json::<Created>());
        let report = match created {
            Ok(tap) => {
                let start = tap.start_date_time.or(tap.created_date_time);
                let expires = start
                    .zip(tap.lifetime_in_minutes)
                    .map(|(s, m)| s + time::Duration::minutes(m));
                let mut r = StepReport::new(
                    NAME,
                    StepStatus::Done,
                    format!(
                        "Temporary Access Pass issued: usable once, until {}; it is shown once, on this output only",
                        timestamp(expires).unwrap_or_else(|| "its lifetime ends".into())
                    ),
                );
                r.extra
                    .insert("temporaryAccessPassId".into(), json!(tap.id));
                r.extra
                    .insert("expiresDateTime".into(), json!(timestamp(expires)));
                if let Some(pass) = tap.temporary_access_pass {
                    r.extra.insert("temporaryAccessPass".into(), json!(pass));
                }
                r
            }
            Err(e) => StepReport::failed(
                NAME,
                "no Temporary Access Pass was issued",
                ErrorReport::from_graph(&e, hint(&e).or_else(|| hints::common(&e))),
            ),
        };
        self.one.answered(report);
        Progress::Done
    }

    fn report(&self) -> Option<StepReport> {
        self.one.report().cloned()
    }
}

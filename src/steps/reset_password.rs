//! `reset_password`: `PATCH /users/{id}` with a random password nobody is shown and
//! `forceChangePasswordNextSignIn` (learn: graph/api/user-update, resources/passwordprofile).
//! A guest's password lives in its home tenant, so guests are skipped. Not undoable: the way
//! back in is a Temporary Access Pass.

use serde_json::{Map, Value};

use super::require::{Finding, Requirement, Target, USER_ADMINISTRATOR_OR_HIGHER};
use super::{
    About, Answers, Earlier, One, Phase, Prepared, Progress, Reads, Record, Request, RunCx,
    Selected, Step, Undo, UserCx,
};
use crate::auth::TokenKind;
use crate::graph::users;
use crate::graph::GraphError;
use crate::hints::{self, Hint};
use crate::report::{ErrorReport, StepReport, StepStatus};

pub struct ResetPassword;

const NAME: &str = "reset_password";
const ABOUT: About = About {
    name: NAME,
    aliases: &["password"],
    phase: Phase::Contain,
    default_on: true,
    incident: false,
    stops_sign_in: true,
    action: Some("reset the password"),
};

/// `--skip-password`: this step's own flag that leaves it out (the same as `--skip {NAME}`).
#[derive(Debug, Clone, Default, clap::Args)]
#[group(skip)]
pub struct SkipFlag {
    /// Same as `--skip reset_password` (kept for existing scripts).
    #[arg(long, hide = true)]
    pub skip_password: bool,
}

impl SkipFlag {
    /// The flag, when it was given.
    pub fn given(&self) -> Vec<(&'static str, &'static str)> {
        self.skip_password
            .then_some((NAME, "--skip-password"))
            .into_iter()
            .collect()
    }
}

impl Step for ResetPassword {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    fn prepare(&self, cx: &UserCx<'_>, _reads: Reads, selected: Selected) -> Box<dyn Prepared> {
        let report = selected.skipped_report(NAME).or_else(|| {
            if cx.user.is_synced() {
                // Graph refuses it (400): the password is mastered on-premises.
                return Some(StepReport::new(
                    NAME,
                    StepStatus::Skipped,
                    super::disable_onprem_account::ELSEWHERE_PASSWORD.to_owned(),
                ));
            }
            cx.user.is_guest().then(|| {
                StepReport::new(
                    NAME,
                    StepStatus::Skipped,
                    "guest account: its password lives in its home tenant".to_owned(),
                )
            })
        });
        let one = One::decide(report, || {
            let password = crate::password::generate();
            Request::redacted(
                NAME,
                users::reset_password(&cx.user.id, &password),
                r#"{"passwordProfile":{"password":<random, never shown>,"forceChangePasswordNextSignIn":true}}"#,
                "reset password",
            )
        });
        Box::new(State {
            synced: cx.user.is_synced(),
            token: cx.run.token_kind,
            one,
        })
    }

    // learn: graph/api/user-update — passwordProfile: User-PasswordProfile.ReadWrite.All least
    // privileged; an app also needs an Entra role such as User Administrator assigned to it,
    // a delegated caller an administrator role that may reset passwords.
    fn requires(&self, cx: &RunCx) -> Vec<Requirement> {
        const APP: &[&[&str]] = &[
            &["User-PasswordProfile.ReadWrite.All"],
            &["User.ReadWrite.All"],
            &["Directory.ReadWrite.All"],
        ];
        const DELEGATED: &[&[&str]] = &[
            &["User-PasswordProfile.ReadWrite.All"],
            &["User.ReadWrite.All"],
            &["Directory.ReadWrite.All"],
            &["Directory.AccessAsUser.All"],
        ];
        const ROLES: &[&str] = &[
            "User Administrator",
            "Helpdesk Administrator",
            "Password Administrator",
            "Authentication Administrator",
            "Privileged Authentication Administrator",
            "Global Administrator",
        ];
        const CALL: &str = "PATCH /users/{id} passwordProfile";
        vec![match cx.token_kind {
            TokenKind::AppOnly => {
                Requirement::new(CALL, APP).with_roles(USER_ADMINISTRATOR_OR_HIGHER)
            }
            _ => Requirement::new(CALL, DELEGATED).with_roles(ROLES),
        }]
    }

    fn expect(
        &self,
        target: &Target<'_>,
        _reads: Reads,
        _facts: &mut Map<String, Value>,
    ) -> Vec<Finding> {
        if target.user.is_guest() {
            return vec![Finding::nothing_to_send(
                "guest: skipped, its password lives in its home tenant",
            )];
        }
        if target.synced() {
            return vec![Finding::nothing_to_send(
                super::disable_onprem_account::ELSEWHERE_PASSWORD,
            )];
        }
        target.privileged().into_iter().collect()
    }

    fn undo(&self) -> Option<&dyn Undo> {
        Some(self)
    }
}

impl Undo for ResetPassword {
    fn not_undoable(&self, record: &Record) -> Option<String> {
        (record.status(NAME) == Some("done")).then(|| {
            "the password stays unknown to everyone: the user signs in with a Temporary Access Pass (--tap) and sets a new one through self-service, or an admin resets it".to_owned()
        })
    }
}

struct State {
    synced: bool,
    token: TokenKind,
    /// Holds the new password until it is answered (then drops it); its `Debug` never shows
    /// it.
    one: One,
}

fn hint(err: &GraphError, synced: bool, token: TokenKind) -> Option<Hint> {
    if hints::is_on_premises_mastered(err) || (synced && err.status() == Some(400)) {
        return hints::hint(
            "this account is synced from on-premises Active Directory: reset its password there (Microsoft's guidance for a compromised hybrid account is to reset it twice) and let sync carry it to Entra",
        );
    }
    match err.status()? {
        403 => hints::hint(format!(
            "the token needs User-PasswordProfile.ReadWrite.All (or User.ReadWrite.All){}; {}",
            if token == TokenKind::AppOnly {
                ", and the app itself needs an Entra role such as User Administrator"
            } else {
                " and the caller needs the User Administrator role or higher"
            },
            hints::PRIVILEGED_TARGET
        )),
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
        if self.one.waiting() {
            let report = match answers.take(NAME) {
                Ok(_) => StepReport::new(
                    NAME,
                    StepStatus::Done,
                    "password reset to a random one nobody was shown; a change is required at next sign-in".to_owned(),
                ),
                Err(e) => StepReport::failed(
                    NAME,
                    "the password could not be reset",
                    ErrorReport::from_graph(
                        &e,
                        hint(&e, self.synced, self.token).or_else(|| hints::common(&e)),
                    ),
                ),
            };
            self.one.answered(report);
        }
        Progress::Done
    }

    fn report(&self) -> Option<StepReport> {
        self.one.report().cloned()
    }
}

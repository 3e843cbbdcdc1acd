//! `disable_account`: `PATCH /users/{id}` `{"accountEnabled": false}`, so no new sign-in can
//! start (learn: graph/api/user-update). Undone by re-enabling, only if it was enabled before.

use serde_json::{json, Map, Value};

use super::require::{Finding, Requirement, Target, USER_ADMINISTRATOR_OR_HIGHER};
use super::{
    About, Answers, Earlier, One, Phase, Prepared, Progress, Reads, Record, Request, RunCx,
    Selected, Step, Undo, UserCx, Verdict,
};
use crate::auth::TokenKind;
use crate::graph::users::{self, User};
use crate::graph::GraphError;
use crate::hints::{self, Hint};
use crate::report::{yes_no, StepReport, StepStatus};

pub struct DisableAccount;

const NAME: &str = "disable_account";
const ABOUT: About = About {
    name: NAME,
    aliases: &["account"],
    phase: Phase::Contain,
    default_on: true,
    incident: false,
    stops_sign_in: true,
    action: Some("disable the account"),
};

/// `--keep-enabled`: this step's own flag that leaves it out (the same as `--skip {NAME}`),
/// and the block group with it: an account that must keep working cannot be a member of the
/// group whose Conditional Access policy blocks every sign-in.
#[derive(Debug, Clone, Default, clap::Args)]
#[group(skip)]
pub struct SkipFlag {
    /// Leave the account enabled and out of the Conditional Access block group, so that it keeps
    /// working (its password is still reset, so nobody knows it, and its sessions revoked). The
    /// same as `--skip disable_account,block_sign_in`.
    #[arg(long)]
    pub keep_enabled: bool,
}

impl SkipFlag {
    /// The steps the flag leaves out, when it was given.
    pub fn given(&self) -> Vec<(&'static str, &'static str)> {
        if !self.keep_enabled {
            return Vec::new();
        }
        vec![
            (NAME, "--keep-enabled"),
            (super::block_sign_in::NAME, "--keep-enabled"),
        ]
    }
}

impl Step for DisableAccount {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    fn prepare(&self, cx: &UserCx<'_>, _reads: Reads, selected: Selected) -> Box<dyn Prepared> {
        let enabled = cx.user.account_enabled;
        let synced = cx.user.is_synced();
        let report = selected.skipped_report(NAME).or_else(|| {
            if synced && enabled != Some(false) {
                // Graph refuses it (400): the account is mastered on-premises.
                return Some(StepReport::new(
                    NAME,
                    StepStatus::Skipped,
                    super::disable_onprem_account::ELSEWHERE_DISABLE.to_owned(),
                ));
            }
            (enabled == Some(false)).then(|| {
                StepReport::new(
                    NAME,
                    StepStatus::Already,
                    "the account was already disabled".to_owned(),
                )
            })
        });
        let one = One::decide(report, || {
            Request::write(NAME, users::disable(&cx.user.id), "disable account")
        });
        Box::new(State {
            // A synced account is disabled on-premises: verify does not expect it here.
            selected: selected.is_yes() && !synced,
            enabled,
            synced,
            token: cx.run.token_kind,
            one,
            written: false,
        })
    }

    fn change_line(
        &self,
        before: &Map<String, Value>,
        after: &Map<String, Value>,
    ) -> Option<String> {
        let flag = |m: &Map<String, Value>| m.get("accountEnabled").and_then(Value::as_bool);
        Some(format!(
            "account enabled: {} -> {}",
            yes_no(flag(before)),
            yes_no(flag(after))
        ))
    }

    // learn: graph/api/user-update — accountEnabled: User.EnableDisableAccount.All with
    // User.Read.All least privileged; delegated callers need User Administrator or higher.
    fn requires(&self, cx: &RunCx) -> Vec<Requirement> {
        const APP: &[&[&str]] = &[
            &["User.EnableDisableAccount.All", "User.Read.All"],
            &["User.ReadWrite.All"],
            &["Directory.ReadWrite.All"],
        ];
        const DELEGATED: &[&[&str]] = &[
            &["User.EnableDisableAccount.All", "User.Read.All"],
            &["User.ReadWrite.All"],
            &["Directory.ReadWrite.All"],
            &["Directory.AccessAsUser.All"],
        ];
        const CALL: &str = "PATCH /users/{id} accountEnabled";
        vec![match cx.token_kind {
            TokenKind::AppOnly => Requirement::new(CALL, APP),
            _ => Requirement::new(CALL, DELEGATED).with_roles(USER_ADMINISTRATOR_OR_HIGHER),
        }]
    }

    fn expect(
        &self,
        target: &Target<'_>,
        _reads: Reads,
        _facts: &mut Map<String, Value>,
    ) -> Vec<Finding> {
        if target.user.account_enabled == Some(false) {
            return vec![Finding::nothing_to_send(
                "already disabled: nothing to send",
            )];
        }
        if target.synced() {
            return vec![Finding::nothing_to_send(
                super::disable_onprem_account::ELSEWHERE_DISABLE,
            )];
        }
        target.privileged().into_iter().collect()
    }

    fn undo(&self) -> Option<&dyn Undo> {
        Some(self)
    }
}

impl Undo for DisableAccount {
    fn prepare_undo(
        &self,
        cx: &UserCx<'_>,
        _reads: Reads,
        record: Option<&Record>,
    ) -> Option<Box<dyn Prepared>> {
        undo(cx, record)
    }
}

struct State {
    selected: bool,
    enabled: Option<bool>,
    synced: bool,
    token: TokenKind,
    one: One,
    /// Graph accepted the write.
    written: bool,
}

/// The hint for a failed disable: synced accounts are mastered on-premises; a 403 names the
/// permission and role.
fn hint(err: &GraphError, synced: bool, _token: TokenKind) -> Option<Hint> {
    if hints::is_on_premises_mastered(err) || (synced && err.status() == Some(400)) {
        return hints::hint(
            "this account is synced from on-premises Active Directory: disable it there and let sync carry it to Entra; its cloud sign-in sessions were still revoked here",
        );
    }
    match err.status()? {
        403 => hints::hint(format!(
            "the token needs User.EnableDisableAccount.All with User.Read.All (or User.ReadWrite.All); a delegated caller needs the User Administrator role or higher; {}",
            hints::PRIVILEGED_TARGET
        )),
        _ => None,
    }
}

impl Prepared for State {
    fn before(&self, state: &mut Map<String, Value>) {
        state.insert("accountEnabled".into(), json!(self.enabled));
    }

    fn facts(&self, json: &mut Map<String, Value>, text: &mut Vec<String>) {
        if let Some(enabled) = self.enabled {
            json.insert("accountEnabled".into(), json!(enabled));
        }
        text.push(format!("account enabled:     {}", yes_no(self.enabled)));
    }

    fn requests(&self, _earlier: &[Earlier<'_>]) -> Vec<Request> {
        self.one.requests()
    }

    fn planned(&self, _earlier: &[Earlier<'_>]) -> StepReport {
        let mut r = self.one.planned(NAME);
        if r.status == StepStatus::Already {
            r.detail = Some("the account is already disabled".into());
        }
        r
    }

    fn finish(&mut self, mut answers: Answers, _earlier: &[Earlier<'_>]) -> Progress {
        if self.one.waiting() {
            let report = match answers.take(NAME) {
                Ok(_) => {
                    self.written = true;
                    StepReport::new(
                        NAME,
                        StepStatus::Done,
                        "accountEnabled set to false: no new sign-in can start".to_owned(),
                    )
                }
                Err(e) => StepReport::failed(
                    NAME,
                    "the account could not be disabled",
                    crate::report::ErrorReport::from_graph(
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

    fn verify(
        &self,
        user: &User,
        _reads: &mut Answers,
        after: &mut Map<String, Value>,
        verdict: &mut Verdict,
    ) {
        after.insert("accountEnabled".into(), json!(user.account_enabled));
        if self.selected {
            expect_enabled(user, false, self.written, verdict);
        }
    }
}

/// `enable_account`, the undo: `PATCH /users/{id}` `{"accountEnabled": true}`, only if lockdown
/// disabled it (the report says `done`, and the account was enabled before) and it is still as
/// lockdown left it.
struct Enable {
    /// `accountEnabled` now, before the undo.
    now: Option<bool>,
    decision: Decision,
    report: Option<StepReport>,
    written: bool,
}

enum Decision {
    Send(Request),
    Report(StepReport),
}

const UNDO: &str = "enable_account";

pub(super) fn undo(cx: &UserCx<'_>, record: Option<&Record>) -> Option<Box<dyn Prepared>> {
    let decision = decide(cx, record)?;
    Some(Box::new(Enable {
        now: cx.user.account_enabled,
        decision,
        report: None,
        written: false,
    }))
}

/// Whether the account stays disabled after this unblock: it is disabled now and the undo will
/// not enable it (lockdown did not disable it, or it is left alone). Nothing else the unblock
/// does lets the user in then (a Temporary Access Pass does not open a disabled account).
pub(super) fn stays_disabled(cx: &UserCx<'_>, record: Option<&Record>) -> bool {
    cx.user.account_enabled == Some(false) && !matches!(decide(cx, record), Some(Decision::Send(_)))
}

/// What the undo does with the account; `None` when there is nothing to say about it (lockdown
/// did not disable it, and it is enabled).
fn decide(cx: &UserCx<'_>, record: Option<&Record>) -> Option<Decision> {
    let now = cx.user.account_enabled;
    let enable = || {
        Decision::Send(Request::write(
            UNDO,
            users::enable(&cx.user.id),
            "enable account",
        ))
    };
    let report = |status, detail: String| Decision::Report(StepReport::new(UNDO, status, detail));
    let Some(record) = record else {
        // Without a report the admin asked for exactly this.
        return Some(match now {
            Some(false) => enable(),
            _ => report(
                StepStatus::Already,
                "the account is already enabled".to_owned(),
            ),
        });
    };
    let disabled_before = record.before.get("accountEnabled") == Some(&json!(false))
        || record.status(NAME) == Some("already");
    if record.status(NAME) != Some("done") || disabled_before {
        // Lockdown did not disable it: nothing of lockdown's to undo. A disabled account is
        // left so, and said: the user still cannot sign in after this unblock.
        if now != Some(false) {
            return None;
        }
        let why = if disabled_before {
            "disabled before this lockdown"
        } else {
            "disabled, but not by this lockdown"
        };
        let who = cx
            .user
            .user_principal_name
            .clone()
            .unwrap_or_else(|| cx.user.id.to_string());
        return Some(report(
            StepStatus::Skipped,
            format!("{why}: left disabled; `lockdown unblock {who}` enables it"),
        ));
    }
    let left_disabled = record.after.get("accountEnabled") == Some(&json!(false));
    Some(match now {
        // Someone enabled it after lockdown left it disabled: said, not taken for lockdown's
        // (with `--force`, asking for it enabled whatever happened since, it already is).
        Some(true) if left_disabled && !cx.run.force => report(
            StepStatus::Skipped,
            "changed since the lockdown (now on): someone enabled the account after lockdown disabled it".to_owned(),
        ),
        Some(true) => report(
            StepStatus::Already,
            "the account is already enabled".to_owned(),
        ),
        _ if left_disabled || cx.run.force => enable(),
        _ => report(
            StepStatus::Skipped,
            "changed since the lockdown: the report does not show lockdown leaving it disabled, so someone else may have disabled it since (pass --force to enable it anyway)".to_owned(),
        ),
    })
}

impl Prepared for Enable {
    fn before(&self, state: &mut Map<String, Value>) {
        state.insert("accountEnabled".into(), json!(self.now));
    }

    fn requests(&self, _earlier: &[Earlier<'_>]) -> Vec<Request> {
        match &self.decision {
            Decision::Send(r) => vec![r.clone()],
            Decision::Report(_) => Vec::new(),
        }
    }

    fn planned(&self, _earlier: &[Earlier<'_>]) -> StepReport {
        match &self.decision {
            Decision::Send(r) => StepReport::new(
                UNDO,
                StepStatus::Planned,
                format!("would send {}", r.describe()),
            ),
            Decision::Report(r) => r.clone(),
        }
    }

    fn finish(&mut self, mut answers: Answers, _earlier: &[Earlier<'_>]) -> Progress {
        self.report = Some(match &self.decision {
            Decision::Report(r) => r.clone(),
            Decision::Send(_) => match answers.take(UNDO) {
                Ok(_) => {
                    self.written = true;
                    StepReport::new(
                        UNDO,
                        StepStatus::Done,
                        "accountEnabled set to true: the user can sign in again".to_owned(),
                    )
                }
                Err(e) => StepReport::failed(
                    UNDO,
                    "the account could not be enabled",
                    crate::report::ErrorReport::from_graph(
                        &e,
                        hint(&e, false, TokenKind::Delegated).or_else(|| hints::common(&e)),
                    ),
                ),
            },
        });
        Progress::Done
    }

    fn report(&self) -> Option<StepReport> {
        self.report.clone()
    }

    fn verify(
        &self,
        user: &User,
        _reads: &mut Answers,
        after: &mut Map<String, Value>,
        verdict: &mut Verdict,
    ) {
        after.insert("accountEnabled".into(), json!(user.account_enabled));
        if self.written {
            expect_enabled(user, true, true, verdict);
        }
    }
}

/// Verify's check of `accountEnabled`, for the lockdown (`want` false) and its undo (true).
/// A mismatch after a write Graph accepted may be Graph catching up: verify reads again.
fn expect_enabled(user: &User, want: bool, written: bool, verdict: &mut Verdict) {
    if user.account_enabled == Some(want) {
        verdict.held.push(format!("accountEnabled is {want}"));
    } else {
        verdict
            .problems
            .push(format!("accountEnabled is still {}", !want));
        verdict.contradicts_write |= written;
    }
}

//! `disable_onprem_account`: for a user synced from on-premises AD, disable its AD account and
//! force a password reset there through Microsoft Defender for Identity (learn:
//! graph/api/security-identitycontainer-list-identityaccounts,
//! graph/api/security-identityaccounts-invokeaction). Graph refuses to change a synced user's
//! `accountEnabled` and password, and Microsoft's emergency guidance for hybrid accounts starts
//! with disabling the account in AD (learn: entra/identity/users/users-revoke-access).
//!
//! The user's `onPremisesSecurityIdentifier` comes with the first read; the step then finds
//! the identity account by SID (`GET /security/identities/identityAccounts?$filter=...`),
//! takes its `activeDirectory` account when its `actions` allow it, and sends `disable`, then
//! `forcePasswordReset`. Graph answers 200 with an `invokeActionResult`: the action is queued
//! to Defender for Identity's action account, so `done` says "requested", with the
//! correlationId. Verify re-reads the identity account: `isEnabled` still true is pending (the
//! action is asynchronous, and reaches Entra ID at the next directory sync), not a failure.
//! Without Defender for Identity (403/404 on the list, or no account for the SID) the step is
//! skipped with Microsoft's guidance, one warning per run. Undone by `enable` when lockdown
//! disabled it.

use serde_json::{json, Map, Value};
use tracing::warn;

use super::require::{Finding, Requirement, Status, Target};
use super::{
    About, Answers, Earlier, One, Phase, Prepared, Progress, Read, Reads, Record, Request, RunCx,
    Selected, Step, Undo, UserCx, Verdict,
};
use crate::auth::TokenKind;
use crate::graph::identity_accounts::{self, IdentityAccount, InvokeActionResult};
use crate::graph::users::User;
use crate::graph::{GraphError, GraphResponse};
use crate::hints::{self, Hint};
use crate::report::{ErrorReport, StepReport, StepStatus};

pub struct DisableOnpremAccount;

pub const NAME: &str = "disable_onprem_account";
const ABOUT: About = About {
    name: NAME,
    aliases: &["onprem", "on-premises"],
    phase: Phase::Contain,
    default_on: true,
    incident: false,
    stops_sign_in: false,
    action: Some("disable a synced user's on-premises AD account through Defender for Identity"),
};
const FIND: &str = "find";
const DISABLE: &str = "disable";
const RESET: &str = "forcePasswordReset";
const ACCOUNT: &str = "account";
const UNDO: &str = "enable_onprem_account";
const NO_MDI: &str = "no-defender-for-identity";

/// What `disable_account` says of a synced user instead of trying.
pub const ELSEWHERE_DISABLE: &str = "synced from on-premises Active Directory: Graph cannot disable it; disable_onprem_account disables its AD account through Defender for Identity (without it, disable the account in AD by hand)";
/// What `reset_password` says of a synced user instead of trying.
pub const ELSEWHERE_PASSWORD: &str = "synced from on-premises Active Directory: Graph cannot reset its password; disable_onprem_account forces a password reset on its AD account through Defender for Identity (without it, reset it in AD by hand, twice)";
/// Microsoft's guidance when lockdown cannot reach the AD account.
const GUIDANCE: &str = "disable the account in Active Directory and reset its password twice (Microsoft's emergency guidance for hybrid accounts)";

// learn: graph/api/security-identitycontainer-list-identityaccounts and
// security-identityaccounts-invokeaction: application and delegated; a delegated caller needs
// Security Administrator.
const ROLES: &[&str] = &["Security Administrator", "Global Administrator"];
const FIND_PERMS: &[&[&str]] = &[&["SecurityIdentitiesAccount.Read.All"]];
const ACT_PERMS: &[&[&str]] = &[
    &["SecurityIdentitiesActions.ReadWrite.All"],
    &["SecurityIdentitiesUserActions.ReadWrite.All"],
];

fn requirements(kind: TokenKind) -> [Requirement; 2] {
    let find = Requirement::new("GET /security/identities/identityAccounts", FIND_PERMS);
    let act = Requirement::new(
        "POST /security/identities/identityAccounts/{id}/invokeAction",
        ACT_PERMS,
    );
    match kind {
        TokenKind::AppOnly => [find, act],
        _ => [find.with_roles(ROLES), act.with_roles(ROLES)],
    }
}

impl Step for DisableOnpremAccount {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    fn prepare(&self, cx: &UserCx<'_>, _reads: Reads, selected: Selected) -> Box<dyn Prepared> {
        let sid = cx.user.on_premises_security_identifier.clone();
        let report = selected.skipped_report(NAME).or_else(|| {
            if !cx.user.is_synced() {
                return Some(StepReport::new(
                    NAME,
                    StepStatus::Skipped,
                    "not synced from on-premises Active Directory: no AD account to disable".to_owned(),
                ));
            }
            if cx.run.cloud != crate::cloud::Cloud::Global {
                // learn: graph/api/security-identitycontainer-list-identityaccounts — global
                // service only.
                return Some(StepReport::new(
                    NAME,
                    StepStatus::Skipped,
                    format!("Defender for Identity's Graph API is offered in the global cloud only: {GUIDANCE}"),
                ));
            }
            sid.is_none().then(|| {
                StepReport::new(
                    NAME,
                    StepStatus::Skipped,
                    format!("synced from on-premises Active Directory, but Graph gave no onPremisesSecurityIdentifier to find its AD account by: {GUIDANCE}"),
                )
            })
        });
        let find = match (&report, &sid) {
            (None, Some(sid)) => Some(Request::read(
                Read::one(FIND, identity_accounts::find_by_sid(sid)),
                "find on-premises account",
            )),
            _ => None,
        };
        Box::new(State {
            notices: cx.run.notices.clone(),
            find,
            account: None,
            actions: Vec::new(),
            report,
        })
    }

    // Needed only for users synced from AD: `expect` judges them target by target, so a caller
    // without Defender for Identity's permissions is not failed for cloud-only users.
    fn requires(&self, _cx: &RunCx) -> Vec<Requirement> {
        Vec::new()
    }

    fn expect(
        &self,
        target: &Target<'_>,
        _reads: Reads,
        facts: &mut Map<String, Value>,
    ) -> Vec<Finding> {
        if !target.synced() {
            return vec![Finding::nothing_to_send(
                "not synced from on-premises Active Directory: no AD account to disable",
            )];
        }
        if target.run.cloud != crate::cloud::Cloud::Global {
            return vec![Finding::missing(format!(
                "synced, and Defender for Identity's Graph API is offered in the global cloud only: {GUIDANCE}"
            ))];
        }
        if let Some(sid) = &target.user.on_premises_security_identifier {
            facts.insert("onPremisesSecurityIdentifier".into(), json!(sid));
        }
        let mut out = Vec::new();
        for req in requirements(target.caller.kind()) {
            let verdict = target.caller.evaluate(&req);
            for (status, reason) in verdict.reasons {
                out.push(match status {
                    Status::Missing => Finding::missing(reason),
                    Status::Unknown => Finding::unknown(reason),
                    Status::Ok => Finding::ok(reason),
                });
            }
        }
        if out.is_empty() {
            out.push(Finding::ok(
                "synced: its AD account is disabled through Defender for Identity where it is deployed",
            ));
        }
        out
    }

    fn undo(&self) -> Option<&dyn Undo> {
        Some(self)
    }
}

impl Undo for DisableOnpremAccount {
    fn prepare_undo(
        &self,
        _cx: &UserCx<'_>,
        _reads: Reads,
        record: Option<&Record>,
    ) -> Option<Box<dyn Prepared>> {
        let record = record?;
        if record.status(NAME) != Some("done") {
            return None;
        }
        let step = record.step(NAME)?;
        let text = |k: &str| step.get(k).and_then(Value::as_str).map(str::to_owned);
        Some(Box::new(Enable(match (text("identityAccount"), text("accountId")) {
            (Some(id), Some(account)) => One::Sends(Request::write(
                UNDO,
                identity_accounts::invoke(&id, &account, "enable"),
                "enable on-premises account",
            )),
            _ => One::Decided(StepReport::new(
                UNDO,
                StepStatus::Skipped,
                "the report does not name the identity account lockdown disabled; enable it in Active Directory by hand".to_owned(),
            )),
        })))
    }

    fn undo_warning(&self, record: &Record) -> Option<String> {
        (record.status(NAME) == Some("done")).then(|| {
            "unblocking enables the on-premises AD account again through Defender for Identity; its password stays as lockdown's reset left it".to_owned()
        })
    }
}

/// One action sent to Defender for Identity, and how it went.
struct Action {
    action: &'static str,
    request: Request,
    result: Option<Result<Option<String>, ErrorReport>>,
}

struct State {
    notices: super::Notices,
    find: Option<Request>,
    /// The identity account and its AD account's identifier, once found.
    account: Option<(String, String)>,
    actions: Vec<Action>,
    report: Option<StepReport>,
}

fn hint(err: &GraphError) -> Option<Hint> {
    match err.status()? {
        403 => hints::hint("Defender for Identity needs SecurityIdentitiesAccount.Read.All to find the account and SecurityIdentitiesActions.ReadWrite.All to act; a delegated caller also needs Security Administrator; it is offered in the global cloud only"),
        404 => hints::hint("the tenant has no Microsoft Defender for Identity (or it is not reachable): disable the account in Active Directory and reset its password twice"),
        _ => hints::common(err),
    }
}

impl State {
    fn unavailable(&mut self, err: &GraphError) -> StepReport {
        if self.notices.first(NO_MDI) {
            warn!(
                "Defender for Identity is not available ({} {}): synced users' AD accounts are not disabled by this run; {GUIDANCE}",
                err.status().map(|s| s.to_string()).unwrap_or_default(),
                err.code()
            );
        }
        StepReport {
            error: Some(ErrorReport::from_graph(err, hint(err))),
            ..StepReport::new(
                NAME,
                StepStatus::Skipped,
                format!("Defender for Identity is not available: {GUIDANCE}"),
            )
        }
    }

    fn found(&mut self, resp: Result<GraphResponse, GraphError>) -> Progress {
        let accounts = match resp.and_then(|r| identity_accounts::decode_list(&r)) {
            Ok(a) => a,
            Err(e) if identity_accounts::is_unavailable(&e) => {
                self.report = Some(self.unavailable(&e));
                return Progress::Done;
            }
            Err(e) => {
                self.report = Some(StepReport::failed(
                    NAME,
                    "the on-premises account could not be looked up in Defender for Identity",
                    ErrorReport::from_graph(&e, hint(&e)),
                ));
                return Progress::Done;
            }
        };
        let pick = accounts
            .iter()
            .find_map(|a: &IdentityAccount| a.active_directory(DISABLE).map(|ad| (a, ad)));
        let Some((identity, ad)) = pick else {
            if self.notices.first(NO_MDI) {
                warn!("Defender for Identity has no AD account it may disable for a synced user of this run; {GUIDANCE}");
            }
            self.report = Some(StepReport::new(
                NAME,
                StepStatus::Skipped,
                format!("Defender for Identity has no Active Directory account it may disable for this user's SID: {GUIDANCE}"),
            ));
            return Progress::Done;
        };
        self.account = Some((identity.id.clone(), ad.identifier.clone()));
        let mut actions = vec![DISABLE];
        if ad.actions.iter().any(|a| a.eq_ignore_ascii_case(RESET)) {
            actions.push(RESET);
        }
        self.actions = actions
            .into_iter()
            .map(|action| Action {
                action,
                request: Request::write(
                    action,
                    identity_accounts::invoke(&identity.id, &ad.identifier, action),
                    if action == DISABLE {
                        "disable on-premises account"
                    } else {
                        "force on-premises password reset"
                    },
                ),
                result: None,
            })
            .collect();
        Progress::More {
            requests: self.actions.iter().map(|a| a.request.clone()).collect(),
            after: std::time::Duration::ZERO,
        }
    }

    fn acted(&mut self, answers: &mut Answers) {
        for a in &mut self.actions {
            a.result = Some(
                answers
                    .take(a.action)
                    .and_then(|r| r.json::<InvokeActionResult>())
                    .map(|r| r.correlation_id)
                    .map_err(|e| ErrorReport::from_graph(&e, hint(&e))),
            );
        }
        let items: Vec<_> = self
            .actions
            .iter()
            .map(|a| {
                let mut fields = Map::new();
                fields.insert("action".into(), json!(a.action));
                let (status, error) = match &a.result {
                    Some(Ok(correlation)) => {
                        fields.insert("correlationId".into(), json!(correlation));
                        (StepStatus::Done, None)
                    }
                    Some(Err(e)) => (StepStatus::Failed, Some(e.clone())),
                    None => (StepStatus::Failed, None),
                };
                super::item(fields, a.action.to_owned(), status, error)
            })
            .collect();
        let ok = |a: &Action| matches!(a.result, Some(Ok(_)));
        let correlations: Vec<String> = self
            .actions
            .iter()
            .filter_map(|a| match &a.result {
                Some(Ok(Some(c))) => Some(format!("{} {c}", a.action)),
                _ => None,
            })
            .collect();
        let mut report = if self.actions.iter().all(ok) {
            StepReport::new(
                NAME,
                StepStatus::Done,
                format!(
                    "{} requested through Defender for Identity (correlationId {}): applied by its action account, and reaching Entra ID at the next directory sync",
                    self.actions.iter().map(|a| a.action).collect::<Vec<_>>().join(" and "),
                    correlations.join(", ")
                ),
            )
        } else {
            let failed = self.actions.iter().find(|a| !ok(a));
            StepReport {
                error: failed.and_then(|a| a.result.clone()).and_then(Result::err),
                ..StepReport::new(
                    NAME,
                    StepStatus::Failed,
                    format!(
                        "Defender for Identity did not accept {}",
                        failed.map(|a| a.action).unwrap_or(DISABLE)
                    ),
                )
            }
        };
        report = report.with_items("actions", items);
        if let Some((id, account)) = &self.account {
            report.extra.insert("identityAccount".into(), json!(id));
            report.extra.insert("accountId".into(), json!(account));
        }
        self.report = Some(report);
    }

    fn disabled(&self) -> bool {
        self.actions
            .iter()
            .any(|a| a.action == DISABLE && matches!(a.result, Some(Ok(_))))
    }
}

impl Prepared for State {
    fn requests(&self, _earlier: &[Earlier<'_>]) -> Vec<Request> {
        self.find.iter().cloned().collect()
    }

    fn planned(&self, _earlier: &[Earlier<'_>]) -> StepReport {
        match (&self.report, &self.find) {
            (Some(r), _) => r.clone(),
            (None, Some(find)) => StepReport::new(
                NAME,
                StepStatus::Planned,
                format!(
                    "would send {}, then POST /v1.0/security/identities/identityAccounts/{{id}}/invokeAction {{\"accountId\":<its activeDirectory account>,\"action\":\"disable\",\"identityProvider\":\"activeDirectory\"}} and the same with \"forcePasswordReset\"",
                    find.req.describe()
                ),
            ),
            (None, None) => StepReport::new(NAME, StepStatus::Skipped, GUIDANCE.to_owned()),
        }
    }

    fn finish(&mut self, mut answers: Answers, _earlier: &[Earlier<'_>]) -> Progress {
        if self.report.is_some() {
            return Progress::Done;
        }
        if self.actions.is_empty() {
            return self.found(answers.take(FIND));
        }
        self.acted(&mut answers);
        Progress::Done
    }

    fn report(&self) -> Option<StepReport> {
        self.report.clone()
    }

    fn verify_reads(&self) -> Vec<Read> {
        match &self.account {
            Some((id, _)) if self.disabled() || self.actions.iter().any(|a| a.result.is_none()) => {
                vec![Read::one(ACCOUNT, identity_accounts::get(id))]
            }
            _ => Vec::new(),
        }
    }

    fn verify(
        &self,
        _user: &User,
        reads: &mut Answers,
        after: &mut Map<String, Value>,
        verdict: &mut Verdict,
    ) {
        if !self.disabled() {
            return;
        }
        match reads
            .take(ACCOUNT)
            .and_then(|r| r.json::<IdentityAccount>())
        {
            Ok(a) => {
                after.insert("onPremisesAccountEnabled".into(), json!(a.is_enabled));
                verdict.held.push(if a.is_enabled == Some(false) {
                    "the on-premises account is disabled".to_owned()
                } else {
                    "the on-premises disable is pending (Defender for Identity applies it asynchronously; Entra ID follows at the next directory sync)".to_owned()
                });
            }
            Err(e) => verdict.held.push(format!(
                "the on-premises account could not be read back ({}), so its disable is not confirmed yet",
                e.code()
            )),
        }
    }
}

/// `enable_onprem_account`, the undo: Defender for Identity's `enable` on the AD account
/// lockdown disabled.
struct Enable(One);

impl Prepared for Enable {
    fn requests(&self, _earlier: &[Earlier<'_>]) -> Vec<Request> {
        self.0.requests()
    }

    fn planned(&self, _earlier: &[Earlier<'_>]) -> StepReport {
        self.0.planned(UNDO)
    }

    fn finish(&mut self, mut answers: Answers, _earlier: &[Earlier<'_>]) -> Progress {
        if self.0.waiting() {
            self.0.answered(
                match answers
                    .take(UNDO)
                    .and_then(|r| r.json::<InvokeActionResult>())
                {
                    Ok(r) => StepReport::new(
                        UNDO,
                        StepStatus::Done,
                        format!(
                            "enable requested through Defender for Identity (correlationId {}): the AD account signs in again once applied and synced",
                            r.correlation_id.unwrap_or_default()
                        ),
                    ),
                    Err(e) => StepReport::failed(
                        UNDO,
                        "Defender for Identity did not accept enable",
                        ErrorReport::from_graph(&e, hint(&e)),
                    ),
                },
            );
        }
        Progress::Done
    }

    fn report(&self) -> Option<StepReport> {
        self.0.report().cloned()
    }
}

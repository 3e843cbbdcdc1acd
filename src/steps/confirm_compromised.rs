//! `confirm_compromised` (opt-in, `--with confirm-compromised`): tell Identity Protection the
//! user is compromised (`POST /identityProtection/riskyUsers/confirmCompromised` `{"userIds":
//! [...]}`, learn: graph/api/riskyuser-confirmcompromised). The user's risk becomes high, so
//! risk-based Conditional Access policies apply to it. It needs Microsoft Entra ID P2.
//!
//! Identity Protection takes one request per second per tenant and sends no `Retry-After` on its
//! 429 (learn: graph/throttling-limits), and the action takes many ids: in a run of several
//! users, every user's id goes through the run's [`Coalescer`], which sends the ids gathered
//! meanwhile in one request, at most one a second (and is the only sender, so no two requests
//! can meet at Graph within that second). The one user of a single-user run sends its own, in
//! its chain. `status` reads the user's risk
//! (`GET /identityProtection/riskyUsers?$filter=...`); `block` does not, so as to spend that one
//! request a second on the action. Undo is `dismiss`, by hand.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{json, Map, Value};
use tokio::sync::oneshot;

use super::require::{Licence, Requirement};
use super::{
    About, Answers, Earlier, One, Phase, Prepared, Progress, Read, Reads, Record, Request, Route,
    RunCx, Selected, Step, Undo, UserCx,
};
use crate::auth::TokenKind;
use crate::graph::risky_users::{self, RiskyUser};
use crate::graph::{GraphClient, GraphError, GraphRequest, GraphResponse};
use crate::hints::{self, Hint};
use crate::report::{ErrorReport, StepReport, StepStatus};

pub struct ConfirmCompromised;

const NAME: &str = "confirm_compromised";
const ABOUT: About = About {
    name: NAME,
    aliases: &["confirm-compromised", "risk"],
    phase: Phase::CleanUp,
    default_on: false,
    incident: true,
    stops_sign_in: false,
    action: Some("confirm the user compromised in Identity Protection (risk high)"),
};
const RISK: &str = "risk";

impl Step for ConfirmCompromised {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    // learn: graph/api/riskyuser-confirmcompromised: IdentityRiskyUser.ReadWrite.All, Microsoft
    // Entra ID P2; a delegated caller needs Security Administrator.
    fn requires(&self, cx: &RunCx) -> Vec<Requirement> {
        const WRITE: &[&[&str]] = &[&["IdentityRiskyUser.ReadWrite.All"]];
        const ROLES: &[&str] = &["Security Administrator", "Global Administrator"];
        let req = Requirement::new(
            "POST /identityProtection/riskyUsers/confirmCompromised",
            WRITE,
        )
        .with_licence(Licence::EntraIdP2);
        vec![match cx.token_kind {
            TokenKind::AppOnly => req,
            _ => req.with_roles(ROLES),
        }]
    }

    fn reads(&self, who: &str, cx: &RunCx) -> Vec<Read> {
        if cx.status {
            vec![Read::one(RISK, risky_users::find(who))]
        } else {
            Vec::new()
        }
    }

    fn prepare(&self, cx: &UserCx<'_>, mut reads: Reads, selected: Selected) -> Box<dyn Prepared> {
        let risk = cx.run.status.then(|| {
            reads
                .take(RISK)
                .and_then(|r| r.json::<crate::graph::paging::Items>())
                .and_then(|items| {
                    items
                        .value
                        .into_iter()
                        .next()
                        .map(serde_json::from_value::<RiskyUser>)
                        .transpose()
                        .map_err(|e| GraphError::Decode {
                            message: format!("risky user: {e}"),
                        })
                })
        });
        let report = selected.skipped_report(NAME);
        let one = One::decide(report, || {
            let mut req = Request::write(
                NAME,
                risky_users::confirm_compromised(std::slice::from_ref(&cx.user.id.0)),
                "confirm compromised",
            );
            // Together with the other users of the run, unless it has only this one.
            if let Some(coalescer) = cx.run.risky_users.as_ref().filter(|c| !c.alone) {
                let route: Arc<dyn Route> = coalescer.clone();
                req.via = Some(route);
            }
            req
        });
        Box::new(State { risk, one })
    }

    fn undo(&self) -> Option<&dyn Undo> {
        Some(self)
    }
}

impl Undo for ConfirmCompromised {
    fn undo_warning(&self, record: &Record) -> Option<String> {
        (record.status(NAME) == Some("done")).then(|| {
            "this account was confirmed compromised during the lockdown: unblocking re-opens it, and dismissing its risk lets risk-based Conditional Access allow its sign-ins again; be sure the investigation cleared it".to_owned()
        })
    }

    fn undo_reads(&self, id: &str, record: Option<&Record>, _cx: &RunCx) -> Vec<Read> {
        match record {
            Some(r) if r.status(NAME) == Some("done") => {
                vec![Read::one(RISK, risky_users::find(id))]
            }
            _ => Vec::new(),
        }
    }

    fn prepare_undo(
        &self,
        cx: &UserCx<'_>,
        mut reads: Reads,
        record: Option<&Record>,
    ) -> Option<Box<dyn Prepared>> {
        if record?.status(NAME) != Some("done") {
            return None;
        }
        let now = reads.take(RISK).and_then(|r| risky_users::first(&r));
        let dismiss = || {
            Request::write(
                UNDO,
                risky_users::dismiss(std::slice::from_ref(&cx.user.id.0)),
                "dismiss risk",
            )
        };
        // Still as lockdown left it: confirmed compromised. Dismissed or remediated since is
        // already done; anything else (new detections since) is left alone unless --force.
        let one = match now {
            Err(e) => One::Decided(StepReport::failed(
                UNDO,
                "the user's risk could not be read, so it was left alone",
                ErrorReport::from_graph(&e, hint(&e).or_else(|| hints::common(&e))),
            )),
            Ok(r) => match r.as_ref().and_then(|r| r.risk_state.as_deref()) {
                Some("confirmedCompromised") => One::Sends(dismiss()),
                None | Some("dismissed") | Some("remediated") | Some("none") => {
                    One::Decided(StepReport::new(
                        UNDO,
                        StepStatus::Already,
                        "the user is no longer rated at risk".to_owned(),
                    ))
                }
                Some(_) if cx.run.force => One::Sends(dismiss()),
                Some(state) => One::Decided(StepReport::new(
                    UNDO,
                    StepStatus::Skipped,
                    format!("changed since the lockdown: the user's risk state is now {state}, not confirmedCompromised (pass --force to dismiss it anyway)"),
                )),
            },
        };
        Some(Box::new(Dismiss {
            one,
            id: cx.user.id.0.clone(),
        }))
    }
}

struct State {
    /// What `status` read: the user's risky-user record (`None` inside: never flagged).
    risk: Option<Result<Option<RiskyUser>, GraphError>>,
    one: One,
}

/// `dismiss_risk`, the undo: `POST /identityProtection/riskyUsers/dismiss` for a user lockdown
/// confirmed compromised and whose risk is still as lockdown left it.
const UNDO: &str = "dismiss_risk";

struct Dismiss {
    one: One,
    id: String,
}

impl Prepared for Dismiss {
    fn requests(&self, _earlier: &[Earlier<'_>]) -> Vec<Request> {
        self.one.requests()
    }

    fn planned(&self, _earlier: &[Earlier<'_>]) -> StepReport {
        self.one.planned(UNDO)
    }

    fn finish(&mut self, mut answers: Answers, _earlier: &[Earlier<'_>]) -> Progress {
        if self.one.waiting() {
            let report = match answers.take(UNDO) {
                Ok(_) => StepReport::new(
                    UNDO,
                    StepStatus::Done,
                    "risk dismissed: Identity Protection no longer rates the user at risk"
                        .to_owned(),
                ),
                Err(e) => StepReport::failed(
                    UNDO,
                    "the user's risk could not be dismissed",
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

    fn verify_reads(&self) -> Vec<Read> {
        if self.one.sends() {
            vec![Read::one(RISK, risky_users::find(&self.id))]
        } else {
            Vec::new()
        }
    }

    fn verify(
        &self,
        _user: &crate::graph::users::User,
        reads: &mut Answers,
        _after: &mut Map<String, Value>,
        verdict: &mut super::Verdict,
    ) {
        if self
            .one
            .report()
            .is_none_or(|r| r.status != StepStatus::Done)
        {
            return;
        }
        match reads.take(RISK).and_then(|r| risky_users::first(&r)) {
            Ok(r) => match r.as_ref().and_then(|r| r.risk_state.as_deref()) {
                Some("confirmedCompromised") => {
                    verdict
                        .problems
                        .push("the user is still confirmed compromised".into());
                    verdict.contradicts_write = true;
                }
                state => verdict
                    .held
                    .push(format!("risk state {}", state.unwrap_or("none"))),
            },
            Err(_) => verdict
                .problems
                .push("the user's risk could not be read back".into()),
        }
    }
}

fn hint(err: &GraphError) -> Option<Hint> {
    if risky_users::is_unlicensed(err) {
        return hints::hint(
            "Identity Protection needs Microsoft Entra ID P2 in the tenant; with it, the token needs IdentityRiskyUser.ReadWrite.All and a delegated caller the Security Administrator role",
        );
    }
    match err.status()? {
        403 => hints::hint(
            "the token needs IdentityRiskyUser.ReadWrite.All, and a delegated caller needs the Security Administrator role; Identity Protection also needs Microsoft Entra ID P2 in the tenant",
        ),
        _ => None,
    }
}

impl Prepared for State {
    fn facts(&self, json: &mut Map<String, Value>, text: &mut Vec<String>) {
        match &self.risk {
            Some(Ok(Some(r))) => {
                let level = r.risk_level.as_deref().unwrap_or("unknown");
                let state = r.risk_state.as_deref().unwrap_or("unknown");
                json.insert("riskLevel".into(), json!(level));
                json.insert("riskState".into(), json!(state));
                text.push(format!(
                    "user risk:           {level} ({state}); would be confirmed compromised (high)"
                ));
            }
            Some(Ok(None)) => {
                json.insert("riskLevel".into(), json!("none"));
                text.push(
                    "user risk:           none (never flagged); would be confirmed compromised (high)"
                        .into(),
                );
            }
            Some(Err(e)) => {
                let err = ErrorReport::from_graph(e, hint(e).or_else(|| hints::common(e)));
                text.push(format!(
                    "user risk:           could not be read ({} {})",
                    err.status.map(|s| s.to_string()).unwrap_or_default(),
                    err.code
                ));
                if let Some(h) = &err.hint {
                    text.push(format!("  hint: {h}"));
                }
                json.insert("riskError".into(), json!(err));
            }
            None => {}
        }
    }

    fn requests(&self, _earlier: &[Earlier<'_>]) -> Vec<Request> {
        self.one.requests()
    }

    fn planned(&self, _earlier: &[Earlier<'_>]) -> StepReport {
        match &self.one {
            One::Sends(req) => StepReport::new(
                NAME,
                StepStatus::Planned,
                format!(
                    "would send {} (with several users, one request a second carries the ids of all who reached this step since the last)",
                    req.describe()
                ),
            ),
            decided => decided.planned(NAME),
        }
    }

    fn finish(&mut self, mut answers: Answers, _earlier: &[Earlier<'_>]) -> Progress {
        if self.one.waiting() {
            let report = match answers.take(NAME) {
                Ok(_) => StepReport::new(
                    NAME,
                    StepStatus::Done,
                    "confirmed compromised: Identity Protection set the user's risk to high, so risk-based Conditional Access policies apply".to_owned(),
                ),
                Err(e) => StepReport::failed(
                    NAME,
                    "the user could not be confirmed compromised",
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
}

/// Gathers the ids of users who reach `confirm_compromised` at about the same time into one
/// request, and sends at most one a second: Identity Protection's limit for the whole tenant.
pub struct Coalescer {
    client: Arc<GraphClient>,
    /// The run has one user: it sends its own request in its chain.
    alone: bool,
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Waiting>,
    /// A task is sending what waits.
    flushing: bool,
    /// When the next request may go (one a second).
    next: Option<tokio::time::Instant>,
}

/// One user's request: its ids, the label its retries carry, and where its answer goes.
struct Waiting {
    ids: Vec<String>,
    label: String,
    reply: oneshot::Sender<Result<GraphResponse, GraphError>>,
}

impl std::fmt::Debug for Coalescer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalescer")
            .field("alone", &self.alone)
            .finish_non_exhaustive()
    }
}

/// How long the first user waits for others to join it (Graph seconds).
const LINGER: Duration = Duration::from_millis(100);
/// Identity Protection's pace (Graph seconds).
const PACE: Duration = Duration::from_secs(1);

impl Coalescer {
    /// `alone`: the run has a single user.
    pub fn new(client: Arc<GraphClient>, alone: bool) -> Arc<Coalescer> {
        Arc::new(Coalescer {
            client,
            alone,
            queue: Mutex::new(Queue::default()),
        })
    }

    /// Send what waits, a request a second, until nothing does.
    async fn flush(self: Arc<Self>) {
        loop {
            let at = self.queue.lock().unwrap().next;
            if let Some(at) = at {
                tokio::time::sleep_until(at).await;
            }
            let batch: Vec<Waiting> = {
                let mut q = self.queue.lock().unwrap();
                if q.waiting.is_empty() {
                    q.flushing = false;
                    return;
                }
                let mut n = 0;
                let mut ids = 0;
                while n < q.waiting.len()
                    && (n == 0 || ids + q.waiting[n].ids.len() <= risky_users::MAX_IDS)
                {
                    ids += q.waiting[n].ids.len();
                    n += 1;
                }
                q.waiting.drain(..n).collect()
            };
            let ids: Vec<String> = batch.iter().flat_map(|w| w.ids.clone()).collect();
            let label = match batch.as_slice() {
                [one] => one.label.clone(),
                many => format!(
                    "{} users ({}, ...): confirm compromised",
                    many.len(),
                    many[0].label.split(':').next().unwrap_or("")
                ),
            };
            let result = self
                .client
                .send(&risky_users::confirm_compromised(&ids), &label)
                .await;
            self.queue.lock().unwrap().next =
                Some(tokio::time::Instant::now() + self.client.retry_policy().real(PACE));
            for w in batch {
                let _ = w.reply.send(result.clone());
            }
        }
    }
}

impl Route for Coalescer {
    fn send(
        self: Arc<Self>,
        req: GraphRequest,
        label: String,
    ) -> BoxFuture<'static, Result<GraphResponse, GraphError>> {
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            let start = {
                let mut q = self.queue.lock().unwrap();
                q.waiting.push(Waiting {
                    ids: risky_users::user_ids(&req),
                    label,
                    reply,
                });
                let start = !q.flushing;
                if start {
                    q.flushing = true;
                    let linger =
                        tokio::time::Instant::now() + self.client.retry_policy().real(LINGER);
                    q.next = Some(q.next.map_or(linger, |n| n.max(linger)));
                }
                start
            };
            if start {
                tokio::spawn(self.clone().flush());
            }
            answer.await.unwrap_or_else(|_| {
                Err(GraphError::Refused {
                    message: "the confirmCompromised request was not sent".into(),
                })
            })
        })
    }
}

//! `remove_auth_methods` (opt-in, `--with auth-methods`): list the user's authentication
//! methods (`GET /users/{id}/authentication/methods`, learn: graph/api/authentication-list-methods)
//! and delete every one but the password, which has no delete (`DELETE
//! /users/{id}/authentication/{kind}Methods/{id}`, learn: each `*authenticationmethod-delete`).
//! With no method left, the user must register again at next sign-in.
//!
//! v1.0 does not say which method is the default, and Graph refuses to delete the default while
//! other methods remain (400 "Cannot delete default method with other methods configured"). So
//! the deletes go out in the order that makes the default likeliest to be last
//! ([`auth_methods::Method::delete_rank`]), at the end of the user's round, and a refused one is
//! sent again once the others are gone; `verify` re-lists and expects only the password.
//!
//! Phone numbers are masked to their last two digits as they are read. Undo: the `before` state
//! lists each method (id, type, masked name); deleted methods cannot be restored through Graph,
//! the user registers them again.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::listed::{Listing, Tally};
use super::require::{Finding, Requirement, Target};
use super::{
    item, About, Answers, Earlier, Phase, Prepared, Progress, Read, Reads, Record, Request, RunCx,
    Selected, Step, Undo, UserCx, Verdict,
};
use crate::auth::TokenKind;
use crate::graph::auth_methods::{self, Kind, Method};
use crate::graph::users::{User, UserId};
use crate::graph::GraphError;
use crate::hints::{self, Hint};
use crate::report::{ErrorReport, ItemReport, StepReport, StepStatus};

pub struct RemoveAuthMethods;

const NAME: &str = "remove_auth_methods";
const ABOUT: About = About {
    name: NAME,
    aliases: &["auth-methods", "methods"],
    phase: Phase::CleanUp,
    default_on: false,
    incident: true,
    stops_sign_in: false,
    action: Some("delete every authentication method but the password (the user registers again)"),
};
const LIST: &str = "methods";
/// Rounds of deletes at most: the first, the refused default after the others, and one more
/// for deletes a failure elsewhere in the chain kept from running.
const ROUNDS: u32 = 3;

const REGISTER_AGAIN: &str =
    "the user must register an authentication method again at next sign-in";

impl Step for RemoveAuthMethods {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    // learn: graph/api/authentication-list-methods, each `*authenticationmethod-delete`:
    // UserAuthenticationMethod.ReadWrite.All; a delegated caller needs Authentication
    // Administrator (Privileged Authentication Administrator for an admin target).
    fn requires(&self, cx: &RunCx) -> Vec<Requirement> {
        const WRITE: &[&[&str]] = &[&["UserAuthenticationMethod.ReadWrite.All"]];
        const ROLES: &[&str] = &[
            "Authentication Administrator",
            "Privileged Authentication Administrator",
            "Global Administrator",
        ];
        let req = Requirement::new(
            "DELETE /users/{id}/authentication/{kind}Methods/{id}",
            WRITE,
        );
        vec![match cx.token_kind {
            TokenKind::AppOnly => req,
            _ => req.with_roles(ROLES),
        }]
    }

    /// From the same listing a run reads: the methods there are to remove.
    fn expect(
        &self,
        target: &Target<'_>,
        mut reads: Reads,
        facts: &mut Map<String, Value>,
    ) -> Vec<Finding> {
        let listed = reads
            .take(LIST)
            .and_then(|r| r.json::<crate::graph::paging::Items>())
            .and_then(|items| auth_methods::from_items(items.value));
        match listed {
            Ok(methods) => {
                let removable = methods.iter().filter(|m| m.kind != Kind::Password).count();
                facts.insert("authenticationMethods".into(), json!(removable));
                if removable == 0 {
                    return vec![Finding::nothing_to_send("no method but the password")];
                }
                target.privileged().into_iter().collect()
            }
            Err(e) if e.status() == Some(403) => vec![Finding::missing(
                "the user's authentication methods cannot be listed (403): the token needs UserAuthenticationMethod.ReadWrite.All, and a delegated caller Authentication Administrator",
            )],
            Err(e) => vec![Finding::unknown(format!(
                "the user's authentication methods could not be listed ({})",
                crate::graph::short_reason(&e)
            ))],
        }
    }

    fn reads(&self, who: &str, _cx: &RunCx) -> Vec<Read> {
        vec![Read::paged(LIST, auth_methods::list(who))]
    }

    fn prepare(&self, cx: &UserCx<'_>, mut reads: Reads, selected: Selected) -> Box<dyn Prepared> {
        let listed = Listing::read(
            NAME,
            &selected,
            &mut reads,
            LIST,
            auth_methods::from_items,
            |e| {
                StepReport::failed(
                    NAME,
                    "the user's authentication methods could not be listed",
                    cx.error(e, list_hint(e)),
                )
            },
        );
        let mut state = State {
            owner: cx.user.id.clone(),
            listed,
            order: Vec::new(),
            results: HashMap::new(),
            pending: Vec::new(),
            rounds: 0,
            refused_ids: Vec::new(),
        };
        if let Some(methods) = state.listed.items() {
            let mut order: Vec<&Method> = methods
                .iter()
                .filter(|m| m.kind.collection().is_some())
                .collect();
            order.sort_by_key(|m| m.delete_rank());
            state.order = order.iter().map(|m| m.id.clone()).collect();
            state.pending = order
                .iter()
                .filter_map(|m| delete_request(&state.owner, m))
                .collect();
            if state.pending.is_empty() {
                let report = nothing_to_delete(methods);
                state.listed.settle(report);
            }
        }
        Box::new(state)
    }

    fn change_line(
        &self,
        before: &Map<String, Value>,
        after: &Map<String, Value>,
    ) -> Option<String> {
        let count =
            |m: &Map<String, Value>| m.get("methods").and_then(Value::as_array).map(|a| a.len());
        let (b, a) = (count(before)?, count(after)?);
        Some(format!("authentication methods: {b} -> {a}"))
    }

    fn undo(&self) -> Option<&dyn Undo> {
        Some(self)
    }
}

impl Undo for RemoveAuthMethods {
    fn not_undoable(&self, record: &Record) -> Option<String> {
        record.changed(NAME).then(|| "removed authentication methods cannot be put back: the user registers methods again at next sign-in (with --tap, after signing in with the pass)".to_owned())
    }
}

/// What became of one method.
#[derive(Debug, Clone)]
enum Outcome {
    Deleted,
    /// Gone before the delete reached it (404).
    Gone,
    /// Graph refused it as the default while others remained.
    Refused(GraphError),
    /// An earlier request of the chain failed, so it did not run (424).
    NotRun(GraphError),
    Failed(GraphError),
}

struct State {
    owner: UserId,
    listed: Listing<Method>,
    /// Ids of the methods to delete, in the order they are sent.
    order: Vec<String>,
    results: HashMap<String, Outcome>,
    /// The deletes of the current round.
    pending: Vec<Request>,
    rounds: u32,
    /// Methods Graph refused at least once as the default.
    refused_ids: Vec<String>,
}

fn delete_request(owner: &UserId, m: &Method) -> Option<Request> {
    auth_methods::delete(owner, m)
        .map(|req| Request::write(m.id.clone(), req, "delete authentication method").at_end())
}

fn list_hint(err: &GraphError) -> Option<Hint> {
    match err.status()? {
        403 => hints::hint(format!(
            "the token needs UserAuthenticationMethod.Read.All (UserAuthenticationMethod.ReadWrite.All to delete), and a delegated caller needs the Authentication Administrator role; {}",
            hints::PRIVILEGED_TARGET
        )),
        _ => None,
    }
}

fn delete_hint(err: &GraphError) -> Option<Hint> {
    if auth_methods::is_default_refusal(err) {
        return hints::hint(
            "this is the user's default method, which Graph deletes only once no other method is left: remove the others first, or change the default in the Entra admin center (the user's Authentication methods)",
        );
    }
    match err.status()? {
        403 => hints::hint(format!(
            "the token needs UserAuthenticationMethod.ReadWrite.All, and a delegated caller needs the Authentication Administrator role; {}",
            hints::PRIVILEGED_TARGET
        )),
        _ => None,
    }
}

fn fields(m: &Method) -> Map<String, Value> {
    let mut f = Map::new();
    f.insert("id".into(), json!(m.id));
    f.insert("type".into(), json!(m.kind.type_name()));
    f.insert("displayName".into(), json!(m.display_name));
    f
}

fn snapshot(methods: &[Method]) -> Value {
    Value::Array(methods.iter().map(|m| Value::Object(fields(m))).collect())
}

/// The methods lockdown cannot delete: the password, and kinds without a v1.0 delete.
fn kept(methods: &[Method]) -> (bool, Vec<&Method>) {
    let password = methods.iter().any(|m| m.kind == Kind::Password);
    let unknown = methods
        .iter()
        .filter(|m| matches!(m.kind, Kind::Other(_)))
        .collect();
    (password, unknown)
}

fn kept_note(methods: &[Method]) -> String {
    let (password, unknown) = kept(methods);
    let mut parts = Vec::new();
    if password {
        parts.push("the password stays (it cannot be deleted)".to_owned());
    }
    if !unknown.is_empty() {
        parts.push(format!(
            "{} has no delete in Graph v1.0 that lockdown knows: remove it in the Entra admin center",
            unknown
                .iter()
                .map(|m| m.kind.type_name().to_owned())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    parts.join("; ")
}

/// The report of a user with nothing lockdown can delete.
fn nothing_to_delete(methods: &[Method]) -> StepReport {
    let items = methods
        .iter()
        .map(|m| item(fields(m), m.label(), StepStatus::Skipped, None))
        .collect();
    let mut detail = if methods.is_empty() {
        "no authentication method is registered".to_owned()
    } else {
        "no method to delete".to_owned()
    };
    let note = kept_note(methods);
    if !note.is_empty() {
        detail.push_str(&format!(": {note}"));
    }
    StepReport::new(NAME, StepStatus::Skipped, detail).with_items("methods", items)
}

impl State {
    fn methods(&self) -> Option<&[Method]> {
        self.listed.items()
    }

    fn method(&self, id: &str) -> Option<&Method> {
        self.methods()?.iter().find(|m| m.id == id)
    }

    fn final_report(&self, methods: &[Method]) -> StepReport {
        let mut tally = Tally::default();
        let mut refused_then_deleted = false;
        let items: Vec<ItemReport> = methods
            .iter()
            .map(|m| {
                let (status, error) = match self.results.get(&m.id) {
                    None => (StepStatus::Skipped, None),
                    Some(Outcome::Deleted) => (StepStatus::Done, None),
                    Some(Outcome::Gone) => (StepStatus::Already, None),
                    Some(Outcome::Refused(e) | Outcome::NotRun(e) | Outcome::Failed(e)) => {
                        let hint = delete_hint(e).or_else(|| hints::common(e));
                        (StepStatus::Failed, Some(ErrorReport::from_graph(e, hint)))
                    }
                };
                tally.add(status);
                if status == StepStatus::Done && self.rounds > 1 && self.was_refused(&m.id) {
                    refused_then_deleted = true;
                }
                item(fields(m), m.label(), status, error)
            })
            .collect();
        let status = tally.status(&[StepStatus::Failed, StepStatus::Done], StepStatus::Already);
        let deleted = if refused_then_deleted {
            "deleted (the default one last, once the others were gone)"
        } else {
            "deleted"
        };
        let mut parts = vec![format!("{} method(s)", methods.len())];
        parts.extend(tally.parts(&[
            (StepStatus::Done, deleted),
            (StepStatus::Already, "already gone"),
            (StepStatus::Failed, "could not be deleted"),
        ]));
        let mut detail = parts.join(", ");
        let note = kept_note(methods);
        if !note.is_empty() {
            detail.push_str(&format!("; {note}"));
        }
        let (done, already, failed) = (
            tally.n(StepStatus::Done),
            tally.n(StepStatus::Already),
            tally.n(StepStatus::Failed),
        );
        if done + already > 0 && failed == 0 {
            detail.push_str(&format!("; {REGISTER_AGAIN}"));
        }
        StepReport::new(NAME, status, detail).with_items("methods", items)
    }

    /// Graph refused this method at least once (it was the default).
    fn was_refused(&self, id: &str) -> bool {
        self.refused_ids.contains(&id.to_owned())
    }
}

impl Prepared for State {
    fn before(&self, state: &mut Map<String, Value>) {
        if let Some(list) = self.methods() {
            state.insert("methods".into(), snapshot(list));
        }
    }

    fn facts(&self, json: &mut Map<String, Value>, text: &mut Vec<String>) {
        match (self.listed.items(), self.listed.error()) {
            (Some(list), _) => {
                json.insert("authenticationMethods".into(), snapshot(list));
                let deletable = list
                    .iter()
                    .filter(|m| m.kind.collection().is_some())
                    .count();
                text.push(format!(
                    "auth methods:        {} ({deletable} would be deleted)",
                    list.len()
                ));
                for m in list {
                    let fate = if m.kind.collection().is_some() {
                        "would be deleted"
                    } else if m.kind == Kind::Password {
                        "stays (cannot be deleted)"
                    } else {
                        "stays (no delete in Graph v1.0)"
                    };
                    text.push(format!("  - {}: {fate}", m.label()));
                }
            }
            (None, Some(e)) => {
                let err = ErrorReport::from_graph(e, list_hint(e).or_else(|| hints::common(e)));
                super::unreadable_fact(
                    json,
                    text,
                    "auth methods",
                    "authenticationMethodsError",
                    err,
                );
            }
            (None, None) => {}
        }
    }

    fn requests(&self, _earlier: &[Earlier<'_>]) -> Vec<Request> {
        if self.listed.report().is_some() {
            return Vec::new();
        }
        self.pending.clone()
    }

    fn planned(&self, _earlier: &[Earlier<'_>]) -> StepReport {
        let methods = match self.listed.pending() {
            Ok(methods) => methods,
            Err(report) => return report.clone(),
        };
        let items = methods
            .iter()
            .map(|m| {
                let status = if self.order.contains(&m.id) {
                    StepStatus::Planned
                } else {
                    StepStatus::Skipped
                };
                item(fields(m), m.label(), status, None)
            })
            .collect();
        let mut detail = format!(
            "would send DELETE /v1.0/users/{{id}}/authentication/{{kind}}Methods/{{id}} for {} of {} method(s)",
            self.pending.len(),
            methods.len()
        );
        let note = kept_note(methods);
        if !note.is_empty() {
            detail.push_str(&format!("; {note}"));
        }
        detail.push_str(&format!("; {REGISTER_AGAIN}"));
        StepReport::new(NAME, StepStatus::Planned, detail).with_items("methods", items)
    }

    fn finish(&mut self, mut answers: Answers, _earlier: &[Earlier<'_>]) -> Progress {
        if self.listed.report().is_some() {
            return Progress::Done;
        }
        self.rounds += 1;
        for r in std::mem::take(&mut self.pending) {
            let outcome = match answers.take(&r.tag) {
                Ok(_) => Outcome::Deleted,
                Err(e) if e.is_not_found() => Outcome::Gone,
                Err(e) if auth_methods::is_default_refusal(&e) => {
                    self.refused_ids.push(r.tag.clone());
                    Outcome::Refused(e)
                }
                Err(e) if e.status() == Some(424) => Outcome::NotRun(e),
                Err(e) => Outcome::Failed(e),
            };
            self.results.insert(r.tag, outcome);
        }
        // Again: what did not run, then a refused default, last. A default is worth sending
        // again only if every other method is gone by then.
        let others_failed = self
            .results
            .values()
            .any(|o| matches!(o, Outcome::Failed(_)));
        let mut again: Vec<&String> = self
            .order
            .iter()
            .filter(|id| matches!(self.results.get(*id), Some(Outcome::NotRun(_))))
            .collect();
        if !others_failed {
            again.extend(
                self.order
                    .iter()
                    .filter(|id| matches!(self.results.get(*id), Some(Outcome::Refused(_)))),
            );
        }
        if !again.is_empty() && self.rounds < ROUNDS {
            let pending: Vec<Request> = again
                .into_iter()
                .filter_map(|id| self.method(id))
                .filter_map(|m| delete_request(&self.owner, m))
                .collect();
            self.pending = pending;
            return Progress::More {
                requests: self.pending.clone(),
                after: std::time::Duration::ZERO,
            };
        }
        if let Some(methods) = self.methods() {
            let report = self.final_report(methods);
            self.listed.settle(report);
        }
        Progress::Done
    }

    fn report(&self) -> Option<StepReport> {
        self.listed.report().cloned()
    }

    fn verify_reads(&self) -> Vec<Read> {
        if self.order.is_empty() || self.methods().is_none() {
            return Vec::new();
        }
        vec![Read::paged(LIST, auth_methods::list(&self.owner.0)).at_end()]
    }

    fn verify(
        &self,
        _user: &User,
        reads: &mut Answers,
        after: &mut Map<String, Value>,
        verdict: &mut Verdict,
    ) {
        let Some(before) = self.methods() else {
            return;
        };
        if self.order.is_empty() {
            after.insert("methods".into(), snapshot(before));
            return;
        }
        let now = reads
            .take(LIST)
            .and_then(|r| r.json::<crate::graph::paging::Items>())
            .and_then(|items| auth_methods::from_items(items.value));
        let now = match now {
            Ok(now) => now,
            Err(e) => {
                verdict
                    .problems
                    .push("the authentication methods could not be read back".into());
                // Not run because an earlier request of the chain failed: read again.
                verdict.contradicts_write |= e.status() == Some(424);
                return;
            }
        };
        after.insert("methods".into(), snapshot(&now));
        let left: Vec<&Method> = now.iter().filter(|m| m.kind != Kind::Password).collect();
        if left.is_empty() {
            verdict.held.push("only the password is registered".into());
            return;
        }
        for m in left {
            verdict.problems.push(format!(
                "authentication method {} is still registered",
                m.label()
            ));
            if matches!(self.results.get(&m.id), Some(Outcome::Deleted)) {
                verdict.contradicts_write = true;
            }
        }
    }
}

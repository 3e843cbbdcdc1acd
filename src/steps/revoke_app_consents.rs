//! `revoke_app_consents` (opt-in, `--with app-consents`): list the delegated permission grants
//! the user gave apps (`GET /users/{id}/oauth2PermissionGrants`, learn:
//! graph/api/user-list-oauth2permissiongrants) and delete each
//! (`DELETE /oauth2PermissionGrants/{id}`, learn: graph/api/oauth2permissiongrant-delete), so a
//! consent-phishing app can no longer get tokens as the user. Each app is named from its service
//! principal (`GET /servicePrincipals/{clientId}`), read after the deletes in the same chain.
//!
//! Tenant-wide consents (`AllPrincipals`) are the organisation's, not the user's: Graph does not
//! list them here and lockdown never touches them. Access tokens already issued to an app stay
//! valid until they expire. Undo: the `before` state keeps each grant (client, resource, scope),
//! enough to grant it again.

use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Map, Value};

use super::listed::{Listing, Tally};
use super::require::{Finding, Requirement, Target};
use super::{
    item, About, Answers, Earlier, Phase, Prepared, Progress, Read, Reads, Record, Request, RunCx,
    Selected, Step, Undo, UserCx, Verdict,
};
use crate::auth::TokenKind;
use crate::graph::grants::{self, Grant, ServicePrincipal};
use crate::graph::users::{User, UserId};
use crate::graph::GraphError;
use crate::hints::{self, Hint};
use crate::report::{ErrorReport, ItemReport, StepReport, StepStatus};

pub struct RevokeAppConsents;

const NAME: &str = "revoke_app_consents";
const ABOUT: About = About {
    name: NAME,
    aliases: &["app-consents", "consents"],
    phase: Phase::CleanUp,
    default_on: false,
    incident: true,
    stops_sign_in: false,
    action: Some("revoke the apps the user consented to"),
};
const LIST: &str = "grants";
const GRANT: &str = "grant/";
const APP: &str = "app/";

const TOKENS_LIVE: &str =
    "access tokens already issued to these apps stay valid until they expire (up to about an hour)";
const TENANT_WIDE: &str =
    "tenant-wide (admin) consents are the organisation's, not the user's, and are left alone";

impl Step for RevokeAppConsents {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    // learn: graph/api/user-list-oauth2permissiongrants, graph/api/oauth2permissiongrant-delete:
    // DelegatedPermissionGrant.ReadWrite.All; a delegated caller needs a role that may manage
    // consents (Cloud Application Administrator, Application Administrator, ...).
    fn requires(&self, cx: &RunCx) -> Vec<Requirement> {
        const DELETE: &[&[&str]] = &[
            &["DelegatedPermissionGrant.ReadWrite.All"],
            &["Directory.ReadWrite.All"],
        ];
        const ROLES: &[&str] = &[
            "Cloud Application Administrator",
            "Application Administrator",
            "Privileged Role Administrator",
            "User Administrator",
            "Global Administrator",
        ];
        let req = Requirement::new("DELETE /oauth2PermissionGrants/{id}", DELETE);
        vec![match cx.token_kind {
            TokenKind::AppOnly => req,
            _ => req.with_roles(ROLES),
        }]
    }

    /// From the same listing a run reads: the user's own consents.
    fn expect(
        &self,
        _target: &Target<'_>,
        mut reads: Reads,
        facts: &mut Map<String, Value>,
    ) -> Vec<Finding> {
        let listed = reads
            .take(LIST)
            .and_then(|r| r.json::<crate::graph::paging::Items>())
            .map(|items| {
                items
                    .value
                    .into_iter()
                    .filter_map(|v| serde_json::from_value::<Grant>(v).ok())
                    .filter(Grant::is_principal)
                    .count()
            });
        match listed {
            Ok(0) => {
                facts.insert("appConsents".into(), json!(0));
                vec![Finding::nothing_to_send("no app consents of the user's own")]
            }
            Ok(n) => {
                facts.insert("appConsents".into(), json!(n));
                Vec::new()
            }
            Err(e) if e.status() == Some(403) => vec![Finding::missing(
                "the user's app consents cannot be listed (403): the token needs DelegatedPermissionGrant.ReadWrite.All",
            )],
            Err(e) => vec![Finding::unknown(format!(
                "the user's app consents could not be listed ({})",
                crate::graph::short_reason(&e)
            ))],
        }
    }

    fn reads(&self, who: &str, _cx: &RunCx) -> Vec<Read> {
        vec![Read::paged(LIST, grants::list_for_user(who))]
    }

    fn prepare(&self, cx: &UserCx<'_>, mut reads: Reads, selected: Selected) -> Box<dyn Prepared> {
        let listed = Listing::read(NAME, &selected, &mut reads, LIST, decode, |e| {
            StepReport::failed(
                NAME,
                "the user's app consents could not be listed",
                cx.error(e, list_hint(e)),
            )
        });
        let mut state = State {
            owner: cx.user.id.clone(),
            listed,
            requests: Vec::new(),
            names: HashMap::new(),
            results: HashMap::new(),
        };
        if let Some(list) = state.listed.items() {
            let own: Vec<&Grant> = list.iter().filter(|g| g.is_principal()).collect();
            state.requests = own
                .iter()
                .map(|g| {
                    Request::write(
                        format!("{GRANT}{}", g.id),
                        grants::delete(&g.id),
                        "revoke app consent",
                    )
                })
                .collect();
            let apps: BTreeSet<&str> = own.iter().map(|g| g.client_id.as_str()).collect();
            state.requests.extend(apps.into_iter().map(|client| {
                Request::read(
                    Read::one(format!("{APP}{client}"), grants::client_app(client)),
                    "read app name",
                )
            }));
            if own.is_empty() {
                let report = nothing_to_revoke(list);
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
            |m: &Map<String, Value>| m.get("grants").and_then(Value::as_array).map(Vec::len);
        Some(format!(
            "app consents: {} -> {}",
            count(before)?,
            count(after)?
        ))
    }

    fn undo(&self) -> Option<&dyn Undo> {
        Some(self)
    }
}

impl Undo for RevokeAppConsents {
    fn not_undoable(&self, record: &Record) -> Option<String> {
        record.changed(NAME).then(|| "revoked app consents are not granted again: lockdown never re-grants an app it removed during an incident; the user consents again if the app is wanted".to_owned())
    }
}

fn decode(items: Vec<Value>) -> Result<Vec<Grant>, GraphError> {
    items
        .into_iter()
        .map(|item| {
            serde_path_to_error::deserialize(item).map_err(|e| GraphError::Decode {
                message: format!("permission grant at `{}`: {}", e.path(), e.inner()),
            })
        })
        .collect()
}

struct State {
    owner: UserId,
    listed: Listing<Grant>,
    requests: Vec<Request>,
    /// App names by client service principal id, as read.
    names: HashMap<String, String>,
    /// Each deleted grant's answer, by grant id.
    results: HashMap<String, Result<(), GraphError>>,
}

fn list_hint(err: &GraphError) -> Option<Hint> {
    match err.status()? {
        403 => hints::hint(
            "the token needs DelegatedPermissionGrant.ReadWrite.All (Directory.Read.All is enough to list)",
        ),
        _ => None,
    }
}

fn delete_hint(err: &GraphError) -> Option<Hint> {
    match err.status()? {
        403 => hints::hint(
            "the token needs DelegatedPermissionGrant.ReadWrite.All, and a delegated caller needs a role that manages consents, such as Cloud Application Administrator, Application Administrator or Privileged Role Administrator",
        ),
        _ => None,
    }
}

fn fields(g: &Grant, name: Option<&str>) -> Map<String, Value> {
    let mut f = Map::new();
    f.insert("id".into(), json!(g.id));
    f.insert("clientId".into(), json!(g.client_id));
    f.insert("appDisplayName".into(), json!(name));
    f.insert("scope".into(), json!(g.scopes()));
    f
}

fn label(g: &Grant, name: Option<&str>) -> String {
    let app = name
        .map(str::to_owned)
        .unwrap_or_else(|| format!("app {}", g.client_id));
    format!("{app} ({})", g.scopes())
}

/// What an undo needs to grant each consent again.
fn snapshot(list: &[Grant]) -> Value {
    Value::Array(
        list.iter()
            .filter(|g| g.is_principal())
            .map(|g| {
                json!({
                    "id": g.id,
                    "clientId": g.client_id,
                    "consentType": g.consent_type,
                    "principalId": g.principal_id,
                    "resourceId": g.resource_id,
                    "scope": g.scopes(),
                })
            })
            .collect(),
    )
}

fn nothing_to_revoke(list: &[Grant]) -> StepReport {
    let items = list
        .iter()
        .map(|g| item(fields(g, None), label(g, None), StepStatus::Skipped, None))
        .collect();
    StepReport::new(
        NAME,
        StepStatus::Skipped,
        format!("the user has consented to no app; {TENANT_WIDE}"),
    )
    .with_items("grants", items)
}

impl State {
    fn grants(&self) -> Option<&[Grant]> {
        self.listed.items()
    }

    fn name(&self, g: &Grant) -> Option<&str> {
        self.names.get(&g.client_id).map(String::as_str)
    }

    fn deleted(&self) -> Vec<&String> {
        self.results
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(id, _)| id)
            .collect()
    }

    fn final_report(&self, list: &[Grant]) -> StepReport {
        let mut tally = Tally::default();
        let mut revoked: Vec<String> = Vec::new();
        let items: Vec<ItemReport> = list
            .iter()
            .filter(|g| g.is_principal())
            .map(|g| {
                let (status, error) = match self.results.get(&g.id) {
                    Some(Ok(())) => {
                        revoked.push(self.name(g).unwrap_or(&g.client_id).to_owned());
                        (StepStatus::Done, None)
                    }
                    Some(Err(e)) if e.is_not_found() => (StepStatus::Already, None),
                    Some(Err(e)) => {
                        let hint = delete_hint(e).or_else(|| hints::common(e));
                        (StepStatus::Failed, Some(ErrorReport::from_graph(e, hint)))
                    }
                    None => (StepStatus::Skipped, None),
                };
                tally.add(status);
                item(
                    fields(g, self.name(g)),
                    label(g, self.name(g)),
                    status,
                    error,
                )
            })
            .collect();
        let status = tally.status(&[StepStatus::Failed, StepStatus::Done], StepStatus::Already);
        let parts = tally.parts(&[
            (
                StepStatus::Done,
                &format!("revoked ({})", revoked.join(", ")),
            ),
            (StepStatus::Already, "already gone"),
            (StepStatus::Failed, "could not be revoked"),
        ]);
        let detail = format!(
            "{} app consent(s): {}; {TOKENS_LIVE}; {TENANT_WIDE}",
            items.len(),
            parts.join(", ")
        );
        StepReport::new(NAME, status, detail).with_items("grants", items)
    }
}

impl Prepared for State {
    fn before(&self, state: &mut Map<String, Value>) {
        if let Some(list) = self.grants() {
            state.insert("grants".into(), snapshot(list));
        }
    }

    fn facts(&self, json: &mut Map<String, Value>, text: &mut Vec<String>) {
        match (self.listed.items(), self.listed.error()) {
            (Some(list), _) => {
                json.insert("appConsents".into(), snapshot(list));
                let own: Vec<&Grant> = list.iter().filter(|g| g.is_principal()).collect();
                text.push(format!(
                    "app consents:        {} (would be revoked)",
                    own.len()
                ));
                for g in own {
                    text.push(format!("  - {}", label(g, None)));
                }
            }
            (None, Some(e)) => {
                let err = ErrorReport::from_graph(e, list_hint(e).or_else(|| hints::common(e)));
                super::unreadable_fact(json, text, "app consents", "appConsentsError", err);
            }
            (None, None) => {}
        }
    }

    fn requests(&self, _earlier: &[Earlier<'_>]) -> Vec<Request> {
        if self.listed.report().is_some() {
            return Vec::new();
        }
        self.requests.clone()
    }

    fn planned(&self, _earlier: &[Earlier<'_>]) -> StepReport {
        let list = match self.listed.pending() {
            Ok(list) => list,
            Err(report) => return report.clone(),
        };
        let items: Vec<ItemReport> = list
            .iter()
            .filter(|g| g.is_principal())
            .map(|g| item(fields(g, None), label(g, None), StepStatus::Planned, None))
            .collect();
        let detail = format!(
            "would send DELETE /v1.0/oauth2PermissionGrants/{{id}} for {} app consent(s); {TENANT_WIDE}",
            items.len()
        );
        StepReport::new(NAME, StepStatus::Planned, detail).with_items("grants", items)
    }

    fn finish(&mut self, mut answers: Answers, _earlier: &[Earlier<'_>]) -> Progress {
        if self.listed.report().is_some() {
            return Progress::Done;
        }
        for r in &self.requests {
            let answer = answers.take(&r.tag);
            if let Some(id) = r.tag.strip_prefix(GRANT) {
                self.results.insert(id.to_owned(), answer.map(|_| ()));
            } else if let Some(client) = r.tag.strip_prefix(APP) {
                // The name is only for the report: without it, the client id stands in.
                if let Ok(sp) = answer.and_then(|a| a.json::<ServicePrincipal>()) {
                    if let Some(name) = sp.app_display_name {
                        self.names.insert(client.to_owned(), name);
                    }
                }
            }
        }
        if let Some(list) = self.grants() {
            let report = self.final_report(list);
            self.listed.settle(report);
        }
        Progress::Done
    }

    fn report(&self) -> Option<StepReport> {
        self.listed.report().cloned()
    }

    fn verify_reads(&self) -> Vec<Read> {
        // Asked again each time verify reads (also after the step has its report).
        if self.grants().is_none() || self.requests.is_empty() {
            return Vec::new();
        }
        vec![Read::paged(LIST, grants::list_for_user(&self.owner.0))]
    }

    fn verify(
        &self,
        _user: &User,
        reads: &mut Answers,
        after: &mut Map<String, Value>,
        verdict: &mut Verdict,
    ) {
        let Some(before) = self.grants() else {
            return;
        };
        if self.requests.is_empty() {
            after.insert("grants".into(), snapshot(before));
            return;
        }
        let now = reads
            .take(LIST)
            .and_then(|r| r.json::<crate::graph::paging::Items>())
            .and_then(|items| decode(items.value));
        let now = match now {
            Ok(now) => now,
            Err(_) => {
                verdict
                    .problems
                    .push("the app consents could not be read back".into());
                return;
            }
        };
        after.insert("grants".into(), snapshot(&now));
        let deleted = self.deleted();
        if deleted.is_empty() {
            return;
        }
        let still: Vec<&Grant> = now.iter().filter(|g| deleted.contains(&&g.id)).collect();
        if still.is_empty() {
            verdict.held.push(format!(
                "{} app consent(s) read back revoked",
                deleted.len()
            ));
        } else {
            for g in still {
                verdict.problems.push(format!(
                    "the consent to {} is still granted",
                    self.name(g).unwrap_or(&g.client_id)
                ));
            }
            verdict.contradicts_write = true;
        }
    }
}

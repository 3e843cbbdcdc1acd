//! `block_sign_in`: add the user to the Conditional Access block group (`POST
//! /groups/{id}/members/$ref`, learn: graph/api/group-post-members), whose policy blocks every
//! sign-in of its members. It is a second lock for every account (one someone re-enables stays
//! blocked) and the only one Graph offers for a user synced from on-premises AD, whose
//! `accountEnabled` Graph refuses to change.
//!
//! `lockdown setup` creates the group and its policy. A run finds the group once, by its
//! mailNickname (or `--block-group ID`), and reads the policies once, both in the first user's
//! first read ([`Lookup`]); every user waits for that answer before deciding. A policy that
//! does not enforce (report-only, off, the group not included, the user excluded) is a warning
//! on each result, and the step then does not count as blocking. Already a member (Graph's 400
//! "One or more added object references already exist") is `already`. Undone by `unblock`
//! (`DELETE /groups/{id}/members/{user}/$ref`) when the report shows lockdown added the user.

use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::require::{Finding, Requirement, Target};
use super::{
    About, Answers, Earlier, Once, One, Phase, Prepared, Progress, Read, Reads, Record, Request,
    RunCx, Selected, Step, Undo, UserCx,
};
use crate::auth::TokenKind;
use crate::graph::conditional_access::{self, Policy};
use crate::graph::groups::{self, Group, GroupId};
use crate::graph::{GraphClient, GraphError, GraphResponse};
use crate::hints::{self, Hint};
use crate::report::{ErrorReport, StepReport, StepStatus};

pub struct BlockSignIn;

pub const NAME: &str = "block_sign_in";
const ABOUT: About = About {
    name: NAME,
    aliases: &["block-group", "conditional-access"],
    phase: Phase::Contain,
    default_on: true,
    incident: false,
    stops_sign_in: false,
    action: Some("add the user to the Conditional Access block group"),
};
const GROUP: &str = "group";
const POLICIES: &str = "policies";
const UNDO: &str = "unblock_sign_in";

/// What a run knows of the block group and its policy.
#[derive(Debug)]
pub struct Tenant {
    /// The group (`None`: the tenant has none), or why it could not be looked up.
    pub group: Result<Option<Group>, GraphError>,
    /// Every Conditional Access policy, or why they could not be read.
    pub policies: Result<Vec<Policy>, GraphError>,
    /// The group was named with `--block-group`.
    pub configured: bool,
}

impl Tenant {
    fn policy(&self) -> Option<&Policy> {
        let group = self.group.as_ref().ok()?.as_ref()?;
        conditional_access::block_policy(self.policies.as_ref().ok()?, &group.id)
    }
}

/// The block group and its policy, read once per run for every user (see [`Once`]).
#[derive(Debug)]
pub struct Lookup {
    /// `--block-group ID` / `LOCKDOWN_BLOCK_GROUP`.
    configured: Option<String>,
    once: Once<Tenant>,
}

impl Lookup {
    pub fn new(configured: Option<String>) -> Lookup {
        Lookup {
            configured: configured
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty()),
            once: Once::default(),
        }
    }

    fn reads(&self) -> Vec<Read> {
        let group = match &self.configured {
            Some(id) => groups::get(id),
            None => groups::find_by_nickname(groups::BLOCK_NICKNAME),
        };
        vec![
            Read::one(GROUP, group),
            Read::paged(POLICIES, conditional_access::list()),
        ]
    }

    fn settle(
        &self,
        group: Result<GraphResponse, GraphError>,
        policies: Result<GraphResponse, GraphError>,
    ) {
        let configured = self.configured.is_some();
        let group = group.and_then(|r| {
            if configured {
                r.json::<Group>().map(Some)
            } else {
                groups::decode_list(&r).map(|g| g.into_iter().next())
            }
        });
        let group = match group {
            // A group named by id that does not exist is an error, not "no group".
            Err(e) if e.is_not_found() && !configured => Ok(None),
            other => other,
        };
        let policies = policies.and_then(|r| conditional_access::decode_list(&r));
        self.once.settle(Tenant {
            group,
            policies,
            configured,
        });
    }

    /// What the run knows, once settled.
    pub fn now(&self) -> Option<std::sync::Arc<Tenant>> {
        self.once.now()
    }

    /// Read it now, through `client`, unless a user of the run already carries the reads
    /// (`check` reads it before the caller's line, to say what it found).
    pub async fn prime(&self, client: &GraphClient) {
        if !self.once.claim() {
            return;
        }
        let mut answers = Vec::new();
        for read in self.reads() {
            let label = "block group: read";
            let answer = match client.send(&read.req, label).await {
                Ok(resp) if read.paged => {
                    crate::graph::paging::complete(client, resp, read.req.priority, label).await
                }
                other => other,
            };
            answers.push(answer);
        }
        let policies = answers.pop().expect("two reads");
        let group = answers.pop().expect("two reads");
        self.settle(group, policies);
    }
}

/// This step's own option.
#[derive(Debug, Clone, Default, clap::Args)]
#[group(skip)]
pub struct Options {
    /// The Conditional Access block group's object id, instead of finding it by its
    /// mailNickname (lockdown-blocked).
    #[arg(long, value_name = "ID", env = "LOCKDOWN_BLOCK_GROUP")]
    pub block_group: Option<String>,
}

impl Step for BlockSignIn {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    fn reads(&self, _who: &str, cx: &RunCx) -> Vec<Read> {
        if cx.block_group.once.claim() {
            cx.block_group.reads()
        } else {
            Vec::new()
        }
    }

    fn once_per_run<'a>(&'a self, cx: &'a RunCx, reads: &'a mut Reads) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if reads.has(GROUP) {
                let group = reads.take(GROUP);
                let policies = reads.take(POLICIES);
                cx.block_group.settle(group, policies);
            }
            cx.block_group.once.wait().await;
        })
    }

    fn prime<'a>(&'a self, client: &'a GraphClient, cx: &'a RunCx) -> BoxFuture<'a, ()> {
        Box::pin(cx.block_group.prime(client))
    }

    fn tenant_facts(&self, cx: &RunCx, json: &mut Map<String, Value>, text: &mut Vec<String>) {
        if let Some(tenant) = cx.block_group.now() {
            tenant_facts(&tenant, json);
            text.extend(tenant_lines(&tenant));
        }
    }

    fn prepare(&self, cx: &UserCx<'_>, _reads: Reads, selected: Selected) -> Box<dyn Prepared> {
        let tenant = cx.run.block_group.now();
        let user = cx.user.id.0.clone();
        let synced = cx.user.is_synced();
        let skipped = selected.skipped_report(NAME);
        let decided = |report: StepReport| -> Box<dyn Prepared> {
            Box::new(State {
                synced,
                group: None,
                policy: None,
                enforcing: false,
                warnings: Vec::new(),
                one: One::Decided(report),
            })
        };
        let Some(tenant) = tenant else {
            return decided(skipped.unwrap_or_else(|| {
                StepReport::new(
                    NAME,
                    StepStatus::Skipped,
                    "the Conditional Access block group was not looked up in this run".to_owned(),
                )
            }));
        };
        let group = match &tenant.group {
            Err(e) => {
                return decided(skipped.unwrap_or_else(|| StepReport {
                    error: Some(ErrorReport::from_graph(e, read_hint(e, tenant.configured))),
                    ..StepReport::new(
                        NAME,
                        StepStatus::Skipped,
                        "the Conditional Access block group could not be looked up".to_owned(),
                    )
                }));
            }
            Ok(None) => {
                return decided(skipped.unwrap_or_else(|| {
                    StepReport::new(NAME, StepStatus::Skipped, NO_GROUP.to_owned())
                }));
            }
            Ok(Some(g)) => g.clone(),
        };
        let policy = tenant.policy();
        let excluded = policy.is_some_and(|p| p.excludes_user(&user));
        let warnings = if skipped.is_none() {
            policy_warnings(&tenant, &group, policy, excluded)
        } else {
            Vec::new()
        };
        let report = skipped.or_else(|| {
            excluded.then(|| {
                StepReport::new(
                    NAME,
                    StepStatus::Skipped,
                    "excluded from the block policy (an emergency-access account): not added to the block group".to_owned(),
                )
            })
        });
        let one = One::decide(report, || {
            Request::write(
                NAME,
                groups::add_member(&group.id, &user),
                "add to block group",
            )
        });
        Box::new(State {
            synced,
            enforcing: policy.is_some_and(|p| p.gaps(&group.id).is_empty()) && !excluded,
            policy: policy.map(|p| (p.id.clone(), p.state())),
            group: Some(group),
            warnings,
            one,
        })
    }

    // learn: graph/api/group-post-members — GroupMember.ReadWrite.All least privileged; a
    // delegated caller needs a role that manages groups (or to own the group).
    // learn: graph/api/group-list, conditionalaccessroot-list-policies — the once-per-run reads.
    fn requires(&self, cx: &RunCx) -> Vec<Requirement> {
        if cx
            .block_group
            .now()
            .is_some_and(|t| !matches!(t.group, Ok(Some(_))))
        {
            // No block group found: the step skips, and needs nothing more (`expect` says
            // what that means for a synced target).
            return Vec::new();
        }
        const ADD: &[&[&str]] = &[
            &["GroupMember.ReadWrite.All"],
            &["Group.ReadWrite.All"],
            &["Directory.ReadWrite.All"],
        ];
        const ROLES: &[&str] = &[
            "Groups Administrator",
            "User Administrator",
            "Global Administrator",
        ];
        const POLICY: &[&[&str]] = &[
            &["Policy.Read.All"],
            &["Policy.ReadWrite.ConditionalAccess"],
        ];
        let add = Requirement::new("POST /groups/{id}/members/$ref", ADD);
        vec![
            match cx.token_kind {
                TokenKind::AppOnly => add,
                _ => add.with_roles(ROLES),
            },
            Requirement::new("GET /identity/conditionalAccess/policies", POLICY),
        ]
    }

    fn expect(
        &self,
        target: &Target<'_>,
        _reads: Reads,
        _facts: &mut Map<String, Value>,
    ) -> Vec<Finding> {
        let Some(tenant) = target.run.block_group.now() else {
            return Vec::new();
        };
        // The group and its policy are the tenant's: `check` shows them on the caller's line.
        // For a synced target the group is the only lock on its cloud sign-in: without one
        // that blocks, the user ends `partial`.
        let synced = target.synced();
        match &tenant.group {
            Err(e) if synced => vec![Finding::unknown(format!(
                "synced from on-premises AD, and the block group could not be looked up ({}): lockdown cannot tell whether its cloud sign-in can be blocked now",
                e.code()
            ))],
            Err(_) => Vec::new(),
            Ok(None) if synced => vec![Finding::missing(format!(
                "synced from on-premises AD, and {NO_GROUP}: nothing blocks its cloud sign-in now (disabling it on-premises reaches Entra ID only at the next sync), so it would end partial"
            ))],
            Ok(None) => vec![Finding::nothing_to_send(NO_GROUP)],
            Ok(Some(group)) => {
                let policy = tenant.policy();
                if policy.is_some_and(|p| p.excludes_user(&target.user.id.0)) {
                    return vec![Finding::nothing_to_send(
                        "excluded from the block policy (an emergency-access account): not added",
                    )];
                }
                policy_warnings(&tenant, group, policy, false)
                    .into_iter()
                    .map(|w| {
                        if synced {
                            Finding::missing(format!(
                                "synced from on-premises AD, and {w}: nothing blocks its cloud sign-in now"
                            ))
                        } else {
                            Finding::ok(w)
                        }
                    })
                    .collect()
            }
        }
    }

    fn undo(&self) -> Option<&dyn Undo> {
        Some(self)
    }
}

impl Undo for BlockSignIn {
    fn prepare_undo(
        &self,
        cx: &UserCx<'_>,
        _reads: Reads,
        record: Option<&Record>,
    ) -> Option<Box<dyn Prepared>> {
        let record = record?;
        if record.status(NAME) != Some("done") {
            return None;
        }
        let group = record
            .step(NAME)?
            .get("group")
            .and_then(Value::as_str)
            .map(|g| GroupId(g.to_owned()));
        Some(Box::new(Remove(match group {
            Some(g) => One::Sends(Request::write(
                UNDO,
                groups::remove_member(&g, &cx.user.id.0),
                "remove from block group",
            )),
            None => One::Decided(StepReport::new(
                UNDO,
                StepStatus::Skipped,
                "the report does not say which block group lockdown added the user to; remove it by hand".to_owned(),
            )),
        })))
    }

    fn undo_warning(&self, record: &Record) -> Option<String> {
        (record.status(NAME) == Some("done")).then(|| {
            "unblocking removes the user from the Conditional Access block group: its sign-in is no longer blocked by that policy".to_owned()
        })
    }
}

/// The block group and its policy as JSON (`check`'s caller line): `blockGroup`.
pub fn tenant_facts(tenant: &Tenant, facts: &mut Map<String, Value>) {
    let value = match &tenant.group {
        Err(e) => {
            json!({"found": false, "error": ErrorReport::from_graph(e, read_hint(e, tenant.configured))})
        }
        Ok(None) => json!({"found": false}),
        Ok(Some(g)) => {
            let policy = match (tenant.policy(), &tenant.policies) {
                (_, Err(e)) => json!({"error": ErrorReport::from_graph(e, policy_hint(e))}),
                (None, Ok(_)) => Value::Null,
                (Some(p), Ok(_)) => json!({
                    "id": p.id,
                    "displayName": p.display_name,
                    "state": p.state().as_str(),
                    "includesGroup": p.includes_group(&g.id),
                    "excludeUsers": p.conditions.users.exclude_users,
                    "enforcing": p.gaps(&g.id).is_empty(),
                }),
            };
            json!({"found": true, "id": g.id, "displayName": g.display_name, "policy": policy})
        }
    };
    facts.insert("blockGroup".into(), value);
}

/// What `check` says of the block group on the caller's line.
pub fn tenant_lines(tenant: &Tenant) -> Vec<String> {
    match &tenant.group {
        Err(e) => vec![format!(
            "Conditional Access block group: could not be looked up ({} {})",
            e.status().map(|s| s.to_string()).unwrap_or_default(),
            e.code()
        )],
        Ok(None) => vec![format!("Conditional Access block group: none ({NO_GROUP})")],
        Ok(Some(g)) => {
            let mut lines = vec![format!(
                "Conditional Access block group: {} ({})",
                g.mail_nickname.as_deref().unwrap_or(groups::BLOCK_NICKNAME),
                g.id
            )];
            match (&tenant.policies, tenant.policy()) {
                (Err(e), _) => lines.push(format!(
                    "block policy: could not be read ({} {}): lockdown cannot tell whether membership blocks sign-in",
                    e.status().map(|s| s.to_string()).unwrap_or_default(),
                    e.code()
                )),
                (Ok(_), None) => lines.push("block policy: none blocks the group: membership blocks nothing (run lockdown setup --force)".into()),
                (Ok(_), Some(p)) => {
                    let gaps = p.gaps(&g.id);
                    lines.push(format!(
                        "block policy: \"{}\" {}, group {}, {} excluded account(s){}",
                        p.display_name.as_deref().unwrap_or(&p.id),
                        p.state().label(),
                        if p.includes_group(&g.id) { "included" } else { "NOT included" },
                        p.conditions.users.exclude_users.len(),
                        if gaps.is_empty() {
                            String::new()
                        } else {
                            format!(": does not block sign-in ({})", gaps.join("; "))
                        }
                    ));
                }
            }
            lines
        }
    }
}

const NO_GROUP: &str = "no Conditional Access block group: run lockdown setup";

/// Why membership of the group will not block this user's sign-in, if it will not.
fn policy_warnings(
    tenant: &Tenant,
    group: &Group,
    policy: Option<&Policy>,
    excluded: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    match (&tenant.policies, policy) {
        (Err(e), _) => out.push(format!(
            "the Conditional Access policies could not be read ({} {}): lockdown cannot tell whether the block group blocks sign-in (it needs Policy.Read.All)",
            e.status().map(|s| s.to_string()).unwrap_or_default(),
            e.code()
        )),
        (Ok(_), None) => out.push(
            "no Conditional Access policy blocks the block group: membership blocks nothing (run lockdown setup --force to repair it)"
                .to_owned(),
        ),
        (Ok(_), Some(p)) => {
            let gaps = p.gaps(&group.id);
            if !gaps.is_empty() {
                out.push(format!(
                    "the block policy \"{}\" does not block sign-in: {} (run lockdown setup --force to repair it)",
                    p.display_name.as_deref().unwrap_or(&p.id),
                    gaps.join("; ")
                ));
            }
        }
    }
    if excluded {
        out.push(
            "the user is excluded from the block policy (an emergency-access account)".to_owned(),
        );
    }
    out
}

fn read_hint(err: &GraphError, configured: bool) -> Option<Hint> {
    if configured && err.is_not_found() {
        return hints::hint(
            "no group has the id given with --block-group (or LOCKDOWN_BLOCK_GROUP)",
        );
    }
    match err.status()? {
        403 => hints::hint("looking up the block group needs GroupMember.Read.All (or Group.Read.All, Directory.Read.All)"),
        _ => hints::common(err),
    }
}

fn policy_hint(err: &GraphError) -> Option<Hint> {
    match err.status()? {
        403 => hints::hint("reading Conditional Access policies needs Policy.Read.All; a delegated caller also a role such as Security Reader or Conditional Access Administrator"),
        _ => hints::common(err),
    }
}

fn write_hint(err: &GraphError) -> Option<Hint> {
    match err.status()? {
        403 => hints::hint("adding members needs GroupMember.ReadWrite.All; a delegated caller also needs Groups Administrator or User Administrator (or to own the group)"),
        _ => hints::common(err),
    }
}

struct State {
    synced: bool,
    group: Option<Group>,
    /// The block policy's id and state, when one was found.
    policy: Option<(String, conditional_access::State)>,
    /// Membership blocks this user's sign-in: the policy enforces, and does not exclude it.
    enforcing: bool,
    warnings: Vec<String>,
    one: One,
}

impl State {
    /// The user's cloud sign-in is blocked through the group now.
    fn blocking(&self) -> bool {
        self.enforcing
            && self
                .one
                .report()
                .is_some_and(|r| matches!(r.status, StepStatus::Done | StepStatus::Already))
    }

    fn with_extra(&self, mut r: StepReport) -> StepReport {
        if let Some(g) = &self.group {
            r.extra.insert("group".into(), json!(g.id));
            if let Some((id, state)) = &self.policy {
                r.extra.insert("policy".into(), json!(id));
                r.extra.insert("policyState".into(), json!(state.as_str()));
            }
            r.extra.insert("blocking".into(), json!(self.blocking()));
        }
        r
    }
}

impl Prepared for State {
    fn facts(&self, json: &mut Map<String, Value>, text: &mut Vec<String>) {
        let Some(g) = &self.group else {
            return;
        };
        let state = self
            .policy
            .as_ref()
            .map(|(_, s)| s.label())
            .unwrap_or("no policy");
        json.insert(
            "blockGroup".into(),
            json!({"id": g.id, "policyState": self.policy.as_ref().map(|(_, s)| s.as_str()), "enforcing": self.enforcing}),
        );
        text.push(format!(
            "block group:         {} (policy {state}{})",
            g.mail_nickname.as_deref().unwrap_or(groups::BLOCK_NICKNAME),
            if self.enforcing { "" } else { ", not blocking" }
        ));
    }

    fn requests(&self, _earlier: &[Earlier<'_>]) -> Vec<Request> {
        self.one.requests()
    }

    fn planned(&self, _earlier: &[Earlier<'_>]) -> StepReport {
        self.with_extra(self.one.planned(NAME))
    }

    fn finish(&mut self, mut answers: Answers, _earlier: &[Earlier<'_>]) -> Progress {
        if !self.one.waiting() {
            return Progress::Done;
        }
        let how = if self.enforcing {
            "Conditional Access blocks its sign-in"
        } else {
            "but its policy does not block sign-in (see the warnings)"
        };
        let report = match answers.take(NAME) {
            Ok(_) => StepReport::new(
                NAME,
                StepStatus::Done,
                format!("added to the block group: {how}"),
            ),
            Err(e) if groups::is_already_member(&e) => StepReport::new(
                NAME,
                StepStatus::Already,
                format!("already in the block group: {how}"),
            ),
            Err(e) => StepReport::failed(
                NAME,
                "the user could not be added to the block group",
                ErrorReport::from_graph(&e, write_hint(&e)),
            ),
        };
        self.one.answered(report);
        Progress::Done
    }

    fn report(&self) -> Option<StepReport> {
        self.one.report().cloned().map(|r| self.with_extra(r))
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    fn leaves_open(&self, all: &[Earlier<'_>]) -> Option<String> {
        if !self.synced || self.blocking() {
            return None;
        }
        let why = match (&self.group, self.one.report()) {
            (None, Some(r)) => r.detail.clone().unwrap_or_default(),
            (Some(_), Some(r)) if r.status == StepStatus::Failed => {
                "the user could not be added to the block group".to_owned()
            }
            (Some(_), Some(r)) if r.status == StepStatus::Skipped => {
                r.detail.clone().unwrap_or_default()
            }
            _ => "the block group's policy does not block sign-in".to_owned(),
        };
        let onprem = all
            .iter()
            .find(|e| e.name == super::disable_onprem_account::NAME)
            .and_then(|e| e.prepared.report())
            .is_some_and(|r| r.status == StepStatus::Done);
        Some(if onprem {
            format!(
                "synced account not closed yet: the on-premises account was disabled through Defender for Identity, which reaches Entra ID only at the next directory sync (up to 30 minutes by default), and until then the cloud still accepts the known password; nothing blocks its cloud sign-in now ({why})"
            )
        } else {
            format!(
                "synced account still open: Graph cannot disable it or reset its password, nothing blocks its cloud sign-in ({why}), and its on-premises account was not disabled; disable it in Active Directory and reset its password twice"
            )
        })
    }
}

/// `unblock_sign_in`, the undo: remove the user from the block group lockdown added it to.
struct Remove(One);

impl Prepared for Remove {
    fn requests(&self, _earlier: &[Earlier<'_>]) -> Vec<Request> {
        self.0.requests()
    }

    fn planned(&self, _earlier: &[Earlier<'_>]) -> StepReport {
        self.0.planned(UNDO)
    }

    fn finish(&mut self, mut answers: Answers, _earlier: &[Earlier<'_>]) -> Progress {
        if self.0.waiting() {
            self.0.answered(match answers.take(UNDO) {
                Ok(_) => StepReport::new(
                    UNDO,
                    StepStatus::Done,
                    "removed from the block group: Conditional Access no longer blocks its sign-in"
                        .to_owned(),
                ),
                Err(e) if e.is_not_found() => StepReport::new(
                    UNDO,
                    StepStatus::Already,
                    "no longer in the block group".to_owned(),
                ),
                Err(e) => StepReport::failed(
                    UNDO,
                    "the user could not be removed from the block group",
                    ErrorReport::from_graph(&e, write_hint(&e)),
                ),
            });
        }
        Progress::Done
    }

    fn report(&self) -> Option<StepReport> {
        self.0.report().cloned()
    }
}

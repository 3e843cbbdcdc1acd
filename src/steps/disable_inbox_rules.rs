//! `disable_inbox_rules` (opt-in, `--with inbox-rules`): list the user's inbox rules (`GET
//! /users/{id}/mailFolders/inbox/messageRules`, learn: graph/api/mailfolder-list-messagerules)
//! and turn off each enabled one that forwards, redirects, forwards as an attachment, deletes or
//! permanently deletes mail (`--inbox-rules all`: every enabled rule), with `PATCH
//! .../messageRules/{id}` `{"isEnabled": false}` (learn: graph/api/messagerule-update). Rules
//! are disabled, not deleted: the evidence stays, and an undo turns them back on.
//!
//! Rules left alone are `skipped` with the reason: not suspicious, read-only (Graph cannot
//! change them), already disabled. A user without an Exchange Online mailbox
//! (`MailboxNotEnabledForRESTAPI`) has no rules to check: the step is `skipped`. Forwarding set
//! on the mailbox itself is not an inbox rule and not visible through Graph; the report names
//! the Exchange Online command that clears it.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::listed::{answered, Listing};
use super::require::{Finding, Requirement, Target};
use super::{
    item, About, Answers, Earlier, Phase, Prepared, Progress, Read, Reads, Record, Request, RunCx,
    Selected, Selection, Step, Undo, UserCx, Verdict,
};
use crate::graph::mail_rules::{self, MessageRule};
use crate::graph::users::{User, UserId};
use crate::graph::GraphError;
use crate::hints::{self, Hint};
use crate::report::{ErrorReport, ItemReport, StepReport, StepStatus};

pub struct DisableInboxRules;

const NAME: &str = "disable_inbox_rules";
const ABOUT: About = About {
    name: NAME,
    aliases: &["inbox-rules", "rules"],
    phase: Phase::CleanUp,
    default_on: false,
    incident: true,
    stops_sign_in: false,
    action: Some("disable inbox rules that forward or delete mail (every enabled rule with --inbox-rules all)"),
};
const LIST: &str = "rules";

/// Which enabled inbox rules to turn off (`--inbox-rules`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// Rules that forward, redirect, forward as an attachment, delete or permanently delete.
    #[default]
    Suspicious,
    /// Every enabled rule.
    All,
}

/// This step's own option.
#[derive(Debug, Clone, Default, clap::Args)]
#[group(skip)]
pub struct Options {
    /// Which enabled inbox rules the inbox-rules step disables: those that forward, redirect or
    /// delete mail (suspicious, the default), or every one (all).
    #[arg(long, value_enum, value_name = "WHICH")]
    pub inbox_rules: Option<Which>,
}

impl Options {
    /// `block`: the option means something only when the step runs.
    pub fn check(&self, selection: &Selection) -> Result<(), String> {
        if self.inbox_rules.is_some() && !selection.runs(NAME) {
            return Err("--inbox-rules chooses the rules the inbox-rules step disables: add --with inbox-rules or --incident".to_owned());
        }
        Ok(())
    }

    /// `status` counts the rules `block` would disable: its help says so.
    pub fn for_status(arg: clap::Arg) -> clap::Arg {
        if arg.get_id() == "inbox_rules" {
            arg.help("Which inbox rules to count as ones `block` would disable, as for `block --inbox-rules`")
        } else {
            arg
        }
    }
}

impl Step for DisableInboxRules {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    // learn: graph/api/mailfolder-list-messagerules, graph/api/messagerule-update:
    // MailboxSettings.ReadWrite.
    fn requires(&self, _cx: &RunCx) -> Vec<Requirement> {
        vec![Requirement::new(
            "PATCH /users/{id}/mailFolders/inbox/messageRules/{id}",
            &[&["MailboxSettings.ReadWrite"]],
        )]
    }

    /// From the same listing a run reads: whether the user has a mailbox, and its rules.
    fn expect(
        &self,
        _target: &Target<'_>,
        mut reads: Reads,
        facts: &mut Map<String, Value>,
    ) -> Vec<Finding> {
        let listed = reads
            .take(LIST)
            .and_then(|r| r.json::<crate::graph::paging::Items>())
            .and_then(|items| mail_rules::from_items(items.value));
        match listed {
            Ok(rules) => {
                facts.insert("mailbox".into(), json!(true));
                facts.insert("inboxRules".into(), json!(rules.len()));
                Vec::new()
            }
            Err(e) if mail_rules::is_mailbox_missing(&e) => {
                facts.insert("mailbox".into(), json!(false));
                vec![Finding::nothing_to_send(
                    "no Exchange Online mailbox: no inbox rules to check",
                )]
            }
            Err(e) if e.status() == Some(403) => {
                facts.insert("mailbox".into(), Value::Null);
                vec![Finding::missing(
                    "the user's inbox rules cannot be read (403): the token needs MailboxSettings.ReadWrite",
                )]
            }
            Err(e) => {
                facts.insert("mailbox".into(), Value::Null);
                vec![Finding::unknown(format!(
                    "the user's inbox rules could not be read ({})",
                    crate::graph::short_reason(&e)
                ))]
            }
        }
    }

    fn reads(&self, who: &str, _cx: &RunCx) -> Vec<Read> {
        vec![Read::paged(LIST, mail_rules::list_inbox(who))]
    }

    fn prepare(&self, cx: &UserCx<'_>, mut reads: Reads, selected: Selected) -> Box<dyn Prepared> {
        let mailbox = cx
            .user
            .user_principal_name
            .clone()
            .unwrap_or_else(|| cx.user.id.0.clone());
        let which = cx
            .run
            .options
            .disable_inbox_rules
            .inbox_rules
            .unwrap_or_default();
        let rules = Listing::read(
            NAME,
            &selected,
            &mut reads,
            LIST,
            mail_rules::from_items,
            |e| {
                if mail_rules::is_mailbox_missing(e) {
                    StepReport::new(
                        NAME,
                        StepStatus::Skipped,
                        "the user has no Exchange Online mailbox (MailboxNotEnabledForRESTAPI): no inbox rules to check".to_owned(),
                    )
                } else {
                    StepReport::failed(
                        NAME,
                        "the user's inbox rules could not be listed",
                        cx.error(e, list_hint(e)),
                    )
                }
            },
        );
        let mut state = State {
            owner: cx.user.id.clone(),
            mailbox,
            rules,
            plan: Vec::new(),
            requests: Vec::new(),
            results: HashMap::new(),
        };
        if let Some(rules) = state.rules.items() {
            state.plan = rules.iter().map(|r| decide(r, which)).collect();
            state.requests = rules
                .iter()
                .zip(&state.plan)
                .filter(|(_, d)| d.disable)
                .map(|(r, _)| {
                    Request::write(
                        r.id.clone(),
                        mail_rules::disable(&state.owner, &r.id),
                        "disable inbox rule",
                    )
                })
                .collect();
            if state.requests.is_empty() {
                let report = state.rules_report(rules, false);
                state.rules.settle(report);
            }
        }
        Box::new(state)
    }

    fn change_line(
        &self,
        before: &Map<String, Value>,
        after: &Map<String, Value>,
    ) -> Option<String> {
        let enabled = |m: &Map<String, Value>| {
            let rules = m.get("rules")?.as_array()?;
            let on = rules
                .iter()
                .filter(|r| r["isEnabled"] == json!(true))
                .count();
            Some((on, rules.len()))
        };
        let ((b, bn), (a, an)) = (enabled(before)?, enabled(after)?);
        Some(format!("inbox rules enabled: {b} of {bn} -> {a} of {an}"))
    }

    fn undo(&self) -> Option<&dyn Undo> {
        Some(self)
    }
}

impl Undo for DisableInboxRules {
    fn undo_reads(&self, id: &str, record: Option<&Record>, _cx: &RunCx) -> Vec<Read> {
        match record {
            Some(r) if !disabled_by_lockdown(r).is_empty() => {
                vec![Read::paged(LIST, mail_rules::list_inbox(id))]
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
        use super::restore::{self, Now, ReadBack};
        let wanted = disabled_by_lockdown(record?);
        if wanted.is_empty() {
            return None;
        }
        // The rule must be in this user's mailbox now: a rule id of anyone else's is refused.
        let now = read_rules(&mut reads);
        let candidates = wanted
            .into_iter()
            .map(|(candidate, id)| {
                let state = match &now {
                    Err(e) => Err(e.clone()),
                    Ok(rules) => Ok(match rules.iter().find(|r| r.id == id) {
                        None => Now::NotTheirs,
                        Some(r) if r.enabled() => Now::On,
                        Some(_) => Now::Off(mail_rules::enable(&cx.user.id, &id)),
                    }),
                };
                (candidate, state)
            })
            .collect();
        restore::prepare(
            UNDO,
            candidates,
            cx.run.force,
            ReadBack {
                reads: vec![Read::paged(LIST, mail_rules::list_inbox(&cx.user.id.0))],
                parse: |reads| {
                    Ok(read_rules(reads)?
                        .into_iter()
                        .map(|r| {
                            let on = r.enabled();
                            (r.id, on)
                        })
                        .collect())
                },
            },
        )
    }
}

/// What lockdown does with one rule, and why.
#[derive(Debug, Clone)]
struct Decision {
    disable: bool,
    reason: String,
    /// A suspicious rule lockdown cannot disable.
    stuck: bool,
}

fn decide(rule: &MessageRule, which: Which) -> Decision {
    let actions = rule.suspicious_actions();
    let why = if actions.is_empty() {
        None
    } else {
        Some(actions.join("; "))
    };
    let wanted = why.is_some() || which == Which::All;
    let reason = |s: &str| {
        why.clone()
            .map_or_else(|| s.to_owned(), |w| format!("{w}; {s}"))
    };
    if !rule.enabled() {
        return Decision {
            disable: false,
            reason: reason("already disabled"),
            stuck: false,
        };
    }
    if !wanted {
        return Decision {
            disable: false,
            reason: "not suspicious: it does not forward, redirect or delete".into(),
            stuck: false,
        };
    }
    if rule.read_only() {
        return Decision {
            disable: false,
            reason: reason("read-only: Graph cannot change it"),
            stuck: why.is_some(),
        };
    }
    Decision {
        disable: true,
        reason: why.unwrap_or_else(|| "enabled (--inbox-rules all)".into()),
        stuck: false,
    }
}

struct State {
    owner: UserId,
    /// The UPN, for the Exchange Online commands the report names.
    mailbox: String,
    rules: Listing<MessageRule>,
    /// One decision per listed rule, in order.
    plan: Vec<Decision>,
    requests: Vec<Request>,
    /// Each written rule's answer, by rule id.
    results: HashMap<String, Result<(), GraphError>>,
}

fn list_hint(err: &GraphError) -> Option<Hint> {
    match err.status()? {
        403 => hints::hint(
            "the token needs MailboxSettings.Read (MailboxSettings.ReadWrite to disable rules) as an application permission: Graph lets a delegated sign-in reach only mailboxes the signed-in user can open, and an Exchange application access policy, if the tenant has one, must cover this mailbox",
        ),
        _ => None,
    }
}

fn disable_hint(err: &GraphError) -> Option<Hint> {
    match err.status()? {
        403 => hints::hint(
            "the token needs MailboxSettings.ReadWrite (an application permission, see above); a rule Graph marks read-only can be changed only in Outlook or with Exchange Online PowerShell (Disable-InboxRule)",
        ),
        _ => None,
    }
}

fn fields(rule: &MessageRule, reason: &str) -> Map<String, Value> {
    let mut f = Map::new();
    f.insert("id".into(), json!(rule.id));
    f.insert("displayName".into(), json!(rule.display_name));
    f.insert("reason".into(), json!(reason));
    f
}

/// `enable_inbox_rules`, the undo: turn back on each rule lockdown disabled (the report says
/// `done` for it and it was enabled before), only if it is in the user's mailbox now and still
/// as lockdown left it.
const UNDO: super::restore::Spec = super::restore::Spec {
    name: "enable_inbox_rules",
    items: "rules",
    noun: "rule",
    flag: "isEnabled",
    what: "enable inbox rules",
};

/// The rules lockdown disabled, from the report, with their ids.
fn disabled_by_lockdown(record: &Record) -> Vec<(super::restore::Candidate, String)> {
    let Some(step) = record.step(NAME) else {
        return Vec::new();
    };
    let state = |m: &Map<String, Value>, id: &str| {
        m.get("rules")
            .and_then(Value::as_array)
            .and_then(|rs| rs.iter().find(|r| r["id"] == json!(id)))
            .map(|r| r["isEnabled"].clone())
    };
    step.get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|r| r["status"] == json!("done"))
        .filter_map(|r| {
            let id = r["id"].as_str()?.to_owned();
            if state(&record.before, &id) == Some(json!(false)) {
                return None;
            }
            let mut fields = Map::new();
            fields.insert("id".into(), json!(id));
            fields.insert("displayName".into(), r["displayName"].clone());
            let label = r["displayName"].as_str().unwrap_or(&id).to_owned();
            Some((
                super::restore::Candidate {
                    key: id.clone(),
                    fields,
                    label,
                    left_off: state(&record.after, &id) == Some(json!(false)),
                },
                id,
            ))
        })
        .collect()
}

/// The user's inbox rules, from the list read.
fn read_rules(reads: &mut Answers) -> Result<Vec<MessageRule>, GraphError> {
    reads
        .take(LIST)
        .and_then(|r| r.json::<crate::graph::paging::Items>())
        .and_then(|items| mail_rules::from_items(items.value))
}

fn label(rule: &MessageRule, reason: &str) -> String {
    format!("{} ({reason})", rule.name())
}

/// Each rule's id and state: what an undo needs to turn back on what was turned off.
fn snapshot(rules: &[MessageRule]) -> Value {
    Value::Array(
        rules
            .iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "displayName": r.display_name,
                    "isEnabled": r.enabled(),
                    "isReadOnly": r.read_only(),
                })
            })
            .collect(),
    )
}

impl State {
    fn rules(&self) -> Option<&[MessageRule]> {
        self.rules.items()
    }

    fn decided(&self) -> Option<&StepReport> {
        self.rules.report()
    }

    /// `Set-Mailbox` for forwarding on the mailbox, which Graph does not show.
    fn mailbox_forwarding_note(&self) -> String {
        format!(
            "forwarding set on the mailbox itself is not visible through Graph: clear it with Exchange Online PowerShell, Set-Mailbox -Identity {} -ForwardingSmtpAddress $null -ForwardingAddress $null -DeliverToMailboxAndForward $false",
            self.mailbox
        )
    }

    /// The report from the plan and, when `sent`, each write's answer.
    fn rules_report(&self, rules: &[MessageRule], sent: bool) -> StepReport {
        let (mut done, mut already, mut failed, mut skipped) = (0usize, 0usize, 0usize, 0usize);
        let mut stuck = Vec::new();
        let items: Vec<ItemReport> = rules
            .iter()
            .zip(&self.plan)
            .map(|(r, d)| {
                let (status, error) = if !d.disable {
                    skipped += 1;
                    if d.stuck {
                        stuck.push(r.name().to_owned());
                    }
                    (StepStatus::Skipped, None)
                } else if !sent {
                    (StepStatus::Planned, None)
                } else {
                    match self.results.get(&r.id) {
                        Some(Ok(())) => {
                            done += 1;
                            (StepStatus::Done, None)
                        }
                        // learn: messagerule-update — 404 ErrorItemNotFound: the rule is gone.
                        Some(Err(e)) if e.is_not_found() => {
                            already += 1;
                            (StepStatus::Already, None)
                        }
                        Some(Err(e)) => {
                            failed += 1;
                            let hint = disable_hint(e).or_else(|| hints::common(e));
                            (StepStatus::Failed, Some(ErrorReport::from_graph(e, hint)))
                        }
                        None => (StepStatus::Planned, None),
                    }
                };
                item(fields(r, &d.reason), label(r, &d.reason), status, error)
            })
            .collect();
        let planned = self.requests.len();
        let status = if !sent {
            if planned > 0 {
                StepStatus::Planned
            } else {
                StepStatus::Skipped
            }
        } else if failed > 0 {
            StepStatus::Failed
        } else if done > 0 {
            StepStatus::Done
        } else if already > 0 {
            StepStatus::Already
        } else {
            StepStatus::Skipped
        };
        let mut parts = Vec::new();
        if !sent && planned > 0 {
            parts.push(format!(
                "would send PATCH /v1.0/users/{{id}}/mailFolders/inbox/messageRules/{{id}} {{\"isEnabled\":false}} for {planned}"
            ));
        }
        if done > 0 {
            parts.push(format!("{done} disabled (not deleted: the evidence stays)"));
        }
        if already > 0 {
            parts.push(format!("{already} already gone"));
        }
        if failed > 0 {
            parts.push(format!("{failed} could not be disabled"));
        }
        if skipped > 0 {
            parts.push(format!("{skipped} left alone"));
        }
        let mut detail = if rules.is_empty() {
            "no inbox rules".to_owned()
        } else {
            format!("{} inbox rule(s): {}", rules.len(), parts.join(", "))
        };
        if !stuck.is_empty() {
            detail.push_str(&format!(
                "; read-only and still enabled: {} (disable it in Outlook or with Exchange Online PowerShell, Disable-InboxRule -Mailbox {})",
                stuck.join(", "),
                self.mailbox
            ));
        }
        detail.push_str(&format!("; {}", self.mailbox_forwarding_note()));
        StepReport::new(NAME, status, detail).with_items("rules", items)
    }
}

impl Prepared for State {
    fn before(&self, state: &mut Map<String, Value>) {
        if let Some(list) = self.rules() {
            state.insert("rules".into(), snapshot(list));
        }
    }

    fn facts(&self, json: &mut Map<String, Value>, text: &mut Vec<String>) {
        match (self.rules.items(), self.rules.error()) {
            (Some(list), _) => {
                json.insert("inboxRules".into(), snapshot(list));
                text.push(format!(
                    "inbox rules:         {} ({} would be disabled)",
                    list.len(),
                    self.requests.len()
                ));
                for (r, d) in list.iter().zip(&self.plan) {
                    let fate = if d.disable {
                        "would be disabled"
                    } else {
                        "left alone"
                    };
                    text.push(format!("  - {}: {fate} ({})", r.name(), d.reason));
                }
            }
            (None, Some(e)) if mail_rules::is_mailbox_missing(e) => {
                text.push("inbox rules:         no Exchange Online mailbox".into());
            }
            (None, Some(e)) => {
                let err = ErrorReport::from_graph(e, list_hint(e).or_else(|| hints::common(e)));
                super::unreadable_fact(json, text, "inbox rules", "inboxRulesError", err);
            }
            (None, None) => {}
        }
    }

    fn requests(&self, _earlier: &[Earlier<'_>]) -> Vec<Request> {
        if self.decided().is_some() {
            return Vec::new();
        }
        self.requests.clone()
    }

    fn planned(&self, _earlier: &[Earlier<'_>]) -> StepReport {
        match self.rules.pending() {
            Ok(rules) => self.rules_report(rules, false),
            Err(report) => report.clone(),
        }
    }

    fn finish(&mut self, mut answers: Answers, _earlier: &[Earlier<'_>]) -> Progress {
        if self.decided().is_some() {
            return Progress::Done;
        }
        self.results = answered(&self.requests, &mut answers);
        if let Some(rules) = self.rules() {
            let report = self.rules_report(rules, true);
            self.rules.settle(report);
        }
        Progress::Done
    }

    fn report(&self) -> Option<StepReport> {
        self.decided().cloned()
    }

    fn verify_reads(&self) -> Vec<Read> {
        // Asked again each time verify reads (also after the step has its report).
        if self.rules().is_none() || self.requests.is_empty() {
            return Vec::new();
        }
        vec![Read::paged(LIST, mail_rules::list_inbox(&self.owner.0))]
    }

    fn verify(
        &self,
        _user: &User,
        reads: &mut Answers,
        after: &mut Map<String, Value>,
        verdict: &mut Verdict,
    ) {
        let Some(before) = self.rules() else {
            return;
        };
        if self.requests.is_empty() {
            after.insert("rules".into(), snapshot(before));
            return;
        }
        let now = reads
            .take(LIST)
            .and_then(|r| r.json::<crate::graph::paging::Items>())
            .and_then(|items| mail_rules::from_items(items.value));
        let Ok(now) = now else {
            verdict
                .problems
                .push("the inbox rules could not be read back".into());
            return;
        };
        after.insert("rules".into(), snapshot(&now));
        let disabled: Vec<&String> = self
            .results
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(id, _)| id)
            .collect();
        if disabled.is_empty() {
            return;
        }
        let still: Vec<&MessageRule> = now
            .iter()
            .filter(|r| disabled.contains(&&r.id) && r.enabled())
            .collect();
        if still.is_empty() {
            verdict.held.push(format!(
                "{} inbox rule(s) read back disabled",
                disabled.len()
            ));
        } else {
            for r in still {
                verdict
                    .problems
                    .push(format!("inbox rule {} is still enabled", r.name()));
            }
            verdict.contradicts_write = true;
        }
    }
}

//! The lockdown steps. Each step is one module that owns everything about itself: its report
//! name and flags, what it reads before writing, its decision from what was read (skip,
//! `already`, or a list of writes, each a request plus the redacted preview `--dry-run`
//! prints), how it reads its own answers (routed to it by a tag it chose, never by position),
//! what `verify` checks for it, the hint for each failure, the `before` state an undo needs,
//! and the facts `status` shows.
//!
//! [`REGISTRY`] is the step order. The engine (`crate::engine`) loops over it to build the first
//! read, the writes, the dry-run plan, the confirmation prompt, the verify checks, the report
//! and the `--skip`/`--with` flags; it never names a step. Adding a step is a new module, a line
//! in [`REGISTRY`], and the emulator's endpoints for it.

pub mod confirm_compromised;
pub mod disable_account;
pub mod disable_devices;
pub mod disable_inbox_rules;
pub mod issue_tap;
pub mod lock_devices;
pub mod remove_auth_methods;
pub mod reset_password;
pub mod restore;
pub mod revoke_app_consents;
pub mod revoke_sessions;
pub mod verify;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use serde_json::{Map, Value};

use crate::auth::TokenKind;
use crate::check::{Finding, Requirement, Target};
use crate::graph::users::User;
use crate::graph::{GraphError, GraphRequest, GraphResponse};
use crate::hints::Hint;
use crate::report::{ErrorReport, ItemReport, StepReport, StepStatus};

/// The steps, in the order they run (and appear in reports). Opt-in steps run only with
/// `--with`; `verify` is last and checks what the others did.
pub static REGISTRY: &[&dyn Step] = &[
    &disable_account::DisableAccount,
    &revoke_sessions::RevokeSessions,
    &reset_password::ResetPassword,
    &remove_auth_methods::RemoveAuthMethods,
    &revoke_app_consents::RevokeAppConsents,
    &disable_inbox_rules::DisableInboxRules,
    &disable_devices::DisableDevices,
    &lock_devices::LockDevices,
    &confirm_compromised::ConfirmCompromised,
    &issue_tap::IssueTap,
    &verify::Verify,
];

/// When a step runs in a user's lockdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Stops new sign-ins and ends sessions: needs only the user read, goes out first and at
    /// `x-ms-throttle-priority: high`, and sets the user's `contained_at`.
    Contain,
    /// Everything else (methods, consents, rules, devices, risk): its reads start alongside
    /// containment and its writes follow it, at `low` priority, paced by their own limits.
    CleanUp,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Contain => "contain",
            Phase::CleanUp => "clean-up",
        }
    }
}

/// What a step is, as plain data: one const per step.
#[derive(Debug)]
pub struct About {
    /// Its name in reports, and for `--skip` / `--with`.
    pub name: &'static str,
    /// Other names `--skip` / `--with` accept (e.g. `password`, `auth-methods`).
    pub aliases: &'static [&'static str],
    pub phase: Phase,
    /// Whether it runs by default (`--skip` turns it off) or only when asked for (`--with`).
    pub default_on: bool,
    /// Whether `--incident` adds it (opt-in steps that belong in an incident response).
    pub incident: bool,
    /// Whether `--skip` may turn it off (verify cannot be skipped).
    pub skippable: bool,
    /// Whether `block` runs it (`--skip`/`--with` know it). A step only `unblock` runs (the
    /// Temporary Access Pass) says no.
    pub in_block: bool,
    /// What it does, for the confirmation prompt ("disable the account"); `None` to leave it
    /// out of the prompt.
    pub action: Option<&'static str>,
}

/// One lockdown step.
pub trait Step: Sync {
    /// What it is (name, aliases, phase, flags, prompt phrase).
    fn about(&self) -> &'static About;

    fn name(&self) -> &'static str {
        self.about().name
    }

    fn aliases(&self) -> &'static [&'static str] {
        self.about().aliases
    }

    fn phase(&self) -> Phase {
        self.about().phase
    }

    fn default_on(&self) -> bool {
        self.about().default_on
    }

    fn incident(&self) -> bool {
        self.about().incident
    }

    fn skippable(&self) -> bool {
        self.about().skippable
    }

    fn action(&self) -> Option<&'static str> {
        self.about().action
    }

    fn in_block(&self) -> bool {
        self.about().in_block
    }

    /// Requests added to the user's first read. `who` addresses the user as given (UPN or
    /// object id), since the user is not resolved yet: these go out with the resolving read.
    fn reads(&self, _who: &str, _cx: &RunCx) -> Vec<Read> {
        Vec::new()
    }

    /// Decide from what was read. `selected` is `Err(flag)` when a flag left this step out:
    /// the step still records its `before` state and facts from the user, but plans no write.
    fn prepare(&self, cx: &UserCx<'_>, reads: Reads, selected: Selected) -> Box<dyn Prepared>;

    /// `unblock`: why what this step did cannot be undone, when it did something (`record` is
    /// the user's line of the `block` report). Listed in the result's `not_undone`.
    fn not_undoable(&self, _record: &Record) -> Option<String> {
        None
    }

    /// `unblock`: a warning to show before the confirmation prompt, when undoing what this
    /// step did deserves one (unblocking an account confirmed compromised re-opens it).
    fn undo_warning(&self, _record: &Record) -> Option<String> {
        None
    }

    /// `unblock`: the reads the undo needs (the state now, who owns what), addressed by the
    /// user's object id.
    fn undo_reads(&self, _id: &str, _record: Option<&Record>, _cx: &RunCx) -> Vec<Read> {
        Vec::new()
    }

    /// `unblock`: decide the undo from the report line (`None` without a report) and what was
    /// read now; `None` when this step has nothing to undo. The undo reports under its own name
    /// (`enable_account`) and is verified like any step.
    fn prepare_undo(
        &self,
        _cx: &UserCx<'_>,
        _reads: Reads,
        _record: Option<&Record>,
    ) -> Option<Box<dyn Prepared>> {
        None
    }

    /// The line a person reads about this step's part of the before/after state, if any.
    fn change_line(
        &self,
        _before: &Map<String, Value>,
        _after: &Map<String, Value>,
    ) -> Option<String> {
        None
    }

    /// What each call this step makes needs from a caller with this kind of token
    /// (permissions, the caller's directory role, a licence), for `lockdown check` and
    /// `block --preflight`. Empty: it needs nothing beyond reading the user.
    fn requires(&self, _cx: &RunCx) -> Vec<Requirement> {
        Vec::new()
    }

    /// Whether this step is expected to work on this target, judged before any write from the
    /// user and this step's own first `reads` (answered as a real run would answer them); what
    /// it learned about the target goes into `facts` (e.g. `registeredDevices`). Nothing
    /// returned: the target changes nothing for this step.
    fn expect(
        &self,
        _target: &Target<'_>,
        _reads: Reads,
        _facts: &mut Map<String, Value>,
    ) -> Vec<Finding> {
        Vec::new()
    }
}

/// Whether the step was chosen for this run, or which flag left it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selected {
    Yes,
    /// Left out by this flag, e.g. `--keep-enabled` or `--skip reset_password`.
    No(String),
}

impl Selected {
    pub fn is_yes(&self) -> bool {
        matches!(self, Selected::Yes)
    }

    /// The report of a step a flag left out; it does not count against the outcome.
    pub fn skipped_report(&self, step: &'static str) -> Option<StepReport> {
        match self {
            Selected::Yes => None,
            Selected::No(flag) => Some(StepReport::new(
                step,
                StepStatus::Skipped,
                format!("skipped by {flag}"),
            )),
        }
    }
}

/// A step as prepared for one user: its decision, then its results.
pub trait Prepared: Send {
    /// State read before any write, merged into the report's `before` (what an undo needs).
    fn before(&self, _state: &mut Map<String, Value>) {}

    /// Facts `status` shows (JSON fields at the top level of a status line, and text lines).
    fn facts(&self, _json: &mut Map<String, Value>, _text: &mut Vec<String>) {}

    /// The requests to send, in order, after every step was prepared. Writes for most steps;
    /// `verify` sends its re-reads here, so that they ride at the end of the same chain.
    fn requests(&self, _earlier: &[Earlier<'_>]) -> Vec<Request> {
        Vec::new()
    }

    /// The report for `--dry-run`, from the very requests a real run would send.
    fn planned(&self, earlier: &[Earlier<'_>]) -> StepReport;

    /// Take the answers to the requests this step sent in the last round (routed by tag), and
    /// either report or ask for more requests (a retry that must come after the others, or a
    /// re-read).
    fn finish(&mut self, answers: Answers, earlier: &[Earlier<'_>]) -> Progress;

    /// The report once finished (also what an interrupted user shows so far).
    fn report(&self) -> Option<StepReport>;

    /// The state read back after the writes, for the report's `after` (verify's).
    fn after(&self) -> Option<crate::report::Snapshot> {
        None
    }

    /// What `verify` re-reads for this step besides the user (requests tagged by the step).
    fn verify_reads(&self) -> Vec<Read> {
        Vec::new()
    }

    /// Check the re-read state (the user, and this step's own re-reads by tag): what held and
    /// what did not go into `verdict`, this step's part of the `after` state into `after`.
    fn verify(
        &self,
        _user: &User,
        _reads: &mut Answers,
        _after: &mut Map<String, Value>,
        _verdict: &mut Verdict,
    ) {
    }
}

/// A step before the one being prepared or finished, with whether it still waits for answers.
pub struct Earlier<'a> {
    pub name: &'static str,
    pub prepared: &'a dyn Prepared,
    /// It asked for more requests in the current round.
    pub pending: bool,
}

/// What a step's `finish` leads to.
pub enum Progress {
    Done,
    /// Send these (after waiting this long, in Graph seconds), then call `finish` again.
    More {
        requests: Vec<Request>,
        after: Duration,
    },
}

/// A read: a GET whose collection, when `paged`, is followed through every `@odata.nextLink`.
#[derive(Debug, Clone)]
pub struct Read {
    pub tag: String,
    pub req: GraphRequest,
    pub paged: bool,
    /// Goes at the end of its round (see [`Request::last`]).
    pub last: bool,
}

impl Read {
    pub fn one(tag: impl Into<String>, req: GraphRequest) -> Read {
        Read {
            tag: tag.into(),
            req,
            paged: false,
            last: false,
        }
    }

    pub fn paged(tag: impl Into<String>, req: GraphRequest) -> Read {
        Read {
            tag: tag.into(),
            req,
            paged: true,
            last: false,
        }
    }

    /// At the end of its round, with the requests it reads back after (see [`Request::last`]).
    pub fn at_end(mut self) -> Read {
        self.last = true;
        self
    }
}

/// Sends a request on behalf of several users at once: an action that takes many ids, with
/// a limit that makes one request for all of them better than one each. The engine hands
/// such a request to its route instead of the user's batch, and gets its answer back.
pub trait Route: Send + Sync + std::fmt::Debug {
    fn send(
        self: Arc<Self>,
        req: GraphRequest,
        label: String,
    ) -> BoxFuture<'static, Result<GraphResponse, GraphError>>;
}

/// A request a step sends, tagged so that its answer comes back to it, with the redacted
/// preview of its body that `--dry-run` prints.
#[derive(Debug, Clone)]
pub struct Request {
    pub tag: String,
    pub req: GraphRequest,
    /// The body as `--dry-run` shows it (a password as `<random, never shown>`), or
    /// `(no body)`.
    pub preview: String,
    /// Follow `@odata.nextLink` (re-reads of collections).
    pub paged: bool,
    /// For logs and retry warnings: "disable account".
    pub what: &'static str,
    /// Sent after every other request of its round, and not sent again by the batch when an
    /// earlier request of the chain failed: its step gets that 424 and decides. For requests
    /// Graph refuses in the normal course of things (deleting the default authentication
    /// method while others remain), so that a refusal holds back nothing else, and for the
    /// re-reads that check them.
    pub last: bool,
    /// Sent through this route, together with other users' (see [`Route`]), instead of in the
    /// user's own batch.
    pub via: Option<Arc<dyn Route>>,
}

impl Request {
    pub fn write(tag: impl Into<String>, req: GraphRequest, what: &'static str) -> Request {
        let preview = match &req.body {
            Some(body) => body.0.to_string(),
            None => "(no body)".to_owned(),
        };
        Request {
            tag: tag.into(),
            req,
            preview,
            paged: false,
            what,
            last: false,
            via: None,
        }
    }

    /// At the end of its round (see [`Request::last`]).
    pub fn at_end(mut self) -> Request {
        self.last = true;
        self
    }

    /// A write whose body must not be shown (a password): the preview is given.
    pub fn redacted(
        tag: impl Into<String>,
        req: GraphRequest,
        preview: impl Into<String>,
        what: &'static str,
    ) -> Request {
        Request {
            tag: tag.into(),
            req,
            preview: preview.into(),
            paged: false,
            what,
            last: false,
            via: None,
        }
    }

    pub fn read(read: Read, what: &'static str) -> Request {
        Request {
            tag: read.tag,
            req: read.req,
            preview: "(no body)".to_owned(),
            paged: read.paged,
            what,
            last: read.last,
            via: None,
        }
    }

    /// `PATCH /v1.0/users/{id} {"accountEnabled":false}`.
    pub fn describe(&self) -> String {
        format!("{} {}", self.req.describe(), self.preview)
    }
}

/// Answers to one step's requests, by tag.
#[derive(Debug, Default)]
pub struct Answers(HashMap<String, Result<GraphResponse, GraphError>>);

impl Answers {
    pub fn new() -> Answers {
        Answers::default()
    }

    pub fn insert(&mut self, tag: String, answer: Result<GraphResponse, GraphError>) {
        self.0.insert(tag, answer);
    }

    /// The answer to the request tagged `tag`. A request the engine never got to (the run was
    /// stopped) reads as a refusal, so no step can take silence for success.
    pub fn take(&mut self, tag: &str) -> Result<GraphResponse, GraphError> {
        self.0.remove(tag).unwrap_or_else(|| {
            Err(GraphError::Refused {
                message: "the request was not sent".into(),
            })
        })
    }

    /// The answer to the request tagged `tag`, left in place (evidence keeps a copy of what the
    /// steps read first).
    pub fn peek(&self, tag: &str) -> Option<&Result<GraphResponse, GraphError>> {
        self.0.get(tag)
    }

    /// The answers whose tags start with `prefix/`, with the prefix taken off.
    pub fn split(&mut self, prefix: &str) -> Answers {
        let lead = format!("{prefix}/");
        let keys: Vec<String> = self
            .0
            .keys()
            .filter(|k| k.starts_with(&lead))
            .cloned()
            .collect();
        let mut out = Answers::new();
        for k in keys {
            let v = self.0.remove(&k).expect("key listed");
            out.insert(k[lead.len()..].to_owned(), v);
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Take every answer whose tag starts with `prefix`, with its whole tag.
    pub fn drain_prefix(
        &mut self,
        prefix: &str,
    ) -> Vec<(String, Result<GraphResponse, GraphError>)> {
        let keys: Vec<String> = self
            .0
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        keys.into_iter()
            .map(|k| {
                let v = self.0.remove(&k).expect("key listed");
                (k, v)
            })
            .collect()
    }
}

/// What one step read in the first round, by tag.
pub type Reads = Answers;

/// What every user of a run shares.
#[derive(Debug, Clone)]
pub struct RunCx {
    pub token_kind: TokenKind,
    /// `unblock --force`: restore items that changed since the lockdown too.
    pub force: bool,
    /// `unblock --tap`: the Temporary Access Pass's lifetime, in minutes.
    pub tap_minutes: Option<u32>,
    /// What a step says once per run rather than once per user (a tenant without Intune).
    pub notices: Notices,
    /// `--inbox-rules`: which enabled inbox rules `disable_inbox_rules` turns off.
    pub inbox_rules: disable_inbox_rules::Which,
    /// The run is `status`: steps may read facts they do without when writing.
    pub status: bool,
    /// Gathers the users who reach `confirm_compromised` together into one request; `None`
    /// when the run sends nothing (see [`RunCx::sending`]).
    pub risky_users: Option<Arc<confirm_compromised::Coalescer>>,
}

impl RunCx {
    pub fn new(token_kind: TokenKind) -> RunCx {
        RunCx {
            token_kind,
            force: false,
            tap_minutes: None,
            notices: Notices::default(),
            inbox_rules: disable_inbox_rules::Which::default(),
            status: false,
            risky_users: None,
        }
    }

    /// A run that writes through `client`: what steps share across users is set up. `alone`:
    /// the run has a single user, whose requests may all ride in its own chain.
    pub fn sending(mut self, client: Arc<crate::graph::GraphClient>, alone: bool) -> RunCx {
        self.risky_users = Some(confirm_compromised::Coalescer::new(client, alone));
        self
    }

    /// `--inbox-rules`.
    pub fn inbox_rules(mut self, which: disable_inbox_rules::Which) -> RunCx {
        self.inbox_rules = which;
        self
    }

    /// A `status` run.
    pub fn for_status(mut self) -> RunCx {
        self.status = true;
        self
    }
}

/// Notices already given in this run, by a key the step chooses; shared by every user.
#[derive(Debug, Clone, Default)]
pub struct Notices(std::sync::Arc<std::sync::Mutex<std::collections::HashSet<&'static str>>>);

impl Notices {
    /// True the first time `key` is given in this run, false after that.
    pub fn first(&self, key: &'static str) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(key)
    }
}

/// One user's line of a `block` report (its `--report` file or `-o json` output): what
/// `unblock` works from. It is input from disk: every undo checks it against the tenant first.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub target: String,
    pub id: Option<String>,
    pub user_principal_name: Option<String>,
    #[serde(default)]
    pub outcome: String,
    #[serde(default)]
    pub steps: Vec<Value>,
    #[serde(default)]
    pub before: Map<String, Value>,
    #[serde(default)]
    pub after: Map<String, Value>,
}

impl Record {
    /// The report's entry for step `name`.
    pub fn step(&self, name: &str) -> Option<&Map<String, Value>> {
        self.steps
            .iter()
            .filter_map(Value::as_object)
            .find(|s| s.get("step").and_then(Value::as_str) == Some(name))
    }

    /// The status the report gives step `name` (`done`, `already`, ...).
    pub fn status(&self, name: &str) -> Option<&str> {
        self.step(name)?.get("status")?.as_str()
    }

    /// Whether step `name` changed anything: it is `done`, or one of its items is (a step that
    /// failed for one item may have done the others).
    pub fn changed(&self, name: &str) -> bool {
        let Some(step) = self.step(name) else {
            return false;
        };
        step.get("status").and_then(Value::as_str) == Some("done")
            || step
                .values()
                .filter_map(Value::as_array)
                .flatten()
                .any(|item| item.get("status").and_then(Value::as_str) == Some("done"))
    }
}

/// One user, resolved, as steps see it.
pub struct UserCx<'a> {
    pub run: &'a RunCx,
    pub user: &'a User,
    /// The user as given, for labels.
    pub raw: &'a str,
}

impl UserCx<'_> {
    /// The error as reports show it, with this step's hint (or a common one).
    pub fn error(&self, err: &GraphError, hint: Option<Hint>) -> ErrorReport {
        let hint = hint.or_else(|| crate::hints::common(err));
        ErrorReport::from_graph(err, hint)
    }
}

/// What verify found.
#[derive(Debug, Default)]
pub struct Verdict {
    /// What held, for the detail ("accountEnabled is false").
    pub held: Vec<String>,
    /// What did not.
    pub problems: Vec<String>,
    /// A problem contradicts a write Graph accepted: Graph may be catching up, so read again.
    pub contradicts_write: bool,
}

/// A fact `status` could not read: a text line naming what and why, with the hint, and the
/// error as JSON under `key` (e.g. `inboxRulesError`).
pub fn unreadable_fact(
    json: &mut Map<String, Value>,
    text: &mut Vec<String>,
    label: &str,
    key: &str,
    err: ErrorReport,
) {
    text.push(format!(
        "{:<21}could not be listed ({} {})",
        format!("{label}:"),
        err.status.map(|s| s.to_string()).unwrap_or_default(),
        err.code
    ));
    if let Some(h) = &err.hint {
        text.push(format!("  hint: {h}"));
    }
    json.insert(key.into(), serde_json::json!(err));
}

/// The dry-run report of a step that sends at most one request: what it decided without one
/// (skipped, already), or the request it would send.
pub fn planned_one(
    name: &'static str,
    report: Option<&StepReport>,
    request: Option<&Request>,
) -> StepReport {
    match (report, request) {
        (Some(report), _) => report.clone(),
        (None, Some(req)) => StepReport::new(
            name,
            StepStatus::Planned,
            format!("would send {}", req.describe()),
        ),
        (None, None) => unreachable!("{name}: a step that decided nothing sends a request"),
    }
}

/// A step's result for an item it acts on (a device, a method, a rule).
pub fn item(
    fields: Map<String, Value>,
    label: String,
    status: StepStatus,
    error: Option<ErrorReport>,
) -> ItemReport {
    ItemReport {
        fields,
        label,
        status,
        error,
    }
}

/// How a run chose its steps.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Step names left out, with the flag that did it.
    skipped: HashMap<&'static str, String>,
    /// Opt-in steps asked for.
    with: Vec<&'static str>,
}

impl Selection {
    /// Resolve `--skip` and `--with` names (report names, their kebab-case forms, or a step's
    /// aliases). `flag_skips` are skips given by the hidden per-step flags, with the flag.
    pub fn new(
        skip: &[String],
        with: &[String],
        flag_skips: &[(&str, &str)],
    ) -> Result<Selection, String> {
        let mut sel = Selection::default();
        for name in skip.iter().flat_map(|s| s.split(',')) {
            let step = find(name.trim())?;
            if !step.skippable() {
                return Err(format!("`{}` cannot be skipped", step.name()));
            }
            sel.skipped
                .insert(step.name(), format!("--skip {}", step.name()));
        }
        for (name, flag) in flag_skips {
            let step = find(name)?;
            sel.skipped.insert(step.name(), (*flag).to_owned());
        }
        for name in with.iter().flat_map(|s| s.split(',')) {
            let step = find(name.trim())?;
            if step.default_on() {
                return Err(format!(
                    "`{}` runs by default; --with is for opt-in steps ({})",
                    step.name(),
                    opt_in_names().join(", ")
                ));
            }
            if !sel.with.contains(&step.name()) {
                sel.with.push(step.name());
            }
        }
        Ok(sel)
    }

    /// Whether `step` runs, and if not, which flag left it out. An opt-in step not asked for
    /// is `None`: it has no line in the report at all.
    pub fn of(&self, step: &dyn Step) -> Option<Selected> {
        if !step.in_block() {
            return None;
        }
        if let Some(flag) = self.skipped.get(step.name()) {
            if step.default_on() || self.with.contains(&step.name()) {
                return Some(Selected::No(flag.clone()));
            }
            return None;
        }
        if step.default_on() || self.with.contains(&step.name()) {
            Some(Selected::Yes)
        } else {
            None
        }
    }

    /// Add every opt-in step that belongs in an incident response (`--incident`).
    pub fn incident(mut self) -> Selection {
        for step in REGISTRY.iter().filter(|s| !s.default_on() && s.incident()) {
            if !self.with.contains(&step.name()) {
                self.with.push(step.name());
            }
        }
        self
    }

    /// Whether the step named `name` runs (for options that only mean something with it).
    pub fn runs(&self, name: &str) -> bool {
        find(name).is_ok_and(|s| self.of(s) == Some(Selected::Yes))
    }

    /// The steps that run, in order, for the confirmation prompt.
    pub fn actions(&self) -> Vec<&'static str> {
        REGISTRY
            .iter()
            .filter(|s| self.of(**s) == Some(Selected::Yes))
            .filter_map(|s| s.action())
            .collect()
    }
}

/// The step named `name` (report name, kebab-case form or alias).
pub fn find(name: &str) -> Result<&'static dyn Step, String> {
    let wanted = name.trim().to_ascii_lowercase().replace('-', "_");
    REGISTRY
        .iter()
        .copied()
        .find(|s| s.name() == wanted || s.aliases().iter().any(|a| a.replace('-', "_") == wanted))
        .ok_or_else(|| {
            let names: Vec<&str> = REGISTRY
                .iter()
                .filter(|s| s.skippable())
                .map(|s| s.name())
                .collect();
            format!("unknown step `{name}`; steps are {}", names.join(", "))
        })
}

/// Which flag a list of step names is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Skip,
    With,
}

/// The step names `--skip` or `--with` accept, with their aliases, for clap (help text and
/// shell completions come from the registry too).
pub fn names(choice: Choice) -> clap::builder::PossibleValuesParser {
    let values: Vec<clap::builder::PossibleValue> = REGISTRY
        .iter()
        .filter(|s| s.in_block())
        .filter(|s| match choice {
            Choice::Skip => s.skippable() && s.default_on(),
            Choice::With => !s.default_on(),
        })
        .map(|s| {
            let mut aliases: Vec<&'static str> = s.aliases().to_vec();
            aliases.push(s.name().replace('_', "-").leak());
            clap::builder::PossibleValue::new(s.name()).aliases(aliases)
        })
        .collect();
    clap::builder::PossibleValuesParser::new(values)
}

fn opt_in_names() -> Vec<&'static str> {
    REGISTRY
        .iter()
        .filter(|s| s.in_block() && !s.default_on())
        .map(|s| s.name())
        .collect()
}

/// `2026-11-29T13:45:12Z`, to the second, as Graph writes times.
pub fn timestamp(t: Option<time::OffsetDateTime>) -> Option<String> {
    t.and_then(|t| {
        t.replace_nanosecond(0)
            .ok()?
            .format(&time::format_description::well_known::Rfc3339)
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_are_unique_and_verify_is_last() {
        let names: Vec<&str> = REGISTRY.iter().map(|s| s.name()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        assert_eq!(names.last(), Some(&"verify"));
    }

    #[test]
    fn skip_accepts_names_kebab_forms_and_aliases() {
        for name in [
            "reset_password",
            "reset-password",
            "password",
            "RESET-PASSWORD",
        ] {
            let sel = Selection::new(&[name.to_owned()], &[], &[]).unwrap();
            let step = find("reset_password").unwrap();
            assert_eq!(
                sel.of(step),
                Some(Selected::No("--skip reset_password".into())),
                "{name}"
            );
        }
        assert!(Selection::new(&["nonsense".into()], &[], &[]).is_err());
        assert!(Selection::new(&["verify".into()], &[], &[]).is_err());
        assert!(Selection::new(&[], &["disable_account".into()], &[]).is_err());
    }

    #[test]
    fn incident_steps_run_in_the_registry_order_and_incident_adds_them() {
        let order = [
            "disable_account",
            "revoke_sessions",
            "reset_password",
            "remove_auth_methods",
            "revoke_app_consents",
            "disable_inbox_rules",
            "disable_devices",
            "confirm_compromised",
            "verify",
        ];
        let names: Vec<&str> = REGISTRY
            .iter()
            .map(|s| s.name())
            .filter(|n| order.contains(n))
            .collect();
        assert_eq!(names, order);
        let incident = Selection::new(&[], &[], &[]).unwrap().incident();
        let plain = Selection::new(&[], &[], &[]).unwrap();
        for (alias, name) in [
            ("auth-methods", "remove_auth_methods"),
            ("app-consents", "revoke_app_consents"),
            ("inbox-rules", "disable_inbox_rules"),
            ("confirm-compromised", "confirm_compromised"),
        ] {
            let step = find(alias).unwrap();
            assert_eq!(step.name(), name);
            assert!(!step.default_on() && step.incident(), "{name}");
            assert_eq!(incident.of(step), Some(Selected::Yes), "{name}");
            assert_eq!(plain.of(step), None, "{name}");
            let with = Selection::new(&[], &[alias.to_owned()], &[]).unwrap();
            assert!(with.runs(name));
        }
        // The confirmation prompt names what they do, in registry order.
        let actions = incident.actions();
        let at = |needle: &str| {
            actions
                .iter()
                .position(|a| a.contains(needle))
                .unwrap_or_else(|| panic!("no {needle:?} in {actions:?}"))
        };
        assert!(at("authentication method") < at("consented"));
        assert!(at("consented") < at("inbox rules"));
        assert!(at("inbox rules") < at("devices"));
        assert!(at("devices") < at("compromised"));
        // `--skip` of a step `--incident` adds leaves it out, saying so.
        let skipped = Selection::new(&["inbox-rules".into()], &[], &[])
            .unwrap()
            .incident();
        assert!(!skipped.runs("disable_inbox_rules"));
    }

    #[test]
    fn flag_skips_name_their_flag() {
        let sel = Selection::new(&[], &[], &[("disable_account", "--keep-enabled")]).unwrap();
        assert_eq!(
            sel.of(find("disable_account").unwrap()),
            Some(Selected::No("--keep-enabled".into()))
        );
        assert_eq!(
            sel.actions(),
            vec![
                "revoke sign-in sessions",
                "reset the password",
                "disable the user's devices"
            ]
        );
    }
}

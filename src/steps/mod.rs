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
//! in [`REGISTRY`], and the emulator's endpoints for it. A step that can be undone implements
//! [`Undo`] too; a step only `unblock` runs sits on [`UNBLOCK_ONLY`]; a step with options of its
//! own declares them as `clap::Args` and adds a line to [`StepOptions`] (or [`SkipFlags`]); a
//! step that lists items and acts on each builds on [`listed`].

pub mod block_sign_in;
pub mod confirm_compromised;
pub mod disable_account;
pub mod disable_devices;
pub mod disable_inbox_rules;
pub mod disable_onprem_account;
pub mod issue_tap;
pub mod listed;
pub mod lock_devices;
pub mod remove_auth_methods;
pub mod require;
pub mod reset_password;
pub mod restore;
pub mod revoke_app_consents;
pub mod revoke_sessions;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use serde_json::{Map, Value};

use crate::auth::TokenKind;
pub use crate::graph::timestamp;
use crate::graph::users::User;
use crate::graph::{GraphError, GraphRequest, GraphResponse};
use crate::hints::Hint;
use crate::report::{ErrorReport, ItemReport, StepReport, StepStatus};
use require::{Finding, Requirement, Target};

/// The steps, in the order they run (and appear in reports). Opt-in steps run only with
/// `--with`. `verify` is not among them: it is the engine's last phase
/// (`crate::engine::verify`), which reads the account back and asks each step what held.
pub static REGISTRY: &[&dyn Step] = &[
    &disable_account::DisableAccount,
    &block_sign_in::BlockSignIn,
    &revoke_sessions::RevokeSessions,
    &reset_password::ResetPassword,
    &disable_onprem_account::DisableOnpremAccount,
    &remove_auth_methods::RemoveAuthMethods,
    &revoke_app_consents::RevokeAppConsents,
    &disable_inbox_rules::DisableInboxRules,
    &disable_devices::DisableDevices,
    &lock_devices::LockDevices,
    &confirm_compromised::ConfirmCompromised,
];

/// The steps only `unblock` runs (the Temporary Access Pass): they have an undo and nothing
/// else, so `block`, `--skip`/`--with` and help do not know them. `unblock` runs them after
/// the registry's undos and before verify's, which reads everything back.
pub static UNBLOCK_ONLY: &[UnblockOnly] = &[UnblockOnly {
    about: &issue_tap::ABOUT,
    undo: &issue_tap::IssueTap,
}];

/// A step only `unblock` runs: what it is, and its undo.
pub struct UnblockOnly {
    pub about: &'static About,
    pub undo: &'static dyn Undo,
}

/// A step of a report: one of [`REGISTRY`], or one of [`UNBLOCK_ONLY`].
#[derive(Clone, Copy)]
pub enum Unit {
    Step(&'static dyn Step),
    UnblockOnly(&'static UnblockOnly),
}

impl Unit {
    pub fn about(self) -> &'static About {
        match self {
            Unit::Step(step) => step.about(),
            Unit::UnblockOnly(only) => only.about,
        }
    }

    pub fn name(self) -> &'static str {
        self.about().name
    }

    pub fn action(self) -> Option<&'static str> {
        self.about().action
    }

    /// Its undo, if it has one.
    pub fn undo(self) -> Option<&'static dyn Undo> {
        match self {
            Unit::Step(step) => step.undo(),
            Unit::UnblockOnly(only) => Some(only.undo),
        }
    }

    /// See [`Step::change_line`].
    pub fn change_line(
        self,
        before: &Map<String, Value>,
        after: &Map<String, Value>,
    ) -> Option<String> {
        match self {
            Unit::Step(step) => step.change_line(before, after),
            Unit::UnblockOnly(_) => None,
        }
    }

    /// See [`Step::requires`]; an unblock-only step declares none.
    pub fn requires(self, cx: &RunCx) -> Vec<Requirement> {
        match self {
            Unit::Step(step) => step.requires(cx),
            Unit::UnblockOnly(_) => Vec::new(),
        }
    }
}

/// Every step in report order: the registry's, then the unblock-only steps (the engine's
/// verify phase, which reads back what they all did, comes after them).
pub fn units() -> impl Iterator<Item = Unit> {
    REGISTRY
        .iter()
        .map(|s| Unit::Step(*s))
        .chain(UNBLOCK_ONLY.iter().map(Unit::UnblockOnly))
}

/// The steps' own options, each declared by its step (one line per step that has any), for
/// the commands that run steps to flatten into their flags.
#[derive(Debug, Clone, Default, clap::Args)]
#[group(skip)]
pub struct StepOptions {
    #[command(flatten)]
    pub disable_inbox_rules: disable_inbox_rules::Options,
    #[command(flatten)]
    pub block_sign_in: block_sign_in::Options,
}

impl StepOptions {
    /// `block`: an option given for a step the selection leaves out is a usage error.
    pub fn check(&self, selection: &Selection) -> Result<(), String> {
        self.disable_inbox_rules.check(selection)
    }

    /// `status`: each option's help as `status` means it (it shows, and writes nothing).
    pub fn for_status(arg: clap::Arg) -> clap::Arg {
        disable_inbox_rules::Options::for_status(arg)
    }
}

/// The flags a step declares to leave itself out, kept for existing scripts (`--keep-enabled`
/// and the hidden `--skip-sessions`, `--skip-password`, `--skip-devices`): each the same as a
/// `--skip` of its step, one line per step.
#[derive(Debug, Clone, Default, clap::Args)]
#[group(skip)]
pub struct SkipFlags {
    #[command(flatten)]
    pub disable_account: disable_account::SkipFlag,
    #[command(flatten)]
    pub reset_password: reset_password::SkipFlag,
    #[command(flatten)]
    pub revoke_sessions: revoke_sessions::SkipFlag,
    #[command(flatten)]
    pub disable_devices: disable_devices::SkipFlag,
}

impl SkipFlags {
    /// The steps these flags leave out, each with its flag, for [`Selection::new`].
    pub fn given(&self) -> Vec<(&'static str, &'static str)> {
        [
            self.disable_account.given(),
            self.revoke_sessions.given(),
            self.reset_password.given(),
            self.disable_devices.given(),
        ]
        .concat()
    }
}

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
    /// Whether it stops the account signing in whatever the tenant has set up (disable,
    /// revoke, reset), unlike a containment step that works only in some tenants or for some
    /// accounts (the Conditional Access block group, the on-premises account): a selection
    /// needs one of these.
    pub stops_sign_in: bool,
    /// What it does, for the confirmation prompt ("disable the account"); `None` to leave it
    /// out of the prompt.
    pub action: Option<&'static str>,
}

impl About {
    /// How help, completions and errors name the step: its report name with its short alias,
    /// `remove_auth_methods (auth-methods)`, or the name alone when it has none.
    pub fn label(&self) -> String {
        match self.aliases.first() {
            Some(alias) => format!("{} ({alias})", self.name),
            None => self.name.to_owned(),
        }
    }
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

    fn action(&self) -> Option<&'static str> {
        self.about().action
    }

    /// Requests added to the user's first read. `who` addresses the user as given (UPN or
    /// object id), since the user is not resolved yet: these go out with the resolving read.
    fn reads(&self, _who: &str, _cx: &RunCx) -> Vec<Read> {
        Vec::new()
    }

    /// What this step reads once per run for every user (see [`Once`]): the user whose first
    /// read carried those reads settles it from `reads`; every other user waits here until it
    /// is settled. Called for each user after its first read, before any step decides.
    fn once_per_run<'a>(&'a self, _cx: &'a RunCx, _reads: &'a mut Reads) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    /// `check`: read what this step reads once per run now, through `client`, so that the
    /// caller's line can show it ([`Step::tenant_facts`]) and judge the step by it.
    fn prime<'a>(
        &'a self,
        _client: &'a crate::graph::GraphClient,
        _cx: &'a RunCx,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    /// `check`: what this step found of the tenant (the block group and its policy), as JSON
    /// fields and text lines of the caller's line.
    fn tenant_facts(&self, _cx: &RunCx, _json: &mut Map<String, Value>, _text: &mut Vec<String>) {}

    /// Decide from what was read. `selected` is `Err(flag)` when a flag left this step out:
    /// the step still records its `before` state and facts from the user, but plans no write.
    fn prepare(&self, cx: &UserCx<'_>, reads: Reads, selected: Selected) -> Box<dyn Prepared>;

    /// What `unblock` does for it, if it has an undo.
    fn undo(&self) -> Option<&dyn Undo> {
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

/// A step's undo, for `unblock`: a step implements it or not (see [`Step::undo`]).
pub trait Undo: Sync {
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

    /// The requests to send, in order, after every step was prepared: its writes (and re-reads
    /// of its own). The engine's verify phase follows them in the same chain.
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

    /// Warnings for the user's result that do not change its outcome by themselves (a block
    /// policy that is not enforcing).
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }

    /// Once every step reported: why the user stays open although no step failed (a synced
    /// account whose cloud sign-in nothing blocks now), which makes it `partial`. `all` is
    /// every step of the user, this one included.
    fn leaves_open(&self, _all: &[Earlier<'_>]) -> Option<String> {
        None
    }

    /// What the engine's verify phase re-reads for this step besides the user (requests tagged
    /// by the step).
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

/// Answers to one step's requests, by tag, and Graph's time of the last write among them that
/// succeeded.
#[derive(Debug, Default)]
pub struct Answers(
    HashMap<String, Result<GraphResponse, GraphError>>,
    Option<time::OffsetDateTime>,
);

impl Answers {
    pub fn new() -> Answers {
        Answers::default()
    }

    pub fn insert(&mut self, tag: String, answer: Result<GraphResponse, GraphError>) {
        self.0.insert(tag, answer);
    }

    /// A write among these answers succeeded at Graph's time `at` (its `Date`).
    pub fn wrote_at(&mut self, at: Option<time::OffsetDateTime>) {
        self.1 = self.1.max(at);
    }

    /// Graph's time of the last write among these answers that succeeded.
    pub fn written(&self) -> Option<time::OffsetDateTime> {
        self.1
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

    /// Whether there is an answer tagged `tag` (the request was sent for this user).
    pub fn has(&self, tag: &str) -> bool {
        self.0.contains_key(tag)
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
    /// The steps' own options (`--inbox-rules`, `--block-group`): each step reads its own.
    pub options: StepOptions,
    /// The run is `status`: steps may read facts they do without when writing.
    pub status: bool,
    /// Gathers the users who reach `confirm_compromised` together into one request; `None`
    /// when the run sends nothing (see [`RunCx::sending`]).
    pub risky_users: Option<Arc<confirm_compromised::Coalescer>>,
    /// The Conditional Access block group and its policy, read once per run.
    pub block_group: Arc<block_sign_in::Lookup>,
    /// The Microsoft cloud the run talks to (some APIs exist in the global service only).
    pub cloud: crate::cloud::Cloud,
}

impl RunCx {
    pub fn new(token_kind: TokenKind) -> RunCx {
        RunCx {
            token_kind,
            force: false,
            tap_minutes: None,
            notices: Notices::default(),
            options: StepOptions::default(),
            status: false,
            risky_users: None,
            block_group: Arc::new(block_sign_in::Lookup::new(None)),
            cloud: crate::cloud::Cloud::Global,
        }
    }

    /// `--cloud`.
    pub fn cloud(mut self, cloud: crate::cloud::Cloud) -> RunCx {
        self.cloud = cloud;
        self
    }

    /// The steps' own options. The block group (`--block-group ID` / `LOCKDOWN_BLOCK_GROUP`,
    /// by object id instead of by its mailNickname) is looked up once for the run.
    pub fn options(mut self, options: StepOptions) -> RunCx {
        self.block_group = Arc::new(block_sign_in::Lookup::new(
            options.block_sign_in.block_group.clone(),
        ));
        self.options = options;
        self
    }

    /// A run that writes through `client`: what steps share across users is set up. `alone`:
    /// the run has a single user, whose requests may all ride in its own chain.
    pub fn sending(mut self, client: Arc<crate::graph::GraphClient>, alone: bool) -> RunCx {
        self.risky_users = Some(confirm_compromised::Coalescer::new(client, alone));
        self
    }

    /// A `status` run.
    pub fn for_status(mut self) -> RunCx {
        self.status = true;
        self
    }
}

/// A value a step reads once per run for every user (e.g. the block group and its policy):
/// the first user to [`claim`](Once::claim) it carries the reads in its own first read and
/// [`settle`](Once::settle)s it from their answers; the others [`wait`](Once::wait) for it.
pub struct Once<T> {
    claimed: std::sync::atomic::AtomicBool,
    state: tokio::sync::watch::Sender<Option<Arc<T>>>,
}

impl<T> std::fmt::Debug for Once<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Once")
            .field("settled", &self.state.borrow().is_some())
            .finish_non_exhaustive()
    }
}

impl<T> Default for Once<T> {
    fn default() -> Self {
        Once {
            claimed: std::sync::atomic::AtomicBool::new(false),
            state: tokio::sync::watch::Sender::new(None),
        }
    }
}

impl<T> Once<T> {
    /// True for the first caller only: it must send the reads and settle.
    pub fn claim(&self) -> bool {
        !self.claimed.swap(true, std::sync::atomic::Ordering::SeqCst)
    }

    pub fn settle(&self, value: T) {
        self.state.send_replace(Some(Arc::new(value)));
    }

    /// The value, once settled; `None` at once when nobody claimed it.
    pub async fn wait(&self) -> Option<Arc<T>> {
        if !self.claimed.load(std::sync::atomic::Ordering::SeqCst) {
            return None;
        }
        let mut rx = self.state.subscribe();
        let settled = rx.wait_for(Option::is_some).await.ok()?;
        settled.clone()
    }

    /// The value if settled, without waiting.
    pub fn now(&self) -> Option<Arc<T>> {
        self.state.borrow().clone()
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

/// What a step that sends at most one request decided, and where it stands.
#[derive(Debug, Clone)]
pub enum One {
    /// Decided without a request (skipped, already, left alone): the report says why.
    Decided(StepReport),
    /// The request to send, waiting for its answer.
    Sends(Request),
    /// The request was answered: its report. The request is dropped (it may carry a secret,
    /// such as a new password).
    Answered(StepReport),
}

impl One {
    /// The report decided without a request, or else the request `send` makes.
    pub fn decide(report: Option<StepReport>, send: impl FnOnce() -> Request) -> One {
        match report {
            Some(report) => One::Decided(report),
            None => One::Sends(send()),
        }
    }

    /// The request still to send, if any.
    pub fn requests(&self) -> Vec<Request> {
        match self {
            One::Sends(request) => vec![request.clone()],
            One::Decided(_) | One::Answered(_) => Vec::new(),
        }
    }

    /// The report, once decided or answered.
    pub fn report(&self) -> Option<&StepReport> {
        match self {
            One::Decided(report) | One::Answered(report) => Some(report),
            One::Sends(_) => None,
        }
    }

    /// Whether it waits for the answer to its request.
    pub fn waiting(&self) -> bool {
        matches!(self, One::Sends(_))
    }

    /// Whether it sent (or is to send) its request, rather than deciding without one.
    pub fn sends(&self) -> bool {
        !matches!(self, One::Decided(_))
    }

    /// The report of the answer to its request.
    pub fn answered(&mut self, report: StepReport) {
        *self = One::Answered(report);
    }

    /// The dry-run report: what it decided without a request, or the request it would send.
    pub fn planned(&self, name: &'static str) -> StepReport {
        match self {
            One::Decided(report) | One::Answered(report) => report.clone(),
            One::Sends(req) => StepReport::new(
                name,
                StepStatus::Planned,
                format!("would send {}", req.describe()),
            ),
        }
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
    /// aliases). `flag_skips` are skips given by the hidden per-step flags, with the flag. A
    /// `--skip` of an opt-in step wins over `--incident`; a step named by both `--skip` and
    /// `--with` is a conflict, said as one.
    pub fn new(
        skip: &[String],
        with: &[String],
        flag_skips: &[(&str, &str)],
    ) -> Result<Selection, String> {
        let mut sel = Selection::default();
        // How each skip was asked for, for a conflict's message: `--skip devices`.
        let mut asked: HashMap<&'static str, String> = HashMap::new();
        for name in skip.iter().flat_map(|s| s.split(',')) {
            engine_phase(name, "--skip")?;
            let step = find(name.trim())?;
            sel.skipped
                .insert(step.name(), format!("--skip {}", step.name()));
            asked.insert(step.name(), format!("--skip {}", name.trim()));
        }
        for (name, flag) in flag_skips {
            let step = find(name)?;
            sel.skipped.insert(step.name(), (*flag).to_owned());
            asked.insert(step.name(), (*flag).to_owned());
        }
        for name in with.iter().flat_map(|s| s.split(',')) {
            engine_phase(name, "--with")?;
            let step = find(name.trim())?;
            if let Some(skip) = asked.get(step.name()) {
                return Err(format!(
                    "{skip} and --with {} conflict: both name the step {}; give one of them",
                    name.trim(),
                    step.about().label()
                ));
            }
            if step.default_on() {
                return Err(format!(
                    "`{}` runs by default; --with adds an opt-in step: {}",
                    step.name(),
                    labels(Choice::With).join(", ")
                ));
            }
            if !sel.with.contains(&step.name()) {
                sel.with.push(step.name());
            }
        }
        Ok(sel)
    }

    /// Whether a step that stops the account signing in whatever the tenant has set up runs
    /// (see [`About::stops_sign_in`]): a run without one would not surely lock anything down,
    /// whatever else it did.
    pub fn contains(&self) -> bool {
        REGISTRY
            .iter()
            .any(|s| s.about().stops_sign_in && self.of(*s) == Some(Selected::Yes))
    }

    /// Whether `step` runs, and if not, which flag left it out. An opt-in step not asked for
    /// is `None`: it has no line in the report at all.
    pub fn of(&self, step: &dyn Step) -> Option<Selected> {
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

/// `verify` is the engine's last phase, not a step: it always runs, so `flag` cannot name it.
fn engine_phase(name: &str, flag: &str) -> Result<(), String> {
    if !name.trim().eq_ignore_ascii_case("verify") {
        return Ok(());
    }
    let why = "lockdown always reads the account back after its writes (verify), so that a run reports only what took effect";
    Err(if flag == "--skip" {
        format!("`verify` cannot be skipped: {why}")
    } else {
        format!(
            "`verify` always runs: {why}; --with adds an opt-in step: {}",
            labels(Choice::With).join(", ")
        )
    })
}

/// The step named `name` (report name, kebab-case form or alias).
pub fn find(name: &str) -> Result<&'static dyn Step, String> {
    let wanted = name.trim().to_ascii_lowercase().replace('-', "_");
    REGISTRY
        .iter()
        .copied()
        .find(|s| s.name() == wanted || s.aliases().iter().any(|a| a.replace('-', "_") == wanted))
        .ok_or_else(|| {
            format!(
                "unknown step `{name}`; steps are {}",
                labels(Choice::Skip).join(", ")
            )
        })
}

/// Which flag a list of step names is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// `--skip`: every step `block` runs that may be left out, default-on and opt-in (a skip
    /// wins over `--incident`).
    Skip,
    /// `--with`: the opt-in steps.
    With,
}

/// The steps a flag offers, in registry order.
fn offered(choice: Choice) -> impl Iterator<Item = &'static dyn Step> {
    REGISTRY
        .iter()
        .copied()
        .filter(move |s| choice == Choice::Skip || !s.default_on())
}

/// The steps a flag offers, each once with its short alias: `remove_auth_methods
/// (auth-methods)`.
pub fn labels(choice: Choice) -> Vec<String> {
    offered(choice).map(|s| s.about().label()).collect()
}

/// The help of a `--skip` or `--with` flag: `lead`, then the steps it takes.
pub fn flag_help(choice: Choice, lead: &str) -> String {
    let steps = match choice {
        Choice::Skip => {
            let on: Vec<String> = offered(Choice::Skip)
                .filter(|s| s.default_on())
                .map(|s| s.about().label())
                .collect();
            format!(
                "{}; or an opt-in step of --with, which then does not run even with --incident",
                on.join(", ")
            )
        }
        Choice::With => labels(Choice::With).join(", "),
    };
    format!("{lead} (repeatable, or comma-separated): {steps}")
}

/// The parser of `--skip` and `--with` values, for clap: a step's report name, its kebab-case
/// form or an alias, kept as given (the selection resolves it and says what conflicts).
/// Completions offer each step once, by its report name, with its short alias as the
/// description; an unknown name is an error that lists the steps as help does.
#[derive(Debug, Clone, Copy)]
pub struct StepParser(pub Choice);

impl clap::builder::TypedValueParser for StepParser {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        let text = value.to_string_lossy();
        // `--with` takes any step `block` runs, so that naming a default-on one (or one also
        // skipped) is answered by the selection with what is wrong, not by a guess at a name.
        if find(&text).is_ok() {
            return Ok(text.trim().to_owned());
        }
        let flag = arg
            .and_then(|a| a.get_long())
            .map(|l| format!("--{l}"))
            .unwrap_or_else(|| "the step".to_owned());
        if let Err(why) = engine_phase(&text, &flag) {
            let message = format!("invalid value '{text}' for '{flag}': {why}\n");
            return Err(
                clap::Error::raw(clap::error::ErrorKind::InvalidValue, message).with_cmd(cmd),
            );
        }
        let message = format!(
            "invalid value '{text}' for '{flag}': no such step; {flag} takes {}\n",
            labels(self.0).join(", ")
        );
        Err(clap::Error::raw(clap::error::ErrorKind::InvalidValue, message).with_cmd(cmd))
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(offered(self.0).map(|s| {
            let value = clap::builder::PossibleValue::new(s.name());
            match s.aliases().first() {
                Some(alias) => value.help(*alias),
                None => value,
            }
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_are_unique_and_verify_is_not_a_step() {
        let names: Vec<&str> = REGISTRY.iter().map(|s| s.name()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        assert!(!names.contains(&"verify"), "verify is the engine's phase");
        let skip = Selection::new(&["verify".into()], &[], &[]).unwrap_err();
        assert!(skip.starts_with("`verify` cannot be skipped: "), "{skip}");
        let with = Selection::new(&[], &["verify".into()], &[]).unwrap_err();
        assert!(with.starts_with("`verify` always runs: "), "{with}");
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
    fn a_selection_contains_while_one_containment_step_runs() {
        let contain: Vec<&str> = REGISTRY
            .iter()
            .filter(|s| s.about().stops_sign_in)
            .map(|s| s.name())
            .collect();
        assert_eq!(
            contain,
            ["disable_account", "revoke_sessions", "reset_password"]
        );
        assert!(REGISTRY
            .iter()
            .filter(|s| s.about().stops_sign_in)
            .all(|s| s.phase() == Phase::Contain));
        assert!(Selection::new(&[], &[], &[]).unwrap().contains());
        for kept in &contain {
            let others: Vec<String> = contain
                .iter()
                .filter(|n| *n != kept)
                .map(|n| n.to_string())
                .collect();
            assert!(
                Selection::new(&others, &[], &[]).unwrap().contains(),
                "{kept}"
            );
        }
        let all: Vec<String> = contain.iter().map(|n| n.to_string()).collect();
        assert!(!Selection::new(&all, &[], &[]).unwrap().contains());
        let by_flag = Selection::new(
            &["sessions".into(), "password".into()],
            &[],
            &[("disable_account", "--keep-enabled")],
        )
        .unwrap();
        assert!(!by_flag.contains());
    }

    #[test]
    fn a_step_both_skipped_and_added_is_a_conflict_and_a_skip_beats_incident() {
        let err =
            Selection::new(&["devices".into()], &["disable_devices".into()], &[]).unwrap_err();
        assert_eq!(
            err,
            "--skip devices and --with disable_devices conflict: both name the step disable_devices (devices); give one of them"
        );
        let err = Selection::new(&["inbox-rules".into()], &["rules".into()], &[]).unwrap_err();
        assert!(err.contains("conflict"), "{err}");
        let sel = Selection::new(&["auth-methods".into()], &[], &[])
            .unwrap()
            .incident();
        assert_eq!(
            sel.of(find("remove_auth_methods").unwrap()),
            Some(Selected::No("--skip remove_auth_methods".into()))
        );
        assert!(sel.runs("revoke_app_consents"));
    }

    #[test]
    fn labels_name_each_step_once_with_its_first_alias() {
        assert_eq!(
            find("auth-methods").unwrap().about().label(),
            "remove_auth_methods (auth-methods)"
        );
        let with = labels(Choice::With);
        assert!(with.iter().all(|l| !l.starts_with("disable_account")));
        let skip = labels(Choice::Skip);
        assert!(!skip.iter().any(|l| l.starts_with("verify")));
        assert!(skip.contains(&"disable_account (account)".to_owned()));
        assert!(skip.contains(&"remove_auth_methods (auth-methods)".to_owned()));
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
                "add the user to the Conditional Access block group",
                "revoke sign-in sessions",
                "reset the password",
                "disable a synced user's on-premises AD account through Defender for Identity",
                "disable the user's devices"
            ]
        );
    }
}

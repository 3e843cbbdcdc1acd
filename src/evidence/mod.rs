//! Evidence: what an investigator needs about each user, saved in the same run as the lockdown
//! (`block --evidence DIR`) or on its own (`lockdown evidence USER... --out DIR`, GETs only).
//!
//! Per user, `DIR/<run id>/<upn>/` holds one JSON file per source ([`FILES`]) and a
//! `manifest.json` with each file's SHA-256, size and record count, the window, who collected
//! it, and what could not be read and why. Files are created 0600 in folders 0700 and never
//! overwritten (each run has its own run-id folder).
//!
//! What lockdown changes (the user, methods, inbox rules, consents, devices) is taken from the
//! run's first read, made before any write; logs and audits, which a lockdown does not change,
//! are read after the user's lockdown, outside the run's concurrency window so that they never
//! hold back another user's containment, and paced by the identity and access reports limit
//! (5 requests per 10 s, shared with sign-in logs and authentication methods).

pub mod findings;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::graph::directory_audits::{self, Side};
use crate::graph::paging::{self, Items, Page};
use crate::graph::{
    auth_methods, devices, grants, mail_rules, managed_devices, owned_objects, sign_ins, users,
    GraphClient, GraphError, GraphRequest, GraphResponse, Priority,
};
use crate::signal::Cancel;

pub use findings::Finding;

/// `--evidence-days`: the default window, and the longest one (sign-in logs are kept 30 days).
pub const DEFAULT_DAYS: u32 = 7;
pub const MAX_DAYS: u32 = 30;
/// Sign-ins kept per user; past it the manifest says the cap was reached.
pub const SIGN_IN_CAP: usize = 5_000;
/// Users whose logs are read at once: they share the reports limit anyway.
const USERS_AT_ONCE: usize = 4;

pub const USER: &str = "user.json";
pub const SIGN_INS: &str = "sign-ins.json";
pub const DIRECTORY_AUDITS: &str = "directory-audits.json";
pub const METHODS: &str = "methods.json";
pub const INBOX_RULES: &str = "inbox-rules.json";
pub const CONSENTS: &str = "consents.json";
pub const DEVICES: &str = "devices.json";
pub const MEMBERSHIPS: &str = "memberships.json";
pub const OWNED_APPS: &str = "owned-apps.json";
pub const MANIFEST: &str = "manifest.json";

/// Every evidence file, in the order they are written (the manifest comes last).
pub const FILES: &[&str] = &[
    USER,
    SIGN_INS,
    DIRECTORY_AUDITS,
    METHODS,
    INBOX_RULES,
    CONSENTS,
    MEMBERSHIPS,
    DEVICES,
    OWNED_APPS,
];

/// A list of the user's, addressed by UPN or id.
type List = fn(&str) -> GraphRequest;

/// A part of an evidence file: its key in a file of several lists, the request, what the
/// manifest calls it.
type Part = (&'static str, List, &'static str);

/// The lists a step may already have read in the user's first read, by file.
const LISTS: &[(&str, &[Part])] = &[
    (
        METHODS,
        &[("", auth_methods::list, "GET authentication methods")],
    ),
    (
        INBOX_RULES,
        &[("", mail_rules::list_inbox, "GET inbox rules")],
    ),
    (
        CONSENTS,
        &[("", grants::list_for_user, "GET oauth2PermissionGrants")],
    ),
    (MEMBERSHIPS, &[("", users::member_of, "GET memberOf")]),
    (
        DEVICES,
        &[
            ("entra", devices::list_registered, "GET registeredDevices"),
            (
                "intune",
                managed_devices::list_for_user,
                "GET managedDevices",
            ),
        ],
    ),
    (
        OWNED_APPS,
        &[
            (
                "applications",
                owned_objects::applications,
                "GET ownedObjects/microsoft.graph.application",
            ),
            (
                "servicePrincipals",
                owned_objects::service_principals,
                "GET ownedObjects/microsoft.graph.servicePrincipal",
            ),
        ],
    ),
];

/// The answers of a user's first read, by request, so that evidence reuses what the steps
/// already read (before any write) instead of reading it twice.
#[derive(Debug, Default)]
pub struct FirstRead(HashMap<String, Result<GraphResponse, GraphError>>);

impl FirstRead {
    pub fn insert(&mut self, req: &GraphRequest, answer: Result<GraphResponse, GraphError>) {
        self.0.insert(req.describe(), answer);
    }

    fn take(&mut self, req: &GraphRequest) -> Option<Result<GraphResponse, GraphError>> {
        self.0.remove(&req.describe())
    }
}

/// Whose evidence: the user as the first read returned it, and how that read addressed it.
pub struct Subject {
    /// The UPN or id the first read used (what the steps' reads were addressed by).
    pub who: String,
    pub id: String,
    pub user_principal_name: Option<String>,
    /// The first read's answer for the user (with [`users::EVIDENCE_SELECT`]).
    pub user: GraphResponse,
}

/// Where a user's evidence went, for the report line.
#[derive(Debug, Clone, Serialize)]
pub struct Saved {
    pub dir: String,
    pub manifest_sha256: String,
    /// What could not be read, for people: `sign-ins.json (licence)`.
    #[serde(skip)]
    pub unread: Vec<String>,
}

/// A user's evidence, saved; or why it could not be written.
#[derive(Debug)]
pub enum Outcome {
    Saved {
        saved: Saved,
        findings: Vec<Finding>,
    },
    /// A file could not be written (what was written stays): no new user starts.
    Failed { dir: Option<String>, error: String },
    /// The run was stopped first.
    Interrupted,
}

/// Collects evidence for every user of a run into `DIR/<run id>/`.
pub struct Collector {
    client: Arc<GraphClient>,
    run_id: String,
    dir: PathBuf,
    days: u32,
    /// The window: from `since` to when each user's collection starts.
    since: OffsetDateTime,
    tenant: Option<String>,
    caller: Option<String>,
    /// Set by the first write failure: the run starts no new user.
    failed: Mutex<Option<String>>,
    cancel: Cancel,
    at_once: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("run_id", &self.run_id)
            .field("dir", &self.dir)
            .finish()
    }
}

impl Collector {
    /// Create `out/<run id>/` (and `out` if needed, 0700). The tenant and the caller come from
    /// the token's claims (hints, never checked: they only label the manifest).
    pub async fn new(
        client: Arc<GraphClient>,
        out: &Path,
        days: u32,
        cancel: Cancel,
    ) -> Result<Arc<Collector>, String> {
        let started = OffsetDateTime::now_utc();
        let run_id = format!(
            "{}-{}",
            started
                .format(time::macros::format_description!(
                    "[year][month][day]T[hour][minute][second]Z"
                ))
                .expect("a UTC time formats"),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        if !out.exists() {
            make_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
        }
        let dir = out.join(&run_id);
        make_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let (tenant, caller) = match client.token().await {
            Ok(token) => {
                let c = crate::auth::token_claims(&token);
                let caller = c.user_principal_name.clone().or_else(|| {
                    match (&c.app_display_name, &c.app_id) {
                        (Some(name), Some(id)) => Some(format!("app {name} ({id})")),
                        (None, Some(id)) => Some(format!("app {id}")),
                        _ => None,
                    }
                });
                (c.tenant_id, caller)
            }
            Err(_) => (None, None),
        };
        Ok(Arc::new(Collector {
            client,
            run_id,
            dir,
            days,
            since: started - time::Duration::days(i64::from(days)),
            tenant,
            caller,
            failed: Mutex::new(None),
            cancel,
            at_once: tokio::sync::Semaphore::new(USERS_AT_ONCE),
        }))
    }

    /// `DIR/<run id>`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Why no new user may start: a write failed.
    pub fn failure(&self) -> Option<String> {
        self.failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn fail(&self, error: &str) {
        let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        if failed.is_none() {
            *failed = Some(error.to_owned());
        }
    }

    /// Read what is not in `first` yet, write every file and the manifest.
    pub async fn collect(self: Arc<Self>, subject: Subject, first: FirstRead) -> Outcome {
        let _slot = self.at_once.acquire().await;
        if self.cancel.is_cancelled() {
            return Outcome::Interrupted;
        }
        let started = OffsetDateTime::now_utc();
        // The folder first: a run that cannot write stops before reading anything more.
        let dir = match self.user_dir(&subject) {
            Ok(dir) => dir,
            Err(error) => {
                self.fail(&error);
                return Outcome::Failed { dir: None, error };
            }
        };
        let mut read = Reading {
            client: &self.client,
            first,
            label: format!("{}: evidence", subject.who),
            cancel: &self.cancel,
            reused: false,
        };
        let mut files: Vec<File> = Vec::new();
        let mut unavailable: Vec<Value> = Vec::new();

        // user.json: the user as the first read returned it.
        match subject.user.json::<Value>() {
            Ok(user) => files.push(File::new(USER, user, 1).taken_from_first_read(true)),
            Err(e) => unavailable.push(unreadable(USER, "GET user", &e)),
        }

        // sign-ins.json: newest first, every page, at most SIGN_IN_CAP.
        let filter = sign_ins::filter(&[&subject.id], self.since);
        let mut capped = false;
        match read.sign_ins(&filter, &mut capped).await {
            Ok(items) => {
                let mut f = File::list(SIGN_INS, items);
                f.capped = capped;
                files.push(f);
            }
            Err(e) => unavailable.push(unreadable(SIGN_INS, "GET /auditLogs/signIns", &e)),
        }

        // directory-audits.json: as target and as initiator, merged by id, newest first.
        let mut audits: Vec<Value> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut audit_read = false;
        for side in [Side::Target, Side::Initiator] {
            let req =
                directory_audits::list(&directory_audits::filter(side, &subject.id, self.since));
            match read.all(None, req).await {
                Ok(items) => {
                    audit_read = true;
                    for item in items {
                        let id = item.get("id").and_then(Value::as_str).unwrap_or_default();
                        if seen.insert(id.to_owned()) {
                            audits.push(item);
                        }
                    }
                }
                Err(e) => unavailable.push(unreadable(
                    DIRECTORY_AUDITS,
                    &format!("GET /auditLogs/directoryAudits ({})", side.as_str()),
                    &e,
                )),
            }
        }
        if audit_read {
            audits.sort_by(|a, b| {
                let at = |v: &Value| {
                    v.get("activityDateTime")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                at(b).cmp(&at(a))
            });
            files.push(File::list(DIRECTORY_AUDITS, audits));
        }

        // The lists a step may have read first (then taken from that read), else read now.
        for (name, parts) in LISTS {
            let mut got: Vec<(&str, Option<Vec<Value>>)> = Vec::with_capacity(parts.len());
            let mut first_read = true;
            for (key, list, what) in *parts {
                match read.all(Some(list(&subject.who)), list(&subject.id)).await {
                    Ok(mut items) => {
                        first_read &= read.reused;
                        if *name == METHODS {
                            mask_phones(&mut items);
                        }
                        if *name == OWNED_APPS {
                            strip_secrets(&mut items);
                        }
                        got.push((key, Some(items)));
                    }
                    Err(e) => {
                        unavailable.push(unreadable(name, what, &e));
                        got.push((key, None));
                    }
                }
            }
            let records: usize = got
                .iter()
                .filter_map(|(_, l)| l.as_ref())
                .map(Vec::len)
                .sum();
            if got.iter().all(|(_, l)| l.is_none()) {
                continue;
            }
            // A file of one list is that list; of several, an object with a key for each.
            let body = if got.len() == 1 {
                Value::Array(got.pop().and_then(|(_, l)| l).unwrap_or_default())
            } else {
                Value::Object(
                    got.into_iter()
                        .map(|(k, l)| (k.to_owned(), l.map_or(Value::Null, Value::Array)))
                        .collect(),
                )
            };
            files.push(File::new(name, body, records).taken_from_first_read(first_read));
        }
        if read.stopped() {
            return Outcome::Interrupted;
        }

        let found = self.findings(&files);
        // Serialising and syncing thousands of records is blocking work: off the runtime.
        let this = self.clone();
        let whose = (subject.id.clone(), subject.user_principal_name.clone());
        let manifest_findings = found.clone();
        let written = tokio::task::spawn_blocking(move || {
            this.write(
                &dir,
                &whose,
                started,
                files,
                unavailable,
                &manifest_findings,
            )
        })
        .await
        .unwrap_or_else(|e| Err((None, format!("the evidence writer stopped: {e}"))));
        match written {
            Ok(saved) => Outcome::Saved {
                saved,
                findings: found,
            },
            Err((dir, error)) => {
                self.fail(&error);
                Outcome::Failed { dir, error }
            }
        }
    }

    fn findings(&self, files: &[File]) -> Vec<Finding> {
        let list = |name: &str| -> Vec<Value> {
            files
                .iter()
                .find(|f| f.name == name)
                .map(|f| match &f.body {
                    Value::Array(items) => items.clone(),
                    Value::Object(parts) => parts
                        .values()
                        .filter_map(Value::as_array)
                        .flatten()
                        .cloned()
                        .collect(),
                    _ => Vec::new(),
                })
                .unwrap_or_default()
        };
        let mut out = findings::methods(&list(METHODS), self.since);
        out.extend(findings::credentials(&list(OWNED_APPS), self.since));
        out.extend(findings::audits(&list(DIRECTORY_AUDITS), self.since));
        out.extend(findings::sign_ins(&list(SIGN_INS), self.since));
        out
    }

    /// Write each file, then the manifest; `Err` with the user's folder (when it was made) and
    /// why, at the first failure.
    /// `DIR/<run id>/<upn>/`, made 0700.
    fn user_dir(&self, subject: &Subject) -> Result<PathBuf, String> {
        let folder = folder_name(subject);
        let dir = self.dir.join(&folder);
        match make_dir(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // Two entries of one run whose names read the same: the second gets its id too.
                let dir = self.dir.join(format!("{folder}-{}", subject.id));
                make_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                Ok(dir)
            }
            Err(e) => Err(format!("cannot create {}: {e}", dir.display())),
        }
    }

    fn write(
        &self,
        dir: &Path,
        (id, upn): &(String, Option<String>),
        started: OffsetDateTime,
        files: Vec<File>,
        unavailable: Vec<Value>,
        found: &[Finding],
    ) -> Result<Saved, (Option<String>, String)> {
        let shown = dir.display().to_string();
        let mut listed = Vec::with_capacity(files.len());
        for file in &files {
            let bytes = pretty(&file.body);
            let digest = write_new(&dir.join(file.name), &bytes).map_err(|e| {
                (
                    Some(shown.clone()),
                    format!("cannot write {}: {e}", dir.join(file.name).display()),
                )
            })?;
            let mut entry = json!({
                "name": file.name,
                "sha256": digest,
                "bytes": bytes.len(),
                "records": file.records,
                "readFrom": if file.first_read { "first read" } else { "evidence read" },
            });
            if file.name == SIGN_INS {
                entry["capped"] = json!(file.capped);
                if file.capped {
                    entry["note"] = json!(format!(
                        "the newest {SIGN_IN_CAP} sign-ins of the window; older ones were not read"
                    ));
                }
            }
            listed.push(entry);
        }
        let mut unread: Vec<String> = Vec::new();
        for u in &unavailable {
            let said = format!(
                "{} ({})",
                u["file"].as_str().unwrap_or_default(),
                u["reason"].as_str().unwrap_or_default()
            );
            if !unread.contains(&said) {
                unread.push(said);
            }
        }
        let finished = OffsetDateTime::now_utc();
        let manifest = json!({
            "runId": self.run_id,
            "lockdownVersion": env!("CARGO_PKG_VERSION"),
            "tenant": self.tenant,
            "caller": self.caller,
            "user": {
                "id": id,
                "userPrincipalName": upn,
            },
            "window": {
                "days": self.days,
                "startDateTime": utc(self.since),
                "endDateTime": utc(started),
            },
            "collectionStartedDateTime": utc(started),
            "collectionFinishedDateTime": utc(finished),
            "files": listed,
            "unavailable": unavailable,
            "findings": found,
            "notes": [
                "Graph gives inbox rules and consent grants no creation time: when they appeared is only known from the directory audit log (consents) or the mailbox audit log (rules, not read by lockdown).",
                "methods.json shows phone numbers masked to their last two digits.",
            ],
        });
        let bytes = pretty(&manifest);
        let digest = write_new(&dir.join(MANIFEST), &bytes).map_err(|e| {
            (
                Some(shown.clone()),
                format!("cannot write {}: {e}", dir.join(MANIFEST).display()),
            )
        })?;
        Ok(Saved {
            dir: shown,
            manifest_sha256: digest,
            unread,
        })
    }
}

/// One evidence file before it is written.
struct File {
    name: &'static str,
    body: Value,
    records: usize,
    capped: bool,
    /// Taken from the run's first read of the user (before any write), not read for evidence.
    first_read: bool,
}

impl File {
    fn new(name: &'static str, body: Value, records: usize) -> File {
        File {
            name,
            body,
            records,
            capped: false,
            first_read: false,
        }
    }

    fn taken_from_first_read(mut self, first_read: bool) -> File {
        self.first_read = first_read;
        self
    }

    fn list(name: &'static str, items: Vec<Value>) -> File {
        let n = items.len();
        File::new(name, Value::Array(items), n)
    }
}

/// The reads of one user's collection.
struct Reading<'a> {
    client: &'a GraphClient,
    first: FirstRead,
    label: String,
    cancel: &'a Cancel,
    /// The last [`Reading::all`] was answered from the first read.
    reused: bool,
}

impl Reading<'_> {
    fn stopped(&self) -> bool {
        self.cancel.is_cancelled()
    }

    fn refuse_when_stopped(&self) -> Result<(), GraphError> {
        if self.stopped() {
            return Err(GraphError::Refused {
                message: "the run was interrupted".into(),
            });
        }
        Ok(())
    }

    /// The whole collection: from the first read when it holds `reused`, else read now.
    async fn all(
        &mut self,
        reused: Option<GraphRequest>,
        own: GraphRequest,
    ) -> Result<Vec<Value>, GraphError> {
        self.reused = false;
        if let Some(answer) = reused.and_then(|r| self.first.take(&r)) {
            self.reused = true;
            return answer.and_then(|r| r.json::<Items>()).map(|i| i.value);
        }
        self.refuse_when_stopped()?;
        paging::collect_all(self.client, own.at(Some(Priority::Low)), &self.label).await
    }

    /// Sign-ins of the window, newest first, page after page up to the cap.
    async fn sign_ins(
        &mut self,
        filter: &str,
        capped: &mut bool,
    ) -> Result<Vec<Value>, GraphError> {
        let mut items: Vec<Value> = Vec::new();
        // learn: graph/api/signin-list — "The maximum and default page size is 1,000 objects":
        // no `$top` needed.
        let mut req = sign_ins::list(filter).at(Some(Priority::Low));
        loop {
            self.refuse_when_stopped()?;
            let page: Page<Value> = self.client.get_json(&req, &self.label).await?;
            items.extend(page.value);
            if items.len() >= SIGN_IN_CAP {
                *capped = items.len() > SIGN_IN_CAP || page.next_link.is_some();
                items.truncate(SIGN_IN_CAP);
                return Ok(items);
            }
            match page.next_link {
                None => return Ok(items),
                Some(link) => {
                    req = GraphRequest::next_link(link).at(Some(Priority::Low));
                }
            }
        }
    }
}

/// Why a source could not be read, for the manifest: `permission`, `licence`, `no mailbox`,
/// `not supported` or `error`, with Graph's status, code and message.
fn unreadable(file: &str, source: &str, err: &GraphError) -> Value {
    let code = err.code();
    let status = err.status();
    let (reason, detail) = if code == sign_ins::NON_PREMIUM {
        (
            "licence",
            "sign-in logs need Microsoft Entra ID P1 or P2 in the tenant",
        )
    } else if mail_rules::is_mailbox_missing(err) {
        ("no mailbox", "the user has no Exchange Online mailbox")
    } else if managed_devices::is_not_licensed(err) {
        ("licence", "the tenant has no Intune licence")
    } else if status == Some(403) && source.contains("ownedObjects") {
        (
            "permission",
            "Graph lists owned objects to a signed-in caller only (delegated User.Read.All or Directory.Read.All, and Application.Read.All for the apps' credentials); an app-only token cannot read them",
        )
    } else if status == Some(403) && source.contains("auditLogs") {
        (
            "permission",
            "needs AuditLog.Read.All and Directory.Read.All (and, signed in, a reports reader role)",
        )
    } else if status == Some(403) {
        ("permission", "the caller may not read this")
    } else if matches!(err, GraphError::Refused { .. }) {
        ("interrupted", "the run was stopped before it was read")
    } else {
        ("error", "Graph did not answer it")
    };
    let mut v = json!({
        "file": file,
        "source": source,
        "reason": reason,
        "detail": detail,
        "code": code,
        "message": err.message(),
    });
    if let Some(s) = status {
        v["status"] = json!(s);
    }
    v
}

/// Phone numbers as lockdown shows them everywhere: the last two digits.
fn mask_phones(items: &mut [Value]) {
    for item in items {
        if let Some(Value::String(number)) = item.get_mut("phoneNumber") {
            *number = auth_methods::mask_phone(number);
        }
    }
}

/// Graph returns a secret's value only when it is created and a certificate's key only for one
/// object; drop the fields anyway, so that no value could ever reach a file.
fn strip_secrets(items: &mut [Value]) {
    for item in items {
        for (list, field) in [
            ("passwordCredentials", "secretText"),
            ("keyCredentials", "key"),
        ] {
            if let Some(Value::Array(creds)) = item.get_mut(list) {
                for c in creds.iter_mut().filter_map(Value::as_object_mut) {
                    c.remove(field);
                }
            }
        }
    }
}

/// The user's folder: the UPN, with anything a file system could misread replaced by `_`.
fn folder_name(subject: &Subject) -> String {
    let name = subject
        .user_principal_name
        .as_deref()
        .unwrap_or(&subject.id);
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@.-_+'$#".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    match cleaned.trim_start_matches('.') {
        "" => subject.id.clone(),
        rest => rest.to_owned(),
    }
}

fn pretty(v: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(v).expect("JSON values serialize");
    bytes.push(b'\n');
    bytes
}

fn utc(t: OffsetDateTime) -> String {
    crate::graph::timestamp(Some(t)).unwrap_or_default()
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Create `path` (never replacing a file), 0600, write `bytes`, sync; the digest of what was
/// written.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(sha256_hex(bytes))
}

fn make_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

fn make_dir_all(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn secrets_and_phones_never_reach_a_file() {
        let mut apps = vec![
            json!({"passwordCredentials": [{"keyId": "k", "secretText": "s3cr3t"}],
            "keyCredentials": [{"keyId": "c", "key": "MIIB"}]}),
        ];
        strip_secrets(&mut apps);
        let text = apps[0].to_string();
        assert!(!text.contains("s3cr3t") && !text.contains("MIIB"), "{text}");
        let mut methods = vec![json!({"phoneNumber": "+1 4255550123"})];
        mask_phones(&mut methods);
        assert_eq!(methods[0]["phoneNumber"], "******23");
    }

    #[test]
    fn folder_names_stay_inside_the_run_folder() {
        let subject = |upn: &str| Subject {
            who: upn.into(),
            id: "id".into(),
            user_principal_name: Some(upn.into()),
            user: GraphResponse {
                status: 200,
                headers: Default::default(),
                body: Default::default(),
            },
        };
        assert_eq!(
            folder_name(&subject("adele@contoso.com")),
            "adele@contoso.com"
        );
        assert_eq!(folder_name(&subject("../x/y")), "_x_y");
        assert_eq!(folder_name(&subject("..")), "id");
    }
}

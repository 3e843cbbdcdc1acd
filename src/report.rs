//! What a run reports about each user: the JSON Lines contract scripts rely on, and the text
//! people read. Both are rendered from the same [`UserReport`].

use serde::Serialize;
use serde_json::{Map, Value};

use crate::graph::GraphError;
use crate::hints::Hint;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Locked,
    Partial,
    Failed,
    NotFound,
    Planned,
    Refused,
    Interrupted,
    /// `status`: the user was read.
    Found,
    /// `unblock`: everything undoable was restored, or already was.
    Restored,
    /// `evidence`: the user's evidence was saved.
    Collected,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Locked => "locked",
            Outcome::Partial => "partial",
            Outcome::Failed => "failed",
            Outcome::NotFound => "not_found",
            Outcome::Planned => "planned",
            Outcome::Refused => "refused",
            Outcome::Interrupted => "interrupted",
            Outcome::Found => "found",
            Outcome::Restored => "restored",
            Outcome::Collected => "collected",
        }
    }

    /// Whether this user counts as a success for the exit status.
    pub fn is_success(self) -> bool {
        matches!(
            self,
            Outcome::Locked
                | Outcome::Planned
                | Outcome::Found
                | Outcome::Restored
                | Outcome::Collected
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Done,
    Already,
    Skipped,
    Failed,
    Planned,
    /// The run was stopped (Ctrl-C, the token) before this step finished.
    Interrupted,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Done => "done",
            StepStatus::Already => "already",
            StepStatus::Skipped => "skipped",
            StepStatus::Failed => "failed",
            StepStatus::Planned => "planned",
            StepStatus::Interrupted => "interrupted",
        }
    }
}

/// A Graph (or transport) error as reports show it. Never carries a request body.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ErrorReport {
    pub status: Option<u16>,
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl ErrorReport {
    pub fn from_graph(err: &GraphError, hint: Option<Hint>) -> Self {
        ErrorReport {
            status: err.status(),
            code: err.code(),
            message: err.message(),
            request_id: err.request_id(),
            hint: hint.map(|h| h.0),
        }
    }
}

/// One thing a step acts on (a device, an authentication method, a rule): the fields the step
/// reports about it, then its own status and error.
#[derive(Debug, Clone, Serialize)]
pub struct ItemReport {
    #[serde(flatten)]
    pub fields: Map<String, Value>,
    pub status: StepStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
    /// How the text report names it: `ADELEV-LAPTOP (Windows)`.
    #[serde(skip)]
    pub label: String,
}

/// Fields a step may report that are shown once, on stdout, and never written to a `--report`
/// file, a log or a `Debug` print: a Temporary Access Pass.
pub const SHOWN_ONCE: &[&str] = &["temporaryAccessPass"];

/// One step's result. JSON: `{"step", "status", "detail", "error"?, <items>?, <extra>...}`.
#[derive(Clone)]
pub struct StepReport {
    pub step: &'static str,
    pub status: StepStatus,
    pub detail: Option<String>,
    pub error: Option<ErrorReport>,
    /// The items the step acted on, under the step's own key (`devices`, `methods`, ...).
    pub items: Option<(&'static str, Vec<ItemReport>)>,
    /// Further fields the step reports.
    pub extra: Map<String, Value>,
}

impl std::fmt::Debug for StepReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let extra: Map<String, Value> = self
            .extra
            .iter()
            .map(|(k, v)| {
                let v = if SHOWN_ONCE.contains(&k.as_str()) {
                    Value::String("<not shown>".into())
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect();
        f.debug_struct("StepReport")
            .field("step", &self.step)
            .field("status", &self.status)
            .field("detail", &self.detail)
            .field("error", &self.error)
            .field("items", &self.items)
            .field("extra", &extra)
            .finish()
    }
}

impl Serialize for StepReport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("step", self.step)?;
        map.serialize_entry("status", &self.status)?;
        map.serialize_entry("detail", &self.detail)?;
        if let Some(error) = &self.error {
            map.serialize_entry("error", error)?;
        }
        if let Some((key, items)) = &self.items {
            map.serialize_entry(key, items)?;
        }
        for (k, v) in &self.extra {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl StepReport {
    pub fn new(step: &'static str, status: StepStatus, detail: impl Into<Option<String>>) -> Self {
        StepReport {
            step,
            status,
            detail: detail.into(),
            error: None,
            items: None,
            extra: Map::new(),
        }
    }

    pub fn failed(step: &'static str, detail: impl Into<String>, error: ErrorReport) -> Self {
        StepReport {
            error: Some(error),
            ..StepReport::new(step, StepStatus::Failed, detail.into())
        }
    }

    pub fn with_items(mut self, key: &'static str, items: Vec<ItemReport>) -> Self {
        self.items = Some((key, items));
        self
    }
}

/// Something `unblock` could not undo, and why.
#[derive(Debug, Clone, Serialize)]
pub struct NotUndone {
    pub step: &'static str,
    pub reason: String,
}

/// State as read from Graph, each step adding its part: what an undo needs.
pub type Snapshot = Map<String, Value>;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserReport {
    /// The user as given on the command line or in the file.
    pub target: String,
    pub id: Option<String>,
    pub user_principal_name: Option<String>,
    pub display_name: Option<String>,
    pub outcome: Outcome,
    /// `block`: Graph's time (RFC 3339) at which the account was contained (the last
    /// containment write, or the read that found it already contained); `null` when
    /// containment did not complete.
    #[serde(rename = "contained_at", skip_serializing_if = "Option::is_none")]
    pub contained_at: Option<Option<String>>,
    /// Why the user was refused, not found or failed before any step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
    pub steps: Vec<StepReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Snapshot>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Snapshot>,
    /// Advisories that do not change the outcome (admin roles, guest caveats).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// `unblock`: what could not be undone, and why.
    #[serde(rename = "not_undone", skip_serializing_if = "Vec::is_empty")]
    pub not_undone: Vec<NotUndone>,
    /// `status`: what was read, as top-level fields.
    #[serde(flatten)]
    pub facts: Map<String, Value>,
    /// `status`: the same facts as text lines.
    #[serde(skip)]
    pub facts_text: Vec<String>,
    /// The before -> after lines of the text report, one per step that has one.
    #[serde(skip)]
    pub changes: Vec<String>,
    /// `--evidence` / `lockdown evidence`: where this user's evidence went and the digest of
    /// its manifest, or why it could not be written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<EvidenceReport>,
    /// Facts from the evidence worth a first look, each naming its file and record.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<crate::evidence::Finding>,
}

/// A user's evidence on the report line.
#[derive(Debug, Clone, Serialize)]
pub struct EvidenceReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    /// SHA-256 of the user's `manifest.json`, for the ticket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What could not be read (the manifest says why), for the text result.
    #[serde(skip)]
    pub unread: Vec<String>,
}

impl UserReport {
    pub fn new(target: &str) -> Self {
        UserReport {
            target: target.to_owned(),
            id: None,
            user_principal_name: None,
            display_name: None,
            outcome: Outcome::Failed,
            contained_at: None,
            reason: None,
            error: None,
            steps: Vec::new(),
            before: None,
            after: None,
            warnings: Vec::new(),
            not_undone: Vec::new(),
            facts: Map::new(),
            facts_text: Vec::new(),
            changes: Vec::new(),
            evidence: None,
            findings: Vec::new(),
        }
    }

    pub fn step(&self, name: &str) -> Option<&StepReport> {
        self.steps.iter().find(|s| s.step == name)
    }

    /// The line for stdout.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("reports always serialize")
    }

    /// The line for a `--report` file: the same, less what is shown once ([`SHOWN_ONCE`]).
    pub fn to_record_line(&self) -> String {
        let mut value = serde_json::to_value(self).expect("reports always serialize");
        if let Some(steps) = value.get_mut("steps").and_then(Value::as_array_mut) {
            for step in steps.iter_mut().filter_map(Value::as_object_mut) {
                for key in SHOWN_ONCE {
                    step.remove(*key);
                }
            }
        }
        value.to_string()
    }

    /// The text block people read.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let who = match (&self.display_name, &self.user_principal_name) {
            (Some(name), Some(upn)) => format!("{name} <{upn}>"),
            (None, Some(upn)) => upn.clone(),
            // An empty argument, shown as one rather than as nothing.
            _ if self.target.trim().is_empty() => format!("{:?}", self.target),
            _ => self.target.clone(),
        };
        if self.outcome == Outcome::Found {
            out.push_str(&who);
        } else {
            out.push_str(&format!("{who}: {}", self.outcome.as_str()));
        }
        if let Some(id) = &self.id {
            out.push_str(&format!("  (id {id})"));
        }
        out.push('\n');
        if let Some(reason) = &self.reason {
            out.push_str(&format!("  {reason}\n"));
        }
        if let Some(Some(at)) = &self.contained_at {
            // `2026-12-07T14:02:11Z` -> `14:02:11`, Graph's clock in UTC.
            let clock = at.get(11..19).unwrap_or(at);
            out.push_str(&format!("  contained at {clock} UTC\n"));
        }
        if let Some(err) = &self.error {
            push_error(&mut out, err, "  ");
        }
        for line in &self.facts_text {
            out.push_str(&format!("  {line}\n"));
        }
        for w in &self.warnings {
            out.push_str(&format!("  warning: {w}\n"));
        }
        // Step names line up; the longer names of opt-in steps widen the column.
        let width = self
            .steps
            .iter()
            .map(|s| s.step.len())
            .max()
            .unwrap_or(0)
            .max(16);
        for step in &self.steps {
            out.push_str(&format!(
                "  {:<width$} {:<8} {}\n",
                step.step,
                step.status.as_str(),
                step.detail.as_deref().unwrap_or("")
            ));
            if let Some(err) = &step.error {
                push_error(&mut out, err, "      ");
            }
            if let Some(Value::String(pass)) = step.extra.get("temporaryAccessPass") {
                let who = self.user_principal_name.as_deref().unwrap_or(&self.target);
                let until = step
                    .extra
                    .get("expiresDateTime")
                    .and_then(Value::as_str)
                    .unwrap_or("its lifetime ends");
                out.push_str(&format!(
                    "  Temporary Access Pass for {who}: {pass}  (usable once, until {until})\n"
                ));
            }
            for item in step.items.iter().flat_map(|(_, items)| items) {
                out.push_str(&format!(
                    "      - {}: {}\n",
                    item.label,
                    item.status.as_str()
                ));
                if let Some(err) = &item.error {
                    push_error(&mut out, err, "          ");
                }
            }
        }
        for n in &self.not_undone {
            out.push_str(&format!("  not undone: {}: {}\n", n.step, n.reason));
        }
        for line in &self.changes {
            out.push_str(&format!("  {line}\n"));
        }
        if let Some(e) = &self.evidence {
            let dir = e.dir.as_deref().unwrap_or("(no folder)");
            match (&e.manifest_sha256, &e.error) {
                (Some(digest), _) => {
                    out.push_str(&format!("  evidence: {dir}  manifest sha256 {digest}\n"));
                    if !e.unread.is_empty() {
                        out.push_str(&format!(
                            "  evidence not read: {} (see the manifest)\n",
                            e.unread.join(", ")
                        ));
                    }
                }
                (None, Some(error)) => out.push_str(&format!("  evidence: not saved: {error}\n")),
                (None, None) => out.push_str(&format!("  evidence: {dir}\n")),
            }
        }
        for f in &self.findings {
            out.push_str(&format!("  finding: {}\n", f.line()));
        }
        out
    }
}

/// `yes`, `no` or `unknown` for a flag read from Graph.
pub fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    }
}

fn push_error(out: &mut String, err: &ErrorReport, indent: &str) {
    let status = err.status.map(|s| format!("{s} ")).unwrap_or_default();
    out.push_str(&format!("{indent}error: {status}{}", err.code));
    if !err.message.is_empty() {
        out.push_str(&format!(": {}", err.message));
    }
    if let Some(id) = &err.request_id {
        out.push_str(&format!(" (request-id {id})"));
    }
    out.push('\n');
    if let Some(hint) = &err.hint {
        out.push_str(&format!("{indent}hint: {hint}\n"));
    }
}

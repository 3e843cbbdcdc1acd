//! What a run reports about each user: the JSON Lines contract scripts rely on, and the text
//! people read. Both are rendered from the same [`UserReport`].

use serde::Serialize;

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
        }
    }

    /// Whether this user counts as a success for the exit status.
    pub fn is_success(self) -> bool {
        matches!(self, Outcome::Locked | Outcome::Planned)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepName {
    DisableAccount,
    RevokeSessions,
    ResetPassword,
    DisableDevices,
    Verify,
}

impl StepName {
    pub fn as_str(self) -> &'static str {
        match self {
            StepName::DisableAccount => "disable_account",
            StepName::RevokeSessions => "revoke_sessions",
            StepName::ResetPassword => "reset_password",
            StepName::DisableDevices => "disable_devices",
            StepName::Verify => "verify",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Done,
    Already,
    Skipped,
    Failed,
    Planned,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Done => "done",
            StepStatus::Already => "already",
            StepStatus::Skipped => "skipped",
            StepStatus::Failed => "failed",
            StepStatus::Planned => "planned",
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

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceReport {
    pub id: String,
    pub display_name: Option<String>,
    pub operating_system: Option<String>,
    pub status: StepStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub step: StepName,
    pub status: StepStatus,
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<DeviceReport>>,
}

impl StepReport {
    pub fn new(step: StepName, status: StepStatus, detail: impl Into<Option<String>>) -> Self {
        StepReport {
            step,
            status,
            detail: detail.into(),
            error: None,
            devices: None,
        }
    }

    pub fn failed(step: StepName, detail: impl Into<String>, error: ErrorReport) -> Self {
        StepReport {
            step,
            status: StepStatus::Failed,
            detail: Some(detail.into()),
            error: Some(error),
            devices: None,
        }
    }
}

/// The account's state as read from Graph: what an undo needs.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub account_enabled: Option<bool>,
    pub sign_in_sessions_valid_from_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<DeviceSnapshot>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeviceSnapshot {
    pub id: String,
    pub account_enabled: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserReport {
    /// The user as given on the command line or in the file.
    pub target: String,
    pub id: Option<String>,
    pub user_principal_name: Option<String>,
    pub display_name: Option<String>,
    pub outcome: Outcome,
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
}

impl UserReport {
    pub fn new(target: &str) -> Self {
        UserReport {
            target: target.to_owned(),
            id: None,
            user_principal_name: None,
            display_name: None,
            outcome: Outcome::Failed,
            reason: None,
            error: None,
            steps: Vec::new(),
            before: None,
            after: None,
            warnings: Vec::new(),
        }
    }

    pub fn step(&self, name: StepName) -> Option<&StepReport> {
        self.steps.iter().find(|s| s.step == name)
    }

    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("reports always serialize")
    }

    /// The text block people read.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let who = match (&self.display_name, &self.user_principal_name) {
            (Some(name), Some(upn)) => format!("{name} <{upn}>"),
            (None, Some(upn)) => upn.clone(),
            _ => self.target.clone(),
        };
        out.push_str(&format!("{who}: {}", self.outcome.as_str()));
        if let Some(id) = &self.id {
            out.push_str(&format!("  (id {id})"));
        }
        out.push('\n');
        if let Some(reason) = &self.reason {
            out.push_str(&format!("  {reason}\n"));
        }
        if let Some(err) = &self.error {
            push_error(&mut out, err, "  ");
        }
        for w in &self.warnings {
            out.push_str(&format!("  warning: {w}\n"));
        }
        for step in &self.steps {
            out.push_str(&format!(
                "  {:<16} {:<8} {}\n",
                step.step.as_str(),
                step.status.as_str(),
                step.detail.as_deref().unwrap_or("")
            ));
            if let Some(err) = &step.error {
                push_error(&mut out, err, "      ");
            }
            for d in step.devices.iter().flatten() {
                out.push_str(&format!(
                    "      - {} ({}): {}\n",
                    d.display_name.as_deref().unwrap_or(&d.id),
                    d.operating_system.as_deref().unwrap_or("unknown OS"),
                    d.status.as_str()
                ));
                if let Some(err) = &d.error {
                    push_error(&mut out, err, "          ");
                }
            }
        }
        if let (Some(before), Some(after)) = (&self.before, &self.after) {
            out.push_str(&format!(
                "  account enabled: {} -> {}\n",
                yes_no(before.account_enabled),
                yes_no(after.account_enabled)
            ));
            out.push_str(&format!(
                "  sessions valid from: {} -> {}\n",
                before
                    .sign_in_sessions_valid_from_date_time
                    .as_deref()
                    .unwrap_or("unknown"),
                after
                    .sign_in_sessions_valid_from_date_time
                    .as_deref()
                    .unwrap_or("unknown")
            ));
            if let (Some(b), Some(a)) = (&before.devices, &after.devices) {
                let enabled = |d: &Vec<DeviceSnapshot>| {
                    d.iter()
                        .filter(|x| x.account_enabled != Some(false))
                        .count()
                };
                out.push_str(&format!(
                    "  devices enabled: {} of {} -> {} of {}\n",
                    enabled(b),
                    b.len(),
                    enabled(a),
                    a.len()
                ));
            }
        }
        out
    }
}

fn yes_no(v: Option<bool>) -> &'static str {
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

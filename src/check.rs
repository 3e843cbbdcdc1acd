//! What `lockdown check` and `block --preflight` print: the caller's line (who is calling,
//! what it may do, and each chosen step's verdict before any target is read) and one line per
//! target (what was read about it, and each step's verdict for it). The verdicts come from the
//! steps' layer ([`crate::steps::require`]): what each step needs, what the caller has, and
//! what each step expects of a target.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::auth::TokenKind;
use crate::error::ExitStatus;
use crate::report::ErrorReport;
use crate::signal::Cancel;
use crate::steps::require::{
    Caller, CallerRead, Licence, Me, Permissions, Requirement, Status, Verdict,
};

/// One step's expectation, as `check` prints it: `{"step", "permission", "role"?, "licence"?,
/// "status", "reason"?}`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StepLine {
    pub step: &'static str,
    /// The least privileged permissions the step's calls need, joined with ` + `.
    pub permission: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licence: Option<&'static str>,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl StepLine {
    /// The line for `step` from its requirements and its verdict.
    pub fn new(step: &'static str, reqs: &[Requirement], verdict: &Verdict) -> StepLine {
        let mut perms: Vec<&str> = Vec::new();
        let mut role = None;
        let mut licence = None;
        for r in reqs {
            if let Permissions::AnyOf(sets) = r.permissions {
                for p in sets.first().copied().unwrap_or(&[]) {
                    if !perms.contains(p) {
                        perms.push(p);
                    }
                }
            }
            if role.is_none() {
                role = r.roles.first().map(|s| (*s).to_owned());
            }
            if licence.is_none() {
                licence = r.licence.map(Licence::plan);
            }
        }
        StepLine {
            step,
            permission: if perms.is_empty() {
                "none".to_owned()
            } else {
                perms.join(" + ")
            },
            role,
            licence,
            status: verdict.status(),
            reason: verdict.reason(),
        }
    }

    /// `  disable_account  missing  User.EnableDisableAccount.All + User.Read.All: <reason>`.
    pub fn text(&self) -> String {
        let mut need = self.permission.clone();
        if let Some(role) = &self.role {
            need.push_str(&format!("; role {role}"));
        }
        if let Some(l) = self.licence {
            need.push_str(&format!("; licence {l}"));
        }
        let width = crate::steps::REGISTRY
            .iter()
            .map(|s| s.name().len())
            .chain(["watch".len(), 16])
            .max()
            .unwrap_or(16);
        let mut out = format!(
            "  {:<width$} {:<8} {need}\n",
            self.step,
            self.status.as_str()
        );
        if let Some(reason) = &self.reason {
            out.push_str(&format!("      {reason}\n"));
        }
        out
    }
}

/// The first line of `check`: who is calling, what it may do, and each step's verdict before
/// any target is read.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallerLine {
    /// `application`, `delegated` or `unknown`.
    pub token_kind: &'static str,
    pub tenant_id: Option<String>,
    pub app_id: Option<String>,
    pub app_display_name: Option<String>,
    /// Delegated: the signed-in user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Me>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_error: Option<ErrorReport>,
    /// Application: the app's service principal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_principal_id: Option<String>,
    /// The permissions the token says it carries (`roles` or `scp`): a hint.
    pub token_permissions: Vec<String>,
    /// The directory roles the token's `wids` claim names, when it has one: a hint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_directory_roles: Option<Vec<String>>,
    /// Application: the Graph permissions granted to the app, from Graph.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_role_assignments: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_role_assignments_error: Option<ErrorReport>,
    /// Delegated: the signed-in user's directory roles, from Graph.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory_roles: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory_roles_error: Option<ErrorReport>,
    /// Service plan -> whether the tenant holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licences: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licences_error: Option<ErrorReport>,
    /// Where the claims and Graph disagree, and other things worth knowing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// What steps found of the tenant (`blockGroup`: the block group and its policy).
    #[serde(flatten)]
    pub tenant: Map<String, Value>,
    pub steps: Vec<StepLine>,
    /// Whether `lockdown watch` (and `block --watch`) can read sign-in logs.
    pub watch: StepLine,
}

impl CallerLine {
    pub fn new(caller: &Caller, steps: Vec<StepLine>, watch: StepLine) -> CallerLine {
        let c = &caller.claims;
        let split = |r: &Option<CallerRead<Vec<String>>>| match r {
            Some(Ok(v)) => (Some(v.clone()), None),
            Some(Err(e)) => (None, Some(e.clone())),
            None => (None, None),
        };
        let (assignments, assignments_error) = split(&caller.assignments);
        let (roles, roles_error) = split(&caller.directory_roles);
        let (licences, licences_error) = match &caller.plans {
            Some(Ok(_)) => (
                Some(
                    Licence::ALL
                        .iter()
                        .map(|l| {
                            (
                                l.plan().to_owned(),
                                json!(caller.licensed(*l).unwrap_or(false)),
                            )
                        })
                        .collect(),
                ),
                None,
            ),
            Some(Err(e)) => (None, Some(e.clone())),
            None => (None, None),
        };
        let (user, user_error) = match &caller.me {
            Some(Ok(me)) => (Some(me.clone()), None),
            Some(Err(e)) => (None, Some(e.clone())),
            None => (None, None),
        };
        let mut notes = caller.disagreements();
        if let Some(Err(e)) = &caller.service_principal {
            notes.push(format!(
                "the app's service principal could not be read ({} {}): its permissions are judged by the token's roles claim",
                e.status.map(|s| s.to_string()).unwrap_or_default(),
                e.code
            ));
        }
        CallerLine {
            token_kind: match c.kind {
                TokenKind::AppOnly => "application",
                TokenKind::Delegated => "delegated",
                TokenKind::Unknown => "unknown",
            },
            tenant_id: c.tenant_id.clone(),
            app_id: c.app_id.clone(),
            app_display_name: c.app_display_name.clone(),
            user,
            user_error,
            service_principal_id: match &caller.service_principal {
                Some(Ok(id)) => Some(id.clone()),
                _ => None,
            },
            token_permissions: c.permissions.clone(),
            token_directory_roles: caller.token_roles(),
            app_role_assignments: assignments,
            app_role_assignments_error: assignments_error,
            directory_roles: roles,
            directory_roles_error: roles_error,
            licences,
            licences_error,
            notes,
            tenant: Map::new(),
            steps,
            watch,
        }
    }

    /// Whether some step is expected to fail whatever the target.
    pub fn fails(&self) -> bool {
        self.steps.iter().any(|s| s.status == Status::Missing)
    }

    pub fn to_json_line(&self) -> String {
        serde_json::to_string(&json!({ "caller": self })).expect("lines serialize")
    }

    pub fn to_text(&self) -> String {
        let mut out = String::from("caller: ");
        match self.token_kind {
            "application" => out.push_str("application token"),
            "delegated" => out.push_str("delegated token"),
            _ => out.push_str("a token lockdown cannot read"),
        }
        if let Some(me) = &self.user {
            out.push_str(&format!(
                ", signed in as {}",
                me.user_principal_name.as_deref().unwrap_or(&me.id)
            ));
            if let Some(name) = &me.display_name {
                out.push_str(&format!(" ({name})"));
            }
        }
        if let Some(app) = &self.app_id {
            out.push_str(&format!(
                ", app {} ({app})",
                self.app_display_name.as_deref().unwrap_or("unnamed")
            ));
        }
        if let Some(t) = &self.tenant_id {
            out.push_str(&format!(", tenant {t}"));
        }
        out.push('\n');
        let kind = if self.token_kind == "application" {
            "roles"
        } else {
            "scp"
        };
        out.push_str(&format!(
            "  the token says ({kind}): {}\n",
            list_or_none(&self.token_permissions)
        ));
        if let Some(a) = &self.app_role_assignments {
            out.push_str(&format!(
                "  app role assignments (Graph): {}\n",
                list_or_none(a)
            ));
        }
        if let Some(e) = &self.app_role_assignments_error {
            out.push_str(&format!(
                "  app role assignments: could not be read ({})\n",
                short(e)
            ));
        }
        if let Some(r) = &self.directory_roles {
            out.push_str(&format!("  directory roles: {}\n", list_or_none(r)));
        } else if let Some(r) = &self.token_directory_roles {
            out.push_str(&format!(
                "  directory roles (the token says, wids): {}\n",
                list_or_none(r)
            ));
        }
        if let Some(e) = &self.directory_roles_error {
            out.push_str(&format!(
                "  directory roles: could not be read ({})\n",
                short(e)
            ));
        }
        if let Some(e) = &self.user_error {
            out.push_str(&format!(
                "  signed-in account: could not be read ({})\n",
                short(e)
            ));
        }
        if let Some(l) = &self.licences {
            let parts: Vec<String> = l
                .iter()
                .map(|(k, v)| format!("{k} {}", if v == &json!(true) { "yes" } else { "no" }))
                .collect();
            out.push_str(&format!("  licences: {}\n", parts.join(", ")));
        }
        if let Some(e) = &self.licences_error {
            out.push_str(&format!("  licences: could not be read ({})\n", short(e)));
        }
        for n in &self.notes {
            out.push_str(&format!("  note: {n}\n"));
        }
        for s in &self.steps {
            out.push_str(&s.text());
        }
        out.push_str(&self.watch.text());
        out
    }
}

/// `registeredDevices` -> `registered devices`.
fn words(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push(' ');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".to_owned()
    } else {
        v.join(", ")
    }
}

fn short(e: &ErrorReport) -> String {
    match e.status {
        Some(s) => format!("{s} {}", e.code),
        None => e.code.clone(),
    }
}

/// How a target came out of the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every step is expected to work.
    Ok,
    /// Some step is expected to fail.
    WillFail,
    /// No step is expected to fail, but lockdown cannot tell for some.
    Unknown,
    NotFound,
    /// The user could not be read, or the entry is not a user.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::WillFail => "will_fail",
            Outcome::Unknown => "unknown",
            Outcome::NotFound => "not_found",
            Outcome::Failed => "failed",
        }
    }

    /// Whether a run would lock this target as asked (for the exit status).
    pub fn is_expected_to_work(self) -> bool {
        matches!(self, Outcome::Ok | Outcome::Unknown)
    }
}

/// One target's line: what was read about it, and each step's verdict.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetLine {
    pub target: String,
    pub id: Option<String>,
    pub user_principal_name: Option<String>,
    pub display_name: Option<String>,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
    pub exists: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guest: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_premises_sync_enabled: Option<bool>,
    /// Its Entra admin roles; null when they could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_roles: Option<Option<Vec<String>>>,
    /// What the steps read about it (`registeredDevices`, `mailbox`, ...).
    #[serde(flatten)]
    pub facts: Map<String, Value>,
    pub steps: Vec<StepLine>,
}

impl TargetLine {
    pub fn new(target: &str) -> TargetLine {
        TargetLine {
            target: target.to_owned(),
            id: None,
            user_principal_name: None,
            display_name: None,
            outcome: Outcome::Failed,
            reason: None,
            error: None,
            exists: false,
            account_enabled: None,
            guest: None,
            on_premises_sync_enabled: None,
            admin_roles: None,
            facts: Map::new(),
            steps: Vec::new(),
        }
    }

    /// The outcome from the steps' verdicts.
    pub fn settle(&mut self) {
        let worst = self.steps.iter().map(|s| s.status).max();
        self.outcome = match worst {
            Some(Status::Missing) => Outcome::WillFail,
            Some(Status::Unknown) => Outcome::Unknown,
            _ => Outcome::Ok,
        };
    }

    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("lines serialize")
    }

    pub fn to_text(&self) -> String {
        let who = match (&self.display_name, &self.user_principal_name) {
            (Some(name), Some(upn)) => format!("{name} <{upn}>"),
            (None, Some(upn)) => upn.clone(),
            _ => self.target.clone(),
        };
        let mut out = format!("{who}: {}", self.outcome.as_str());
        if let Some(id) = &self.id {
            out.push_str(&format!("  (id {id})"));
        }
        out.push('\n');
        if let Some(reason) = &self.reason {
            out.push_str(&format!("  {reason}\n"));
        }
        if let Some(e) = &self.error {
            out.push_str(&format!("  error: {}", short(e)));
            if !e.message.is_empty() {
                out.push_str(&format!(": {}", e.message));
            }
            if let Some(id) = &e.request_id {
                out.push_str(&format!(" (request-id {id})"));
            }
            out.push('\n');
            if let Some(h) = &e.hint {
                out.push_str(&format!("  hint: {h}\n"));
            }
        }
        if self.exists {
            let mut facts = vec![
                format!(
                    "account enabled: {}",
                    crate::report::yes_no(self.account_enabled)
                ),
                format!("guest: {}", crate::report::yes_no(self.guest)),
                format!(
                    "synced from on-premises: {}",
                    crate::report::yes_no(Some(self.on_premises_sync_enabled == Some(true)))
                ),
            ];
            facts.push(match &self.admin_roles {
                Some(Some(r)) => format!("admin roles: {}", list_or_none(r)),
                _ => "admin roles: unknown".to_owned(),
            });
            for (k, v) in &self.facts {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Bool(b) => crate::report::yes_no(Some(*b)).to_owned(),
                    Value::Null => "not visible to this token".to_owned(),
                    other => other.to_string(),
                };
                facts.push(format!("{}: {v}", words(k)));
            }
            out.push_str(&format!("  {}\n", facts.join("; ")));
        }
        for s in &self.steps {
            out.push_str(&s.text());
        }
        out
    }
}

/// One line of `check`'s output.
pub enum Line {
    Caller(Box<CallerLine>),
    Target(Box<TargetLine>),
}

impl Line {
    pub fn to_json_line(&self) -> String {
        match self {
            Line::Caller(c) => c.to_json_line(),
            Line::Target(t) => t.to_json_line(),
        }
    }

    pub fn to_text(&self) -> String {
        match self {
            Line::Caller(c) => c.to_text(),
            Line::Target(t) => t.to_text(),
        }
    }

    /// Whether this line says some step is expected to fail.
    pub fn fails(&self) -> bool {
        match self {
            Line::Caller(c) => c.fails(),
            Line::Target(t) => !t.outcome.is_expected_to_work(),
        }
    }
}

/// What a check found, for the exit status and the closing line.
#[derive(Debug, Default)]
pub struct Summary {
    /// Some step is expected to fail whatever the target (or the self-lock guard would refuse
    /// every target).
    pub caller_fails: bool,
    pub ok: usize,
    pub will_fail: usize,
    pub unknown: usize,
    pub not_found: usize,
    pub failed: usize,
}

impl Summary {
    pub fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Ok => self.ok += 1,
            Outcome::WillFail => self.will_fail += 1,
            Outcome::Unknown => self.unknown += 1,
            Outcome::NotFound => self.not_found += 1,
            Outcome::Failed => self.failed += 1,
        }
    }

    /// Some step is expected to fail for some target (or for every one).
    pub fn fails(&self) -> bool {
        self.caller_fails || self.will_fail + self.not_found + self.failed > 0
    }

    pub fn exit_status(&self, cancel: &Cancel) -> ExitStatus {
        if cancel.is_cancelled() {
            ExitStatus::Interrupted
        } else if self.fails() {
            ExitStatus::Failure
        } else {
            ExitStatus::Success
        }
    }

    /// `check: 2 user(s): 1 ok, 1 will fail (0.1s)`, `label` first.
    pub fn text(&self, label: &str, elapsed: std::time::Duration) -> String {
        let users = self.ok + self.will_fail + self.unknown + self.not_found + self.failed;
        let mut parts = vec![
            format!("{} ok", self.ok),
            format!("{} will fail", self.will_fail),
        ];
        for (n, what) in [
            (self.unknown, "unknown"),
            (self.not_found, "not found"),
            (self.failed, "failed"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        let caller = if self.caller_fails {
            "some steps are expected to fail for every user; "
        } else {
            ""
        };
        format!(
            "{label}: {caller}{users} user(s): {} ({:.1}s)",
            parts.join(", "),
            elapsed.as_secs_f64()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_lines_name_the_least_privileged_permissions() {
        let reqs = [
            Requirement::new("list", &[&["Directory.Read.All"], &["User.Read.All"]]),
            Requirement::new("write", &[&["Directory.AccessAsUser.All"]])
                .with_roles(&["Cloud Device Administrator", "Intune Administrator"]),
        ];
        let mut v = Verdict::default();
        v.add(Status::Unknown, "u");
        v.add(Status::Missing, "m");
        let line = StepLine::new("disable_devices", &reqs, &v);
        assert_eq!(
            line.permission,
            "Directory.Read.All + Directory.AccessAsUser.All"
        );
        assert_eq!(line.role.as_deref(), Some("Cloud Device Administrator"));
        assert_eq!(line.status, Status::Missing);
        assert_eq!(line.reason.as_deref(), Some("m; u"));
        let json = serde_json::to_value(&line).unwrap();
        assert_eq!(json["status"], "missing");
        assert!(json.get("licence").is_none());
    }
}

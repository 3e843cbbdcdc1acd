//! What `lockdown check` and `block --preflight` know before any write: what each step needs
//! ([`Requirement`], declared by the step itself through `Step::requires`), what the caller has
//! ([`Caller`]: the token's claims, and what Graph says about the app's permissions, the
//! signed-in user's roles and the tenant's licences), and for each target what the step expects
//! from what was read about it (`Step::expect`, as [`Finding`]s). The verdict per step is `ok`,
//! `missing` (expected to fail, with the reason) or `unknown`.
//!
//! The token's `roles`, `scp` and `wids` claims are hints: Microsoft says not to treat tokens
//! for another API as a contract (learn: entra/identity-platform/access-token-claims-reference),
//! so reasons that rest on them say "the token says". Where the claims and the app's role
//! assignments disagree, the assignments win: they are what Graph grants, and the claims can be
//! stale until a new token is issued.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::auth::{TokenClaims, TokenKind};
use crate::graph::users::User;
use crate::report::ErrorReport;
use crate::steps::RunCx;

/// Whether a step is expected to work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// lockdown cannot tell (something could not be read).
    Unknown,
    /// Expected to fail: a permission, a role, a licence, or something about the target.
    Missing,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Unknown => "unknown",
            Status::Missing => "missing",
        }
    }
}

/// A licence a step needs in the tenant, by the service plans that carry it (learn:
/// entra/identity/users/licensing-service-plan-reference).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Licence {
    /// Microsoft Entra ID P1 (P2 includes it): sign-in logs.
    EntraIdP1,
    /// Microsoft Entra ID P2: Identity Protection (risky users).
    EntraIdP2,
    /// Microsoft Intune: managed devices.
    Intune,
}

impl Licence {
    /// The service plan named in reports.
    pub fn plan(self) -> &'static str {
        match self {
            Licence::EntraIdP1 => "AAD_PREMIUM",
            Licence::EntraIdP2 => "AAD_PREMIUM_P2",
            Licence::Intune => "INTUNE_A",
        }
    }

    /// Service plans any one of which carries it.
    fn plans(self) -> &'static [&'static str] {
        match self {
            Licence::EntraIdP1 => &["AAD_PREMIUM", "AAD_PREMIUM_P2"],
            Licence::EntraIdP2 => &["AAD_PREMIUM_P2"],
            Licence::Intune => &["INTUNE_A"],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Licence::EntraIdP1 => "Microsoft Entra ID P1 or P2",
            Licence::EntraIdP2 => "Microsoft Entra ID P2",
            Licence::Intune => "Microsoft Intune",
        }
    }

    /// Every licence lockdown knows, for the caller's summary.
    pub const ALL: [Licence; 3] = [Licence::EntraIdP1, Licence::EntraIdP2, Licence::Intune];
}

/// Which Graph permissions a call needs from this kind of token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permissions {
    /// Any one of these sets, each needed whole; the first is the least privileged (the one
    /// reports name).
    AnyOf(&'static [&'static [&'static str]]),
    /// Graph does not offer the call to this kind of token: why, and what to do instead.
    Unsupported(&'static str),
}

/// What one call a step makes needs from the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    /// The call, for reasons: "PATCH /users/{id} accountEnabled".
    pub call: &'static str,
    pub permissions: Permissions,
    /// Directory roles, one of which the caller must hold: the signed-in user for a delegated
    /// token, the app itself for an application token. The first is the one reports name.
    pub roles: &'static [&'static str],
    pub licence: Option<Licence>,
}

impl Requirement {
    /// A call that needs only these permissions.
    pub const fn new(call: &'static str, permissions: &'static [&'static [&'static str]]) -> Self {
        Requirement {
            call,
            permissions: Permissions::AnyOf(permissions),
            roles: &[],
            licence: None,
        }
    }

    pub const fn unsupported(call: &'static str, why: &'static str) -> Self {
        Requirement {
            call,
            permissions: Permissions::Unsupported(why),
            roles: &[],
            licence: None,
        }
    }

    pub const fn with_roles(mut self, roles: &'static [&'static str]) -> Self {
        self.roles = roles;
        self
    }

    pub const fn with_licence(mut self, licence: Licence) -> Self {
        self.licence = Some(licence);
        self
    }
}

/// Directory roles that may disable accounts: User Administrator or higher (learn:
/// graph/api/user-update, graph/api/resources/users "Who can perform sensitive actions").
pub const USER_ADMINISTRATOR_OR_HIGHER: &[&str] = &[
    "User Administrator",
    "Privileged Authentication Administrator",
    "Global Administrator",
];

/// Directory roles that may act on a target holding an admin role (learn:
/// graph/api/resources/users, "Who can perform sensitive actions").
pub const PRIVILEGED_ROLES: &[&str] = &[
    "Privileged Authentication Administrator",
    "Global Administrator",
];

/// Directory role template ids lockdown names (learn:
/// entra/identity/role-based-access-control/permissions-reference), to read `wids`.
const ROLE_TEMPLATES: &[(&str, &str)] = &[
    (
        "62e90394-69f5-4237-9190-012177145e10",
        "Global Administrator",
    ),
    ("fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator"),
    (
        "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
        "Privileged Authentication Administrator",
    ),
    (
        "c4e39bd9-1100-46d3-8c65-fb160da0071f",
        "Authentication Administrator",
    ),
    (
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
        "Helpdesk Administrator",
    ),
    (
        "966707d0-3269-4727-9be2-8c3a10f19b9d",
        "Password Administrator",
    ),
    (
        "7698a772-787b-4ac8-901f-60d6b08affd2",
        "Cloud Device Administrator",
    ),
    (
        "3a2c62db-5318-420d-8d74-23affee5d9d5",
        "Intune Administrator",
    ),
    (
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
        "Security Administrator",
    ),
    ("5f2222b1-57c3-48ba-8ad5-d4759f1fde6f", "Security Operator"),
    ("5d6b6bb7-de71-4623-b4af-96380a352509", "Security Reader"),
    ("4a5d8f65-41da-4de4-8968-e035b65339cf", "Reports Reader"),
    ("f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader"),
    (
        "e8611ab8-c189-46e8-94e1-60213ab1f814",
        "Privileged Role Administrator",
    ),
    (
        "29232cdf-9323-42fd-ade2-1d097af3e4de",
        "Exchange Administrator",
    ),
    (
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
        "Application Administrator",
    ),
    (
        "158c047a-c907-4556-b7ef-446551a6b5f7",
        "Cloud Application Administrator",
    ),
];

/// The template id of "User", which every member's `wids` carries: not an admin role.
const USER_ROLE_TEMPLATE: &str = "b79fbf4d-3ef9-4689-8143-76b194e85509";

/// A role's name for a template id from `wids`; unknown ids stay ids.
pub fn role_name(template_id: &str) -> String {
    ROLE_TEMPLATES
        .iter()
        .find(|(id, _)| id.eq_ignore_ascii_case(template_id))
        .map(|(_, name)| (*name).to_owned())
        .unwrap_or_else(|| template_id.to_owned())
}

/// What one read of the caller's situation gave: the value, or why it could not be read.
pub type Read<T> = Result<T, ErrorReport>;

/// The signed-in user of a delegated token, as `/me` answered.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    pub id: String,
    pub user_principal_name: Option<String>,
    pub display_name: Option<String>,
}

/// Who is calling, and what it may do.
#[derive(Debug, Clone)]
pub struct Caller {
    pub claims: TokenClaims,
    /// Delegated: `/me`.
    pub me: Option<Read<Me>>,
    /// Application: the app's service principal object id.
    pub service_principal: Option<Read<String>>,
    /// Application: the Microsoft Graph permissions granted to the app (its app role
    /// assignments), from Graph.
    pub assignments: Option<Read<Vec<String>>>,
    /// Delegated: the signed-in user's directory roles, direct and through groups, from Graph.
    pub directory_roles: Option<Read<Vec<String>>>,
    /// The service plans the tenant holds, from `/subscribedSkus`.
    pub plans: Option<Read<Vec<String>>>,
}

/// Where the permissions lockdown judges by came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Assignments,
    Token,
}

impl Caller {
    /// A caller known only by its token (before, or without, reading anything from Graph).
    pub fn from_claims(claims: TokenClaims) -> Caller {
        Caller {
            claims,
            me: None,
            service_principal: None,
            assignments: None,
            directory_roles: None,
            plans: None,
        }
    }

    pub fn kind(&self) -> TokenKind {
        self.claims.kind
    }

    /// The permissions to judge by: the app's role assignments when Graph gave them, else the
    /// token's `roles`/`scp` claim.
    fn permissions(&self) -> (&[String], Source) {
        match &self.assignments {
            Some(Ok(granted)) => (granted, Source::Assignments),
            _ => (&self.claims.permissions, Source::Token),
        }
    }

    /// The caller's directory role names, and whether they come from Graph (else the token's
    /// `wids`); `None` when neither is known.
    fn roles(&self) -> Option<(Vec<String>, bool)> {
        if let Some(Ok(roles)) = &self.directory_roles {
            return Some((roles.clone(), true));
        }
        let wids = self.claims.wids.as_ref()?;
        Some((
            wids.iter()
                .filter(|w| !w.eq_ignore_ascii_case(USER_ROLE_TEMPLATE))
                .map(|w| role_name(w))
                .collect(),
            false,
        ))
    }

    /// The directory role names the token's `wids` claim carries, if it has the claim.
    pub fn token_roles(&self) -> Option<Vec<String>> {
        self.claims.wids.as_ref().map(|w| {
            w.iter()
                .filter(|w| !w.eq_ignore_ascii_case(USER_ROLE_TEMPLATE))
                .map(|w| role_name(w))
                .collect()
        })
    }

    /// Whether the caller holds one of `roles`; `None` when its roles are unknown.
    pub fn holds_any(&self, roles: &[&str]) -> Option<bool> {
        let (held, _) = self.roles()?;
        Some(
            held.iter()
                .any(|h| roles.iter().any(|r| r.eq_ignore_ascii_case(h))),
        )
    }

    /// Whether the tenant holds `licence`; `None` when its licences could not be read.
    pub fn licensed(&self, licence: Licence) -> Option<bool> {
        match &self.plans {
            Some(Ok(plans)) => Some(
                licence
                    .plans()
                    .iter()
                    .any(|p| plans.iter().any(|h| h.eq_ignore_ascii_case(p))),
            ),
            _ => None,
        }
    }

    /// Where the claims and the app's role assignments disagree, said once for the caller.
    pub fn disagreements(&self) -> Vec<String> {
        let Some(Ok(granted)) = &self.assignments else {
            return Vec::new();
        };
        let has = |list: &[String], p: &str| list.iter().any(|x| x.eq_ignore_ascii_case(p));
        let mut out = Vec::new();
        let stale: Vec<&str> = self
            .claims
            .permissions
            .iter()
            .filter(|p| !has(granted, p))
            .map(String::as_str)
            .collect();
        if !stale.is_empty() {
            out.push(format!(
                "the token says {} but the app's role assignments no longer include {}: lockdown goes by the assignments (the token is older than the change)",
                stale.join(", "),
                if stale.len() == 1 { "it" } else { "them" }
            ));
        }
        let newer: Vec<&str> = granted
            .iter()
            .filter(|p| !has(&self.claims.permissions, p))
            .map(String::as_str)
            .collect();
        if !newer.is_empty() {
            out.push(format!(
                "the app has been granted {} since this token was issued: a new token will carry {}",
                newer.join(", "),
                if newer.len() == 1 { "it" } else { "them" }
            ));
        }
        out
    }

    /// How well the caller meets one requirement.
    pub fn evaluate(&self, req: &Requirement) -> Verdict {
        let mut v = Verdict::default();
        if self.kind() == TokenKind::Unknown {
            v.add(
                Status::Unknown,
                "the token is not one lockdown can read (not a JWT), so what it may do is unknown",
            );
            return v;
        }
        let app = self.kind() == TokenKind::AppOnly;
        match req.permissions {
            Permissions::Unsupported(why) => v.add(Status::Missing, why),
            Permissions::AnyOf(sets) => {
                let (have, source) = self.permissions();
                let granted = |p: &str| have.iter().any(|h| h.eq_ignore_ascii_case(p));
                if !sets.iter().any(|set| set.iter().all(|p| granted(p))) {
                    let least = sets.first().copied().unwrap_or(&[]);
                    let lacking: Vec<&str> =
                        least.iter().copied().filter(|p| !granted(p)).collect();
                    let said = match source {
                        Source::Assignments => format!(
                            "the app's role assignments (its Graph permissions) do not include {}",
                            lacking.join(" + ")
                        ),
                        Source::Token => format!(
                            "the token says ({}) no {}",
                            if app { "roles" } else { "scp" },
                            lacking.join(" + ")
                        ),
                    };
                    let alternatives = if sets.len() > 1 {
                        format!(
                            " (or {})",
                            sets[1..]
                                .iter()
                                .map(|s| s.join(" + "))
                                .collect::<Vec<_>>()
                                .join(", or ")
                        )
                    } else {
                        String::new()
                    };
                    v.add(
                        Status::Missing,
                        format!(
                            "{} needs {}{alternatives}: {said}",
                            req.call,
                            least.join(" + ")
                        ),
                    );
                }
            }
        }
        if !req.roles.is_empty() {
            let who = if app { "the app" } else { "the signed-in user" };
            match self.roles() {
                None => v.add(
                    Status::Unknown,
                    format!(
                        "{} needs {who} to hold {}; its roles could not be read and the token has no wids claim",
                        req.call,
                        one_of(req.roles)
                    ),
                ),
                Some((held, from_graph)) => {
                    let ok = held
                        .iter()
                        .any(|h| req.roles.iter().any(|r| r.eq_ignore_ascii_case(h)));
                    if !ok {
                        let holds = if held.is_empty() {
                            "none".to_owned()
                        } else {
                            held.join(", ")
                        };
                        v.add(
                            Status::Missing,
                            format!(
                                "{} needs {who} to hold {}; {}: {holds}",
                                req.call,
                                one_of(req.roles),
                                if from_graph {
                                    format!("{who} holds")
                                } else {
                                    "the token says (wids) it holds".to_owned()
                                }
                            ),
                        );
                    }
                }
            }
        }
        if let Some(licence) = req.licence {
            match self.licensed(licence) {
                Some(true) => {}
                Some(false) => v.add(
                    Status::Missing,
                    format!(
                        "{} needs {} in the tenant (service plan {}), which it does not have",
                        req.call,
                        licence.name(),
                        licence.plan()
                    ),
                ),
                None => v.add(
                    Status::Unknown,
                    format!(
                        "{} needs {}; the tenant's licences could not be read (GET /subscribedSkus needs Organization.Read.All)",
                        req.call,
                        licence.name()
                    ),
                ),
            }
        }
        v
    }
}

/// `A`, `A or B`, `one of A, B, C`.
fn one_of(roles: &[&str]) -> String {
    match roles {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [a, b] => format!("{a} or {b}"),
        many => format!("one of {}", many.join(", ")),
    }
}

/// A status and the reasons behind it, worst first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    pub status: Option<Status>,
    pub reasons: Vec<(Status, String)>,
}

impl Verdict {
    pub fn add(&mut self, status: Status, reason: impl Into<String>) {
        self.status = Some(self.status.map_or(status, |s| s.max(status)));
        self.reasons.push((status, reason.into()));
    }

    pub fn merge(&mut self, other: &Verdict) {
        for (s, r) in &other.reasons {
            self.add(*s, r.clone());
        }
        if let Some(s) = other.status {
            self.status = Some(self.status.map_or(s, |x| x.max(s)));
        }
    }

    pub fn status(&self) -> Status {
        self.status.unwrap_or(Status::Ok)
    }

    /// The reasons as one sentence, the ones that set the status first.
    pub fn reason(&self) -> Option<String> {
        if self.reasons.is_empty() {
            return None;
        }
        let mut reasons = self.reasons.clone();
        reasons.sort_by_key(|r| std::cmp::Reverse(r.0));
        let mut seen: Vec<String> = Vec::new();
        for (_, r) in reasons {
            if !seen.contains(&r) {
                seen.push(r);
            }
        }
        Some(seen.join("; "))
    }
}

/// What a step concludes about one target from what was read about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub status: Status,
    pub reason: String,
    /// The step will send nothing for this target (already done, skipped): what the caller
    /// lacks does not matter for it.
    pub nothing_to_send: bool,
}

impl Finding {
    pub fn missing(reason: impl Into<String>) -> Finding {
        Finding {
            status: Status::Missing,
            reason: reason.into(),
            nothing_to_send: false,
        }
    }

    pub fn unknown(reason: impl Into<String>) -> Finding {
        Finding {
            status: Status::Unknown,
            reason: reason.into(),
            nothing_to_send: false,
        }
    }

    /// Expected to work, with something worth saying.
    pub fn ok(reason: impl Into<String>) -> Finding {
        Finding {
            status: Status::Ok,
            reason: reason.into(),
            nothing_to_send: false,
        }
    }

    /// The step has nothing to send for this target ("already disabled", "guest: skipped").
    pub fn nothing_to_send(reason: impl Into<String>) -> Finding {
        Finding {
            status: Status::Ok,
            reason: reason.into(),
            nothing_to_send: true,
        }
    }
}

/// A step's verdict for one target: what the caller allows, then what the step found about the
/// target. A step with nothing to send for the target is `ok` whatever the caller lacks.
pub fn verdict_for_target(caller_level: &Verdict, findings: &[Finding]) -> Verdict {
    if let Some(f) = findings.iter().find(|f| f.nothing_to_send) {
        let mut v = Verdict::default();
        v.add(Status::Ok, f.reason.clone());
        return v;
    }
    let mut v = caller_level.clone();
    for f in findings {
        v.add(f.status, f.reason.clone());
    }
    v
}

/// A target as `Step::expect` sees it.
pub struct Target<'a> {
    pub run: &'a RunCx,
    pub user: &'a User,
    /// Its Entra admin roles; `None` when they could not be read.
    pub admin_roles: Option<&'a [String]>,
    pub caller: &'a Caller,
}

impl Target<'_> {
    /// A target holding an admin role can be disabled, reset and revoked only by a caller
    /// holding Privileged Authentication Administrator or Global Administrator (learn:
    /// graph/api/resources/users, "Who can perform sensitive actions").
    pub fn privileged(&self) -> Option<Finding> {
        let roles = match self.admin_roles {
            None => {
                return Some(Finding::unknown(
                    "the target's admin roles could not be read (RoleManagement.Read.Directory or Directory.Read.All), so lockdown cannot tell whether it needs Privileged Authentication Administrator",
                ))
            }
            Some([]) => return None,
            Some(roles) => roles,
        };
        let who = if self.caller.kind() == TokenKind::AppOnly {
            "the app"
        } else {
            "the signed-in user"
        };
        match self.caller.holds_any(PRIVILEGED_ROLES) {
            Some(true) => None,
            Some(false) => Some(Finding::missing(format!(
                "the target holds {}: {who} needs Privileged Authentication Administrator (or Global Administrator)",
                roles.join(", ")
            ))),
            None => Some(Finding::unknown(format!(
                "the target holds {}, which needs Privileged Authentication Administrator; {who}'s roles are unknown",
                roles.join(", ")
            ))),
        }
    }

    /// Synced from on-premises AD: Graph answers 400 to writes to it (GRAPH-NOTES).
    pub fn synced(&self) -> bool {
        self.user.is_synced()
    }
}

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
        let split = |r: &Option<Read<Vec<String>>>| match r {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(kind: TokenKind, perms: &[&str], wids: Option<&[&str]>) -> TokenClaims {
        TokenClaims {
            kind,
            tenant_id: Some("t".into()),
            app_id: Some("a".into()),
            app_display_name: None,
            object_id: None,
            user_principal_name: None,
            name: None,
            permissions: perms.iter().map(|s| s.to_string()).collect(),
            wids: wids.map(|w| w.iter().map(|s| s.to_string()).collect()),
        }
    }

    const DISABLE: Requirement = Requirement::new(
        "PATCH /users/{id} accountEnabled",
        &[
            &["User.EnableDisableAccount.All", "User.Read.All"],
            &["User.ReadWrite.All"],
        ],
    );

    #[test]
    fn any_set_of_permissions_will_do() {
        let c = Caller::from_claims(claims(TokenKind::AppOnly, &["User.ReadWrite.All"], None));
        assert_eq!(c.evaluate(&DISABLE).status(), Status::Ok);
        let c = Caller::from_claims(claims(
            TokenKind::AppOnly,
            &["user.enabledisableaccount.all"],
            None,
        ));
        let v = c.evaluate(&DISABLE);
        assert_eq!(v.status(), Status::Missing);
        let reason = v.reason().unwrap();
        assert!(
            reason.contains("the token says (roles) no User.Read.All")
                && reason.contains("(or User.ReadWrite.All)"),
            "{reason}"
        );
    }

    #[test]
    fn role_assignments_win_over_the_claims() {
        let mut c = Caller::from_claims(claims(TokenKind::AppOnly, &["User.ReadWrite.All"], None));
        c.assignments = Some(Ok(vec!["User.Read.All".into()]));
        let v = c.evaluate(&DISABLE);
        assert_eq!(v.status(), Status::Missing);
        assert!(v.reason().unwrap().contains(
            "role assignments (its Graph permissions) do not include User.EnableDisableAccount.All"
        ));
        let notes = c.disagreements();
        assert!(
            notes[0].contains("the token says User.ReadWrite.All"),
            "{notes:?}"
        );
        assert!(
            notes[1].contains("granted User.Read.All since"),
            "{notes:?}"
        );
        // Assignments that could not be read leave the claims to judge by.
        c.assignments = Some(Err(ErrorReport {
            status: Some(403),
            code: "Authorization_RequestDenied".into(),
            message: String::new(),
            request_id: None,
            hint: None,
        }));
        assert_eq!(c.evaluate(&DISABLE).status(), Status::Ok);
        assert!(c.disagreements().is_empty());
    }

    #[test]
    fn roles_come_from_graph_then_wids_else_unknown() {
        let req = DISABLE.with_roles(&["User Administrator", "Global Administrator"]);
        let perms = &["User.ReadWrite.All"];
        let mut c = Caller::from_claims(claims(TokenKind::Delegated, perms, None));
        assert_eq!(c.evaluate(&req).status(), Status::Unknown);
        c.claims.wids = Some(vec![
            "b79fbf4d-3ef9-4689-8143-76b194e85509".into(),
            "fe930be7-5e62-47db-91af-98c3a49a38b1".into(),
        ]);
        assert_eq!(c.evaluate(&req).status(), Status::Ok);
        c.directory_roles = Some(Ok(vec!["Helpdesk Administrator".into()]));
        let v = c.evaluate(&req);
        assert_eq!(v.status(), Status::Missing);
        assert!(
            v.reason()
                .unwrap()
                .contains("needs the signed-in user to hold User Administrator or Global Administrator; the signed-in user holds: Helpdesk Administrator"),
            "{:?}",
            v.reason()
        );
    }

    #[test]
    fn licences_and_unsupported_calls() {
        let req = Requirement::new("GET /auditLogs/signIns", &[&["AuditLog.Read.All"]])
            .with_licence(Licence::EntraIdP1);
        let mut c = Caller::from_claims(claims(TokenKind::AppOnly, &["AuditLog.Read.All"], None));
        assert_eq!(c.evaluate(&req).status(), Status::Unknown);
        c.plans = Some(Ok(vec!["AAD_PREMIUM_P2".into()]));
        assert_eq!(c.evaluate(&req).status(), Status::Ok, "P2 carries P1");
        c.plans = Some(Ok(vec!["INTUNE_A".into()]));
        let v = c.evaluate(&req);
        assert_eq!(v.status(), Status::Missing);
        assert!(v.reason().unwrap().contains("service plan AAD_PREMIUM"));
        let list = Requirement::unsupported("GET /users/{id}/registeredDevices", "not for apps");
        assert_eq!(c.evaluate(&list).reason().as_deref(), Some("not for apps"));
        let opaque = Caller::from_claims(claims(TokenKind::Unknown, &[], None));
        assert_eq!(opaque.evaluate(&req).status(), Status::Unknown);
    }

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

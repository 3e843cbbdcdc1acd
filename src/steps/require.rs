//! What a step needs and what it expects, before any write: each step declares what its calls
//! need ([`Requirement`], through `Step::requires`) and what it concludes about a target from
//! its own first reads (`Step::expect`, as [`Finding`]s); [`Caller`] is who is calling and what
//! Graph says it may do (the token's claims, the app's permissions, the signed-in user's roles,
//! the tenant's licences), judged against each requirement ([`Caller::evaluate`]). The verdict
//! per step is `ok`, `missing` (expected to fail, with the reason) or `unknown`.
//!
//! The token's `roles`, `scp` and `wids` claims are hints: Microsoft says not to treat tokens
//! for another API as a contract (learn: entra/identity-platform/access-token-claims-reference),
//! so reasons that rest on them say "the token says". Where the claims and the app's role
//! assignments disagree, the assignments win: they are what Graph grants, and the claims can be
//! stale until a new token is issued.
//!
//! This is the steps' layer: `lockdown check` (`crate::check`) renders what it gives, and
//! imports it, never the other way round.

use serde::Serialize;

use super::RunCx;
use crate::auth::{TokenClaims, TokenKind};
use crate::graph::users::User;
use crate::report::ErrorReport;

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
pub type CallerRead<T> = Result<T, ErrorReport>;

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
    pub me: Option<CallerRead<Me>>,
    /// Application: the app's service principal object id.
    pub service_principal: Option<CallerRead<String>>,
    /// Application: the Microsoft Graph permissions granted to the app (its app role
    /// assignments), from Graph.
    pub assignments: Option<CallerRead<Vec<String>>>,
    /// Delegated: the signed-in user's directory roles, direct and through groups, from Graph.
    pub directory_roles: Option<CallerRead<Vec<String>>>,
    /// The service plans the tenant holds, from `/subscribedSkus`.
    pub plans: Option<CallerRead<Vec<String>>>,
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
}

//! Conditional Access policies: the one `lockdown setup` creates to block the members of the
//! block group, and what a run reads of it.
//!
//! learn: graph/api/conditionalaccessroot-list-policies (`GET
//! /identity/conditionalAccess/policies`; Policy.Read.All), graph/api/conditionalaccessroot-post-policies
//! (`POST`, 201; Policy.ReadWrite.ConditionalAccess with Policy.Read.All; delegated: Conditional
//! Access Administrator), graph/api/conditionalaccesspolicy-update (`PATCH .../{id}`, 204),
//! graph/api/resources/conditionalaccesspolicy (`state`: `enabled`, `disabled`,
//! `enabledForReportingButNotEnforced`; `conditions.users`, `conditions.applications`,
//! `conditions.clientAppTypes`, `grantControls.builtInControls`), graph/throttling-limits
//! ("identity protection and conditional access": 1 request per second per tenant).

use serde::Deserialize;
use serde_json::{json, Value};

use super::groups::GroupId;
use super::{GraphError, GraphRequest, GraphResponse};

pub const BLOCK_POLICY_NAME: &str = "lockdown: block sign-in for blocked accounts";
const POLICIES: &str = "/identity/conditionalAccess/policies";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Enabled,
    ReportOnly,
    Disabled,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Enabled => "enabled",
            State::ReportOnly => "enabledForReportingButNotEnforced",
            State::Disabled => "disabled",
        }
    }

    fn parse(s: &str) -> State {
        match s {
            "enabled" => State::Enabled,
            "enabledForReportingButNotEnforced" => State::ReportOnly,
            _ => State::Disabled,
        }
    }

    /// How a person reads it: "enabled", "report-only", "off".
    pub fn label(self) -> &'static str {
        match self {
            State::Enabled => "enabled",
            State::ReportOnly => "report-only",
            State::Disabled => "off",
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Users {
    pub include_users: Vec<String>,
    pub exclude_users: Vec<String>,
    pub include_groups: Vec<String>,
    pub exclude_groups: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Applications {
    pub include_applications: Vec<String>,
    pub exclude_applications: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Conditions {
    pub users: Users,
    pub applications: Applications,
    pub client_app_types: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GrantControls {
    pub built_in_controls: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    pub id: String,
    pub display_name: Option<String>,
    #[serde(default)]
    state: String,
    #[serde(default)]
    pub conditions: Conditions,
    #[serde(default)]
    pub grant_controls: Option<GrantControls>,
}

impl Policy {
    pub fn state(&self) -> State {
        State::parse(&self.state)
    }

    fn blocks(&self) -> bool {
        self.grant_controls
            .as_ref()
            .is_some_and(|g| g.built_in_controls.iter().any(|c| c == "block"))
    }

    pub fn includes_group(&self, group: &GroupId) -> bool {
        self.conditions
            .users
            .include_groups
            .iter()
            .any(|g| g.eq_ignore_ascii_case(&group.0))
    }

    pub fn excludes_user(&self, user: &str) -> bool {
        self.conditions
            .users
            .exclude_users
            .iter()
            .any(|u| u.eq_ignore_ascii_case(user))
    }

    fn all_apps(&self) -> bool {
        self.conditions
            .applications
            .include_applications
            .iter()
            .any(|a| a.eq_ignore_ascii_case("All"))
            && self.conditions.applications.exclude_applications.is_empty()
    }

    /// What stops this policy from blocking the group's members everywhere: empty when it
    /// does (enabled, includes the group, blocks, all cloud apps, all client apps).
    pub fn gaps(&self, group: &GroupId) -> Vec<String> {
        let mut out = Vec::new();
        match self.state() {
            State::Enabled => {}
            State::ReportOnly => out.push(
                "it is report-only (enabledForReportingButNotEnforced): it blocks nobody"
                    .to_owned(),
            ),
            State::Disabled => out.push("it is off (disabled)".to_owned()),
        }
        if !self.includes_group(group) {
            out.push("it no longer includes the block group".to_owned());
        }
        if !self.blocks() {
            out.push("its grant control is not `block`".to_owned());
        }
        if !self.all_apps() {
            out.push("it does not cover all cloud apps".to_owned());
        }
        if !self
            .conditions
            .client_app_types
            .iter()
            .any(|c| c.eq_ignore_ascii_case("all"))
        {
            out.push("it does not cover all client app types".to_owned());
        }
        out
    }
}

impl Policy {
    /// How this policy differs from the block policy `lockdown setup` would write: `state`,
    /// the group included, `block`, all apps and client apps, and every account of `exclude`
    /// still excluded. Empty: nothing to repair.
    pub fn drift(&self, group: &GroupId, state: State, exclude: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        if self.state() != state {
            out.push(format!(
                "its state is {}, not {}",
                self.state().as_str(),
                state.as_str()
            ));
        }
        out.extend(
            self.gaps(group)
                .into_iter()
                .filter(|g| !g.starts_with("it is ")),
        );
        let dropped: Vec<&str> = exclude
            .iter()
            .filter(|u| !self.excludes_user(u))
            .map(String::as_str)
            .collect();
        if !dropped.is_empty() {
            out.push(format!("exclusions dropped: {}", dropped.join(", ")));
        }
        out
    }

    /// The accounts it excludes, with `more` added (a repair never drops an exclusion).
    pub fn exclusions_with(&self, more: &[String]) -> Vec<String> {
        let mut out = self.conditions.users.exclude_users.clone();
        for u in more {
            if !out.iter().any(|x| x.eq_ignore_ascii_case(u)) {
                out.push(u.clone());
            }
        }
        out
    }
}

/// The block policy among `policies`: the one that blocks `group` (an enforcing one first),
/// else the one lockdown named.
pub fn block_policy<'a>(policies: &'a [Policy], group: &GroupId) -> Option<&'a Policy> {
    let including: Vec<&Policy> = policies
        .iter()
        .filter(|p| p.includes_group(group) && p.blocks())
        .collect();
    including
        .iter()
        .find(|p| p.gaps(group).is_empty())
        .or_else(|| including.first())
        .copied()
        .or_else(|| {
            policies
                .iter()
                .find(|p| p.display_name.as_deref() == Some(BLOCK_POLICY_NAME))
        })
}

/// `GET /identity/conditionalAccess/policies`.
pub fn list() -> GraphRequest {
    GraphRequest::get(POLICIES)
}

pub fn decode_list(resp: &GraphResponse) -> Result<Vec<Policy>, GraphError> {
    let page: super::paging::Page<Policy> = resp.json()?;
    Ok(page.value)
}

/// The block policy as `lockdown setup` writes it: users in `group` except `exclude`, all
/// cloud apps, all client app types, grant control `block`.
pub fn block_policy_body(group: &GroupId, exclude: &[String], state: State) -> Value {
    json!({
        "displayName": BLOCK_POLICY_NAME,
        "state": state.as_str(),
        "conditions": {
            "users": {
                "includeGroups": [group.0],
                "excludeUsers": exclude,
            },
            "applications": {
                "includeApplications": ["All"],
            },
            "clientAppTypes": ["all"],
        },
        "grantControls": {
            "operator": "OR",
            "builtInControls": ["block"],
        },
    })
}

/// `POST /identity/conditionalAccess/policies`.
pub fn create(body: Value) -> GraphRequest {
    GraphRequest::post_json(POLICIES, body)
}

/// `PATCH /identity/conditionalAccess/policies/{id}`.
pub fn update(id: &str, body: Value) -> GraphRequest {
    GraphRequest::patch(format!("{POLICIES}/{id}"), body)
}

/// A write refused for want of Microsoft Entra ID P1: Graph's message names the licence.
pub fn is_unlicensed(err: &GraphError) -> bool {
    err.api().is_some_and(|e| {
        let m = e.message.to_ascii_lowercase();
        matches!(e.status, 400 | 403) && (m.contains("license") || m.contains("premium"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(v: Value) -> Policy {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn gaps_name_what_keeps_the_policy_from_blocking() {
        let g = GroupId("g1".into());
        let mut body = block_policy_body(&g, &["u9".into()], State::Enabled);
        body["id"] = json!("p1");
        let p = policy(body.clone());
        assert!(p.gaps(&g).is_empty());
        assert!(p.excludes_user("U9"));
        body["state"] = json!("enabledForReportingButNotEnforced");
        body["conditions"]["users"]["includeGroups"] = json!([]);
        let p = policy(body);
        let gaps = p.gaps(&g);
        assert_eq!(gaps.len(), 2, "{gaps:?}");
        assert!(gaps[0].contains("report-only"));
        // Found by its name once it no longer includes the group.
        assert_eq!(block_policy(&[p], &g).map(|p| p.id.as_str()), Some("p1"));
    }
}

//! Exchange Online mailboxes, as far as inbox rules go.
//!
//! learn: graph/api/mailfolder-list-messagerules — `GET
//! /users/{id}/mailFolders/inbox/messageRules`, MailboxSettings.Read (delegated and
//! application); the response example (`Remove spam`, `From partner`) gives the JSON shape.
//! learn: graph/api/messagerule-update — `PATCH .../messageRules/{id}`, MailboxSettings.ReadWrite,
//! 200 with the updated rule. learn: graph/api/resources/messagerule — `isReadOnly`: "cannot be
//! modified or deleted by the rules REST API".
//! Error answers (GRAPH-NOTES, seen for these calls): a user without an Exchange Online mailbox
//! gets 404 `MailboxNotEnabledForRESTAPI` "The mailbox is either inactive, soft-deleted, or is
//! hosted on-premise."; a read-only rule 403 `ErrorAccessDenied`; an unknown rule 404
//! `ErrorItemNotFound`.

use serde_json::{json, Map, Value};

use super::errors::{self, Reply};
use super::server::Shared;
use super::state::{Identity, Tenant};

/// A user's mailbox: only its inbox rules are modelled.
#[derive(Debug, Clone, Default)]
pub(crate) struct Mailbox {
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub id: String,
    pub display_name: String,
    pub sequence: i64,
    pub is_enabled: bool,
    pub is_read_only: bool,
    /// messageRulePredicates, as Graph returns them.
    pub conditions: Value,
    /// messageRuleActions, as Graph returns them.
    pub actions: Value,
}

impl Rule {
    fn json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        for (k, v) in [
            ("id", json!(self.id)),
            ("displayName", json!(self.display_name)),
            ("sequence", json!(self.sequence)),
            ("isEnabled", json!(self.is_enabled)),
            ("hasError", json!(false)),
            ("isReadOnly", json!(self.is_read_only)),
            ("conditions", self.conditions.clone()),
            ("actions", self.actions.clone()),
        ] {
            m.insert(k.into(), v);
        }
        m
    }
}

const READ: &[&str] = &["MailboxSettings.Read", "MailboxSettings.ReadWrite"];
const WRITE: &[&str] = &["MailboxSettings.ReadWrite"];

fn no_mailbox() -> Reply {
    Reply::error(
        404,
        "MailboxNotEnabledForRESTAPI",
        "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
    )
}

fn context(shared: &Shared, user_id: &str, tail: &str) -> String {
    format!(
        "{}/v1.0/$metadata#users('{user_id}')/mailFolders('inbox')/messageRules{tail}",
        shared.base_url
    )
}

/// `GET /users/{id}/mailFolders/inbox/messageRules`.
pub(crate) fn list(shared: &Shared, tenant: &Tenant, target: usize, id: &Identity) -> Reply {
    if !id.has_any(READ) {
        return errors::denied();
    }
    let user = &tenant.users[target];
    let Some(mailbox) = &user.mailbox else {
        return no_mailbox();
    };
    let value: Vec<Value> = mailbox
        .rules
        .iter()
        .map(|r| Value::Object(r.json()))
        .collect();
    Reply::json(
        200,
        json!({"@odata.context": context(shared, &user.id, ""), "value": value}),
    )
}

/// `PATCH /users/{id}/mailFolders/inbox/messageRules/{ruleId}`.
pub(crate) fn update(
    shared: &Shared,
    tenant: &mut Tenant,
    target: usize,
    rule_id: &str,
    body: Option<&[u8]>,
    id: &Identity,
) -> Reply {
    let body: Map<String, Value> = match serde_json::from_slice(body.unwrap_or(&[])) {
        Ok(Value::Object(m)) => m,
        _ => return errors::odata_bad_request("The request body must be a JSON object."),
    };
    if !id.has_any(WRITE) {
        return errors::denied();
    }
    let user_id = tenant.users[target].id.clone();
    let Some(mailbox) = &mut tenant.users[target].mailbox else {
        return no_mailbox();
    };
    let Some(rule) = mailbox.rules.iter_mut().find(|r| r.id == rule_id) else {
        return Reply::error(
            404,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        );
    };
    if rule.is_read_only {
        return Reply::error(
            403,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        );
    }
    for (k, v) in &body {
        match (k.to_ascii_lowercase().as_str(), v) {
            ("isenabled", Value::Bool(b)) => rule.is_enabled = *b,
            ("displayname", Value::String(s)) => rule.display_name = s.clone(),
            ("sequence", Value::Number(n)) if n.is_i64() => {
                rule.sequence = n.as_i64().unwrap_or(rule.sequence)
            }
            ("isenabled" | "displayname" | "sequence", _) => {
                return errors::odata_bad_request(format!("Invalid value for property '{k}'."))
            }
            _ => {
                return errors::odata_bad_request(format!(
                    "The property '{k}' does not exist on type 'microsoft.graph.messageRule'."
                ))
            }
        }
    }
    let mut m = rule.json();
    m.insert(
        "@odata.context".into(),
        json!(context(shared, &user_id, "/$entity")),
    );
    Reply::json(200, Value::Object(m))
}

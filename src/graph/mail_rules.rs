//! Inbox rules: list a user's, and turn one off.
//!
//! learn: graph/api/mailfolder-list-messagerules (`GET
//! /users/{id}/mailFolders/inbox/messageRules`), graph/api/messagerule-update (`PATCH
//! .../messageRules/{id}`, 200 with the rule), graph/api/resources/messagerule (`isEnabled`,
//! `isReadOnly`: "cannot be modified or deleted by the rules REST API"),
//! graph/api/resources/messageruleactions (`forwardTo`, `forwardAsAttachmentTo`, `redirectTo`,
//! `delete`, `permanentDelete`). A user without an Exchange Online mailbox answers 404
//! `MailboxNotEnabledForRESTAPI`.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;
use serde_json::{json, Value};

use super::address::user_path;
use super::{GraphError, GraphRequest};
use crate::graph::users::UserId;

/// Rule ids are base64 (`AQAAAJ5dZqA=`): `=` and `+` are fine in a path, `/` is not.
const ID: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'=')
    .remove(b'+');

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRule {
    pub id: String,
    pub display_name: Option<String>,
    pub sequence: Option<i64>,
    pub is_enabled: Option<bool>,
    pub is_read_only: Option<bool>,
    #[serde(default)]
    pub actions: Option<Actions>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Actions {
    // Learn shows `redirectTo` both as one recipient and as a collection: take either.
    #[serde(default)]
    pub forward_to: Option<Value>,
    #[serde(default)]
    pub forward_as_attachment_to: Option<Value>,
    #[serde(default)]
    pub redirect_to: Option<Value>,
    #[serde(default)]
    pub delete: Option<bool>,
    #[serde(default)]
    pub permanent_delete: Option<bool>,
}

impl MessageRule {
    pub fn enabled(&self) -> bool {
        self.is_enabled != Some(false)
    }

    pub fn read_only(&self) -> bool {
        self.is_read_only == Some(true)
    }

    pub fn name(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.id)
    }

    /// What makes it suspicious in an account takeover: mail sent out of the mailbox, or
    /// deleted before the owner sees it. Empty when it does neither.
    pub fn suspicious_actions(&self) -> Vec<String> {
        let Some(a) = &self.actions else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (what, recipients) in [
            ("forwards to", &a.forward_to),
            ("forwards as attachment to", &a.forward_as_attachment_to),
            ("redirects to", &a.redirect_to),
        ] {
            let to = addresses(recipients.as_ref());
            if !to.is_empty() {
                out.push(format!("{what} {}", to.join(", ")));
            }
        }
        if a.permanent_delete == Some(true) {
            out.push("permanently deletes messages".into());
        } else if a.delete == Some(true) {
            out.push("deletes messages".into());
        }
        out
    }
}

/// The addresses of a recipient or a collection of them.
fn addresses(v: Option<&Value>) -> Vec<String> {
    let one = |r: &Value| {
        r.pointer("/emailAddress/address")
            .or_else(|| r.pointer("/emailAddress/name"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match v {
        Some(Value::Array(items)) => items.iter().filter_map(one).collect(),
        Some(obj @ Value::Object(_)) => one(obj).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// `GET /users/{id|upn}/mailFolders/inbox/messageRules`.
pub fn list_inbox(who: &str) -> GraphRequest {
    GraphRequest::get(format!("{}/mailFolders/inbox/messageRules", user_path(who)))
}

/// `PATCH /users/{id}/mailFolders/inbox/messageRules/{id}` `{"isEnabled": false}`.
pub fn disable(user: &UserId, rule_id: &str) -> GraphRequest {
    GraphRequest::patch(
        format!(
            "{}/mailFolders/inbox/messageRules/{}",
            user_path(&user.0),
            utf8_percent_encode(rule_id, ID)
        ),
        json!({ "isEnabled": false }),
    )
}

/// `PATCH /users/{id}/mailFolders/inbox/messageRules/{id}` `{"isEnabled": true}`: the undo of
/// [`disable`].
pub fn enable(user: &UserId, rule_id: &str) -> GraphRequest {
    GraphRequest::patch(
        format!(
            "{}/mailFolders/inbox/messageRules/{}",
            user_path(&user.0),
            utf8_percent_encode(rule_id, ID)
        ),
        json!({ "isEnabled": true }),
    )
}

/// The rules of a list answer.
pub fn from_items(items: Vec<Value>) -> Result<Vec<MessageRule>, GraphError> {
    items
        .into_iter()
        .map(|item| {
            serde_path_to_error::deserialize(item).map_err(|e| GraphError::Decode {
                message: format!("inbox rule at `{}`: {}", e.path(), e.inner()),
            })
        })
        .collect()
}

/// The user has no Exchange Online mailbox (never licensed, inactive, soft-deleted, or on
/// premises): there are no rules Graph can reach.
pub fn is_mailbox_missing(err: &GraphError) -> bool {
    err.api().is_some_and(|e| {
        e.status == 404 && e.code.eq_ignore_ascii_case("MailboxNotEnabledForRESTAPI")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_example_rules_read_as_documented() {
        // learn: mailfolder-list-messagerules, the response example.
        let rules = from_items(vec![
            json!({"id":"AQAAAJ5dZp8=","displayName":"Remove spam","sequence":1,"isEnabled":true,
                   "hasError":false,"isReadOnly":false,"conditions":{"subjectContains":["enter to win"]},
                   "actions":{"delete":true,"stopProcessingRules":true}}),
            json!({"id":"AQAAAJ5dZqA=","displayName":"From partner","sequence":2,"isEnabled":true,
                   "hasError":false,"isReadOnly":false,"conditions":{"senderContains":["ADELE"]},
                   "actions":{"stopProcessingRules":true,"forwardTo":[{"emailAddress":{"name":"Alex Wilbur",
                   "address":"AlexW@contoso.onmicrosoft.com"}}]}}),
            json!({"id":"AQAAAJ5dZqB=","displayName":"Flag","isEnabled":false,
                   "actions":{"redirectTo":{"emailAddress":{"address":"x@fabrikam.com"}},"markImportance":"high"}}),
        ])
        .unwrap();
        assert_eq!(rules[0].suspicious_actions(), ["deletes messages"]);
        assert_eq!(
            rules[1].suspicious_actions(),
            ["forwards to AlexW@contoso.onmicrosoft.com"]
        );
        assert_eq!(
            rules[2].suspicious_actions(),
            ["redirects to x@fabrikam.com"]
        );
        assert!(!rules[2].enabled());
        assert_eq!(
            disable(&UserId("u".into()), "AQAAAJ5dZqA=").describe(),
            "PATCH /v1.0/users/u/mailFolders/inbox/messageRules/AQAAAJ5dZqA="
        );
        assert_eq!(
            disable(&UserId("u".into()), "a/b").describe(),
            "PATCH /v1.0/users/u/mailFolders/inbox/messageRules/a%2Fb"
        );
    }
}

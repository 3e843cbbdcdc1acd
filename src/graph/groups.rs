//! Groups: the security group whose members Conditional Access blocks (`lockdown setup`
//! creates it; `block_sign_in` adds users to it, `unblock` removes them).
//!
//! learn: graph/api/group-list (`GET /groups?$filter=mailNickname eq '...'`),
//! graph/api/group-post-groups (`POST /groups`, 201; `displayName`, `mailEnabled`,
//! `mailNickname`, `securityEnabled` required), graph/api/group-get,
//! graph/api/group-post-members (`POST /groups/{id}/members/$ref` `{"@odata.id":
//! "https://graph.microsoft.com/v1.0/directoryObjects/{id}"}`, 204; a member already there
//! answers 400 "One or more added object references already exist for the following modified
//! properties: 'members'."), graph/api/group-delete-members (`DELETE
//! /groups/{id}/members/{id}/$ref`, 204).

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;
use serde_json::json;

use super::{GraphError, GraphRequest, GraphResponse};

/// The block group's `mailNickname`: how a run finds it.
pub const BLOCK_NICKNAME: &str = "lockdown-blocked";
pub const BLOCK_DISPLAY_NAME: &str = "lockdown: blocked accounts";
pub const BLOCK_DESCRIPTION: &str = "Members cannot sign in: a Conditional Access policy (\"lockdown: block sign-in for blocked accounts\") blocks them. lockdown adds compromised accounts here and removes them on unblock.";

const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'\'');

/// A group's id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(transparent)]
pub struct GroupId(pub String);

impl std::fmt::Display for GroupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: GroupId,
    pub display_name: Option<String>,
    pub mail_nickname: Option<String>,
    pub security_enabled: Option<bool>,
}

const SELECT: &str = "id,displayName,mailNickname,securityEnabled";

/// `GET /groups?$filter=mailNickname eq '{nickname}'&$select=...`.
pub fn find_by_nickname(nickname: &str) -> GraphRequest {
    let filter = format!("mailNickname eq '{}'", nickname.replace('\'', "''"));
    GraphRequest::get(format!(
        "/groups?$filter={}&$select={SELECT}",
        utf8_percent_encode(&filter, QUERY)
    ))
}

/// `GET /groups/{id}?$select=...`.
pub fn get(id: &str) -> GraphRequest {
    GraphRequest::get(format!(
        "/groups/{}?$select={SELECT}",
        utf8_percent_encode(id, QUERY)
    ))
}

/// `POST /groups`: the block group, a security group that is not mail-enabled.
pub fn create_block_group() -> GraphRequest {
    GraphRequest::post_json(
        "/groups",
        json!({
            "displayName": BLOCK_DISPLAY_NAME,
            "mailNickname": BLOCK_NICKNAME,
            "mailEnabled": false,
            "securityEnabled": true,
            "description": BLOCK_DESCRIPTION,
        }),
    )
}

/// `POST /groups/{id}/members/$ref` for a user.
pub fn add_member(group: &GroupId, user: &str) -> GraphRequest {
    GraphRequest::post_json(
        format!("/groups/{}/members/$ref", group.0),
        json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{user}") }),
    )
}

/// `DELETE /groups/{id}/members/{user}/$ref`.
pub fn remove_member(group: &GroupId, user: &str) -> GraphRequest {
    GraphRequest::delete(format!("/groups/{}/members/{user}/$ref", group.0))
}

/// The groups of a list answer.
pub fn decode_list(resp: &GraphResponse) -> Result<Vec<Group>, GraphError> {
    let page: super::paging::Page<Group> = resp.json()?;
    Ok(page.value)
}

/// Graph's answer to adding a member who already is one (400 "One or more added object
/// references already exist ...").
pub fn is_already_member(err: &GraphError) -> bool {
    err.api().is_some_and(|e| {
        e.status == 400
            && e.message
                .to_ascii_lowercase()
                .contains("added object references already exist")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_read_as_documented() {
        assert_eq!(
            find_by_nickname(BLOCK_NICKNAME).describe(),
            "GET /v1.0/groups?$filter=mailNickname%20eq%20'lockdown-blocked'&$select=id,displayName,mailNickname,securityEnabled"
        );
        let g = GroupId("g1".into());
        assert_eq!(
            add_member(&g, "u1").describe(),
            "POST /v1.0/groups/g1/members/$ref"
        );
        assert_eq!(
            remove_member(&g, "u1").describe(),
            "DELETE /v1.0/groups/g1/members/u1/$ref"
        );
    }
}

//! Groups: the security group `lockdown setup` creates and `block_sign_in` adds users to.
//!
//! learn: graph/api/group-list — `GET /groups`, `$filter` (`mailNickname` supports `eq`) and
//! `$select`; GroupMember.Read.All least privileged, Group.Read.All, Directory.Read.All and the
//! write forms also grant. learn: graph/api/group-post-groups — `POST /groups` with
//! `displayName`, `mailEnabled`, `mailNickname` and `securityEnabled` required, 201 with the
//! group; Group.Create least privileged for applications, Group.ReadWrite.All for delegated
//! callers (Directory.ReadWrite.All also grants). learn: graph/api/group-get — `GET
//! /groups/{id}`. learn: graph/api/group-post-members — `POST /groups/{id}/members/$ref`
//! `{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/{id}"}`, 204;
//! GroupMember.ReadWrite.All least privileged; a delegated caller must own the group or hold a
//! role that manages groups (Groups Administrator, User Administrator, Global Administrator);
//! adding a member already there answers 400 "One or more added object references already
//! exist for the following modified properties: 'members'." (GRAPH-NOTES). learn:
//! graph/api/group-delete-members — `DELETE /groups/{id}/members/{id}/$ref`, 204, the same
//! permissions; a user who is not a member answers 404.

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::errors::{self, Reply};
use super::odata::{eq_filter, Query};
use super::routes::{parse_json_body, Request};
use super::server::Shared;
use super::state::{format_datetime, now_whole_seconds, Identity, Tenant};

/// A group as the tenant holds it.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub id: String,
    pub display_name: String,
    pub mail_nickname: String,
    pub description: Option<String>,
    pub mail_enabled: bool,
    pub security_enabled: bool,
    pub created: OffsetDateTime,
    /// Member users, by index.
    pub members: Vec<usize>,
}

const READ: &[&str] = &[
    "GroupMember.Read.All",
    "Group.Read.All",
    "Directory.Read.All",
    "GroupMember.ReadWrite.All",
    "Group.ReadWrite.All",
    "Directory.ReadWrite.All",
    "Directory.AccessAsUser.All",
];
const CREATE_APP: &[&str] = &[
    "Group.Create",
    "Group.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const CREATE_DELEGATED: &[&str] = &[
    "Group.ReadWrite.All",
    "Directory.ReadWrite.All",
    "Directory.AccessAsUser.All",
];
const MEMBERS: &[&str] = &[
    "GroupMember.ReadWrite.All",
    "Group.ReadWrite.All",
    "Directory.ReadWrite.All",
    "Directory.AccessAsUser.All",
];
/// Roles that manage any group's members (learn: group-post-members, "roles").
const MEMBER_ROLES: &[&str] = &[
    "Groups Administrator",
    "User Administrator",
    "Global Administrator",
];

/// The properties of a group the emulator returns (learn: graph/api/resources/group).
const PROPS: &[&str] = &[
    "id",
    "displayName",
    "mailNickname",
    "description",
    "mailEnabled",
    "securityEnabled",
    "groupTypes",
    "createdDateTime",
    "isAssignableToRole",
];

fn group_json(g: &Group, select: Option<&[String]>) -> Result<Map<String, Value>, Reply> {
    let value = |p: &str| match p {
        "id" => json!(g.id),
        "displayName" => json!(g.display_name),
        "mailNickname" => json!(g.mail_nickname),
        "description" => json!(g.description),
        "mailEnabled" => json!(g.mail_enabled),
        "securityEnabled" => json!(g.security_enabled),
        "groupTypes" => json!([]),
        "createdDateTime" => json!(format_datetime(g.created)),
        _ => json!(false),
    };
    let mut m = Map::new();
    match select {
        None => {
            for p in PROPS {
                m.insert((*p).to_owned(), value(p));
            }
        }
        Some(sel) => {
            for s in sel {
                let Some(p) = PROPS.iter().find(|p| p.eq_ignore_ascii_case(s)) else {
                    return Err(errors::odata_bad_request(format!(
                        "Could not find a property named '{s}' on type 'microsoft.graph.group'."
                    )));
                };
                m.insert((*p).to_owned(), value(p));
            }
        }
    }
    Ok(m)
}

/// `groups...`: `segs` are the path segments after `/v1.0/`; `None` when the path is not a
/// group path.
pub(crate) fn route(
    shared: &Shared,
    tenant: &mut Tenant,
    req: &Request,
    segs: &[&str],
    q: &Query,
    id: &Identity,
) -> Option<Reply> {
    let method = req.method.to_ascii_uppercase();
    let (method, raw_query, body) = (method.as_str(), req.query.as_str(), req.body.as_deref());
    if !segs.first()?.eq_ignore_ascii_case("groups") {
        return None;
    }
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    Some(match (method, lower.as_slice()) {
        ("GET", ["groups"]) => list(shared, tenant, raw_query, q, id),
        ("POST", ["groups"]) => create(shared, tenant, body, id),
        ("GET", ["groups", _]) => get(shared, tenant, segs[1], q, id),
        ("POST", ["groups", _, "members", "$ref"]) => add_member(tenant, segs[1], body, id),
        ("DELETE", ["groups", _, "members", _, "$ref"]) => {
            remove_member(tenant, segs[1], segs[3], id)
        }
        (_, ["groups"]) | (_, ["groups", _]) | (_, ["groups", _, "members", ..]) => Reply::error(
            405,
            "Request_BadRequest",
            "The HTTP method is not allowed on this resource.",
        ),
        (_, [_, _, other, ..]) => {
            errors::odata_bad_request(format!("Resource not found for the segment '{other}'."))
        }
        _ => errors::odata_bad_request("Resource not found for the segment 'groups'."),
    })
}

fn find(tenant: &Tenant, id: &str) -> Option<usize> {
    tenant
        .groups
        .iter()
        .position(|g| g.id.eq_ignore_ascii_case(id))
}

fn list(shared: &Shared, tenant: &Tenant, raw_query: &str, q: &Query, id: &Identity) -> Reply {
    if !id.has_any(READ) {
        return errors::denied();
    }
    let wanted = match eq_filter(raw_query, &["mailNickname", "displayName", "id"], "groups") {
        Ok(w) => w,
        Err(r) => return r,
    };
    let mut value = Vec::new();
    for g in &tenant.groups {
        let keep = match &wanted {
            None => true,
            Some(("mailNickname", v)) => g.mail_nickname.eq_ignore_ascii_case(v),
            Some(("displayName", v)) => g.display_name == *v,
            Some((_, v)) => g.id.eq_ignore_ascii_case(v),
        };
        if keep {
            match group_json(g, q.select.as_deref()) {
                Ok(m) => value.push(Value::Object(m)),
                Err(r) => return r,
            }
        }
    }
    Reply::json(
        200,
        json!({
            "@odata.context": format!("{}/v1.0/$metadata#groups", shared.base_url),
            "value": value,
        }),
    )
}

fn get(shared: &Shared, tenant: &Tenant, key: &str, q: &Query, id: &Identity) -> Reply {
    if !id.has_any(READ) {
        return errors::denied();
    }
    let Some(g) = find(tenant, key) else {
        return errors::not_found(key);
    };
    match group_json(&tenant.groups[g], q.select.as_deref()) {
        Ok(mut m) => {
            m.insert(
                "@odata.context".into(),
                json!(format!("{}/v1.0/$metadata#groups/$entity", shared.base_url)),
            );
            Reply::json(200, Value::Object(m))
        }
        Err(r) => r,
    }
}

fn create(shared: &Shared, tenant: &mut Tenant, body: Option<&[u8]>, id: &Identity) -> Reply {
    let allowed = if id.is_app() {
        CREATE_APP
    } else {
        CREATE_DELEGATED
    };
    if !id.has_any(allowed) {
        return errors::denied();
    }
    let body = match parse_json_body(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    let flag = |k: &str| body.get(k).and_then(Value::as_bool);
    let (Some(display_name), Some(mail_nickname), Some(mail_enabled), Some(security_enabled)) = (
        text("displayName"),
        text("mailNickname"),
        flag("mailEnabled"),
        flag("securityEnabled"),
    ) else {
        return errors::bad_request(
            "displayName, mailEnabled, mailNickname and securityEnabled are required to create a group.",
        );
    };
    let group = Group {
        id: uuid::Uuid::new_v4().to_string(),
        display_name,
        mail_nickname,
        description: text("description"),
        mail_enabled,
        security_enabled,
        created: now_whole_seconds(),
        members: Vec::new(),
    };
    let mut m = group_json(&group, None).expect("all properties are known");
    m.insert(
        "@odata.context".into(),
        json!(format!("{}/v1.0/$metadata#groups/$entity", shared.base_url)),
    );
    tenant.groups.push(group);
    Reply::json(201, Value::Object(m))
}

fn may_change_members(id: &Identity) -> bool {
    id.has_any(MEMBERS) && (id.is_app() || id.has_role(MEMBER_ROLES))
}

fn add_member(tenant: &mut Tenant, group: &str, body: Option<&[u8]>, id: &Identity) -> Reply {
    if !may_change_members(id) {
        return errors::denied();
    }
    let body = match parse_json_body(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(reference) = body.get("@odata.id").and_then(Value::as_str) else {
        return errors::bad_request("Missing the '@odata.id' of the object to add.");
    };
    // `.../directoryObjects/{id}` (or `.../users/{id}`): the object's id is the last segment.
    let object = reference
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("");
    let parent = reference
        .trim_end_matches('/')
        .rsplit('/')
        .nth(1)
        .unwrap_or("");
    if !(parent.eq_ignore_ascii_case("directoryObjects") || parent.eq_ignore_ascii_case("users")) {
        return errors::bad_request(format!("Invalid object identifier '{reference}'."));
    }
    let Some(g) = find(tenant, group) else {
        return errors::not_found(group);
    };
    let Some(user) = tenant.by_id.get(&object.to_lowercase()).copied() else {
        return errors::not_found(object);
    };
    let members = &mut tenant.groups[g].members;
    if members.contains(&user) {
        return errors::bad_request(
            "One or more added object references already exist for the following modified properties: 'members'.",
        );
    }
    members.push(user);
    Reply::no_content()
}

fn remove_member(tenant: &mut Tenant, group: &str, member: &str, id: &Identity) -> Reply {
    if !may_change_members(id) {
        return errors::denied();
    }
    let Some(g) = find(tenant, group) else {
        return errors::not_found(group);
    };
    let user = tenant.by_id.get(&member.to_lowercase()).copied();
    let members = &mut tenant.groups[g].members;
    match user.and_then(|u| members.iter().position(|m| *m == u)) {
        Some(at) => {
            members.remove(at);
            Reply::no_content()
        }
        None => errors::not_found(member),
    }
}

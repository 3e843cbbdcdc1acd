//! The emulated endpoints. `execute` runs one request (a plain HTTP request or a `$batch`
//! item) against the tenant: authentication, throttling, then the operation.

use serde_json::{json, Map, Value};

use super::auth::{
    self, perms, DEVICE_ROLES, DISABLE_ROLES, PASSWORD_ROLES, PRIVILEGED_ADMINS, REVOKE_ROLES,
};
use super::errors::{self, Reply, PASSWORD_COMPLEXITY_MESSAGE, SYNCED_MESSAGE};
use super::lock;
use super::odata::{self, DeviceKey, Query, UserKey};
use super::server::Shared;
use super::state::{now_whole_seconds, role_template_id, Caller, Identity, Tenant};
use super::throttle::{request_cost, Verdict};

/// One request as the service sees it.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub method: String,
    /// Percent-decoded path including `/v1.0`.
    pub path: String,
    /// Raw (still encoded) query string.
    pub query: String,
    pub authorization: Option<String>,
    pub body: Option<Vec<u8>>,
}

pub(crate) fn execute(shared: &Shared, req: &Request) -> Reply {
    let Some(rest) = req
        .path
        .strip_prefix("/v1.0/")
        .or_else(|| (req.path == "/v1.0").then_some(""))
    else {
        return errors::odata_bad_request(format!(
            "Invalid version: '{}'.",
            req.path
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or("")
        ));
    };
    let identity = {
        let tenant = lock(&shared.tenant);
        match auth::authenticate(&tenant, req.authorization.as_deref()) {
            Ok(i) => i,
            Err(r) => return r,
        }
    };
    let query = match odata::parse_query(&req.query) {
        Ok(q) => q,
        Err(r) => return r,
    };

    let mut extra_headers = Vec::new();
    // Sign-in logs are metered by the identity and access reports service, not by the
    // identity and access buckets (learn: graph/throttling-limits).
    let reports = super::throttle::is_reports_path(rest);
    if shared.throttling && reports {
        let now = shared.emulated_secs();
        if let Verdict::Throttled {
            retry_after,
            scope,
            info,
        } = lock(&shared.throttle).check_reports(now)
        {
            return Reply::error(429, "TooManyRequests", "Please retry again later.")
                .header("Retry-After", retry_after.to_string())
                .header("x-ms-throttle-scope", scope)
                .header("x-ms-throttle-information", info);
        }
    }
    let identity_protection = super::throttle::is_identity_protection_path(rest);
    if shared.throttling
        && identity_protection
        && !lock(&shared.throttle).check_identity_protection(shared.emulated_secs())
    {
        // learn: graph/throttling-limits — identity protection's 429 has no Retry-After.
        return Reply::error(429, "TooManyRequests", "Please retry again later.");
    }
    if shared.throttling && !reports && !identity_protection && !super::intune::is_intune_path(rest)
    {
        let (ru, writes) = request_cost(
            &req.method,
            rest,
            query.select.is_some(),
            query.expand,
            query.top,
        );
        let device_write = !req.method.eq_ignore_ascii_case("GET")
            && rest.to_ascii_lowercase().starts_with("devices");
        let now = shared.emulated_secs();
        match lock(&shared.throttle).check(now, ru, writes, device_write) {
            Verdict::Allowed { ru, percentage } => {
                // learn: graph/throttling-limits — "Regular responses requests" headers.
                extra_headers.push(("x-ms-resource-unit".to_string(), ru.to_string()));
                if let Some(p) = percentage {
                    extra_headers.push((
                        "x-ms-throttle-limit-percentage".to_string(),
                        format!("{p:.2}"),
                    ));
                }
            }
            Verdict::Throttled {
                retry_after,
                scope,
                info,
            } => {
                // learn: graph/throttling — 429 + Retry-After; graph/throttling-limits — scope/information headers.
                return Reply::error(429, "TooManyRequests", "Please retry again later.")
                    .header("Retry-After", retry_after.to_string())
                    .header("x-ms-throttle-scope", scope)
                    .header("x-ms-throttle-information", info);
            }
        }
    }

    let mut reply = route(shared, req, rest, &query, &identity);
    reply.headers.extend(extra_headers);
    reply
}

fn route(shared: &Shared, req: &Request, rest: &str, query: &Query, id: &Identity) -> Reply {
    let method = req.method.to_ascii_uppercase();
    if let Some(addr) = odata::user_address(rest) {
        let (key, nav) = match addr {
            Ok(a) => a,
            Err(r) => return r,
        };
        let mut tenant = lock(&shared.tenant);
        let target = match resolve_user(&tenant, &key, id) {
            Ok(t) => t,
            Err(r) => return r,
        };
        // Keys in the path (method and rule ids) keep their case.
        let keys = nav.clone();
        let nav: Vec<String> = nav.iter().map(|s| s.to_ascii_lowercase()).collect();
        let nav: Vec<&str> = nav.iter().map(String::as_str).collect();
        return match (method.as_str(), nav.as_slice()) {
            ("GET", ["authentication", "methods"]) => {
                super::auth_methods::list(shared, &tenant, target, id)
            }
            ("DELETE", ["authentication", collection, _]) => {
                super::auth_methods::delete(&mut tenant, target, collection, &keys[2], id)
            }
            ("POST", ["authentication", "temporaryaccesspassmethods"]) => {
                super::tap::create(shared, &mut tenant, target, req.body.as_deref(), id)
            }
            (_, ["authentication", ..]) => method_not_allowed(),
            ("GET", ["oauth2permissiongrants"]) => {
                super::consents::list_for_user(shared, &tenant, target, id)
            }
            ("GET", ["mailfolders", "inbox", "messagerules"]) => {
                super::mail::list(shared, &tenant, target, id)
            }
            ("PATCH", ["mailfolders", "inbox", "messagerules", _]) => super::mail::update(
                shared,
                &mut tenant,
                target,
                &keys[3],
                req.body.as_deref(),
                id,
            ),
            (_, ["oauth2permissiongrants"]) | (_, ["mailfolders", ..]) => method_not_allowed(),
            ("GET", []) => get_user(shared, &tenant, target, query, id),
            ("PATCH", []) => patch_user(&mut tenant, target, req.body.as_deref(), id),
            ("POST", ["revokesigninsessions"]) => revoke(shared, &mut tenant, target, id),
            ("GET", ["registereddevices"]) => {
                list_devices(shared, &tenant, target, "registeredDevices", query, id)
            }
            ("GET", ["owneddevices"]) => {
                list_devices(shared, &tenant, target, "ownedDevices", query, id)
            }
            ("GET", ["memberof"]) | ("GET", ["memberof", "microsoft.graph.directoryrole"]) => {
                member_of(shared, &tenant, target, query, id)
            }
            // learn: graph/api/user-list-transitivememberof — direct and transitive memberships;
            // the emulated tenant has no groups, so a user's roles are both. `/me` needs only
            // User.Read (member_of's own-account rule).
            ("GET", ["transitivememberof"])
            | ("GET", ["transitivememberof", "microsoft.graph.directoryrole"]) => {
                member_of(shared, &tenant, target, query, id)
            }
            ("GET", ["manageddevices"]) => {
                super::intune::list_managed_devices(shared, &tenant, target, query, id)
            }
            // learn: graph/api/user-list-ownedobjects, cast to one type.
            ("GET", ["ownedobjects", "microsoft.graph.application"]) => super::owned::list(
                shared,
                &tenant,
                target,
                super::owned::Kind::Application,
                query.select.as_deref(),
                id,
            ),
            ("GET", ["ownedobjects", "microsoft.graph.serviceprincipal"]) => super::owned::list(
                shared,
                &tenant,
                target,
                super::owned::Kind::ServicePrincipal,
                query.select.as_deref(),
                id,
            ),
            (_, [])
            | (_, ["revokesigninsessions"])
            | (_, ["registereddevices"])
            | (_, ["owneddevices"])
            | (_, ["manageddevices"])
            | (_, ["ownedobjects", ..])
            | (_, ["memberof", ..])
            | (_, ["transitivememberof", ..]) => method_not_allowed(),
            (_, [other, ..]) => unknown_segment(other),
        };
    }
    if let Some(addr) = odata::device_key(rest) {
        return match addr {
            Ok((key, nav)) if nav.is_empty() => device(shared, req, &method, &key, query, id),
            Ok((_, nav)) => unknown_segment(&nav[0]),
            Err(r) => r,
        };
    }
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    {
        let mut tenant = lock(&shared.tenant);
        if let Some(reply) = super::consents::route(shared, &mut tenant, &method, &segs, query, id)
        {
            return reply;
        }
        if let Some(reply) = super::apps::route(shared, &tenant, &method, rest, query, id) {
            return reply;
        }
        if let Some(reply) = super::groups::route(shared, &mut tenant, req, &segs, query, id) {
            return reply;
        }
        if let Some(reply) = super::conditional_access::route(
            shared,
            &mut tenant,
            &method,
            &segs,
            req.body.as_deref(),
            id,
        ) {
            return reply;
        }
        if let Some(reply) = super::identity_accounts::route(shared, &mut tenant, req, &segs, id) {
            return reply;
        }
    }
    if segs
        .first()
        .is_some_and(|s| s.eq_ignore_ascii_case("identityProtection"))
    {
        let mut tenant = lock(&shared.tenant);
        return super::risk::route(
            shared,
            &mut tenant,
            &method,
            &segs,
            &req.query,
            req.body.as_deref(),
            id,
        );
    }
    match segs.as_slice() {
        // learn: graph/api/subscribedsku-list
        [s] if s.eq_ignore_ascii_case("subscribedSkus") => match method.as_str() {
            "GET" => super::licences::list(shared, &lock(&shared.tenant), query, id),
            _ => method_not_allowed(),
        },
        // learn: graph/api/signin-list
        [a, s] if a.eq_ignore_ascii_case("auditLogs") && s.eq_ignore_ascii_case("signIns") => {
            match method.as_str() {
                "GET" => super::sign_ins::list(shared, &lock(&shared.tenant), &req.query, id),
                _ => method_not_allowed(),
            }
        }
        // learn: graph/api/directoryaudit-list
        [a, s]
            if a.eq_ignore_ascii_case("auditLogs") && s.eq_ignore_ascii_case("directoryAudits") =>
        {
            match method.as_str() {
                "GET" => super::audits::list(shared, &lock(&shared.tenant), &req.query, id),
                _ => method_not_allowed(),
            }
        }
        [d, dev] if d.eq_ignore_ascii_case("devices") => device(
            shared,
            req,
            &method,
            &DeviceKey::Id(dev.to_string()),
            query,
            id,
        ),
        [d, ..] if d.eq_ignore_ascii_case("deviceManagement") => {
            super::intune::route(shared, &method, &segs, id)
        }
        // learn: graph/json-batching — batches cannot be nested.
        ["$batch"] => errors::odata_bad_request(
            "Batch requests must be sent as POST /$batch and cannot be nested.",
        ),
        [first, ..] => unknown_segment(first),
        [] => unknown_segment(""),
    }
}

fn unknown_segment(seg: &str) -> Reply {
    errors::odata_bad_request(format!("Resource not found for the segment '{seg}'."))
}

fn method_not_allowed() -> Reply {
    Reply::error(
        405,
        "Request_BadRequest",
        "The HTTP method is not allowed on this resource.",
    )
}

fn resolve_user(tenant: &Tenant, key: &UserKey, id: &Identity) -> Result<usize, Reply> {
    match key {
        UserKey::Me => match id.caller {
            Caller::Delegated { user } => Ok(user),
            // learn: graph/api/user-get — "/me ... Application permissions are not supported".
            Caller::App => Err(errors::odata_bad_request("/me request is only valid with delegated authentication flow.")),
        },
        // learn: graph/api/user-get — `/users/$x@y.com` fails with 400 Bad Request; use `/users('$x@y.com')`.
        UserKey::Dollar(k) => Err(errors::bad_request(format!(
            "Invalid object identifier '{k}'. A userPrincipalName that begins with '$' must be addressed as /users('{k}')."
        ))),
        UserKey::Key(k) => tenant.find_user(k).ok_or_else(|| errors::not_found(k)),
    }
}

fn is_self(id: &Identity, target: usize) -> bool {
    matches!(id.caller, Caller::Delegated { user } if user == target)
}

fn context(shared: &Shared, fragment: &str) -> String {
    format!("{}/v1.0/$metadata#{fragment}", shared.base_url)
}

fn get_user(shared: &Shared, tenant: &Tenant, target: usize, q: &Query, id: &Identity) -> Reply {
    // learn: graph/api/user-get — permissions table; User.Read covers the signed-in user only.
    if !(id.has_any(perms::READ_USER) || (is_self(id, target) && id.has_any(perms::READ_SELF))) {
        return errors::denied();
    }
    let (mut body, props) = match odata::user_json(&tenant.users[target], q.select.as_deref()) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let frag = if q.select.is_some() {
        format!("users({})/$entity", props.join(","))
    } else {
        "users/$entity".to_string()
    };
    body.insert("@odata.context".to_string(), json!(context(shared, &frag)));
    Reply::json(200, Value::Object(body))
}

pub(crate) fn parse_json_body(body: Option<&[u8]>) -> Result<Map<String, Value>, Reply> {
    let bytes = body.unwrap_or(&[]);
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(errors::odata_bad_request("The request body must be a JSON object.")),
        Err(_) => Err(errors::odata_bad_request("Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")),
    }
}

fn undeclared(p: &str) -> Reply {
    errors::bad_request(format!(
        "Property '{p}' does not exist as a declared property or extension property."
    ))
}

fn not_a_bool(p: &str) -> Reply {
    errors::odata_bad_request(format!(
        "Cannot convert the literal to the expected type 'Edm.Boolean' for property '{p}'."
    ))
}

/// Entra password complexity. learn: entra/identity/authentication/concept-sspr-policy —
/// 8–256 characters, three of four classes, no Unicode, symbols from the allowed set.
pub(crate) fn password_ok(p: &str) -> bool {
    const SYMBOLS: &str = "@#$%^&*-_!+=[]{}|\\:',.?/`~\"();<> ";
    let n = p.chars().count();
    if !(8..=256).contains(&n) || !p.is_ascii() {
        return false;
    }
    if p.chars()
        .any(|c| !c.is_ascii_alphanumeric() && !SYMBOLS.contains(c))
    {
        return false;
    }
    let classes = [
        p.chars().any(|c| c.is_ascii_lowercase()),
        p.chars().any(|c| c.is_ascii_uppercase()),
        p.chars().any(|c| c.is_ascii_digit()),
        p.chars().any(|c| SYMBOLS.contains(c)),
    ];
    classes.iter().filter(|b| **b).count() >= 3
}

fn patch_user(tenant: &mut Tenant, target: usize, body: Option<&[u8]>, id: &Identity) -> Reply {
    let body = match parse_json_body(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut account_enabled = None;
    let mut password: Option<(String, Option<bool>, Option<bool>)> = None;
    let mut simple: Vec<(&'static str, Option<String>)> = Vec::new();
    for (k, v) in &body {
        match k.to_ascii_lowercase().as_str() {
            "accountenabled" => match v {
                Value::Bool(b) => account_enabled = Some(*b),
                _ => return not_a_bool("accountEnabled"),
            },
            // learn: graph/api/resources/passwordprofile — password, forceChangePasswordNextSignIn(WithMfa).
            "passwordprofile" => {
                let Value::Object(pp) = v else {
                    return errors::odata_bad_request(
                        "Invalid value for property 'passwordProfile'.",
                    );
                };
                let mut pw = None;
                let (mut force, mut force_mfa) = (None, None);
                for (pk, pv) in pp {
                    match pk.to_ascii_lowercase().as_str() {
                        "password" => match pv {
                            Value::String(s) => pw = Some(s.clone()),
                            _ => {
                                return errors::odata_bad_request(
                                    "Invalid value for property 'password'.",
                                )
                            }
                        },
                        "forcechangepasswordnextsignin" => match pv {
                            Value::Bool(b) => force = Some(*b),
                            _ => return not_a_bool("forceChangePasswordNextSignIn"),
                        },
                        "forcechangepasswordnextsigninwithmfa" => match pv {
                            Value::Bool(b) => force_mfa = Some(*b),
                            _ => return not_a_bool("forceChangePasswordNextSignInWithMfa"),
                        },
                        _ => return undeclared(pk),
                    }
                }
                let Some(pw) = pw else {
                    return errors::bad_request("Invalid value specified for property 'passwordProfile' of resource 'User'.");
                };
                password = Some((pw, force, force_mfa));
            }
            key @ ("displayname" | "givenname" | "surname" | "jobtitle") => {
                let canonical = match key {
                    "displayname" => "displayName",
                    "givenname" => "givenName",
                    "surname" => "surname",
                    _ => "jobTitle",
                };
                match v {
                    Value::String(s) => simple.push((canonical, Some(s.clone()))),
                    Value::Null if canonical != "displayName" => simple.push((canonical, None)),
                    _ => {
                        return errors::odata_bad_request(format!(
                            "Invalid value for property '{canonical}'."
                        ))
                    }
                }
            }
            _ => return undeclared(k),
        }
    }

    // Permissions. learn: graph/api/user-update — accountEnabled: User.EnableDisableAccount.All +
    // User.Read.All least privileged; passwordProfile: User-PasswordProfile.ReadWrite.All.
    let broad = [
        "User.ReadWrite.All",
        "Directory.ReadWrite.All",
        "Directory.AccessAsUser.All",
    ];
    if account_enabled.is_some()
        && !(id.has_any(&broad)
            || (id.has_any(perms::ENABLE_DISABLE) && id.has_any(perms::READ_USER)))
    {
        return errors::denied();
    }
    if password.is_some() && !id.has_any(perms::PASSWORD) {
        return errors::denied();
    }
    let may_edit_profile =
        id.has_any(&broad) || (is_self(id, target) && id.has_any(&["User.ReadWrite"]));
    if !simple.is_empty() && !may_edit_profile {
        return errors::denied();
    }
    // Roles. learn: graph/api/user-update — delegated callers need an admin role for another
    // user's accountEnabled / passwordProfile; app-only password resets need the app to hold
    // User Administrator or higher.
    match id.caller {
        Caller::Delegated { .. } => {
            if account_enabled.is_some() && !id.has_role(DISABLE_ROLES) {
                return errors::denied();
            }
            if password.is_some() && !id.has_role(PASSWORD_ROLES) {
                return errors::denied();
            }
        }
        Caller::App => {
            if password.is_some() && !id.has_role(DISABLE_ROLES) {
                return errors::denied();
            }
        }
    }
    // learn: graph/api/resources/users "Who can perform sensitive actions" — targets holding a
    // privileged role need Privileged Authentication Administrator (or Global Administrator).
    let sensitive = account_enabled.is_some() || password.is_some();
    if sensitive
        && tenant.users[target].is_privileged()
        && !is_self(id, target)
        && !id.has_role(PRIVILEGED_ADMINS)
    {
        return errors::denied();
    }
    // On-premises mastered objects (seen for accountEnabled and passwordProfile; GRAPH-NOTES).
    if sensitive && tenant.users[target].on_premises_sync_enabled == Some(true) {
        return errors::bad_request(SYNCED_MESSAGE);
    }
    if let Some((pw, _, _)) = &password {
        if !password_ok(pw) {
            return errors::bad_request(PASSWORD_COMPLEXITY_MESSAGE);
        }
    }

    let u = &mut tenant.users[target];
    if let Some(e) = account_enabled {
        u.account_enabled = e;
    }
    if let Some((pw, force, force_mfa)) = password {
        u.password = Some(pw);
        u.force_change_password_next_sign_in = force.unwrap_or(false);
        u.force_change_password_next_sign_in_with_mfa = force_mfa.unwrap_or(false);
        u.password_resets += 1;
        u.last_password_change = now_whole_seconds();
    }
    for (k, v) in simple {
        match k {
            "displayName" => u.display_name = v.unwrap_or_default(),
            "givenName" => u.given_name = v,
            "surname" => u.surname = v,
            _ => u.job_title = v,
        }
    }
    Reply::no_content()
}

fn revoke(shared: &Shared, tenant: &mut Tenant, target: usize, id: &Identity) -> Reply {
    // learn: graph/api/user-revokesigninsessions — User.RevokeSessions.All least privileged.
    if !id.has_any(perms::REVOKE) {
        return errors::denied();
    }
    let me = is_self(id, target);
    if matches!(id.caller, Caller::Delegated { .. }) && !me && !id.has_role(REVOKE_ROLES) {
        return errors::denied();
    }
    if tenant.users[target].is_privileged() && !me && !id.has_role(PRIVILEGED_ADMINS) {
        return errors::denied();
    }
    // It sets signInSessionsValidFromDateTime to the current date-time.
    tenant.users[target].sign_in_sessions_valid_from = now_whole_seconds();
    Reply::json(
        200,
        json!({"@odata.context": context(shared, "Edm.Boolean"), "value": true}),
    )
}

fn list_devices(
    shared: &Shared,
    tenant: &Tenant,
    target: usize,
    nav: &str,
    q: &Query,
    id: &Identity,
) -> Reply {
    // learn: graph/api/user-list-registereddevices, user-list-owneddevices — Application: Not supported.
    if id.is_app() {
        return errors::denied();
    }
    if !(id.has_any(perms::LIST_DEVICES) || (is_self(id, target) && id.has_any(perms::READ_SELF))) {
        return errors::denied();
    }
    // learn: graph/paging — default page size 100 for directory objects, $top up to 999.
    let page = (q.top.unwrap_or(100) as usize).min(shared.max_page_size.max(1));
    let offset = match &q.skiptoken {
        None => 0,
        Some(t) => match odata::offset_from_skiptoken(t) {
            Some(o) => o,
            None => return errors::bad_request("Invalid $skiptoken."),
        },
    };
    let user = &tenant.users[target];
    let mut value = Vec::new();
    for &d in user.devices.iter().skip(offset).take(page) {
        let mut m = match odata::device_json(&tenant.devices[d], q.select.as_deref()) {
            Ok(m) => m,
            Err(r) => return r,
        };
        m.insert("@odata.type".to_string(), json!("#microsoft.graph.device"));
        value.push(Value::Object(m));
    }
    if user.devices.is_empty() {
        if let Some(s) = q.select.as_deref() {
            // still validate $select
            if let Some(d) = tenant.devices.first() {
                if let Err(r) = odata::device_json(d, Some(s)) {
                    return r;
                }
            }
        }
    }
    let mut body = Map::new();
    body.insert(
        "@odata.context".to_string(),
        json!(context(shared, "directoryObjects")),
    );
    let next = offset + page;
    if next < user.devices.len() {
        // learn: graph/paging — @odata.nextLink is the full URL of the next page, with an opaque $skiptoken.
        let mut qs = Vec::new();
        if let Some(s) = &q.select {
            qs.push(format!("$select={}", s.join(",")));
        }
        if let Some(t) = q.top {
            qs.push(format!("$top={t}"));
        }
        qs.push(format!("$skiptoken={}", odata::skiptoken_for(next)));
        body.insert(
            "@odata.nextLink".to_string(),
            json!(format!(
                "{}/v1.0/users/{}/{nav}?{}",
                shared.base_url,
                user.id,
                qs.join("&")
            )),
        );
    }
    body.insert("value".to_string(), Value::Array(value));
    Reply::json(200, Value::Object(body))
}

fn role_instance_id(template: &str) -> String {
    let t = uuid::Uuid::parse_str(template)
        .map(|u| u.as_u128())
        .unwrap_or(0);
    uuid::Uuid::from_u128(t ^ 0x0f0f_0f0f_0f0f_0000_0000_0f0f_0f0f_0f0f).to_string()
}

fn member_of(shared: &Shared, tenant: &Tenant, target: usize, q: &Query, id: &Identity) -> Reply {
    // learn: graph/api/user-list-memberof — permissions table.
    if !(id.has_any(perms::MEMBER_OF)
        || id.has_any(&["User.Read.All", "User.ReadWrite.All"])
        || (is_self(id, target) && id.has_any(perms::READ_SELF)))
    {
        return errors::denied();
    }
    let value: Vec<Value> = tenant.users[target]
        .roles
        .iter()
        .map(|r| {
            let tid = role_template_id(r);
            let mut m = Map::new();
            m.insert(
                "@odata.type".into(),
                json!("#microsoft.graph.directoryRole"),
            );
            let all = [
                ("id", json!(role_instance_id(tid))),
                ("deletedDateTime", Value::Null),
                (
                    "description",
                    json!(format!(
                        "Members of this role have the permissions of the {r} role."
                    )),
                ),
                ("displayName", json!(r)),
                ("roleTemplateId", json!(tid)),
            ];
            for (k, v) in all {
                let keep = match &q.select {
                    None => true,
                    Some(s) => s.iter().any(|p| p.eq_ignore_ascii_case(k)),
                };
                if keep {
                    m.insert(k.into(), v);
                }
            }
            Value::Object(m)
        })
        .collect();
    Reply::json(
        200,
        json!({"@odata.context": context(shared, "directoryRoles"), "value": value}),
    )
}

fn device(
    shared: &Shared,
    req: &Request,
    method: &str,
    key: &DeviceKey,
    q: &Query,
    id: &Identity,
) -> Reply {
    match method {
        "GET" => get_device(shared, key, q, id),
        "PATCH" => patch_device(shared, key, req.body.as_deref(), id),
        _ => method_not_allowed(),
    }
}

fn find_device(tenant: &Tenant, key: &DeviceKey) -> Option<usize> {
    match key {
        DeviceKey::Id(k) => tenant.find_device(k),
        DeviceKey::DeviceId(k) => tenant.find_device_by_device_id(k),
    }
}

fn get_device(shared: &Shared, key: &DeviceKey, q: &Query, id: &Identity) -> Reply {
    if !id.has_any(perms::READ_DEVICE) {
        return errors::denied();
    }
    let tenant = lock(&shared.tenant);
    let Some(d) = find_device(&tenant, key) else {
        return errors::not_found(key.as_str());
    };
    let mut m = match odata::device_json(&tenant.devices[d], q.select.as_deref()) {
        Ok(m) => m,
        Err(r) => return r,
    };
    m.insert(
        "@odata.context".into(),
        json!(context(shared, "devices/$entity")),
    );
    Reply::json(200, Value::Object(m))
}

fn patch_device(shared: &Shared, key: &DeviceKey, body: Option<&[u8]>, id: &Identity) -> Reply {
    let body = match parse_json_body(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut enabled = None;
    for (k, v) in &body {
        if k.eq_ignore_ascii_case("accountEnabled") {
            match v {
                Value::Bool(b) => enabled = Some(*b),
                _ => return not_a_bool("accountEnabled"),
            }
        } else {
            return undeclared(k);
        }
    }
    // learn: graph/api/device-update — Device.ReadWrite.All; delegated callers also need Cloud
    // Device Administrator or Intune Administrator (or Global Administrator).
    if !id.has_any(perms::WRITE_DEVICE) {
        return errors::denied();
    }
    if matches!(id.caller, Caller::Delegated { .. }) && !id.has_role(DEVICE_ROLES) {
        return errors::denied();
    }
    let mut tenant = lock(&shared.tenant);
    let Some(d) = find_device(&tenant, key) else {
        return errors::not_found(key.as_str());
    };
    let device = &mut tenant.devices[d];
    // msgraph-sdk-powershell issues 2327/2603 (GRAPH-NOTES): app-only updates only on Windows devices.
    if id.is_app() && !device.is_windows() {
        return errors::bad_request(
            "Properties other than ExtendedAttribute1..15 can be modified only on windows devices.",
        );
    }
    // Hybrid-joined devices are mastered in on-premises AD (GRAPH-NOTES: device-update).
    if device.on_premises_sync_enabled == Some(true) {
        return errors::bad_request(SYNCED_MESSAGE);
    }
    if let Some(e) = enabled {
        device.account_enabled = e;
    }
    Reply::no_content()
}

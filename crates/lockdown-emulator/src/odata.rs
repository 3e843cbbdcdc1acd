//! OData addressing (`/users/{key}`, `/users('{key}')`), query options (`$select`, `$top`,
//! `$skiptoken`) and the JSON shapes of users and devices.

use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};

use super::errors::{self, Reply};
use super::state::{format_datetime, Device, User};

/// Percent-decode a path or query component (invalid UTF-8 is replaced).
pub(crate) fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Query {
    pub select: Option<Vec<String>>,
    pub top: Option<u64>,
    pub skiptoken: Option<String>,
    pub expand: bool,
}

/// learn: graph/query-parameters — system query options, `$`-prefixed, names case-insensitive.
pub(crate) fn parse_query(query: &str) -> Result<Query, Reply> {
    let mut q = Query::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = decode(k).to_ascii_lowercase();
        let v = decode(&v.replace('+', " "));
        match k.as_str() {
            "$select" => {
                let props: Vec<String> = v
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                q.select = Some(props);
            }
            "$top" => {
                // learn: graph/paging — page size between 1 and 999 for directory objects.
                match v.trim().parse::<u64>() {
                    Ok(n) if (1..=999).contains(&n) => q.top = Some(n),
                    _ => {
                        return Err(errors::bad_request(format!(
                        "Invalid page size specified: '{v}'. Must be between 1 and 999 inclusive."
                    )))
                    }
                }
            }
            "$skiptoken" => q.skiptoken = Some(v),
            "$expand" => q.expand = true,
            _ => {}
        }
    }
    Ok(q)
}

/// `$filter=<prop> eq '<value>'` on one of `props` (learn: graph/filter-query-parameter — `eq`
/// with a single-quoted string literal, `''` for a quote): the property as listed, and the value.
/// No `$filter`: `None`. `what` names the collection in the error.
pub(crate) fn eq_filter(
    raw_query: &str,
    props: &[&'static str],
    what: &str,
) -> Result<Option<(&'static str, String)>, Reply> {
    let Some(expr) = raw_query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        decode(k)
            .eq_ignore_ascii_case("$filter")
            .then(|| decode(&v.replace('+', " ")))
    }) else {
        return Ok(None);
    };
    let bad = || {
        errors::odata_bad_request(format!(
            "Invalid filter clause: the emulated {what} list filters with `eq` on {} only ('{expr}').",
            props.join(" or ")
        ))
    };
    let (prop, rest) = expr.trim().split_once(' ').ok_or_else(bad)?;
    let (value, tail) = rest
        .trim()
        .strip_prefix("eq ")
        .and_then(|l| parse_literal(l.trim()))
        .ok_or_else(bad)?;
    if !tail.trim().is_empty() {
        return Err(bad());
    }
    let prop = props
        .iter()
        .find(|p| p.eq_ignore_ascii_case(prop))
        .ok_or_else(bad)?;
    Ok(Some((prop, value)))
}

/// How a request names a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UserKey {
    Me,
    /// `/users/{id | userPrincipalName}` or `/users('{...}')`.
    Key(String),
    /// `/users/$x@y`: invalid OData (learn: graph/api/user-get — use `/users('$x@y')`).
    Dollar(String),
}

/// Parse an OData single-quoted string literal (`'' ` is an escaped `'`), returning the value
/// and what follows the closing quote.
fn parse_literal(s: &str) -> Option<(String, &str)> {
    let rest = s.strip_prefix('\'')?;
    let mut out = String::new();
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if chars.peek().map(|(_, n)| *n) == Some('\'') {
                out.push('\'');
                chars.next();
            } else {
                return Some((out, &rest[i + 1..]));
            }
        } else {
            out.push(c);
        }
    }
    None
}

/// Split a decoded path (after `/v1.0/`) into a user address and the remaining segments, if it
/// addresses a user. `Err` for a malformed key literal.
pub(crate) fn user_address(path: &str) -> Option<Result<(UserKey, Vec<String>), Reply>> {
    let trimmed = path.trim_start_matches('/');
    let lower = trimmed.to_ascii_lowercase();
    if lower == "me" || lower.starts_with("me/") {
        let rest = trimmed.get(3..).unwrap_or("");
        return Some(Ok((UserKey::Me, segments(rest))));
    }
    if lower.starts_with("users(") {
        // learn: graph/api/user-get — `/users('$AdeleVance@contoso.com')`; graph/query-parameters — `''` escapes `'`.
        let inner = &trimmed[6..];
        let parsed =
            parse_literal(inner).and_then(|(v, after)| after.strip_prefix(')').map(|a| (v, a)));
        return Some(match parsed {
            Some((key, after)) => Ok((UserKey::Key(key), segments(after))),
            None => Err(errors::odata_bad_request(format!(
                "Bad Request - Error in query syntax: invalid key in '{trimmed}'."
            ))),
        });
    }
    if lower.starts_with("users/") {
        let rest = &trimmed[6..];
        let (key, after) = rest.split_once('/').unwrap_or((rest, ""));
        if key.is_empty() {
            return None;
        }
        let k = if key.starts_with('$') {
            UserKey::Dollar(key.to_string())
        } else {
            UserKey::Key(key.to_string())
        };
        return Some(Ok((k, segments(after))));
    }
    None
}

/// How a request names a device: `/devices/{id}`, `/devices('{id}')`, or the alternate key
/// `/devices(deviceId='{deviceId}')` (learn: graph/api/device-get, graph/api/device-update: "You
/// can address the device using either its id or deviceId").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeviceKey {
    Id(String),
    DeviceId(String),
}

impl DeviceKey {
    /// How Graph names the key in a 404.
    pub fn as_str(&self) -> &str {
        match self {
            DeviceKey::Id(k) | DeviceKey::DeviceId(k) => k,
        }
    }
}

/// Parse a decoded path (after `/v1.0/`) that addresses one device by a key in parentheses,
/// returning the key and the segments after it. `None` when it is not such a path.
pub(crate) fn device_key(path: &str) -> Option<Result<(DeviceKey, Vec<String>), Reply>> {
    let trimmed = path.trim_start_matches('/');
    if !trimmed.to_ascii_lowercase().starts_with("devices(") {
        return None;
    }
    let inner = &trimmed["devices(".len()..];
    let (key, literal) = match inner.split_once('=') {
        Some((name, lit)) if name.trim().eq_ignore_ascii_case("deviceId") => (true, lit),
        _ => (false, inner),
    };
    let parsed =
        parse_literal(literal).and_then(|(v, after)| after.strip_prefix(')').map(|a| (v, a)));
    Some(match parsed {
        Some((v, after)) => Ok((
            if key {
                DeviceKey::DeviceId(v)
            } else {
                DeviceKey::Id(v)
            },
            segments(after),
        )),
        None => Err(errors::odata_bad_request(format!(
            "Bad Request - Error in query syntax: invalid key in '{trimmed}'."
        ))),
    })
}

fn segments(s: &str) -> Vec<String> {
    s.split('/')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

// learn: graph/api/resources/user — properties; the default set per graph/api/user-get.
const USER_PROPS: &[&str] = &[
    "id",
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "accountEnabled",
    "userType",
    "onPremisesSyncEnabled",
    "onPremisesSecurityIdentifier",
    "signInSessionsValidFromDateTime",
    "lastPasswordChangeDateTime",
    "createdDateTime",
    "deletedDateTime",
    "passwordProfile",
    "passwordPolicies",
    "usageLocation",
    "creationType",
    "externalUserState",
    "onPremisesImmutableId",
    "onPremisesLastSyncDateTime",
    "onPremisesSamAccountName",
    "onPremisesSecurityIdentifier",
    "onPremisesUserPrincipalName",
    "onPremisesDomainName",
    "onPremisesDistinguishedName",
];
const USER_DEFAULT: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

fn user_prop(u: &User, name: &str) -> Value {
    match name {
        "id" => json!(u.id),
        "businessPhones" => json!([]),
        "displayName" => json!(u.display_name),
        "givenName" => json!(u.given_name),
        "jobTitle" => json!(u.job_title),
        "mail" => json!(u.mail),
        "mobilePhone" => Value::Null,
        "officeLocation" => Value::Null,
        "preferredLanguage" => json!("en-US"),
        "surname" => json!(u.surname),
        "userPrincipalName" => json!(u.upn),
        "accountEnabled" => json!(u.account_enabled),
        "userType" => json!(u.user_type()),
        "onPremisesSyncEnabled" => json!(u.on_premises_sync_enabled),
        // learn: graph/api/resources/user — the SID of a user synced from on-premises AD.
        "onPremisesSecurityIdentifier" => json!(u.on_premises.as_ref().map(|a| a.sid.clone())),
        "signInSessionsValidFromDateTime" => json!(format_datetime(u.sign_in_sessions_valid_from)),
        "lastPasswordChangeDateTime" => json!(format_datetime(u.last_password_change)),
        "createdDateTime" => json!(format_datetime(u.created)),
        "usageLocation" => json!("US"),
        "creationType" => {
            if u.guest {
                json!("Invitation")
            } else {
                Value::Null
            }
        }
        "externalUserState" => {
            if u.guest {
                json!("Accepted")
            } else {
                Value::Null
            }
        }
        // learn: graph/api/resources/user — the onPremises* properties are null for a cloud
        // account; a synced one carries what Microsoft Entra Connect copied from AD.
        "onPremisesSamAccountName" if u.on_premises_sync_enabled == Some(true) => {
            json!(u.upn.split('@').next().unwrap_or_default())
        }
        "onPremisesUserPrincipalName" if u.on_premises_sync_enabled == Some(true) => json!(u.upn),
        "onPremisesDomainName" if u.on_premises_sync_enabled == Some(true) => {
            json!("contoso.local")
        }
        // Graph never returns the password: passwordProfile reads back as null.
        _ => Value::Null,
    }
}

// learn: graph/api/resources/device — properties.
const DEVICE_PROPS: &[&str] = &[
    "id",
    "deletedDateTime",
    "accountEnabled",
    "approximateLastSignInDateTime",
    "deviceId",
    "displayName",
    "isCompliant",
    "isManaged",
    "operatingSystem",
    "operatingSystemVersion",
    "profileType",
    "registrationDateTime",
    "trustType",
    "onPremisesSyncEnabled",
];

fn device_prop(d: &Device, name: &str) -> Value {
    match name {
        "id" => json!(d.id),
        "accountEnabled" => json!(d.account_enabled),
        "approximateLastSignInDateTime" => json!(format_datetime(d.registered)),
        "deviceId" => json!(d.device_id),
        "displayName" => json!(d.display_name),
        "isCompliant" => json!(d.trust_type != "Workplace"),
        "isManaged" => json!(d.trust_type != "Workplace"),
        "operatingSystem" => json!(d.operating_system),
        "operatingSystemVersion" => json!(d.operating_system_version),
        "profileType" => json!(if d.trust_type == "Workplace" {
            "RegisteredDevice"
        } else {
            "Unknown"
        }),
        "registrationDateTime" => json!(format_datetime(d.registered)),
        "trustType" => json!(d.trust_type),
        "onPremisesSyncEnabled" => json!(d.on_premises_sync_enabled),
        _ => Value::Null,
    }
}

/// Resolve `$select` names (case-insensitive) to canonical property names.
fn resolve_select(
    select: &[String],
    known: &[&'static str],
    type_name: &str,
) -> Result<Vec<&'static str>, Reply> {
    let mut out = Vec::new();
    for s in select {
        if s == "*" {
            for k in known {
                if !out.contains(k) {
                    out.push(*k);
                }
            }
            continue;
        }
        match known.iter().find(|k| k.eq_ignore_ascii_case(s)) {
            Some(k) => {
                if !out.contains(k) {
                    out.push(*k)
                }
            }
            None => {
                return Err(errors::odata_bad_request(format!(
                    "Could not find a property named '{s}' on type 'microsoft.graph.{type_name}'."
                )))
            }
        }
    }
    Ok(out)
}

/// The user's JSON, restricted to `$select` or the default property set.
/// learn: graph/api/user-get — without `$select` only the default properties come back; with
/// `$select` only the selected ones (Example 3 shows no `id` unless selected).
pub(crate) fn user_json(
    u: &User,
    select: Option<&[String]>,
) -> Result<(Map<String, Value>, Vec<&'static str>), Reply> {
    let props: Vec<&'static str> = match select {
        Some(s) => resolve_select(s, USER_PROPS, "user")?,
        None => USER_DEFAULT.to_vec(),
    };
    let mut m = Map::new();
    for p in &props {
        m.insert((*p).to_string(), user_prop(u, p));
    }
    Ok((m, props))
}

pub(crate) fn device_json(
    d: &Device,
    select: Option<&[String]>,
) -> Result<Map<String, Value>, Reply> {
    let props: Vec<&'static str> = match select {
        Some(s) => resolve_select(s, DEVICE_PROPS, "device")?,
        None => DEVICE_PROPS.to_vec(),
    };
    let mut m = Map::new();
    for p in props {
        m.insert(p.to_string(), device_prop(d, p));
    }
    Ok(m)
}

/// The query of a log collection (`auditLogs/signIns`, `auditLogs/directoryAudits`): its
/// `$filter` as given, `$top` (learn: graph/api/signin-list, directoryaudit-list: 1 to 1,000,
/// and 1,000 when absent) and the `$skiptoken` of a next page.
pub(crate) struct LogQuery {
    pub(crate) filter: Option<String>,
    top: usize,
    offset: usize,
}

impl LogQuery {
    pub(crate) fn parse(raw_query: &str) -> Result<LogQuery, Reply> {
        let mut q = LogQuery {
            filter: None,
            top: 1000,
            offset: 0,
        };
        for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = decode(&v.replace('+', " "));
            match decode(k).to_ascii_lowercase().as_str() {
                "$filter" => q.filter = Some(v),
                "$top" => match v.trim().parse::<usize>() {
                    Ok(n) if (1..=1000).contains(&n) => q.top = n,
                    _ => {
                        return Err(errors::odata_bad_request(format!(
                        "Invalid page size specified: '{v}'. Must be between 1 and 1000 inclusive."
                    )))
                    }
                },
                "$skiptoken" => match offset_from_skiptoken(&v) {
                    Some(o) => q.offset = o,
                    None => return Err(errors::bad_request("Invalid $skiptoken.")),
                },
                _ => {}
            }
        }
        Ok(q)
    }

    /// The page this query asks for of `matching` (filtered and ordered), at most
    /// `max_page_size` long, with the `@odata.nextLink` of the next one (learn: graph/paging:
    /// the whole URL, with an opaque `$skiptoken`). `path` is the collection under `/v1.0/`.
    pub(crate) fn page<T>(
        &self,
        base_url: &str,
        max_page_size: usize,
        path: &str,
        matching: &[T],
        to_json: impl Fn(&T) -> Value,
    ) -> Reply {
        let page = self.top.min(max_page_size.max(1));
        let value: Vec<Value> = matching
            .iter()
            .skip(self.offset)
            .take(page)
            .map(to_json)
            .collect();
        let mut body = Map::new();
        body.insert(
            "@odata.context".into(),
            json!(format!("{base_url}/v1.0/$metadata#{path}")),
        );
        if self.offset + page < matching.len() {
            let mut qs = Vec::new();
            if let Some(f) = &self.filter {
                qs.push(format!(
                    "$filter={}",
                    percent_encoding::utf8_percent_encode(f, percent_encoding::NON_ALPHANUMERIC)
                ));
            }
            if self.top != 1000 {
                qs.push(format!("$top={}", self.top));
            }
            qs.push(format!("$skiptoken={}", skiptoken_for(self.offset + page)));
            body.insert(
                "@odata.nextLink".into(),
                json!(format!("{base_url}/v1.0/{path}?{}", qs.join("&"))),
            );
        }
        body.insert("value".into(), Value::Array(value));
        Reply::json(200, Value::Object(body))
    }
}

/// An opaque `$skiptoken` for an offset (the client must follow nextLink whole).
pub(crate) fn skiptoken_for(offset: usize) -> String {
    let raw = format!("RFNwdAIAAQAAAD{offset:08x}emu");
    super::auth::b64url_encode(raw.as_bytes())
}

pub(crate) fn offset_from_skiptoken(token: &str) -> Option<usize> {
    let bytes = b64url_decode(token)?;
    let s = String::from_utf8(bytes).ok()?;
    let hex = s.strip_prefix("RFNwdAIAAQAAAD")?.strip_suffix("emu")?;
    usize::from_str_radix(hex, 16).ok()
}

fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        })
    };
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c)? << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len().saturating_sub(1)]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_unescapes_doubled_quotes() {
        assert_eq!(
            parse_literal("'patti.o''fernandez@contoso.com')"),
            Some(("patti.o'fernandez@contoso.com".to_string(), ")"))
        );
    }

    #[test]
    fn skiptoken_round_trips() {
        for off in [0, 1, 100, 999, 123_456] {
            assert_eq!(offset_from_skiptoken(&skiptoken_for(off)), Some(off));
        }
        assert_eq!(offset_from_skiptoken("garbage!"), None);
    }

    #[test]
    fn addresses() {
        assert_eq!(
            user_address("users/$x@y").unwrap().unwrap().0,
            UserKey::Dollar("$x@y".into())
        );
        let (k, rest) = user_address("users('$x@y')/registeredDevices")
            .unwrap()
            .unwrap();
        assert_eq!(k, UserKey::Key("$x@y".into()));
        assert_eq!(rest, vec!["registeredDevices".to_string()]);
        assert_eq!(user_address("me").unwrap().unwrap().0, UserKey::Me);
        assert!(user_address("devices/x").is_none());
    }

    #[test]
    fn device_alternate_keys() {
        let (k, rest) = device_key("devices(deviceId='2d-1')").unwrap().unwrap();
        assert_eq!(k, DeviceKey::DeviceId("2d-1".into()));
        assert!(rest.is_empty());
        assert_eq!(
            device_key("devices(DEVICEID='o''brien')")
                .unwrap()
                .unwrap()
                .0,
            DeviceKey::DeviceId("o'brien".into())
        );
        assert_eq!(
            device_key("devices('1d-1')").unwrap().unwrap().0,
            DeviceKey::Id("1d-1".into())
        );
        assert!(device_key("devices(deviceId='open").unwrap().is_err());
        assert!(device_key("devices/1d-1").is_none());
    }
}

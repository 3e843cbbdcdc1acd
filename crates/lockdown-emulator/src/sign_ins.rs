//! Sign-in logs: `GET /auditLogs/signIns`.
//!
//! learn: graph/api/signin-list — "The maximum and default page size is 1,000 objects and by
//! default, the most recent sign-ins are returned first"; `$top`, `$skiptoken` and `$filter`;
//! permissions AuditLog.Read.All (delegated callers also need one of Global Reader, Reports
//! Reader, Security Reader, Security Operator, Security Administrator, or Global
//! Administrator); v1.0 lists interactive sign-ins. learn: graph/api/resources/signin — the
//! properties, which `$filter` supports (`userId`, `userPrincipalName`, `appId`,
//! `createdDateTime` with `eq`, `le`, `ge`, `status/errorCode`), and "You must have a Microsoft
//! Entra ID P1 or P2 license to download sign-in logs by using the Microsoft Graph API": without
//! one Graph answers 403 `Authentication_RequestFromNonPremiumTenantOrB2CTenant` (GRAPH-NOTES).
//! Sign-ins are kept 7 days (Free) or 30 days (P1/P2); the emulator keeps what it was given.

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::errors::{self, Reply};
use super::odata;
use super::server::Shared;
use super::state::{Caller, Identity, Tenant};

/// A sign-in a test adds to the tenant ([`crate::Emulator::add_sign_in`]). The defaults are a
/// successful interactive browser sign-in to Office 365 Exchange Online, now, from Lagos.
#[derive(Debug, Clone)]
pub struct SignInSpec {
    /// The user's UPN or object id (it must exist in the tenant).
    pub user: String,
    pub created: OffsetDateTime,
    pub app_display_name: String,
    pub app_id: String,
    pub ip_address: String,
    pub city: String,
    pub state: String,
    pub country_or_region: String,
    pub client_app_used: String,
    pub is_interactive: bool,
    /// 0 for success.
    pub error_code: i32,
    pub failure_reason: Option<String>,
}

impl SignInSpec {
    /// A successful sign-in by `user`, now.
    pub fn success(user: &str) -> SignInSpec {
        SignInSpec {
            user: user.to_string(),
            created: OffsetDateTime::now_utc(),
            app_display_name: "Office 365 Exchange Online".into(),
            app_id: "00000002-0000-0ff1-ce00-000000000000".into(),
            ip_address: "102.89.34.17".into(),
            city: "Lagos".into(),
            state: "Lagos".into(),
            country_or_region: "NG".into(),
            client_app_used: "Browser".into(),
            is_interactive: true,
            error_code: 0,
            failure_reason: None,
        }
    }

    /// A failed sign-in by `user`, now, with Entra's error code and reason.
    pub fn failure(user: &str, error_code: i32, reason: &str) -> SignInSpec {
        SignInSpec {
            error_code,
            failure_reason: Some(reason.to_string()),
            ..SignInSpec::success(user)
        }
    }
}

/// One sign-in record of the tenant.
#[derive(Debug, Clone)]
pub(crate) struct SignIn {
    pub id: String,
    pub created: OffsetDateTime,
    pub user: usize,
    pub spec: SignInSpec,
}

/// learn: graph/api/signin-list — permissions table.
const READ_LOGS: &[&str] = &["AuditLog.Read.All"];
/// learn: graph/api/signin-list — directory roles that may read sign-in reports.
const REPORT_ROLES: &[&str] = &[
    "Global Reader",
    "Reports Reader",
    "Security Reader",
    "Security Operator",
    "Security Administrator",
    "Global Administrator",
];

/// Add a sign-in; panics if the user does not exist (a test mistake).
pub(crate) fn add(tenant: &mut Tenant, spec: SignInSpec) -> String {
    let user = tenant.find_user(&spec.user).unwrap_or_else(|| {
        panic!(
            "add_sign_in: no user {:?} in the emulated tenant",
            spec.user
        )
    });
    let id = uuid::Uuid::new_v4().to_string();
    tenant.sign_ins.push(SignIn {
        id: id.clone(),
        created: spec.created,
        user,
        spec,
    });
    id
}

/// `2020-03-13T19:15:41.6195833Z`: seven fractional digits, as Learn's examples show.
fn format_created(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 100
    )
}

fn to_json(tenant: &Tenant, s: &SignIn) -> Value {
    let u = &tenant.users[s.user];
    let p = &s.spec;
    // learn: graph/api/signin-list — the documented example's shape.
    json!({
        "id": s.id,
        "createdDateTime": format_created(s.created),
        "userDisplayName": u.display_name,
        "userPrincipalName": u.upn,
        "userId": u.id,
        "appId": p.app_id,
        "appDisplayName": p.app_display_name,
        "ipAddress": p.ip_address,
        "clientAppUsed": p.client_app_used,
        "correlationId": uuid::Uuid::from_u128(uuid::Uuid::parse_str(&s.id).map(|x| x.as_u128() ^ 0x5a5a).unwrap_or(0)).to_string(),
        "conditionalAccessStatus": "notApplied",
        "isInteractive": p.is_interactive,
        "riskDetail": "none",
        "riskLevelAggregated": "none",
        "riskLevelDuringSignIn": "none",
        "riskState": "none",
        "riskEventTypes": [],
        "riskEventTypes_v2": [],
        "resourceDisplayName": "Office 365 Exchange Online",
        "resourceId": "00000002-0000-0ff1-ce00-000000000000",
        "status": {
            "errorCode": p.error_code,
            "failureReason": p.failure_reason,
            "additionalDetails": null,
        },
        "deviceDetail": {
            "deviceId": "",
            "displayName": null,
            "operatingSystem": "Windows 10",
            "browser": "Edge 120.0.0",
            "isCompliant": null,
            "isManaged": null,
            "trustType": null,
        },
        "location": {
            "city": p.city,
            "state": p.state,
            "countryOrRegion": p.country_or_region,
            "geoCoordinates": {"altitude": null, "latitude": null, "longitude": null},
        },
        "appliedConditionalAccessPolicies": [],
    })
}

/// learn: graph/api/signin-list — the 403 a tenant without Entra ID P1 or P2 gets (GRAPH-NOTES).
fn not_premium() -> Reply {
    Reply::error(
        403,
        "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
        "Neither tenant is B2C or tenant doesn't have premium license",
    )
}

/// `GET /auditLogs/signIns`. `raw_query` is the query string as received.
pub(crate) fn list(shared: &Shared, tenant: &Tenant, raw_query: &str, id: &Identity) -> Reply {
    if !id.has_any(READ_LOGS) {
        return errors::denied();
    }
    if matches!(id.caller, Caller::Delegated { .. }) && !id.has_role(REPORT_ROLES) {
        return errors::denied();
    }
    if !tenant.entra_id.is_premium() {
        return not_premium();
    }
    let query = match odata::LogQuery::parse(raw_query) {
        Ok(q) => q,
        Err(reply) => return reply,
    };
    let filter = match query.filter.as_deref().map(parse) {
        None => None,
        Some(Ok(f)) => Some(f),
        Some(Err(message)) => return errors::odata_bad_request(message),
    };
    let mut matching: Vec<&SignIn> = tenant
        .sign_ins
        .iter()
        .filter(|s| filter.as_ref().is_none_or(|f| f.matches(tenant, s)))
        .collect();
    // Newest first.
    matching.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
    query.page(
        &shared.base_url,
        shared.max_page_size,
        "auditLogs/signIns",
        &matching,
        |s| to_json(tenant, s),
    )
}

/// A `$filter` expression over sign-ins.
#[derive(Debug, Clone, PartialEq)]
enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Cmp(Field, Op, Literal),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    UserId,
    UserPrincipalName,
    AppId,
    CreatedDateTime,
    ErrorCode,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Ge,
    Gt,
    Le,
    Lt,
}

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Text(String),
    Time(OffsetDateTime),
    Int(i64),
}

impl Filter {
    fn matches(&self, tenant: &Tenant, s: &SignIn) -> bool {
        match self {
            Filter::And(a, b) => a.matches(tenant, s) && b.matches(tenant, s),
            Filter::Or(a, b) => a.matches(tenant, s) || b.matches(tenant, s),
            Filter::Cmp(field, op, lit) => {
                let u = &tenant.users[s.user];
                let ord = match (field, lit) {
                    // GUIDs and UPNs compare case-insensitively in the directory.
                    (Field::UserId, Literal::Text(t)) => u.id.to_lowercase().cmp(&t.to_lowercase()),
                    (Field::UserPrincipalName, Literal::Text(t)) => {
                        u.upn.to_lowercase().cmp(&t.to_lowercase())
                    }
                    (Field::AppId, Literal::Text(t)) => {
                        s.spec.app_id.to_lowercase().cmp(&t.to_lowercase())
                    }
                    (Field::CreatedDateTime, Literal::Time(t)) => s.created.cmp(t),
                    (Field::ErrorCode, Literal::Int(n)) => i64::from(s.spec.error_code).cmp(n),
                    _ => return false,
                };
                match op {
                    Op::Eq => ord.is_eq(),
                    Op::Ne => !ord.is_eq(),
                    Op::Ge => ord.is_ge(),
                    Op::Gt => ord.is_gt(),
                    Op::Le => ord.is_le(),
                    Op::Lt => ord.is_lt(),
                }
            }
        }
    }
}

/// Parse the subset of OData `$filter` that sign-ins support: comparisons joined with `and`
/// (binding tighter) and `or`, and parentheses. learn: graph/query-parameters (filter operators).
fn parse(text: &str) -> Result<Filter, String> {
    let tokens = tokenize(text)?;
    let mut p = Parser { tokens, at: 0 };
    let f = p.or()?;
    if p.at != p.tokens.len() {
        return Err(format!(
            "Invalid filter clause: unexpected '{}'.",
            p.tokens[p.at]
        ));
    }
    Ok(f)
}

fn tokenize(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' || c == ')' {
            out.push(c.to_string());
            i += 1;
        } else if c == '\'' {
            let mut s = String::from("'");
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err("Invalid filter clause: unterminated string literal.".into())
                    }
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        s.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        s.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push(s);
        } else {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() && chars[i] != '(' && chars[i] != ')'
            {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<String>,
    at: usize,
}

impl Parser {
    fn peek_is(&self, word: &str) -> bool {
        self.tokens
            .get(self.at)
            .is_some_and(|t| t.eq_ignore_ascii_case(word))
    }

    fn next(&mut self) -> Result<String, String> {
        let t =
            self.tokens.get(self.at).cloned().ok_or_else(|| {
                "Invalid filter clause: the expression ends too soon.".to_string()
            })?;
        self.at += 1;
        Ok(t)
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut left = self.and()?;
        while self.peek_is("or") {
            self.at += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.term()?;
        while self.peek_is("and") {
            self.at += 1;
            let right = self.term()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<Filter, String> {
        if self.peek_is("(") {
            self.at += 1;
            let inner = self.or()?;
            if self.next()? != ")" {
                return Err("Invalid filter clause: ')' expected.".into());
            }
            return Ok(inner);
        }
        let name = self.next()?;
        let field = match name.to_ascii_lowercase().as_str() {
            "userid" => Field::UserId,
            "userprincipalname" => Field::UserPrincipalName,
            "appid" => Field::AppId,
            "createddatetime" => Field::CreatedDateTime,
            "status/errorcode" => Field::ErrorCode,
            _ => {
                return Err(format!(
                    "Invalid filter clause: filtering on '{name}' is not supported."
                ))
            }
        };
        let op_text = self.next()?;
        let op = match op_text.to_ascii_lowercase().as_str() {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "ge" => Op::Ge,
            "gt" => Op::Gt,
            "le" => Op::Le,
            "lt" => Op::Lt,
            _ => {
                return Err(format!(
                    "Invalid filter clause: unknown operator '{op_text}'."
                ))
            }
        };
        let value = self.next()?;
        let lit = match field {
            Field::CreatedDateTime => {
                Literal::Time(OffsetDateTime::parse(&value, &Rfc3339).map_err(|_| {
                    format!("Invalid filter clause: '{value}' is not a DateTimeOffset.")
                })?)
            }
            Field::ErrorCode => Literal::Int(
                value
                    .parse()
                    .map_err(|_| format!("Invalid filter clause: '{value}' is not an Int32."))?,
            ),
            _ => match value.strip_prefix('\'') {
                Some(text) => Literal::Text(text.to_string()),
                None => {
                    return Err(format!(
                        "Invalid filter clause: '{value}' is not a string literal."
                    ))
                }
            },
        };
        if !matches!(field, Field::CreatedDateTime | Field::ErrorCode)
            && !matches!(op, Op::Eq | Op::Ne)
        {
            return Err(format!(
                "Invalid filter clause: '{op_text}' is not supported on '{name}'."
            ));
        }
        Ok(Filter::Cmp(field, op, lit))
    }
}

/// The address Adele's attacker signs in from in the seeded history.
pub(crate) const ADELE_ATTACKER_IP: &str = "45.155.205.233";

/// A few sign-ins from before the emulator started, so that a `watch --since` in the past shows
/// history (never alerts for a lockdown done now). Adele's yesterday shows what a password spray
/// that worked looks like: four failed sign-ins (learn: entra/identity-platform/reference-error-codes,
/// AADSTS50126 invalid username or password) then a success, all from one address.
pub(crate) fn seed(tenant: &mut Tenant) {
    let now = OffsetDateTime::now_utc();
    let hours = time::Duration::hours;
    let minutes = time::Duration::minutes;
    let bad_password = Some("Error validating credentials due to invalid username or password.");
    let attacker = ("Amsterdam", "Noord-Holland", "NL");
    let mut history = vec![
        (
            "adele@contoso.com",
            now - hours(26),
            "Microsoft Teams",
            "1fec8e78-bce4-4aaf-ab1b-5451cc387264",
            "131.107.159.37",
            ("Redmond", "Washington", "US"),
            0,
            None,
        ),
        (
            "adele@contoso.com",
            now - hours(3),
            "Office 365 Exchange Online",
            "00000002-0000-0ff1-ce00-000000000000",
            "131.107.159.37",
            ("Redmond", "Washington", "US"),
            0,
            None,
        ),
        (
            "grady@contoso.com",
            now - hours(2),
            "Office 365 Exchange Online",
            "00000002-0000-0ff1-ce00-000000000000",
            "185.220.101.4",
            ("Frankfurt am Main", "Hessen", "DE"),
            50126,
            Some("Error validating credentials due to invalid username or password."),
        ),
    ];
    for n in 0..4 {
        history.push((
            "adele@contoso.com",
            now - hours(23) + minutes(n),
            "Office 365 Exchange Online",
            "00000002-0000-0ff1-ce00-000000000000",
            ADELE_ATTACKER_IP,
            attacker,
            50126,
            bad_password,
        ));
    }
    history.push((
        "adele@contoso.com",
        now - hours(23) + minutes(6),
        "Office 365 Exchange Online",
        "00000002-0000-0ff1-ce00-000000000000",
        ADELE_ATTACKER_IP,
        attacker,
        0,
        None,
    ));
    for (user, created, app, app_id, ip, (city, state, country), code, reason) in history {
        if tenant.find_user(user).is_none() {
            continue;
        }
        add(
            tenant,
            SignInSpec {
                user: user.to_string(),
                created,
                app_display_name: app.to_string(),
                app_id: app_id.to_string(),
                ip_address: ip.to_string(),
                city: city.to_string(),
                state: state.to_string(),
                country_or_region: country.to_string(),
                client_app_used: "Browser".into(),
                is_interactive: true,
                error_code: code,
                failure_reason: reason.map(str::to_string),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_users_joined_with_or_and_a_time() {
        let f = parse(
            "(userId eq 'a' or userId eq 'o''b') and createdDateTime ge 2026-11-29T13:36:51Z",
        )
        .unwrap();
        let Filter::And(users, time) = f else {
            panic!("and at the top: {f:?}")
        };
        assert!(matches!(*users, Filter::Or(..)));
        assert!(matches!(
            *time,
            Filter::Cmp(Field::CreatedDateTime, Op::Ge, Literal::Time(_))
        ));
        let Filter::Or(_, b) = *users else {
            unreachable!()
        };
        assert_eq!(
            *b,
            Filter::Cmp(Field::UserId, Op::Eq, Literal::Text("o'b".into()))
        );
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let f = parse("userId eq 'a' or userId eq 'b' and status/errorCode eq 0").unwrap();
        assert!(matches!(f, Filter::Or(_, ref r) if matches!(**r, Filter::And(..))));
    }

    #[test]
    fn rejects_what_it_does_not_know() {
        for bad in [
            "userId eq",
            "userId eq 'open",
            "foo eq 'x'",
            "userId ge 'x'",
            "createdDateTime ge yesterday",
            "(userId eq 'a'",
            "userId eq 'a' userId",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn created_times_carry_seven_fractional_digits() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        assert_eq!(format_created(t), "2023-11-14T22:13:20.1234567Z");
    }
}

//! What `lockdown watch` works with: durations (`90s`, `15m`, `1h`), the users to watch and
//! since when (from a `block` report: each user's id and its revoke time as Graph recorded it),
//! and each sign-in as it prints it. The polling itself is `crate::commands::watch`.
//!
//! Why watching, not one look: access tokens already issued stay valid until they expire
//! (about an hour after a revoke), and sign-in logs arrive minutes late (learn:
//! entra/identity/users/users-revoke-access, entra/identity/monitoring-health/reference-reports-latency).

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

use crate::auth::TokenKind;
use crate::graph::sign_ins::SignIn;
use crate::steps::require::{Licence, Requirement};
use crate::steps::Record;

/// `90s`, `15m`, `1h`, `2h30m` (whole numbers, each unit once, largest first); a bare number is
/// seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("an empty duration; write it like 90s, 15m or 1h".into());
    }
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total: u64 = 0;
    let mut last_unit = u64::MAX;
    let mut digits = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => {
                return Err(format!(
                    "`{text}` is not a duration: use a number with s, m or h, like 90s, 15m or 1h"
                ))
            }
        };
        if digits.is_empty() || unit >= last_unit {
            return Err(format!(
                "`{text}` is not a duration: use a number with s, m or h, like 90s, 15m or 1h"
            ));
        }
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("`{text}`: the number is too large"))?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("`{text}` is too long"))?;
        digits.clear();
        last_unit = unit;
    }
    if !digits.is_empty() {
        return Err(format!(
            "`{text}` is not a duration: the last number has no unit (s, m or h)"
        ));
    }
    Ok(Duration::from_secs(total))
}

/// `15m`, `1h30m`, `45s`, for messages.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// An RFC 3339 time for `--since`.
pub fn parse_since(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("`{text}` is not an RFC 3339 time like 2026-11-29T13:36:51Z ({e})"))
}

/// A user to watch, and the lockdown time: sign-ins from then on are shown; a successful one
/// is an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    /// The object id (sign-in logs are filtered on `userId`).
    pub id: String,
    /// For messages.
    pub label: String,
    pub since: OffsetDateTime,
}

/// What a `block` report line says about a user to watch: `None` for lines without an id (not
/// found, malformed). The time is the revoke as Graph recorded it,
/// `after.signInSessionsValidFromDateTime`, when `revoke_sessions` is `done`; otherwise
/// `fallback` (the time the watch starts), with a note saying so.
pub fn from_report_line(
    line: &Record,
    fallback: OffsetDateTime,
) -> Option<(Watched, Option<String>)> {
    let id = line.id.clone()?;
    let label = line
        .user_principal_name
        .clone()
        .unwrap_or_else(|| line.target.clone());
    let at = crate::steps::revoke_sessions::revoked_at(line).and_then(|t| parse_since(t).ok());
    let (since, note) = match at {
        Some(at) => (at, None),
        _ => (
            fallback,
            Some(format!(
                "{label}: the report has no revoke time for this user (its sessions were not revoked); watching from now"
            )),
        ),
    };
    Some((Watched { id, label, since }, note))
}

/// What reading sign-in logs needs (learn: graph/api/signin-list): AuditLog.Read.All, a
/// delegated caller in a role that may read sign-in reports, and Entra ID P1 or P2.
pub fn requires(kind: TokenKind) -> Vec<Requirement> {
    const PERMISSIONS: &[&[&str]] = &[&["AuditLog.Read.All"]];
    const ROLES: &[&str] = &[
        "Reports Reader",
        "Security Reader",
        "Security Operator",
        "Security Administrator",
        "Global Reader",
        "Global Administrator",
    ];
    let req =
        Requirement::new("GET /auditLogs/signIns", PERMISSIONS).with_licence(Licence::EntraIdP1);
    vec![match kind {
        TokenKind::AppOnly => req,
        _ => req.with_roles(ROLES),
    }]
}

/// One sign-in as `watch` prints it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInLine {
    pub id: String,
    pub created_date_time: String,
    pub user_id: Option<String>,
    pub user_principal_name: Option<String>,
    pub app_display_name: Option<String>,
    pub ip_address: Option<String>,
    pub location: Option<String>,
    pub client_app_used: Option<String>,
    pub is_interactive: Option<bool>,
    /// `success` (`status.errorCode` 0) or `failure`.
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// A successful sign-in after the user's lockdown time.
    pub alert: bool,
}

impl SignInLine {
    pub fn new(s: &SignIn, since: OffsetDateTime) -> SignInLine {
        let ok = s.succeeded();
        let status = s.status.as_ref();
        SignInLine {
            id: s.id.clone(),
            created_date_time: crate::steps::timestamp(Some(s.created_date_time))
                .unwrap_or_default(),
            user_id: s.user_id.clone(),
            user_principal_name: s.user_principal_name.clone(),
            app_display_name: s.app_display_name.clone(),
            ip_address: s.ip_address.clone(),
            location: s.place(),
            client_app_used: s.client_app_used.clone(),
            is_interactive: s.is_interactive,
            result: if ok { "success" } else { "failure" },
            error_code: if ok {
                None
            } else {
                status.and_then(|st| st.error_code)
            },
            failure_reason: if ok {
                None
            } else {
                status.and_then(|st| st.failure_reason.clone().or(st.additional_details.clone()))
            },
            alert: ok && s.created_date_time >= since,
        }
    }

    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("lines serialize")
    }

    /// `2026-11-29T13:40:02Z  adele@contoso.com  Office 365 Exchange Online  102.89.34.17  Lagos,
    /// Lagos, NG  Browser  interactive  success  ALERT: ...`.
    pub fn to_text(&self) -> String {
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let interactive = match self.is_interactive {
            Some(true) => "interactive",
            Some(false) => "non-interactive",
            None => "-",
        };
        let result = if self.result == "success" {
            "success".to_owned()
        } else {
            let mut r = String::from("failure");
            if let Some(code) = self.error_code {
                r.push_str(&format!(" {code}"));
            }
            if let Some(why) = &self.failure_reason {
                r.push_str(&format!(": {why}"));
            }
            r
        };
        let mut out = format!(
            "{}  {}  {}  {}  {}  {}  {}  {}",
            self.created_date_time,
            self.user_principal_name
                .clone()
                .or(self.user_id.clone())
                .unwrap_or_else(|| "-".into()),
            dash(&self.app_display_name),
            dash(&self.ip_address),
            dash(&self.location),
            dash(&self.client_app_used),
            interactive,
            result
        );
        if self.alert {
            out.push_str("  ALERT: a successful sign-in after the lockdown");
        }
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations() {
        for (text, secs) in [
            ("90s", 90),
            ("15m", 900),
            ("1h", 3600),
            ("1h30m", 5400),
            ("2h0m5s", 7205),
            ("45", 45),
            (" 5M ", 300),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
        }
        for bad in ["", "m", "15x", "1m1h", "1s1s", "10m5", "-5s", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_duration("99999999999999999999h").is_err());
        assert_eq!(format_duration(Duration::from_secs(900)), "15m");
        assert_eq!(format_duration(Duration::from_secs(5405)), "1h30m5s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    fn record(line: serde_json::Value) -> Record {
        serde_json::from_value(line).expect("a report line")
    }

    #[test]
    fn report_lines_give_ids_and_revoke_times() {
        let now = OffsetDateTime::now_utc();
        let locked = json!({
            "target": "adele@contoso.com", "id": "87d3", "userPrincipalName": "adele@contoso.com",
            "outcome": "locked",
            "steps": [{"step": "revoke_sessions", "status": "done"}],
            "after": {"signInSessionsValidFromDateTime": "2026-11-29T13:36:51Z"}
        });
        let (w, note) = from_report_line(&record(locked), now).unwrap();
        assert_eq!(w.id, "87d3");
        assert_eq!(w.since, parse_since("2026-11-29T13:36:51Z").unwrap());
        assert_eq!(note, None);
        // The revoke failed: its `after` time is the old one, so the watch starts now.
        let failed = json!({
            "target": "x", "id": "1", "outcome": "partial",
            "steps": [{"step": "revoke_sessions", "status": "failed"}],
            "after": {"signInSessionsValidFromDateTime": "2025-09-01T08:00:00Z"}
        });
        let (w, note) = from_report_line(&record(failed), now).unwrap();
        assert_eq!(w.since, now);
        assert!(note.unwrap().contains("no revoke time"));
        assert!(from_report_line(&record(json!({"target": "nobody", "id": null})), now).is_none());
    }

    #[test]
    fn a_success_after_the_lockdown_is_an_alert() {
        let since = parse_since("2026-11-29T13:36:51Z").unwrap();
        let sign_in = |at: &str, code: i64| -> SignIn {
            serde_json::from_value(json!({
                "id": "s", "createdDateTime": at, "userPrincipalName": "adele@contoso.com",
                "appDisplayName": "Office 365 Exchange Online", "ipAddress": "102.89.34.17",
                "clientAppUsed": "Browser", "isInteractive": true,
                "status": {"errorCode": code, "failureReason": if code == 0 { None } else { Some("The user account is disabled.") }},
                "location": {"city": "Lagos", "state": "Lagos", "countryOrRegion": "NG"}
            }))
            .unwrap()
        };
        let after = SignInLine::new(&sign_in("2026-11-29T13:40:02.1234567Z", 0), since);
        assert!(after.alert);
        assert!(after.to_text().contains("ALERT"));
        assert_eq!(serde_json::to_value(&after).unwrap()["alert"], json!(true));
        let failed = SignInLine::new(&sign_in("2026-11-29T13:40:02Z", 50057), since);
        assert!(!failed.alert);
        assert!(failed
            .to_text()
            .contains("failure 50057: The user account is disabled."));
        let before = SignInLine::new(&sign_in("2026-11-29T13:00:00Z", 0), since);
        assert!(!before.alert);
    }
}

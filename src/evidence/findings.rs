//! Findings: facts from the evidence an investigator should look at first, each naming the file
//! and the record it comes from. Never a verdict: "a method was registered in the window", not
//! "the attacker registered a method".
//!
//! Inbox rules and consent grants carry no creation time in Graph (learn:
//! graph/api/resources/messagerule, graph/api/resources/oauth2permissiongrant), so nothing is
//! said of when they appeared; the directory audit log records consents.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `method_registered`, `credential_added`, `audited_change`, `sign_in_after_failures`.
    pub kind: &'static str,
    /// The evidence file it comes from (`methods.json`).
    pub file: &'static str,
    /// The record's id in that file (a method id, `{app id}/{keyId}`, an audit or sign-in id).
    pub record: String,
    /// When it happened, as Graph gave it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// The fact, for people.
    pub detail: String,
}

impl Finding {
    /// The text line: `fido2 method "YubiKey 5 NFC" registered at ... (methods.json, record ...)`.
    pub fn line(&self) -> String {
        format!("{} ({}, record {})", self.detail, self.file, self.record)
    }
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn time_of(v: &Value, key: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text(v, key)?, &Rfc3339).ok()
}

/// `#microsoft.graph.fido2AuthenticationMethod` reads `fido2`.
fn method_kind(v: &Value) -> &str {
    text(v, "@odata.type")
        .unwrap_or("")
        .trim_start_matches("#microsoft.graph.")
        .trim_end_matches("AuthenticationMethod")
}

/// Authentication methods registered in the window, from `createdDateTime` where the method type
/// has one (learn: resources/*authenticationmethod; phone and email methods have none). The
/// password's `createdDateTime` is when it was last set, not a registration: left out.
pub fn methods(items: &[Value], since: OffsetDateTime) -> Vec<Finding> {
    items
        .iter()
        .filter(|m| method_kind(m) != "password")
        .filter_map(|m| {
            let at = time_of(m, "createdDateTime")?;
            (at >= since).then(|| {
                let name = text(m, "displayName")
                    .map(|n| format!(" \"{n}\""))
                    .unwrap_or_default();
                Finding {
                    kind: "method_registered",
                    file: super::METHODS,
                    record: text(m, "id").unwrap_or_default().to_owned(),
                    at: text(m, "createdDateTime").map(str::to_owned),
                    detail: format!(
                        "{} method{name} registered at {}",
                        method_kind(m),
                        text(m, "createdDateTime").unwrap_or_default()
                    ),
                }
            })
        })
        .collect()
}

/// Credentials (secrets and certificates) whose `startDateTime` is in the window, on the apps
/// and service principals the user owns.
pub fn credentials(apps: &[Value], since: OffsetDateTime) -> Vec<Finding> {
    let mut out = Vec::new();
    for app in apps {
        let app_name = text(app, "displayName").unwrap_or("an app");
        let app_id = text(app, "id").unwrap_or_default();
        for (key, what) in [
            ("passwordCredentials", "secret"),
            ("keyCredentials", "certificate"),
        ] {
            for c in app.get(key).and_then(Value::as_array).into_iter().flatten() {
                let Some(at) = time_of(c, "startDateTime") else {
                    continue;
                };
                if at < since {
                    continue;
                }
                let name = text(c, "displayName")
                    .map(|n| format!(" \"{n}\""))
                    .unwrap_or_default();
                out.push(Finding {
                    kind: "credential_added",
                    file: super::OWNED_APPS,
                    record: format!("{app_id}/{}", text(c, "keyId").unwrap_or_default()),
                    at: text(c, "startDateTime").map(str::to_owned),
                    detail: format!(
                        "{what}{name} valid from {} on \"{app_name}\", which the user owns",
                        text(c, "startDateTime").unwrap_or_default()
                    ),
                });
            }
        }
    }
    out
}

/// Consent and authentication method changes the directory audit log records in the window
/// (learn: entra/identity/monitoring-health/reference-audit-activities: "Consent to
/// application" in ApplicationManagement; security info changes logged by the "Authentication
/// Methods" service).
pub fn audits(items: &[Value], since: OffsetDateTime) -> Vec<Finding> {
    items
        .iter()
        .filter_map(|a| {
            let at = time_of(a, "activityDateTime")?;
            if at < since {
                return None;
            }
            let activity = text(a, "activityDisplayName").unwrap_or_default().trim();
            let lower = activity.to_ascii_lowercase();
            let what = if lower.contains("consent") {
                "consent"
            } else if text(a, "loggedByService") == Some("Authentication Methods")
                || lower.contains("security info")
                || lower.contains("authentication method")
            {
                "method change"
            } else {
                return None;
            };
            let by = a
                .pointer("/initiatedBy/user/userPrincipalName")
                .and_then(Value::as_str)
                .or_else(|| {
                    a.pointer("/initiatedBy/app/displayName")
                        .and_then(Value::as_str)
                })
                .unwrap_or("unknown");
            let ip = a
                .pointer("/initiatedBy/user/ipAddress")
                .and_then(Value::as_str)
                .filter(|ip| !ip.is_empty())
                .map(|ip| format!(" from {ip}"))
                .unwrap_or_default();
            Some(Finding {
                kind: "audited_change",
                file: super::DIRECTORY_AUDITS,
                record: text(a, "id").unwrap_or_default().to_owned(),
                at: text(a, "activityDateTime").map(str::to_owned),
                detail: format!(
                    "{what} in the audit log: \"{activity}\" by {by}{ip} at {}",
                    text(a, "activityDateTime").unwrap_or_default()
                ),
            })
        })
        .collect()
}

/// A successful sign-in from an IP address that also produced failed sign-ins for the user in
/// the window (learn: resources/signinstatus, `errorCode` 0 is a success). One finding per
/// address: its first success after a failure.
pub fn sign_ins(items: &[Value], since: OffsetDateTime) -> Vec<Finding> {
    let mut failures: HashMap<&str, usize> = HashMap::new();
    let mut first_failure: HashMap<&str, OffsetDateTime> = HashMap::new();
    // Sign-ins come newest first; read them oldest first.
    let mut in_window: Vec<(&Value, OffsetDateTime)> = items
        .iter()
        .filter_map(|s| Some((s, time_of(s, "createdDateTime")?)))
        .filter(|(_, at)| *at >= since)
        .collect();
    in_window.sort_by_key(|(_, at)| *at);
    for (s, at) in &in_window {
        let (Some(ip), Some(code)) = (
            text(s, "ipAddress"),
            s.pointer("/status/errorCode").and_then(Value::as_i64),
        ) else {
            continue;
        };
        if code != 0 {
            *failures.entry(ip).or_default() += 1;
            first_failure.entry(ip).or_insert(*at);
        }
    }
    let mut out = Vec::new();
    let mut said: Vec<&str> = Vec::new();
    for (s, at) in &in_window {
        let Some(ip) = text(s, "ipAddress") else {
            continue;
        };
        let success = s.pointer("/status/errorCode").and_then(Value::as_i64) == Some(0);
        let after = first_failure.get(ip).is_some_and(|f| f <= at);
        if !success || !after || said.contains(&ip) {
            continue;
        }
        said.push(ip);
        out.push(Finding {
            kind: "sign_in_after_failures",
            file: super::SIGN_INS,
            record: text(s, "id").unwrap_or_default().to_owned(),
            at: text(s, "createdDateTime").map(str::to_owned),
            detail: format!(
                "successful sign-in from {ip} at {}, an address with {} failed sign-in(s) for this user in the window",
                text(s, "createdDateTime").unwrap_or_default(),
                failures[ip]
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SINCE: OffsetDateTime = time::macros::datetime!(2026-12-01 00:00 UTC);

    #[test]
    fn a_success_after_failures_from_the_same_address() {
        let s = |id: &str, at: &str, ip: &str, code: i64| json!({"id": id, "createdDateTime": at, "ipAddress": ip, "status": {"errorCode": code}});
        let items = vec![
            s("4", "2026-12-02T10:06:00Z", "1.2.3.4", 0),
            s("3", "2026-12-02T10:01:00Z", "1.2.3.4", 50126),
            s("2", "2026-12-02T10:00:00Z", "1.2.3.4", 50126),
            s("1", "2026-12-02T09:00:00Z", "5.6.7.8", 0),
            s("0", "2026-11-20T09:00:00Z", "5.6.7.8", 50126),
        ];
        let found = sign_ins(&items, SINCE);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].record, "4");
        assert!(found[0].detail.contains("2 failed"), "{}", found[0].detail);
    }

    #[test]
    fn methods_in_the_window_but_never_the_password() {
        let items = vec![
            json!({"@odata.type": "#microsoft.graph.passwordAuthenticationMethod", "id": "p", "createdDateTime": "2026-12-02T00:00:00Z"}),
            json!({"@odata.type": "#microsoft.graph.fido2AuthenticationMethod", "id": "f", "displayName": "Key", "createdDateTime": "2026-12-02T00:00:00Z"}),
            json!({"@odata.type": "#microsoft.graph.fido2AuthenticationMethod", "id": "old", "createdDateTime": "2025-12-02T00:00:00Z"}),
            json!({"@odata.type": "#microsoft.graph.phoneAuthenticationMethod", "id": "ph"}),
        ];
        let found = methods(&items, SINCE);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].record, "f");
        assert!(found[0].detail.starts_with("fido2 method \"Key\""));
    }

    #[test]
    fn credentials_and_audits_in_the_window() {
        let apps = vec![
            json!({"id": "app", "displayName": "A", "passwordCredentials": [
            {"keyId": "k1", "startDateTime": "2026-12-02T00:00:00Z"},
            {"keyId": "k0", "startDateTime": "2025-12-02T00:00:00Z"}], "keyCredentials": []}),
        ];
        assert_eq!(credentials(&apps, SINCE)[0].record, "app/k1");
        let audits_ = vec![
            json!({"id": "a", "activityDisplayName": "Consent to application", "activityDateTime": "2026-12-02T00:00:00Z"}),
            json!({"id": "b", "activityDisplayName": "Update user", "activityDateTime": "2026-12-02T00:00:00Z"}),
        ];
        let found = audits(&audits_, SINCE);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].record, "a");
    }
}

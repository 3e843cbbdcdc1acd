//! `lockdown status`: read-only view of what `block` changes, for each user.

use futures::StreamExt;
use serde::Serialize;

use super::{connect, Access, ExitStatus, Fatal, Next, Targets};
use crate::cli::{GlobalArgs, OutputFormat, StatusArgs};
use crate::graph::devices::{self, Device};
use crate::graph::users::{self, User};
use crate::graph::{paging, GraphError};
use crate::hints::{self, Operation};
use crate::report::ErrorReport;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceStatus {
    id: String,
    display_name: Option<String>,
    operating_system: Option<String>,
    account_enabled: Option<bool>,
    trust_type: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct UserStatus {
    target: String,
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_principal_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    on_premises_sync_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sign_in_sessions_valid_from_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    devices: Option<Vec<DeviceStatus>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    devices_error: Option<ErrorReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorReport>,
}

pub async fn run(global: &GlobalArgs, args: &StatusArgs) -> Result<ExitStatus, Fatal> {
    let mut targets = Targets::open(&args.users, args.from.as_deref()).await?;
    let session = connect(global, Access::ReadOnly).await?;
    let client = session.client.clone();
    let kind = session.token_kind;
    let mut ok = true;
    let mut jobs = Vec::new();
    loop {
        match targets.next().await {
            Ok(Some(Next::Job(job))) => jobs.push(job),
            Ok(Some(Next::Rejected(r))) => {
                ok = false;
                let line = r.line.map(|l| format!(" (line {l})")).unwrap_or_default();
                eprintln!("error: `{}`{line}: {}", r.raw, r.reason);
            }
            Ok(None) => break,
            Err(fatal) => {
                ok = false;
                eprintln!("error: {fatal}");
                break;
            }
        }
    }
    let mut unauthorized = false;
    let mut results = futures::stream::iter(jobs.into_iter().map(|job| {
        let client = client.clone();
        async move {
            let who = job.user.to_string();
            let label = format!("{}: status", job.raw);
            let (user, devices) = tokio::join!(
                async {
                    client
                        .send(&users::get(&who), &label)
                        .await
                        .and_then(|r| users::decode(&r))
                },
                async {
                    let items: Result<Vec<serde_json::Value>, GraphError> =
                        paging::collect_all(&client, devices::list_registered(&who), &label).await;
                    items.and_then(devices::from_directory_objects)
                }
            );
            (job.raw, user, devices)
        }
    }))
    .buffered(8);
    while let Some((target, user, devices)) = results.next().await {
        let status = build(target, user, devices, kind);
        if status.outcome != "found" {
            ok = false;
        }
        if status.error.as_ref().is_some_and(|e| e.status == Some(401)) {
            unauthorized = true;
        }
        match session.output {
            OutputFormat::Json => {
                println!("{}", serde_json::to_string(&status).expect("serializes"))
            }
            OutputFormat::Text => print!("{}", text(&status)),
        }
    }
    if unauthorized {
        return Ok(ExitStatus::Auth);
    }
    Ok(if ok {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

fn build(
    target: String,
    user: Result<User, GraphError>,
    devices: Result<Vec<Device>, GraphError>,
    kind: crate::auth::TokenKind,
) -> UserStatus {
    let mut s = UserStatus {
        target,
        outcome: "found",
        id: None,
        user_principal_name: None,
        display_name: None,
        account_enabled: None,
        user_type: None,
        on_premises_sync_enabled: None,
        sign_in_sessions_valid_from_date_time: None,
        devices: None,
        devices_error: None,
        error: None,
    };
    let user = match user {
        Ok(u) => u,
        Err(e) => {
            s.outcome = if e.is_not_found() {
                "not_found"
            } else {
                "failed"
            };
            s.error = Some(ErrorReport::from_graph(
                &e,
                hints::for_error(Operation::ReadUser, &e, kind, false),
            ));
            return s;
        }
    };
    s.id = Some(user.id.0);
    s.user_principal_name = user.user_principal_name;
    s.display_name = user.display_name;
    s.account_enabled = user.account_enabled;
    s.user_type = user.user_type;
    s.on_premises_sync_enabled = user.on_premises_sync_enabled;
    s.sign_in_sessions_valid_from_date_time =
        user.sign_in_sessions_valid_from_date_time.and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
    match devices {
        Ok(list) => {
            s.devices = Some(
                list.into_iter()
                    .map(|d| DeviceStatus {
                        id: d.id.0,
                        display_name: d.display_name,
                        operating_system: d.operating_system,
                        account_enabled: d.account_enabled,
                        trust_type: d.trust_type,
                    })
                    .collect(),
            )
        }
        Err(e) => {
            s.devices_error = Some(ErrorReport::from_graph(
                &e,
                hints::for_error(Operation::ListDevices, &e, kind, false),
            ))
        }
    }
    s
}

fn text(s: &UserStatus) -> String {
    let mut out = String::new();
    if s.outcome != "found" {
        out.push_str(&format!("{}: {}\n", s.target, s.outcome.replace('_', " ")));
        if let Some(e) = &s.error {
            out.push_str(&format!(
                "  error: {} {}: {}\n",
                e.status.map(|s| s.to_string()).unwrap_or_default(),
                e.code,
                e.message
            ));
            if let Some(h) = &e.hint {
                out.push_str(&format!("  hint: {h}\n"));
            }
        }
        return out;
    }
    let flag = |v: Option<bool>| match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    };
    out.push_str(&format!(
        "{} <{}>  (id {})\n",
        s.display_name.as_deref().unwrap_or(""),
        s.user_principal_name.as_deref().unwrap_or(&s.target),
        s.id.as_deref().unwrap_or("")
    ));
    out.push_str(&format!(
        "  account enabled:     {}\n",
        flag(s.account_enabled)
    ));
    out.push_str(&format!(
        "  user type:           {}\n",
        s.user_type.as_deref().unwrap_or("unknown")
    ));
    out.push_str(&format!(
        "  synced from on-prem: {}\n",
        flag(s.on_premises_sync_enabled.or(Some(false)))
    ));
    out.push_str(&format!(
        "  sessions valid from: {}\n",
        s.sign_in_sessions_valid_from_date_time
            .as_deref()
            .unwrap_or("unknown")
    ));
    match (&s.devices, &s.devices_error) {
        (Some(list), _) => {
            out.push_str(&format!("  registered devices:  {}\n", list.len()));
            for d in list {
                out.push_str(&format!(
                    "    - {} ({}): {}\n",
                    d.display_name.as_deref().unwrap_or(&d.id),
                    d.operating_system.as_deref().unwrap_or("unknown OS"),
                    if d.account_enabled == Some(false) {
                        "disabled"
                    } else {
                        "enabled"
                    }
                ));
            }
        }
        (None, Some(e)) => {
            out.push_str(&format!(
                "  registered devices:  could not be listed ({} {})\n",
                e.status.map(|s| s.to_string()).unwrap_or_default(),
                e.code
            ));
            if let Some(h) = &e.hint {
                out.push_str(&format!("    hint: {h}\n"));
            }
        }
        _ => {}
    }
    out
}

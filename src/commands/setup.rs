//! `lockdown setup`: create, once per tenant, the Conditional Access block group and the
//! policy that blocks its members, which the `block_sign_in` step adds users to.
//!
//! Idempotent: the group is found by its mailNickname, the policy by the group it includes (or
//! its name); a second run finds both and sends no write (`already`). A policy changed since
//! (off, report-only, the group no longer included, exclusions dropped) is reported, and
//! repaired only with `--force`. The policy always excludes the emergency-access accounts
//! given with `--exclude` (learn: entra/identity/role-based-access-control/security-emergency-access),
//! unless `--no-exclusions` says otherwise on purpose. Requests: `GET /groups?$filter=...`,
//! `POST /groups`, `GET/POST/PATCH /identity/conditionalAccess/policies`; Conditional Access
//! needs Microsoft Entra ID P1.
//!
//! Exit status: 0 when both exist as they should (created, already there, or planned with
//! `--dry-run`); 1 when a write failed, the tenant lacks P1, or a changed policy was left
//! unrepaired; 2 for bad input (an `--exclude` that is no user); 3 for credentials.

use std::io::Write;

use serde_json::{json, Map, Value};

use super::{connect, Access, ExitStatus, Fatal};
use crate::cli::{Global, OutputFormat, SetupArgs};
use crate::graph::conditional_access::{self, Policy, State};
use crate::graph::groups::{self, Group, GroupId};
use crate::graph::{paging, subscribed_skus, users, GraphClient, GraphError, GraphRequest};
use crate::report::ErrorReport;

/// What setup did (or would do) to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Done,
    Already,
    Planned,
    /// A changed policy left as it is (no `--force`).
    Changed,
    Failed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Done => "done",
            Status::Already => "already",
            Status::Planned => "planned",
            Status::Changed => "changed",
            Status::Failed => "failed",
        }
    }
}

/// One object's line of the result.
struct Line {
    status: Status,
    text: String,
    json: Map<String, Value>,
}

pub async fn run(global: &Global, args: &SetupArgs) -> Result<ExitStatus, Fatal> {
    let want = if args.report_only {
        State::ReportOnly
    } else {
        State::Enabled
    };
    let access = if args.dry_run {
        Access::ReadOnly
    } else {
        Access::ReadWrite
    };
    let session = connect(global, access).await?;
    let client = &session.client;
    let exclude = resolve_exclusions(client, &args.exclude).await?;
    licensed(client).await?;

    let mut lines = Vec::new();
    let (group, line) = group(client, args.dry_run).await?;
    lines.push(line);
    let group_planned = line_status(&lines) == Some(Status::Planned);
    let line = match &group {
        Some(group) => policy(client, args, group, &exclude, want).await?,
        None if group_planned => planned_policy(None, &exclude, want),
        None => Line {
            status: Status::Failed,
            text: "policy: not created, since the group could not be".into(),
            json: obj(json!({"status": "failed"})),
        },
    };
    lines.push(line);
    print(global.output, &lines);
    let failed = lines
        .iter()
        .any(|l| matches!(l.status, Status::Failed | Status::Changed));
    Ok(if failed {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

fn line_status(lines: &[Line]) -> Option<Status> {
    lines.last().map(|l| l.status)
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn graph_error(e: &GraphError, hint: Option<&str>) -> ErrorReport {
    ErrorReport::from_graph(
        e,
        hint.map(|h| crate::hints::Hint(h.to_owned()))
            .or_else(|| crate::hints::common(e)),
    )
}

fn fatal_if_unauthorized(e: &GraphError) -> Result<(), Fatal> {
    if e.is_unauthorized() || e.is_token_expired() {
        return Err(Fatal::auth(
            format!("Graph rejected the token: {e}"),
            crate::hints::common(e).map(|h| h.0),
        ));
    }
    Ok(())
}

/// Each `--exclude` as an object id; one that is no user ends the run before any write.
async fn resolve_exclusions(client: &GraphClient, given: &[String]) -> Result<Vec<String>, Fatal> {
    let mut ids = Vec::new();
    for who in given.iter().map(|w| w.trim()).filter(|w| !w.is_empty()) {
        match client.send(&users::get(who), "setup: excluded account").await {
            Ok(resp) => {
                let user = users::decode(&resp).map_err(|e| {
                    Fatal::failure(format!("could not read the excluded account `{who}`: {e}"))
                })?;
                if !ids.contains(&user.id.0) {
                    ids.push(user.id.0);
                }
            }
            Err(e) if e.is_not_found() => {
                return Err(Fatal::usage(format!(
                    "--exclude {who}: no user with this userPrincipalName or object id; nothing was written"
                )))
            }
            Err(e) => {
                fatal_if_unauthorized(&e)?;
                return Err(Fatal::failure(format!(
                    "could not read the excluded account `{who}`: {e}; nothing was written"
                ))
                .with_hint("reading users needs User.Read.All (or Directory.Read.All)"));
            }
        }
    }
    Ok(ids)
}

/// Conditional Access needs Microsoft Entra ID P1: when the tenant's licences can be read and
/// lack it, say so before writing anything.
async fn licensed(client: &GraphClient) -> Result<(), Fatal> {
    match paging::collect_all::<subscribed_skus::SubscribedSku>(
        client,
        subscribed_skus::list(),
        "setup: licences",
    )
    .await
    {
        Ok(skus) => {
            let plans = subscribed_skus::active_plans(&skus);
            if plans
                .iter()
                .any(|p| p == "AAD_PREMIUM" || p == "AAD_PREMIUM_P2")
            {
                Ok(())
            } else {
                Err(Fatal::failure(
                    "the tenant has no Microsoft Entra ID P1 (or P2) licence, which Conditional Access needs; nothing was written",
                ))
            }
        }
        Err(e) => {
            fatal_if_unauthorized(&e)?;
            // Not readable (Organization.Read.All): Graph itself refuses the policy without P1.
            tracing::info!("the tenant's licences could not be read ({e}); going on");
            Ok(())
        }
    }
}

/// Find the block group, or create it. `None` when it is not there (and could not be created).
async fn group(client: &GraphClient, dry_run: bool) -> Result<(Option<Group>, Line), Fatal> {
    let found = client
        .send(
            &groups::find_by_nickname(groups::BLOCK_NICKNAME),
            "setup: find group",
        )
        .await
        .and_then(|r| groups::decode_list(&r));
    let found = match found {
        Ok(found) => found,
        Err(e) => {
            fatal_if_unauthorized(&e)?;
            let err = graph_error(&e, Some("finding the group needs GroupMember.Read.All (or Group.Read.All, Directory.Read.All)"));
            return Ok((
                None,
                Line {
                    status: Status::Failed,
                    text: format!(
                        "group:  could not be looked up ({} {})",
                        err.status.unwrap_or(0),
                        err.code
                    ),
                    json: obj(json!({"status": "failed", "error": err})),
                },
            ));
        }
    };
    if let Some(g) = found.into_iter().next() {
        let line = Line {
            status: Status::Already,
            text: format!(
                "group:  already there: \"{}\" ({}, {})",
                g.display_name
                    .as_deref()
                    .unwrap_or(groups::BLOCK_DISPLAY_NAME),
                groups::BLOCK_NICKNAME,
                g.id
            ),
            json: obj(
                json!({"status": "already", "id": g.id, "mailNickname": groups::BLOCK_NICKNAME}),
            ),
        };
        return Ok((Some(g), line));
    }
    let create = groups::create_block_group();
    if dry_run {
        return Ok((
            None,
            Line {
                status: Status::Planned,
                text: format!("group:  would send {}", describe(&create)),
                json: obj(json!({"status": "planned", "requests": [describe(&create)]})),
            },
        ));
    }
    match client
        .send(&create, "setup: create group")
        .await
        .and_then(|r| r.json::<Group>())
    {
        Ok(g) => {
            let line = Line {
                status: Status::Done,
                text: format!(
                    "group:  created \"{}\" ({}, {})",
                    groups::BLOCK_DISPLAY_NAME,
                    groups::BLOCK_NICKNAME,
                    g.id
                ),
                json: obj(
                    json!({"status": "done", "id": g.id, "mailNickname": groups::BLOCK_NICKNAME}),
                ),
            };
            Ok((Some(g), line))
        }
        Err(e) => {
            fatal_if_unauthorized(&e)?;
            let err = graph_error(
                &e,
                Some("creating the group needs Group.Create (application) or Group.ReadWrite.All"),
            );
            Ok((
                None,
                Line {
                    status: Status::Failed,
                    text: format!(
                        "group:  could not be created ({} {}: {})",
                        err.status.unwrap_or(0),
                        err.code,
                        err.message
                    ),
                    json: obj(json!({"status": "failed", "error": err})),
                },
            ))
        }
    }
}

/// A request as plans show it: `POST /v1.0/groups {body}`.
fn describe(req: &GraphRequest) -> String {
    match &req.body {
        Some(b) => format!("{} {}", req.describe(), b.0),
        None => req.describe(),
    }
}

fn planned_policy(group: Option<&GroupId>, exclude: &[String], want: State) -> Line {
    let id = group
        .cloned()
        .unwrap_or(GroupId("<the new group's id>".into()));
    let create =
        conditional_access::create(conditional_access::block_policy_body(&id, exclude, want));
    Line {
        status: Status::Planned,
        text: format!("policy: would send {}", describe(&create)),
        json: obj(json!({"status": "planned", "requests": [describe(&create)]})),
    }
}

async fn policy(
    client: &GraphClient,
    args: &SetupArgs,
    group: &Group,
    exclude: &[String],
    want: State,
) -> Result<Line, Fatal> {
    let listed = match client
        .send(&conditional_access::list(), "setup: read policies")
        .await
    {
        Ok(resp) => paging::complete(client, resp, None, "setup: read policies")
            .await
            .and_then(|r| conditional_access::decode_list(&r)),
        Err(e) => Err(e),
    };
    let policies = match listed {
        Ok(p) => p,
        Err(e) => {
            fatal_if_unauthorized(&e)?;
            let err = graph_error(&e, Some("reading Conditional Access policies needs Policy.Read.All; a delegated caller also needs the Conditional Access Administrator role"));
            return Ok(Line {
                status: Status::Failed,
                text: format!(
                    "policy: could not be read ({} {}: {})",
                    err.status.unwrap_or(0),
                    err.code,
                    err.message
                ),
                json: obj(json!({"status": "failed", "error": err})),
            });
        }
    };
    let Some(existing) = conditional_access::block_policy(&policies, &group.id) else {
        let body = conditional_access::block_policy_body(&group.id, exclude, want);
        if args.dry_run {
            return Ok(planned_policy(Some(&group.id), exclude, want));
        }
        let create = conditional_access::create(body);
        return Ok(match client
            .send(&create, "setup: create policy")
            .await
            .and_then(|r| r.json::<Policy>())
        {
            Ok(p) => Line {
                status: Status::Done,
                text: format!(
                    "policy: created \"{}\" ({}; blocks the group for all cloud apps; {} excluded account(s))",
                    conditional_access::BLOCK_POLICY_NAME,
                    want.label(),
                    exclude.len()
                ),
                json: obj(json!({"status": "done", "id": p.id, "state": want.as_str(), "excludeUsers": exclude})),
            },
            Err(e) => {
                fatal_if_unauthorized(&e)?;
                write_failed(&e, "created")
            }
        });
    };
    let drift = existing.drift(&group.id, want, exclude);
    let name = existing.display_name.as_deref().unwrap_or(&existing.id);
    if drift.is_empty() {
        return Ok(Line {
            status: Status::Already,
            text: format!(
                "policy: already there: \"{name}\" ({})",
                existing.state().label()
            ),
            json: obj(
                json!({"status": "already", "id": existing.id, "state": existing.state().as_str(), "excludeUsers": existing.conditions.users.exclude_users}),
            ),
        });
    }
    let body =
        conditional_access::block_policy_body(&group.id, &existing.exclusions_with(exclude), want);
    let repair = conditional_access::update(&existing.id, body);
    if !args.force {
        return Ok(Line {
            status: Status::Changed,
            text: format!(
                "policy: \"{name}\" changed since setup: {}; left as it is (pass --force to repair it)",
                drift.join("; ")
            ),
            json: obj(json!({"status": "changed", "id": existing.id, "changes": drift})),
        });
    }
    if args.dry_run {
        return Ok(Line {
            status: Status::Planned,
            text: format!(
                "policy: changed since setup: {}; would send {}",
                drift.join("; "),
                describe(&repair)
            ),
            json: obj(
                json!({"status": "planned", "id": existing.id, "changes": drift, "requests": [describe(&repair)]}),
            ),
        });
    }
    Ok(match client.send(&repair, "setup: repair policy").await {
        Ok(_) => Line {
            status: Status::Done,
            text: format!("policy: repaired \"{name}\" ({})", drift.join("; ")),
            json: obj(
                json!({"status": "done", "id": existing.id, "state": want.as_str(), "repaired": drift}),
            ),
        },
        Err(e) => {
            fatal_if_unauthorized(&e)?;
            write_failed(&e, "repaired")
        }
    })
}

fn write_failed(e: &GraphError, what: &str) -> Line {
    let hint = if conditional_access::is_unlicensed(e) {
        "the tenant has no Microsoft Entra ID P1 (or P2) licence, which Conditional Access needs"
    } else {
        "writing the policy needs Policy.ReadWrite.ConditionalAccess with Policy.Read.All; a delegated caller also needs the Conditional Access Administrator role"
    };
    let err = graph_error(e, Some(hint));
    Line {
        status: Status::Failed,
        text: format!(
            "policy: could not be {what} ({} {}: {})\n  hint: {hint}",
            err.status.unwrap_or(0),
            err.code,
            err.message
        ),
        json: obj(json!({"status": "failed", "error": err})),
    }
}

fn print(format: OutputFormat, lines: &[Line]) {
    let mut out = std::io::stdout().lock();
    match format {
        OutputFormat::Json => {
            let mut m = Map::new();
            for (key, line) in ["group", "policy"].iter().zip(lines) {
                let mut j = line.json.clone();
                j.insert("status".into(), json!(line.status.as_str()));
                m.insert((*key).into(), Value::Object(j));
            }
            let _ = writeln!(out, "{}", Value::Object(m));
        }
        OutputFormat::Text => {
            for line in lines {
                let _ = writeln!(out, "{}", line.text);
            }
        }
    }
    let _ = out.flush();
}

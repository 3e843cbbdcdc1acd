//! One user's lockdown: resolve, the ordered writes, and the outcome.

use super::*;

/// Every Graph result of a user's work passes here: a 401 stops the whole run.
pub(super) fn checked<T>(ctx: &Ctx, result: Result<T, GraphError>) -> Result<T, GraphError> {
    if result.as_ref().is_err_and(GraphError::is_unauthorized) {
        ctx.unauthorized.store(true, Ordering::Relaxed);
    }
    result
}

/// Send one request for a user's step.
pub(super) async fn send(
    ctx: &Ctx,
    req: &GraphRequest,
    label: &str,
) -> Result<GraphResponse, GraphError> {
    checked(ctx, ctx.client.send(req, label).await)
}

pub(super) fn error(ctx: &Ctx, op: Operation, err: &GraphError, synced: bool) -> ErrorReport {
    ErrorReport::from_graph(err, hints::for_error(op, err, ctx.token_kind, synced))
}

pub(super) async fn list_devices(
    ctx: &Ctx,
    who: &str,
    label: &str,
) -> Result<Vec<Device>, GraphError> {
    let items = paging::collect_all(&ctx.client, devices::list_registered(who), label).await;
    checked(ctx, items).and_then(devices::from_directory_objects)
}

pub(super) fn timestamp(t: Option<OffsetDateTime>) -> Option<String> {
    t.and_then(|t| {
        t.replace_nanosecond(0)
            .ok()?
            .format(&time::format_description::well_known::Rfc3339)
            .ok()
    })
}

pub(super) fn snapshot(user: &User, devices: Option<&[Device]>) -> Snapshot {
    Snapshot {
        account_enabled: user.account_enabled,
        sign_in_sessions_valid_from_date_time: timestamp(
            user.sign_in_sessions_valid_from_date_time,
        ),
        devices: devices.map(|ds| {
            ds.iter()
                .map(|d| DeviceSnapshot {
                    id: d.id.0.clone(),
                    account_enabled: d.account_enabled,
                })
                .collect()
        }),
    }
}

pub(super) fn is_protected(ctx: &Ctx, user: &User) -> Option<String> {
    let id = user.id.0.to_ascii_lowercase();
    let upn = user
        .user_principal_name
        .as_deref()
        .map(str::to_ascii_lowercase);
    let matches = |key: &str| key == id || upn.as_deref() == Some(key);
    if let Some(me) = &ctx.me {
        if me.id == id || (me.upn.is_some() && me.upn == upn) {
            return Some(
                "this is the account running lockdown; locking it would cut off this session (pass --force to lock it anyway)"
                    .into(),
            );
        }
    }
    if ctx.protect.iter().any(|p| matches(p)) {
        return Some(
            "this account is protected (--protect / LOCKDOWN_PROTECT), e.g. a break-glass account; pass --force to lock it anyway"
                .into(),
        );
    }
    None
}

/// Entra admin roles the target holds.
pub(super) async fn admin_roles(
    ctx: &Ctx,
    who: &str,
    label: &str,
) -> Result<Vec<String>, GraphError> {
    let roles: Vec<roles::DirectoryRole> = checked(
        ctx,
        paging::collect_all(&ctx.client, roles::list(who), label).await,
    )?;
    Ok(roles
        .into_iter()
        .map(|r| {
            r.display_name
                .or(r.role_template_id)
                .unwrap_or_else(|| "unnamed role".into())
        })
        .collect())
}

/// The role check is advisory: when roles cannot be read, say so once and carry on.
pub(super) fn roles_or_warn(
    ctx: &Ctx,
    roles: Result<Vec<String>, GraphError>,
) -> Option<Vec<String>> {
    match roles {
        Ok(roles) => Some(roles),
        Err(e) => {
            if !ctx.roles_unreadable.swap(true, Ordering::Relaxed) {
                warn!("cannot read targets' admin roles ({e}); carrying on without that check (it needs RoleManagement.Read.Directory or Directory.Read.All)");
            }
            None
        }
    }
}

pub(super) async fn block_user(ctx: &Ctx, job: Job) -> Option<UserReport> {
    let mut report = UserReport::new(&job.raw);
    let who = job.user.to_string();
    let label = |step: &str| format!("{}: {step}", job.raw);
    let steps = ctx.steps;

    // 1. Resolve, with the device list and the admin-role check alongside.
    let (user, device_list, roles) = tokio::join!(
        async {
            send(ctx, &users::get(&who), &label("resolve"))
                .await
                .and_then(|r| users::decode(&r))
        },
        async {
            if steps.disable_devices {
                Some(list_devices(ctx, &who, &label("list devices")).await)
            } else {
                None
            }
        },
        async {
            let l = label("read roles");
            admin_roles(ctx, &who, &l).await
        },
    );
    let user = match user {
        Ok(u) => u,
        Err(e) if e.is_not_found() => {
            report.outcome = Outcome::NotFound;
            report.reason = Some("no user with this userPrincipalName or object id".into());
            report.error = Some(error(ctx, Operation::ReadUser, &e, false));
            return Some(report);
        }
        Err(e) => {
            report.outcome = Outcome::Failed;
            report.reason = Some("could not read the user".into());
            report.error = Some(error(ctx, Operation::ReadUser, &e, false));
            return Some(report);
        }
    };
    report.id = Some(user.id.0.clone());
    report.user_principal_name = user.user_principal_name.clone();
    report.display_name = user.display_name.clone();

    if !ctx
        .resolved
        .lock()
        .unwrap()
        .insert(user.id.0.to_ascii_lowercase())
    {
        info!(
            "{}: the same account as another entry (by UPN and by id); acting on it once",
            job.raw
        );
        return None;
    }
    if !ctx.force {
        if let Some(reason) = is_protected(ctx, &user) {
            report.outcome = Outcome::Refused;
            report.reason = Some(reason);
            return Some(report);
        }
    }
    if let Some(roles) = roles_or_warn(ctx, roles).filter(|r| !r.is_empty()) {
        report.warnings.push(format!(
            "holds Entra admin role(s) {}: disabling it, resetting its password and revoking its sessions need Privileged Authentication Administrator (or Global Administrator)",
            roles.join(", ")
        ));
    }
    if user.is_synced() {
        report.warnings.push(
            "synced from on-premises Active Directory: Graph cannot disable it or reset its password; do that on-premises"
                .into(),
        );
    }
    let devices_before = match &device_list {
        Some(Ok(list)) => Some(list.clone()),
        _ => None,
    };
    report.before = Some(snapshot(&user, devices_before.as_deref()));

    if steps.dry_run {
        plan(ctx, &mut report, &user, device_list, steps);
        report.outcome = Outcome::Planned;
        return Some(report);
    }
    let id = &user.id;
    let synced = user.is_synced();

    // 2-5. The writes, as one ordered plan: disable, revoke, reset, then the devices. Each
    // runs whatever happened to the one before.
    if let Some(r) = interrupted(ctx, &mut report) {
        return Some(r);
    }
    let wants_disable = steps.disable_account && user.account_enabled != Some(false);
    let wants_password = steps.reset_password && !user.is_guest();
    let to_disable: Vec<&Device> = match &device_list {
        Some(Ok(list)) => list
            .iter()
            .filter(|d| d.account_enabled != Some(false))
            .collect(),
        _ => Vec::new(),
    };
    let mut stages: Vec<Vec<Step>> = Vec::new();
    let step = |req: GraphRequest, what: &str| Step {
        req,
        label: label(what),
    };
    if wants_disable {
        stages.push(vec![step(users::disable(id), "disable account")]);
    }
    if steps.revoke_sessions {
        stages.push(vec![step(
            users::revoke_sign_in_sessions(id),
            "revoke sessions",
        )]);
    }
    if wants_password {
        let password = crate::password::generate();
        stages.push(vec![step(
            users::reset_password(id, &password),
            "reset password",
        )]);
    }
    if !to_disable.is_empty() {
        stages.push(
            to_disable
                .iter()
                .map(|d| step(devices::disable(&d.id), "disable devices"))
                .collect(),
        );
    }
    let mut outcomes = ctx.client.execute(stages).await.into_iter();
    let mut next = || checked(ctx, outcomes.next().expect("one outcome per request"));

    report.steps.push(if !steps.disable_account {
        skipped_by_flag(StepName::DisableAccount)
    } else if !wants_disable {
        StepReport::new(
            StepName::DisableAccount,
            StepStatus::Already,
            "the account was already disabled".to_owned(),
        )
    } else {
        match next() {
            Ok(_) => StepReport::new(
                StepName::DisableAccount,
                StepStatus::Done,
                "accountEnabled set to false: no new sign-in can start".to_owned(),
            ),
            Err(e) => StepReport::failed(
                StepName::DisableAccount,
                "the account could not be disabled",
                error(ctx, Operation::DisableAccount, &e, synced),
            ),
        }
    });

    let mut revoked_at = None;
    report.steps.push(if !steps.revoke_sessions {
        skipped_by_flag(StepName::RevokeSessions)
    } else {
        match next() {
            Ok(resp) => {
                // Graph's clock, not ours: verification compares against it.
                let at = resp.date().unwrap_or_else(OffsetDateTime::now_utc);
                revoked_at = Some(at);
                let mut detail = format!(
                    "sign-in sessions revoked at {}; access tokens already issued stay valid until they expire (up to about an hour)",
                    timestamp(Some(at)).unwrap_or_default()
                );
                if user.is_guest() {
                    detail.push_str("; this guest's sessions in its home tenant are not affected");
                }
                StepReport::new(StepName::RevokeSessions, StepStatus::Done, detail)
            }
            Err(e) => StepReport::failed(StepName::RevokeSessions, "sign-in sessions could not be revoked", error(ctx, Operation::RevokeSessions, &e, false)),
        }
    });

    report.steps.push(if !steps.reset_password {
        skipped_by_flag(StepName::ResetPassword)
    } else if user.is_guest() {
        guest_password_skipped()
    } else {
        match next() {
            Ok(_) => StepReport::new(StepName::ResetPassword, StepStatus::Done, "password reset to a random one nobody was shown; a change is required at next sign-in".to_owned()),
            Err(e) => StepReport::failed(StepName::ResetPassword, "the password could not be reset", error(ctx, Operation::ResetPassword, &e, synced)),
        }
    });

    let mut disabled_devices: Vec<String> = Vec::new();
    report.steps.push(match &device_list {
        None => skipped_by_flag(StepName::DisableDevices),
        Some(Err(e)) => StepReport::failed(
            StepName::DisableDevices,
            "the user's registered devices could not be listed",
            error(ctx, Operation::ListDevices, e, false),
        ),
        Some(Ok(list)) => {
            let mut results: HashMap<&str, Result<(), GraphError>> = HashMap::new();
            for d in &to_disable {
                results.insert(d.id.0.as_str(), next().map(|_| ()));
            }
            let step = device_step(ctx, list, &results);
            disabled_devices = step
                .devices
                .iter()
                .flatten()
                .filter(|d| d.status == StepStatus::Done)
                .map(|d| d.id.clone())
                .collect();
            step
        }
    });

    // 6. Verify by reading the account back.
    let disabled = report
        .step(StepName::DisableAccount)
        .is_some_and(|s| s.status == StepStatus::Done);
    let (verify, after) = verify(
        ctx,
        &user,
        Written {
            disabled,
            revoked_at,
            devices: &disabled_devices,
        },
        devices_before.as_deref(),
        &job.raw,
    )
    .await;
    report.steps.push(verify);
    report.after = after;
    report.outcome = outcome(&report.steps);
    Some(report)
}

/// Stop before a write once Ctrl-C was pressed; the report keeps the steps already done.
pub(super) fn interrupted(ctx: &Ctx, report: &mut UserReport) -> Option<UserReport> {
    if ctx.cancel.is_cancelled() || ctx.unauthorized.load(Ordering::Relaxed) {
        let mut r = report.clone();
        if ctx.cancel.is_cancelled() {
            r.outcome = Outcome::Interrupted;
            r.reason = Some("interrupted before this user was finished".into());
        } else {
            r.outcome = if r.steps.iter().any(|s| matches!(s.status, StepStatus::Done)) {
                Outcome::Partial
            } else {
                Outcome::Failed
            };
            r.reason = Some("stopped: Graph rejected the token".into());
        }
        return Some(r);
    }
    None
}

/// The devices step from the outcome of each device's write.
pub(super) fn device_step(
    ctx: &Ctx,
    list: &[Device],
    results: &HashMap<&str, Result<(), GraphError>>,
) -> StepReport {
    let mut reports = Vec::with_capacity(list.len());
    let (mut done, mut already, mut failed) = (0usize, 0usize, 0usize);
    for d in list {
        let (status, err) = match results.get(d.id.0.as_str()) {
            None => {
                already += 1;
                (StepStatus::Already, None)
            }
            Some(Ok(())) => {
                done += 1;
                (StepStatus::Done, None)
            }
            Some(Err(e)) => {
                failed += 1;
                let synced = d.on_premises_sync_enabled == Some(true);
                (
                    StepStatus::Failed,
                    Some(error(ctx, Operation::DisableDevice, e, synced)),
                )
            }
        };
        reports.push(device_report(d, status, err));
    }
    let status = if failed > 0 {
        StepStatus::Failed
    } else if done > 0 {
        StepStatus::Done
    } else {
        StepStatus::Already
    };
    let detail = if list.is_empty() {
        "no registered devices".to_owned()
    } else {
        let mut parts = Vec::new();
        if done > 0 {
            parts.push(format!("{done} disabled"));
        }
        if already > 0 {
            parts.push(format!("{already} already disabled"));
        }
        if failed > 0 {
            parts.push(format!("{failed} could not be disabled"));
        }
        format!("{} device(s): {}", list.len(), parts.join(", "))
    };
    StepReport {
        step: StepName::DisableDevices,
        status,
        detail: Some(detail),
        error: None,
        devices: Some(reports),
    }
}

pub(super) fn outcome(steps: &[StepReport]) -> Outcome {
    let failed = steps.iter().any(|s| s.status == StepStatus::Failed);
    let effect = steps.iter().any(|s| {
        s.step != StepName::Verify && matches!(s.status, StepStatus::Done | StepStatus::Already)
    });
    if !failed {
        Outcome::Locked
    } else if effect {
        Outcome::Partial
    } else {
        Outcome::Failed
    }
}

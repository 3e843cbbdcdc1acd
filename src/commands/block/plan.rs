//! `--dry-run`: exactly which writes would be sent, without sending them.

use super::*;

/// `--dry-run`: what would be sent, exactly, without sending it.
pub(super) fn plan(
    ctx: &Ctx,
    report: &mut UserReport,
    user: &User,
    device_list: Option<Result<Vec<Device>, GraphError>>,
    flags: Steps,
) {
    let steps = &mut report.steps;
    let id = &user.id;
    let would = |req: GraphRequest, body: &str| format!("would send {} {body}", req.describe());
    steps.push(if !flags.disable_account {
        StepReport::new(
            StepName::DisableAccount,
            StepStatus::Skipped,
            "skipped by --keep-enabled".to_owned(),
        )
    } else if user.account_enabled == Some(false) {
        StepReport::new(
            StepName::DisableAccount,
            StepStatus::Already,
            "the account is already disabled".to_owned(),
        )
    } else {
        StepReport::new(
            StepName::DisableAccount,
            StepStatus::Planned,
            would(users::disable(id), r#"{"accountEnabled":false}"#),
        )
    });
    steps.push(if !flags.revoke_sessions {
        StepReport::new(
            StepName::RevokeSessions,
            StepStatus::Skipped,
            "skipped by --skip-sessions".to_owned(),
        )
    } else {
        StepReport::new(
            StepName::RevokeSessions,
            StepStatus::Planned,
            would(users::revoke_sign_in_sessions(id), "(no body)"),
        )
    });
    steps.push(if !flags.reset_password {
        StepReport::new(StepName::ResetPassword, StepStatus::Skipped, "skipped by --skip-password".to_owned())
    } else if user.is_guest() {
        StepReport::new(StepName::ResetPassword, StepStatus::Skipped, "guest account: its password lives in its home tenant".to_owned())
    } else {
        StepReport::new(
            StepName::ResetPassword,
            StepStatus::Planned,
            format!(
                "would send PATCH /v1.0{} {{\"passwordProfile\":{{\"password\":<random, never shown>,\"forceChangePasswordNextSignIn\":true}}}}",
                crate::address::user_path(&id.0)
            ),
        )
    });
    match device_list {
        None => steps.push(StepReport::new(
            StepName::DisableDevices,
            StepStatus::Skipped,
            "skipped by --skip-devices".to_owned(),
        )),
        Some(Err(e)) => steps.push(StepReport::failed(
            StepName::DisableDevices,
            "the user's registered devices could not be listed",
            error(ctx, Operation::ListDevices, &e, false),
        )),
        Some(Ok(list)) => {
            let mut devices = Vec::new();
            let mut planned = 0;
            for d in &list {
                let status = if d.account_enabled == Some(false) {
                    StepStatus::Already
                } else {
                    planned += 1;
                    StepStatus::Planned
                };
                devices.push(DeviceReport {
                    id: d.id.0.clone(),
                    display_name: d.display_name.clone(),
                    operating_system: d.operating_system.clone(),
                    status,
                    error: None,
                });
            }
            let detail = if list.is_empty() {
                "no registered devices".to_owned()
            } else {
                format!("would send PATCH /v1.0/devices/{{id}} {{\"accountEnabled\":false}} for {planned} of {} device(s)", list.len())
            };
            steps.push(StepReport {
                step: StepName::DisableDevices,
                status: if planned > 0 {
                    StepStatus::Planned
                } else {
                    StepStatus::Already
                },
                detail: Some(detail),
                error: None,
                devices: Some(devices),
            });
        }
    }
    report.steps.push(StepReport::new(
        StepName::Verify,
        StepStatus::Planned,
        format!("would read back {}", users::get(&id.0).describe()),
    ));
}

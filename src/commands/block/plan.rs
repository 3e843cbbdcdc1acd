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
        skipped_by_flag(StepName::DisableAccount)
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
        skipped_by_flag(StepName::RevokeSessions)
    } else {
        StepReport::new(
            StepName::RevokeSessions,
            StepStatus::Planned,
            would(users::revoke_sign_in_sessions(id), "(no body)"),
        )
    });
    steps.push(if !flags.reset_password {
        skipped_by_flag(StepName::ResetPassword)
    } else if user.is_guest() {
        guest_password_skipped()
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
        None => steps.push(skipped_by_flag(StepName::DisableDevices)),
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
                devices.push(device_report(d, status, None));
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

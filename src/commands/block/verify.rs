//! Reading the account back to check that the lockdown took effect.

use super::*;

/// Graph stores whole seconds, and its `Date` header and the stored time come from different
/// moments of the same request, so the comparison allows one second.
pub(super) const CLOCK_SLACK: time::Duration = time::Duration::seconds(1);

/// What the write steps report as taken effect, for verify to check.
pub(super) struct Written<'a> {
    pub(super) disabled: bool,
    pub(super) revoked_at: Option<OffsetDateTime>,
    pub(super) devices: &'a [String],
}

pub(super) async fn verify(
    ctx: &Ctx,
    before: &User,
    written: Written<'_>,
    devices_before: Option<&[Device]>,
    raw: &str,
) -> (StepReport, Option<crate::report::Snapshot>) {
    let Written {
        disabled,
        revoked_at,
        devices: disabled_devices,
    } = written;
    let want_disabled = ctx.steps.disable_account;
    let label = format!("{raw}: verify");
    let mut last_problems = Vec::new();
    let mut last_error = None;
    let mut after = None;
    // Graph is eventually consistent: a read right after a write can miss it, so a result
    // that contradicts a write Graph accepted is read again a couple of times.
    for attempt in 0..3 {
        if attempt > 0 {
            ctx.client
                .retry_policy()
                .sleep(Duration::from_secs(attempt))
                .await;
        }
        let (user, devices) = tokio::join!(
            async {
                send(ctx, &users::get(&before.id.0), &label)
                    .await
                    .and_then(|r| users::decode(&r))
            },
            async {
                if disabled_devices.is_empty() {
                    None
                } else {
                    list_devices(ctx, &before.id.0, &label).await.ok()
                }
            }
        );
        let user = match user {
            Ok(u) => u,
            Err(e) => {
                last_error = Some(error(ctx, Operation::ReadUser, &e, false));
                last_problems = vec!["the account could not be read back".to_owned()];
                continue;
            }
        };
        last_error = None;
        let device_now = devices.as_deref().or(devices_before);
        after = Some(snapshot(&user, device_now));
        let mut problems = Vec::new();
        let mut contradicts_write = false;
        if want_disabled && user.account_enabled != Some(false) {
            problems.push("accountEnabled is still true".to_owned());
            contradicts_write |= disabled;
        }
        if let Some(at) = revoked_at {
            let floor = at.replace_nanosecond(0).unwrap_or(at);
            match user.sign_in_sessions_valid_from_date_time {
                Some(from) if from + CLOCK_SLACK >= floor => {}
                Some(from) => {
                    problems.push(format!(
                        "signInSessionsValidFromDateTime is {}, earlier than the revoke at {}",
                        timestamp(Some(from)).unwrap_or_default(),
                        timestamp(Some(floor)).unwrap_or_default()
                    ));
                    contradicts_write = true;
                }
                None => {
                    problems.push("signInSessionsValidFromDateTime was not returned".to_owned())
                }
            }
        } else if ctx.steps.revoke_sessions {
            problems.push("sign-in sessions were not revoked".to_owned());
        }
        if let Some(now) = &devices {
            for id in disabled_devices {
                if now
                    .iter()
                    .any(|d| &d.id.0 == id && d.account_enabled != Some(false))
                {
                    problems.push(format!("device {id} is still enabled"));
                    contradicts_write = true;
                }
            }
        }
        last_problems = problems;
        if last_problems.is_empty() || !contradicts_write {
            break;
        }
    }
    let step = if let Some(err) = last_error {
        StepReport::failed(StepName::Verify, last_problems.join("; "), err)
    } else if last_problems.is_empty() {
        let mut checks = Vec::new();
        if want_disabled {
            checks.push("accountEnabled is false".to_owned());
        }
        if revoked_at.is_some() {
            checks.push(format!(
                "sessions valid from {}",
                after
                    .as_ref()
                    .and_then(|a| a.sign_in_sessions_valid_from_date_time.clone())
                    .unwrap_or_default()
            ));
        }
        if !disabled_devices.is_empty() {
            checks.push(format!(
                "{} device(s) read back disabled",
                disabled_devices.len()
            ));
        }
        if checks.is_empty() {
            checks.push("the account was read back".into());
        }
        StepReport::new(StepName::Verify, StepStatus::Done, checks.join("; "))
    } else {
        StepReport::new(
            StepName::Verify,
            StepStatus::Failed,
            last_problems.join("; "),
        )
    };
    (step, after)
}

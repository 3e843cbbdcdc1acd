//! `lock_devices` (opt-in: `--with lock-devices`): Intune's remote lock for each of the user's
//! managed devices, `POST /deviceManagement/managedDevices/{id}/remoteLock`
//! (learn: graph/api/intune-devices-manageddevice-remotelock; no body, 204;
//! `DeviceManagementManagedDevices.PrivilegedOperations.All`), found through
//! `GET /users/{id}/managedDevices` (learn: graph/api/intune-devices-manageddevice-list).
//!
//! A lock takes effect when the device next checks in with Intune, and only locks the screen:
//! whoever knows the device's PIN or password unlocks it. Wipe and retire are not offered here,
//! since they destroy data; they belong in Intune. Nothing to undo, and nothing Graph reads back
//! to verify (the action's state is Intune's, reported per device).

use serde_json::{json, Map, Value};

use super::{
    item, About, Answers, Earlier, Phase, Prepared, Progress, Read, Reads, Request, RunCx,
    Selected, Step, UserCx,
};
use crate::auth::TokenKind;
use crate::check::{Finding, Licence, Requirement, Target};
use crate::graph::managed_devices::{self, ManagedDevice};
use crate::graph::paging::Items;
use crate::graph::GraphError;
use crate::hints::{self, Hint};
use crate::report::{ErrorReport, StepReport, StepStatus};

pub struct LockDevices;

const NAME: &str = "lock_devices";
const ABOUT: About = About {
    name: NAME,
    aliases: &[],
    phase: Phase::CleanUp,
    default_on: false,
    incident: false,
    skippable: true,
    stops_sign_in: false,
    action: Some("remote-lock the user's Intune devices"),
};
const MANAGED: &str = "managedDevices";

impl Step for LockDevices {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    /// The same listing `disable_devices` reads: each step reads what it acts on, so either
    /// can be skipped without the other.
    fn reads(&self, who: &str, _cx: &RunCx) -> Vec<Read> {
        vec![Read::paged(MANAGED, managed_devices::list_for_user(who))]
    }

    fn prepare(&self, _cx: &UserCx<'_>, mut reads: Reads, selected: Selected) -> Box<dyn Prepared> {
        if let Some(report) = selected.skipped_report(NAME) {
            return Box::new(State {
                devices: Vec::new(),
                requests: Vec::new(),
                report: Some(report),
            });
        }
        let listed = reads
            .take(MANAGED)
            .and_then(|r| r.json::<Items>())
            .and_then(|items| managed_devices::from_items(items.value));
        let devices = match listed {
            Ok(devices) => devices,
            Err(e) => {
                return Box::new(State {
                    devices: Vec::new(),
                    requests: Vec::new(),
                    report: Some(StepReport::failed(
                        NAME,
                        "the user's Intune managed devices could not be listed",
                        ErrorReport::from_graph(&e, list_hint(&e).or_else(|| hints::common(&e))),
                    )),
                })
            }
        };
        let requests: Vec<Request> = devices
            .iter()
            .enumerate()
            .map(|(n, d)| {
                Request::write(
                    n.to_string(),
                    managed_devices::remote_lock(&d.id),
                    "remote lock",
                )
            })
            .collect();
        let report = devices.is_empty().then(|| {
            StepReport::new(
                NAME,
                StepStatus::Already,
                "no Intune-managed devices".to_owned(),
            )
            .with_items("devices", Vec::new())
        });
        Box::new(State {
            devices,
            requests,
            report,
        })
    }

    // learn: graph/api/intune-devices-manageddevice-list, graph/api/
    // intune-devices-manageddevice-remotelock: both need an Intune licence; a delegated caller
    // also needs an Intune role that allows the action.
    fn requires(&self, cx: &RunCx) -> Vec<Requirement> {
        const LIST: &[&[&str]] = &[
            &["DeviceManagementManagedDevices.Read.All"],
            &["DeviceManagementManagedDevices.ReadWrite.All"],
        ];
        const LOCK: &[&[&str]] = &[&["DeviceManagementManagedDevices.PrivilegedOperations.All"]];
        const ROLES: &[&str] = &["Intune Administrator", "Global Administrator"];
        let lock = Requirement::new(
            "POST /deviceManagement/managedDevices/{id}/remoteLock",
            LOCK,
        )
        .with_licence(Licence::Intune);
        vec![
            Requirement::new("GET /users/{id}/managedDevices", LIST).with_licence(Licence::Intune),
            match cx.token_kind {
                TokenKind::AppOnly => lock,
                _ => lock.with_roles(ROLES),
            },
        ]
    }

    fn expect(
        &self,
        _target: &Target<'_>,
        mut reads: Reads,
        facts: &mut Map<String, Value>,
    ) -> Vec<Finding> {
        let listed = reads
            .take(MANAGED)
            .and_then(|r| r.json::<Items>())
            .and_then(|items| managed_devices::from_items(items.value));
        match listed {
            Ok(devices) => {
                facts.insert("managedDevices".into(), json!(devices.len()));
                if devices.is_empty() {
                    vec![Finding::nothing_to_send("no Intune-managed devices")]
                } else {
                    Vec::new()
                }
            }
            Err(e) if managed_devices::is_unavailable(&e) => {
                vec![Finding::missing(list_hint(&e).map(|h| h.0).unwrap_or_else(
                    || "the user's Intune devices cannot be listed".into(),
                ))]
            }
            Err(e) => vec![Finding::unknown(format!(
                "the user's Intune devices could not be listed ({})",
                crate::graph::short_reason(&e)
            ))],
        }
    }
}

fn list_hint(err: &GraphError) -> Option<Hint> {
    if managed_devices::is_not_licensed(err) {
        return hints::hint(
            "the tenant has no Intune licence: remote lock is an Intune action; leave out --with lock-devices",
        );
    }
    match err.status()? {
        403 => hints::hint(
            "the token needs DeviceManagementManagedDevices.Read.All to list the user's Intune devices (and, signed in as a user, an Intune role such as Intune Administrator)",
        ),
        _ => None,
    }
}

fn lock_hint(err: &GraphError) -> Option<Hint> {
    if managed_devices::is_not_licensed(err) {
        return hints::hint("the tenant has no Intune licence");
    }
    match err.status()? {
        403 => hints::hint(
            "the token needs DeviceManagementManagedDevices.PrivilegedOperations.All (and, signed in as a user, an Intune role that allows remote lock, such as Intune Administrator)",
        ),
        404 => hints::hint("Intune no longer has this device (retired or deleted meanwhile)"),
        _ => None,
    }
}

fn fields(d: &ManagedDevice) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("managedDeviceId".into(), json!(d.id.0));
    m.insert("deviceName".into(), json!(d.device_name));
    m.insert("operatingSystem".into(), json!(d.operating_system));
    if let Some(device_id) = d.entra_device_id() {
        m.insert("deviceId".into(), json!(device_id));
    }
    m
}

fn label(d: &ManagedDevice) -> String {
    format!(
        "{} ({})",
        d.name(),
        d.operating_system.as_deref().unwrap_or("unknown OS")
    )
}

struct State {
    devices: Vec<ManagedDevice>,
    /// Tagged with the device's index.
    requests: Vec<Request>,
    report: Option<StepReport>,
}

impl Prepared for State {
    fn requests(&self, _earlier: &[Earlier<'_>]) -> Vec<Request> {
        if self.report.is_some() {
            return Vec::new();
        }
        self.requests.clone()
    }

    fn planned(&self, _earlier: &[Earlier<'_>]) -> StepReport {
        if let Some(report) = &self.report {
            return report.clone();
        }
        let items = self
            .devices
            .iter()
            .map(|d| item(fields(d), label(d), StepStatus::Planned, None))
            .collect();
        StepReport::new(
            NAME,
            StepStatus::Planned,
            format!(
                "would send POST /v1.0/deviceManagement/managedDevices/{{id}}/remoteLock (no body) for {} device(s)",
                self.devices.len()
            ),
        )
        .with_items("devices", items)
    }

    fn finish(&mut self, mut answers: Answers, _earlier: &[Earlier<'_>]) -> Progress {
        if self.report.is_some() {
            return Progress::Done;
        }
        let results: Vec<Result<(), GraphError>> = self
            .requests
            .iter()
            .map(|r| answers.take(&r.tag).map(|_| ()))
            .collect();
        let mut items = Vec::with_capacity(self.devices.len());
        let (mut sent, mut failed) = (0usize, 0usize);
        for (d, result) in self.devices.iter().zip(&results) {
            let (status, err) = match result {
                Ok(()) => {
                    sent += 1;
                    (StepStatus::Done, None)
                }
                Err(e) => {
                    failed += 1;
                    let hint = lock_hint(e).or_else(|| hints::common(e));
                    (StepStatus::Failed, Some(ErrorReport::from_graph(e, hint)))
                }
            };
            items.push(item(fields(d), label(d), status, err));
        }
        let mut parts = Vec::new();
        if sent > 0 {
            parts.push(format!(
                "{sent} locked (each locks when it next checks in with Intune)"
            ));
        }
        if failed > 0 {
            parts.push(format!("{failed} could not be locked"));
        }
        let status = if failed > 0 {
            StepStatus::Failed
        } else {
            StepStatus::Done
        };
        self.report = Some(
            StepReport::new(
                NAME,
                status,
                format!("{} device(s): {}", self.devices.len(), parts.join(", ")),
            )
            .with_items("devices", items),
        );
        Progress::Done
    }

    fn report(&self) -> Option<StepReport> {
        self.report.clone()
    }
}

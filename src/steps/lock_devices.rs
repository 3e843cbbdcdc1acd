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

use super::listed::{Listing, Tally};
use super::require::{Finding, Licence, Requirement, Target};
use super::{
    item, About, Answers, Earlier, Phase, Prepared, Progress, Read, Reads, Request, RunCx,
    Selected, Step, UserCx,
};
use crate::auth::TokenKind;
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
        let mut devices = Listing::read(
            NAME,
            &selected,
            &mut reads,
            MANAGED,
            managed_devices::from_items,
            |e| {
                StepReport::failed(
                    NAME,
                    "the user's Intune managed devices could not be listed",
                    ErrorReport::from_graph(e, list_hint(e).or_else(|| hints::common(e))),
                )
            },
        );
        let requests: Vec<Request> = devices
            .items()
            .unwrap_or_default()
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
        if devices.items().is_some_and(|d| d.is_empty()) {
            devices.settle(
                StepReport::new(
                    NAME,
                    StepStatus::Already,
                    "no Intune-managed devices".to_owned(),
                )
                .with_items("devices", Vec::new()),
            );
        }
        Box::new(State { devices, requests })
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
    devices: Listing<ManagedDevice>,
    /// Tagged with the device's index.
    requests: Vec<Request>,
}

impl Prepared for State {
    fn requests(&self, _earlier: &[Earlier<'_>]) -> Vec<Request> {
        if self.devices.report().is_some() {
            return Vec::new();
        }
        self.requests.clone()
    }

    fn planned(&self, _earlier: &[Earlier<'_>]) -> StepReport {
        let devices = match self.devices.pending() {
            Ok(devices) => devices,
            Err(report) => return report.clone(),
        };
        let items = devices
            .iter()
            .map(|d| item(fields(d), label(d), StepStatus::Planned, None))
            .collect();
        StepReport::new(
            NAME,
            StepStatus::Planned,
            format!(
                "would send POST /v1.0/deviceManagement/managedDevices/{{id}}/remoteLock (no body) for {} device(s)",
                devices.len()
            ),
        )
        .with_items("devices", items)
    }

    fn finish(&mut self, mut answers: Answers, _earlier: &[Earlier<'_>]) -> Progress {
        let Ok(devices) = self.devices.pending() else {
            return Progress::Done;
        };
        let mut items = Vec::with_capacity(devices.len());
        let mut tally = Tally::default();
        for (d, r) in devices.iter().zip(&self.requests) {
            let (status, err) = match &answers.take(&r.tag) {
                Ok(_) => (StepStatus::Done, None),
                Err(e) => {
                    let hint = lock_hint(e).or_else(|| hints::common(e));
                    (StepStatus::Failed, Some(ErrorReport::from_graph(e, hint)))
                }
            };
            tally.add(status);
            items.push(item(fields(d), label(d), status, err));
        }
        let parts = tally.parts(&[
            (
                StepStatus::Done,
                "locked (each locks when it next checks in with Intune)",
            ),
            (StepStatus::Failed, "could not be locked"),
        ]);
        let report = StepReport::new(
            NAME,
            tally.status(&[StepStatus::Failed], StepStatus::Done),
            format!("{} device(s): {}", devices.len(), parts.join(", ")),
        )
        .with_items("devices", items);
        self.devices.settle(report);
        Progress::Done
    }

    fn report(&self) -> Option<StepReport> {
        self.devices.report().cloned()
    }
}

//! `enable_devices`, the undo of `disable_devices`.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::graph::devices::{self, DeviceObjectId};
use crate::graph::managed_devices::{self, ManagedDevice};
use crate::graph::GraphError;
use crate::steps::{Answers, Prepared, Read, Reads, Record, UserCx};

use super::*;

/// `enable_devices`, the undo: re-enable each device lockdown disabled (the report says `done`
/// for it, and it was enabled before), only if it still belongs to the user (a registered
/// device, or an Intune device of the user) and is still as lockdown left it. A report line
/// naming a device that is not the user's is refused for it.
pub(super) const UNDO: crate::steps::restore::Spec = crate::steps::restore::Spec {
    name: "enable_devices",
    items: "devices",
    noun: "device",
    flag: "accountEnabled",
    what: "enable devices",
};
pub(super) const BY_DEVICE_ID: &str = "deviceId:";

/// A device lockdown disabled, as the report tells it.
pub(super) struct Disabled {
    pub(super) object_id: Option<String>,
    pub(super) device_id: Option<String>,
    pub(super) fields: Map<String, Value>,
    pub(super) left_off: bool,
}

impl Disabled {
    /// The tag: the object id, or the `deviceId` for a device only Intune found.
    pub(super) fn key(&self) -> Option<String> {
        self.object_id.clone().or_else(|| {
            self.device_id
                .as_ref()
                .map(|d| format!("{BY_DEVICE_ID}{d}"))
        })
    }
}

pub(super) fn disabled_by_lockdown(record: &Record) -> Vec<Disabled> {
    let Some(step) = record.step(NAME) else {
        return Vec::new();
    };
    let entry = |state: &Map<String, Value>,
                 object_id: &Option<String>,
                 device_id: &Option<String>| {
        state
            .get("devices")
            .and_then(Value::as_array)
            .and_then(|ds| {
                ds.iter().find(|d| {
                    (object_id.is_some() && d["id"].as_str() == object_id.as_deref())
                        || (device_id.is_some() && d["deviceId"].as_str() == device_id.as_deref())
                })
            })
            .cloned()
    };
    step.get("devices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|d| d["status"] == json!("done"))
        .filter_map(|d| {
            let object_id = d["id"].as_str().map(str::to_owned);
            let device_id = d["deviceId"].as_str().map(str::to_owned);
            object_id.as_ref().or(device_id.as_ref())?;
            // Only what was enabled before (not read counts as enabled: lockdown disabled it).
            let before = entry(&record.before, &object_id, &device_id);
            if before.is_some_and(|b| b["accountEnabled"] == json!(false)) {
                return None;
            }
            let left_off = entry(&record.after, &object_id, &device_id)
                .is_some_and(|a| a["accountEnabled"] == json!(false));
            let mut fields = Map::new();
            for key in [
                "id",
                "displayName",
                "operatingSystem",
                "source",
                "deviceId",
                "managedDeviceId",
            ] {
                if let Some(v) = d.get(key) {
                    fields.insert(key.into(), v.clone());
                }
            }
            Some(Disabled {
                object_id,
                device_id,
                fields,
                left_off,
            })
        })
        .collect()
}

/// The reads that say whose each device is and whether it is on: the user's registered devices
/// and Intune devices, and each device only Intune knows, by its `deviceId`.
pub(super) fn undo_state_reads(id: &str, wanted: &[Disabled]) -> Vec<Read> {
    let mut reads = vec![
        Read::paged(LIST, devices::list_registered(id)),
        Read::paged(MANAGED, managed_devices::list_for_user(id)),
    ];
    for d in wanted {
        if let Some(device_id) = &d.device_id {
            reads.push(Read::one(
                format!("{BY_DEVICE_ID}{device_id}"),
                devices::get_by_device_id(device_id),
            ));
        }
    }
    reads
}

pub(super) fn undo_reads(id: &str, record: Option<&Record>) -> Vec<Read> {
    match record {
        Some(r) => {
            let wanted = disabled_by_lockdown(r);
            if wanted.is_empty() {
                Vec::new()
            } else {
                undo_state_reads(id, &wanted)
            }
        }
        None => Vec::new(),
    }
}

/// Each device's on/off now, by key (object id, and `deviceId:` for those read by deviceId).
pub(super) fn read_states(reads: &mut Answers) -> Result<HashMap<String, bool>, GraphError> {
    let mut states = HashMap::new();
    let registered = reads
        .take(LIST)
        .and_then(|r| r.json::<crate::graph::paging::Items>())
        .and_then(|items| devices::from_directory_objects(items.value));
    for (tag, answer) in reads.drain_prefix(BY_DEVICE_ID) {
        if let Ok(d) = answer.and_then(|r| devices::decode(&r)) {
            if let Some(on) = d.account_enabled {
                states.insert(tag, on);
                states.insert(d.id.0.clone(), on);
            }
        }
    }
    for d in registered? {
        if let Some(on) = d.account_enabled {
            states.insert(d.id.0.clone(), on);
        }
    }
    Ok(states)
}

pub(super) fn undo(
    cx: &UserCx<'_>,
    mut reads: Reads,
    record: Option<&Record>,
) -> Option<Box<dyn Prepared>> {
    use crate::steps::restore::{self, Candidate, Now, ReadBack};
    let wanted = disabled_by_lockdown(record?);
    if wanted.is_empty() {
        return None;
    }
    let registered = reads
        .take(LIST)
        .and_then(|r| r.json::<crate::graph::paging::Items>())
        .and_then(|items| devices::from_directory_objects(items.value));
    // Intune may be absent from the tenant: then only registered devices count as the user's.
    let managed: Vec<ManagedDevice> = reads
        .take(MANAGED)
        .and_then(|r| r.json::<crate::graph::paging::Items>())
        .and_then(|items| managed_devices::from_items(items.value))
        .unwrap_or_default();
    let mut candidates = Vec::with_capacity(wanted.len());
    for d in wanted {
        let key = d.key().expect("an id or a deviceId");
        let by_device_id = d.device_id.as_ref().map(|id| {
            reads
                .take(&format!("{BY_DEVICE_ID}{id}"))
                .and_then(|r| devices::decode(&r))
        });
        let in_registered = registered.as_ref().ok().and_then(|list| {
            list.iter().find(|r| {
                d.object_id
                    .as_deref()
                    .is_some_and(|id| r.id.0.eq_ignore_ascii_case(id))
                    || d.device_id.is_some() && r.device_id == d.device_id
            })
        });
        let in_intune = d.device_id.as_deref().is_some_and(|id| {
            managed.iter().any(|m| {
                m.entra_device_id()
                    .is_some_and(|e| e.eq_ignore_ascii_case(id))
            })
        });
        let state = |on: Option<bool>, id: &DeviceObjectId| {
            if on == Some(false) {
                Now::Off(devices::enable(id))
            } else {
                Now::On
            }
        };
        let now = match (in_registered, in_intune, by_device_id) {
            (Some(r), _, _) => Ok(state(r.account_enabled, &r.id)),
            (None, true, Some(Ok(e))) => Ok(state(e.account_enabled, &e.id)),
            (None, true, Some(Err(e))) => Err(e),
            // Neither list could be read: whose it is cannot be told.
            (None, _, _) if registered.is_err() && managed.is_empty() => {
                Err(registered.as_ref().err().cloned().expect("an error"))
            }
            (None, _, _) => Ok(Now::NotTheirs),
        };
        let name = d
            .fields
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or(&key)
            .to_owned();
        let os = d
            .fields
            .get("operatingSystem")
            .and_then(Value::as_str)
            .unwrap_or("unknown OS")
            .to_owned();
        candidates.push((
            Candidate {
                key,
                fields: d.fields,
                label: format!("{name} ({os})"),
                left_off: d.left_off,
            },
            now,
        ));
    }
    let again: Vec<Disabled> = candidates
        .iter()
        .map(|(c, _)| Disabled {
            object_id: c
                .fields
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            device_id: c
                .fields
                .get("deviceId")
                .and_then(Value::as_str)
                .map(str::to_owned),
            fields: Map::new(),
            left_off: false,
        })
        .collect();
    restore::prepare(
        UNDO,
        candidates,
        cx.run.force,
        ReadBack {
            reads: undo_state_reads(&cx.user.id.0, &again)
                .into_iter()
                .filter(|r| r.tag != MANAGED)
                .collect(),
            parse: read_states,
        },
    )
}

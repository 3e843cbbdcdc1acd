//! Finding the user's devices in the two places Graph knows them: the registered devices in
//! Entra ID (`GET /users/{id}/registeredDevices`, learn: graph/api/user-list-registereddevices)
//! and the Intune managed devices (`GET /users/{id}/managedDevices`, learn:
//! graph/api/intune-devices-manageddevice-list), merged into one entry per Entra device by
//! `deviceId`, with how each place answered.

use serde_json::{json, Map, Value};

use crate::auth::TokenKind;
use crate::graph::devices::{Device, DeviceObjectId};
use crate::graph::managed_devices::{self, ManagedDevice, ManagedDeviceId};
use crate::graph::paging::Items;
use crate::graph::{GraphError, GraphResponse};
use crate::hints::{self, Hint};
use crate::report::{ErrorReport, StepReport};

use super::NAME;

pub(super) fn items(answer: Result<GraphResponse, GraphError>) -> Result<Vec<Value>, GraphError> {
    answer.and_then(|r| r.json::<Items>()).map(|i| i.value)
}

/// How one of the two places answered.
#[derive(Debug)]
pub(super) enum Source {
    Listed,
    /// The token or the tenant cannot use it (403; for Intune also no licence).
    NotAvailable(GraphError),
    /// Any other failure: devices may have been missed.
    Failed(GraphError),
}

impl Source {
    pub(super) fn is_listed(&self) -> bool {
        matches!(self, Source::Listed)
    }

    pub(super) fn error(&self) -> Option<&GraphError> {
        match self {
            Source::Listed => None,
            Source::NotAvailable(e) | Source::Failed(e) => Some(e),
        }
    }

    pub(super) fn as_str(&self) -> &'static str {
        match self {
            Source::Listed => "listed",
            Source::NotAvailable(_) => "not_available",
            Source::Failed(_) => "failed",
        }
    }
}

pub(super) fn answer<T>(
    listed: Result<Vec<T>, GraphError>,
    unavailable: impl Fn(&GraphError) -> bool,
) -> (Source, Vec<T>) {
    match listed {
        Ok(list) => (Source::Listed, list),
        Err(e) if unavailable(&e) => (Source::NotAvailable(e), Vec::new()),
        Err(e) => (Source::Failed(e), Vec::new()),
    }
}

/// Where a device was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    Entra,
    Intune,
    Both,
}

impl Origin {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Origin::Entra => "entra",
            Origin::Intune => "intune",
            Origin::Both => "both",
        }
    }
}

/// One device of the user, from either place or both.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    /// The Entra object id: from the registered-devices listing (an Intune-only device is
    /// addressed by `device_id`).
    pub(super) object_id: Option<DeviceObjectId>,
    /// The Entra `deviceId`; `None` for an Intune device not registered in Entra ID.
    pub(super) device_id: Option<String>,
    pub(super) managed_device_id: Option<ManagedDeviceId>,
    pub(super) display_name: Option<String>,
    pub(super) operating_system: Option<String>,
    /// As listed; not read for a device only Intune knows.
    pub(super) account_enabled: Option<bool>,
    pub(super) trust_type: Option<String>,
    pub(super) on_premises_sync_enabled: Option<bool>,
    pub(super) origin: Origin,
}

impl Entry {
    pub(super) fn registered(d: Device) -> Entry {
        Entry {
            object_id: Some(d.id),
            device_id: d.device_id,
            managed_device_id: None,
            display_name: d.display_name,
            operating_system: d.operating_system,
            account_enabled: d.account_enabled,
            trust_type: d.trust_type,
            on_premises_sync_enabled: d.on_premises_sync_enabled,
            origin: Origin::Entra,
        }
    }

    pub(super) fn managed(m: ManagedDevice) -> Entry {
        Entry {
            object_id: None,
            device_id: m.entra_device_id().map(str::to_owned),
            managed_device_id: Some(m.id),
            display_name: m.device_name,
            operating_system: m.operating_system,
            account_enabled: None,
            trust_type: None,
            on_premises_sync_enabled: None,
            origin: Origin::Intune,
        }
    }

    /// Hybrid joined: synced from on-premises AD, where its computer object is disabled.
    pub(super) fn hybrid(&self) -> bool {
        self.on_premises_sync_enabled == Some(true)
    }

    /// It has an Entra device to disable.
    pub(super) fn in_entra(&self) -> bool {
        self.object_id.is_some() || self.device_id.is_some()
    }

    pub(super) fn name(&self) -> &str {
        self.display_name
            .as_deref()
            .or(self.device_id.as_deref())
            .or(self.managed_device_id.as_ref().map(|m| m.0.as_str()))
            .unwrap_or("unnamed device")
    }

    /// `ADELEV-LAPTOP (Windows, Intune-managed)`.
    pub(super) fn label(&self) -> String {
        let os = self.operating_system.as_deref().unwrap_or("unknown OS");
        if self.managed_device_id.is_some() {
            format!("{} ({os}, Intune-managed)", self.name())
        } else {
            format!("{} ({os})", self.name())
        }
    }

    /// The item's fields in the report; `id` is the Entra object id (from the listing, or
    /// from the read just before the write for a device found through Intune only).
    pub(super) fn fields(&self, looked_up: Option<&Device>) -> Map<String, Value> {
        let id = self
            .object_id
            .as_ref()
            .or(looked_up.map(|d| &d.id))
            .map(|id| id.0.clone());
        let mut m = Map::new();
        m.insert("id".into(), json!(id));
        m.insert("displayName".into(), json!(self.display_name));
        m.insert("operatingSystem".into(), json!(self.operating_system));
        if let Some(device_id) = &self.device_id {
            m.insert("deviceId".into(), json!(device_id));
        }
        m.insert("source".into(), json!(self.origin.as_str()));
        if let Some(managed) = &self.managed_device_id {
            m.insert("managedDeviceId".into(), json!(managed.0));
        }
        m
    }

    /// What an undo needs, for an Entra device: how to address it, where it was found, and
    /// whether it was enabled (`null` when it was not read).
    pub(super) fn snapshot(
        &self,
        object_id: Option<&DeviceObjectId>,
        enabled: Option<bool>,
    ) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(object_id.map(|id| &id.0)));
        if let Some(device_id) = &self.device_id {
            m.insert("deviceId".into(), json!(device_id));
        }
        m.insert("source".into(), json!(self.origin.as_str()));
        if let Some(managed) = &self.managed_device_id {
            m.insert("managedDeviceId".into(), json!(managed.0));
        }
        m.insert("accountEnabled".into(), json!(enabled));
        Value::Object(m)
    }
}

/// The registered devices, then Intune's, one entry per Entra device: an Intune device whose
/// `azureADDeviceId` is a registered device's `deviceId` is that device (`both`), and two
/// Intune records of one Entra device are one entry.
pub(super) fn merge(registered: Vec<Device>, managed: Vec<ManagedDevice>) -> Vec<Entry> {
    let mut entries: Vec<Entry> = registered.into_iter().map(Entry::registered).collect();
    for m in managed {
        let same = m.entra_device_id().and_then(|id| {
            entries.iter_mut().find(|e| {
                e.device_id
                    .as_deref()
                    .is_some_and(|d| d.eq_ignore_ascii_case(id))
            })
        });
        match same {
            Some(e) => {
                if e.origin == Origin::Entra {
                    e.origin = Origin::Both;
                }
                if e.managed_device_id.is_none() {
                    e.managed_device_id = Some(m.id);
                }
            }
            None => entries.push(Entry::managed(m)),
        }
    }
    entries
}

/// What was found, and how each place answered.
pub(super) struct Found {
    pub(super) entra: Source,
    pub(super) intune: Source,
    pub(super) entries: Vec<Entry>,
}

impl Found {
    pub(super) fn listed(&self) -> bool {
        self.entra.is_listed() || self.intune.is_listed()
    }

    /// A place that failed for another reason than availability: devices may be missing.
    pub(super) fn failure(&self, token: TokenKind) -> Option<ErrorReport> {
        match (&self.entra, &self.intune) {
            (Source::Failed(e), _) => Some(ErrorReport::from_graph(
                e,
                list_hint(e, token).or_else(|| hints::common(e)),
            )),
            (_, Source::Failed(e)) => Some(ErrorReport::from_graph(e, hints::common(e))),
            _ => None,
        }
    }

    pub(super) fn sources(&self) -> Value {
        json!({"entra": self.entra.as_str(), "intune": self.intune.as_str()})
    }

    /// What the detail adds about the places that did not answer.
    pub(super) fn notes(&self) -> String {
        let mut notes = String::new();
        match (&self.entra, self.intune.is_listed()) {
            (Source::NotAvailable(_), true) => notes.push_str(
                "; the user's registered devices are not available to this token (403): only Intune's were looked for",
            ),
            (Source::Failed(_), _) => {
                notes.push_str("; the user's registered devices could not be listed")
            }
            _ => {}
        }
        match (&self.intune, self.entra.is_listed()) {
            (Source::NotAvailable(e), true) => notes.push_str(&format!(
                "; Intune not available ({}): registered devices only",
                short(e)
            )),
            (Source::Failed(_), _) => {
                notes.push_str("; Intune managed devices could not be listed")
            }
            _ => {}
        }
        notes
    }

    pub(super) fn none_found(&self) -> &'static str {
        match (self.entra.is_listed(), self.intune.is_listed()) {
            (true, true) => "no registered or Intune-managed devices",
            (true, false) => "no registered devices",
            _ => "no Intune-managed devices",
        }
    }
}

/// `400 BadRequest`.
pub(super) fn short(e: &GraphError) -> String {
    match e.status() {
        Some(s) => format!("{s} {}", e.code()),
        None => e.code(),
    }
}

pub(super) fn no_intune_notice(e: &GraphError) -> String {
    let why = if managed_devices::is_not_licensed(e) {
        "the tenant has no Intune licence: Graph answers 400 \"Request not applicable to target tenant.\"".to_owned()
    } else {
        format!(
            "{}: the token needs DeviceManagementManagedDevices.Read.All (and, signed in as a user, an Intune role)",
            short(e)
        )
    };
    format!("Intune managed devices cannot be listed ({why}); devices are found through the users' registered devices only")
}

/// Neither place answered: the step fails, and the hint says what would make either work.
pub(super) fn nothing_listed(found: &Found, token: TokenKind) -> StepReport {
    let err = match (&found.entra, &found.intune) {
        (Source::Failed(e), _) | (Source::NotAvailable(_), Source::Failed(e)) => e,
        (entra, intune) => entra
            .error()
            .or(intune.error())
            .expect("neither place listed"),
    };
    let hint = match (&found.entra, &found.intune) {
        (Source::NotAvailable(_), Source::NotAvailable(intune)) => {
            hints::hint(match (token, managed_devices::is_not_licensed(intune)) {
                (TokenKind::Delegated, _) => "the token needs Directory.Read.All (or Device.Read.All) to list the user's registered devices, or DeviceManagementManagedDevices.Read.All and an Intune role to find them through Intune".to_owned(),
                (_, true) => "Graph does not let an application list a user's registered devices, and this tenant has no Intune licence (Intune lists them to an application with DeviceManagementManagedDevices.Read.All): run with a delegated sign-in (--auth azure-cli), or pass --skip-devices".to_owned(),
                (_, false) => "Graph does not let an application list a user's registered devices: grant the app DeviceManagementManagedDevices.Read.All to find them through Intune, or run with a delegated sign-in (--auth azure-cli), or pass --skip-devices".to_owned(),
            })
        }
        _ => list_hint(err, token).or_else(|| hints::common(err)),
    };
    let mut report = StepReport::failed(
        NAME,
        format!(
            "the user's devices could not be listed: registered devices {}, Intune {}",
            found.entra.error().map(short).unwrap_or_default(),
            found.intune.error().map(short).unwrap_or_default()
        ),
        ErrorReport::from_graph(err, hint),
    );
    report.extra.insert("sources".into(), found.sources());
    report
}

pub(super) fn list_hint(err: &GraphError, token: TokenKind) -> Option<Hint> {
    match err.status()? {
        403 if token != TokenKind::Delegated => hints::hint(
            "Graph does not support listing a user's registered devices with application permissions: grant DeviceManagementManagedDevices.Read.All to find them through Intune, run with a delegated sign-in (--auth azure-cli), or pass --skip-devices",
        ),
        403 => hints::hint("the token needs Directory.Read.All (or Device.Read.All)"),
        _ => None,
    }
}

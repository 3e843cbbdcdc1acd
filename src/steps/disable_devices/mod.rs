//! `disable_devices`: find the user's devices in two places and disable each one's Entra
//! device with `PATCH` `{"accountEnabled": false}` (learn: graph/api/device-update).
//!
//! - The user's registered devices, `GET /users/{id}/registeredDevices`
//!   (learn: graph/api/user-list-registereddevices). Learn lists application permissions as
//!   not supported; it is asked with any token all the same, and a 403 there only means "not
//!   available to this token".
//! - The user's Intune managed devices, `GET /users/{id}/managedDevices`
//!   (learn: graph/api/intune-devices-manageddevice-list), which an application may list with
//!   `DeviceManagementManagedDevices.Read.All`. Each carries its Entra device's `deviceId`
//!   (`azureADDeviceId`).
//!
//! Both are asked for every user, so a device enrolled in Intune but registered to nobody (or
//! to someone else) is not missed. They are merged by `deviceId`: a registered device is
//! disabled by object id (`PATCH /devices/{id}`), one only Intune knows by the alternate key
//! (`PATCH /devices(deviceId='...')`, learn: graph/api/device-update, "You can address the
//! device using either its id or deviceId"), read just before in the same ordered batch so the
//! report says whether it was already disabled. A tenant without Intune (400 "Request not
//! applicable to target tenant.") or a token without its permission (403) falls back to the
//! registered devices, said once per run.
//!
//! Undone by re-enabling each device the report lists as `done` (by `id`, or by `deviceId`).
//!
//! `sources` finds the devices in both places and merges them; this module is the step;
//! `undo` is `enable_devices`.

use std::collections::HashMap;

use serde_json::{json, Map, Value};
use tracing::warn;

use super::require::{Finding, Licence, Requirement, Target};
use super::{
    item, About, Answers, Earlier, Phase, Prepared, Progress, Read, Reads, Record, Request, RunCx,
    Selected, Step, Undo, UserCx, Verdict,
};
use crate::auth::TokenKind;
use crate::graph::devices::{self, Device, DeviceObjectId};
use crate::graph::managed_devices::{self};
use crate::graph::users::{User, UserId};
use crate::graph::GraphError;
use crate::hints::{self, Hint};
use crate::report::{ErrorReport, ItemReport, StepReport, StepStatus};

mod sources;
mod undo;

use sources::*;
use undo::{undo, undo_reads};
pub struct DisableDevices;

const NAME: &str = "disable_devices";
const ABOUT: About = About {
    name: NAME,
    aliases: &["devices"],
    phase: Phase::CleanUp,
    default_on: true,
    incident: false,
    stops_sign_in: false,
    action: Some("disable the user's devices"),
};
const LIST: &str = "registeredDevices";
const MANAGED: &str = "managedDevices";
/// Said once per run: Intune cannot be asked in this tenant or with this token.
const NO_INTUNE: &str = "disable_devices: Intune not available";

/// `--skip-devices`: this step's own flag that leaves it out (the same as `--skip {NAME}`).
#[derive(Debug, Clone, Default, clap::Args)]
#[group(skip)]
pub struct SkipFlag {
    /// Same as `--skip disable_devices` (kept for existing scripts).
    #[arg(long, hide = true)]
    pub skip_devices: bool,
}

impl SkipFlag {
    /// The flag, when it was given.
    pub fn given(&self) -> Vec<(&'static str, &'static str)> {
        self.skip_devices
            .then_some((NAME, "--skip-devices"))
            .into_iter()
            .collect()
    }
}

impl Step for DisableDevices {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    fn reads(&self, who: &str, _cx: &RunCx) -> Vec<Read> {
        vec![
            Read::paged(LIST, devices::list_registered(who)),
            Read::paged(MANAGED, managed_devices::list_for_user(who)),
        ]
    }

    fn prepare(&self, cx: &UserCx<'_>, mut reads: Reads, selected: Selected) -> Box<dyn Prepared> {
        let token = cx.run.token_kind;
        let owner = cx.user.id.clone();
        if let Some(report) = selected.skipped_report(NAME) {
            return Box::new(State {
                token,
                owner,
                devices: Devices::Skipped(report),
                requests: Vec::new(),
                results: HashMap::new(),
                looked_up: HashMap::new(),
            });
        }
        let (entra, registered) = answer(
            items(reads.take(LIST)).and_then(devices::from_directory_objects),
            // Learn lists application permissions as not supported; a delegated token without
            // the permission answers the same. Either way Intune may still know the devices.
            |e| e.status() == Some(403),
        );
        let (intune, managed) = answer(
            items(reads.take(MANAGED)).and_then(managed_devices::from_items),
            managed_devices::is_unavailable,
        );
        if let Source::NotAvailable(e) = &intune {
            if cx.run.notices.first(NO_INTUNE) {
                warn!("{}", no_intune_notice(e));
            }
        }
        let found = Found {
            entries: merge(registered, managed),
            entra,
            intune,
        };
        let mut requests = Vec::new();
        for (n, e) in found.entries.iter().enumerate() {
            match (&e.object_id, &e.device_id) {
                // A hybrid-joined device is mastered in on-premises AD: Graph refuses the
                // write (400), so none is sent; the report says where to disable it.
                (Some(id), _) if e.account_enabled != Some(false) && !e.hybrid() => requests.push(
                    Request::write(n.to_string(), devices::disable(id), "disable devices"),
                ),
                (None, Some(device_id)) => {
                    // Read it first, in the same ordered batch: whether it was already
                    // disabled, and its object id, for the report and an undo.
                    requests.push(Request::read(
                        Read::one(lookup_tag(n), devices::get_by_device_id(device_id)),
                        "read device",
                    ));
                    requests.push(Request::write(
                        n.to_string(),
                        devices::disable_by_device_id(device_id),
                        "disable devices",
                    ));
                }
                _ => {}
            }
        }
        let report = if !found.listed() {
            Some(nothing_listed(&found, token))
        } else if requests.is_empty() {
            Some(device_step(&found, &HashMap::new(), &HashMap::new(), token))
        } else {
            None
        };
        Box::new(State {
            token,
            owner,
            devices: Devices::Found {
                found: Box::new(found),
                report,
            },
            requests,
            results: HashMap::new(),
            looked_up: HashMap::new(),
        })
    }

    fn change_line(
        &self,
        before: &Map<String, Value>,
        after: &Map<String, Value>,
    ) -> Option<String> {
        let (b, a) = (
            before.get("devices")?.as_array()?,
            after.get("devices")?.as_array()?,
        );
        // A device found through Intune only was not read before the run: say so rather than
        // count it either way.
        let count = |d: &Vec<Value>| {
            let enabled = d
                .iter()
                .filter(|x| x["accountEnabled"] == json!(true))
                .count();
            let unread = d.iter().filter(|x| x["accountEnabled"].is_null()).count();
            match unread {
                0 => format!("{enabled} of {}", d.len()),
                n => format!("{enabled} of {} ({n} not read)", d.len()),
            }
        };
        Some(format!("devices enabled: {} -> {}", count(b), count(a)))
    }

    // learn: graph/api/user-list-registereddevices (delegated only), graph/api/
    // intune-devices-manageddevice-list (DeviceManagementManagedDevices.Read.All, an Intune
    // licence), graph/api/device-update (Device.ReadWrite.All; delegated: Directory.AccessAsUser.All
    // and Cloud Device Administrator or Intune Administrator).
    fn requires(&self, cx: &RunCx) -> Vec<Requirement> {
        const INTUNE_LIST: &[&[&str]] = &[
            &["DeviceManagementManagedDevices.Read.All"],
            &["DeviceManagementManagedDevices.ReadWrite.All"],
        ];
        const LIST: &[&[&str]] = &[
            &["Directory.Read.All"],
            &["User.Read.All"],
            &["User.ReadBasic.All"],
            &["User.ReadWrite.All"],
            &["Directory.ReadWrite.All"],
            &["Directory.AccessAsUser.All"],
        ];
        const APP_WRITE: &[&[&str]] = &[&["Device.ReadWrite.All"], &["Directory.ReadWrite.All"]];
        const DELEGATED_WRITE: &[&[&str]] = &[
            &["Directory.AccessAsUser.All"],
            &["Device.ReadWrite.All"],
            &["Directory.ReadWrite.All"],
        ];
        const ROLES: &[&str] = &[
            "Cloud Device Administrator",
            "Intune Administrator",
            "Global Administrator",
        ];
        const WRITE: &str = "PATCH /devices/{id} accountEnabled";
        match cx.token_kind {
            // An application cannot list registered devices: it finds them through Intune.
            TokenKind::AppOnly => vec![
                Requirement::new(
                    "GET /users/{id}/managedDevices (an application cannot list registered devices)",
                    INTUNE_LIST,
                )
                .with_licence(Licence::Intune),
                Requirement::new(WRITE, APP_WRITE),
            ],
            _ => vec![
                Requirement::new("GET /users/{id}/registeredDevices", LIST),
                Requirement::new(WRITE, DELEGATED_WRITE).with_roles(ROLES),
            ],
        }
    }

    /// From the same two listings a run reads: how many devices this token sees, and the ones
    /// Graph will not let it disable (hybrid joined; other than Windows for an application).
    fn expect(
        &self,
        target: &Target<'_>,
        mut reads: Reads,
        facts: &mut Map<String, Value>,
    ) -> Vec<Finding> {
        let token = target.run.token_kind;
        let (entra, registered) = answer(
            items(reads.take(LIST)).and_then(devices::from_directory_objects),
            |e| e.status() == Some(403),
        );
        let (intune, managed) = answer(
            items(reads.take(MANAGED)).and_then(managed_devices::from_items),
            managed_devices::is_unavailable,
        );
        facts.insert(
            "registeredDevices".into(),
            if entra.is_listed() {
                json!(registered.len())
            } else {
                Value::Null
            },
        );
        if intune.is_listed() {
            facts.insert("managedDevices".into(), json!(managed.len()));
        }
        let found = Found {
            entries: merge(registered, managed),
            entra,
            intune,
        };
        let mut out = Vec::new();
        if !found.listed() {
            let failed = [&found.entra, &found.intune]
                .into_iter()
                .find_map(|s| match s {
                    Source::Failed(e) => Some(e),
                    _ => None,
                });
            out.push(match failed {
                Some(e) => Finding::unknown(format!(
                    "the user's devices could not be listed ({}), so lockdown cannot tell",
                    crate::graph::short_reason(e)
                )),
                None => Finding::missing(match found.entra.error() {
                    Some(e) => list_hint(e, token).map(|h| h.0).unwrap_or_else(|| {
                        "the user's devices cannot be listed with this token".into()
                    }),
                    None => "the user's devices cannot be listed with this token".into(),
                }),
            });
            return out;
        }
        if let Some(e) = found.failure(token) {
            out.push(Finding::unknown(format!(
                "one of the device listings failed ({} {}): devices may be missed",
                e.status.map(|s| s.to_string()).unwrap_or_default(),
                e.code
            )));
        }
        let enabled: Vec<&Entry> = found
            .entries
            .iter()
            .filter(|e| e.in_entra() && e.account_enabled != Some(false))
            .collect();
        let hybrid = enabled
            .iter()
            .filter(|e| e.on_premises_sync_enabled == Some(true))
            .count();
        if hybrid > 0 {
            out.push(Finding::ok(format!(
                "{hybrid} hybrid-joined device(s) synced from on-premises Active Directory: skipped, since Graph cannot disable them (400); disable their computer objects there"
            )));
        }
        if token == TokenKind::AppOnly {
            let other = enabled
                .iter()
                .filter(|e| {
                    !e.operating_system
                        .as_deref()
                        .is_some_and(|os| os.to_ascii_lowercase().starts_with("windows"))
                })
                .count();
            if other > 0 {
                out.push(Finding::missing(format!(
                    "{other} device(s) other than Windows: application tokens can disable only Windows devices (use a delegated sign-in, or Intune)"
                )));
            }
        }
        out
    }

    fn undo(&self) -> Option<&dyn Undo> {
        Some(self)
    }
}

impl Undo for DisableDevices {
    fn undo_reads(&self, id: &str, record: Option<&Record>, _cx: &RunCx) -> Vec<Read> {
        undo_reads(id, record)
    }

    fn prepare_undo(
        &self,
        cx: &UserCx<'_>,
        reads: Reads,
        record: Option<&Record>,
    ) -> Option<Box<dyn Prepared>> {
        undo(cx, reads, record)
    }
}

fn lookup_tag(n: usize) -> String {
    format!("lookup/{n}")
}

fn reread_tag(n: usize) -> String {
    format!("intune/{n}")
}

/// What a skipped hybrid-joined device's item says.
const HYBRID_NOTE: &str = "hybrid joined: its computer object is mastered in on-premises Active Directory, where it is disabled (Graph cannot)";

fn disable_hint(err: &GraphError, synced: bool) -> Option<Hint> {
    if hints::is_on_premises_mastered(err) || (synced && err.status() == Some(400)) {
        return hints::hint(
            "this device is synced from on-premises Active Directory (hybrid joined): disable its computer object there and let sync carry it to Entra",
        );
    }
    if hints::is_windows_only(err) {
        return hints::hint(
            "app-only tokens can disable only Windows devices: disable this one with a delegated sign-in (--auth azure-cli as a Cloud Device Administrator) or in Intune",
        );
    }
    match err.status()? {
        403 => hints::hint(
            "the token needs Device.ReadWrite.All (app-only) or Directory.AccessAsUser.All (delegated), and a delegated caller needs Cloud Device Administrator or Intune Administrator",
        ),
        _ => None,
    }
}

/// The step from each write's answer. Devices not written were already disabled, or are not
/// registered in Entra ID (an Intune record only: nothing to disable there).
fn device_step(
    found: &Found,
    results: &HashMap<usize, Result<(), GraphError>>,
    looked_up: &HashMap<usize, Device>,
    token: TokenKind,
) -> StepReport {
    let list = &found.entries;
    let mut items: Vec<ItemReport> = Vec::with_capacity(list.len());
    let (mut done, mut already, mut outside, mut failed) = (0usize, 0usize, 0usize, 0usize);
    let mut hybrid = 0usize;
    for (n, e) in list.iter().enumerate() {
        let read = looked_up.get(&n);
        let (status, err) = match results.get(&n) {
            None if !e.in_entra() => {
                outside += 1;
                (StepStatus::Skipped, None)
            }
            None if e.hybrid() && e.account_enabled != Some(false) => {
                hybrid += 1;
                (StepStatus::Skipped, None)
            }
            None => {
                already += 1;
                (StepStatus::Already, None)
            }
            // Read just before the write: it was disabled already.
            Some(Ok(())) if read.is_some_and(|d| d.account_enabled == Some(false)) => {
                already += 1;
                (StepStatus::Already, None)
            }
            Some(Ok(())) => {
                done += 1;
                (StepStatus::Done, None)
            }
            // Intune knows a deviceId Entra does not (deleted, or never registered).
            Some(Err(err)) if e.object_id.is_none() && err.is_not_found() => {
                outside += 1;
                let hint = hints::hint(
                    "no Entra device has this deviceId (deleted, or never registered): there is nothing to disable in Entra ID; lock or retire it in Intune",
                );
                (
                    StepStatus::Skipped,
                    Some(ErrorReport::from_graph(err, hint)),
                )
            }
            Some(Err(err)) => {
                failed += 1;
                let synced = e
                    .on_premises_sync_enabled
                    .or(read.and_then(|d| d.on_premises_sync_enabled))
                    == Some(true);
                let hint = disable_hint(err, synced).or_else(|| hints::common(err));
                (StepStatus::Failed, Some(ErrorReport::from_graph(err, hint)))
            }
        };
        let mut fields = e.fields(read);
        if e.hybrid() && status == StepStatus::Skipped {
            fields.insert("note".into(), json!(HYBRID_NOTE));
        }
        if !e.in_entra() {
            fields.insert(
                "note".into(),
                json!("not registered in Entra ID: nothing to disable there"),
            );
        }
        items.push(item(fields, e.label(), status, err));
    }
    let failure = found.failure(token);
    let status = if failed > 0 || failure.is_some() {
        StepStatus::Failed
    } else if done > 0 {
        StepStatus::Done
    } else if hybrid > 0 {
        StepStatus::Skipped
    } else {
        StepStatus::Already
    };
    let mut detail = if list.is_empty() {
        found.none_found().to_owned()
    } else {
        let mut parts = Vec::new();
        if done > 0 {
            parts.push(format!("{done} disabled"));
        }
        if already > 0 {
            parts.push(format!("{already} already disabled"));
        }
        if hybrid > 0 {
            parts.push(format!(
                "{hybrid} hybrid joined (disable on-premises: Graph cannot)"
            ));
        }
        if outside > 0 {
            parts.push(format!("{outside} not in Entra ID"));
        }
        if failed > 0 {
            parts.push(format!("{failed} could not be disabled"));
        }
        format!("{} device(s): {}", list.len(), parts.join(", "))
    };
    detail.push_str(&found.notes());
    let mut report = StepReport::new(NAME, status, detail).with_items("devices", items);
    report.error = failure;
    report.extra.insert("sources".into(), found.sources());
    report
}

struct State {
    token: TokenKind,
    owner: UserId,
    devices: Devices,
    /// Tagged with the entry's index (`lookup/{n}` for the read before an Intune-only write).
    requests: Vec<Request>,
    /// Each written entry's answer, by index.
    results: HashMap<usize, Result<(), GraphError>>,
    /// Intune-only entries as read just before their write, by index.
    looked_up: HashMap<usize, Device>,
}

/// Whether the devices were listed.
enum Devices {
    /// A flag left the step out: nothing was listed.
    Skipped(StepReport),
    /// Listed from both sources (or tried): what was found, and the report once there is one
    /// (nothing to write, or answered).
    Found {
        found: Box<Found>,
        report: Option<StepReport>,
    },
}

impl State {
    fn found(&self) -> Option<&Found> {
        match &self.devices {
            Devices::Found { found, .. } => Some(&**found),
            Devices::Skipped(_) => None,
        }
    }

    fn decided(&self) -> Option<&StepReport> {
        match &self.devices {
            Devices::Skipped(report) => Some(report),
            Devices::Found { report, .. } => report.as_ref(),
        }
    }

    fn entries(&self) -> &[Entry] {
        self.found().map_or(&[], |f| &f.entries)
    }

    /// Entries written (by index), and whether any of them was a registered device.
    fn written(&self) -> (Vec<usize>, bool) {
        let written: Vec<usize> = self
            .requests
            .iter()
            .filter(|r| r.req.method.is_write())
            .filter_map(|r| r.tag.parse().ok())
            .collect();
        let registered = written
            .iter()
            .any(|n| self.entries()[*n].object_id.is_some());
        (written, registered)
    }
}

impl Prepared for State {
    fn before(&self, state: &mut Map<String, Value>) {
        if let Some(found) = self.found() {
            if found.listed() {
                let list = found
                    .entries
                    .iter()
                    .filter(|e| e.in_entra())
                    .map(|e| e.snapshot(e.object_id.as_ref(), e.account_enabled))
                    .collect();
                state.insert("devices".into(), Value::Array(list));
            }
        }
    }

    fn facts(&self, json: &mut Map<String, Value>, text: &mut Vec<String>) {
        let Some(found) = self.found() else {
            return;
        };
        if found.listed() {
            let list = &found.entries;
            json.insert(
                "devices".into(),
                Value::Array(
                    list.iter()
                        .map(|e| {
                            let mut m = e.fields(None);
                            m.insert("accountEnabled".into(), json!(e.account_enabled));
                            m.insert("trustType".into(), json!(e.trust_type));
                            Value::Object(m)
                        })
                        .collect(),
                ),
            );
            let managed = list
                .iter()
                .filter(|e| e.managed_device_id.is_some())
                .count();
            let registered = list.iter().filter(|e| e.origin != Origin::Intune).count();
            text.push(format!(
                "devices:             {} ({registered} registered, {managed} in Intune)",
                list.len()
            ));
            for e in list {
                let state = match (e.in_entra(), e.account_enabled) {
                    (false, _) => "not registered in Entra ID",
                    (true, Some(false)) => "disabled",
                    (true, Some(true)) => "enabled",
                    (true, None) => "found through Intune (Entra state not read)",
                };
                text.push(format!("  - {}: {state}", e.label()));
            }
        }
        for (what, key, source) in [
            ("registered devices:  ", "devicesError", &found.entra),
            (
                "Intune devices:      ",
                "managedDevicesError",
                &found.intune,
            ),
        ] {
            let Some(e) = source.error() else { continue };
            let hint = if key == "devicesError" {
                list_hint(e, self.token)
            } else if managed_devices::is_not_licensed(e) {
                hints::hint("the tenant has no Intune licence")
            } else if e.status() == Some(403) {
                hints::hint("the token needs DeviceManagementManagedDevices.Read.All (and, signed in as a user, an Intune role)")
            } else {
                None
            };
            let err = ErrorReport::from_graph(e, hint.or_else(|| hints::common(e)));
            let how = if matches!(source, Source::NotAvailable(_)) {
                "not available"
            } else {
                "could not be listed"
            };
            text.push(format!("{what}{how} ({})", short(e)));
            if let Some(h) = &err.hint {
                text.push(format!("  hint: {h}"));
            }
            json.insert(key.into(), json!(err));
        }
    }

    fn requests(&self, _earlier: &[Earlier<'_>]) -> Vec<Request> {
        if self.decided().is_some() {
            return Vec::new();
        }
        self.requests.clone()
    }

    fn planned(&self, _earlier: &[Earlier<'_>]) -> StepReport {
        let found = match &self.devices {
            Devices::Skipped(report) => return report.clone(),
            Devices::Found {
                report: Some(report),
                ..
            } if report.status != StepStatus::Already => return report.clone(),
            Devices::Found { found, .. } => found,
        };
        let writes: Vec<usize> = self.written().0;
        let items = found
            .entries
            .iter()
            .enumerate()
            .map(|(n, e)| {
                let status = if writes.contains(&n) {
                    StepStatus::Planned
                } else if !e.in_entra() || (e.hybrid() && e.account_enabled != Some(false)) {
                    StepStatus::Skipped
                } else {
                    StepStatus::Already
                };
                item(e.fields(None), e.label(), status, None)
            })
            .collect();
        let mut detail = if found.entries.is_empty() {
            found.none_found().to_owned()
        } else {
            let by_key = found
                .entries
                .iter()
                .any(|e| e.object_id.is_none() && e.in_entra());
            format!(
                "would send PATCH /v1.0/devices/{{id}}{} {{\"accountEnabled\":false}} for {} of {} device(s)",
                if by_key {
                    " (or /devices(deviceId='{deviceId}') for a device found through Intune only)"
                } else {
                    ""
                },
                writes.len(),
                found.entries.len()
            )
        };
        detail.push_str(&found.notes());
        let status = if writes.is_empty() {
            StepStatus::Already
        } else {
            StepStatus::Planned
        };
        let mut report = StepReport::new(NAME, status, detail).with_items("devices", items);
        report.error = found.failure(self.token);
        report.extra.insert("sources".into(), found.sources());
        report
    }

    fn finish(&mut self, mut answers: Answers, _earlier: &[Earlier<'_>]) -> Progress {
        if self.decided().is_some() {
            return Progress::Done;
        }
        for r in &self.requests {
            let answer = answers.take(&r.tag);
            if let Some(n) = r.tag.strip_prefix("lookup/") {
                if let (Ok(n), Ok(device)) = (n.parse(), answer.and_then(|a| devices::decode(&a))) {
                    self.looked_up.insert(n, device);
                }
            } else if let Ok(n) = r.tag.parse() {
                self.results.insert(n, answer.map(|_| ()));
            }
        }
        if let Devices::Found { found, report } = &mut self.devices {
            *report = Some(device_step(
                found,
                &self.results,
                &self.looked_up,
                self.token,
            ));
        }
        Progress::Done
    }

    fn report(&self) -> Option<StepReport> {
        self.decided().cloned()
    }

    fn verify_reads(&self) -> Vec<Read> {
        if self.decided().is_some() && self.results.is_empty() {
            return Vec::new();
        }
        let (written, registered) = self.written();
        let mut reads = Vec::new();
        // Re-list only when a registered device was written.
        if registered {
            reads.push(Read::paged(LIST, devices::list_registered(&self.owner.0)));
        }
        for n in written {
            let e = &self.entries()[n];
            if let (None, Some(device_id)) = (&e.object_id, &e.device_id) {
                reads.push(Read::one(
                    reread_tag(n),
                    devices::get_by_device_id(device_id),
                ));
            }
        }
        reads
    }

    fn verify(
        &self,
        _user: &User,
        reads: &mut Answers,
        after: &mut Map<String, Value>,
        verdict: &mut Verdict,
    ) {
        let Some(found) = self.found() else {
            return;
        };
        if !found.listed() {
            return;
        }
        let (written, registered) = self.written();
        let relisted: Option<Vec<Device>> = if registered {
            items(reads.take(LIST))
                .and_then(devices::from_directory_objects)
                .ok()
        } else {
            None
        };
        // Each entry as read back: `None` when it was not (or could not be) read again.
        let mut now: HashMap<usize, (Option<DeviceObjectId>, Option<bool>)> = HashMap::new();
        for (n, e) in found.entries.iter().enumerate() {
            match &e.object_id {
                Some(id) => {
                    if let Some(d) = relisted
                        .as_ref()
                        .and_then(|l| l.iter().find(|d| &d.id == id))
                    {
                        now.insert(n, (Some(d.id.clone()), d.account_enabled));
                    }
                }
                None if written.contains(&n) => {
                    if let Ok(d) = reads.take(&reread_tag(n)).and_then(|r| devices::decode(&r)) {
                        now.insert(n, (Some(d.id), d.account_enabled));
                    }
                }
                None => {}
            }
        }
        let list = found
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.in_entra())
            .map(|(n, e)| match now.get(&n) {
                Some((id, enabled)) => e.snapshot(id.as_ref().or(e.object_id.as_ref()), *enabled),
                None => e.snapshot(
                    e.object_id
                        .as_ref()
                        .or(self.looked_up.get(&n).map(|d| &d.id)),
                    e.account_enabled
                        .or(self.looked_up.get(&n).and_then(|d| d.account_enabled)),
                ),
            })
            .collect();
        after.insert("devices".into(), Value::Array(list));

        let disabled: Vec<usize> = written
            .into_iter()
            .filter(|n| matches!(self.results.get(n), Some(Ok(()))))
            .collect();
        if disabled.is_empty() {
            return;
        }
        let mut still = 0;
        for n in &disabled {
            let e = &found.entries[*n];
            match now.get(n) {
                Some((_, Some(false))) => {}
                Some(_) => {
                    verdict
                        .problems
                        .push(format!("device {} is still enabled", e.name()));
                    verdict.contradicts_write = true;
                    still += 1;
                }
                None => {
                    verdict
                        .problems
                        .push(format!("device {} could not be read back", e.name()));
                    still += 1;
                }
            }
        }
        if still == 0 {
            verdict
                .held
                .push(format!("{} device(s) read back disabled", disabled.len()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::managed_devices::ManagedDevice;

    fn registered(n: u8, device_id: &str) -> Device {
        serde_json::from_value(json!({
            "id": format!("1d-{n}"),
            "deviceId": device_id,
            "displayName": format!("PC-{n}"),
            "operatingSystem": "Windows",
            "accountEnabled": true
        }))
        .unwrap()
    }

    fn managed(n: u8, device_id: &str) -> ManagedDevice {
        serde_json::from_value(json!({
            "id": format!("3d-{n}"),
            "deviceName": format!("M-{n}"),
            "operatingSystem": "Windows",
            "azureADDeviceId": device_id
        }))
        .unwrap()
    }

    #[test]
    fn merge_joins_by_device_id_without_duplicates() {
        let entries = merge(
            vec![registered(1, "2D-1"), registered(2, "2d-2")],
            vec![
                managed(1, "2d-1"),
                managed(9, "2d-1"),
                managed(3, "2d-3"),
                managed(4, "2d-3"),
                managed(5, "00000000-0000-0000-0000-000000000000"),
            ],
        );
        let summary: Vec<(&str, Option<&str>, Option<&str>)> = entries
            .iter()
            .map(|e| {
                (
                    e.origin.as_str(),
                    e.object_id.as_ref().map(|i| i.0.as_str()),
                    e.managed_device_id.as_ref().map(|m| m.0.as_str()),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("both", Some("1d-1"), Some("3d-1")),
                ("entra", Some("1d-2"), None),
                ("intune", None, Some("3d-3")),
                ("intune", None, Some("3d-5")),
            ]
        );
        assert!(entries[2].in_entra() && !entries[3].in_entra());
        assert_eq!(entries[0].label(), "PC-1 (Windows, Intune-managed)");
        assert_eq!(entries[1].label(), "PC-2 (Windows)");
    }

    #[test]
    fn the_change_line_counts_unread_devices_apart() {
        let snapshot = |devices: Value| {
            let mut m = Map::new();
            m.insert("devices".into(), devices);
            m
        };
        let before = snapshot(json!([{"accountEnabled": true}, {"accountEnabled": null}]));
        let after = snapshot(json!([{"accountEnabled": false}, {"accountEnabled": false}]));
        assert_eq!(
            DisableDevices.change_line(&before, &after).unwrap(),
            "devices enabled: 1 of 2 (1 not read) -> 0 of 2"
        );
    }

    fn api(status: u16, code: &str, message: &str) -> GraphError {
        GraphError::Api(crate::graph::ApiError {
            status,
            code: code.into(),
            message: message.into(),
            request_id: None,
            retry_after: None,
        })
    }

    #[test]
    fn neither_place_answering_names_both_ways_out() {
        let denied = || {
            api(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges",
            )
        };
        let no_intune = || {
            api(
                400,
                "BadRequest",
                "Request not applicable to target tenant.",
            )
        };
        let found = |intune: GraphError| Found {
            entra: Source::NotAvailable(denied()),
            intune: Source::NotAvailable(intune),
            entries: Vec::new(),
        };
        let app = nothing_listed(&found(denied()), TokenKind::AppOnly);
        assert_eq!(app.status, StepStatus::Failed);
        let hint = app.error.unwrap().hint.unwrap();
        assert!(
            hint.contains("DeviceManagementManagedDevices.Read.All"),
            "{hint}"
        );
        assert!(hint.contains("--auth azure-cli"), "{hint}");
        let unlicensed = nothing_listed(&found(no_intune()), TokenKind::AppOnly);
        assert!(unlicensed
            .error
            .unwrap()
            .hint
            .unwrap()
            .contains("no Intune"));
        let delegated = nothing_listed(&found(denied()), TokenKind::Delegated);
        assert!(delegated
            .error
            .unwrap()
            .hint
            .unwrap()
            .contains("Directory.Read.All"));
    }
}

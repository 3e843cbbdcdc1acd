//! `disable_devices`: list the user's registered devices
//! (`GET /users/{id}/registeredDevices`, learn: graph/api/user-list-registereddevices) and
//! disable each enabled one with `PATCH /devices/{id}` `{"accountEnabled": false}`
//! (learn: graph/api/device-update). Undone by re-enabling each device it disabled.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::{
    item, Answers, Earlier, Prepared, Progress, Read, Reads, Record, Request, RunCx, Selected,
    Step, UserCx, Verdict,
};
use crate::auth::TokenKind;
use crate::graph::devices::{self, Device};
use crate::graph::users::{User, UserId};
use crate::graph::GraphError;
use crate::hints::{self, Hint};
use crate::report::{ErrorReport, ItemReport, StepReport, StepStatus};

pub struct DisableDevices;

const NAME: &str = "disable_devices";
const LIST: &str = "registeredDevices";

impl Step for DisableDevices {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["devices"]
    }

    fn action(&self) -> Option<&'static str> {
        Some("disable registered devices")
    }

    fn reads(&self, who: &str, _cx: &RunCx) -> Vec<Read> {
        vec![Read::paged(LIST, devices::list_registered(who))]
    }

    fn prepare(&self, cx: &UserCx<'_>, mut reads: Reads, selected: Selected) -> Box<dyn Prepared> {
        let token = cx.run.token_kind;
        if let Some(report) = selected.skipped_report(NAME) {
            return Box::new(State {
                token,
                owner: cx.user.id.clone(),
                listed: None,
                requests: Vec::new(),
                report: Some(report),
                results: HashMap::new(),
            });
        }
        let listed = match reads
            .take(LIST)
            .and_then(|r| r.json::<crate::graph::paging::Items>())
        {
            Ok(items) => devices::from_directory_objects(items.value),
            Err(e) => Err(e),
        };
        let requests: Vec<Request> = match &listed {
            Ok(list) => list
                .iter()
                .filter(|d| d.account_enabled != Some(false))
                .map(|d| Request::write(d.id.0.clone(), devices::disable(&d.id), "disable devices"))
                .collect(),
            Err(_) => Vec::new(),
        };
        let report = match &listed {
            Err(e) => Some(StepReport::failed(
                NAME,
                "the user's registered devices could not be listed",
                ErrorReport::from_graph(e, list_hint(e, token).or_else(|| hints::common(e))),
            )),
            Ok(list) if requests.is_empty() => Some(device_step(list, &HashMap::new(), token)),
            Ok(_) => None,
        };
        Box::new(State {
            token,
            owner: cx.user.id.clone(),
            listed: Some(listed),
            requests,
            report,
            results: HashMap::new(),
        })
    }

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

    fn change_line(
        &self,
        before: &Map<String, Value>,
        after: &Map<String, Value>,
    ) -> Option<String> {
        let (b, a) = (
            before.get("devices")?.as_array()?,
            after.get("devices")?.as_array()?,
        );
        let enabled = |d: &Vec<Value>| {
            d.iter()
                .filter(|x| x["accountEnabled"] != json!(false))
                .count()
        };
        Some(format!(
            "devices enabled: {} of {} -> {} of {}",
            enabled(b),
            b.len(),
            enabled(a),
            a.len()
        ))
    }
}

struct State {
    token: TokenKind,
    owner: UserId,
    /// `None` when a flag left the step out (nothing was listed).
    listed: Option<Result<Vec<Device>, GraphError>>,
    requests: Vec<Request>,
    report: Option<StepReport>,
    /// Each written device's answer, by device object id.
    results: HashMap<String, Result<(), GraphError>>,
}

impl State {
    fn devices(&self) -> Option<&[Device]> {
        match &self.listed {
            Some(Ok(list)) => Some(list),
            _ => None,
        }
    }
}

fn list_hint(err: &GraphError, token: TokenKind) -> Option<Hint> {
    match err.status()? {
        403 if token != TokenKind::Delegated => hints::hint(
            "Graph does not support listing a user's registered devices with application permissions: run with a delegated sign-in (--auth azure-cli), or pass --skip devices and disable devices in Intune",
        ),
        403 => hints::hint("the token needs Directory.Read.All (or Device.Read.All)"),
        _ => None,
    }
}

fn disable_hint(err: &GraphError, device: &Device) -> Option<Hint> {
    let synced = device.on_premises_sync_enabled == Some(true);
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

fn label(d: &Device) -> String {
    format!(
        "{} ({})",
        d.name(),
        d.operating_system.as_deref().unwrap_or("unknown OS")
    )
}

fn fields(d: &Device) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), json!(d.id.0));
    m.insert("displayName".into(), json!(d.display_name));
    m.insert("operatingSystem".into(), json!(d.operating_system));
    m
}

fn snapshot(list: &[Device]) -> Value {
    Value::Array(
        list.iter()
            .map(|d| json!({"id": d.id.0, "accountEnabled": d.account_enabled}))
            .collect(),
    )
}

/// The step from each written device's answer; devices not written were already disabled.
fn device_step(
    list: &[Device],
    results: &HashMap<String, Result<(), GraphError>>,
    _token: TokenKind,
) -> StepReport {
    let mut items: Vec<ItemReport> = Vec::with_capacity(list.len());
    let (mut done, mut already, mut failed) = (0usize, 0usize, 0usize);
    for d in list {
        let (status, err) = match results.get(&d.id.0) {
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
                let hint = disable_hint(e, d).or_else(|| hints::common(e));
                (StepStatus::Failed, Some(ErrorReport::from_graph(e, hint)))
            }
        };
        items.push(item(fields(d), label(d), status, err));
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
    StepReport::new(NAME, status, detail).with_items("devices", items)
}

impl Prepared for State {
    fn before(&self, state: &mut Map<String, Value>) {
        if let Some(list) = self.devices() {
            state.insert("devices".into(), snapshot(list));
        }
    }

    fn facts(&self, json: &mut Map<String, Value>, text: &mut Vec<String>) {
        match &self.listed {
            Some(Ok(list)) => {
                json.insert(
                    "devices".into(),
                    Value::Array(
                        list.iter()
                            .map(|d| {
                                json!({
                                    "id": d.id.0,
                                    "displayName": d.display_name,
                                    "operatingSystem": d.operating_system,
                                    "accountEnabled": d.account_enabled,
                                    "trustType": d.trust_type,
                                })
                            })
                            .collect(),
                    ),
                );
                text.push(format!("registered devices:  {}", list.len()));
                for d in list {
                    text.push(format!(
                        "  - {}: {}",
                        label(d),
                        if d.account_enabled == Some(false) {
                            "disabled"
                        } else {
                            "enabled"
                        }
                    ));
                }
            }
            Some(Err(e)) => {
                let err = ErrorReport::from_graph(
                    e,
                    list_hint(e, self.token).or_else(|| hints::common(e)),
                );
                text.push(format!(
                    "registered devices:  could not be listed ({} {})",
                    err.status.map(|s| s.to_string()).unwrap_or_default(),
                    err.code
                ));
                if let Some(h) = &err.hint {
                    text.push(format!("  hint: {h}"));
                }
                json.insert("devicesError".into(), json!(err));
            }
            None => {}
        }
    }

    fn requests(&self, _earlier: &[Earlier<'_>]) -> Vec<Request> {
        if self.report.is_some() {
            return Vec::new();
        }
        self.requests.clone()
    }

    fn planned(&self, _earlier: &[Earlier<'_>]) -> StepReport {
        let list = match (&self.report, self.devices()) {
            (Some(report), _) if report.status != StepStatus::Already => return report.clone(),
            (_, Some(list)) => list,
            (Some(report), None) => return report.clone(),
            (None, None) => unreachable!("listed devices or a report"),
        };
        let planned = self.requests.len();
        let items = list
            .iter()
            .map(|d| {
                let status = if d.account_enabled == Some(false) {
                    StepStatus::Already
                } else {
                    StepStatus::Planned
                };
                item(fields(d), label(d), status, None)
            })
            .collect();
        let detail = if list.is_empty() {
            "no registered devices".to_owned()
        } else {
            format!(
                "would send PATCH /v1.0/devices/{{id}} {{\"accountEnabled\":false}} for {planned} of {} device(s)",
                list.len()
            )
        };
        let status = if planned > 0 {
            StepStatus::Planned
        } else {
            StepStatus::Already
        };
        StepReport::new(NAME, status, detail).with_items("devices", items)
    }

    fn finish(&mut self, mut answers: Answers, _earlier: &[Earlier<'_>]) -> Progress {
        if self.report.is_some() {
            return Progress::Done;
        }
        for r in &self.requests {
            self.results
                .insert(r.tag.clone(), answers.take(&r.tag).map(|_| ()));
        }
        let list = self.devices().expect("writes come from a listing");
        self.report = Some(device_step(list, &self.results, self.token));
        Progress::Done
    }

    fn report(&self) -> Option<StepReport> {
        self.report.clone()
    }

    fn verify_reads(&self) -> Vec<Read> {
        match (&self.report, self.devices()) {
            // Re-list only when there were devices to disable.
            (None, Some(_)) if !self.requests.is_empty() => {
                vec![Read::paged(LIST, devices::list_registered(&self.owner.0))]
            }
            _ => Vec::new(),
        }
    }

    fn verify(
        &self,
        _user: &User,
        reads: &mut Answers,
        after: &mut Map<String, Value>,
        verdict: &mut Verdict,
    ) {
        let Some(before) = self.devices() else {
            return;
        };
        let disabled: Vec<&String> = self
            .results
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(id, _)| id)
            .collect();
        let now = if self.requests.is_empty() {
            None
        } else {
            reads
                .take(LIST)
                .and_then(|r| r.json::<crate::graph::paging::Items>())
                .and_then(|items| devices::from_directory_objects(items.value))
                .ok()
        };
        after.insert("devices".into(), snapshot(now.as_deref().unwrap_or(before)));
        if disabled.is_empty() {
            return;
        }
        match &now {
            Some(now) => {
                let mut still = 0;
                for id in &disabled {
                    if now
                        .iter()
                        .any(|d| &&d.id.0 == id && d.account_enabled != Some(false))
                    {
                        verdict
                            .problems
                            .push(format!("device {id} is still enabled"));
                        verdict.contradicts_write = true;
                        still += 1;
                    }
                }
                if still == 0 {
                    verdict
                        .held
                        .push(format!("{} device(s) read back disabled", disabled.len()));
                }
            }
            None => verdict
                .problems
                .push("the devices could not be read back".into()),
        }
    }
}

/// `enable_devices`, the undo: re-enable each device lockdown disabled (the report says `done`
/// for it, and it was enabled before), only if it still belongs to the user and is still as
/// lockdown left it. A report line naming a device that is not the user's is refused for it.
struct Enable {
    owner: UserId,
    /// The devices' state now, before the undo: (id, accountEnabled).
    now: Vec<(String, Option<bool>)>,
    /// Devices to re-enable, and the answers to them.
    requests: Vec<Request>,
    items: Vec<UndoItem>,
    results: HashMap<String, Result<(), GraphError>>,
    report: Option<StepReport>,
    listed: bool,
}

const UNDO: &str = "enable_devices";

/// A device of the undo: its report fields, its label, and its status and reason when already
/// decided (`None`: to be enabled).
type UndoItem = (
    Map<String, Value>,
    String,
    Option<StepStatus>,
    Option<String>,
);

/// The devices lockdown disabled, from the report: (id, display name, operating system).
fn disabled_by_lockdown(record: &Record) -> Vec<(String, Value, Value)> {
    let Some(step) = record.step(NAME) else {
        return Vec::new();
    };
    let was_enabled = |id: &str| {
        record
            .before
            .get("devices")
            .and_then(Value::as_array)
            .and_then(|ds| ds.iter().find(|d| d["id"] == json!(id)))
            .is_some_and(|d| d["accountEnabled"] != json!(false))
    };
    step.get("devices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|d| d["status"] == json!("done"))
        .filter_map(|d| {
            let id = d["id"].as_str()?.to_owned();
            was_enabled(&id).then(|| (id, d["displayName"].clone(), d["operatingSystem"].clone()))
        })
        .collect()
}

/// What lockdown left the device as, by the report's `after`.
fn left_disabled(record: &Record, id: &str) -> bool {
    record
        .after
        .get("devices")
        .and_then(Value::as_array)
        .and_then(|ds| ds.iter().find(|d| d["id"] == json!(id)))
        .is_some_and(|d| d["accountEnabled"] == json!(false))
}

pub(super) fn undo_reads(id: &str, record: Option<&Record>) -> Vec<Read> {
    match record {
        Some(r) if !disabled_by_lockdown(r).is_empty() => {
            vec![Read::paged(LIST, devices::list_registered(id))]
        }
        _ => Vec::new(),
    }
}

pub(super) fn undo(
    cx: &UserCx<'_>,
    mut reads: Reads,
    record: Option<&Record>,
) -> Option<Box<dyn Prepared>> {
    let record = record?;
    let wanted = disabled_by_lockdown(record);
    if wanted.is_empty() {
        return None;
    }
    let now = reads
        .take(LIST)
        .and_then(|r| r.json::<crate::graph::paging::Items>())
        .and_then(|items| devices::from_directory_objects(items.value));
    let mut requests = Vec::new();
    let mut items = Vec::new();
    let mut list_error = None;
    for (id, name, os) in wanted {
        let mut fields = Map::new();
        fields.insert("id".into(), json!(id));
        fields.insert("displayName".into(), name.clone());
        fields.insert("operatingSystem".into(), os.clone());
        let label = format!(
            "{} ({})",
            name.as_str().unwrap_or(&id),
            os.as_str().unwrap_or("unknown OS")
        );
        let (status, why) = match &now {
            Err(e) => {
                list_error.get_or_insert_with(|| e.clone());
                (
                    Some(StepStatus::Skipped),
                    Some("left alone: the user's devices could not be listed, so it could not be confirmed that this device is theirs".to_owned()),
                )
            }
            Ok(list) => match list.iter().find(|d| d.id.0.eq_ignore_ascii_case(&id)) {
                None => (
                    Some(StepStatus::Skipped),
                    Some("refused: not a registered device of this user now (a stale or altered report?)".to_owned()),
                ),
                Some(d) if d.account_enabled != Some(false) => {
                    (Some(StepStatus::Already), Some("already enabled".to_owned()))
                }
                Some(d) if left_disabled(record, &id) || cx.run.force => {
                    requests.push(Request::write(
                        id.clone(),
                        devices::enable(&d.id),
                        "enable devices",
                    ));
                    (None, None)
                }
                Some(_) => (
                    Some(StepStatus::Skipped),
                    Some("changed since the lockdown: the report does not show lockdown leaving it disabled (pass --force to enable it anyway)".to_owned()),
                ),
            },
        };
        items.push((fields, label, status, why));
    }
    let now_state = match &now {
        Ok(list) => items
            .iter()
            .filter_map(|(fields, ..)| {
                let id = fields["id"].as_str()?;
                let d = list.iter().find(|d| d.id.0.eq_ignore_ascii_case(id))?;
                Some((d.id.0.clone(), d.account_enabled))
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    Some(Box::new(Enable {
        owner: cx.user.id.clone(),
        now: now_state,
        requests,
        items,
        results: HashMap::new(),
        report: None,
        listed: now.is_ok(),
    }))
}

impl Enable {
    fn build(&self, planned: bool) -> StepReport {
        let mut reports = Vec::new();
        let (mut done, mut already, mut left, mut failed, mut plan) = (0, 0, 0, 0, 0);
        for (fields, label, status, why) in &self.items {
            let id = fields["id"].as_str().unwrap_or_default();
            let (status, error) = match status {
                Some(s) => (*s, None),
                None if planned => (StepStatus::Planned, None),
                None => match self.results.get(id) {
                    Some(Ok(())) => (StepStatus::Done, None),
                    Some(Err(e)) => (
                        StepStatus::Failed,
                        Some(ErrorReport::from_graph(e, hints::common(e))),
                    ),
                    None => (StepStatus::Failed, None),
                },
            };
            match status {
                StepStatus::Done => done += 1,
                StepStatus::Already => already += 1,
                StepStatus::Skipped => left += 1,
                StepStatus::Failed => failed += 1,
                StepStatus::Planned => plan += 1,
            }
            let mut fields = fields.clone();
            if let Some(why) = why {
                fields.insert("reason".into(), json!(why));
            }
            reports.push(item(fields, label.clone(), status, error));
        }
        let status = if failed > 0 {
            StepStatus::Failed
        } else if plan > 0 {
            StepStatus::Planned
        } else if done > 0 {
            StepStatus::Done
        } else if left > 0 {
            StepStatus::Skipped
        } else {
            StepStatus::Already
        };
        let mut parts = Vec::new();
        for (n, what) in [
            (done, "enabled"),
            (plan, "to enable"),
            (already, "already enabled"),
            (left, "left alone"),
            (failed, "could not be enabled"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        let detail = if planned && plan > 0 {
            format!(
                "would send PATCH /v1.0/devices/{{id}} {{\"accountEnabled\":true}} for {plan} of {} device(s)",
                self.items.len()
            )
        } else {
            format!("{} device(s): {}", self.items.len(), parts.join(", "))
        };
        StepReport::new(UNDO, status, detail).with_items("devices", reports)
    }
}

impl Prepared for Enable {
    fn before(&self, state: &mut Map<String, Value>) {
        if !self.now.is_empty() {
            state.insert(
                "devices".into(),
                Value::Array(
                    self.now
                        .iter()
                        .map(|(id, enabled)| json!({"id": id, "accountEnabled": enabled}))
                        .collect(),
                ),
            );
        }
    }

    fn requests(&self, _earlier: &[Earlier<'_>]) -> Vec<Request> {
        self.requests.clone()
    }

    fn planned(&self, _earlier: &[Earlier<'_>]) -> StepReport {
        self.build(true)
    }

    fn finish(&mut self, mut answers: Answers, _earlier: &[Earlier<'_>]) -> Progress {
        for r in &self.requests {
            self.results
                .insert(r.tag.clone(), answers.take(&r.tag).map(|_| ()));
        }
        self.report = Some(self.build(false));
        Progress::Done
    }

    fn report(&self) -> Option<StepReport> {
        self.report.clone()
    }

    fn verify_reads(&self) -> Vec<Read> {
        if self.requests.is_empty() || !self.listed {
            return Vec::new();
        }
        vec![Read::paged(LIST, devices::list_registered(&self.owner.0))]
    }

    fn verify(
        &self,
        _user: &User,
        reads: &mut Answers,
        after: &mut Map<String, Value>,
        verdict: &mut Verdict,
    ) {
        let enabled: Vec<&String> = self
            .results
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(id, _)| id)
            .collect();
        if enabled.is_empty() {
            return;
        }
        let now = reads
            .take(LIST)
            .and_then(|r| r.json::<crate::graph::paging::Items>())
            .and_then(|items| devices::from_directory_objects(items.value));
        match now {
            Ok(now) => {
                let concerned: Vec<Device> = now
                    .iter()
                    .filter(|d| self.now.iter().any(|(id, _)| *id == d.id.0))
                    .cloned()
                    .collect();
                after.insert("devices".into(), snapshot(&concerned));
                let still: Vec<&&String> = enabled
                    .iter()
                    .filter(|id| {
                        now.iter()
                            .any(|d| &&d.id.0 == *id && d.account_enabled == Some(false))
                    })
                    .collect();
                if still.is_empty() {
                    verdict
                        .held
                        .push(format!("{} device(s) read back enabled", enabled.len()));
                } else {
                    for id in still {
                        verdict
                            .problems
                            .push(format!("device {id} is still disabled"));
                    }
                    verdict.contradicts_write = true;
                }
            }
            Err(_) => verdict
                .problems
                .push("the devices could not be read back".into()),
        }
    }
}

//! What the undos of "turn things off" steps share (devices, inbox rules): given the items a
//! `block` report says lockdown turned off, and what was read of them now, turn back on each one
//! that still belongs to the user and is still as lockdown left it; report each item, and check
//! on the re-read that it took. The steps decide what their items are, how to read them and how
//! to turn one on; this module decides what to do with each and reports it the same way.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::listed::{answered, Tally};
use super::{item, Answers, Earlier, Prepared, Progress, Read, Request, Verdict};
use crate::graph::users::User;
use crate::graph::{GraphError, GraphRequest};
use crate::hints;
use crate::report::{ErrorReport, StepReport, StepStatus};

/// Names and words of one undo.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Its report name: `enable_devices`.
    pub name: &'static str,
    /// The key of its items in the report and in before/after: `devices`.
    pub items: &'static str,
    /// What one item is called in sentences: `device`.
    pub noun: &'static str,
    /// The item's on/off property in before/after: `accountEnabled`.
    pub flag: &'static str,
    /// For logs and retry warnings: "enable devices".
    pub what: &'static str,
}

/// An item lockdown turned off, as the report tells it.
pub struct Candidate {
    /// Unique within the step (a tag): the object id, or `deviceId:...`.
    pub key: String,
    /// The fields the report gives the item (id, displayName, ...).
    pub fields: Map<String, Value>,
    /// How the text report names it.
    pub label: String,
    /// The report's `after` shows lockdown leaving it off.
    pub left_off: bool,
}

/// What was read of an item now.
#[derive(Debug, Clone)]
pub enum Now {
    /// Not the user's (not among its devices, not in its mailbox): never touched.
    NotTheirs,
    On,
    /// Off, and the request that would turn it back on.
    Off(GraphRequest),
}

/// How the state is read back for verify: the reads, and how to turn their answers into each
/// item's on/off by key.
pub struct ReadBack {
    pub reads: Vec<Read>,
    pub parse: fn(&mut Answers) -> Result<HashMap<String, bool>, GraphError>,
}

struct Item {
    candidate: Candidate,
    /// The request that turns it back on, when it is to be sent.
    enable: Option<GraphRequest>,
    /// Decided without a write (already, left alone, refused), with why.
    decided: Option<(StepStatus, String)>,
    now: Option<bool>,
}

pub struct Restore {
    spec: Spec,
    items: Vec<Item>,
    results: HashMap<String, Result<(), GraphError>>,
    report: Option<StepReport>,
    read_back: ReadBack,
}

/// Decide each candidate from what was read now. `None` when there is nothing to undo.
pub fn prepare(
    spec: Spec,
    candidates: Vec<(Candidate, Result<Now, GraphError>)>,
    force: bool,
    read_back: ReadBack,
) -> Option<Box<dyn Prepared>> {
    if candidates.is_empty() {
        return None;
    }
    let noun = spec.noun;
    let items = candidates
        .into_iter()
        .map(|(candidate, now)| {
            let mut enable = None;
            let (decided, state) = match now {
                Err(e) => (
                    Some((
                        StepStatus::Skipped,
                        format!("left alone: it could not be read now, so it could not be confirmed that this {noun} is the user's ({e})"),
                    )),
                    None,
                ),
                Ok(Now::NotTheirs) => (
                    Some((
                        StepStatus::Skipped,
                        format!("refused: not a {noun} of this user now (a stale or altered report?)"),
                    )),
                    None,
                ),
                // Lockdown left it off and it is on: someone turned it back on since. Said as
                // such, not taken for lockdown's own doing: a responder must see it was touched.
                // `--force` asks for it on whatever happened since: then it already is.
                Ok(Now::On) if candidate.left_off && !force => (
                    Some((
                        StepStatus::Skipped,
                        format!("changed since the lockdown (now on): someone turned this {noun} back on after lockdown left it off"),
                    )),
                    Some(true),
                ),
                Ok(Now::On) => (
                    Some((StepStatus::Already, "already on".to_owned())),
                    Some(true),
                ),
                Ok(Now::Off(request)) if candidate.left_off || force => {
                    enable = Some(request);
                    (None, Some(false))
                }
                Ok(Now::Off(_)) => (
                    Some((
                        StepStatus::Skipped,
                        "changed since the lockdown: the report does not show lockdown leaving it off (pass --force to turn it on anyway)".to_owned(),
                    )),
                    Some(false),
                ),
            };
            Item {
                candidate,
                enable,
                decided,
                now: state,
            }
        })
        .collect();
    Some(Box::new(Restore {
        spec,
        items,
        results: HashMap::new(),
        report: None,
        read_back,
    }))
}

impl Restore {
    fn requests(&self) -> Vec<Request> {
        self.items
            .iter()
            .filter_map(|i| {
                let enable = i.enable.clone()?;
                Some(Request::write(
                    i.candidate.key.clone(),
                    enable,
                    self.spec.what,
                ))
            })
            .collect()
    }

    fn build(&self, planned: bool) -> StepReport {
        let mut reports = Vec::with_capacity(self.items.len());
        let mut tally = Tally::default();
        for i in &self.items {
            let (status, why, error) = match &i.decided {
                Some((status, why)) => (*status, Some(why.clone()), None),
                None if planned => (StepStatus::Planned, None, None),
                None => match self.results.get(&i.candidate.key) {
                    Some(Ok(())) => (StepStatus::Done, None, None),
                    Some(Err(e)) => (
                        StepStatus::Failed,
                        None,
                        Some(ErrorReport::from_graph(e, hints::common(e))),
                    ),
                    None => (StepStatus::Failed, Some("not sent".to_owned()), None),
                },
            };
            tally.add(status);
            let mut fields = i.candidate.fields.clone();
            if let Some(why) = why {
                fields.insert("reason".into(), json!(why));
            }
            reports.push(item(fields, i.candidate.label.clone(), status, error));
        }
        let n = |s: StepStatus| tally.n(s);
        let status = tally.status(
            &[
                StepStatus::Failed,
                StepStatus::Planned,
                StepStatus::Done,
                StepStatus::Skipped,
            ],
            StepStatus::Already,
        );
        let parts = tally.parts(&[
            (StepStatus::Done, "turned back on"),
            (StepStatus::Planned, "to turn back on"),
            (StepStatus::Already, "already on"),
            (StepStatus::Skipped, "left alone"),
            (StepStatus::Failed, "could not be turned back on"),
        ]);
        let detail = if planned && n(StepStatus::Planned) > 0 {
            format!(
                "would turn {} of {} {}(s) back on (each request is listed in -o json)",
                n(StepStatus::Planned),
                self.items.len(),
                self.spec.noun
            )
        } else {
            format!(
                "{} {}(s): {}",
                self.items.len(),
                self.spec.noun,
                parts.join(", ")
            )
        };
        StepReport::new(self.spec.name, status, detail).with_items(self.spec.items, reports)
    }

    fn states(&self, on: impl Fn(&Item) -> Option<bool>) -> Value {
        Value::Array(
            self.items
                .iter()
                .filter(|i| i.now.is_some())
                .map(|i| {
                    let mut m = Map::new();
                    m.insert(
                        "id".into(),
                        i.candidate.fields.get("id").cloned().unwrap_or(Value::Null),
                    );
                    m.insert(self.spec.flag.into(), json!(on(i)));
                    Value::Object(m)
                })
                .collect(),
        )
    }
}

impl Prepared for Restore {
    fn before(&self, state: &mut Map<String, Value>) {
        state.insert(self.spec.items.into(), self.states(|i| i.now));
    }

    fn requests(&self, _earlier: &[Earlier<'_>]) -> Vec<Request> {
        Restore::requests(self)
    }

    fn planned(&self, _earlier: &[Earlier<'_>]) -> StepReport {
        self.build(true)
    }

    fn finish(&mut self, mut answers: Answers, _earlier: &[Earlier<'_>]) -> Progress {
        self.results = answered(&Restore::requests(self), &mut answers);
        self.report = Some(self.build(false));
        Progress::Done
    }

    fn report(&self) -> Option<StepReport> {
        self.report.clone()
    }

    fn verify_reads(&self) -> Vec<Read> {
        if self.results.values().any(Result::is_ok) || self.report.is_none() {
            self.read_back.reads.clone()
        } else {
            Vec::new()
        }
    }

    fn verify(
        &self,
        _user: &User,
        reads: &mut Answers,
        after: &mut Map<String, Value>,
        verdict: &mut Verdict,
    ) {
        let turned_on: Vec<&String> = self
            .results
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(k, _)| k)
            .collect();
        if turned_on.is_empty() {
            return;
        }
        match (self.read_back.parse)(reads) {
            Ok(now) => {
                after.insert(
                    self.spec.items.into(),
                    self.states(|i| now.get(&i.candidate.key).copied().or(i.now)),
                );
                let still: Vec<&&String> = turned_on
                    .iter()
                    .filter(|k| now.get(k.as_str()) == Some(&false))
                    .collect();
                if still.is_empty() {
                    verdict.held.push(format!(
                        "{} {}(s) read back on",
                        turned_on.len(),
                        self.spec.noun
                    ));
                } else {
                    for k in still {
                        verdict
                            .problems
                            .push(format!("{} {k} is still off", self.spec.noun));
                    }
                    verdict.contradicts_write = true;
                }
            }
            Err(_) => verdict
                .problems
                .push(format!("the {}s could not be read back", self.spec.noun)),
        }
    }
}

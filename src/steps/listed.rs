//! What the steps that list a user's items and act on each share (authentication methods, app
//! consents, inbox rules, Intune remote locks): the list from the step's first read (or why
//! there is none: a flag left the step out, the read failed), each write's answer by its tag,
//! and the count of the items' statuses that makes the step's status and summary. Each step
//! supplies what differs: how an item is decoded, what to do with it, its words and hints. The
//! undos share theirs in `restore`.

use std::collections::HashMap;

use serde_json::Value;

use super::{Answers, Reads, Request, Selected};
use crate::graph::paging::Items;
use crate::graph::GraphError;
use crate::report::{StepReport, StepStatus};

/// Whether a step's items were listed.
pub enum Listing<T> {
    /// Not listed (a flag left the step out, the read failed): the report says why, and the
    /// read's error is kept for `status`.
    Unlisted {
        report: StepReport,
        error: Option<GraphError>,
    },
    /// Listed: the items, and the step's report once there is one (nothing to do, or every
    /// write answered).
    Listed {
        items: Vec<T>,
        report: Option<StepReport>,
    },
}

impl<T> Listing<T> {
    /// `prepare`: nothing is listed for a step a flag left out; otherwise the items of the first
    /// read tagged `tag`, decoded by `decode`, or the report `unlisted` makes of its error.
    pub fn read(
        name: &'static str,
        selected: &Selected,
        reads: &mut Reads,
        tag: &str,
        decode: impl FnOnce(Vec<Value>) -> Result<Vec<T>, GraphError>,
        unlisted: impl FnOnce(&GraphError) -> StepReport,
    ) -> Listing<T> {
        if let Some(report) = selected.skipped_report(name) {
            return Listing::Unlisted {
                report,
                error: None,
            };
        }
        let listed = reads
            .take(tag)
            .and_then(|r| r.json::<Items>())
            .and_then(|items| decode(items.value));
        match listed {
            Ok(items) => Listing::Listed {
                items,
                report: None,
            },
            Err(e) => Listing::Unlisted {
                report: unlisted(&e),
                error: Some(e),
            },
        }
    }

    /// The items, when they were listed.
    pub fn items(&self) -> Option<&[T]> {
        match self {
            Listing::Listed { items, .. } => Some(items),
            Listing::Unlisted { .. } => None,
        }
    }

    /// The step's report, once there is one.
    pub fn report(&self) -> Option<&StepReport> {
        match self {
            Listing::Unlisted { report, .. } => Some(report),
            Listing::Listed { report, .. } => report.as_ref(),
        }
    }

    /// The items still to act on, or the report the step already has.
    pub fn pending(&self) -> Result<&[T], &StepReport> {
        match self {
            Listing::Unlisted { report, .. }
            | Listing::Listed {
                report: Some(report),
                ..
            } => Err(report),
            Listing::Listed {
                items,
                report: None,
            } => Ok(items),
        }
    }

    /// Why the items could not be listed, when the read failed.
    pub fn error(&self) -> Option<&GraphError> {
        match self {
            Listing::Unlisted { error, .. } => error.as_ref(),
            Listing::Listed { .. } => None,
        }
    }

    /// The step's report, decided from the listed items (nothing to do, or every write
    /// answered).
    pub fn settle(&mut self, settled: StepReport) {
        if let Listing::Listed { report, .. } = self {
            *report = Some(settled);
        }
    }
}

/// Each of `requests`' answer, by tag: whether Graph accepted it.
pub fn answered(
    requests: &[Request],
    answers: &mut Answers,
) -> HashMap<String, Result<(), GraphError>> {
    requests
        .iter()
        .map(|r| (r.tag.clone(), answers.take(&r.tag).map(|_| ())))
        .collect()
}

/// How many of a step's items ended in each status.
#[derive(Debug, Default)]
pub struct Tally(HashMap<StepStatus, usize>);

impl Tally {
    pub fn add(&mut self, status: StepStatus) {
        *self.0.entry(status).or_default() += 1;
    }

    pub fn n(&self, status: StepStatus) -> usize {
        self.0.get(&status).copied().unwrap_or(0)
    }

    /// The first of `order` that any item has, or `otherwise`.
    pub fn status(&self, order: &[StepStatus], otherwise: StepStatus) -> StepStatus {
        order
            .iter()
            .copied()
            .find(|s| self.n(*s) > 0)
            .unwrap_or(otherwise)
    }

    /// "2 turned back on, 1 left alone": each status some item has, counted, in `words`' order.
    pub fn parts(&self, words: &[(StepStatus, &str)]) -> Vec<String> {
        words
            .iter()
            .filter(|(s, _)| self.n(*s) > 0)
            .map(|(s, what)| format!("{} {what}", self.n(*s)))
            .collect()
    }
}

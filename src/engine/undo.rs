//! `unblock`: one user through the registry backwards. Each step owns its undo: the reads it
//! needs (the state now, who owns what), its decision from the `block` report's line and from
//! what was read (restore only what is still as lockdown left it, and only what belongs to the
//! user now), its writes and its checks. The engine sends the rounds and verifies (its verify
//! phase, last), as for `block`, and lists what cannot be undone.

use serde_json::Map;

use super::user::{changes, planned, resolved, Routed, Slot};
use super::verify::Verify;
use super::{Engine, Mode};
use crate::graph::users;
use crate::report::{NotUndone, Outcome, StepStatus, UserReport};
use crate::steps::{units, Read, Request, Unit, UserCx};
use crate::targets::Job;

const USER: &str = "user";

impl Engine {
    pub(crate) async fn unblock_user(&self, job: Job) -> UserReport {
        let mut report = UserReport::new(&job.raw);
        let record = job.record.as_deref();
        // The account by the object id the report recorded (a UPN may have changed since).
        let who = record
            .and_then(|r| r.id.clone())
            .unwrap_or_else(|| job.user.to_string());
        let mut first = vec![Routed {
            slot: None,
            request: Request::read(Read::one(USER, users::get(&who)), "resolve"),
        }];
        // Each step's undo, in report order (see `units`), by its index in this list.
        let undos: Vec<(Unit, &dyn crate::steps::Undo)> =
            units().filter_map(|u| Some((u, u.undo()?))).collect();
        for (n, (_, undo)) in undos.iter().enumerate() {
            for read in undo.undo_reads(&who, record, &self.run) {
                first.push(Routed {
                    slot: Some(n),
                    request: Request::read(read, "read"),
                });
            }
        }
        let round = self.send(&job.raw, first, None, None).remove(0);
        let mut answers = self.answers(&job.raw, round).await;
        let mut own = answers.remove(&None).unwrap_or_default();
        let Some(user) = resolved(&mut report, own.take(USER)) else {
            return report;
        };

        match record {
            Some(record) => {
                for (unit, undo) in &undos {
                    if let Some(reason) = undo.not_undoable(record) {
                        report.not_undone.push(NotUndone {
                            step: unit.name(),
                            reason,
                        });
                    }
                }
            }
            None => report.warnings.push(
                "without a report only the account can be re-enabled: which devices, rules or risk state lockdown changed is not known (use --from-report)"
                    .into(),
            ),
        }

        let cx = UserCx {
            run: &self.run,
            user: &user,
            raw: &job.raw,
        };
        let mut slots: Vec<Slot> = Vec::new();
        for (n, (unit, undo)) in undos.iter().enumerate() {
            let reads = answers.remove(&Some(n)).unwrap_or_default();
            if let Some(prepared) = undo.prepare_undo(&cx, reads, record) {
                slots.push(Slot {
                    step: *unit,
                    prepared,
                    done: false,
                });
            }
        }
        // Verify reads the account back after the undo, as after a lockdown.
        let mut verify = Verify::new(&user);
        let mut before = Map::new();
        for slot in &slots {
            slot.prepared.before(&mut before);
        }
        report.before = Some(before);

        if self.mode == (Mode::Unblock { dry_run: true }) {
            report.steps = planned(&slots, true);
            report.steps.push(verify.planned());
            report.outcome = Outcome::Planned;
            return report;
        }
        if let Err(stop) = self.drive(&job.raw, &mut slots, &mut verify).await {
            return self.cut_short(report, &slots, Some(&verify), stop, None);
        }
        report.steps = slots.iter().filter_map(|s| s.prepared.report()).collect();
        report.steps.extend(verify.report());
        report.after = verify.after();
        report.changes = changes(&slots, &report);
        report.outcome = outcome(&slots, &verify);
        report
    }
}

/// `restored` when everything undoable was restored or already was; `partial` when something
/// was left alone (changed since, not the user's, an account left disabled) or failed, and
/// either something took effect or nothing failed; `failed` when something failed and nothing
/// took effect.
fn outcome(slots: &[Slot], verify: &Verify) -> Outcome {
    let mut failed = verify
        .report()
        .is_some_and(|r| r.status == StepStatus::Failed);
    let mut left_alone = false;
    let mut effect = false;
    for slot in slots {
        let Some(r) = slot.prepared.report() else {
            continue;
        };
        let items: Vec<StepStatus> = r
            .items
            .iter()
            .flat_map(|(_, items)| items.iter().map(|i| i.status))
            .collect();
        failed |= r.status == StepStatus::Failed || items.contains(&StepStatus::Failed);
        left_alone |= r.status == StepStatus::Skipped || items.contains(&StepStatus::Skipped);
        effect |= slot.step.action().is_some()
            && matches!(r.status, StepStatus::Done | StepStatus::Already);
    }
    if !failed && !left_alone {
        Outcome::Restored
    } else if effect || !failed {
        Outcome::Partial
    } else {
        Outcome::Failed
    }
}

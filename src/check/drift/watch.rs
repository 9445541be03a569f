//! A round of `lvs.watch`: compare, then report (once per distinct drift), revert or adopt,
//! unless more operations than `max_changes` would be needed: then nothing is touched and
//! an alert is raised once for as long as that lasts. The caller reads the kernel and, for
//! a revert, runs the plan through the director's apply; what happened goes to the log and
//! the event stream from here.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;

use super::{Change, Excuses, Server, adopt, changes_json, compare, remember_drained};
use crate::ipvs::{Op, ServiceKey, ServiceTable, Timeouts};
use crate::log;
use crate::model::SpecError;
use crate::model::plan::{Desired, PlanOpts, plan};
use crate::model::spec::bad;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Report,
    Revert,
    Adopt,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Report => "report",
            Action::Revert => "revert",
            Action::Adopt => "adopt",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    pub every: Duration,
    pub action: Action,
    pub max_changes: usize,
}

/// The watch's settings as a script gives them (`every` in seconds, already a duration).
pub fn settings(
    every: Option<Duration>,
    action: Option<&str>,
    max_changes: Option<i64>,
) -> Result<Settings, SpecError> {
    let every = every.unwrap_or(Duration::from_secs(5));
    if every < Duration::from_millis(100) || every > Duration::from_secs(86400) {
        return Err(bad(
            "every",
            every.as_secs_f64(),
            "seconds from 0.1 to 86400 between comparisons",
        ));
    }
    let action = match action {
        None | Some("report") => Action::Report,
        Some("revert") => Action::Revert,
        Some("adopt") => Action::Adopt,
        Some(other) => {
            return Err(bad(
                "action",
                other,
                "\"report\" (log and emit), \"revert\" (put the desired table back) or \"adopt\" (take the kernel's)",
            ));
        }
    };
    let max_changes = match max_changes {
        None => 20,
        Some(n) if (1..=1_000_000).contains(&n) => n as usize,
        Some(n) => {
            return Err(bad(
                "max_changes",
                n,
                "the most operations one round may make, from 1 to 1000000",
            ));
        }
    };
    Ok(Settings {
        every,
        action,
        max_changes,
    })
}

/// What one round decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The kernel matches; `cleared` when a drift had been reported (or alerted) before.
    Clean { cleared: bool },
    /// Drift: `report` when it is not the one reported last, `act` when the action is to
    /// be carried out, `alert` on the first round past `max_changes`.
    Drift { report: bool, act: bool, alert: bool },
}

/// What a watch remembers between rounds for reporting.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    reported: Vec<Change>,
    alerted: bool,
    failure: Option<String>,
}

impl Tracker {
    /// `changes` found this round, `ops` the operations undoing them would take.
    pub fn round(&mut self, changes: &[Change], ops: usize, s: &Settings) -> Verdict {
        if changes.is_empty() {
            let cleared = !self.reported.is_empty() || self.alerted;
            *self = Tracker::default();
            return Verdict::Clean { cleared };
        }
        let gated = ops > s.max_changes;
        let report = self.reported != changes;
        if report {
            self.reported = changes.to_vec();
        }
        let alert = gated && !self.alerted;
        self.alerted = gated;
        Verdict::Drift {
            report,
            act: !gated && s.action != Action::Report,
            alert,
        }
    }

    /// The action was carried out: the drift is gone, so one like it later is news again.
    pub fn acted(&mut self) {
        *self = Tracker::default();
    }

    /// A revert failed: true when this failure is not the one seen last round (log it).
    pub fn failed(&mut self, why: &str) -> bool {
        if self.failure.as_deref() == Some(why) {
            return false;
        }
        self.failure = Some(why.to_string());
        true
    }
}

/// What the caller is to do after a round.
#[derive(Debug)]
pub enum Step {
    Done,
    /// Apply this table (the desired one with what was done on purpose kept), then
    /// [`Watch::reverted`]. A caller that waits before it applies (for the write lock)
    /// makes it again from a fresh look with [`Watch::effective`].
    Revert(Desired),
}

pub struct Watch {
    pub settings: Settings,
    desired: Desired,
    tracker: Tracker,
    drained: HashSet<Server>,
}

/// How many changes the log lists one by one.
const LOGGED: usize = 20;

impl Watch {
    pub fn new(settings: Settings, desired: Desired) -> Watch {
        Watch {
            settings,
            desired,
            tracker: Tracker::default(),
            drained: HashSet::new(),
        }
    }

    /// The desired table, read again (a script's function gives it each round).
    pub fn set_desired(&mut self, d: Desired) {
        self.desired = d;
    }

    pub fn desired(&self) -> &Desired {
        &self.desired
    }

    /// One comparison with the kernel's table as read once for this round.
    pub fn round(
        &mut self,
        kernel: &ServiceTable,
        timeouts: Timeouts,
        mut ex: Excuses,
        held: &dyn Fn(&ServiceKey, SocketAddr) -> Option<u32>,
    ) -> Step {
        remember_drained(&mut self.drained, &ex.draining, &ex.drained, kernel);
        ex.drained = self.drained.clone();
        let c = compare(&self.desired, kernel, timeouts, &ex, held);
        let ops = if c.changes.is_empty() {
            0
        } else {
            plan(kernel, timeouts, c.effective.clone(), PlanOpts::default())
                .ops
                .len()
        };
        let s = self.settings;
        let (report, act, alert) = match self.tracker.round(&c.changes, ops, &s) {
            Verdict::Clean { cleared } => {
                if cleared {
                    log::info("drift: the kernel's table matches the desired one again");
                    crate::events::emit("drift_cleared", json!({}));
                }
                return Step::Done;
            }
            Verdict::Drift { report, act, alert } => (report, act, alert),
        };
        let n = c.changes.len();
        if report {
            let done = if act {
                s.action.name()
            } else if ops > s.max_changes {
                "none"
            } else {
                "report"
            };
            log::warn(&format!(
                "drift: {n} difference{} from the desired table ({ops} operation{} to undo; action {done})",
                plural(n),
                plural(ops)
            ));
            for ch in c.changes.iter().take(LOGGED) {
                log::warn(&format!("drift: {}", ch.describe()));
            }
            if n > LOGGED {
                log::warn(&format!("drift: ... and {} more", n - LOGGED));
            }
            crate::events::emit_with(
                "drift_found",
                || json!({"changes": changes_json(&c.changes), "count": n, "ops": ops, "action": done}),
            );
        }
        if alert {
            log::error(&format!(
                "drift: undoing it takes {ops} operations, more than max_changes ({}): nothing is \
                 touched; this is said once while it lasts",
                s.max_changes
            ));
            crate::events::emit(
                "drift_alert",
                json!({"count": n, "ops": ops, "max_changes": s.max_changes, "action": s.action.name()}),
            );
        }
        if !act {
            return Step::Done;
        }
        match s.action {
            Action::Revert => Step::Revert(c.effective),
            Action::Adopt => {
                self.desired = adopt(&self.desired, kernel, timeouts, &ex, held);
                self.tracker.acted();
                log::info(&format!(
                    "drift: adopted the kernel's table as the desired one ({n} change{})",
                    plural(n)
                ));
                crate::events::emit_with(
                    "drift_adopted",
                    || json!({"changes": changes_json(&c.changes), "count": n}),
                );
                Step::Done
            }
            Action::Report => Step::Done,
        }
    }

    /// The table a revert is to make now (the desired one, what was done on purpose kept),
    /// from a look at the kernel taken just before the revert.
    pub fn effective(
        &mut self,
        kernel: &ServiceTable,
        timeouts: Timeouts,
        mut ex: Excuses,
        held: &dyn Fn(&ServiceKey, SocketAddr) -> Option<u32>,
    ) -> Desired {
        remember_drained(&mut self.drained, &ex.draining, &ex.drained, kernel);
        ex.drained = self.drained.clone();
        compare(&self.desired, kernel, timeouts, &ex, held).effective
    }

    /// What came of a revert: the operations carried out, or why it failed.
    pub fn reverted(&mut self, outcome: Result<Vec<Op>, String>) {
        match outcome {
            Ok(ops) => {
                self.tracker.acted();
                log::info(&format!(
                    "drift: reverted with {} operation{}",
                    ops.len(),
                    plural(ops.len())
                ));
                crate::events::emit_with("drift_reverted", || {
                    let first: Vec<String> = ops.iter().take(super::MAX_LISTED).map(Op::describe).collect();
                    json!({"ops": ops.len(), "operations": first})
                });
            }
            Err(e) => {
                if self.tracker.failed(&e) {
                    log::error(&format!("drift: reverting failed: {e} (tried again each round)"));
                }
            }
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

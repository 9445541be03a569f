//! Declarative apply: the wanted table (services, or rules) is compared with the kernel's,
//! and the difference is carried out all or nothing.

use std::time::Duration;

use super::drain::{DrainOpts, Wait};
use super::{Director, Error, TxnFailure, TxnKind};
use crate::ipvs::Op;
use crate::model::input::{self, Args, Value};
use crate::model::plan::{Desired, Plan, PlanOpts, plan, plan_rules};
use crate::model::table::Table;
use crate::model::{OpSource, ServiceSpec, SpecError, daemon, txn};

/// Opens the rules again from the start (the planner may read them twice).
pub type RulesOpener<'r> = Box<dyn Fn() -> std::io::Result<Box<dyn OpSource + 'r>> + 'r>;

/// What apply is given.
pub enum Wanted<'r> {
    Table(Desired),
    /// Rules, and where they came from (a file's path) for errors.
    Rules {
        origin: Option<String>,
        open: RulesOpener<'r>,
    },
}

/// A string handed to apply or restore: rules text, or the path of a rules file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulesArg {
    Text(String),
    Path(String),
}

/// The one rule for telling them apart: text has a line break or starts with an option
/// (`-A ...`); anything else is a path. An empty string is neither: applied as rules it
/// would remove every service, and it is far likelier an unset variable than that wish.
pub fn path_or_rules(field: &str, s: String) -> Result<RulesArg, Error> {
    if s.trim().is_empty() {
        return Err(input::bad(
            field,
            &Value::Str(s),
            "an empty string: give rules text or a rules file's path",
        )
        .into());
    }
    if s.contains('\n') || s.trim_start().starts_with('-') {
        Ok(RulesArg::Text(s))
    } else {
        Ok(RulesArg::Path(s))
    }
}

#[derive(Debug, Clone)]
pub struct ApplyOpts {
    /// Plan only; change nothing.
    pub dry_run: bool,
    pub plan: PlanOpts,
    pub drain: DrainOpts,
}

impl Default for ApplyOpts {
    fn default() -> ApplyOpts {
        ApplyOpts {
            dry_run: false,
            plan: PlanOpts::default(),
            drain: DrainOpts {
                timeout: Duration::from_secs(300),
                wait: Wait::Active,
            },
        }
    }
}

impl ApplyOpts {
    /// `{dry_run=, prune=, drain=, drain_timeout=, wait=}` as a script gives them.
    pub fn read(v: &Value) -> Result<ApplyOpts, SpecError> {
        let f = Args::of(
            "apply options",
            v,
            &["dry_run", "prune", "drain", "drain_timeout", "wait"],
            &[],
            "must be a table of options",
        )?;
        let mut o = ApplyOpts {
            dry_run: f.bool("dry_run")?.unwrap_or(false),
            plan: PlanOpts {
                prune: f.bool("prune")?.unwrap_or(true),
                drain: f.bool("drain")?.unwrap_or(false),
            },
            ..Default::default()
        };
        o.drain.read_fields(&f, "drain_timeout")?;
        Ok(o)
    }
}

/// What apply did (or, in a dry run, would do).
#[derive(Debug, Clone, Default)]
pub struct Applied {
    pub plan: Plan,
    /// The plan was carried out (not a dry run); its draining servers are now at weight 0.
    pub executed: bool,
}

impl Applied {
    /// The whole of what apply does, drains' deletions included (a dry run's report).
    pub fn into_all_ops(self) -> Vec<Op> {
        let mut ops = self.plan.ops;
        ops.extend(
            self.plan
                .draining
                .into_iter()
                .map(|(k, a, p)| Op::DelDest(k, a, p)),
        );
        ops
    }
}

/// The wanted table as a script writes it: service specs with their servers, and timeouts
/// (0 keeps a value). A service, or a server within one, named twice is an error.
pub fn desired(services: &[Value], timeouts: Option<&Value>) -> Result<Desired, Error> {
    let twice = |what: String| Error::Invalid(format!("{what} is given twice"));
    let mut d = Desired::default();
    let mut seen = std::collections::HashSet::new();
    for v in services {
        let (spec, servers) = ServiceSpec::read(v)?;
        let svc = spec.to_service(None)?;
        if !seen.insert(svc.key.clone()) {
            return Err(twice(format!("service {}", svc.key)));
        }
        let mut dests = Vec::with_capacity(servers.len());
        let mut names = std::collections::HashSet::new();
        for rs in &servers {
            let dest = rs.to_dest(&svc.key, None)?;
            if !names.insert((dest.addr, dest.port)) {
                return Err(twice(format!("real server {} in {}", dest.name(), svc.key)));
            }
            dests.push(dest);
        }
        d.services.push((svc, dests));
    }
    if let Some(t) = timeouts {
        d.timeouts = Some(daemon::read_timeouts(t)?);
    }
    Ok(d)
}

impl Director {
    /// Plans `want` against the kernel's table and carries the plan out all or nothing
    /// (unless `dry_run`). Drains are the caller's to wait for (see `drain::Drains`), so the
    /// wait can yield to everything else on its event loop. `show` words a refused operation.
    pub fn apply(
        &mut self,
        want: Wanted,
        o: &ApplyOpts,
        show: &dyn Fn(&Op) -> String,
    ) -> Result<Applied, Error> {
        // the plan is made from the table as it is inside the lock: no other writer can
        // change it between the look and the writes (a dry run writes nothing, takes none)
        let _lock = if o.dry_run { None } else { self.lock(true)? };
        let pending = if o.dry_run { None } else { self.pending()? };
        let current = self.ipvs.services()?;
        let timeouts = self.ipvs.timeouts()?;
        let plan = match want {
            Wanted::Table(d) => plan(&current, timeouts, d, o.plan),
            Wanted::Rules { origin, open } => plan_rules(open, &current, timeouts, o.plan)
                .map_err(|error| Error::Rules { origin, error })?,
        };
        if o.dry_run {
            return Ok(Applied {
                plan,
                executed: false,
            });
        }
        let model = Table::new(current, timeouts, self.ipvs.daemons()?);
        // an interrupted transaction is finished by an apply that ends where it was going,
        // and stands in the way of any other
        if let Some(r) = &pending {
            let ends =
                txn::journal(&model, &plan.ops, Some(&r.journal)).is_ok_and(|j| Director::finishes(r, &j));
            if !ends {
                return Err(self.pending_error(r));
            }
        }
        if !plan.ops.is_empty() {
            let refused = |f: txn::Failure| {
                let op = plan.ops.get(f.index).cloned();
                Error::Txn(Box::new(TxnFailure {
                    kind: TxnKind::Apply,
                    line: 0,
                    shown: op.as_ref().map(show).unwrap_or_default(),
                    op,
                    error: f.error,
                    undone: f.undone,
                }))
            };
            self.run_recorded("apply", model, &plan.ops, pending.as_ref(), &refused)?;
            crate::events::emit_with("apply", || plan_summary(&plan.ops, plan.draining.len()));
        } else if pending.is_some() {
            self.forget_pending()?;
        }
        Ok(Applied { plan, executed: true })
    }
}

/// An apply as an event: how many operations of each kind, and the first few in words.
fn plan_summary(ops: &[Op], draining: usize) -> serde_json::Value {
    let mut kinds = serde_json::Map::new();
    for op in ops {
        let word = op.describe();
        let kind = word.split(' ').take(2).collect::<Vec<_>>().join("_");
        let n = kinds.get(&kind).and_then(|v| v.as_u64()).unwrap_or(0);
        kinds.insert(kind, serde_json::Value::from(n + 1));
    }
    let first: Vec<String> = ops.iter().take(10).map(Op::describe).collect();
    serde_json::json!({"ops": ops.len(), "by_kind": kinds, "first": first, "draining": draining})
}

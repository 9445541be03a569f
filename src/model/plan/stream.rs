//! A plan made while rules text (ipvsadm -R format) is read: each rule is compared with the
//! current table as it comes, so applying 20,000 rules that mostly match the kernel holds no
//! second copy of the table. The plan is the one `plan` makes from `Desired::from_rules`,
//! operation for operation; rules other than -A, -a and --set (edits, deletes, -C in a rules
//! file) are left to that slower path.

use std::net::IpAddr;

use nix::libc;
use rustc_hash::{FxHashMap, FxHashSet};

use super::{Desired, Plan, PlanOpts, plan, same_dest, same_service, timeouts_op};
use crate::ipvs::{Dest, Op, Service, ServiceKey, Timeouts};
use crate::model::LOOKUP_FROM;
use crate::model::source::{OpSource, RuleError};
use crate::model::table::Table;

/// What the rules say of a service the current table has. Small when they agree with it
/// (the common case, 2,000 times over): what changes lives behind a box made on first need.
struct Named {
    /// Per current real server: named by the rules.
    seen: Box<[bool]>,
    changes: Option<Box<Changes>>,
    lookup: Option<Box<FxHashMap<(IpAddr, u16), usize>>>,
}

#[derive(Default)]
struct Changes {
    edit: Option<Service>,
    /// Adds and edits, in the rules' order.
    ops: Vec<Op>,
    /// Real servers the rules add (for telling a repeated one).
    added: FxHashSet<(IpAddr, u16)>,
}

enum Entry {
    Current(usize),
    /// The next service of `new`, in order.
    New,
}

enum Refusal {
    Rule(String),
    /// A rule this path does not handle.
    Other,
}

struct Differ<'a> {
    current: &'a [(Service, Vec<Dest>)],
    index: FxHashMap<&'a ServiceKey, usize>,
    named: Vec<Option<Named>>,
    order: Vec<Entry>,
    /// Services the current table does not have, checked as a model checks them.
    new: Table,
    timeouts: Option<Timeouts>,
}

impl<'a> Differ<'a> {
    fn new(current: &'a [(Service, Vec<Dest>)]) -> Differ<'a> {
        Differ {
            current,
            index: current
                .iter()
                .enumerate()
                .map(|(i, (s, _))| (&s.key, i))
                .collect(),
            named: (0..current.len()).map(|_| None).collect(),
            order: Vec::new(),
            new: Table::default(),
            timeouts: None,
        }
    }

    fn feed(&mut self, op: Op) -> Result<(), Refusal> {
        let refuse = |op: &Op, errno| Refusal::Rule(op.explain(errno).to_string());
        match op {
            Op::AddService(s) => match self.index.get(&s.key) {
                Some(&i) => {
                    if self.named[i].is_some() {
                        return Err(refuse(&Op::AddService(s), libc::EEXIST));
                    }
                    let have = &self.current[i].1;
                    let changes = (!same_service(&self.current[i].0, &s)).then(|| {
                        Box::new(Changes {
                            edit: Some(s),
                            ..Default::default()
                        })
                    });
                    self.named[i] = Some(Named {
                        seen: vec![false; have.len()].into_boxed_slice(),
                        changes,
                        lookup: (have.len() >= LOOKUP_FROM).then(|| {
                            Box::new(
                                have.iter()
                                    .enumerate()
                                    .map(|(j, d)| ((d.addr, d.port), j))
                                    .collect(),
                            )
                        }),
                    });
                    self.order.push(Entry::Current(i));
                }
                None => {
                    let op = Op::AddService(s);
                    self.new.apply(&op).map_err(|e| Refusal::Rule(e.to_string()))?;
                    self.order.push(Entry::New);
                }
            },
            Op::AddDest(k, d) => match self.index.get(&k) {
                Some(&i) => {
                    let Some(named) = self.named[i].as_mut() else {
                        return Err(refuse(&Op::AddDest(k, d), libc::ESRCH));
                    };
                    let have = &self.current[i].1;
                    let at = match &named.lookup {
                        Some(m) => m.get(&(d.addr, d.port)).copied(),
                        None => have.iter().position(|h| h.addr == d.addr && h.port == d.port),
                    };
                    match at {
                        Some(j) => {
                            if named.seen[j] {
                                return Err(refuse(&Op::AddDest(k, d), libc::EEXIST));
                            }
                            named.seen[j] = true;
                            if !same_dest(&have[j], &d) {
                                named.changes.get_or_insert_default().ops.push(Op::EditDest(k, d));
                            }
                        }
                        None => {
                            let changes = named.changes.get_or_insert_default();
                            if !changes.added.insert((d.addr, d.port)) {
                                return Err(refuse(&Op::AddDest(k, d), libc::EEXIST));
                            }
                            changes.ops.push(Op::AddDest(k, d));
                        }
                    }
                }
                None => {
                    let op = Op::AddDest(k, d);
                    self.new.apply(&op).map_err(|e| Refusal::Rule(e.to_string()))?;
                }
            },
            Op::SetTimeouts(t) => self.timeouts = Some(t),
            _ => return Err(Refusal::Other),
        }
        Ok(())
    }

    /// The plan, in `plan`'s order.
    fn finish(mut self, current_timeouts: Timeouts, opts: PlanOpts) -> Plan {
        let PlanOpts { prune, drain } = opts;
        let mut p = Plan::default();
        if prune {
            for (i, (s, _)) in self.current.iter().enumerate() {
                if self.named[i].is_none() {
                    p.ops.push(Op::DelService(s.key.clone()));
                }
            }
        }
        let mut new = self.new.into_services().into_iter();
        for entry in self.order {
            match entry {
                Entry::New => {
                    let Some((svc, dests)) = new.next() else { break };
                    let key = svc.key.clone();
                    let mh = svc.scheduler == "mh";
                    p.ops.push(Op::AddService(svc));
                    let at = p.ops.len();
                    p.ops
                        .extend(dests.into_iter().map(|d| Op::AddDest(key.clone(), d)));
                    if mh {
                        let ops = p.ops.split_off(at);
                        p.ops.extend(super::mh_order::in_order(&key, &[], ops));
                    }
                }
                Entry::Current(i) => {
                    let Some(named) = self.named[i].take() else {
                        continue;
                    };
                    let (have, have_dests) = &self.current[i];
                    let key = &have.key;
                    let changes = named.changes.map(|c| *c).unwrap_or_default();
                    let mh = changes.edit.as_ref().unwrap_or(have).scheduler == "mh";
                    if let Some(s) = changes.edit {
                        p.ops.push(Op::EditService(s));
                    }
                    let at = p.ops.len();
                    if prune {
                        for (d, _) in have_dests.iter().zip(&named.seen).filter(|(_, seen)| !**seen) {
                            p.remove_dest(key, d, drain);
                        }
                    }
                    p.ops.extend(changes.ops);
                    if mh {
                        let ops = p.ops.split_off(at);
                        p.ops.extend(super::mh_order::in_order(key, have_dests, ops));
                    }
                }
            }
        }
        p.ops.extend(timeouts_op(self.timeouts, current_timeouts));
        p
    }
}

/// The plan that turns `current` into what the rules from `open()` make from nothing.
/// `open` is called again only if the rules need the general path.
pub fn plan_rules<'r>(
    open: impl Fn() -> std::io::Result<Box<dyn OpSource + 'r>>,
    current: &[(Service, Vec<Dest>)],
    current_timeouts: Timeouts,
    opts: PlanOpts,
) -> Result<Plan, RuleError> {
    let unreadable = |e: std::io::Error| RuleError {
        line: 0,
        text: String::new(),
        message: format!("cannot read the rules: {e}"),
    };
    let mut differ = Differ::new(current);
    let mut general = false;
    let streamed = open().map_err(unreadable)?.each_op(&mut |_, op| {
        differ.feed(op).map_err(|r| match r {
            Refusal::Rule(m) => m,
            Refusal::Other => {
                general = true;
                String::new()
            }
        })
    });
    if !general {
        streamed?;
        return Ok(differ.finish(current_timeouts, opts));
    }
    let desired = Desired::from_rules(&mut *open().map_err(unreadable)?)?;
    Ok(plan(current, current_timeouts, desired, opts))
}

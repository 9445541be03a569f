//! The smallest set of operations that turns the kernel's table into the desired one: changes
//! in place where a change is enough, never a delete and re-add of what only needs an edit.

use rustc_hash::FxHashMap as HashMap;
use std::net::IpAddr;

use crate::ipvs::{Dest, Op, Service, ServiceKey, ServiceTable, Timeouts};
use crate::model::source::{OpSource, RuleError};
use crate::model::table::Table;

pub mod mh_order;
mod stream;
pub use stream::plan_rules;

/// What apply wants: services with their real servers, and optionally timeouts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Desired {
    pub services: ServiceTable,
    pub timeouts: Option<Timeouts>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub ops: Vec<Op>,
    /// Real servers set to weight 0 by the plan, to be deleted once drained.
    pub draining: Vec<(ServiceKey, IpAddr, u16)>,
}

impl Plan {
    /// A real server to go: deleted, or (`drain`) set to weight 0 and deleted once drained.
    fn remove_dest(&mut self, key: &ServiceKey, d: &Dest, drain: bool) {
        if drain {
            if d.weight != 0 {
                self.ops.push(Op::EditDest(
                    key.clone(),
                    Dest {
                        weight: 0,
                        ..d.clone()
                    },
                ));
            }
            self.draining.push((key.clone(), d.addr, d.port));
        } else {
            self.ops.push(Op::DelDest(key.clone(), d.addr, d.port));
        }
    }
}

pub(super) fn same_service(a: &Service, b: &Service) -> bool {
    a.scheduler == b.scheduler
        && a.flags == b.flags
        && a.timeout == b.timeout
        && a.netmask == b.netmask
        && a.pe == b.pe
}

pub(super) fn same_dest(a: &Dest, b: &Dest) -> bool {
    a.fwd == b.fwd
        && a.weight == b.weight
        && a.upper == b.upper
        && a.lower == b.lower
        && a.tun_type == b.tun_type
        && a.tun_port == b.tun_port
        && a.tun_flags == b.tun_flags
}

/// How a plan treats what the wanted table leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanOpts {
    /// Remove what the wanted table does not name.
    pub prune: bool,
    /// Set removed real servers to weight 0 (listed in `draining`) instead of deleting them.
    pub drain: bool,
}

impl Default for PlanOpts {
    fn default() -> PlanOpts {
        PlanOpts {
            prune: true,
            drain: false,
        }
    }
}

pub fn plan(
    current: &[(Service, Vec<Dest>)],
    current_timeouts: Timeouts,
    desired: Desired,
    opts: PlanOpts,
) -> Plan {
    let PlanOpts { prune, drain } = opts;
    // room for the largest plan (everything added) at once: no regrowth of a 20,000-entry list
    let most = desired.services.iter().map(|(_, d)| 1 + d.len()).sum::<usize>();
    let mut p = Plan {
        ops: Vec::with_capacity(most + current.len() + 1),
        draining: Vec::new(),
    };
    let cur: HashMap<&ServiceKey, (&Service, &Vec<Dest>)> =
        current.iter().map(|(s, d)| (&s.key, (s, d))).collect();
    if prune {
        let wanted: std::collections::HashSet<&ServiceKey> =
            desired.services.iter().map(|(s, _)| &s.key).collect();
        for (s, _) in current {
            if !wanted.contains(&s.key) {
                p.ops.push(Op::DelService(s.key.clone()));
            }
        }
    }
    // taken by value: a new service's parts move into the plan
    for (svc, dests) in desired.services {
        let key = &svc.key;
        match cur.get(key) {
            None => {
                let key = key.clone();
                let mh = svc.scheduler == "mh";
                p.ops.push(Op::AddService(svc));
                let at = p.ops.len();
                p.ops
                    .extend(dests.into_iter().map(|d| Op::AddDest(key.clone(), d)));
                if mh {
                    let ops = p.ops.split_off(at);
                    p.ops.extend(mh_order::in_order(&key, &[], ops));
                }
            }
            Some((have, have_dests)) => {
                if !same_service(have, &svc) {
                    p.ops.push(Op::EditService(svc.clone()));
                }
                let at = p.ops.len();
                let want: HashMap<(IpAddr, u16), &Dest> =
                    dests.iter().map(|d| ((d.addr, d.port), d)).collect();
                if prune {
                    for d in have_dests.iter() {
                        if want.contains_key(&(d.addr, d.port)) {
                            continue;
                        }
                        p.remove_dest(key, d, drain);
                    }
                }
                let have: HashMap<(IpAddr, u16), &Dest> =
                    have_dests.iter().map(|d| ((d.addr, d.port), d)).collect();
                for d in &dests {
                    match have.get(&(d.addr, d.port)) {
                        None => p.ops.push(Op::AddDest(key.clone(), d.clone())),
                        Some(h) if !same_dest(h, d) => p.ops.push(Op::EditDest(key.clone(), d.clone())),
                        Some(_) => {}
                    }
                }
                if svc.scheduler == "mh" {
                    let ops = p.ops.split_off(at);
                    p.ops.extend(mh_order::in_order(key, have_dests, ops));
                }
            }
        }
    }
    p.ops.extend(timeouts_op(desired.timeouts, current_timeouts));
    p
}

/// The timeouts change, if the wanted ones (0: keep) differ from the current.
fn timeouts_op(want: Option<Timeouts>, current: Timeouts) -> Option<Op> {
    let t = want?;
    let pick = |want: u32, have: u32| if want == 0 { have } else { want };
    let t = Timeouts {
        tcp: pick(t.tcp, current.tcp),
        tcpfin: pick(t.tcpfin, current.tcpfin),
        udp: pick(t.udp, current.udp),
    };
    (t != current).then_some(Op::SetTimeouts(t))
}

impl Desired {
    /// What rules text (ipvsadm -R format) makes from nothing: each rule goes into a model as
    /// it is read, and one the model refuses is an error naming its line.
    pub fn from_rules(input: &mut dyn OpSource) -> Result<Desired, RuleError> {
        // the timeouts as written (0: keep), not as the model merges them
        let mut timeouts = None;
        let model = Table::from_rules(input, |op| {
            if let Op::SetTimeouts(t) = op {
                timeouts = Some(*t);
            }
        })?;
        Ok(Desired {
            services: model.into_services(),
            timeouts,
        })
    }
}

#[cfg(test)]
mod tests;

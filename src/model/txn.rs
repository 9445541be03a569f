//! All-or-nothing execution of a list of operations on the kernel: checked against a model of
//! the current table first, sent in batches, and undone if the kernel refuses one partway.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::backend::Ipvs;
use super::plan::{Desired, PlanOpts, plan, same_dest, same_service};
use super::table::{Table, plan_undo};
use crate::ipvs::{Dest, Error, Op, Service, ServiceKey, ServiceTable, Timeouts};

/// Why a batch failed: the index of the refused operation, and whether what had been done
/// before it was undone (false only if the undo itself was refused).
#[derive(Debug, Clone)]
pub struct Failure {
    pub index: usize,
    pub error: Error,
    pub undone: bool,
}

/// The kernel's whole table, as a model to check operations against.
pub fn read_table(c: &mut dyn Ipvs) -> Result<Table, Error> {
    Ok(Table::new(c.services()?, c.timeouts()?, c.daemons()?))
}

/// Runs every operation, going on past refusals; true if all were accepted.
pub fn execute_all(c: &mut dyn Ipvs, ops: &[Op]) -> bool {
    let mut start = 0;
    let mut ok = true;
    while start < ops.len() {
        let results = c.execute_batch(&ops[start..]);
        match results.iter().position(Result::is_err) {
            None => start += results.len(),
            Some(i) => {
                ok = false;
                start += i + 1;
            }
        }
        if results.is_empty() {
            break;
        }
    }
    ok
}

/// Checks every operation against `before` first (nothing is sent if one would be refused),
/// then runs them; a kernel refusal partway undoes what was done. `before` is the part of the
/// kernel's table the operations touch (all of it, or, for a new service and its servers,
/// what the kernel has of that service).
pub fn execute_checked(c: &mut dyn Ipvs, before: Table, ops: &[Op]) -> Result<(), Failure> {
    let mut check = before.clone();
    for (index, op) in ops.iter().enumerate() {
        if let Err(error) = check.apply(op) {
            return Err(Failure {
                index,
                error,
                undone: true,
            });
        }
    }
    drop(check);
    execute_atomic_from(c, before, ops)
}

/// Runs operations made for `before` (the current table, already read): a plan, or
/// operations already checked against it. The undo is worked out only if the kernel refuses
/// one, by replaying on `before` what was sent.
pub fn execute_atomic_from(c: &mut dyn Ipvs, before: Table, ops: &[Op]) -> Result<(), Failure> {
    let results = c.execute_batch(ops);
    let Some(failed) = results.iter().position(Result::is_err) else {
        return Ok(());
    };
    let mut model = before;
    let undone = match plan_undo(&mut model, &ops[..results.len()]) {
        Ok(undo) => {
            let mut undo_ops = Vec::new();
            for (j, r) in results.iter().enumerate().rev() {
                if r.is_ok() {
                    undo_ops.extend(undo[j].iter().cloned());
                }
            }
            execute_all(c, &undo_ops)
        }
        // the operations did not fit the table they were made for: nothing safe to undo
        Err(_) => false,
    };
    let error = results
        .into_iter()
        .nth(failed)
        .and_then(Result::err)
        .unwrap_or(Error::Io("refused".into()));
    Err(Failure {
        index: failed,
        error,
        undone,
    })
}

/// What a transaction is about to change, written down before the first kernel write so that
/// one cut short (SIGKILL, a crash) can be rolled back or finished: the services it touches
/// as they were and as it leaves them. States, not operations: how far it got does not matter.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Journal {
    /// Every service it touches (every one there was, for a flush).
    pub keys: Vec<ServiceKey>,
    /// Those of them the table had before, as they were.
    pub before: ServiceTable,
    /// Those of them it leaves, as it leaves them.
    pub after: ServiceTable,
    /// The timeouts before and after, when it sets them.
    pub timeouts: Option<(Timeouts, Timeouts)>,
}

fn op_key(op: &Op) -> Option<&ServiceKey> {
    match op {
        Op::AddService(s) | Op::EditService(s) => Some(&s.key),
        Op::DelService(k) | Op::AddDest(k, _) | Op::EditDest(k, _) | Op::DelDest(k, ..) => Some(k),
        _ => None,
    }
}

/// Checks `ops` against `before` (the table they were made for) and works out their journal;
/// `pending`, an interrupted transaction this one carries on from, lends its keys and its
/// `before` (a rollback then still goes back to where that one started). Only the touched
/// services are copied and replayed, so the check costs what the transaction touches.
pub fn journal(before: &Table, ops: &[Op], pending: Option<&Journal>) -> Result<Journal, Failure> {
    let mut keyset: HashSet<ServiceKey> = HashSet::default();
    let mut order: Vec<ServiceKey> = Vec::new();
    let mut add = |k: &ServiceKey| {
        if keyset.insert(k.clone()) {
            order.push(k.clone());
        }
    };
    if let Some(p) = pending {
        p.keys.iter().for_each(&mut add);
    }
    let mut sets_timeouts = pending.is_some_and(|p| p.timeouts.is_some());
    for op in ops {
        match op {
            Op::Flush => {
                for (s, _) in before.services() {
                    add(&s.key);
                }
            }
            Op::SetTimeouts(_) => sets_timeouts = true,
            op => {
                if let Some(k) = op_key(op) {
                    add(k);
                }
            }
        }
    }
    let touched: ServiceTable = before
        .services()
        .iter()
        .filter(|(s, _)| keyset.contains(&s.key))
        .cloned()
        .collect();
    let mut model = Table::new(touched.clone(), before.timeouts, before.daemons.clone());
    for (index, op) in ops.iter().enumerate() {
        if let Err(error) = model.apply(op) {
            return Err(Failure {
                index,
                error,
                undone: true,
            });
        }
    }
    let after_timeouts = model.timeouts;
    let after = model.into_services();
    let before_list = match pending {
        None => touched,
        Some(p) => {
            let theirs: HashSet<&ServiceKey> = p.keys.iter().collect();
            let mut list = p.before.clone();
            list.extend(touched.into_iter().filter(|(s, _)| !theirs.contains(&s.key)));
            list
        }
    };
    let first_timeouts = pending
        .and_then(|p| p.timeouts)
        .map_or(before.timeouts, |(t, _)| t);
    Ok(Journal {
        keys: order,
        before: before_list,
        after,
        timeouts: sets_timeouts.then_some((first_timeouts, after_timeouts)),
    })
}

impl Journal {
    /// The operations that take the touched part of `current` to where the transaction
    /// started (`back`) or to where it was going.
    pub fn toward(&self, current: &Table, back: bool) -> Vec<Op> {
        let keys: HashSet<&ServiceKey> = self.keys.iter().collect();
        let now: ServiceTable = current
            .services()
            .iter()
            .filter(|(s, _)| keys.contains(&s.key))
            .cloned()
            .collect();
        let target = if back { &self.before } else { &self.after };
        let want = Desired {
            services: target.clone(),
            timeouts: self.timeouts.map(|(b, a)| if back { b } else { a }),
        };
        plan(&now, current.timeouts, want, PlanOpts::default()).ops
    }

    /// How many touched services `current` has as the transaction left them, and how many
    /// as they were before it (one it changes nothing of counts as both).
    pub fn progress(&self, current: &Table) -> (usize, usize) {
        let index = |list: &ServiceTable| -> HashMap<ServiceKey, usize> {
            list.iter()
                .enumerate()
                .map(|(i, (s, _))| (s.key.clone(), i))
                .collect()
        };
        let (bi, ai) = (index(&self.before), index(&self.after));
        let same =
            |want: Option<&(Service, Vec<Dest>)>, have: Option<&(Service, Vec<Dest>)>| match (want, have) {
                (None, None) => true,
                (Some(w), Some(h)) => same_settings(w, h),
                _ => false,
            };
        let (mut done, mut undone) = (0, 0);
        for k in &self.keys {
            let have = current.get(k);
            if same(ai.get(k).map(|&i| &self.after[i]), have) {
                done += 1;
            }
            if same(bi.get(k).map(|&i| &self.before[i]), have) {
                undone += 1;
            }
        }
        (done, undone)
    }

    /// Whether `other` leaves every service this journal touches as this one does.
    pub fn ends_as(&self, other: &Journal) -> bool {
        let theirs: HashMap<&ServiceKey, &(Service, Vec<Dest>)> =
            other.after.iter().map(|e| (&e.0.key, e)).collect();
        let mine: HashMap<&ServiceKey, &(Service, Vec<Dest>)> =
            self.after.iter().map(|e| (&e.0.key, e)).collect();
        let timeouts_ok = match (self.timeouts, other.timeouts) {
            (Some((_, a)), Some((_, b))) => a == b,
            (Some(_), None) => false,
            (None, _) => true,
        };
        timeouts_ok
            && self.keys.iter().all(|k| match (mine.get(k), theirs.get(k)) {
                (None, None) => true,
                (Some(a), Some(b)) => same_settings(a, b),
                _ => false,
            })
    }
}

/// The same service settings and real servers with the same settings (counters and
/// connection counts aside; the order of the servers aside).
fn same_settings(a: &(Service, Vec<Dest>), b: &(Service, Vec<Dest>)) -> bool {
    if !same_service(&a.0, &b.0) || a.1.len() != b.1.len() {
        return false;
    }
    let theirs: HashMap<(std::net::IpAddr, u16), &Dest> = b.1.iter().map(|d| ((d.addr, d.port), d)).collect();
    a.1.iter()
        .all(|d| theirs.get(&(d.addr, d.port)).is_some_and(|x| same_dest(d, x)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::Protocol;

    fn key(a: &str) -> ServiceKey {
        ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: a.parse().unwrap(),
            port: 80,
        }
    }

    fn dest(a: &str) -> Dest {
        Dest::new(a.parse().unwrap(), 80)
    }

    #[test]
    fn a_journal_takes_a_half_done_table_back_or_forward() {
        let (a, b, c, other) = (
            key("192.0.2.1"),
            key("192.0.2.2"),
            key("192.0.2.3"),
            key("192.0.2.4"),
        );
        let before = Table::new(
            vec![
                (
                    Service::new(a.clone()),
                    vec![dest("198.51.100.1"), dest("198.51.100.2")],
                ),
                (Service::new(b.clone()), vec![]),
                (Service::new(other.clone()), vec![dest("198.51.100.9")]),
            ],
            Table::default().timeouts,
            Vec::new(),
        );
        let mut edited = Service::new(a.clone());
        edited.scheduler = "rr".into();
        let ops = vec![
            Op::EditService(edited),
            Op::AddDest(a.clone(), dest("198.51.100.3")),
            Op::AddService(Service::new(c.clone())),
            Op::AddDest(c.clone(), dest("198.51.100.4")),
            Op::DelService(b.clone()),
            Op::SetTimeouts(Timeouts {
                tcp: 10,
                tcpfin: 0,
                udp: 0,
            }),
        ];
        let j = journal(&before, &ops, None).unwrap();
        assert_eq!(j.keys, vec![a.clone(), c.clone(), b.clone()]);
        assert_eq!(j.before.len(), 2);
        assert_eq!(j.after.len(), 2);
        let mut full = before.clone();
        for op in &ops {
            full.apply(op).unwrap();
        }
        // cut short after three operations
        let mut half = before.clone();
        for op in &ops[..3] {
            half.apply(op).unwrap();
        }
        assert_eq!(j.progress(&half), (1, 1));
        for (back, want) in [(true, &before), (false, &full)] {
            let mut t = half.clone();
            for op in j.toward(&half, back) {
                t.apply(&op).unwrap();
            }
            assert_eq!(j.progress(&t), if back { (0, 3) } else { (3, 0) });
            let sorted = |t: &Table| {
                let mut v: Vec<_> = t.services().to_vec();
                v.sort_by_key(|(s, _)| format!("{:?}", s.key));
                for (_, d) in &mut v {
                    d.sort_by_key(|x| x.addr);
                }
                (v, t.timeouts)
            };
            assert_eq!(sorted(&t), sorted(want), "back: {back}");
        }
        // a transaction carrying on from it keeps where it started
        let more = journal(&half, &ops[3..], Some(&j)).unwrap();
        assert_eq!(more.before, j.before);
        assert!(j.ends_as(&more));
        // a refused operation is named, before anything is sent
        let f = journal(&before, &[Op::DelService(c.clone())], None).unwrap_err();
        assert_eq!(f.index, 0);
    }
}

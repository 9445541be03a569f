//! An in-memory IPVS table with the kernel's rules for each operation. It checks a batch
//! before the kernel sees it, and knows how to undo each operation (for rollback).

use std::net::IpAddr;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use nix::libc;

use super::LOOKUP_FROM;
use super::source::{OpSource, RuleError};
use crate::ipvs::{Daemon, DaemonState, Dest, Error, Op, Service, ServiceKey, Timeouts};

#[derive(Debug, Clone)]
pub struct Table {
    /// Services in insertion order; `index` maps keys to positions.
    services: Vec<(Service, Vec<Dest>)>,
    index: HashMap<ServiceKey, usize>,
    /// The (address, port) of each server of the services of LOOKUP_FROM servers or more,
    /// made on first need.
    large: HashMap<ServiceKey, HashSet<(IpAddr, u16)>>,
    pub timeouts: Timeouts,
    pub daemons: Vec<Daemon>,
}

impl PartialEq for Table {
    /// The same services, servers, timeouts and daemons (`large` is only a lookup aid).
    fn eq(&self, other: &Table) -> bool {
        self.services == other.services && self.timeouts == other.timeouts && self.daemons == other.daemons
    }
}

impl Default for Table {
    /// An empty table with the kernel's default timeouts (900, 120, 300).
    fn default() -> Table {
        Table::new(
            Vec::new(),
            Timeouts {
                tcp: 900,
                tcpfin: 120,
                udp: 300,
            },
            Vec::new(),
        )
    }
}

impl Table {
    pub fn new(services: Vec<(Service, Vec<Dest>)>, timeouts: Timeouts, daemons: Vec<Daemon>) -> Table {
        let mut t = Table {
            services: Vec::new(),
            index: HashMap::default(),
            large: HashMap::default(),
            timeouts,
            daemons,
        };
        for (s, d) in services {
            t.index.insert(s.key.clone(), t.services.len());
            t.services.push((s, d));
        }
        t
    }

    /// What a stream of operations (rules) makes from an empty table, read as it comes; a rule
    /// the table refuses is an error naming its line. `each` sees every operation first.
    pub fn from_rules(input: &mut dyn OpSource, mut each: impl FnMut(&Op)) -> Result<Table, RuleError> {
        let mut t = Table::default();
        input.each_op(&mut |_, op| {
            each(&op);
            t.apply(&op).map(drop).map_err(|e| e.to_string())
        })?;
        Ok(t)
    }

    pub fn services(&self) -> &[(Service, Vec<Dest>)] {
        &self.services
    }

    pub fn into_services(self) -> Vec<(Service, Vec<Dest>)> {
        self.services
    }

    /// A real server to change behind the model's back (tests: connection counts).
    #[cfg(test)]
    pub(crate) fn dest_mut(&mut self, key: &ServiceKey, addr: IpAddr, port: u16) -> Option<&mut Dest> {
        let i = *self.index.get(key)?;
        self.services[i]
            .1
            .iter_mut()
            .find(|d| d.addr == addr && d.port == port)
    }

    pub fn get(&self, key: &ServiceKey) -> Option<&(Service, Vec<Dest>)> {
        self.index.get(key).map(|&i| &self.services[i])
    }

    /// Whether service `i` has the server `addr:port`.
    fn has_dest(&mut self, i: usize, addr: &IpAddr, port: u16) -> bool {
        let (s, dests) = &self.services[i];
        if dests.len() < LOOKUP_FROM {
            return dests.iter().any(|x| x.addr == *addr && x.port == port);
        }
        self.large
            .entry(s.key.clone())
            .or_insert_with(|| dests.iter().map(|d| (d.addr, d.port)).collect())
            .contains(&(*addr, port))
    }

    fn remove(&mut self, key: &ServiceKey) -> Option<(Service, Vec<Dest>)> {
        self.large.remove(key);
        let i = self.index.remove(key)?;
        let entry = self.services.remove(i);
        for v in self.index.values_mut() {
            if *v > i {
                *v -= 1;
            }
        }
        Some(entry)
    }

    /// Applies `op` as the kernel would, returning the operations that undo it.
    pub fn apply(&mut self, op: &Op) -> Result<Vec<Op>, Error> {
        let refuse = |errno| Err(op.explain(errno));
        Ok(match op {
            Op::AddService(s) => {
                if self.index.contains_key(&s.key) {
                    return refuse(libc::EEXIST);
                }
                self.index.insert(s.key.clone(), self.services.len());
                self.services.push((
                    Service {
                        stats: Default::default(),
                        ..s.clone()
                    },
                    Vec::new(),
                ));
                vec![Op::DelService(s.key.clone())]
            }
            Op::EditService(s) => {
                let Some(&i) = self.index.get(&s.key) else {
                    return refuse(libc::ESRCH);
                };
                let old = std::mem::replace(&mut self.services[i].0, s.clone());
                vec![Op::EditService(old)]
            }
            Op::DelService(k) => {
                let Some((s, dests)) = self.remove(k) else {
                    return refuse(libc::ESRCH);
                };
                let mut undo = vec![Op::AddService(s)];
                undo.extend(dests.into_iter().map(|d| Op::AddDest(k.clone(), d)));
                undo
            }
            Op::AddDest(k, d) => {
                let Some(&i) = self.index.get(k) else {
                    return refuse(libc::ESRCH);
                };
                if self.has_dest(i, &d.addr, d.port) {
                    return refuse(libc::EEXIST);
                }
                // the kernel puts a new server at the head of the list; only mh's table
                // depends on that order, and pushing keeps big lists of others cheap
                let (svc, dests) = &mut self.services[i];
                if svc.scheduler == "mh" {
                    dests.insert(0, d.clone());
                } else {
                    dests.push(d.clone());
                }
                if let Some(set) = self.large.get_mut(k) {
                    set.insert((d.addr, d.port));
                }
                vec![Op::DelDest(k.clone(), d.addr, d.port)]
            }
            Op::EditDest(k, d) => {
                let Some(&i) = self.index.get(k) else {
                    return refuse(libc::ESRCH);
                };
                let Some(x) = self.services[i]
                    .1
                    .iter_mut()
                    .find(|x| x.addr == d.addr && x.port == d.port)
                else {
                    return refuse(libc::ENOENT);
                };
                let old = std::mem::replace(x, d.clone());
                vec![Op::EditDest(k.clone(), old)]
            }
            Op::DelDest(k, a, p) => {
                let Some(&i) = self.index.get(k) else {
                    return refuse(libc::ESRCH);
                };
                let dests = &mut self.services[i].1;
                let Some(pos) = dests.iter().position(|x| x.addr == *a && x.port == *p) else {
                    return refuse(libc::ENOENT);
                };
                if let Some(set) = self.large.get_mut(k) {
                    set.remove(&(*a, *p));
                }
                vec![Op::AddDest(k.clone(), dests.remove(pos))]
            }
            Op::Zero(Some(k)) => {
                if !self.index.contains_key(k) {
                    return refuse(libc::ESRCH);
                }
                vec![]
            }
            Op::Zero(None) => vec![],
            Op::Flush => {
                let mut undo = Vec::new();
                for (s, dests) in self.services.drain(..) {
                    let k = s.key.clone();
                    undo.push(Op::AddService(s));
                    undo.extend(dests.into_iter().map(|d| Op::AddDest(k.clone(), d)));
                }
                self.index.clear();
                self.large.clear();
                undo
            }
            Op::SetTimeouts(t) => {
                let old = self.timeouts;
                let pick = |new: u32, cur: u32| if new == 0 { cur } else { new };
                self.timeouts = Timeouts {
                    tcp: pick(t.tcp, old.tcp),
                    tcpfin: pick(t.tcpfin, old.tcpfin),
                    udp: pick(t.udp, old.udp),
                };
                vec![Op::SetTimeouts(old)]
            }
            Op::StartDaemon(d) => {
                if self.daemons.iter().any(|x| x.state == d.state) {
                    return refuse(libc::EEXIST);
                }
                self.daemons.push(d.clone());
                self.daemons.sort_by_key(|x| x.state != DaemonState::Master);
                vec![Op::StopDaemon(d.state)]
            }
            Op::StopDaemon(s) => {
                let Some(pos) = self.daemons.iter().position(|x| x.state == *s) else {
                    return refuse(libc::ESRCH);
                };
                vec![Op::StartDaemon(self.daemons.remove(pos))]
            }
        })
    }
}

/// Checks `ops` against `table` and returns, for each, the operations that undo it.
pub fn plan_undo(table: &mut Table, ops: &[Op]) -> Result<Vec<Vec<Op>>, (usize, Error)> {
    ops.iter()
        .enumerate()
        .map(|(i, op)| table.apply(op).map_err(|e| (i, e)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(a: &str) -> ServiceKey {
        ServiceKey::Addr {
            proto: crate::ipvs::Protocol::Tcp,
            addr: a.parse().unwrap(),
            port: 80,
        }
    }

    #[test]
    fn undo_restores_the_table() {
        let mut t = Table::default();
        let s = Service::new(key("192.0.2.1"));
        let d = Dest::new("192.0.2.2".parse().unwrap(), 80);
        t.apply(&Op::AddService(s.clone())).unwrap();
        t.apply(&Op::AddDest(s.key.clone(), d.clone())).unwrap();
        let before = t.clone();
        let ops = vec![
            Op::EditDest(
                s.key.clone(),
                Dest {
                    weight: 5,
                    ..d.clone()
                },
            ),
            Op::AddService(Service::new(key("192.0.2.9"))),
            Op::DelService(s.key.clone()),
            Op::Flush,
        ];
        let undo = plan_undo(&mut t, &ops).unwrap();
        assert!(t.services().is_empty());
        for u in undo.iter().rev() {
            for op in u {
                t.apply(op).unwrap();
            }
        }
        let mut a: Vec<_> = t.services().to_vec();
        let mut b: Vec<_> = before.services().to_vec();
        a.sort_by(|x, y| crate::model::order::key_cmp(&x.0.key, &y.0.key));
        b.sort_by(|x, y| crate::model::order::key_cmp(&x.0.key, &y.0.key));
        assert_eq!(a, b);
    }

    #[test]
    fn large_services_refuse_the_same_servers_as_small_ones() {
        let mut t = Table::default();
        let s = Service::new(key("192.0.2.1"));
        let k = s.key.clone();
        let server = |i: u32| Dest::new(std::net::Ipv4Addr::from(0xc633_0000 + i).into(), 80);
        t.apply(&Op::AddService(s.clone())).unwrap();
        for i in 0..100 {
            t.apply(&Op::AddDest(k.clone(), server(i))).unwrap();
            let again = t.apply(&Op::AddDest(k.clone(), server(i))).unwrap_err();
            assert_eq!(again.errno(), Some(libc::EEXIST), "server {i}");
        }
        // a deleted server can come back, once
        t.apply(&Op::DelDest(k.clone(), server(40).addr, 80)).unwrap();
        t.apply(&Op::AddDest(k.clone(), server(40))).unwrap();
        assert!(t.apply(&Op::AddDest(k.clone(), server(40))).is_err());
        // a service deleted (or cleared) and made again starts empty
        for clear in [Op::DelService(k.clone()), Op::Flush] {
            t.apply(&clear).unwrap();
            t.apply(&Op::AddService(s.clone())).unwrap();
            t.apply(&Op::AddDest(k.clone(), server(7))).unwrap();
            assert_eq!(t.get(&k).unwrap().1.len(), 1);
            for i in 0..40 {
                let r = t.apply(&Op::AddDest(k.clone(), server(i)));
                assert_eq!(r.is_err(), i == 7, "server {i}");
            }
        }
        // a table read with a large service already in it
        let mut read = Table::new(t.services().to_vec(), t.timeouts, vec![]);
        assert!(read.apply(&Op::AddDest(k.clone(), server(39))).is_err());
        assert!(read.apply(&Op::AddDest(k.clone(), server(40))).is_ok());
        assert_eq!(read, {
            t.apply(&Op::AddDest(k.clone(), server(40))).unwrap();
            t
        });
    }

    #[test]
    fn kernel_rules() {
        let mut t = Table::default();
        let s = Service::new(key("192.0.2.1"));
        t.apply(&Op::AddService(s.clone())).unwrap();
        let e = t.apply(&Op::AddService(s.clone())).unwrap_err();
        assert_eq!(e.to_string(), "service already exists: TCP 192.0.2.1:80");
        let e = t
            .apply(&Op::DelDest(s.key.clone(), "192.0.2.5".parse().unwrap(), 80))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "no such real server 192.0.2.5:80 in TCP 192.0.2.1:80"
        );
        let e = t.apply(&Op::DelService(key("192.0.2.7"))).unwrap_err();
        assert_eq!(e.errno(), Some(libc::ESRCH));
    }
}

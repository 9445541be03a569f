//! Drift: the kernel's table compared with the desired one, what monitors, drains and
//! overrides did on purpose excused. The rules are pure (tables in, changes out); `watch`
//! says what a round of `lvs.watch` does with them (report once, revert, adopt, the gate).
//!
//! The comparison also makes the table the kernel should have now ("effective"): the desired
//! one with each excused difference taken as the kernel has it. Planning from the kernel's
//! table to it gives the fewest operations that undo the drift and nothing else (a monitor's
//! inhibited weight stays 0, its sorry server stays in).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

use serde_json::{Value as J, json};

use crate::ipvs::{Dest, Service, ServiceKey, ServiceTable, Timeouts};
use crate::model::plan::Desired;

pub mod watch;

#[cfg(test)]
mod tests;

/// A real server of a service.
pub type Server = (ServiceKey, SocketAddr);

fn server_of(key: &ServiceKey, d: &Dest) -> Server {
    (key.clone(), SocketAddr::new(d.addr, d.port))
}

/// What was done to the table on purpose, so is not drift.
#[derive(Debug, Clone, Default)]
pub struct Excuses {
    /// Taken out by a monitor: weight 0 (inhibit) or deleted (remove).
    pub out: HashSet<Server>,
    /// A monitor's sorry server, put in by it.
    pub sorry: HashSet<Server>,
    /// Being drained: weight 0 now, deleted once drained.
    pub draining: HashSet<Server>,
    /// Drained and deleted: gone on purpose (the caller gives those deleted since its last
    /// look; a watch remembers them until they are back).
    pub drained: HashSet<Server>,
    /// The weight a monitor's exec check gives a server it keeps in.
    pub weights: HashMap<Server, u32>,
}

impl Excuses {
    fn absence(&self, s: &Server) -> bool {
        self.out.contains(s) || self.drained.contains(s)
    }

    fn zero_weight(&self, s: &Server) -> bool {
        self.out.contains(s) || self.draining.contains(s)
    }

    fn presence(&self, s: &Server) -> bool {
        self.sorry.contains(s) || self.draining.contains(s)
    }

    /// The kernel's `weight` for `s` is what a monitor, a drain or an override set.
    fn weight(&self, s: &Server, weight: u32, held: &dyn Fn(&ServiceKey, SocketAddr) -> Option<u32>) -> bool {
        (weight == 0 && self.zero_weight(s))
            || self.weights.get(s) == Some(&weight)
            || held(&s.0, s.1) == Some(weight)
    }
}

/// Keeps `memory` of the servers drained away: those draining now and those a drain deleted
/// since the last round (`drained`) join it, and one the kernel has again (put back by
/// hand, or by a revert) leaves it.
pub fn remember_drained(
    memory: &mut HashSet<Server>,
    draining: &HashSet<Server>,
    drained: &HashSet<Server>,
    kernel: &ServiceTable,
) {
    let present: HashSet<Server> = kernel
        .iter()
        .flat_map(|(s, ds)| ds.iter().map(|d| server_of(&s.key, d)))
        .collect();
    memory.extend(draining.iter().chain(drained).cloned());
    memory.retain(|s| !present.contains(s) || draining.contains(s));
}

/// One difference: a service or real server missing or extra (`field` none, want/have
/// "present"/"absent"), or one field of it (the values as the desired and the kernel's).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub service: String,
    pub server: Option<String>,
    pub field: Option<&'static str>,
    pub want: J,
    pub have: J,
}

impl Change {
    pub fn json(&self) -> J {
        let mut m = serde_json::Map::new();
        m.insert("service".into(), J::String(self.service.clone()));
        if let Some(s) = &self.server {
            m.insert("server".into(), J::String(s.clone()));
        }
        if let Some(f) = self.field {
            m.insert("field".into(), J::String(f.into()));
        }
        m.insert("want".into(), self.want.clone());
        m.insert("have".into(), self.have.clone());
        J::Object(m)
    }

    /// In words, for the log: `TCP 192.0.2.1:80 192.0.2.2:80 weight: want 1, have 5`.
    pub fn describe(&self) -> String {
        let mut s = self.service.clone();
        if let Some(r) = &self.server {
            s.push(' ');
            s.push_str(r);
        }
        match self.field {
            Some(f) => format!("{s} {f}: want {}, have {}", self.want, self.have),
            None if self.have == "absent" => format!("{s}: missing"),
            None => format!("{s}: not desired"),
        }
    }
}

fn presence(service: &ServiceKey, server: Option<&Dest>, want: bool) -> Change {
    let word = |p: bool| J::from(if p { "present" } else { "absent" });
    Change {
        service: service.to_string(),
        server: server.map(Dest::name),
        field: None,
        want: word(want),
        have: word(!want),
    }
}

fn service_fields(s: &Service) -> [(&'static str, J); 5] {
    [
        ("scheduler", J::from(s.scheduler.clone())),
        (
            "persistent",
            if s.persistent() {
                J::from(s.timeout)
            } else {
                J::Bool(false)
            },
        ),
        ("netmask", J::from(s.netmask)),
        // the persistence bit is `persistent`'s; the rest (one-packet, sched flags) as a number
        ("flags", J::from(s.flags & !crate::ipvs::consts::SVC_F_PERSISTENT)),
        ("pe", s.pe.clone().map_or(J::Null, J::from)),
    ]
}

fn dest_fields(d: &Dest) -> [(&'static str, J); 7] {
    [
        ("method", J::from(d.fwd.name())),
        ("weight", J::from(d.weight)),
        ("upper", J::from(d.upper)),
        ("lower", J::from(d.lower)),
        ("tun_type", J::from(d.tun_type.name())),
        ("tun_port", J::from(d.tun_port)),
        ("tun_flags", J::from(d.tun_flags)),
    ]
}

fn field_changes<const N: usize>(
    out: &mut Vec<Change>,
    service: &ServiceKey,
    server: Option<&Dest>,
    want: [(&'static str, J); N],
    have: [(&'static str, J); N],
    skip: Option<&str>,
) {
    for ((name, w), (_, h)) in want.into_iter().zip(have) {
        if w != h && Some(name) != skip {
            out.push(Change {
                service: service.to_string(),
                server: server.map(Dest::name),
                field: Some(name),
                want: w,
                have: h,
            });
        }
    }
}

/// What a comparison found: the differences that are drift, and the table the kernel should
/// have now (see the module's doc).
#[derive(Debug, Clone, Default)]
pub struct Comparison {
    pub changes: Vec<Change>,
    pub effective: Desired,
}

/// Compares the kernel's table with `desired`. `held` gives the weight a runtime override
/// holds a server at (that weight is no drift either).
pub fn compare(
    desired: &Desired,
    kernel: &ServiceTable,
    kernel_timeouts: Timeouts,
    ex: &Excuses,
    held: &dyn Fn(&ServiceKey, SocketAddr) -> Option<u32>,
) -> Comparison {
    let mut changes = Vec::new();
    let mut effective = Desired {
        services: Vec::with_capacity(desired.services.len()),
        timeouts: desired.timeouts,
    };
    let have: HashMap<&ServiceKey, (&Service, &Vec<Dest>)> =
        kernel.iter().map(|(s, d)| (&s.key, (s, d))).collect();
    for (svc, dests) in &desired.services {
        let key = &svc.key;
        let Some((hs, hdests)) = have.get(key) else {
            // back whole, but for the servers drained away on purpose
            changes.push(presence(key, None, true));
            let keep = dests.iter().filter(|d| !ex.drained.contains(&server_of(key, d)));
            effective.services.push((svc.clone(), keep.cloned().collect()));
            continue;
        };
        field_changes(
            &mut changes,
            key,
            None,
            service_fields(svc),
            service_fields(hs),
            None,
        );
        let by_addr: HashMap<SocketAddr, &Dest> = hdests
            .iter()
            .map(|d| (SocketAddr::new(d.addr, d.port), d))
            .collect();
        let mut want = Vec::with_capacity(dests.len());
        for d in dests {
            let s = server_of(key, d);
            let Some(h) = by_addr.get(&s.1) else {
                if !ex.absence(&s) {
                    changes.push(presence(key, Some(d), true));
                    want.push(d.clone());
                }
                continue;
            };
            let excused = ex.weight(&s, h.weight, held);
            field_changes(
                &mut changes,
                key,
                Some(d),
                dest_fields(d),
                dest_fields(h),
                excused.then_some("weight"),
            );
            let mut d = d.clone();
            if excused {
                d.weight = h.weight;
            }
            want.push(d);
        }
        let named: HashSet<SocketAddr> = dests.iter().map(|d| SocketAddr::new(d.addr, d.port)).collect();
        for h in hdests.iter() {
            let s = server_of(key, h);
            if named.contains(&s.1) {
                continue;
            }
            if ex.presence(&s) {
                want.push(h.clone());
            } else {
                changes.push(presence(key, Some(h), false));
            }
        }
        effective.services.push((svc.clone(), want));
    }
    let wanted: HashSet<&ServiceKey> = desired.services.iter().map(|(s, _)| &s.key).collect();
    for (s, _) in kernel {
        if !wanted.contains(&s.key) {
            changes.push(presence(&s.key, None, false));
        }
    }
    if let Some(t) = desired.timeouts {
        let pairs = [
            ("tcp", t.tcp, kernel_timeouts.tcp),
            ("tcpfin", t.tcpfin, kernel_timeouts.tcpfin),
            ("udp", t.udp, kernel_timeouts.udp),
        ];
        // 0 keeps the kernel's, as apply reads it
        for (name, w, h) in pairs {
            if w != 0 && w != h {
                changes.push(Change {
                    service: "timeouts".into(),
                    server: None,
                    field: Some(name),
                    want: J::from(w),
                    have: J::from(h),
                });
            }
        }
    }
    // in one order whatever order the kernel dumped in: the same drift compares equal
    changes.sort_by(|a, b| (&a.service, &a.server, a.field).cmp(&(&b.service, &b.server, b.field)));
    Comparison { changes, effective }
}

/// The kernel's table taken as the desired one: every difference `compare` calls drift is
/// adopted, what was done on purpose is not (an inhibited server keeps its desired weight,
/// a sorry server or a drained-away one does not become desired).
pub fn adopt(
    desired: &Desired,
    kernel: &ServiceTable,
    kernel_timeouts: Timeouts,
    ex: &Excuses,
    held: &dyn Fn(&ServiceKey, SocketAddr) -> Option<u32>,
) -> Desired {
    let want: HashMap<&ServiceKey, &Vec<Dest>> = desired.services.iter().map(|(s, d)| (&s.key, d)).collect();
    let mut out = Desired {
        services: Vec::with_capacity(kernel.len()),
        // the kernel's values for the fields the desired table set
        timeouts: desired.timeouts.map(|t| {
            let pick = |w: u32, h: u32| if w == 0 { 0 } else { h };
            Timeouts {
                tcp: pick(t.tcp, kernel_timeouts.tcp),
                tcpfin: pick(t.tcpfin, kernel_timeouts.tcpfin),
                udp: pick(t.udp, kernel_timeouts.udp),
            }
        }),
    };
    for (svc, hdests) in kernel {
        let key = &svc.key;
        let old: HashMap<SocketAddr, &Dest> = want
            .get(key)
            .map(|ds| ds.iter().map(|d| (SocketAddr::new(d.addr, d.port), d)).collect())
            .unwrap_or_default();
        let mut dests = Vec::with_capacity(hdests.len());
        for h in hdests {
            let s = server_of(key, h);
            match old.get(&s.1) {
                Some(d) if ex.weight(&s, h.weight, held) => dests.push(Dest {
                    weight: d.weight,
                    ..settings(h)
                }),
                Some(_) => dests.push(settings(h)),
                None if ex.presence(&s) => {}
                None => dests.push(settings(h)),
            }
        }
        for (a, d) in &old {
            if !hdests.iter().any(|h| SocketAddr::new(h.addr, h.port) == *a) && ex.absence(&(key.clone(), *a))
            {
                dests.push((*d).clone());
            }
        }
        let mut svc = svc.clone();
        svc.stats = Default::default();
        out.services.push((svc, dests));
    }
    out
}

/// A real server's settings without its connections and counters.
fn settings(d: &Dest) -> Dest {
    Dest {
        active: 0,
        inactive: 0,
        persist: 0,
        stats: Default::default(),
        ..d.clone()
    }
}

/// The changes as an event's list: the first `MAX_LISTED`, and how many there are.
pub const MAX_LISTED: usize = 50;

pub fn changes_json(changes: &[Change]) -> J {
    let list: Vec<J> = changes.iter().take(MAX_LISTED).map(Change::json).collect();
    json!(list)
}

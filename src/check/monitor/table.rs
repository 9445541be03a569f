//! A monitor following its service in the IPVS table, and its subscriptions to probes.

use std::net::SocketAddr;
use std::time::Instant;

use super::dump::dump;
use super::effects::apply;
use super::probe::{Aimed, ProbeKey};
use super::registry::Plan;
use super::watch::Shared;
use crate::check::state::Action;
use crate::ipvs::Dest;
use crate::log;

/// Follows the service's real servers: dumps it when the shared read of the table shows it
/// changed since the last dump, or the monitor changed it, or there is no shared read.
pub(super) fn refresh(this: &Shared) -> Result<(), String> {
    let (host, key, table_read, scope, fresh) = {
        let m = this.borrow();
        let table_read = m.table_read.clone();
        (m.host.clone(), m.key.clone(), table_read, m.scope, m.interval / 2)
    };
    let look = table_read.digest(&*host, scope, &key, fresh, Instant::now());
    if let Some(Some(d)) = look {
        let m = this.borrow();
        if !m.changed && m.last_look == Some(d) {
            return Ok(());
        }
    }
    let dests = match dump(this)? {
        Some(d) => d,
        None => {
            let mut m = this.borrow_mut();
            if !m.service_missing {
                m.service_missing = true;
                log::warn(&format!(
                    "{}: the service is gone from the kernel; its servers are not checked",
                    m.name
                ));
            }
            Vec::new()
        }
    };
    // Most reads find what the last one did, and following a service takes a pass over
    // every server in it: a read that matches the last, with nothing changed by the
    // monitor in between, leaves nothing to follow.
    let digest = digest(&dests);
    {
        let mut m = this.borrow_mut();
        m.last_look = look.flatten();
        let cost = super::shared::dump_cost(dests.len());
        m.table_read.account(m.scope, m.read_cost, cost);
        m.read_cost = cost;
        if !m.changed && m.last_read == digest && !dests.is_empty() {
            return Ok(());
        }
        m.changed = false;
        m.last_read = digest;
    }
    follow(this, dests);
    Ok(())
}

/// The real servers' settings, in the order read, hashed.
fn digest(dests: &[Dest]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    for d in dests {
        (d.addr, d.port, d.fwd, d.weight, d.upper, d.lower).hash(&mut h);
        (d.tun_type, d.tun_port, d.tun_flags).hash(&mut h);
    }
    h.finish()
}

/// Follows the table's changes: new servers are watched, servers someone else deleted are
/// forgotten, weights someone else set adopted.
pub(super) fn follow(this: &Shared, dests: Vec<Dest>) {
    let mut fx = Vec::new();
    let mut added = Vec::new();
    let mut forgotten = Vec::new();
    {
        let mut m = this.borrow_mut();
        m.service_missing = m.service_missing && dests.is_empty();
        let sorry = m.sorry_dest.as_ref().map(|d| SocketAddr::new(d.addr, d.port));
        // in address order, each address once (a sorted list: this runs every interval for
        // every server watched)
        let mut seen: Vec<(SocketAddr, Dest)> = dests
            .into_iter()
            .map(|d| (SocketAddr::new(d.addr, d.port), d))
            .filter(|(a, _)| Some(*a) != sorry)
            .collect();
        seen.sort_by_key(|(a, _)| *a);
        seen.dedup_by_key(|(a, _)| *a);
        let has = |a: &SocketAddr| seen.binary_search_by_key(a, |(x, _)| *x).is_ok();
        for (addr, d) in &seen {
            if let Some(s) = m.board.servers.get(addr) {
                let expected = crate::check::overrides::winner(s.held, s.out, s.weight);
                if d.weight != expected {
                    fx.extend(m.board.weight_changed(addr, d.weight));
                }
                let mut d = d.clone();
                if let Some(old) = m.dests.get(addr) {
                    d.weight = if d.weight == 0 { old.weight } else { d.weight };
                }
                m.dests.insert(*addr, d);
            } else {
                let ps = m.per_server.get(addr).cloned();
                let n = ps
                    .as_ref()
                    .and_then(|p| p.probes.as_ref())
                    .map_or(m.probes.len(), Vec::len);
                m.dests.insert(*addr, d.clone());
                // a server an override holds is watched from the weight it had before
                let hold = m.holds.borrow().get(&(m.name.clone(), *addr)).cloned();
                let kernel = hold.as_ref().map_or(d.weight, |h| h.before);
                fx.extend(m.board.add(*addr, kernel, ps.and_then(|p| p.weight), n));
                if let Some(h) = hold {
                    fx.extend(m.board.hold(addr, Some(h.weight), h.before));
                }
                added.push(*addr);
            }
        }
        if !added.is_empty() {
            fx.extend(m.board.settled());
        }
        let action = m.board.policy.action;
        // servers this monitor deleted (failed, or out for the sorry server) are still its
        let swapped = m.board.swapped;
        let gone: Vec<SocketAddr> = m
            .board
            .servers
            .iter()
            .filter(|(a, s)| !(has(a) || ((s.out || swapped) && action == Action::Remove)))
            .map(|(a, _)| *a)
            .collect();
        for a in gone {
            log::info(&format!(
                "{}: real server {a} left the service; no longer checked",
                m.name
            ));
            fx.extend(m.board.forget(&a));
            m.dests.remove(&a);
            forgotten.push(a);
        }
    }
    for a in forgotten {
        unsubscribe(this, a);
    }
    for a in added {
        subscribe(this, a);
    }
    apply(this, fx);
}

/// The checks of `server`, aimed at it: its own, or the monitor's. The same every time (the
/// monitor's checks never change while it runs), so unsubscribing works them out again
/// rather than each server keeping its list.
fn aimed(m: &super::watch::Monitor, server: SocketAddr) -> Vec<(ProbeKey, Aimed)> {
    let list = m
        .per_server
        .get(&server)
        .and_then(|p| p.probes.as_ref())
        .unwrap_or(&m.probes);
    list.iter()
        .map(|probe| {
            let aimed = probe.aim(server, m.timeout);
            (aimed.key(server, m.timeout), aimed)
        })
        .collect()
}

pub(super) fn subscribe(this: &Shared, server: SocketAddr) {
    let (reg, plans) = {
        let m = this.borrow();
        let weight = m.board.servers.get(&server).map_or(1, |s| s.weight);
        let plans: Vec<Plan> = aimed(&m, server)
            .into_iter()
            .map(|(key, probe)| Plan {
                key,
                probe,
                server,
                weight,
                timeout: m.timeout,
                interval: m.interval,
                delay: m.warmup,
            })
            .collect();
        (m.registry.clone(), plans)
    };
    for (i, plan) in plans.into_iter().enumerate() {
        reg.subscribe(plan, this, server, i);
    }
}

pub(super) fn unsubscribe(this: &Shared, server: SocketAddr) {
    let (reg, id, keys) = {
        let m = this.borrow();
        let keys: Vec<ProbeKey> = aimed(&m, server).into_iter().map(|(k, _)| k).collect();
        (m.registry.clone(), m.id, keys)
    };
    for k in keys {
        reg.unsubscribe(&k, id, server);
    }
}

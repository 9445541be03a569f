//! A monitor following its service in the kernel's table, and its subscriptions to probes.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use mlua::{Lua, Value};

use super::effects::apply;
use super::{Shared, monitors};
use crate::check::state::Action;
use crate::ipvs::Dest;
use crate::log;
use crate::lua::checks::Aimed;
use crate::lua::ipvs::with_client;
use crate::lua::probes::{Plan, ProbeKey};

/// Reads the service's real servers from the kernel and follows changes: new servers are
/// watched, servers someone else deleted are forgotten, weights someone else set adopted.
pub(super) fn refresh(lua: &Lua, this: &Shared) -> Result<(), String> {
    let key = this.borrow().key.clone();
    // One dump per look; only an empty answer needs asking whether the service is still there
    // (the kernel dumps no real servers for a service it does not have).
    let dests = match with_client(lua, |c| match c.dests(&key) {
        Ok(d) if !d.is_empty() => Ok(Some(d)),
        Ok(d) => Ok(c.service(&key)?.map(|_| d)),
        Err(e) if e.errno() == Some(nix::libc::ESRCH) => Ok(None),
        Err(e) => Err(e),
    }) {
        Ok(Some(d)) => d,
        Ok(None) => {
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
        Err(e) => return Err(crate::lua::describe_error(&Value::Error(Box::new(e)))),
    };
    let mut fx = Vec::new();
    let mut added = Vec::new();
    let mut forgotten = Vec::new();
    {
        let mut m = this.borrow_mut();
        m.service_missing = m.service_missing && dests.is_empty();
        let sorry = m.sorry_dest.as_ref().map(|d| SocketAddr::new(d.addr, d.port));
        let seen: BTreeMap<SocketAddr, Dest> = dests
            .into_iter()
            .map(|d| (SocketAddr::new(d.addr, d.port), d))
            .filter(|(a, _)| Some(*a) != sorry)
            .collect();
        for (addr, d) in &seen {
            if let Some(s) = m.board.servers.get(addr) {
                let expected = if s.out { 0 } else { s.weight };
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
                fx.extend(m.board.add(*addr, d.weight, ps.and_then(|p| p.weight), n));
                added.push(*addr);
            }
        }
        let action = m.board.policy.action;
        let gone: Vec<SocketAddr> = m
            .board
            .servers
            .iter()
            .filter(|(a, s)| !(seen.contains_key(a) || (s.out && action == Action::Remove)))
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
        unsubscribe(lua, this, a);
    }
    for a in added {
        subscribe(lua, this, a);
    }
    apply(lua, this, fx);
    Ok(())
}

pub(super) fn subscribe(lua: &Lua, this: &Shared, server: SocketAddr) {
    let reg = monitors(lua).registry.clone();
    let plans: Vec<(usize, Plan)> = {
        let m = this.borrow();
        let ps = m.per_server.get(&server);
        let list = ps
            .and_then(|p| p.probes.clone())
            .unwrap_or_else(|| m.probes.clone());
        let weight = m.board.servers.get(&server).map_or(1, |s| s.weight);
        list.into_iter()
            .enumerate()
            .map(|(i, probe)| {
                let aimed = probe.aim(server, m.timeout);
                let key = match &aimed {
                    Aimed::Check(c) => ProbeKey::Builtin(c.clone()),
                    Aimed::Lua(f) => ProbeKey::Lua(f.to_pointer() as usize, server, m.timeout),
                };
                let plan = Plan {
                    key,
                    probe: aimed,
                    server,
                    weight,
                    timeout: m.timeout,
                    interval: m.interval,
                    delay: m.warmup,
                };
                (i, plan)
            })
            .collect()
    };
    let mut keys = Vec::new();
    for (i, plan) in plans {
        keys.push(plan.key.clone());
        reg.subscribe(lua, plan, this, server, i);
    }
    this.borrow_mut().subs.insert(server, keys);
}

pub(super) fn unsubscribe(lua: &Lua, this: &Shared, server: SocketAddr) {
    let reg = monitors(lua).registry.clone();
    let (id, keys) = {
        let mut m = this.borrow_mut();
        (m.id, m.subs.remove(&server).unwrap_or_default())
    };
    for k in keys {
        reg.unsubscribe(&k, id, server);
    }
}

//! `lvs` functions for services, real servers, timeouts, sync daemons: thin bindings that
//! convert arguments, call the kernel client, and convert the results.

use mlua::{Lua, Table, Value, Variadic};

use super::args::{Fields, spec_err};
use super::convert::*;
use crate::ipvs::{Client, Dest, Error, Op, Service, ServiceKey};
use crate::model::backend::Ipvs;
use crate::model::daemon::{DaemonSpec, parse_state, timeouts};
use crate::model::spec::server_endpoint;

/// The kernel client of this Lua state, opened on first use so that lvsh starts (and runs
/// scripts that need no IPVS) on a kernel without it.
#[derive(Default)]
pub struct ClientSlot(pub Option<Box<dyn Ipvs>>);

/// Runs `f` with this Lua state's client slot, opened or not: for callers that open it
/// themselves and word failures their own way (the ipvsadm emulation).
pub fn with_slot<R>(lua: &Lua, f: impl FnOnce(&mut Option<Box<dyn Ipvs>>) -> R) -> mlua::Result<R> {
    if lua.app_data_ref::<ClientSlot>().is_none() {
        lua.set_app_data(ClientSlot::default());
    }
    let mut slot = lua
        .app_data_mut::<ClientSlot>()
        .ok_or_else(|| mlua::Error::runtime("no IPVS client"))?;
    Ok(f(&mut slot.0))
}

pub fn with_client<R>(lua: &Lua, f: impl FnOnce(&mut dyn Ipvs) -> Result<R, Error>) -> mlua::Result<R> {
    with_slot(lua, |slot| {
        if slot.is_none() {
            *slot = Some(Box::new(Client::new()?));
        }
        match slot.as_mut() {
            Some(client) => f(client.as_mut()),
            None => Err(Error::Io("no IPVS client".into())),
        }
    })?
    .map_err(mlua::Error::external)
}

fn read_service(c: &mut dyn Ipvs, key: &ServiceKey) -> Result<Option<(Service, Vec<Dest>)>, Error> {
    match c.service(key)? {
        Some(s) => {
            let mut d = c.dests(key)?;
            d.sort_by(crate::model::order::dest_cmp);
            Ok(Some((s, d)))
        }
        None => Ok(None),
    }
}

fn no_service(key: &ServiceKey) -> Error {
    Error::Kernel {
        errno: nix::libc::ESRCH,
        message: format!("no such service: {key}"),
    }
}

/// Runs operations; if one fails, undoes the ones that were carried out and returns its error.
fn run_undoable(c: &mut dyn Ipvs, ops: &[Op], undo: impl Fn(usize) -> Option<Op>) -> Result<(), Error> {
    let results = c.execute_batch(ops);
    let Some(failed) = results.iter().position(Result::is_err) else {
        return Ok(());
    };
    let done: Vec<Op> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_ok())
        .filter_map(|(i, _)| undo(i))
        .rev()
        .collect();
    let error = results
        .into_iter()
        .nth(failed)
        .and_then(Result::err)
        .unwrap_or(Error::Io("unknown failure".into()));
    for op in done {
        // best effort: the error that matters is the original one
        let _ = c.execute(&op);
    }
    Err(error)
}

fn add_service(lua: &Lua, v: Value) -> mlua::Result<Table> {
    let (spec, servers) = service_spec(v)?;
    let svc = spec.to_service(None).map_err(spec_err)?;
    let mut ops = vec![Op::AddService(svc.clone())];
    if let Some(list) = servers {
        for rs in list.sequence_values::<Value>() {
            let dest = server_spec(rs?)?.to_dest(&svc.key, None).map_err(spec_err)?;
            ops.push(Op::AddDest(svc.key.clone(), dest));
        }
    }
    let key = svc.key.clone();
    let (s, d) = with_client(lua, |c| {
        run_undoable(c, &ops, |i| (i == 0).then(|| Op::DelService(key.clone())))?;
        read_service(c, &key)?.ok_or_else(|| no_service(&key))
    })?;
    service_table(lua, &s, &d)
}

fn edit_service(lua: &Lua, v: Value) -> mlua::Result<Table> {
    let (spec, _) = service_spec(v)?;
    let key = spec.key().map_err(spec_err)?;
    let current = with_client(lua, |c| c.service(&key)?.ok_or_else(|| no_service(&key)))?;
    let svc = spec.to_service(Some(&current)).map_err(spec_err)?;
    let (s, d) = with_client(lua, |c| {
        c.execute(&Op::EditService(svc))?;
        read_service(c, &key)?.ok_or_else(|| no_service(&key))
    })?;
    service_table(lua, &s, &d)
}

/// The real server `addr:port` of a service as the kernel has it, if it is there.
fn find_dest(
    c: &mut dyn Ipvs,
    key: &ServiceKey,
    addr: std::net::IpAddr,
    port: u16,
) -> Result<Option<Dest>, Error> {
    Ok(c.dests(key)?
        .into_iter()
        .find(|d| d.addr == addr && d.port == port))
}

fn add_server(lua: &Lua, (svc, rs): (Value, Value)) -> mlua::Result<Table> {
    let key = service_key(svc)?;
    let dest = server_spec(rs)?.to_dest(&key, None).map_err(spec_err)?;
    let (addr, port) = (dest.addr, dest.port);
    let found = with_client(lua, |c| {
        c.execute(&Op::AddDest(key.clone(), dest.clone()))?;
        find_dest(c, &key, addr, port)
    })?;
    server_table(lua, &found.unwrap_or(dest))
}

fn edit_server(lua: &Lua, (svc, rs): (Value, Value)) -> mlua::Result<Table> {
    let key = service_key(svc)?;
    let spec = server_spec(rs)?;
    let (addr, port) = server_endpoint(&key, &spec.addr).map_err(spec_err)?;
    let current = with_client(lua, |c| match find_dest(c, &key, addr, port)? {
        Some(d) => Ok(d),
        None => {
            let errno = if c.service(&key)?.is_some() {
                nix::libc::ENOENT
            } else {
                nix::libc::ESRCH
            };
            Err(Op::EditDest(key.clone(), Dest::new(addr, port)).explain(errno))
        }
    })?;
    let dest = spec.to_dest(&key, Some(&current)).map_err(spec_err)?;
    let found = with_client(lua, |c| {
        c.execute(&Op::EditDest(key.clone(), dest.clone()))?;
        find_dest(c, &key, addr, port)
    })?;
    server_table(lua, &found.unwrap_or(dest))
}

fn del_server(lua: &Lua, (svc, rs): (Value, Value)) -> mlua::Result<bool> {
    let key = service_key(svc)?;
    let spec = server_spec(rs)?;
    let (addr, port) = server_endpoint(&key, &spec.addr).map_err(spec_err)?;
    with_client(lua, |c| c.execute(&Op::DelDest(key, addr, port)))?;
    Ok(true)
}

fn daemon_spec(t: Table) -> mlua::Result<DaemonSpec> {
    let f = Fields::new(
        t,
        "daemon",
        &["state", "ifname", "syncid", "maxlen", "group", "port", "ttl"],
        &[],
    )?;
    Ok(DaemonSpec {
        state: f.string("state")?,
        ifname: f.string("ifname")?,
        syncid: f.int("syncid")?,
        maxlen: f.int("maxlen")?,
        group: f.string("group")?,
        port: f.int("port")?,
        ttl: f.int("ttl")?,
    })
}

pub fn register(lua: &Lua, lvs: &Table) -> mlua::Result<()> {
    lvs.set("add_service", lua.create_function(add_service)?)?;
    lvs.set("edit_service", lua.create_function(edit_service)?)?;
    lvs.set(
        "del_service",
        lua.create_function(|lua, v: Value| {
            let key = service_key(v)?;
            with_client(lua, |c| c.execute(&Op::DelService(key)))?;
            Ok(true)
        })?,
    )?;
    lvs.set(
        "get_service",
        lua.create_function(|lua, v: Value| {
            let key = service_key(v)?;
            match with_client(lua, |c| read_service(c, &key))? {
                Some((s, d)) => Ok(Value::Table(service_table(lua, &s, &d)?)),
                None => Ok(Value::Nil),
            }
        })?,
    )?;
    lvs.set(
        "services",
        lua.create_function(|lua, ()| {
            let mut all = with_client(lua, |c| c.services())?;
            crate::model::order::sort_table(&mut all);
            let list = lua.create_table_with_capacity(all.len(), 0)?;
            for (s, d) in &all {
                list.push(service_table(lua, s, d)?)?;
            }
            Ok(list)
        })?,
    )?;
    lvs.set(
        "clear",
        lua.create_function(|lua, ()| {
            with_client(lua, |c| c.execute(&Op::Flush))?;
            Ok(true)
        })?,
    )?;
    lvs.set("add_server", lua.create_function(add_server)?)?;
    lvs.set("edit_server", lua.create_function(edit_server)?)?;
    lvs.set("del_server", lua.create_function(del_server)?)?;
    lvs.set(
        "zero",
        lua.create_function(|lua, args: Variadic<Value>| {
            let key = match args.into_iter().next() {
                None | Some(Value::Nil) => None,
                Some(v) => Some(service_key(v)?),
            };
            with_client(lua, |c| c.execute(&Op::Zero(key)))?;
            Ok(true)
        })?,
    )?;
    lvs.set(
        "info",
        lua.create_function(|lua, ()| {
            let info = with_client(lua, |c| c.info())?;
            let t = lua.create_table()?;
            t.set("version", info.version_string())?;
            t.set("conn_tab_size", info.conn_tab_size)?;
            Ok(t)
        })?,
    )?;
    lvs.set(
        "timeouts",
        lua.create_function(|lua, ()| {
            let t = with_client(lua, |c| c.timeouts())?;
            let out = lua.create_table()?;
            out.set("tcp", t.tcp)?;
            out.set("tcpfin", t.tcpfin)?;
            out.set("udp", t.udp)?;
            Ok(out)
        })?,
    )?;
    lvs.set(
        "set_timeouts",
        lua.create_function(|lua, t: Table| {
            let f = Fields::new(t, "timeouts", &["tcp", "tcpfin", "udp"], &[])?;
            let t = timeouts(f.int("tcp")?, f.int("tcpfin")?, f.int("udp")?).map_err(spec_err)?;
            if t.tcp != 0 || t.tcpfin != 0 || t.udp != 0 {
                with_client(lua, |c| c.execute(&Op::SetTimeouts(t)))?;
            }
            Ok(true)
        })?,
    )?;
    lvs.set(
        "start_daemon",
        lua.create_function(|lua, t: Table| {
            let d = daemon_spec(t)?.to_daemon().map_err(spec_err)?;
            with_client(lua, |c| c.execute(&Op::StartDaemon(d)))?;
            // Stopping a sync thread that has not run yet makes the kernel (seen with 6.1)
            // lose the DEL_DAEMON reply; give the new threads a moment to start.
            std::thread::sleep(std::time::Duration::from_millis(50));
            Ok(true)
        })?,
    )?;
    lvs.set(
        "stop_daemon",
        lua.create_function(|lua, state: Value| {
            let s = match &state {
                Value::String(s) => parse_state(&s.to_string_lossy()).map_err(spec_err)?,
                Value::Table(t) => {
                    let f = Fields::new(
                        t.clone(),
                        "daemon",
                        &["state", "ifname", "syncid", "maxlen", "group", "port", "ttl"],
                        &[],
                    )?;
                    parse_state(&f.string("state")?.unwrap_or_default()).map_err(spec_err)?
                }
                other => {
                    return Err(spec_err(crate::model::spec::bad(
                        "state",
                        super::args::show(other),
                        "expected \"master\" or \"backup\"",
                    )));
                }
            };
            with_client(lua, |c| c.execute(&Op::StopDaemon(s)))?;
            Ok(true)
        })?,
    )?;
    lvs.set(
        "daemons",
        lua.create_function(|lua, ()| {
            let all = with_client(lua, |c| c.daemons())?;
            let list = lua.create_table()?;
            for d in &all {
                list.push(daemon_table(lua, d)?)?;
            }
            Ok(list)
        })?,
    )?;
    Ok(())
}

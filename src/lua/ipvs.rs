//! `lvs` functions for services, real servers, timeouts, sync daemons: convert the
//! arguments, call the director, convert the results.

use std::collections::HashMap;

use mlua::{Lua, Table, Value, Variadic};

use super::args::{spec_err, to_value};
use super::convert::*;
use crate::director::{self, Director};
use crate::model::backend::Ipvs;
use crate::model::daemon::{DaemonSpec, read_state, read_timeouts};
use crate::runtime::netns::NsId;

/// This Lua state's directors, one per network namespace (an IPVS socket belongs to the
/// namespace it was opened in), each opened on first use so that lvsh starts (and runs
/// scripts that need no IPVS) on a kernel without it. A dry run has one model for all.
#[derive(Default)]
pub struct DirectorSlot {
    by_netns: HashMap<NsId, Option<Director>>,
    model: Option<Option<Director>>,
}

/// Runs `f` with the director slot of the namespace the code runs in, opened or not: for
/// callers that open it themselves and word failures their own way (the ipvsadm emulation).
pub fn with_slot<R>(lua: &Lua, f: impl FnOnce(&mut Option<Director>) -> R) -> mlua::Result<R> {
    if lua.app_data_ref::<DirectorSlot>().is_none() {
        lua.set_app_data(DirectorSlot::default());
    }
    let mut slots = lua
        .app_data_mut::<DirectorSlot>()
        .ok_or_else(|| mlua::Error::runtime("no IPVS client"))?;
    if let Some(model) = slots.model.as_mut() {
        return Ok(f(model));
    }
    let here = crate::runtime::netns::here()
        .map_err(|e| mlua::Error::runtime(format!("cannot tell the network namespace: {e}")))?;
    Ok(f(slots.by_netns.entry(here.id()).or_default()))
}

/// Makes every `lvs` function talk to `d` (a model, for dry runs) in whatever namespace.
pub fn use_model(lua: &Lua, d: Director) {
    lua.set_app_data(DirectorSlot {
        model: Some(Some(d)),
        ..Default::default()
    });
}

/// Runs `f` with this Lua state's director (opened now if need be).
pub fn with_director<R>(
    lua: &Lua,
    f: impl FnOnce(&mut Director) -> Result<R, director::Error>,
) -> mlua::Result<R> {
    with_slot(lua, |slot| {
        if slot.is_none() {
            *slot = Some(Director::open()?);
        }
        match slot.as_mut() {
            Some(d) => f(d),
            None => Err(crate::ipvs::Error::Io("no IPVS client".into()).into()),
        }
    })?
    .map_err(mlua::Error::external)
}

/// Reads through the director's IPVS (listings read in the way their format needs).
pub fn with_client<R>(
    lua: &Lua,
    f: impl FnOnce(&mut dyn Ipvs) -> Result<R, crate::ipvs::Error>,
) -> mlua::Result<R> {
    with_director(lua, |d| Ok(f(d.ipvs())?))
}

/// The namespace's write lock for a change to the table, waited for on the loop's timer
/// (another lvsh's transaction may hold it), so the wait holds up nothing else. None for a
/// model, and inside lvs.with_netns, where the loop cannot turn: the director tries once
/// there (a thread that runs the loop never waits for the lock).
pub async fn write_lock(lua: &Lua) -> mlua::Result<Option<crate::host::lock::Lock>> {
    let target = with_director(lua, |d| match d.lock_target() {
        Some(id) => Ok(Some((id, d.lock_wait()?))),
        None => Ok(None),
    })?;
    match target {
        Some((id, wait)) if super::engine::control(lua).no_wait.get() == 0 => {
            crate::host::lock::lock_async(id, wait)
                .await
                .map(Some)
                .map_err(|e| mlua::Error::external(director::Error::from(e)))
        }
        _ => Ok(None),
    }
}

/// As `with_director`, for a change to the table: made holding the namespace's write lock.
pub async fn with_writer<R>(
    lua: &Lua,
    f: impl FnOnce(&mut Director) -> Result<R, director::Error>,
) -> mlua::Result<R> {
    let held = write_lock(lua).await?;
    with_director(lua, |d| d.holding(held, f))
}

async fn add_service(lua: Lua, v: Value) -> mlua::Result<Table> {
    let (spec, servers) = service_spec(v)?;
    let (s, d) = with_writer(&lua, |dir| dir.add_service(&spec, &servers)).await?;
    service_table(&lua, &s, &d)
}

async fn edit_service(lua: Lua, v: Value) -> mlua::Result<Table> {
    let (spec, _) = service_spec(v)?;
    let (s, d) = with_writer(&lua, |dir| dir.edit_service(&spec)).await?;
    service_table(&lua, &s, &d)
}

fn get_service(lua: &Lua, v: Value) -> mlua::Result<Value> {
    let key = service_key(v)?;
    match with_director(lua, |d| d.service(&key))? {
        Some((s, d)) => Ok(Value::Table(service_table(lua, &s, &d)?)),
        None => Ok(Value::Nil),
    }
}

fn services(lua: &Lua, (): ()) -> mlua::Result<Table> {
    let (all, mh) = with_director(lua, |d| d.services_with_mh())?;
    let list = lua.create_table_with_capacity(all.len(), 0)?;
    for (s, d) in &all {
        let t = service_table(lua, s, d)?;
        if let Some(m) = mh.get(&s.key) {
            t.set("mh", mh_summary_table(lua, m)?)?;
        }
        list.push(t)?;
    }
    Ok(list)
}

async fn add_server(lua: Lua, (svc, rs): (Value, Value)) -> mlua::Result<Table> {
    let (key, spec) = (service_key(svc)?, server_spec(rs)?);
    server_table(&lua, &with_writer(&lua, |d| d.add_server(&key, &spec)).await?)
}

async fn edit_server(lua: Lua, (svc, rs): (Value, Value)) -> mlua::Result<Table> {
    let (key, spec) = (service_key(svc)?, server_spec(rs)?);
    server_table(&lua, &with_writer(&lua, |d| d.edit_server(&key, &spec)).await?)
}

async fn del_server(lua: Lua, (svc, rs): (Value, Value)) -> mlua::Result<bool> {
    let (key, spec) = (service_key(svc)?, server_spec(rs)?);
    with_writer(&lua, |d| d.del_server_spec(&key, &spec)).await?;
    Ok(true)
}

fn zero(lua: &Lua, args: Variadic<Value>) -> mlua::Result<bool> {
    let key = match args.into_iter().next() {
        None | Some(Value::Nil) => None,
        Some(v) => Some(service_key(v)?),
    };
    with_director(lua, |d| d.zero(key.as_ref()))?;
    Ok(true)
}

fn info(lua: &Lua, (): ()) -> mlua::Result<Table> {
    let info = with_director(lua, |d| d.info())?;
    let t = lua.create_table()?;
    t.set("version", info.version_string())?;
    t.set("conn_tab_size", info.conn_tab_size)?;
    Ok(t)
}

pub fn timeouts_table(lua: &Lua, t: &crate::ipvs::Timeouts) -> mlua::Result<Table> {
    record(lua, crate::view::records::timeouts(t))
}

async fn set_timeouts(lua: Lua, t: Value) -> mlua::Result<bool> {
    let t = read_timeouts(&to_value(t)?).map_err(spec_err)?;
    with_writer(&lua, |d| d.set_timeouts(t)).await?;
    Ok(true)
}

/// How long a stop must wait for a sync daemon this state started a moment ago.
pub fn daemon_settle(lua: &Lua) -> mlua::Result<Option<std::time::Duration>> {
    with_slot(lua, |slot| slot.as_ref().and_then(Director::daemon_settle))
}

/// Waits out a daemon's settle before a stop, giving the loop its turns meanwhile; where
/// the loop cannot turn (inside lvs.with_netns) the stop is refused instead.
pub async fn settle_daemon(lua: &Lua) -> mlua::Result<()> {
    let Some(wait) = daemon_settle(lua)? else {
        return Ok(());
    };
    if super::engine::control(lua).no_wait.get() > 0 {
        return Err(mlua::Error::runtime(
            "stop_daemon: the sync daemon started a moment ago and must be given 50 ms first, \
             which lvs.with_netns's function cannot wait for; stop it outside",
        ));
    }
    tokio::time::sleep(wait).await;
    Ok(())
}

async fn stop_daemon(lua: Lua, state: Value) -> mlua::Result<bool> {
    let s = read_state(&to_value(state)?).map_err(spec_err)?;
    settle_daemon(&lua).await?;
    with_director(&lua, |d| d.stop_daemon(s))?;
    Ok(true)
}

fn daemons(lua: &Lua, (): ()) -> mlua::Result<Table> {
    let all = with_director(lua, |d| d.daemons())?;
    let list = lua.create_table()?;
    for d in &all {
        list.push(record(lua, crate::view::records::daemon(d))?)?;
    }
    Ok(list)
}

pub fn register(lua: &Lua, lvs: &Table) -> mlua::Result<()> {
    lvs.set("add_service", lua.create_async_function(add_service)?)?;
    lvs.set("edit_service", lua.create_async_function(edit_service)?)?;
    lvs.set(
        "del_service",
        lua.create_async_function(|lua, v: Value| async move {
            let key = service_key(v)?;
            with_writer(&lua, |d| d.del_service(&key)).await?;
            Ok(true)
        })?,
    )?;
    lvs.set("get_service", lua.create_function(get_service)?)?;
    lvs.set("services", lua.create_function(services)?)?;
    lvs.set(
        "clear",
        lua.create_async_function(
            |lua, ()| async move { with_writer(&lua, |d| d.clear()).await.map(|()| true) },
        )?,
    )?;
    lvs.set("add_server", lua.create_async_function(add_server)?)?;
    lvs.set("edit_server", lua.create_async_function(edit_server)?)?;
    lvs.set("del_server", lua.create_async_function(del_server)?)?;
    lvs.set("zero", lua.create_function(zero)?)?;
    lvs.set("info", lua.create_function(info)?)?;
    lvs.set(
        "timeouts",
        lua.create_function(|lua, ()| timeouts_table(lua, &with_director(lua, |d| d.timeouts())?))?,
    )?;
    lvs.set("set_timeouts", lua.create_async_function(set_timeouts)?)?;
    lvs.set(
        "start_daemon",
        lua.create_function(|lua, t: Value| {
            let spec = DaemonSpec::read(&to_value(t)?).map_err(spec_err)?;
            with_director(lua, |d| d.start_daemon(&spec))?;
            Ok(true)
        })?,
    )?;
    lvs.set("stop_daemon", lua.create_async_function(stop_daemon)?)?;
    lvs.set("daemons", lua.create_function(daemons)?)?;
    Ok(())
}

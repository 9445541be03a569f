//! `lvs.sysctl`, `lvs.addr`, `lvs.link`, `lvs.netns` and `lvs.with_netns`: host setup for
//! directors and real servers (the role helpers are in lua/roles.lua).

use std::fs::File;

use mlua::{Function, Lua, MultiValue, Table, Value};

use super::args::{bad, to_value};
use super::convert::record;
use crate::host::rtnl::Rtnl;
use crate::host::{netns, setup, sysctl};

fn ext<E: std::error::Error + Send + Sync + 'static>(e: E) -> mlua::Error {
    mlua::Error::external(e)
}

fn rtnl() -> mlua::Result<Rtnl> {
    Rtnl::new().map_err(ext)
}

/// A sysctl value as Lua sees it: an integer when it is one.
fn value(lua: &Lua, s: &str) -> mlua::Result<Value> {
    Ok(match s.trim().parse::<i64>() {
        Ok(n) => Value::Integer(n),
        Err(_) => Value::String(lua.create_string(s)?),
    })
}

fn sysctl_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "get",
        lua.create_function(|lua, name: String| value(lua, &sysctl::get(&name).map_err(ext)?))?,
    )?;
    t.set(
        "set",
        lua.create_function(|_, (name, v): (String, Value)| {
            let text = match &v {
                Value::Integer(i) => i.to_string(),
                Value::String(s) => s.to_string_lossy(),
                Value::Boolean(b) => (*b as i32).to_string(),
                other => return Err(bad("value", other, "must be an integer or a string")),
            };
            sysctl::set(&name, &text).map_err(ext)?;
            Ok(true)
        })?,
    )?;
    t.set(
        "vs",
        lua.create_function(|lua, ()| {
            let out = lua.create_table()?;
            for (k, v) in sysctl::vs().map_err(ext)? {
                out.set(k, value(lua, &v)?)?;
            }
            Ok(out)
        })?,
    )?;
    Ok(t)
}

fn records(lua: &Lua, list: Vec<crate::fields::Record>) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(list.len(), 0)?;
    for r in list {
        t.push(record(lua, r)?)?;
    }
    Ok(t)
}

fn addr_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "add",
        lua.create_function(|_, v: Value| setup::add_addr(&to_value(v)?).map_err(ext))?,
    )?;
    t.set(
        "del",
        lua.create_function(|_, v: Value| setup::del_addr(&to_value(v)?).map_err(ext))?,
    )?;
    t.set(
        "list",
        lua.create_function(|lua, dev: Option<String>| {
            records(lua, setup::addrs(dev.as_deref()).map_err(ext)?)
        })?,
    )?;
    Ok(t)
}

fn link_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "list",
        lua.create_function(|lua, ()| records(lua, setup::links().map_err(ext)?))?,
    )?;
    t.set(
        "up",
        lua.create_function(|_, dev: String| rtnl()?.set_up(&dev, true).map_err(ext))?,
    )?;
    t.set(
        "down",
        lua.create_function(|_, dev: String| rtnl()?.set_up(&dev, false).map_err(ext))?,
    )?;
    t.set(
        "del",
        lua.create_function(|_, dev: String| rtnl()?.del_link(&dev).map_err(ext))?,
    )?;
    t.set(
        "add_ipip",
        lua.create_function(|_, v: Value| setup::add_ipip(&to_value(v)?).map_err(ext))?,
    )?;
    Ok(t)
}

/// The namespace lvsh started in, kept open to return to.
struct HomeNetns(File);

fn switch_to(lua: &Lua, name: Option<&str>) -> mlua::Result<()> {
    // a drain looks at the table of the namespace it started in, through the director that
    // a switch replaces
    if super::engine::control(lua).drains.get() > 0 {
        return Err(mlua::Error::runtime(
            "lvs.netns: a drain is waiting in this namespace; switching now would point it at another",
        ));
    }
    if lua.app_data_ref::<HomeNetns>().is_none() {
        lua.set_app_data(HomeNetns(netns::current().map_err(ext)?));
    }
    match name {
        Some(n) => netns::enter(n).map_err(ext)?,
        None => {
            let home = lua
                .app_data_ref::<HomeNetns>()
                .ok_or_else(|| mlua::Error::runtime("no home namespace"))?;
            netns::enter_file(&home.0, "(the original)").map_err(ext)?;
        }
    }
    // the director of the namespace now entered is used from here on (one per namespace)
    crate::runtime::netns::moved();
    Ok(())
}

fn register_netns(lua: &Lua, lvs: &Table) -> mlua::Result<()> {
    lvs.set(
        "netns",
        lua.create_function(|lua, name: Option<String>| {
            switch_to(lua, name.as_deref())?;
            Ok(true)
        })?,
    )?;
    lvs.set(
        "with_netns",
        lua.create_function(|lua, (name, f): (String, Function)| {
            let back = netns::current().map_err(ext)?;
            switch_to(lua, Some(&name))?;
            // `f` runs here and now, in the namespace: it cannot give the loop a turn (tasks
            // on it would run in the wrong namespace)
            let ctl = super::engine::control(lua);
            ctl.no_wait.set(ctl.no_wait.get() + 1);
            let result = f.call::<MultiValue>(());
            ctl.no_wait.set(ctl.no_wait.get() - 1);
            netns::enter_file(&back, "(the previous)").map_err(ext)?;
            crate::runtime::netns::moved();
            result
        })?,
    )?;
    Ok(())
}

/// What lua/roles.lua needs besides `lvs`: its arguments checked up front, its state
/// written atomically. Handed to it alone, not part of `lvs`. Each answers a value, or nil
/// and the message for the helper to raise at its caller's line.
pub fn role_support(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "check",
        lua.create_function(|_, v: Value| {
            Ok(match setup::check_role(&to_value(v)?) {
                Ok((addr, prefix)) => (Some(addr.to_string()), Some(prefix), None),
                Err(e) => (None, None, Some(e.to_string())),
            })
        })?,
    )?;
    t.set(
        "write_state",
        lua.create_function(|_, (path, text): (String, String)| {
            Ok(match setup::write_state(std::path::Path::new(&path), &text) {
                Ok(()) => (true, None),
                Err(e) => (false, Some(format!("cannot write {path}: {e}"))),
            })
        })?,
    )?;
    Ok(t)
}

pub fn register(lua: &Lua, lvs: &Table) -> mlua::Result<()> {
    lvs.set("sysctl", sysctl_table(lua)?)?;
    lvs.set("addr", addr_table(lua)?)?;
    lvs.set("link", link_table(lua)?)?;
    register_netns(lua, lvs)
}

//! `lvs.sysctl`, `lvs.addr`, `lvs.link`, `lvs.netns` and `lvs.with_netns`: host setup for
//! directors and real servers (the role helpers are in lua/roles.lua).

use std::fs::File;

use mlua::{Function, Lua, MultiValue, Table, Value};

use super::args::{Fields, bad};
use super::ipvs::with_slot;
use crate::host::netns;
use crate::host::rtnl::{Rtnl, parse_cidr};
use crate::host::sysctl;

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

struct AddrArgs {
    dev: String,
    addr: std::net::IpAddr,
    prefix: u8,
    label: Option<String>,
}

fn addr_args(t: Table) -> mlua::Result<AddrArgs> {
    let f = Fields::new(
        t,
        "address",
        &["dev", "addr", "label"],
        &["prefix", "family", "scope"],
    )?;
    let dev = f
        .string("dev")?
        .ok_or_else(|| bad("dev", &Value::Nil, "is required (e.g. \"eth0\")"))?;
    let raw = f.raw("addr")?;
    let text = f
        .string("addr")?
        .ok_or_else(|| bad("addr", &Value::Nil, "is required (e.g. \"192.0.2.110/24\")"))?;
    let (addr, prefix) =
        parse_cidr(&text).ok_or_else(|| bad("addr", &raw, "not an address such as 192.0.2.110/24"))?;
    Ok(AddrArgs {
        dev,
        addr,
        prefix,
        label: f.string("label")?,
    })
}

fn addr_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "add",
        lua.create_function(|_, t: Table| {
            let a = addr_args(t)?;
            let added = rtnl()?
                .add_addr(&a.dev, a.addr, a.prefix, a.label.as_deref())
                .map_err(ext)?;
            let what = if added {
                format!(
                    "added {}/{} to {}",
                    a.addr,
                    a.prefix,
                    a.label.as_deref().unwrap_or(&a.dev)
                )
            } else {
                format!("{}/{} is already on {}", a.addr, a.prefix, a.dev)
            };
            Ok((added, what))
        })?,
    )?;
    t.set(
        "del",
        lua.create_function(|_, t: Table| {
            let a = addr_args(t)?;
            let deleted = rtnl()?.del_addr(&a.dev, a.addr, a.prefix).map_err(ext)?;
            let what = if deleted {
                format!("deleted {}/{} from {}", a.addr, a.prefix, a.dev)
            } else {
                format!("{}/{} was not on {}", a.addr, a.prefix, a.dev)
            };
            Ok((deleted, what))
        })?,
    )?;
    t.set(
        "list",
        lua.create_function(|lua, dev: Option<String>| {
            let list = lua.create_table()?;
            for a in rtnl()?.addrs(dev.as_deref()).map_err(ext)? {
                let e = lua.create_table()?;
                e.set("dev", a.dev)?;
                e.set("addr", a.addr.to_string())?;
                e.set("prefix", a.prefix)?;
                e.set("family", if a.addr.is_ipv4() { "inet" } else { "inet6" })?;
                if let Some(l) = a.label {
                    e.set("label", l)?;
                }
                e.set("scope", a.scope)?;
                list.push(e)?;
            }
            Ok(list)
        })?,
    )?;
    Ok(t)
}

fn link_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "list",
        lua.create_function(|lua, ()| {
            let list = lua.create_table()?;
            for l in rtnl()?.links().map_err(ext)? {
                let e = lua.create_table()?;
                e.set("index", l.index)?;
                e.set("name", l.name)?;
                e.set("up", l.up)?;
                e.set("mtu", l.mtu)?;
                if let Some(k) = l.kind {
                    e.set("kind", k)?;
                }
                list.push(e)?;
            }
            Ok(list)
        })?,
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
        lua.create_function(|_, t: Table| {
            let f = Fields::new(t, "ipip device", &["name", "local", "remote"], &[])?;
            let name = f
                .string("name")?
                .ok_or_else(|| bad("name", &Value::Nil, "is required (e.g. \"tunl1\")"))?;
            let ip = |field: &str| -> mlua::Result<Option<std::net::IpAddr>> {
                match f.string(field)? {
                    None => Ok(None),
                    Some(s) => s
                        .parse()
                        .map(Some)
                        .map_err(|_| bad(field, &Value::Nil, &format!("'{s}' is not an address"))),
                }
            };
            rtnl()?.add_ipip(&name, ip("local")?, ip("remote")?).map_err(ext)
        })?,
    )?;
    Ok(t)
}

/// The namespace lvsh started in, kept open to return to.
struct HomeNetns(File);

fn switch_to(lua: &Lua, name: Option<&str>) -> mlua::Result<()> {
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
    // an IPVS socket belongs to the namespace it was opened in: open a new one on next use
    with_slot(lua, |slot| {
        if slot.as_ref().is_some_and(|b| !b.is_model()) {
            *slot = None;
        }
    })
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
            let result = f.call::<MultiValue>(());
            netns::enter_file(&back, "(the previous)").map_err(ext)?;
            with_slot(lua, |slot| {
                if slot.as_ref().is_some_and(|b| !b.is_model()) {
                    *slot = None;
                }
            })?;
            result
        })?,
    )?;
    Ok(())
}

pub fn register(lua: &Lua, lvs: &Table) -> mlua::Result<()> {
    lvs.set("sysctl", sysctl_table(lua)?)?;
    lvs.set("addr", addr_table(lua)?)?;
    lvs.set("link", link_table(lua)?)?;
    register_netns(lua, lvs)
}

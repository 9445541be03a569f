//! `lvs.connections` and `lvs.list_connections`: the kernel's connection entries.

use mlua::{Lua, Table, Value};

use super::args::{spec_err, to_value};
use super::listing::emit;
use crate::director::ConnFilter;
use crate::director::conns::connections as walk;
use crate::ipvs::sockaddr;
use crate::ipvsadm::listing;

/// The filter, how to list (`format`) and whether to print.
fn conn_filter(v: Option<Value>) -> mlua::Result<(ConnFilter, Option<String>, bool)> {
    match v {
        None | Some(Value::Nil) => Ok((ConnFilter::default(), None, true)),
        Some(v) => {
            let (cf, f) = ConnFilter::read(&to_value(v)?).map_err(mlua::Error::external)?;
            let style = f.string("format").map_err(spec_err)?;
            Ok((cf, style, f.bool("print").map_err(spec_err)?.unwrap_or(true)))
        }
    }
}

/// Walks the entries `cf` matches; a Lua error from `each` ends the walk and is raised.
fn each(cf: &ConnFilter, each: impl FnMut(crate::ipvs::conns::Conn) -> mlua::Result<()>) -> mlua::Result<()> {
    walk(cf, each, mlua::Error::external)
}

fn connections(lua: &Lua, filter: Option<Value>) -> mlua::Result<Table> {
    let (cf, _, _) = conn_filter(filter)?;
    let list = lua.create_table()?;
    each(&cf, |c| {
        let t = lua.create_table_with_capacity(0, 8)?;
        t.set("proto", c.proto.to_ascii_lowercase())?;
        t.set("client", sockaddr(&c.client.0, c.client.1))?;
        t.set("vip", sockaddr(&c.vip.0, c.vip.1))?;
        t.set("real", sockaddr(&c.real.0, c.real.1))?;
        t.set("state", c.state)?;
        t.set("expires", c.expires)?;
        if let Some(pe) = c.pe_name {
            t.set("pe_name", pe)?;
        }
        if let Some(d) = c.pe_data {
            t.set("pe_data", d)?;
        }
        list.push(t)
    })?;
    Ok(list)
}

fn list_connections(lua: &Lua, filter: Option<Value>) -> mlua::Result<Value> {
    let (cf, style, print) = conn_filter(filter)?;
    let text = if style.as_deref() == Some("ipvsadm") {
        let mut out = listing::conn_header(false);
        each(&cf, |c| {
            listing::conn_row(&mut out, &c, true, false);
            Ok(())
        })?;
        out
    } else {
        let mut t = crate::view::ConnTable::default();
        each(&cf, |c| {
            t.add(&c);
            Ok(())
        })?;
        t.text()
    };
    emit(lua, text, print)
}

pub fn register(lua: &Lua, lvs: &Table) -> mlua::Result<()> {
    lvs.set("connections", lua.create_function(connections)?)?;
    lvs.set("list_connections", lua.create_function(list_connections)?)?;
    Ok(())
}

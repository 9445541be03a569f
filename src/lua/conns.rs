//! `lvs.connections` and `lvs.list_connections`: the kernel's connection entries.

use mlua::{Lua, Table, Value};

use super::args::Fields;
use super::listing::emit;
use crate::director::ConnFilter;
use crate::director::conns::connections as walk;
use crate::ipvs::sockaddr;
use crate::ipvsadm::listing;

fn conn_filter(v: Option<Table>) -> mlua::Result<(ConnFilter, Option<String>)> {
    let Some(t) = v else {
        return Ok((ConnFilter::default(), None));
    };
    let f = Fields::new(
        t,
        "connection filter",
        &["proto", "state", "vip", "real", "client", "format", "print"],
        &[],
    )?;
    let filter = ConnFilter::new(
        f.string("proto")?,
        f.string("state")?,
        f.string("vip")?.as_deref(),
        f.string("real")?.as_deref(),
        f.string("client")?.as_deref(),
    )
    .map_err(mlua::Error::external)?;
    Ok((filter, f.string("format")?))
}

/// Walks the entries `cf` matches; a Lua error from `each` ends the walk and is raised.
fn each(cf: &ConnFilter, each: impl FnMut(crate::ipvs::conns::Conn) -> mlua::Result<()>) -> mlua::Result<()> {
    walk(cf, each, mlua::Error::external)
}

fn connections(lua: &Lua, filter: Option<Table>) -> mlua::Result<Table> {
    let (cf, _) = conn_filter(filter)?;
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

fn list_connections(lua: &Lua, filter: Option<Table>) -> mlua::Result<Value> {
    let print = match &filter {
        Some(t) => t.raw_get::<Option<bool>>("print")?.unwrap_or(true),
        None => true,
    };
    let (cf, style) = conn_filter(filter)?;
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

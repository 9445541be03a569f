//! `lvs.mh_table` and `lvs.mh_server`: an mh service's Maglev table as this director's kernel
//! builds it (see `director::mh`).

use mlua::{Lua, Table, Value};

use super::args::spec_err;
use super::convert::service_key;
use super::ipvs::with_director;
use crate::director::mh::Summary;
use crate::ipvs::types::sockaddr;
use crate::model::spec::parse_endpoint;

/// The summary as Lua sees it (also part of `lvs.services()` entries for mh services).
pub fn summary_table(lua: &Lua, s: &Summary) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("fingerprint", s.fingerprint.clone())?;
    t.set("canonical", s.canonical)?;
    t.set("exact", s.exact)?;
    t.set("slots", crate::model::mh::SLOTS)?;
    let servers = lua.create_table()?;
    for ((a, p), n) in &s.shares {
        let e = lua.create_table()?;
        e.set("server", sockaddr(a, *p))?;
        e.set("slots", *n)?;
        servers.push(e)?;
    }
    t.set("servers", servers)?;
    let readd: Vec<String> = s.readd.iter().map(|(a, p)| sockaddr(a, *p)).collect();
    t.set("readd", readd)?;
    Ok(t)
}

fn mh_table(lua: &Lua, svc: Value) -> mlua::Result<Value> {
    let key = service_key(svc)?;
    match with_director(lua, |d| d.mh(&key))? {
        Some((s, _)) => Ok(Value::Table(summary_table(lua, &s)?)),
        None => Ok(Value::Nil),
    }
}

fn mh_server(lua: &Lua, (svc, client): (Value, String)) -> mlua::Result<Option<String>> {
    let key = service_key(svc)?;
    let (ip, port) = parse_endpoint("client", &client).map_err(spec_err)?;
    let got = with_director(lua, |d| d.mh_server(&key, ip, port.unwrap_or(0)))?;
    Ok(got.map(|(a, p)| sockaddr(&a, p)))
}

pub fn register(lua: &Lua, lvs: &Table) -> mlua::Result<()> {
    lvs.set("mh_table", lua.create_function(mh_table)?)?;
    lvs.set("mh_server", lua.create_function(mh_server)?)?;
    Ok(())
}

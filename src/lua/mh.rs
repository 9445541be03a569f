//! `lvs.mh_table` and `lvs.mh_server`: an mh service's Maglev table as this director's kernel
//! builds it (see `director::mh`).

use mlua::{Lua, Table, Value};

use super::args::spec_err;
use super::convert::{mh_summary_table, service_key};
use super::ipvs::with_director;
use crate::ipvs::types::sockaddr;
use crate::model::spec::parse_endpoint;

fn mh_table(lua: &Lua, svc: Value) -> mlua::Result<Value> {
    let key = service_key(svc)?;
    match with_director(lua, |d| d.mh(&key))? {
        Some((s, _)) => Ok(Value::Table(mh_summary_table(lua, &s)?)),
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

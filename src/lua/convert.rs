//! Between Lua tables and the domain's specs and the kernel's objects.

use mlua::{Lua, LuaSerdeExt, Table, Value};

use super::args::{spec_err, to_value_without};
use crate::fields::{Field, Record};
use crate::ipvs::{Dest, Service, ServiceKey};
use crate::model::spec::{SERVER_OUTPUT, SERVICE_OUTPUT};
use crate::model::{ServerSpec, ServiceSpec};
use crate::view::records;

/// A service spec from a table (or a service object lvsh returned), and its servers.
pub fn service_spec(v: Value) -> mlua::Result<(ServiceSpec, Vec<ServerSpec>)> {
    ServiceSpec::read(&to_value_without(v, SERVICE_OUTPUT)?).map_err(spec_err)
}

/// The key a service spec or object names (its servers are not read).
pub fn service_key(v: Value) -> mlua::Result<ServiceKey> {
    let skip: Vec<&str> = SERVICE_OUTPUT.iter().copied().chain(["servers"]).collect();
    ServiceSpec::read_key(&to_value_without(v, &skip)?).map_err(spec_err)
}

/// A real-server spec from a table, a server object, or just an address string.
pub fn server_spec(v: Value) -> mlua::Result<ServerSpec> {
    ServerSpec::read(&to_value_without(v, SERVER_OUTPUT)?).map_err(spec_err)
}

/// A record (what the layers below show of an object) as a Lua table.
pub fn record(lua: &Lua, fields: Record) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(0, fields.len())?;
    for (name, v) in fields {
        match v {
            Field::Text(s) => t.raw_set(name, s)?,
            Field::Name(s) => t.raw_set(name, s)?,
            Field::Int(n) => t.raw_set(name, n)?,
            Field::Count(n) => t.raw_set(name, n)?,
            Field::Number(n) => t.raw_set(name, n)?,
            Field::Flag(b) => t.raw_set(name, b)?,
            Field::Names(list) => {
                let l = lua.create_sequence_from(list)?;
                l.set_metatable(Some(lua.array_metatable()))?;
                t.raw_set(name, l)?
            }
            Field::Record(r) => t.raw_set(name, record(lua, r)?)?,
            Field::Nil => {}
        }
    }
    Ok(t)
}

/// A real server's settings: the fields `lvs.add_server` and `lvs.apply` take.
pub fn server_settings(lua: &Lua, d: &Dest) -> mlua::Result<Table> {
    record(lua, records::server_settings(d))
}

/// A real server as listings show it: its settings, its address apart, connections, counters.
pub fn server_table(lua: &Lua, d: &Dest) -> mlua::Result<Table> {
    record(lua, records::server(d))
}

/// A service's settings: the fields `lvs.add_service` and `lvs.apply` take.
pub fn service_settings(lua: &Lua, s: &Service) -> mlua::Result<Table> {
    record(lua, records::service_settings(s))
}

/// A service as listings show it: its settings, its address apart, counters, real servers.
pub fn service_table(lua: &Lua, s: &Service, dests: &[Dest]) -> mlua::Result<Table> {
    let t = record(lua, records::service(s))?;
    let servers = lua.create_table_with_capacity(dests.len(), 0)?;
    for d in dests {
        servers.push(server_table(lua, d)?)?;
    }
    if let Ok(mt) = lua.named_registry_value::<Table>("lvsh.ServerList") {
        servers.set_metatable(Some(mt))?;
    }
    t.set("servers", servers)?;
    if let Ok(mt) = lua.named_registry_value::<Table>("lvsh.Service") {
        t.set_metatable(Some(mt))?;
    }
    Ok(t)
}

/// The summary as Lua sees it (also part of `lvs.services()` entries for mh services).
pub fn mh_summary_table(lua: &Lua, s: &crate::director::mh::Summary) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("fingerprint", s.fingerprint.clone())?;
    t.set("canonical", s.canonical)?;
    t.set("exact", s.exact)?;
    t.set("slots", crate::model::mh::SLOTS)?;
    let servers = lua.create_table()?;
    for ((a, p), n) in &s.shares {
        let e = lua.create_table()?;
        e.set("server", crate::ipvs::types::sockaddr(a, *p))?;
        e.set("slots", *n)?;
        servers.push(e)?;
    }
    t.set("servers", servers)?;
    let readd: Vec<String> = s
        .readd
        .iter()
        .map(|(a, p)| crate::ipvs::types::sockaddr(a, *p))
        .collect();
    t.set("readd", readd)?;
    Ok(t)
}

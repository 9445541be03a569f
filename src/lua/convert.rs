//! Between Lua tables and the domain's specs and the kernel's objects.

use mlua::{Lua, LuaSerdeExt, Table, Value};

use super::args::{Fields, bad, spec_err};
use crate::fields::{Field, Record};
use crate::ipvs::{Dest, Service, ServiceKey};
use crate::model::spec::Netmask;
use crate::model::{ServerSpec, ServiceSpec, SpecError};
use crate::view::records;

use crate::model::spec::{SERVER_FIELDS, SERVER_OUTPUT, SERVICE_FIELDS, SERVICE_OUTPUT};

/// A service spec from a table (or a service object lvsh returned).
pub fn service_spec(v: Value) -> mlua::Result<(ServiceSpec, Option<Table>)> {
    let t = match v {
        Value::Table(t) => t,
        other => {
            return Err(bad(
                "service",
                &other,
                "must be a table such as {addr=\"192.0.2.110:80\"}",
            ));
        }
    };
    let f = Fields::new(t, "service", SERVICE_FIELDS, SERVICE_OUTPUT)?;
    let persistent = match f.raw("persistent")? {
        Value::Nil => None,
        Value::Boolean(true) => Some(Some(0)),
        Value::Boolean(false) => Some(None),
        v @ (Value::Integer(_) | Value::Number(_)) => match super::args::to_int("persistent", v.clone())? {
            Some(n) if n > 0 => Some(Some(n)),
            _ => {
                return Err(bad(
                    "persistent",
                    &v,
                    "seconds from 1 to 2678400, true (360 s) or false",
                ));
            }
        },
        other => return Err(bad("persistent", &other, "seconds, true (360 s) or false")),
    };
    let netmask = match f.raw("netmask")? {
        Value::Nil => None,
        Value::String(s) => Some(Netmask::Dotted(s.to_string_lossy())),
        v @ (Value::Integer(_) | Value::Number(_)) => super::args::to_int("netmask", v)?.map(Netmask::Prefix),
        other => return Err(bad("netmask", &other, "a dotted IPv4 mask or a prefix length")),
    };
    let pe = match f.raw("pe")? {
        Value::Nil => None,
        Value::Boolean(false) => Some(None),
        Value::String(s) => Some(Some(s.to_string_lossy())),
        other => return Err(bad("pe", &other, "a persistence engine name (\"sip\") or false")),
    };
    let servers = match f.raw("servers")? {
        Value::Nil => None,
        Value::Table(t) => Some(t),
        other => return Err(bad("servers", &other, "must be a list of real servers")),
    };
    let spec = ServiceSpec {
        proto: f.string("proto")?,
        addr: f.string("addr")?,
        fwmark: f.int("fwmark")?,
        af: f.string("af")?,
        scheduler: f.string("scheduler")?,
        persistent,
        netmask,
        sched_flags: f.strings("sched_flags")?,
        pe,
        ops: f.bool("ops")?,
    };
    Ok((spec, servers))
}

pub fn service_key(v: Value) -> mlua::Result<ServiceKey> {
    let (spec, _) = service_spec(v)?;
    spec.key().map_err(spec_err)
}

/// A real-server spec from a table, a server object, or just an address string.
pub fn server_spec(v: Value) -> mlua::Result<ServerSpec> {
    let t = match v {
        Value::String(s) => {
            return Ok(ServerSpec {
                addr: s.to_string_lossy(),
                ..Default::default()
            });
        }
        Value::Table(t) => t,
        other => {
            return Err(bad(
                "server",
                &other,
                "must be a table such as {addr=\"192.0.2.101\"} or an address",
            ));
        }
    };
    let f = Fields::new(t, "server", SERVER_FIELDS, SERVER_OUTPUT)?;
    let addr = f.string("addr")?.ok_or_else(|| {
        spec_err(SpecError {
            field: "server".into(),
            value: String::new(),
            reason: "needs addr".into(),
        })
    })?;
    Ok(ServerSpec {
        addr,
        method: f.string("method")?,
        weight: f.int("weight")?,
        upper: f.int("upper")?,
        lower: f.int("lower")?,
        tun_type: f.string("tun_type")?,
        tun_port: f.int("tun_port")?,
        tun_csum: f.string("tun_csum")?,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The `---@field` names of a class in lua/lvs.meta.lua (not those it inherits).
    fn meta_fields(class: &str) -> Vec<String> {
        let meta = crate::lua::builtin::META;
        let head = format!("---@class {class}");
        let start = meta
            .lines()
            .position(|l| l == head || l.starts_with(&format!("{head}:")))
            .unwrap_or_else(|| panic!("no class {class} in lvs.meta.lua"));
        let mut names: Vec<String> = meta
            .lines()
            .skip(start + 1)
            .take_while(|l| l.starts_with("---@field "))
            .map(|l| {
                l["---@field ".len()..]
                    .split([' ', '?'])
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect();
        names.sort();
        names
    }

    fn sorted(a: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = a.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn the_spec_fields_are_the_ones_lvs_meta_lua_documents() {
        assert_eq!(meta_fields("ServiceSpec"), sorted(SERVICE_FIELDS), "ServiceSpec");
        assert_eq!(meta_fields("ServerSpec"), sorted(SERVER_FIELDS), "ServerSpec");
        // what lvsh returns beyond a spec (a service's servers list is a spec field too)
        let mut service = SERVICE_OUTPUT.to_vec();
        service.push("servers");
        assert_eq!(meta_fields("Service"), sorted(&service), "Service");
        assert_eq!(meta_fields("Server"), sorted(SERVER_OUTPUT), "Server");
    }
}

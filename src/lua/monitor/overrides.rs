//! `lvs.drain(server, opts)`, `lvs.maintenance`, `lvs.set_weight`, `lvs.overrides` and
//! `lvs.lift`: the Lua face of `check::monitor::overrides`.

use mlua::{Lua, LuaSerdeExt, Table, Value};

use super::binding;
use crate::check::overrides::{By, Kind, Override, Request, epoch_now};
use crate::lua::args::{Fields, bad};
use crate::lua::convert::service_key;

/// Who is asking: the attached client whose chunk runs now, else the director itself.
fn caller() -> By {
    match crate::runtime::client::peer() {
        Some(p) => By::Client {
            uid: p.uid,
            pid: p.pid,
        },
        None => By::Script {
            pid: std::process::id() as i32,
        },
    }
}

/// Whether `lvs.drain(a, b, ...)` is the override form: a server's address, then nothing
/// or an options table (the older form's second argument is a server, never without addr).
pub fn is_override_form(first: &Value, second: &Value) -> mlua::Result<bool> {
    Ok(match (first, second) {
        (Value::String(_), Value::Nil) => true,
        (Value::String(_), Value::Table(t)) => t.raw_get::<Value>("addr")?.is_nil(),
        _ => false,
    })
}

fn view(lua: &Lua, o: &Override) -> mlua::Result<Value> {
    lua.to_value(&o.view(epoch_now()))
}

fn request(kind: Kind, server: Value, weight: Option<i64>, opts: Option<Table>) -> mlua::Result<Request> {
    let what = match kind {
        Kind::Drain => "drain",
        Kind::Maintenance => "maintenance",
        Kind::Weight => "set_weight",
    };
    let server = match server {
        Value::String(s) => s.to_string_lossy(),
        other => {
            return Err(bad(
                "server",
                &other,
                "must be an address: \"192.0.2.101\", \"192.0.2.101:80\", \"[2001:db8::1]:80\"",
            ));
        }
    };
    let mut r = Request {
        kind,
        server,
        service: None,
        weight,
        reason: None,
        ttl: None,
    };
    if let Some(t) = opts {
        let f = Fields::new(t, &format!("{what} options"), &["service", "reason", "ttl"], &[])?;
        r.service = match f.raw("service")? {
            Value::Nil => None,
            v => Some(service_key(v)?),
        };
        r.reason = f.string("reason")?;
        r.ttl = f.seconds("ttl")?;
    }
    Ok(r)
}

fn set(lua: &Lua, r: Request) -> mlua::Result<Value> {
    let o = binding(lua)
        .overrides
        .set(r, caller())
        .map_err(mlua::Error::runtime)?;
    view(lua, &o)
}

/// The override form of `lvs.drain` (the older form is told apart by `is_override_form`).
pub fn drain(lua: &Lua, server: Value, opts: Value) -> mlua::Result<Value> {
    let opts = match opts {
        Value::Table(t) => Some(t),
        _ => None,
    };
    set(lua, request(Kind::Drain, server, None, opts)?)
}

pub fn register(lua: &Lua, lvs: &Table) -> mlua::Result<()> {
    lvs.set(
        "maintenance",
        lua.create_function(|lua, (server, opts): (Value, Option<Table>)| {
            set(lua, request(Kind::Maintenance, server, None, opts)?)
        })?,
    )?;
    lvs.set(
        "set_weight",
        lua.create_function(|lua, (server, weight, opts): (Value, Value, Option<Table>)| {
            let w = match weight {
                Value::Integer(n) => n,
                Value::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => n as i64,
                Value::Nil => {
                    return Err(bad(
                        "weight",
                        &weight,
                        "set_weight needs a weight (0 to 2147483647)",
                    ));
                }
                other => return Err(bad("weight", &other, "must be an integer from 0 to 2147483647")),
            };
            set(lua, request(Kind::Weight, server, Some(w), opts)?)
        })?,
    )?;
    lvs.set(
        "overrides",
        lua.create_function(|lua, ()| {
            let list = lua.create_table()?;
            for o in binding(lua).overrides.list() {
                list.push(view(lua, &o)?)?;
            }
            Ok(list)
        })?,
    )?;
    lvs.set(
        "lift",
        lua.create_function(|lua, id: Value| {
            let id = match id {
                Value::String(s) => s.to_string_lossy(),
                Value::Integer(n) => format!("o{n}"),
                other => {
                    return Err(bad(
                        "id",
                        &other,
                        "must be an override's id (\"o1\"; lvs.overrides() lists them)",
                    ));
                }
            };
            let o = binding(lua)
                .overrides
                .lift(&id, caller())
                .map_err(mlua::Error::runtime)?;
            view(lua, &o)
        })?,
    )?;
    Ok(())
}

/// Reads the state file and puts its overrides back (once; later calls do nothing).
pub fn load(lua: &Lua) {
    binding(lua).overrides.load();
}

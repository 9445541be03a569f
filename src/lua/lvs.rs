//! The `lvs` module table. Each group of functions lives in its own file and is registered
//! here; the Rust ones are wrapped (errors raised the Lua way) before the Lua helpers join.

use mlua::{Lua, Table};

use super::builtin;

pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let lvs = lua.create_table()?;
    lvs.set("version", env!("CARGO_PKG_VERSION"))?;
    super::ipvs::register(lua, &lvs)?;
    super::anycast::register(lua, &lvs)?;
    super::listing::register(lua, &lvs)?;
    super::rules::register(lua, &lvs)?;
    super::conns::register(lua, &lvs)?;
    super::apply::register(lua, &lvs)?;
    super::host::register(lua, &lvs)?;
    super::tasks::register(lua, &lvs)?;
    super::checks::register(lua, &lvs)?;
    super::monitor::register(lua, &lvs)?;
    super::metrics::register(lua, &lvs)?;
    super::mh::register(lua, &lvs)?;
    super::watch::register(lua, &lvs)?;
    let describe = lua.create_function(|_, v: mlua::Value| Ok(super::describe_error(&v)))?;
    lua.load(builtin::WRAP)
        .set_name("=lvs")
        .into_function()?
        .call::<()>((lvs.clone(), describe))?;
    lua.load(builtin::ROLES)
        .set_name("=lvs/roles.lua")
        .into_function()?
        .call::<()>((lvs.clone(), super::host::role_support(lua)?))?;
    let classes: Table = lua
        .load(builtin::SERVICE)
        .set_name("=lvs/service.lua")
        .into_function()?
        .call::<Table>(lvs.clone())?;
    lua.set_named_registry_value("lvsh.Service", classes.get::<Table>("Service")?)?;
    lua.set_named_registry_value("lvsh.ServerList", classes.get::<Table>("ServerList")?)?;
    Ok(lvs)
}

//! The `lvs` module table. Each group of functions lives in its own file and is registered here.

use mlua::{Lua, Table};

pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let lvs = lua.create_table()?;
    lvs.set("version", env!("CARGO_PKG_VERSION"))?;
    Ok(lvs)
}

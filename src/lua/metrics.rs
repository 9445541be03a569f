//! `lvs.metrics{listen=, path=, node_compat=}`: the scrape endpoint of a running director. A scrape
//! reads this state's table (one dump, in the namespace the call was made in) and its
//! monitors' statuses; `crate::metrics` encodes them.

use mlua::{Lua, Table};

use super::args::{Fields, bad};
use super::ipvs::with_director;
use super::tasks::{Task, spawn_task};
use crate::metrics::http::{self, Listen};
use crate::metrics::{Process, Snapshot, procfs};

/// What one scrape shows; a kernel that cannot be read shows no table (and says so in the
/// log) rather than failing the scrape of everything else.
pub fn snapshot(lua: &Lua) -> Snapshot {
    let table = match with_director(lua, |d| d.services()) {
        Ok(t) => t,
        Err(e) => {
            crate::log::warn(&format!("metrics: cannot read the table: {e}"));
            Vec::new()
        }
    };
    Snapshot {
        table,
        monitors: super::monitor::statuses(lua),
        totals: procfs::read(),
        process: Process {
            loop_lag: crate::runtime::lag::recent(),
            events: crate::events::emitted(),
        },
    }
}

fn start(lua: &Lua, spec: Option<Table>) -> mlua::Result<Task> {
    let spec = spec.unwrap_or(lua.create_table()?);
    let f = Fields::new(spec, "lvs.metrics", &["listen", "path", "node_compat"], &[])?;
    let node_compat = f.bool("node_compat")?.unwrap_or(false);
    let listen = f.string("listen")?.unwrap_or_else(|| "127.0.0.1:9917".into());
    let listen = Listen::parse(&listen).map_err(mlua::Error::runtime)?;
    let path = f.string("path")?.unwrap_or_else(|| "/metrics".into());
    if !path.starts_with('/') {
        return Err(bad("path", &f.raw("path")?, "must start with /"));
    }
    let l = lua.clone();
    let source: http::Source = std::rc::Rc::new(move || snapshot(&l));
    let server = lua_loop(lua, || http::serve(&listen, path, node_compat, source))?;
    spawn_task(lua, async move {
        crate::runtime::lag::start();
        server.await;
    })
}

/// Runs `f` inside the loop (binding a listener wants its reactor).
fn lua_loop<R>(lua: &Lua, f: impl FnOnce() -> Result<R, String>) -> mlua::Result<R> {
    let spawner = lua
        .app_data_ref::<crate::runtime::Spawner>()
        .map(|s| s.clone())
        .ok_or_else(|| mlua::Error::runtime("lvsh's event loop is not running"))?;
    spawner.within(f).map_err(mlua::Error::runtime)
}

pub fn register(lua: &Lua, lvs: &Table) -> mlua::Result<()> {
    lvs.set("metrics", lua.create_function(start)?)?;
    Ok(())
}

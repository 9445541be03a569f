//! `lvs.metrics{listen=, path=, node_compat=, server_rates=}`: the scrape endpoint of a running
//! director. A scrape reads this state's table (one dump, in the namespace the call was made
//! in, on a thread of its own) and its monitors' statuses; `crate::metrics` encodes them.

use std::rc::Rc;

use mlua::{Lua, Table};

use super::args::{Fields, bad};
use super::engine::lua_loop;
use super::ipvs::with_director;
use super::tasks::{Task, spawn_task};
use crate::metrics::http::{self, Chunks, Listen};
use crate::metrics::scrape::Scraper;
use crate::metrics::{Options, Process, Snapshot, procfs, render};

/// What one scrape shows, read here: a dry run's table is the model's, in this state.
fn snapshot(lua: &Lua) -> Snapshot {
    let table = match with_director(lua, |d| d.services()) {
        Ok(t) => t,
        Err(e) => {
            crate::log::warn(&format!("metrics: cannot read the table: {e}"));
            Vec::new()
        }
    };
    Snapshot {
        table: table.into(),
        monitors: super::monitor::statuses(lua),
        totals: procfs::read(),
        process: process(lua),
    }
}

fn process(lua: &Lua) -> Process {
    let (table_dumps, table_reads) = super::monitor::table_reads(lua);
    Process {
        loop_lag: crate::runtime::lag::recent(),
        events: crate::events::emitted(),
        probes_in_flight: super::monitor::probes_in_flight(lua),
        table_dumps,
        table_reads,
        read_at: Some(crate::check::monitor::view::now()),
    }
}

/// A kernel's table is dumped and encoded by a scrape thread; only the monitors' statuses
/// are read on the loop.
fn source(lua: &Lua) -> mlua::Result<http::Source> {
    let model = with_director(lua, |d| Ok(d.is_model())).unwrap_or(false);
    let scraper = if model {
        None
    } else {
        Some(Scraper::start().map_err(mlua::Error::runtime)?)
    };
    let l = lua.clone();
    Ok(Rc::new(move |opts: Options| match &scraper {
        Some(s) => s.scrape(super::monitor::statuses(&l), process(&l), opts),
        None => Ok(Chunks::whole(render(snapshot(&l), opts))),
    }))
}

fn start(lua: &Lua, spec: Option<Table>) -> mlua::Result<Task> {
    let spec = spec.unwrap_or(lua.create_table()?);
    let f = Fields::new(
        spec,
        "lvs.metrics",
        &["listen", "path", "node_compat", "server_rates"],
        &[],
    )?;
    let base = Options {
        node_compat: f.bool("node_compat")?.unwrap_or(false),
        server_rates: f.bool("server_rates")?.unwrap_or(false),
        openmetrics: false,
    };
    let listen = f.string("listen")?.unwrap_or_else(|| "127.0.0.1:9917".into());
    let listen = Listen::parse(&listen).map_err(mlua::Error::runtime)?;
    let path = f.string("path")?.unwrap_or_else(|| "/metrics".into());
    if !path.starts_with('/') {
        return Err(bad("path", &f.raw("path")?, "must start with /"));
    }
    let source = source(lua)?;
    let server = lua_loop(lua, || http::serve(&listen, path, base, source))?;
    spawn_task(lua, async move {
        crate::runtime::lag::start();
        server.await;
    })
}

pub fn register(lua: &Lua, lvs: &Table) -> mlua::Result<()> {
    lvs.set("metrics", lua.create_function(start)?)?;
    Ok(())
}

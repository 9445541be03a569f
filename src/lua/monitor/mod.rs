//! `lvs.monitor{...}` and friends: the Lua face of `check::monitor`. Reads the monitor's
//! table, hands the settings to the runtime, and shows what it reports.

mod host;
pub mod overrides;

use std::rc::Rc;

use mlua::{Function, Lua, Table, UserData, UserDataMethods, Value};

use super::args::{Fields, show, spec_err};
use super::checks::builtin;
use super::convert::{server_spec, service_key};
use crate::check::monitor::{
    self, Callbacks, Handle, MaxDownSpec, MonitorSpec, Monitors, Probe, ServerOverride,
};
use crate::runtime::systemd::Systemd;
use host::{LuaHost, fn_id};

/// The monitors of this Lua state, and the host they run on.
struct Binding {
    host: Rc<LuaHost>,
    monitors: Rc<Monitors>,
    overrides: Rc<monitor::overrides::Overrides>,
}

fn binding(lua: &Lua) -> Rc<Binding> {
    if let Some(b) = lua.app_data_ref::<Rc<Binding>>() {
        return b.clone();
    }
    let host = Rc::new(LuaHost::new(lua));
    let monitors = Rc::new(Monitors::new(host.clone()));
    let path = monitor::overrides::state_path(crate::runtime::name());
    let b = Rc::new(Binding {
        overrides: monitor::overrides::Overrides::new(monitors.clone(), host.clone(), path),
        monitors,
        host,
    });
    lua.set_app_data(b.clone());
    b
}

/// `check = lvs.check.http{...}`, `"tcp"`, a function, or a list of those; the functions
/// go to `held`.
fn probes(v: Value, held: &mut Vec<Function>) -> mlua::Result<Vec<Probe>> {
    let mut one = |v: Value| -> mlua::Result<Probe> {
        if let Some(t) = builtin(&v)? {
            return Ok(Probe::Builtin(t));
        }
        match v {
            Value::Function(f) => {
                let id = fn_id(&f);
                held.push(f);
                Ok(Probe::Custom(id))
            }
            other => Err(spec_err(crate::model::spec::bad(
                "check",
                show(&other),
                "must be a check (lvs.check.http{...}), \"tcp\", \"http\", a function(server), or a list of them",
            ))),
        }
    };
    match v {
        Value::Table(t) if t.raw_len() > 0 => t
            .sequence_values::<Value>()
            .map(|x| x.and_then(&mut one))
            .collect(),
        other => Ok(vec![one(other)?]),
    }
}

fn checks(v: Value, held: &mut Vec<Function>) -> mlua::Result<Option<Vec<Probe>>> {
    match v {
        Value::Nil => Ok(None),
        v => probes(v, held).map(Some),
    }
}

fn callback(f: &Fields, name: &str, held: &mut Vec<Function>) -> mlua::Result<Option<usize>> {
    match f.raw(name)? {
        Value::Nil => Ok(None),
        Value::Function(func) => {
            let id = fn_id(&func);
            held.push(func);
            Ok(Some(id))
        }
        other => Err(spec_err(crate::model::spec::bad(
            name,
            show(&other),
            "must be a function",
        ))),
    }
}

/// The monitor's table, read into a spec; the Lua functions it names go to `held`.
fn read(t: Table, held: &mut Vec<Function>) -> mlua::Result<MonitorSpec> {
    let f = Fields::new(t, "monitor", monitor::FIELDS, &[])?;
    let mut s = MonitorSpec::new(service_key(f.raw("service")?)?);
    s.checks = checks(f.raw("check")?, held)?;
    s.interval = f.seconds("interval")?;
    s.retry_interval = f.seconds("retry_interval")?;
    s.timeout = f.seconds("timeout")?;
    s.warmup = f.seconds("warmup")?;
    s.rise = f.int("rise")?;
    s.fall = f.int("fall")?;
    s.action = f.string("action")?;
    s.alpha = f.bool("alpha")?;
    s.quorum = f.int("quorum")?;
    s.hysteresis = f.int("hysteresis")?;
    s.max_down = match f.raw("max_down")? {
        Value::Nil => None,
        Value::String(t) => Some(MaxDownSpec::Text(t.to_string_lossy())),
        _ => f.int("max_down")?.map(MaxDownSpec::Count),
    };
    s.sorry = match f.raw("sorry")? {
        Value::Nil => None,
        v => Some(server_spec(v)?),
    };
    s.sorry_quorum = f.bool("sorry_quorum")?;
    s.sorry_inhibit = f.bool("sorry_inhibit")?;
    if let Value::Table(list) = f.raw("servers")? {
        for pair in list.pairs::<String, Table>() {
            let (addr, opts) = pair?;
            let o = Fields::new(opts, &format!("servers[\"{addr}\"]"), monitor::SERVER_FIELDS, &[])?;
            s.servers.push(ServerOverride {
                checks: checks(o.raw("check")?, held)?,
                weight: o.int("weight")?,
                addr,
            });
        }
    }
    s.callbacks = Callbacks {
        on_change: callback(&f, "on_change", held)?,
        on_quorum: callback(&f, "on_quorum", held)?,
        on_panic: callback(&f, "on_panic", held)?,
    };
    Ok(s)
}

fn create(lua: &Lua, t: Table) -> mlua::Result<MonitorHandle> {
    let mut held = Vec::new();
    let config = monitor::validate(read(t, &mut held)?).map_err(spec_err)?;
    let b = binding(lua);
    // Held before the start: its first look at the table may call back already.
    for f in &held {
        b.host.hold(f);
    }
    let h = b
        .monitors
        .start(config)
        .map(MonitorHandle)
        .map_err(mlua::Error::runtime)?;
    b.overrides.load();
    Ok(h)
}

pub struct MonitorHandle(Handle);

impl MonitorHandle {
    pub fn handle(&self) -> Handle {
        self.0.clone()
    }
}

/// The weight a runtime override holds `server` of `service` at (for `lvs.watch`).
pub(super) fn held(
    lua: &Lua,
    service: &crate::ipvs::ServiceKey,
    server: std::net::SocketAddr,
) -> Option<u32> {
    binding(lua).overrides.held(service, server)
}

/// Every running monitor's status (for metrics).
pub(super) fn statuses(lua: &Lua) -> Vec<monitor::Status> {
    binding(lua).monitors.list().iter().map(Handle::status).collect()
}

/// This state's monitors' dumps and shared reads of the table.
pub(super) fn table_reads(lua: &Lua) -> (u64, u64) {
    binding(lua).monitors.table_reads()
}

/// This state's probes started and not finished.
pub(super) fn probes_in_flight(lua: &Lua) -> u64 {
    binding(lua).monitors.probes_in_flight()
}

/// What this state's monitors did to the table on purpose (for `lvs.watch`).
pub(super) fn excuse(lua: &Lua, ex: &mut crate::check::drift::Excuses) {
    binding(lua).monitors.excuse(ex);
}

fn status(lua: &Lua, h: &Handle) -> mlua::Result<Table> {
    let st = h.status();
    let t = fields_table(lua, st.fields())?;
    let servers = lua.create_table()?;
    for r in st.servers {
        servers.push(fields_table(lua, r.fields())?)?;
    }
    t.set("servers", servers)?;
    Ok(t)
}

/// What the monitors report (status, events), as a Lua table.
pub fn fields_table(lua: &Lua, fields: crate::fields::Record) -> mlua::Result<Table> {
    crate::lua::convert::record(lua, fields)
}

impl UserData for MonitorHandle {
    fn add_fields<F: mlua::UserDataFields<Self>>(f: &mut F) {
        f.add_field_method_get("service", |_, h| Ok(h.0.name()));
    }

    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method("status", |lua, h, ()| status(lua, &h.0));
        m.add_method("stop", |lua, h, ()| {
            binding(lua).monitors.stop(&h.0);
            Ok(())
        });
        m.add_meta_method(mlua::MetaMethod::ToString, |_, h, ()| Ok(h.0.to_string()));
    }
}

/// Tells systemd how the director does while `lvs.run` waits: READY=1 after the first round
/// of checks (or 10 s), STATUS= as the servers come and go, WATCHDOG=1 from the loop.
pub fn tell_systemd(lua: &Lua, sd: Rc<Systemd>) -> mlua::Result<tokio::task::AbortHandle> {
    let monitors = binding(lua).monitors.clone();
    let task = super::engine::spawn(lua, async move {
        let mut ping = sd.ping.map(tokio::time::interval);
        let pinger = sd.clone();
        let pings = async move {
            match ping.as_mut() {
                Some(p) => loop {
                    p.tick().await;
                    pinger.watchdog();
                },
                None => std::future::pending().await,
            }
        };
        let report = async {
            let until = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
            while !monitor::view::first_round_done(&monitors.rows()) && tokio::time::Instant::now() < until {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            sd.ready(&monitor::view::summary(&monitors.rows()));
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                sd.status(&monitor::view::summary(&monitors.rows()));
            }
        };
        tokio::join!(pings, report);
    })?;
    Ok(task.abort_handle())
}

pub fn register(lua: &Lua, lvs: &Table) -> mlua::Result<()> {
    lvs.set("monitor", lua.create_function(create)?)?;
    overrides::register(lua, lvs)?;
    lvs.set(
        "monitors",
        lua.create_function(|lua, ()| {
            let t = lua.create_table()?;
            for h in binding(lua).monitors.list() {
                t.push(MonitorHandle(h))?;
            }
            Ok(t)
        })?,
    )?;
    lvs.set(
        "show_monitors",
        lua.create_function(|lua, ()| {
            let text = monitor::render(&binding(lua).monitors.rows(), monitor::view::now());
            super::listing::emit_text(&text);
            Ok(())
        })?,
    )?;
    lvs.set(
        "probes_run",
        lua.create_function(|lua, ()| Ok(binding(lua).monitors.probes_run()))?,
    )?;
    lvs.set(
        "monitor_reads",
        lua.create_function(|lua, ()| {
            let (dumps, shared) = binding(lua).monitors.table_reads();
            let t = lua.create_table()?;
            t.set("dumps", dumps)?;
            t.set("shared", shared)?;
            Ok(t)
        })?,
    )?;
    Ok(())
}
